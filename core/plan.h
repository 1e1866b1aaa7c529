/*
 * plan.h - release plans: Hades files (*.hades.yaml) as a plain model.
 *
 * A plan file set is what `regctl plan` reads: registries, hosts and target
 * groups, jobs (each a list of actions) and plans (ordered steps naming a
 * job, its targets, a limit and a parallelism). Hades's schema is accepted
 * as it is, with regfs's own additions; this header is the model the loader
 * builds and the runner executes, so that both can be tested without ssh.
 *
 *   rfs_plan_load       read files into a struct rfs_plan_set; a file that
 *                       does not parse, an unknown key, a wrong type or a
 *                       duplicate name is an error at file:line:column
 *   rfs_plan_check      check one plan against the set before anything
 *                       runs: references, env contract, limit and
 *                       parallelism syntax, modes, ${VAR}s
 *
 * Every string in the model is owned by the set; rfs_plan_set_free()
 * releases all of it. Nothing here touches a host or a registry.
 */
#ifndef RFS_PLAN_H
#define RFS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Where something was written: for messages "file:line:column: ...". */
struct rfs_plan_pos {
	const char *file; /* owned by the set */
	int line, column; /* 1-based */
};

/* A name and a value: env entries, artifact paths. */
struct rfs_plan_kv {
	char *key;
	char *value; /* NULL for a YAML null (a required env variable) */
	struct rfs_plan_pos pos;
};

enum rfs_registry_type {
	RFS_REGISTRY_REGFS,	 /* a regfs store: path */
	RFS_REGISTRY_OCI,	 /* a remote OCI registry: url */
	RFS_REGISTRY_FILESYSTEM, /* Hades's layout: path/<name>/<tag> */
};

struct rfs_plan_registry {
	char *name;
	enum rfs_registry_type type;
	char *path; /* regfs, filesystem */
	char *url;  /* oci: "host[:port][/prefix]", or an http(s) URL */
	struct rfs_plan_pos pos;
};

/* An oci registry's url, "[http[s]://]HOST[:PORT][/NAMESPACE]" (https
 * when no scheme is given), taken apart: root is "NAMESPACE/" or "".
 * 0, or -EINVAL when it is not one. */
struct rfs_plan_oci_url {
	char host[256]; /* "host" or "host:port", as remote.h has it */
	char root[256];
	bool plain_http;
};
int rfs_plan_parse_oci_url(const char *url, struct rfs_plan_oci_url *out);

/* A host of the inventory. The name "local" with no entry means this
 * machine. */
struct rfs_plan_host {
	char *name;
	char *addr;
	char *user;	     /* NULL: ssh's own default */
	int port;	     /* 0: ssh's own default */
	char *identity_file; /* NULL: ssh's own default */
	struct rfs_plan_pos pos;
};

/* A target group: hosts by name, in the order written. */
struct rfs_plan_group {
	char *name;
	char **hosts;
	size_t n_hosts;
	struct rfs_plan_pos pos;
};

enum rfs_action_kind {
	RFS_ACTION_RUN,
	RFS_ACTION_COPY,
	RFS_ACTION_TEMPLATE,
	RFS_ACTION_MKDIR,
	RFS_ACTION_PUSH,
	RFS_ACTION_PULL,
	RFS_ACTION_WAIT,
};

/* RFS_PLAN_NO_MODE: the file had no mode: (each action's default). */
#define RFS_PLAN_NO_MODE (-1)

struct rfs_plan_action {
	enum rfs_action_kind kind;
	char *name; /* optional label */
	/* The fields, as written (before ${VAR} expansion); NULL when absent.
	 * run: command. copy: src or artifact, dst. template: src, dst.
	 * mkdir: path. push: registry, artifact, repo (Hades's "name"), tag.
	 * pull: registry, repo, tag, dst (Hades's "to"). wait: message. */
	char *command;
	char *src;
	char *artifact;
	char *dst;
	char *path;
	char *registry;
	char *repo;
	char *tag;
	char *message;
	int mode;	    /* octal, as written with a leading 0 */
	bool parents;	    /* pull: create dst's folder (regfs's addition) */
	int64_t timeout_ms; /* wait: 0 for none */
	struct rfs_plan_pos pos;
};

