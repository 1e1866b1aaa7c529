/*
 * plan-run.c - running a release plan (see plan-run.h): the checks, the
 * plan's lock, the pinned digests, the steps and their batches, and the run
 * record in the store's catalog that history, show and --resume read.
 *
 * The lock is an flock on STORE/plans/locks/<plan>.lock: the kernel drops
 * it when regctl dies, even by kill -9, so a killed run can be resumed at
 * once. Host logs go to STORE/plans/logs/<run>/. A dry run takes no lock,
 * records nothing and creates no folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plan-exec.h"
#include "upstream.h"

void rfs_plan_new_run_id(char id[RFS_RUN_ID_MAX + 1])
{
	struct timespec ts;
	unsigned char rnd[3] = { 0 };
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		/* No entropy yet: the nanoseconds still tell runs apart. */
		rnd[0] = (unsigned char)ts.tv_nsec;
		rnd[1] = (unsigned char)(ts.tv_nsec >> 8);
		rnd[2] = (unsigned char)getpid();
	}
	snprintf(id, RFS_RUN_ID_MAX + 1,
		 "%04d%02d%02d-%02d%02d%02d.%03ld-%02x%02x%02x",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, rnd[0], rnd[1],
		 rnd[2]);
}

/* A name as one path component: no '/', no leading dot. */
static void component(char *dst, size_t size, const char *name)
{
	size_t i = 0;

	for (; name[i] && i + 1 < size; i++)
		dst[i] = name[i] == '/' ? '_' : name[i];
	dst[i] = '\0';
	if (dst[0] == '.')
		dst[0] = '_';
}

static int make_dirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? -errno : 0;
}

