/*
 * progress.c - the progress bar (see progress.h).
 */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"
#include "regctl.h"

#define BAR_WIDTH 30

void progress_init(struct progress *p, const char *label)
{
	p->label = label;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->drawn = false;
}

void progress_update(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	char have[REGCTL_SIZE_STR_MAX], all[REGCTL_SIZE_STR_MAX];
	char bar[BAR_WIDTH + 1];
	int fill = total ? (int)(done * BAR_WIDTH / total) : BAR_WIDTH;

	if (!p->tty)
		return;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	regctl_format_size(done, have);
	regctl_format_size(total, all);
	fprintf(stderr, "\r%s [%s] %3d%% %s / %s", p->label, bar,
		total ? (int)(done * 100 / total) : 100, have, all);
	p->drawn = true;
}

void progress_done(struct progress *p)
{
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}
