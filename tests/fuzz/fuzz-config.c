/*
 * fuzz-config.c - libFuzzer harness for the regfs.conf parser
 * (core/config.c): lines, sections, keys and their values (sizes,
 * durations, booleans, URLs, prefixes), then the whole file's validation,
 * as the daemon and regctl read a configuration.
 *
 * rfs_config_load reads a path, so the input goes to a memfd, opened by
 * its /proc/self/fd name: no disk, no file left behind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#include "fuzz.h"

static char path[64];

static void setup(void)
{
	int fd;

	if (path[0])
		return;
	fd = memfd_create("regfs.conf", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
}

static void write_input(const uint8_t *data, size_t size)
{
	int fd = atoi(path + strlen("/proc/self/fd/"));

	if (ftruncate(fd, 0) < 0 ||
	    (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_config cfg = { 0 };
	struct rfs_error err = { 0 };
	int rc;

	setup();
	write_input(data, size);
	rc = rfs_config_load(&cfg, path, &err);
	if (rc == 0) {
		rc = rfs_config_validate(&cfg, &err);
		/* Durations are used as nanoseconds and deadlines (pull.c
		 * compares ttl * 1e9, a hook waits until now + timeout):
		 * what loads must fit. */
		for (size_t i = 0; i < cfg.n_upstreams; i++) {
			const struct rfs_upstream_config *u = &cfg.upstreams[i];

			FUZZ_ASSERT(u->url);
			FUZZ_ASSERT(u->tag_ttl_s >= -1 &&
				    u->tag_ttl_s <= INT64_MAX / 1000000000);
			FUZZ_ASSERT(u->list_ttl_s >= 0 &&
				    u->list_ttl_s <= INT64_MAX / 1000000000);
		}
		FUZZ_ASSERT(cfg.seal_hook_timeout_ms >= 0 &&
			    cfg.seal_hook_timeout_ms <= INT64_MAX / 1000000);
	} else {
		/* A refusal says why, and where. */
		FUZZ_ASSERT(rfs_error_message(&err, rc)[0]);
	}
	rfs_config_release(&cfg);

	/* The value grammars on their own, as -o cache_max=... reads them. */
	if (size < 64) {
		char *text = fuzz_str(data, size);
		uint64_t bytes;
		int64_t ms;

		if (rfs_parse_size(text, &bytes) == 0)
			FUZZ_ASSERT(text[0] >= '0' && text[0] <= '9');
		if (rfs_parse_duration_ms(text, &ms) == 0)
			FUZZ_ASSERT(ms >= -1);
		free(text);
	}
	return 0;
}