int rfs_plan_log_path(struct rfs_store *store, const char *run_id,
		      const char *step, const char *host, char *buf,
		      size_t size)
{
	char s[256], h[256];
	int n;

	component(s, sizeof(s), step);
	component(h, sizeof(h), host);
	n = snprintf(buf, size, "%s/plans/logs/%s/%s.%s.log",
		     rfs_store_root(store), run_id, s, h);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The plan's lock, held until the descriptor is closed. */
static int take_lock(struct plan_run_state *run, int *fd, struct rfs_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX], name[256];
	int rc;

	component(name, sizeof(name), run->plan->name);
	if (snprintf(dir, sizeof(dir), "%s/plans/locks",
		     rfs_store_root(run->store)) >= (int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/%s.lock", dir, name) >=
		(int)sizeof(path))
		return rfs_error_set(err, -ENAMETOOLONG, "store path too long");
	rc = make_dirs(dir);
	if (rc)
		return rfs_error_set(err, rc, "cannot make '%s': %s", dir,
				     strerror(-rc));
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
	close(*fd);
	*fd = -1;
	return rfs_error_set(err, rc,
			     "plan '%s' is being run by another regctl "
			     "(lock '%s' is held): wait for it, or see "
			     "'regctl plan history %s'",
			     run->plan->name, path, run->plan->name);
}

static int add_env(struct rfs_plan_kv **env, size_t *n, const char *key,
		   const char *value)
{
	struct rfs_plan_kv *e = realloc(*env, (*n + 1) * sizeof(**env));

	if (!e)
		return -ENOMEM;
	*env = e;
	e[*n] = (struct rfs_plan_kv){ .key = strdup(key),
				      .value = strdup(value ? value : "") };
	if (!e[*n].key || !e[*n].value) {
		free(e[*n].key);
		free(e[*n].value);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

/* REGCTL_DIGEST_<REF>: the ref in capitals, anything else than a letter or
 * a digit an underscore ("prod/app:v1" gives REGCTL_DIGEST_PROD_APP_V1). */
static void digest_var(char *dst, size_t size, const char *ref)
{
	size_t i = snprintf(dst, size, "REGCTL_DIGEST_");

	for (; *ref && i + 1 < size; ref++, i++) {
		char c = *ref;

		dst[i] = (c >= 'a' && c <= 'z')	  ? (char)(c - 'a' + 'A')
			 : (c >= 'A' && c <= 'Z') ? c
			 : (c >= '0' && c <= '9') ? c
						  : '_';
	}
	dst[i] = '\0';
}

/* The step's env and the built-ins a job on host sees. */
static int host_env(struct plan_run_state *run,
		    const struct rfs_plan_step *step,
		    const struct rfs_plan_kv *step_env, size_t n_step_env,
		    const struct rfs_plan_host *host, struct rfs_plan_kv **out,
		    size_t *n)
{
	const char *target = run->opts->targets && run->opts->targets->n
				 ? run->opts->targets->items[0].key
			     : step->n_targets ? step->targets[0]
					       : "";
	int rc = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; !rc && i < n_step_env; i++)
		rc = add_env(out, n, step_env[i].key, step_env[i].value);
	if (!rc)
		rc = add_env(out, n, "HADES_RUN_ID", run->run_id);
	if (!rc)
		rc = add_env(out, n, "HADES_PLAN", run->plan->name);
	if (!rc)
		rc = add_env(out, n, "HADES_TARGET", target);
	if (!rc)
		rc = add_env(out, n, "HADES_HOST_NAME", host->name);
	if (!rc)
		rc = add_env(out, n, "HADES_HOST_ADDR",
			     host->addr ? host->addr : "127.0.0.1");
	if (!rc)
		rc = add_env(out, n, "REGCTL_RUN_ID", run->run_id);
	if (!rc)
		rc = add_env(out, n, "REGCTL_PLAN", run->plan->name);
	if (!rc)
		rc = add_env(out, n, "REGCTL_STEP", step->name);
	if (!rc)
		rc = add_env(out, n, "REGCTL_HOST", host->name);
	pthread_mutex_lock(&run->pins.lock);
	for (size_t i = 0; !rc && i < run->pins.n; i++) {
		char name[512];

		digest_var(name, sizeof(name), run->pins.items[i].ref);
		rc = add_env(out, n, name, run->pins.items[i].digest);
	}
	pthread_mutex_unlock(&run->pins.lock);
	return rc;
}

/* Pin every tag the plan deploys, now, before anything changes: later
 * steps deploy these digests whatever happens to the tags meanwhile. A tag
 * an earlier push step produces is pinned when it is pushed. A resumed run
 * deploys the digests it pinned, from the bytes it kept or the store's
 * blob, even when the tag moved since. */
static int pin_all(struct plan_run_state *run,
		   const struct rfs_plan_tag_ref *needed, size_t n_needed,
		   struct rfs_error *err)
{
	for (size_t i = 0; i < n_needed; i++) {
		const struct rfs_plan_tag_ref *t = &needed[i];
		struct plan_pin pin = { 0 }, old = { 0 };
		struct rfs_error why = { 0 };
		char *ref = plan_ref(t->registry->name, t->repo, t->tag);
		bool had;
		int rc;

		if (!ref)
			return rfs_error_set(err, -ENOMEM, "out of memory");
		had = plan_pins_get(&run->pins, ref, &old) == 0;
		if (t->pushed_earlier && !had) {
			free(ref);
			continue;
		}
		rc = plan_registry_resolve(t->registry, run->store, t->repo,
					   t->tag, &pin, &why);
		if (had && (rc || strcmp(old.digest, pin.digest) != 0)) {
			plan_pin_release(&pin);
			rc = plan_registry_pinned(t->registry, run->store,
						  run->pin_dir, t->repo, &old,
						  &pin, &why);
		}
		pin.pushed = had && old.pushed;
		if (!rc)
			rc = plan_pins_put(&run->pins, &pin);
		if (rc)
			rfs_error_set(err, rc, "%s:%d:%d: %s", t->pos.file,
				      t->pos.line, t->pos.column,
				      rfs_error_message(&why, rc));
		plan_pin_release(&pin);
		plan_pin_release(&old);
		free(ref);
		if (rc)
			return rc;
	}
	return 0;
}

/* Keep the bytes of the pins made from Hades-layout files, and tell. */
static int keep_and_show_pins(struct plan_run_state *run,
			      const struct rfs_plan_tag_ref *needed,
			      size_t n_needed, bool resumed,
			      struct rfs_error *err)
{
	for (size_t i = 0; i < n_needed; i++) {
		const struct rfs_plan_tag_ref *t = &needed[i];
		struct rfs_plan_event ev = { .kind = RFS_PLAN_EV_PIN };
		char *ref = plan_ref(t->registry->name, t->repo, t->tag);
		struct plan_pin pin = { 0 };
		int rc = 0;

		if (!ref)
			return rfs_error_set(err, -ENOMEM, "out of memory");
		if (plan_pins_get(&run->pins, ref, &pin) == 0) {
			/* A resumed run keeps what it kept; the bytes of an
			 * oci pin are fetched again (found in the store). */
			if (!run->opts->dry_run && (!resumed || !pin.source))
				rc = plan_pin_keep(t->registry, run->pin_dir,
						   t->repo, &pin, err);
			if (!rc)
				rc = plan_pins_put(&run->pins, &pin);
			ev.ref = ref;
			ev.digest = pin.digest;
			ev.text =
			    resumed ? "pinned by the run resumed" : "pinned";
			if (!rc)
				plan_event(run, &ev);
		}
		plan_pin_release(&pin);
		free(ref);
		if (rc)
			return rc;
	}
	return 0;
}

/* What a resumed run already did: host-steps done or skipped. */
struct done_list {
	struct rfs_run_step *items;
	size_t n;
};

static int collect_done(void *ctx, const struct rfs_run_step *st)
{
	struct done_list *d = ctx;
	struct rfs_run_step *p;

	p = realloc(d->items, (d->n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	d->items = p;
	d->items[d->n++] = *st;
	return 0;
}

static const struct rfs_run_step *previous(const struct done_list *d,
					   size_t step, const char *host)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].step == (int)step &&
		    strcmp(d->items[i].host, host) == 0)
			return &d->items[i];
	return NULL;
}

static bool finished(const struct rfs_run_step *st)
{
	return st && (strcmp(st->status, "done") == 0 ||
		      strcmp(st->status, "skipped") == 0);
}

static void record(struct plan_run_state *run, const struct plan_host_job *hj,
		   const char *status, int64_t started, int64_t ended,
		   const char *log)
{
	struct rfs_run_step st = { .step = (int)hj->step_index,
				   .started_ns = started,
				   .ended_ns = ended,
				   .exit_code = hj->exit_code };

	if (run->opts->dry_run)
		return;
	snprintf(st.run, sizeof(st.run), "%s", run->run_id);
	snprintf(st.step_name, sizeof(st.step_name), "%s", hj->step->name);
	snprintf(st.host, sizeof(st.host), "%s", hj->host->name);
	snprintf(st.status, sizeof(st.status), "%s", status);
	snprintf(st.log, sizeof(st.log), "%s", log ? log : "");
	snprintf(st.message, sizeof(st.message), "%s", hj->why);
	rfs_catalog_run_step_set(rfs_store_catalog(run->store), &st);
}

struct host_thread {
	pthread_t thread;
	struct plan_host_job hj;
	char log_path[PATH_MAX];
	int result;
	bool started;
};

static void *host_main(void *arg)
{
	struct host_thread *t = arg;
	struct plan_host_job *hj = &t->hj;
	struct plan_run_state *run = hj->run;
	struct rfs_plan_event ev = { .kind = RFS_PLAN_EV_HOST,
				     .step = hj->step->name,
				     .step_index = hj->step_index,
				     .host = hj->host->name };
	int64_t started = rfs_now_ns();

	rfs_upstream_cancel_on_thread(&run->kill_cancel);
	if (!run->opts->dry_run) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", t->log_path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (make_dirs(dir) == 0)
			hj->log = fopen(t->log_path, "ae");
	}
	record(run, hj, "running", started, 0, t->log_path);
	plan_event(run, &ev);
	t->result = plan_run_job(hj);
	ev.kind = RFS_PLAN_EV_HOST_END;
	ev.status = hj->status;
	ev.text = hj->why[0] ? hj->why : NULL;
	ev.exit_code = hj->exit_code;
	plan_event(run, &ev);
	record(run, hj, hj->status, started, rfs_now_ns(), t->log_path);
	if (hj->log)
		fclose(hj->log);
	hj->log = NULL;
	return NULL;
}