struct rfs_plan_job {
	char *name;
	bool local;	/* Hades: every action runs on this machine */
	char *guard_if; /* a non-zero exit skips the job on that host */
	struct rfs_plan_kv *env; /* declared variables; value = default */
	size_t n_env;
	struct rfs_plan_kv *artifacts; /* name -> local path */
	size_t n_artifacts;
	struct rfs_plan_action *actions;
	size_t n_actions;
	struct rfs_plan_pos pos;
};

/* parallelism: "N" hosts at once, or "P%" of the step's hosts (floor, at
 * least 1), computed after limit; 0 and 0 for all at once. */
struct rfs_plan_parallelism {
	int count;
	int percent;
};

struct rfs_plan_step {
	char *name; /* as written, or "step-N" */
	char *job;
	char **targets; /* group or host names */
	size_t n_targets;
	char **exclude; /* names of earlier steps whose hosts are left out */
	size_t n_exclude;
	int limit; /* 0: no limit */
	struct rfs_plan_parallelism parallelism;
	struct rfs_plan_kv *env;
	size_t n_env;
	struct rfs_plan_pos pos;
};

struct rfs_plan {
	char *name;
	struct rfs_plan_kv *env;
	size_t n_env;
	struct rfs_plan_step *steps;
	size_t n_steps;
	struct rfs_plan_pos pos;
};

struct rfs_plan_set {
	char **files; /* the files read, in the order read */
	size_t n_files;
	struct rfs_plan_registry *registries;
	size_t n_registries;
	struct rfs_plan_host *hosts;
	size_t n_hosts;
	struct rfs_plan_group *groups;
	size_t n_groups;
	struct rfs_plan_job *jobs;
	size_t n_jobs;
	struct rfs_plan *plans;
	size_t n_plans;
	char file_hash[72]; /* "sha256:<hex>" of the files' bytes, in order */
};

/* Load files (each a path). A set with no files, a file that cannot be
 * read or parsed, an unknown key, a value of the wrong type, or a name
 * defined twice (in one file or across files) is an error whose message
 * starts "file:line:column: ". */
int rfs_plan_load(const char *const *files, size_t n_files,
		  struct rfs_plan_set **out, struct rfs_error *err);
/* The *.hades.yaml and *.hades.yml files under dir, recursively, in
 * lexical order, as Hades finds them. -ENOENT when there are none. The
 * array and its strings are malloc()ed: free with rfs_plan_files_free. */
int rfs_plan_find_files(const char *dir, char ***files, size_t *n,
			struct rfs_error *err);
void rfs_plan_files_free(char **files, size_t n);
void rfs_plan_set_free(struct rfs_plan_set **set);

const struct rfs_plan *rfs_plan_find(const struct rfs_plan_set *set,
				     const char *name);
const struct rfs_plan_job *rfs_plan_find_job(const struct rfs_plan_set *set,
					     const char *name);
const struct rfs_plan_registry *
rfs_plan_find_registry(const struct rfs_plan_set *set, const char *name);

/* Variables a run is given on its command line (-e K=V), in order; a
 * later one wins. */
struct rfs_plan_vars {
	const struct rfs_plan_kv *items;
	size_t n;
};

/* The hosts of step (its targets, in inventory order, duplicates dropped
 * at their first occurrence, without excluded ones, cut to its limit).
 * Inventory order is the order the targets are written, a group's hosts
 * in the order the group lists them.
 * targets_override, when not NULL, replaces every step's targets (-t; the
 * names are the items' keys).
 * reached lists, per earlier step, the hosts it reached (for exclude): a
 * step excluded but missing from reached is -ENOENT.
 * More than max hosts is -E2BIG: n_hosts + 1 (for local) is always enough.
 * Returns the number of hosts written to out (an array of n_hosts
 * pointers into the set), or -ENOENT with a message for an unknown name. */
