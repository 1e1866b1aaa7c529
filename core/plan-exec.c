/*
 * plan-exec.c - one job on one host (see plan-exec.h): its guard, then its
 * actions in order, each as one shell script run on the target.
 *
 * Files reach a host the same way whatever their source (copy, template,
 * pull): streamed to a temporary file in the destination's folder, given
 * their mode, synced while the file is checked against their sha256 on the
 * host, renamed into place. A mismatch leaves the old file. A destination
 * that already holds the digest with the mode is left alone, so a plan run
 * again changes nothing. In a dry run every script is handed to the caller
 * instead of run: exactly what would run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "plan-exec.h"

void plan_event(struct plan_run_state *run, struct rfs_plan_event *ev)
{
	if (!run->opts->event)
		return;
	ev->run_id = run->run_id;
	pthread_mutex_lock(&run->event_lock);
	run->opts->event(run->opts->event_ctx, ev);
	pthread_mutex_unlock(&run->event_lock);
}

int plan_target_get(struct plan_run_state *run,
		    const struct rfs_plan_host *host, bool local,
		    struct rfs_target **out, struct rfs_error *err)
{
	static const struct rfs_plan_host this_machine = { .name = "local" };
	const char *key = local ? "\001local" : host->name;
	struct plan_target *t;
	int rc = 0;

	pthread_mutex_lock(&run->targets_lock);
	for (size_t i = 0; i < run->n_targets; i++) {
		if (strcmp(run->targets[i].host, key) == 0) {
			*out = run->targets[i].target;
			pthread_mutex_unlock(&run->targets_lock);
			return 0;
		}
	}
	t = realloc(run->targets, (run->n_targets + 1) * sizeof(*t));
	if (!t) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	run->targets = t;
	t = &run->targets[run->n_targets];
	t->host = strdup(key);
	if (!t->host) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = rfs_target_open(local ? &this_machine : host, &t->target, err);
	if (rc) {
		free(t->host);
		goto out;
	}
	run->n_targets++;
	*out = t->target;
out:
	pthread_mutex_unlock(&run->targets_lock);
	return rc;
}

static void *close_target(void *arg)
{
	rfs_target_close(arg);
	return NULL;
}

void plan_targets_close(struct plan_run_state *run)
{
	pthread_t *threads = calloc(run->n_targets, sizeof(*threads));
	bool *started = calloc(run->n_targets, sizeof(*started));

	/* Each close ends a host's ssh connection, a round trip: all at once,
	 * not one host after another. */
	for (size_t i = 0; i < run->n_targets; i++) {
		if (threads && started)
			started[i] =
			    pthread_create(&threads[i], NULL, close_target,
					   &run->targets[i].target) == 0;
		if (!started || !started[i])
			rfs_target_close(&run->targets[i].target);
	}
	for (size_t i = 0; i < run->n_targets; i++) {
		if (started && started[i])
			pthread_join(threads[i], NULL);
		free(run->targets[i].host);
	}
	free(threads);
	free(started);
	free(run->targets);
	run->targets = NULL;
	run->n_targets = 0;
}

static int fail(struct plan_host_job *hj, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record why the job failed on this host; returns RFS_PLAN_FAILED. */
static int fail(struct plan_host_job *hj, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hj->why, sizeof(hj->why), fmt, ap);
	va_end(ap);
	hj->status = "failed";
	if (hj->log)
		fprintf(hj->log, "regctl: %s\n", hj->why);
	return RFS_PLAN_FAILED;
}

static void note(struct plan_host_job *hj, enum rfs_plan_event_kind kind,
		 const char *text)
{
	struct rfs_plan_event ev = { .kind = kind,
				     .step = hj->step->name,
				     .step_index = hj->step_index,
				     .host = hj->host->name,
				     .text = text };

	if (hj->log && kind == RFS_PLAN_EV_ACTION)
		fprintf(hj->log, "regctl: %s\n", text);
	plan_event(hj->run, &ev);
}