static bool stop_asked(const struct plan_run_state *run)
{
	return run->opts->stop && *run->opts->stop;
}

static bool kill_asked(void *ctx)
{
	const struct plan_run_state *run = ctx;

	return run->opts->kill && *run->opts->kill;
}

/* Run one batch: every host together. Returns the worst exit code. */
static int run_batch(struct host_thread *threads, size_t n)
{
	int worst = RFS_PLAN_OK;

	for (size_t i = 0; i < n; i++)
		threads[i].started =
		    pthread_create(&threads[i].thread, NULL, host_main,
				   &threads[i]) == 0;
	for (size_t i = 0; i < n; i++) {
		if (threads[i].started)
			pthread_join(threads[i].thread, NULL);
		else
			threads[i].result = RFS_PLAN_FAILED;
		/* An interrupt outranks a gate, a gate a failure. */
		if (threads[i].result > worst)
			worst = threads[i].result;
	}
	return worst;
}

/* Hosts each earlier step reached, for exclude. */
struct reached_list {
	struct rfs_plan_reached *steps;
	const char ***names; /* per step */
	size_t n;
};

static int run_step(struct plan_run_state *run, size_t index,
		    const struct done_list *done, struct reached_list *reached,
		    struct rfs_error *err)
{
	const struct rfs_plan_step *step = &run->plan->steps[index];
	const struct rfs_plan_job *job = rfs_plan_find_job(run->set, step->job);
	const struct rfs_plan_host **hosts = NULL;
	struct rfs_plan_event ev = { .kind = RFS_PLAN_EV_STEP,
				     .step = step->name,
				     .step_index = index,
				     .text = step->job };
	struct rfs_plan_kv *env = NULL;
	struct host_thread *threads = NULL;
	const char **names = NULL;
	size_t n_env = 0, max = run->set->n_hosts + 1, batch, n_batches;
	int n, worst = RFS_PLAN_OK, rc;

