/*
 * progress.h - a progress bar for uploads and downloads: on a terminal
 * (standard error), and nothing at all when it is not one.
 */
#ifndef REGCTL_PROGRESS_H
#define REGCTL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *label;
	bool tty;
	bool drawn;
};

void progress_init(struct progress *p, const char *label);
/* An rfs_progress_fn (ctx is the struct progress). */
void progress_update(void *ctx, uint64_t done, uint64_t total);
void progress_done(struct progress *p);

#endif
