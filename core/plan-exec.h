/*
 * plan-exec.h - what the plan runner's files share (not for other
 * modules): the pinned digests of a run, the registries a plan names, and
 * one job on one host.
 *
 *   plan-run.c       schedules: lock, pins, steps, batches, the record
 *   plan-exec.c      runs one job on one host: guard, then each action
 *   plan-registry.c  resolves and publishes tags in a plan's registries
 */
#ifndef RFS_PLAN_EXEC_H
#define RFS_PLAN_EXEC_H

#include <pthread.h>
#include <stdio.h>

#include "plan-run.h"
#include "plan.h"
#include "target.h"

/* A tag of a plan's registry, pinned: the digest every step deploys, and
 * where its bytes can be read on this machine. */
struct plan_pin {
	char *ref; /* "registry/repo:tag" */
	char digest[RFS_DIGEST_STR_MAX + 1];
	unsigned mode; /* the tag's, 0644 or 0755 */
	uint64_t size;
	/* A local file holding the bytes; NULL in a dry run when they are
	 * still in a remote registry. */
	char *source;
	bool pushed; /* pushed by this run */
};

struct plan_pins {
	pthread_mutex_t lock;
	struct plan_pin *items;
	size_t n, cap;
};

void plan_pins_init(struct plan_pins *pins);
void plan_pins_release(struct plan_pins *pins);
/* Copy the pin of ref into out (release it with plan_pin_release: a push
 * of another host may replace the pin meanwhile); -ENOENT. */
int plan_pins_get(struct plan_pins *pins, const char *ref,
		  struct plan_pin *out);
/* Add or replace the pin of ref (the strings are copied). */
int plan_pins_put(struct plan_pins *pins, const struct plan_pin *pin);
/* The pins as JSON {"ref": "digest", ...} (malloc()ed), and back. */
char *plan_pins_json(struct plan_pins *pins);
int plan_pins_from_json(struct plan_pins *pins, const char *json,
			struct rfs_error *err);
char *plan_ref(const char *registry, const char *repo, const char *tag);
/* The greatest of n tag names that range_text admits, into tag: -ENOENT
 * when none does, -EINVAL for a malformed range (errors name registry).
 * For registries without a catalog (filesystem, oci). */
int plan_pick_version(const struct rfs_plan_registry *r, const char *repo,
		      const char *range_text, const char *const *names,
		      size_t n, char tag[RFS_TAG_MAX + 1],
		      struct rfs_error *err);

/* Resolve repo:tag of registry now (the start of a run). own is the run's
 * store, used when the registry is that store. tag may be a version range
 * (semver.h): the highest version it admits is pinned (in a regfs store,
 * not yanked, as a mount resolves it: resolve.h), under the ref as
 * written. */
int plan_registry_resolve(const struct rfs_plan_registry *registry,
			  struct rfs_store *own, const char *repo,
			  const char *tag, struct plan_pin *out,
			  struct rfs_error *err);
/* Keep the pinned bytes of a tag of repo of registry on this machine, in
 * pin_dir, and make them the pin's source. A filesystem registry's file is
 * copied while hashed and named by its digest (the digest becomes what was
 * copied); an oci registry's blob is fetched, verified, into the store
 * pin_dir/oci. A regfs store's blob is there already: nothing. */
int plan_pin_keep(const struct rfs_plan_registry *registry, const char *pin_dir,
		  const char *repo, struct plan_pin *pin,
		  struct rfs_error *err);
/* Publish the local file as repo:tag of registry: done when the tag holds
 * the same digest already, -EEXIST when it holds another. */
int plan_registry_push(const struct rfs_plan_registry *registry,
		       struct rfs_store *own, const char *pin_dir,
		       const char *repo, const char *tag, const char *file,
		       struct plan_pin *out, struct rfs_error *err);
void plan_pin_release(struct plan_pin *pin);
/* The digest and size of a local regular file, and the mode a tag of it
 * gets (mode and size may be NULL). */
int plan_file_digest(const char *path, char digest[RFS_DIGEST_STR_MAX + 1],
		     unsigned *mode, uint64_t *size, struct rfs_error *err);
/* The bytes a resumed run pinned as old (a tag of repo of registry): the copy
 * it kept of a Hades-layout file, the blob in a regfs registry, or the
 * blob fetched from an oci registry (fetched again by digest if gone).
 * Fills out, or -ENOENT when they are gone. */
int plan_registry_pinned(const struct rfs_plan_registry *registry,
			 struct rfs_store *own, const char *pin_dir,
			 const char *repo, const struct plan_pin *old,
			 struct plan_pin *out, struct rfs_error *err);

/* The oci type of the calls above (plan-oci.c). */
int plan_oci_resolve(const struct rfs_plan_registry *registry, const char *repo,
		     const char *tag, struct plan_pin *out,
		     struct rfs_error *err);
int plan_oci_keep(const struct rfs_plan_registry *registry, const char *pin_dir,
		  const char *repo, struct plan_pin *pin,
		  struct rfs_error *err);
int plan_oci_push(const struct rfs_plan_registry *registry, const char *pin_dir,
		  const char *repo, const char *tag, const char *file,
		  struct plan_pin *out, struct rfs_error *err);
int plan_oci_pinned(const struct rfs_plan_registry *registry,
		    const char *pin_dir, const char *repo,
		    const struct plan_pin *old, struct plan_pin *out,
		    struct rfs_error *err);

/* Shared by the hosts of a run. */
struct plan_run_state {
	const struct rfs_plan_set *set;
	const struct rfs_plan *plan;
	const struct rfs_plan_run_opts *opts;
	struct rfs_store *store; /* opts->store, or one the run made */
	bool own_store;
	char run_id[RFS_RUN_ID_MAX + 1];
	struct plan_pins pins;
	pthread_mutex_t event_lock; /* one event at a time to the caller */
	bool failed;		    /* a host failed: no new batch */
	/* One target a host for the whole run: ssh keeps one connection. */
	pthread_mutex_t targets_lock;
	struct plan_target {
		char *host;
		struct rfs_target *target;
	} * targets;
	size_t n_targets;
	char pin_dir[4096]; /* STORE/plans/pins: bytes of filesystem pins */
	/* opts->kill, for the registry calls of every thread of the run. */
	struct rfs_cancel kill_cancel;
};

/* The target of host (this machine when local), opened once a run. */
int plan_target_get(struct plan_run_state *run,
		    const struct rfs_plan_host *host, bool local,
		    struct rfs_target **out, struct rfs_error *err);
void plan_targets_close(struct plan_run_state *run);

void plan_event(struct plan_run_state *run, struct rfs_plan_event *ev);

/* One job on one host. */
struct plan_host_job {
	struct plan_run_state *run;
	size_t step_index;
	const struct rfs_plan_step *step;
	const struct rfs_plan_job *job;
	const struct rfs_plan_host *host;
	struct rfs_plan_kv *env; /* the step's env and the built-ins */
	size_t n_env;
	FILE *log; /* NULL in a dry run */
	/* Results. */
	const char *status; /* done, skipped, failed, declined, interrupted */
	int exit_code;
	char why[512];
};

/* Run the job: its guard, then its actions. Sets status, exit_code and why;
 * returns an exit code (RFS_PLAN_OK also for a skipped job). */
int plan_run_job(struct plan_host_job *hj);

#endif