	hosts = calloc(max, sizeof(*hosts));
	names = calloc(max, sizeof(*names));
	threads = calloc(max, sizeof(*threads));
	if (!hosts || !names || !threads) {
		rfs_error_set(err, -ENOMEM, "out of memory");
		worst = RFS_PLAN_FAILED;
		goto out;
	}
	n = rfs_plan_step_hosts(run->set, step, run->opts->targets,
				reached->steps, reached->n, hosts, max, err);
	rc = n < 0 ? n
		   : rfs_plan_step_env(run->plan, step, job, &run->opts->cli,
				       &env, &n_env, err);
	if (rc < 0) {
		worst = RFS_PLAN_INVALID;
		goto out;
	}
	for (int i = 0; i < n; i++)
		names[i] = hosts[i]->name;
	reached->steps[index] = (struct rfs_plan_reached){
		.step = step->name, .hosts = names, .n_hosts = (size_t)n
	};
	reached->names[index] = names;
	reached->n = index + 1;
	names = NULL; /* reached owns it now */
	plan_event(run, &ev);

	batch = rfs_plan_batch_size(&step->parallelism, (size_t)n);
	n_batches = n ? ((size_t)n + batch - 1) / batch : 0;
	for (size_t b = 0; b < n_batches && worst == RFS_PLAN_OK; b++) {
		size_t first = b * batch, count = 0;
		char list[1024] = "";

		if (stop_asked(run)) {
			worst = RFS_PLAN_INTERRUPTED;
			break;
		}
		for (size_t i = first; i < first + batch && i < (size_t)n;
		     i++) {
			struct host_thread *t = &threads[count];
			const struct rfs_run_step *prev =
			    previous(done, index, hosts[i]->name);

			if (strlen(list) + strlen(hosts[i]->name) + 2 <
			    sizeof(list)) {
				strcat(list, list[0] ? " " : "");
				strcat(list, hosts[i]->name);
			}
			if (finished(prev))
				continue; /* a resumed run did it already */
			memset(t, 0, sizeof(*t));
			t->hj = (struct plan_host_job){ .run = run,
							.step_index = index,
							.step = step,
							.job = job,
							.host = hosts[i] };
			if (host_env(run, step, env, n_env, hosts[i],
				     &t->hj.env, &t->hj.n_env)) {
				rfs_error_set(err, -ENOMEM, "out of memory");
				worst = RFS_PLAN_FAILED;
				break;
			}
			if (!run->opts->dry_run)
				rfs_plan_log_path(run->store, run->run_id,
						  step->name, hosts[i]->name,
						  t->log_path,
						  sizeof(t->log_path));
			count++;
		}
		ev = (struct rfs_plan_event){ .kind = RFS_PLAN_EV_BATCH,
					      .step = step->name,
					      .step_index = index,
					      .batch = b + 1,
					      .n_batches = n_batches,
					      .text = list };
		plan_event(run, &ev);
		if (worst == RFS_PLAN_OK)
			worst = run_batch(threads, count);
		for (size_t i = 0; i < count; i++) {
			rfs_plan_env_free(threads[i].hj.env,
					  threads[i].hj.n_env);
			if (threads[i].result != RFS_PLAN_OK && !err->code)
				rfs_error_set(err, -EIO, "%s: %s",
					      threads[i].hj.host->name,
					      threads[i].hj.why);
		}
	}
out:
	rfs_plan_env_free(env, n_env);
	free(hosts);
	free(names);
	free(threads);
	return worst;
}