static void on_output(void *ctx, bool err, const char *line, size_t len)
{
	struct plan_host_job *hj = ctx;
	struct rfs_plan_event ev = { .kind = RFS_PLAN_EV_OUTPUT,
				     .step = hj->step->name,
				     .step_index = hj->step_index,
				     .host = hj->host->name,
				     .stderr_line = err };
	char *text = strndup(line, len);

	if (!text)
		return;
	if (hj->log) {
		fprintf(hj->log, "%s%s\n", err ? "! " : "", text);
		fflush(hj->log);
	}
	ev.text = text;
	plan_event(hj->run, &ev);
	free(text);
}

/* The job was stopped by the user (Ctrl-C twice, SIGTERM). */
static int interrupted(struct plan_host_job *hj)
{
	hj->status = "interrupted";
	snprintf(hj->why, sizeof(hj->why), "interrupted");
	return RFS_PLAN_INTERRUPTED;
}

static bool stopping(struct plan_host_job *hj)
{
	return hj->run->opts->stop && *hj->run->opts->stop;
}

/* Run script on the job's target, its output to the log and the caller.
 * Returns 0 with *status, or a failure (RFS_PLAN_FAILED/INTERRUPTED). */
static int run_script(struct plan_host_job *hj, const char *script,
		      const char *stdin_path, int *status)
{
	struct rfs_error err = { 0 };
	struct rfs_target *target;
	struct rfs_target_cmd cmd = { .script = script,
				      .env = hj->env,
				      .n_env = hj->n_env,
				      .stdin_path = stdin_path,
				      .output = on_output,
				      .output_ctx = hj };
	int rc;

	rc = plan_target_get(hj->run, hj->host, hj->job->local, &target, &err);
	if (!rc)
		rc = rfs_target_run(target, &cmd, status, &err);
	if (rc == -ECANCELED)
		return interrupted(hj);
	if (rc)
		return fail(hj, "%s", rfs_error_message(&err, rc));
	return 0;
}

/* Expand ${VAR}s of an action's field; quote for a shell command. */
static int expand(struct plan_host_job *hj, const char *text, bool quote,
		  char **out)
{
	struct rfs_error err = { 0 };
	int rc;

	*out = NULL;
	if (!text)
		return fail(hj, "a field is missing");
	rc = rfs_plan_expand(text, hj->env, hj->n_env, quote, out, &err);
	return rc ? fail(hj, "%s", rfs_error_message(&err, rc)) : 0;
}

static char *quoted(const char *s)
{
	return rfs_shell_quote(s);
}

/*
 * The scripts that put a file on a host. Both hash with openssl when the
 * host has it (several times faster than coreutils' sha256sum where the
 * CPU has SHA instructions), else with sha256sum. After an upload the host
 * keeps a record of what it got (digest, size, mtime, inode), one small
 * file a destination under ~/.cache/regctl/deployed/: a later check that
 * finds the file as recorded needs no hash of it, as rsync's quick check
 * needs none; any other file is hashed.
 */
#define HASH_FN                                              \
	"h() { if command -v openssl >/dev/null 2>&1; then " \
	"openssl dgst -sha256 -r; else sha256sum; fi; }; "
#define RECORD_AT  "rec=\"${XDG_CACHE_HOME:-$HOME/.cache}/regctl/deployed/%s\"; "
#define FILE_STATE "$(stat -c '%%s %%Y %%i' -- \"$dst\")"

