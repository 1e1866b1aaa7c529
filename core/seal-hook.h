/*
 * seal-hook.h - the seal hook (regfs.conf seal_hook): a program that says
 * yes or no to content before it is sealed, such as a virus or
 * vulnerability scanner.
 *
 * A seal runs it on content already verified (hashed, expected digest
 * matched) and not yet stored: see rfs_seal_scan() in seal.h. The program
 * gets
 *
 *   argv[1]  a path that reads the staged bytes (/proc/PID/fd/N of a
 *            read-only descriptor the seal holds); the file's mode is
 *            0444, and the seal refuses the content if the file changed
 *            while the program ran
 *   argv[2]  the repository, argv[3] the tag ("" for a blob uploaded to
 *            regctl serve, whose tag comes with its manifest), argv[4] the
 *            digest; also REGFS_REPO, REGFS_TAG, REGFS_DIGEST and
 *            REGFS_FILE in its environment
 *   stdin    the same bytes, read-only
 *
 * Exit 0 seals. Anything else, a timeout (the program's process group gets
 * SIGTERM, then SIGKILL a second later), a program that cannot run: the
 * seal is refused with -EACCES and a message that holds the program's first
 * line of standard error. Never a silent yes.
 */
#ifndef RFS_SEAL_HOOK_H
#define RFS_SEAL_HOOK_H

#include <stdint.h>

#include "cancel.h"
#include "error.h"

#define RFS_SEAL_HOOK_TIMEOUT_MS_DEFAULT (60 * 1000)

/* Can program be a seal hook: an absolute path to an executable regular
 * file? 0, or -EINVAL / -ENOENT / -EACCES with why. */
int rfs_seal_hook_check(const char *program, struct rfs_error *err);

/* Run program on the content open as fd (any mode: the program is handed
 * a read-only descriptor of its own). what names the content in messages
 * ("'app:v1'"). 0 when it exits 0; -EACCES when it refuses, times out
 * (timeout_ms > 0) or cannot run; -ECANCELED, the hook killed, when cancel
 * (may be NULL) says so while it runs; another negative errno when it
 * could not be started (fork, pipe). */
int rfs_seal_hook_run(const char *program, int64_t timeout_ms, int fd,
		      const char *repo, const char *tag, const char *digest,
		      const char *what, const struct rfs_cancel *cancel,
		      struct rfs_error *err);

#endif