static const char *status_of(int code)
{
	switch (code) {
	case RFS_PLAN_OK: return "done";
	case RFS_PLAN_GATE: return "declined";
	case RFS_PLAN_INTERRUPTED: return "interrupted";
	default: return "failed";
	}
}

/* A resumed run: its pins and what it did come back. Reads only. */
static int read_resumed(struct plan_run_state *run, struct done_list *done,
			struct rfs_error *err)
{
	struct rfs_catalog *cat;
	struct rfs_run_record rec = { 0 };
	int rc;

	if (!run->store)
		return rfs_error_set(err, -ENOENT, "no store: no run '%s'",
				     run->opts->resume);
	cat = rfs_store_catalog(run->store);
	rc = rfs_catalog_run_get(cat, run->opts->resume, &rec);
	if (rc)
		return rfs_error_set(err, rc, "no run '%s' in '%s'",
				     run->opts->resume,
				     rfs_store_root(run->store));
	if (strcmp(rec.plan, run->plan->name) != 0)
		rc = rfs_error_set(err, -EINVAL,
				   "run '%s' is of plan '%s', not '%s'", rec.id,
				   rec.plan, run->plan->name);
	else if (strcmp(rec.file_hash, run->set->file_hash) != 0)
		rc = rfs_error_set(err, -ESTALE,
				   "the plan files changed since run '%s' (%s, "
				   "now %s): start a new run",
				   rec.id, rec.file_hash, run->set->file_hash);
	else if (strcmp(rec.status, "done") == 0)
		rc = rfs_error_set(err, -EALREADY,
				   "run '%s' is done: nothing to resume",
				   rec.id);
	if (!rc)
		rc = plan_pins_from_json(&run->pins, rec.pins, err);
	if (!rc)
		rc =
		    rfs_catalog_list_run_steps(cat, rec.id, collect_done, done);
	snprintf(run->run_id, sizeof(run->run_id), "%s", rec.id);
	rfs_run_record_release(&rec);
	return rc;
}

/* Record the run (a new one), or mark a resumed one running again. */
static int begin_record(struct plan_run_state *run, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(run->store);
	struct rfs_run_record rec = { 0 };
	char *pins;
	int rc;

	if (run->opts->resume) {
		rc = rfs_catalog_run_restart(cat, run->run_id);
		return rc ? rfs_error_set(err, rc, "cannot record the run") : 0;
	}
	snprintf(rec.id, sizeof(rec.id), "%s", run->run_id);
	snprintf(rec.plan, sizeof(rec.plan), "%s", run->plan->name);
	snprintf(rec.file_hash, sizeof(rec.file_hash), "%s",
		 run->set->file_hash);
	snprintf(rec.status, sizeof(rec.status), "running");
	rec.started_ns = rfs_now_ns();
	rec.args = (char *)run->opts->args_json;
	pins = plan_pins_json(&run->pins);
	rec.pins = pins;
	rc = rfs_catalog_run_add(cat, &rec);
	free(pins);
	return rc ? rfs_error_set(err, rc, "cannot record the run") : 0;
}

/* A run that is about to change something has a store: the caller's, or
 * one made now at store_path. */
static int ensure_store(struct plan_run_state *run, struct rfs_error *err)
{
	if (run->store)
		return 0;
	if (!run->opts->store_path)
		return rfs_error_set(err, -EINVAL, "a run needs a store");
	run->own_store = true;
	return rfs_store_open(run->opts->store_path, RFS_STORE_CREATE,
			      &run->store, err);
}

/* The pins as they are now (pushes add to them), into the record. */
static void save_pins(struct plan_run_state *run)
{
	char *pins;

	if (run->opts->dry_run)
		return;
	pins = plan_pins_json(&run->pins);
	if (pins)
		rfs_catalog_run_set_pins(rfs_store_catalog(run->store),
					 run->run_id, pins);
	free(pins);
}