/* Where the host records dst: named by the digest of its path. */
static int record_key(const char *dst, char key[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;
	char digest[RFS_DIGEST_STR_MAX + 1];
	int rc = rfs_hasher_new(&h);

	if (!rc)
		rc = rfs_hasher_update(h, dst, strlen(dst));
	if (!rc)
		rc = rfs_hasher_final(h, digest);
	rfs_hasher_free(&h);
	if (!rc)
		snprintf(key, RFS_DIGEST_STR_MAX + 1, "%s",
			 rfs_digest_hex(digest));
	return rc;
}

/* Does dst hold digest with mode already? Then the upload is skipped. */
static char *check_script(const char *dst, const char *key, const char *hex,
			  int mode)
{
	char *q = quoted(dst), *s = NULL;

	if (q &&
	    asprintf(
		&s,
		"dst=%s; " RECORD_AT
		"[ -f \"$dst\" ] && [ \"$(stat -c %%a -- \"$dst\")\" = "
		"%o ] || exit 1; now=" FILE_STATE "; "
		"[ -f \"$rec\" ] && [ \"$(cat -- \"$rec\")\" = \"%s "
		"$now\" ] && exit 0; " HASH_FN
		"got=$(h < \"$dst\"); [ \"${got%%%% *}\" = %s ] || exit 1; "
		"{ mkdir -p -- \"${rec%%/*}\" && echo \"%s $now\" > "
		"\"$rec\"; } 2>/dev/null || :",
		q, key, mode, hex, hex, hex) < 0)
		s = NULL;
	free(q);
	return s;
}

/* Write standard input to dst atomically: the one way files reach a host.
 * cat writes the bytes to a temporary file in dst's folder; its size is
 * checked (a write that failed leaves it short), then the file is synced
 * while it is hashed, back from the host's page cache, so the digest
 * checked is that of the bytes the file holds. Only when both succeed is
 * it renamed into place; a mismatch leaves the old file.
 *
 * Why not hash the stream as it is written (tee | h): tee moves 8 KiB at a
 * time through one more pipe, and costs the host about as much again as
 * the hash itself (a third more CPU a deploy than cat and a hash of the
 * file); and the hash then overlaps the sync, which has the whole file to
 * write back at that point, instead of the stream. */
static char *upload_script(const char *dst, const char *key, const char *hex,
			   uint64_t size, int mode, bool parents)
{
	char *q = quoted(dst), *s = NULL;

	if (q &&
	    asprintf(&s,
		     "set -e; dst=%s; " RECORD_AT "dir=$(dirname -- \"$dst\"); "
		     "%s" HASH_FN "tmp=$(mktemp \"$dir/.regctl.XXXXXX\"); "
		     "trap 'rm -f -- \"$tmp\"' EXIT; "
		     "cat > \"$tmp\"; len=$(stat -c %%s -- \"$tmp\"); "
		     "chmod %o -- \"$tmp\"; sync -- \"$tmp\" & s=$!; "
		     "got=$(h < \"$tmp\") || got=; got=${got%%%% *}; "
		     "if [ \"$got\" != %s ] || [ \"$len\" != %" PRIu64 " ]; "
		     "then echo \"regctl: $dst: sha256 $got, $len bytes; "
		     "want %s, %" PRIu64 ": the old file stays\" >&2; "
		     "wait $s || :; exit 1; fi; "
		     "wait $s || { echo \"regctl: $dst: cannot sync the "
		     "new file: the old file stays\" >&2; exit 1; }; "
		     "mv -f -- \"$tmp\" \"$dst\"; trap - EXIT; "
		     "{ mkdir -p -- \"${rec%%/*}\" && echo \"%s " FILE_STATE
		     "\" > \"$rec\"; } 2>/dev/null || :",
		     q, key, parents ? "mkdir -p -- \"$dir\"; " : "", mode, hex,
		     size, hex, size, hex) < 0)
		s = NULL;
	free(q);
	return s;
}

/* Put the local file src (of digest) at dst on the host with mode; what
 * and label say what it is in messages. */
static int deliver(struct plan_host_job *hj, const char *what,
		   const char *label, const char *src, const char *digest,
		   uint64_t size, const char *dst, int mode, bool parents)
{
	const char *hex = rfs_digest_hex(digest);
	char key[RFS_DIGEST_STR_MAX + 1] = "";
	char *check = NULL, *upload = NULL, *text = NULL;
	int rc = 0, status = 0;

	if (!src && !hj->run->opts->dry_run)
		return fail(hj, "%s: the bytes of %s are not here", what,
			    label);
	if (record_key(dst, key) == 0) {
		check = check_script(dst, key, hex, mode);
		upload = upload_script(dst, key, hex, size, mode, parents);
	}
	if (!check || !upload ||
	    asprintf(&text, "%s %s -> %s (%s, mode %04o)", what, label, dst,
		     digest, mode) < 0) {
		text = NULL;
		rc = fail(hj, "out of memory");
		goto out;
	}
	note(hj, RFS_PLAN_EV_ACTION, text);
	if (hj->run->opts->dry_run) {
		note(hj, RFS_PLAN_EV_ACTION, check);
		note(hj, RFS_PLAN_EV_ACTION, upload);
		goto out;
	}
	rc = run_script(hj, check, NULL, &status);
	if (rc || status == 0) {
		if (!rc)
			note(hj, RFS_PLAN_EV_NOTE,
			     "unchanged: the host has that digest and mode");
		goto out;
	}
	rc = run_script(hj, upload, src, &status);
	if (!rc && status != 0)
		rc = fail(hj, "%s to %s failed (exit %d)", what, dst, status);
out:
	free(check);
	free(upload);
	free(text);
	return rc;
}

static int file_digest(struct plan_host_job *hj, const char *path,
		       char digest[RFS_DIGEST_STR_MAX + 1], unsigned *mode,
		       uint64_t *size)
{
	struct rfs_error err = { 0 };
	int rc = plan_file_digest(path, digest, mode, size, &err);

	return rc ? fail(hj, "%s", rfs_error_message(&err, rc)) : 0;
}

/* The registry, repository and tag of a push or a pull, expanded. */
static int expand_ref(struct plan_host_job *hj, const struct rfs_plan_action *a,
		      char **name, char **repo, char **tag)
{
	int rc = expand(hj, a->registry, false, name);

	if (!rc)
		rc = expand(hj, a->repo, false, repo);
	if (!rc)
		rc = expand(hj, a->tag, false, tag);
	return rc;
}

static const char *artifact_path(const struct rfs_plan_job *job,
				 const char *name)
{
	for (size_t i = 0; i < job->n_artifacts; i++)
		if (strcmp(job->artifacts[i].key, name) == 0)
			return job->artifacts[i].value;
	return NULL;
}

static int do_run(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	char *script = NULL;
	int rc = expand(hj, a->command, true, &script), status = 0;

	if (rc)
		return rc;
	note(hj, RFS_PLAN_EV_ACTION, script);
	if (!hj->run->opts->dry_run) {
		rc = run_script(hj, script, NULL, &status);
		if (!rc && status != 0) {
			hj->exit_code = status;
			rc = fail(hj, "run: exit status %d", status);
		}
	}
	free(script);
	return rc;
}

static int do_mkdir(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	char *path = NULL, *q = NULL, *script = NULL;
	int rc = expand(hj, a->path, false, &path), status = 0;

	if (rc)
		return rc;
	q = quoted(path);
	if (!q || (a->mode == RFS_PLAN_NO_MODE
		       ? asprintf(&script, "mkdir -p -- %s", q)
		       : asprintf(&script, "mkdir -p -- %s && chmod %o -- %s",
				  q, (unsigned)a->mode, q)) < 0) {
		script = NULL;
		rc = fail(hj, "out of memory");
		goto out;
	}
	note(hj, RFS_PLAN_EV_ACTION, script);
	if (!hj->run->opts->dry_run) {
		rc = run_script(hj, script, NULL, &status);
		if (!rc && status != 0)
			rc = fail(hj, "mkdir %s: exit status %d", path, status);
	}
out:
	free(path);
	free(q);
	free(script);
	return rc;
}

static int do_copy(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	const char *src = a->src;
	char *dst = NULL;
	uint64_t size;
	int rc;

	if (a->artifact) {
		src = artifact_path(hj->job, a->artifact);
		if (!src)
			return fail(hj, "copy: no artifact '%s' in job '%s'",
				    a->artifact, hj->job->name);
	}
	rc = expand(hj, a->dst, false, &dst);
	if (!rc)
		rc = file_digest(hj, src, digest, NULL, &size);
	if (!rc)
		rc = deliver(hj, "copy", src, src, digest, size, dst,
			     a->mode == RFS_PLAN_NO_MODE ? 0644 : a->mode,
			     false);
	free(dst);
	return rc;
}

/* ${VAR}s of src filled in (an unknown one fails), then delivered 0644. */
static int do_template(struct plan_host_job *hj,
		       const struct rfs_plan_action *a)
{
	char digest[RFS_DIGEST_STR_MAX + 1], tmp[] = "/tmp/regctl-tpl.XXXXXX";
	char *text = NULL, *out = NULL, *dst = NULL;
	FILE *f = fopen(a->src, "re");
	size_t len = 0;
	uint64_t size;
	int rc = 0, fd = -1;

	if (!f)
		return fail(hj, "template: cannot open '%s': %s", a->src,
			    strerror(errno));
	if (getdelim(&text, &len, '\0', f) < 0 && !feof(f))
		rc = fail(hj, "template: cannot read '%s'", a->src);
	fclose(f);
	if (!rc)
		rc = expand(hj, text ? text : "", false, &out);
	if (!rc)
		rc = expand(hj, a->dst, false, &dst);
	if (rc)
		goto out;
	fd = mkstemp(tmp);
	if (fd < 0 || write(fd, out, strlen(out)) != (ssize_t)strlen(out)) {
		rc = fail(hj, "template: cannot write '%s'", tmp);
		goto out;
	}
	rc = file_digest(hj, tmp, digest, NULL, &size);
	if (!rc)
		rc = deliver(hj, "template", a->src, tmp, digest, size, dst,
			     0644, false);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(text);
	free(out);
	free(dst);
	return rc;
}

static const struct rfs_plan_registry *registry(struct plan_host_job *hj,
						const char *name)
{
	return rfs_plan_find_registry(hj->run->set, name);
}

static int do_push(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	const struct rfs_plan_registry *r;
	struct rfs_plan_event ev = { .kind = RFS_PLAN_EV_PIN };
	struct rfs_error err = { 0 };
	char *name = NULL, *repo = NULL, *tag = NULL, *text = NULL;
	struct plan_pin pin = { 0 };
	const char *file;
	int rc;

	rc = expand_ref(hj, a, &name, &repo, &tag);
	if (rc)
		goto out;
	r = registry(hj, name);
	file = artifact_path(hj->job, a->artifact ? a->artifact : "");
	if (!r || !file) {
		rc = fail(hj, "push: no registry '%s' or artifact '%s'", name,
			  a->artifact ? a->artifact : "");
		goto out;
	}
	if (asprintf(&text, "push %s as %s:%s to registry %s", file, repo, tag,
		     name) < 0) {
		text = NULL;
		rc = fail(hj, "out of memory");
		goto out;
	}
	note(hj, RFS_PLAN_EV_ACTION, text);
	if (hj->run->opts->dry_run && access(file, R_OK) != 0) {
		/* Made by an earlier action of the run (a pull, a build):
		 * its digest is known when it is pushed. */
		note(hj, RFS_PLAN_EV_NOTE,
		     "not there yet: made earlier in the run, pushed then");
		goto out;
	} else if (hj->run->opts->dry_run) {
		/* What would be pushed is the artifact's digest: later steps
		 * show the commands that would deploy it. */
		pin.ref = plan_ref(name, repo, tag);
		pin.source = strdup(file);
		rc = !pin.ref || !pin.source
			 ? fail(hj, "out of memory")
			 : file_digest(hj, file, pin.digest, &pin.mode,
				       &pin.size);
	} else {
		rc = plan_registry_push(r, hj->run->store, hj->run->pin_dir,
					repo, tag, file, &pin, &err);
		if (rc == -EINTR)
			rc = interrupted(hj);
		else if (rc)
			rc = fail(hj, "push: %s", rfs_error_message(&err, rc));
	}
	if (rc)
		goto out;
	if (plan_pins_put(&hj->run->pins, &pin)) {
		rc = fail(hj, "out of memory");
		goto out;
	}
	ev.step = hj->step->name;
	ev.host = hj->host->name;
	ev.ref = pin.ref;
	ev.digest = pin.digest;
	ev.text = hj->run->opts->dry_run ? "would push" : "pushed";
	plan_event(hj->run, &ev);
out:
	plan_pin_release(&pin);
	free(name);
	free(repo);
	free(tag);
	free(text);
	return rc;
}

static int do_pull(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	char *name = NULL, *repo = NULL, *tag = NULL, *dst = NULL, *ref = NULL;
	struct plan_pin pin = { 0 };
	int rc;

	rc = expand_ref(hj, a, &name, &repo, &tag);
	if (!rc)
		rc = expand(hj, a->dst, false, &dst);
	if (rc)
		goto out;
	ref = plan_ref(name, repo, tag);
	if (!ref) {
		rc = fail(hj, "out of memory");
		goto out;
	}
	if (plan_pins_get(&hj->run->pins, ref, &pin) != 0) {
		if (hj->run->opts->dry_run) {
			/* Pushed by the run from a file it makes first. */
			note(hj, RFS_PLAN_EV_ACTION, ref);
			note(hj, RFS_PLAN_EV_NOTE,
			     "its digest is known once the run pushes it");
			goto out;
		}
		rc = fail(hj, "pull: %s was not pinned", ref);
		goto out;
	}
	rc = deliver(hj, "pull", ref, pin.source, pin.digest, pin.size, dst,
		     a->mode != RFS_PLAN_NO_MODE ? a->mode : (int)pin.mode,
		     a->parents);
out:
	plan_pin_release(&pin);
	free(name);
	free(repo);
	free(tag);
	free(dst);
	free(ref);
	return rc;
}

static int do_wait(struct plan_host_job *hj, const struct rfs_plan_action *a)
{
	const char *message = a->message ? a->message : "Continue?";
	enum rfs_gate_answer answer = RFS_GATE_NO_TERMINAL;

	note(hj, RFS_PLAN_EV_ACTION, message);
	if (hj->run->opts->dry_run)
		return 0;
	if (hj->run->opts->gate)
		answer =
		    hj->run->opts->gate(hj->run->opts->gate_ctx, hj->step->name,
					hj->host->name, message, a->timeout_ms);
	if (stopping(hj)) {
		hj->status = "interrupted";
		snprintf(hj->why, sizeof(hj->why), "interrupted at the gate");
		return RFS_PLAN_INTERRUPTED;
	}
	switch (answer) {
	case RFS_GATE_APPROVED: return 0;
	case RFS_GATE_DECLINED:
		fail(hj, "gate '%s' declined", hj->step->name);
		break;
	case RFS_GATE_TIMED_OUT:
		fail(hj, "gate '%s' timed out after %lld ms", hj->step->name,
		     (long long)a->timeout_ms);
		break;
	case RFS_GATE_NO_TERMINAL:
		fail(hj,
		     "gate '%s' needs an answer and there is no terminal: "
		     "approve it with --approve %s, or every gate with --yes",
		     hj->step->name, hj->step->name);
		break;
	}
	hj->status = "declined";
	return RFS_PLAN_GATE;
}

/* The guard: a non-zero exit skips the job on this host. */
static int guard_passes(struct plan_host_job *hj, bool *pass)
{
	char *script = NULL, *text = NULL;
	int rc, status = 0;

	*pass = true;
	if (!hj->job->guard_if)
		return 0;
	rc = expand(hj, hj->job->guard_if, true, &script);
	if (rc)
		return rc;
	if (asprintf(&text, "guard: %s", script) < 0)
		text = NULL;
	note(hj, RFS_PLAN_EV_ACTION, text ? text : script);
	if (!hj->run->opts->dry_run) {
		rc = run_script(hj, script, NULL, &status);
		*pass = status == 0;
	}
	free(script);
	free(text);
	return rc;
}

int plan_run_job(struct plan_host_job *hj)
{
	bool pass;
	int rc;

	hj->status = "done";
	hj->why[0] = '\0';
	rc = guard_passes(hj, &pass);
	if (rc)
		return rc;
	if (!pass) {
		hj->status = "skipped";
		snprintf(hj->why, sizeof(hj->why), "guard failed: skipped");
		return RFS_PLAN_OK;
	}
	for (size_t i = 0; i < hj->job->n_actions; i++) {
		const struct rfs_plan_action *a = &hj->job->actions[i];

		if (stopping(hj)) {
			hj->status = "interrupted";
			snprintf(hj->why, sizeof(hj->why),
				 "interrupted before action %zu", i + 1);
			return RFS_PLAN_INTERRUPTED;
		}
		switch (a->kind) {
		case RFS_ACTION_RUN: rc = do_run(hj, a); break;
		case RFS_ACTION_MKDIR: rc = do_mkdir(hj, a); break;
		case RFS_ACTION_COPY: rc = do_copy(hj, a); break;
		case RFS_ACTION_TEMPLATE: rc = do_template(hj, a); break;
		case RFS_ACTION_PUSH: rc = do_push(hj, a); break;
		case RFS_ACTION_PULL: rc = do_pull(hj, a); break;
		case RFS_ACTION_WAIT: rc = do_wait(hj, a); break;
		}
		if (rc)
			return rc;
	}
	return RFS_PLAN_OK;
}