struct rfs_plan_reached {
	const char *step;
	const char *const *hosts;
	size_t n_hosts;
};
int rfs_plan_step_hosts(const struct rfs_plan_set *set,
			const struct rfs_plan_step *step,
			const struct rfs_plan_vars *targets_override,
			const struct rfs_plan_reached *reached,
			size_t n_reached, const struct rfs_plan_host **out,
			size_t max, struct rfs_error *err);
/* How many hosts a batch of a step with n hosts holds. */
size_t rfs_plan_batch_size(const struct rfs_plan_parallelism *p, size_t n);

/* The environment of a step as a job sees it, by Hades's precedence:
 * cli, then step env, then plan env, then the job's defaults. Plan and
 * step values expand ${VAR} from the process environment (a missing one
 * is an error), cli values too. A declared variable with no default that
 * nothing gives is an error. The result is malloc()ed key/value pairs
 * (free with rfs_plan_env_free). */
int rfs_plan_step_env(const struct rfs_plan *plan,
		      const struct rfs_plan_step *step,
		      const struct rfs_plan_job *job,
		      const struct rfs_plan_vars *cli, struct rfs_plan_kv **out,
		      size_t *n, struct rfs_error *err);
void rfs_plan_env_free(struct rfs_plan_kv *env, size_t n);

/* Expand ${VAR} in text from env: each value as is (quote false), or as a
 * single-quoted shell word (quote true). Only ${NAME}, NAME matching
 * [A-Za-z_][A-Za-z0-9_]*, is expanded: $NAME and anything else is kept for
 * the shell. An unknown variable is -EINVAL with its name in the message.
 * With quote, text is read as sh would (plan-check.c): inside "..." or
 * '...' the value is spliced in as one word ("a "'v'" b"), in a
 * here-document it is escaped, and \${NAME} is left to the shell. */
int rfs_plan_expand(const char *text, const struct rfs_plan_kv *env,
		    size_t n_env, bool quote, char **out,
		    struct rfs_error *err);
/* s as one single-quoted shell word: 'it'\''s'. */
char *rfs_shell_quote(const char *s);

/* Check a plan before anything runs: every step's job exists; targets and
 * excluded steps resolve; limit and parallelism are valid; every action's
 * registry and artifact exists; modes are octal; the env contract holds
 * for every step, and every ${VAR} of every action resolves (built-ins
 * included); every tag a pull deploys is produced by an earlier push step
 * or must exist (the caller checks those: they are listed in *needed).
 * Every problem found is reported, one per line, in err's message. */
struct rfs_plan_tag_ref {
	const struct rfs_plan_registry *registry;
	char *repo; /* expanded */
	char *tag;
	bool pushed_earlier;	 /* produced by an earlier push step */
	size_t step;		 /* the first step that deploys it */
	struct rfs_plan_pos pos; /* the first pull that deploys it */
};
int rfs_plan_check(const struct rfs_plan_set *set, const struct rfs_plan *plan,
		   const struct rfs_plan_vars *cli,
		   const struct rfs_plan_vars *targets_override,
		   struct rfs_plan_tag_ref **needed, size_t *n_needed,
		   struct rfs_error *err);
void rfs_plan_tag_refs_free(struct rfs_plan_tag_ref *refs, size_t n);

/* The built-in variables a job sees, besides its env: HADES_RUN_ID,
 * HADES_PLAN, HADES_TARGET, HADES_HOST_NAME, HADES_HOST_ADDR, and regfs's
 * own REGCTL_RUN_ID, REGCTL_PLAN, REGCTL_STEP, REGCTL_HOST. A plan may not
 * set them. */
bool rfs_plan_builtin_var(const char *name);

#endif