int rfs_plan_run(const struct rfs_plan_set *set,
		 const struct rfs_plan_run_opts *opts,
		 char run_id[RFS_RUN_ID_MAX + 1], struct rfs_error *err)
{
	struct plan_run_state run = { .set = set, .opts = opts };
	const struct rfs_cancel *outer_cancel;
	struct rfs_plan_tag_ref *needed = NULL;
	struct done_list done = { 0 };
	struct reached_list reached = { 0 };
	struct rfs_plan_event ev = { 0 };
	size_t n_needed = 0;
	int lock = -1, code = RFS_PLAN_OK, rc;
	bool recorded = false;

	run_id[0] = '\0';
	run.kill_cancel = (struct rfs_cancel){ kill_asked, &run };
	outer_cancel = rfs_upstream_cancel_on_thread(&run.kill_cancel);
	plan_pins_init(&run.pins);
	pthread_mutex_init(&run.event_lock, NULL);
	pthread_mutex_init(&run.targets_lock, NULL);
	run.store = opts->store;
	run.plan = rfs_plan_find(set, opts->plan);
	if (!run.plan) {
		rfs_error_set(err, -ENOENT, "no plan '%s' in the plan files",
			      opts->plan);
		code = RFS_PLAN_INVALID;
		goto out;
	}
	/* Nothing changes before the plan checks out and every tag it
	 * deploys is pinned. */
	rc = rfs_plan_check(set, run.plan, &opts->cli, opts->targets, &needed,
			    &n_needed, err);
	if (!rc && opts->resume)
		rc = read_resumed(&run, &done, err);
	else if (!rc)
		rfs_plan_new_run_id(run.run_id);
	if (!rc && run.store)
		snprintf(run.pin_dir, sizeof(run.pin_dir), "%s/plans/pins",
			 rfs_store_root(run.store));
	if (!rc)
		rc = pin_all(&run, needed, n_needed, err);
	if (!rc && !opts->dry_run) {
		rc = ensure_store(&run, err);
		if (!rc)
			snprintf(run.pin_dir, sizeof(run.pin_dir),
				 "%s/plans/pins", rfs_store_root(run.store));
		if (!rc)
			rc = take_lock(&run, &lock, err);
		if (!rc && make_dirs(run.pin_dir) == 0)
			chmod(run.pin_dir, 0700);
	}
	ev.kind = RFS_PLAN_EV_RUN;
	ev.text = run.plan->name;
	if (!rc)
		plan_event(&run, &ev);
	if (!rc)
		rc = keep_and_show_pins(&run, needed, n_needed,
					opts->resume != NULL, err);
	if (!rc && !opts->dry_run)
		rc = begin_record(&run, err);
	if (rc) {
		code = rc == -EINTR ? RFS_PLAN_INTERRUPTED : RFS_PLAN_INVALID;
		goto out;
	}
	recorded = !opts->dry_run;
	save_pins(&run);
	reached.steps = calloc(run.plan->n_steps + 1, sizeof(*reached.steps));
	reached.names = calloc(run.plan->n_steps + 1, sizeof(*reached.names));
	if (!reached.steps || !reached.names) {
		code = RFS_PLAN_FAILED;
		goto finish;
	}
	for (size_t i = 0; i < run.plan->n_steps && code == RFS_PLAN_OK; i++) {
		if (stop_asked(&run)) {
			code = RFS_PLAN_INTERRUPTED;
			break;
		}
		code = run_step(&run, i, &done, &reached, err);
		save_pins(&run);
	}
finish:
	if (code == RFS_PLAN_INTERRUPTED && !err->code)
		rfs_error_set(err, -EINTR, "interrupted");
	if (recorded)
		rfs_catalog_run_finish(rfs_store_catalog(run.store), run.run_id,
				       status_of(code), code, rfs_now_ns());
	ev = (struct rfs_plan_event){ .kind = RFS_PLAN_EV_END,
				      .status = status_of(code),
				      .exit_code = code,
				      .text = err->code ? err->msg : NULL };
	plan_event(&run, &ev);
	if (recorded)
		snprintf(run_id, RFS_RUN_ID_MAX + 1, "%s", run.run_id);
out:
	plan_targets_close(&run);
	for (size_t i = 0; i < reached.n; i++)
		free((void *)reached.names[i]);
	free(reached.steps);
	free(reached.names);
	free(done.items);
	rfs_plan_tag_refs_free(needed, n_needed);
	plan_pins_release(&run.pins);
	pthread_mutex_destroy(&run.event_lock);
	pthread_mutex_destroy(&run.targets_lock);
	if (lock >= 0)
		close(lock);
	if (run.own_store)
		rfs_store_close(&run.store);
	rfs_upstream_cancel_on_thread(outer_cancel);
	return code;
}
