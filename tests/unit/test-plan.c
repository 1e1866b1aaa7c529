/*
 * test-plan.c - unit tests of plan.h and yaml-tree.h: Hades files loaded
 * into the model (the registry guide's complete example with an inventory,
 * every error at its file:line:column, modes, parallelism, durations, env
 * forms, aliases), file discovery, the hosts of a step, batches, the env
 * of a step, ${VAR} expansion checked by running the result through sh,
 * and the check of a whole plan reporting every problem at once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"
#include "plan.h"
#include "yaml-tree.h"
#include "tmptree.h"

struct fixture {
	char dir[64];
	struct rfs_plan_set *set;
	struct rfs_error err;
	char *paths[8];
	size_t n_paths;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/regfs-test-plan-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_plan_set_free(&f->set);
	for (size_t i = 0; i < f->n_paths; i++)
		free(f->paths[i]);
	tmptree_remove(f->dir);
	free(f);
	return 0;
}

/* Write text to dir/name (folders made as needed); the path is kept. */
static const char *write_file(struct fixture *f, const char *name,
			      const char *text)
{
	char *path, *slash;
	FILE *fp;

	assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
	for (slash = strchr(path + strlen(f->dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	assert_true(f->n_paths < sizeof(f->paths) / sizeof(f->paths[0]));
	f->paths[f->n_paths++] = path;
	return path;
}

/* Load the files written so far, in order. */
static int load_all(struct fixture *f)
{
	rfs_plan_set_free(&f->set);
	return rfs_plan_load((const char *const *)f->paths, f->n_paths, &f->set,
			     &f->err);
}

/* Load text as the only file. */
static int load_text(struct fixture *f, const char *text)
{
	for (size_t i = 0; i < f->n_paths; i++)
		free(f->paths[i]);
	f->n_paths = 0;
	write_file(f, "t.hades.yaml", text);
	return load_all(f);
}

/* Expect loading text to fail with a line "t.hades.yaml:L:C: msg..." (msg
 * a prefix of the line's message). */
static void expect_error(struct fixture *f, const char *text, int line,
			 int column, const char *msg)
{
	char want[RFS_ERROR_MSG_MAX];
	int rc = load_text(f, text);

	snprintf(want, sizeof(want), "%s:%d:%d: %s", f->paths[0], line, column,
		 msg);
	if (rc != -EINVAL || !strstr(f->err.msg, want))
		fail_msg("for:\n%s\nwant %d with a line starting '%s'\ngot  %d "
			 "'%s'",
			 text, -EINVAL, want, rc, f->err.msg);
	assert_null(f->set);
}

static const char guide_example[] = "registries:\n"
				    "  prod:\n"
				    "    type: filesystem\n"
				    "    path: /var/hades/artifacts\n"
				    "\n"
				    "jobs:\n"
				    "  publish:\n"
				    "    artifacts:\n"
				    "      app-binary:\n"
				    "        path: ./build/myapp\n"
				    "    actions:\n"
				    "      - push:\n"
				    "          registry: prod\n"
				    "          artifact: app-binary\n"
				    "          name: myapp\n"
				    "          tag: ${VERSION}\n"
				    "\n"
				    "  deploy:\n"
				    "    env:\n"
				    "      VERSION:\n"
				    "    actions:\n"
				    "      - mkdir:\n"
				    "          path: /opt/myapp\n"
				    "          mode: 0755\n"
				    "      - pull:\n"
				    "          registry: prod\n"
				    "          name: myapp\n"
				    "          tag: ${VERSION}\n"
				    "          to: /opt/myapp/app\n"
				    "      - run: chmod +x /opt/myapp/app\n"
				    "      - run: systemctl restart myapp\n"
				    "\n"
				    "plans:\n"
				    "  release:\n"
				    "    steps:\n"
				    "      - name: publish\n"
				    "        job: publish\n"
				    "        targets: [build-server]\n"
				    "        env:\n"
				    "          VERSION: v1.0.0\n"
				    "\n"
				    "      - name: deploy-canary\n"
				    "        job: deploy\n"
				    "        targets: [app-servers]\n"
				    "        limit: 1\n"
				    "        env:\n"
				    "          VERSION: v1.0.0\n"
				    "\n"
				    "      - name: deploy-all\n"
				    "        job: deploy\n"
				    "        targets: [app-servers]\n"
				    "        env:\n"
				    "          VERSION: v1.0.0\n";

static const char inventory[] = "hosts:\n"
				"  builder:\n"
				"    addr: 10.0.0.5\n"
				"    user: ci\n"
				"    identity_file: ~/.ssh/ci_key\n"
				"  app-1:\n"
				"    addr: 10.0.0.11\n"
				"    port: 2222\n"
				"  app-2: {addr: 10.0.0.12}\n"
				"  app-3: {addr: 10.0.0.13}\n"
				"targets:\n"
				"  build-server: [builder]\n"
				"  app-servers: [app-2, app-1, app-3]\n";

static void test_guide_example(void **state)
{
	struct fixture *f = *state;
	const struct rfs_plan_job *job;
	const struct rfs_plan *plan;
	const struct rfs_plan_action *a;
	struct rfs_plan_tag_ref *needed;
	size_t n_needed;

	write_file(f, "hosts.hades.yaml", inventory);
	write_file(f, "release.hades.yaml", guide_example);
	assert_int_equal(load_all(f), 0);
	assert_int_equal(f->set->n_files, 2);
	assert_int_equal(f->set->n_registries, 1);
	assert_string_equal(f->set->registries[0].name, "prod");
	assert_int_equal(f->set->registries[0].type, RFS_REGISTRY_FILESYSTEM);
	assert_string_equal(f->set->registries[0].path, "/var/hades/artifacts");
	assert_ptr_equal(f->set->registries[0].pos.file, f->set->files[1]);
	assert_int_equal(f->set->registries[0].pos.line, 2);
	assert_int_equal(f->set->registries[0].pos.column, 3);

	assert_int_equal(f->set->n_hosts, 4);
	assert_string_equal(f->set->hosts[0].name, "builder");
	assert_string_equal(f->set->hosts[0].user, "ci");
	assert_string_equal(f->set->hosts[0].identity_file, "~/.ssh/ci_key");
	assert_int_equal(f->set->hosts[1].port, 2222);
	assert_null(f->set->hosts[2].user);
	assert_int_equal(f->set->hosts[2].port, 0);
	assert_int_equal(f->set->n_groups, 2);
	assert_string_equal(f->set->groups[1].hosts[0], "app-2");

	job = rfs_plan_find_job(f->set, "publish");
	assert_non_null(job);
	assert_int_equal(job->n_artifacts, 1);
	assert_string_equal(job->artifacts[0].key, "app-binary");
	assert_string_equal(job->artifacts[0].value, "./build/myapp");
	a = &job->actions[0];
	assert_int_equal(a->kind, RFS_ACTION_PUSH);
	assert_string_equal(a->registry, "prod");
	assert_string_equal(a->artifact, "app-binary");
	assert_string_equal(a->repo, "myapp");
	assert_string_equal(a->tag, "${VERSION}");
	assert_int_equal(a->pos.line, 12);
	assert_int_equal(a->pos.column, 9);

	job = rfs_plan_find_job(f->set, "deploy");
	assert_non_null(job);
	assert_false(job->local);
	assert_int_equal(job->n_env, 1);
	assert_string_equal(job->env[0].key, "VERSION");
	assert_null(job->env[0].value); /* required */
	assert_int_equal(job->n_actions, 4);
	assert_int_equal(job->actions[0].kind, RFS_ACTION_MKDIR);
	assert_int_equal(job->actions[0].mode, 0755);
	assert_int_equal(job->actions[1].kind, RFS_ACTION_PULL);
	assert_string_equal(job->actions[1].dst, "/opt/myapp/app");
	assert_int_equal(job->actions[1].mode, RFS_PLAN_NO_MODE);
	assert_false(job->actions[1].parents);
	assert_string_equal(job->actions[3].command, "systemctl restart myapp");

	plan = rfs_plan_find(f->set, "release");
	assert_non_null(plan);
	assert_null(rfs_plan_find(f->set, "nope"));
	assert_int_equal(plan->n_steps, 3);
	assert_string_equal(plan->steps[1].name, "deploy-canary");
	assert_int_equal(plan->steps[1].limit, 1);
	assert_int_equal(plan->steps[2].limit, 0);
	assert_string_equal(plan->steps[2].targets[0], "app-servers");
	assert_string_equal(plan->steps[2].env[0].value, "v1.0.0");
	assert_non_null(rfs_plan_find_registry(f->set, "prod"));

	/* the deploy steps pull what the publish step pushed */
	assert_int_equal(rfs_plan_check(f->set, plan, NULL, NULL, &needed,
					&n_needed, &f->err),
			 0);
	assert_int_equal(n_needed, 1);
	assert_ptr_equal(needed[0].registry, &f->set->registries[0]);
	assert_string_equal(needed[0].repo, "myapp");
	assert_string_equal(needed[0].tag, "v1.0.0");
	assert_true(needed[0].pushed_earlier);
	assert_int_equal(needed[0].step, 1);
	rfs_plan_tag_refs_free(needed, n_needed);
}

static void test_file_hash(void **state)
{
	struct fixture *f = *state;
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_hasher *h;

	write_file(f, "hosts.hades.yaml", inventory);
	write_file(f, "release.hades.yaml", guide_example);
	assert_int_equal(load_all(f), 0);
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update(h, inventory, strlen(inventory)), 0);
	assert_int_equal(
	    rfs_hasher_update(h, guide_example, strlen(guide_example)), 0);
	assert_int_equal(rfs_hasher_final(h, want), 0);
	rfs_hasher_free(&h);
	assert_string_equal(f->set->file_hash, want);
}

static void test_schema_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "jobs:\n  a:\n    actions: []\n    acions: []\n", 4, 5,
		     "unknown key \"acions\" in a job (expected local, guard, "
		     "env, artifacts, actions)");
	expect_error(f, "jobz: {}\n", 1, 1, "unknown key \"jobz\" at the top");
	expect_error(f, "jobs:\n  a:\n    actions: {run: x}\n", 3, 14,
		     "actions must be a list, not a mapping");
	expect_error(f, "jobs:\n  a:\n    local: maybe\n", 3, 12,
		     "local must be true or false, not \"maybe\"");
	expect_error(f, "jobs: [a, b]\n", 1, 7,
		     "jobs must be a mapping, not a list");
	expect_error(f, "jobs:\n  a:\n    actions:\n      - run: [x]\n", 4, 14,
		     "run must be a string, not a list");
	expect_error(f, "jobs:\n  a:\n    actions:\n      - name: x\n", 4, 9,
		     "an action needs one of run");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - run: x\n        "
		     "mkdir: {path: /x}\n",
		     4, 9, "an action has both run and mkdir");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - pull: {registry: r, "
		     "name: n, tag: t}\n",
		     4, 15, "a pull action needs to:");
	expect_error(f, "jobs:\n  a:\n    actions:\n      - copy: {dst: /x}\n",
		     4, 15, "a copy action needs src: or artifact:");
	expect_error(f, "hosts:\n  h: {user: x}\n", 2, 6, "a host needs addr:");
	expect_error(f, "hosts:\n  h: {addr: x, port: 99999}\n", 2, 22,
		     "port 99999 is out of range");
	expect_error(f,
		     "plans:\n  p:\n    steps:\n      - job: j\n        limit: "
		     "-1\n",
		     5, 16, "limit -1 is out of range");
	expect_error(f,
		     "plans:\n  p:\n    steps:\n      - job: j\n        limit: "
		     "two\n",
		     5, 16, "limit must be a whole number, not \"two\"");
	expect_error(f, "plans:\n  p:\n    steps:\n      - targets: [a]\n", 4,
		     9, "a step needs job:");
	expect_error(f,
		     "plans:\n  p:\n    steps:\n      - {name: a, job: j}\n"
		     "      - {name: a, job: j}\n",
		     5, 16,
		     "step \"a\" is already a step of this plan, at 4:9");
	expect_error(f, "plans:\n  p:\n    env:\n      MY-VAR: x\n", 4, 7,
		     "\"MY-VAR\" is not a variable name");
	expect_error(f, "registries:\n  r: {path: /x}\n", 2, 6,
		     "registry \"r\" needs type: regfs, oci or filesystem");
	expect_error(f, "registries:\n  r: {type: ftp, path: /x}\n", 2, 13,
		     "registry \"r\": unknown type \"ftp\"");
	expect_error(f, "registries:\n  r: {type: oci}\n", 2, 6,
		     "an oci registry needs url:");
	expect_error(f, "registries:\n  r: {type: regfs, path: /s, url: x}\n",
		     2, 35, "a regfs registry takes path:, not url:");
	expect_error(f, "hosts.providers:\n  - provider: aws\n", 2, 3,
		     "dynamic inventories (hosts.providers) are not supported");
}

static void test_yaml_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "jobs:\n  a: {}\n  a: {}\n", 3, 3,
		     "duplicate key \"a\" (first at 2:3)");
	expect_error(f, "jobs: {}\n---\nplans: {}\n", 2, 1,
		     "a second document");
	expect_error(f, "jobs:\n  a: [\n", 3, 1, "did not find expected node");
	expect_error(f, "jobs:\n  a: *nothing\n", 2, 6,
		     "alias *nothing names no anchor");
	expect_error(f, "jobs: !custom {}\n", 1, 7,
		     "tag !custom is not supported");
	expect_error(f, "jobs:\n  ? [a]\n  : x\n", 2, 5,
		     "a key must be a string, not a list");
	/* a file given that is not there is an error, not skipped */
	assert_int_equal(rfs_plan_load((const char *const[]){ "/nonexistent/"
							      "x.hades.yaml" },
				       1, &f->set, &f->err),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, "/nonexistent/x.hades.yaml: No "
					   "such file"));
	assert_int_equal(rfs_plan_load(NULL, 0, &f->set, &f->err), -EINVAL);
	/* an empty file, or one with comments only, defines nothing */
	assert_int_equal(load_text(f, "# nothing yet\n"), 0);
	assert_int_equal(f->set->n_jobs, 0);
	assert_int_equal(load_text(f, ""), 0);
}

static void test_aliases_and_merge(void **state)
{
	struct fixture *f = *state;
	const struct rfs_plan *plan;

	assert_int_equal(load_text(f, "jobs:\n"
				      "  a:\n"
				      "    env: &common\n"
				      "      LEVEL: {default: info}\n"
				      "      NAME: {default: x}\n"
				      "    actions: &acts\n"
				      "      - run: echo ${LEVEL}\n"
				      "  b:\n"
				      "    env:\n"
				      "      <<: *common\n"
				      "      NAME: {default: mine}\n"
				      "    actions: *acts\n"
				      "plans:\n"
				      "  p:\n"
				      "    steps:\n"
				      "      - &s {job: a, targets: [local]}\n"
				      "      - *s\n"
				      "      - <<: *s\n"
				      "        name: third\n"),
			 0);
	assert_int_equal(f->set->jobs[1].n_env, 2);
	/* the key written in the mapping wins over the merged one */
	assert_string_equal(f->set->jobs[1].env[0].key, "NAME");
	assert_string_equal(f->set->jobs[1].env[0].value, "mine");
	assert_string_equal(f->set->jobs[1].env[1].key, "LEVEL");
	assert_string_equal(f->set->jobs[1].env[1].value, "info");
	assert_string_equal(f->set->jobs[1].actions[0].command,
			    "echo ${LEVEL}");
	plan = &f->set->plans[0];
	assert_int_equal(plan->n_steps, 3);
	assert_string_equal(plan->steps[1].name, "step-2");
	assert_string_equal(plan->steps[2].name, "third");
	assert_string_equal(plan->steps[2].job, "a");
	/* an alias inside its own anchor would be a cycle */
	expect_error(f, "jobs: &a\n  x: *a\n", 2, 6, "alias *a names no");
}

static void test_duplicate_across_files(void **state)
{
	struct fixture *f = *state;
	char want[512];

	write_file(f, "a.hades.yaml", "jobs:\n  deploy:\n    actions: []\n");
	write_file(
	    f, "b.hades.yaml",
	    "hosts:\n  h: {addr: x}\njobs:\n  other: {}\n  deploy: {}\n");
	assert_int_equal(load_all(f), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:5:3: job \"deploy\" is already defined at %s:2:3",
		 f->paths[1], f->paths[0]);
	assert_string_equal(f->err.msg, want);

	write_file(f, "c.hades.yaml", "hosts:\n  h: {addr: y}\n");
	assert_int_equal(load_all(f), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2:3: host \"h\" is already defined at %s:2:3", f->paths[2],
		 f->paths[1]);
	assert_non_null(strstr(f->err.msg, want));
}

static void test_modes(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *written;
		int mode;
	} good[] = {
		{ "0755", 0755 },      { "\"0755\"", 0755 }, { "'0644'", 0644 },
		{ "0o755", 0755 },     { "0", 0 },	     { "04755", 04755 },
		{ "\"0o600\"", 0600 },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
			 "jobs:\n  a:\n    actions:\n      - mkdir: {path: /x, "
			 "mode: %s}\n",
			 good[i].written);
		if (load_text(f, text) != 0)
			fail_msg("mode %s: %s", good[i].written, f->err.msg);
		assert_int_equal(f->set->jobs[0].actions[0].mode, good[i].mode);
	}
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - mkdir: {path: /x, "
		     "mode: 755}\n",
		     4, 33, "mode 755 must be octal with a leading 0 (0755)");
	expect_error(
	    f,
	    "jobs:\n  a:\n    actions:\n      - copy: {src: a, dst: b, "
	    "mode: \"644\"}\n",
	    4, 38, "mode 644 must be octal with a leading 0 (0644)");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - mkdir: {path: /x, "
		     "mode: 0789}\n",
		     4, 33, "mode 0789 is not an octal number");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - mkdir: {path: /x, "
		     "mode: 017777}\n",
		     4, 33, "mode 017777 is larger than 07777");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - mkdir: {path: /x, "
		     "mode: rwx}\n",
		     4, 33, "mode \"rwx\" is not an octal number");
}

static void test_parallelism(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *written;
		int count, percent;
	} good[] = {
		{ "3", 3, 0 },	    { "\"3\"", 3, 0 }, { "\"25%\"", 0, 25 },
		{ "100%", 0, 100 }, { "\"\"", 0, 0 },  { "~", 0, 0 },
	};
	static const char *const bad[] = { "0",	     "\"0\"",	 "-1",
					   "\"0%\"", "\"101%\"", "abc",
					   "12.5%",  "\" 3\"",	 "[3]" };
	char text[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
			 "plans:\n  p:\n    steps:\n      - job: j\n        "
			 "parallelism: %s\n",
			 good[i].written);
		if (load_text(f, text) != 0)
			fail_msg("parallelism %s: %s", good[i].written,
				 f->err.msg);
		assert_int_equal(f->set->plans[0].steps[0].parallelism.count,
				 good[i].count);
		assert_int_equal(f->set->plans[0].steps[0].parallelism.percent,
				 good[i].percent);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "plans:\n  p:\n    steps:\n      - job: j\n        "
			 "parallelism: %s\n",
			 bad[i]);
		expect_error(f, text, 5, 22, "parallelism ");
	}
}

static void test_durations_and_actions(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *written;
		int64_t ms;
	} good[] = {
		{ "90s", 90000 }, { "5m", 300000 },	{ "1h30m", 5400000 },
		{ "500ms", 500 }, { "1.5h", 5400000 },	{ "0", 0 },
		{ "1us", 1 },	  { "\"2m\"", 120000 },
	};
	const struct rfs_plan_action *a;
	char text[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
			 "jobs:\n  a:\n    actions:\n      - wait: {timeout: "
			 "%s}\n",
			 good[i].written);
		if (load_text(f, text) != 0)
			fail_msg("timeout %s: %s", good[i].written, f->err.msg);
		assert_int_equal(f->set->jobs[0].actions[0].timeout_ms,
				 good[i].ms);
	}
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - wait: {timeout: 5 "
		     "minutes}\n",
		     4, 25, "timeout \"5 minutes\" is not a duration");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - wait: {timeout: 10}\n",
		     4, 25, "timeout \"10\" is not a duration");
	expect_error(f,
		     "jobs:\n  a:\n    actions:\n      - gpg: {src: u, path: "
		     "p}\n",
		     4, 9, "gpg actions are not supported");
	expect_error(f, "registries:\n  r: {type: s3, bucket: b}\n", 2, 13,
		     "registry \"r\": type s3 is not supported");

	assert_int_equal(
	    load_text(f, "jobs:\n"
			 "  a:\n"
			 "    local: yes\n"
			 "    guard: {if: \"! test -d /srv\"}\n"
			 "    artifacts: {bin: {path: build/app}}\n"
			 "    actions:\n"
			 "      - name: get it\n"
			 "        pull: {registry: r, name: app, tag: v1, to: "
			 "/opt/app, mode: 0755, parents: true}\n"
			 "      - copy: {artifact: bin, dst: /x}\n"
			 "      - template: {src: t.conf, dst: /etc/t.conf}\n"
			 "      - wait: {message: Go on?}\n"
			 "      - wait:\n"
			 "      - run: |\n"
			 "          set -e\n"
			 "          echo hi\n"),
	    0);
	assert_true(f->set->jobs[0].local);
	assert_string_equal(f->set->jobs[0].guard_if, "! test -d /srv");
	a = f->set->jobs[0].actions;
	assert_string_equal(a[0].name, "get it");
	assert_int_equal(a[0].mode, 0755);
	assert_true(a[0].parents);
	assert_string_equal(a[0].repo, "app");
	assert_string_equal(a[1].artifact, "bin");
	assert_null(a[1].src);
	assert_int_equal(a[2].kind, RFS_ACTION_TEMPLATE);
	assert_string_equal(a[3].message, "Go on?");
	assert_int_equal(a[4].kind, RFS_ACTION_WAIT);
	assert_null(a[4].message);
	assert_int_equal(a[4].timeout_ms, 0);
	assert_string_equal(a[5].command, "set -e\necho hi\n");
}

static void test_env_forms(void **state)
{
	struct fixture *f = *state;
	const struct rfs_plan_job *job;

	assert_int_equal(load_text(f, "version: 1\n"
				      "description: env forms\n"
				      "jobs:\n"
				      "  a:\n"
				      "    env:\n"
				      "      REQUIRED:\n"
				      "      ALSO_REQUIRED: {default: \"\"}\n"
				      "      LEVEL: {default: info}\n"
				      "      PLAIN: debug\n"
				      "      NUM: 3\n"
				      "plans:\n"
				      "  p:\n"
				      "    description: forms\n"
				      "    env: {EMPTY: , N: 1}\n"
				      "    steps: []\n"),
			 0);
	job = &f->set->jobs[0];
	assert_int_equal(job->n_env, 5);
	assert_null(job->env[0].value);
	assert_null(job->env[1].value);
	assert_string_equal(job->env[2].value, "info");
	/* Hades drops the file for this; here it is a default */
	assert_string_equal(job->env[3].value, "debug");
	assert_string_equal(job->env[4].value, "3");
	assert_int_equal(job->env[3].pos.line, 9);
	assert_string_equal(f->set->plans[0].env[0].value, "");
	assert_string_equal(f->set->plans[0].env[1].value, "1");
}

static void test_several_load_problems(void **state)
{
	struct fixture *f = *state;
	size_t lines = 1;

	assert_int_equal(load_text(f, "jobs:\n"
				      "  a:\n"
				      "    bogus: 1\n"
				      "    actions:\n"
				      "      - mkdir: {path: /x, mode: 755}\n"
				      "      - gpg: {src: x}\n"
				      "plans:\n"
				      "  p:\n"
				      "    steps:\n"
				      "      - job: a\n"
				      "        parallelism: 0\n"),
			 -EINVAL);
	for (const char *c = f->err.msg; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 4);
	assert_non_null(strstr(f->err.msg, ":3:5: unknown key \"bogus\""));
	assert_non_null(strstr(f->err.msg, ":5:33: mode 755 must be octal"));
	assert_non_null(strstr(f->err.msg, ":6:9: gpg actions"));
	assert_non_null(strstr(f->err.msg, ":11:22: parallelism \"0\""));
}

static void test_find_files(void **state)
{
	struct fixture *f = *state;
	char **files, want[256], sub[128];
	size_t n;

	write_file(f, "a.hades.yaml", "");
	write_file(f, "a/x.hades.yml", "");
	write_file(f, "b/.hidden/c.hades.yaml", "");
	write_file(f, "hades.yaml", "");
	write_file(f, "notes.yaml", "");
	write_file(f, "z.hades.yaml.txt", "");
	assert_int_equal(rfs_plan_find_files(f->dir, &files, &n, &f->err), 0);
	assert_int_equal(n, 3);
	/* each folder's entries in byte order, as Go's WalkDir: "a" before
	 * "a.hades.yaml" */
	snprintf(want, sizeof(want), "%s/a/x.hades.yml", f->dir);
	assert_string_equal(files[0], want);
	snprintf(want, sizeof(want), "%s/a.hades.yaml", f->dir);
	assert_string_equal(files[1], want);
	snprintf(want, sizeof(want), "%s/b/.hidden/c.hades.yaml", f->dir);
	assert_string_equal(files[2], want);
	rfs_plan_files_free(files, n);

	/* a file named on purpose */
	assert_int_equal(rfs_plan_find_files(f->paths[4], &files, &n, &f->err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(files[0], f->paths[4]);
	rfs_plan_files_free(files, n);

	snprintf(sub, sizeof(sub), "%s/empty", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(rfs_plan_find_files(sub, &files, &n, &f->err),
			 -ENOENT);
	assert_non_null(strstr(f->err.msg, "no *.hades.yaml"));
	snprintf(sub, sizeof(sub), "%s/missing", f->dir);
	assert_int_equal(rfs_plan_find_files(sub, &files, &n, &f->err),
			 -ENOENT);
}

static const char hosts_plan[] =
    "hosts:\n"
    "  web-a: {addr: 10.0.0.1}\n"
    "  web-b: {addr: 10.0.0.2}\n"
    "  web-c: {addr: 10.0.0.3}\n"
    "  db: {addr: 10.0.0.9}\n"
    "targets:\n"
    "  web: [web-c, web-a, web-b]\n"
    "  all: [db, web-a]\n"
    "  broken: [web-a, ghost]\n"
    "jobs:\n"
    "  j: {}\n"
    "plans:\n"
    "  p:\n"
    "    steps:\n"
    "      - {name: both, job: j, targets: [web, all, web-b]}\n"
    "      - {name: canary, job: j, targets: [web, all], limit: 2}\n"
    "      - {name: rest, job: j, targets: [web, all], exclude: [canary]}\n"
    "      - {name: here, job: j, targets: [local, db, local]}\n"
    "      - {name: bad, job: j, targets: [nowhere]}\n"
    "      - {name: broken, job: j, targets: [broken]}\n";

static void expect_hosts(const struct rfs_plan_host **got, int n,
			 const char *want)
{
	char names[256] = "";

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		strcat(names, i ? " " : "");
		strcat(names, got[i]->name);
	}
	assert_string_equal(names, want);
}

static void test_step_hosts(void **state)
{
	struct fixture *f = *state;
	const struct rfs_plan_host *out[8];
	const struct rfs_plan_step *s;
	const char *canary_hosts[] = { "web-c", "web-a" };
	struct rfs_plan_reached reached = { "canary", canary_hosts, 2 };
	struct rfs_plan_kv t[] = { { .key = "db" }, { .key = "web" } };
	struct rfs_plan_vars override = { t, 2 };
	int n;

	assert_int_equal(load_text(f, hosts_plan), 0);
	s = f->set->plans[0].steps;
	n = rfs_plan_step_hosts(f->set, &s[0], NULL, NULL, 0, out, 8, &f->err);
	expect_hosts(out, n, "web-c web-a web-b db");
	n = rfs_plan_step_hosts(f->set, &s[1], NULL, NULL, 0, out, 8, &f->err);
	expect_hosts(out, n, "web-c web-a");
	n = rfs_plan_step_hosts(f->set, &s[2], NULL, &reached, 1, out, 8,
				&f->err);
	expect_hosts(out, n, "web-b db");
	/* the runner must say what the excluded step reached */
	assert_int_equal(
	    rfs_plan_step_hosts(f->set, &s[2], NULL, NULL, 0, out, 8, &f->err),
	    -ENOENT);
	n = rfs_plan_step_hosts(f->set, &s[3], NULL, NULL, 0, out, 8, &f->err);
	expect_hosts(out, n, "local db");
	assert_null(out[0]->addr);
	assert_int_equal(
	    rfs_plan_step_hosts(f->set, &s[4], NULL, NULL, 0, out, 8, &f->err),
	    -ENOENT);
	assert_non_null(strstr(f->err.msg, "\"nowhere\""));
	assert_int_equal(
	    rfs_plan_step_hosts(f->set, &s[5], NULL, NULL, 0, out, 8, &f->err),
	    -ENOENT);
	assert_non_null(strstr(f->err.msg, "\"ghost\""));
	/* -t replaces every step's targets; limit still applies */
	n = rfs_plan_step_hosts(f->set, &s[0], &override, NULL, 0, out, 8,
				&f->err);
	expect_hosts(out, n, "db web-c web-a web-b");
	n = rfs_plan_step_hosts(f->set, &s[1], &override, NULL, 0, out, 8,
				&f->err);
	expect_hosts(out, n, "db web-c");
	assert_int_equal(
	    rfs_plan_step_hosts(f->set, &s[0], NULL, NULL, 0, out, 3, &f->err),
	    -E2BIG);
}

static void test_batch_size(void **state)
{
	struct rfs_plan_parallelism p = { 0, 0 };

	(void)state;
	assert_int_equal(rfs_plan_batch_size(&p, 5), 5);
	assert_int_equal(rfs_plan_batch_size(&p, 0), 1);
	p.count = 2;
	assert_int_equal(rfs_plan_batch_size(&p, 5), 2);
	assert_int_equal(rfs_plan_batch_size(&p, 1), 1);
	p = (struct rfs_plan_parallelism){ 0, 50 };
	assert_int_equal(rfs_plan_batch_size(&p, 3), 1);
	assert_int_equal(rfs_plan_batch_size(&p, 4), 2);
	p.percent = 25;
	assert_int_equal(rfs_plan_batch_size(&p, 8), 2);
	assert_int_equal(rfs_plan_batch_size(&p, 3), 1);
	p.percent = 100;
	assert_int_equal(rfs_plan_batch_size(&p, 7), 7);
	p.percent = 1;
	assert_int_equal(rfs_plan_batch_size(&p, 250), 2);
}

static const char env_plan[] =
    "jobs:\n"
    "  j:\n"
    "    env:\n"
    "      A: {default: job-a}\n"
    "      B: {default: job-b}\n"
    "      C: {default: job-c}\n"
    "      D: {default: job-d}\n"
    "      NEED:\n"
    "plans:\n"
    "  p:\n"
    "    env:\n"
    "      B: plan-b\n"
    "      C: plan-c\n"
    "      D: plan-d\n"
    "      FROM_OS: \"<${REGFS_TEST_PLAN_VAR}>\"\n"
    "    steps:\n"
    "      - job: j\n"
    "        env:\n"
    "          C: step-c\n"
    "          D: step-d\n"
    "          NEED: given\n"
    "      - job: j\n"
    "        env:\n"
    "          OS_MISSING: ${REGFS_TEST_NO_SUCH_VAR}\n"
    "          HADES_PLAN: mine\n";

static const char *env_value(const struct rfs_plan_kv *env, size_t n,
			     const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(env[i].key, key) == 0)
			return env[i].value;
	return NULL;
}

static void test_step_env(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_kv cli_items[] = {
		{ .key = "D", .value = "cli-${REGFS_TEST_PLAN_VAR}" },
	};
	struct rfs_plan_vars cli = { cli_items, 1 };
	struct rfs_plan_kv bad_cli[] = { { .key = "REGCTL_STEP",
					   .value = "x" } };
	struct rfs_plan_vars bad = { bad_cli, 1 };
	const struct rfs_plan *plan;
	const struct rfs_plan_job *job;
	struct rfs_plan_kv *env;
	size_t n;

	setenv("REGFS_TEST_PLAN_VAR", "from the os", 1);
	unsetenv("REGFS_TEST_NO_SUCH_VAR");
	assert_int_equal(load_text(f, env_plan), 0);
	plan = &f->set->plans[0];
	job = &f->set->jobs[0];
	assert_int_equal(rfs_plan_step_env(plan, &plan->steps[0], job, &cli,
					   &env, &n, &f->err),
			 0);
	assert_string_equal(env_value(env, n, "A"), "job-a");
	assert_string_equal(env_value(env, n, "B"), "plan-b");
	assert_string_equal(env_value(env, n, "C"), "step-c");
	assert_string_equal(env_value(env, n, "D"), "cli-from the os");
	assert_string_equal(env_value(env, n, "NEED"), "given");
	assert_string_equal(env_value(env, n, "FROM_OS"), "<from the os>");
	rfs_plan_env_free(env, n);

	/* the second step: a missing OS variable, a built-in set, NEED not
	 * given: all three said */
	assert_int_equal(rfs_plan_step_env(plan, &plan->steps[1], job, NULL,
					   &env, &n, &f->err),
			 -EINVAL);
	assert_null(env);
	assert_non_null(strstr(f->err.msg, "${REGFS_TEST_NO_SUCH_VAR} is not "
					   "set"));
	assert_non_null(strstr(f->err.msg, ":25:11: HADES_PLAN in the step's "
					   "env is reserved"));
	assert_non_null(strstr(f->err.msg, "job \"j\" needs NEED"));
	assert_int_equal(rfs_plan_step_env(plan, &plan->steps[0], job, &bad,
					   &env, &n, &f->err),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, "REGCTL_STEP in -e is reserved"));

	assert_true(rfs_plan_builtin_var("HADES_RUN_ID"));
	assert_true(rfs_plan_builtin_var("REGCTL_DIGEST_APP_V1"));
	assert_false(rfs_plan_builtin_var("REGCTL_DIGEST_"));
	assert_false(rfs_plan_builtin_var("VERSION"));
}

/* Run text through sh and return what it printed (malloc()ed). */
static char *run_sh(const char *text)
{
	static char out[4096];
	char *cmd, *quoted = rfs_shell_quote(text);
	size_t got;
	FILE *p;

	assert_non_null(quoted);
	assert_true(asprintf(&cmd, "sh -c %s", quoted) > 0);
	free(quoted);
	p = popen(cmd, "r");
	assert_non_null(p);
	got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	assert_int_equal(pclose(p), 0);
	free(cmd);
	return strdup(out);
}

static void test_expand(void **state)
{
	struct fixture *f = *state;
	static const char nasty[] = "it's \"a\" $HOME `id` \\ ;\nline two";
	struct rfs_plan_kv env[] = {
		{ .key = "V", .value = (char *)nasty },
		{ .key = "W", .value = "plain" },
		{ .key = "W", .value = "later wins" },
	};
	static const struct {
		const char *text, *printed;
	} cases[] = {
		{ "printf '%s|' ${V}",
		  "it's \"a\" $HOME `id` \\ ;\nline two|" },
		{ "printf '%s|' \"<${V}> ${W}\"",
		  "<it's \"a\" $HOME `id` \\ ;\nline two> later wins|" },
		{ "printf '%s|' '<${W}>'", "<later wins>|" },
		{ "printf '%s|' \"$(printf %s ${W})\"", "later wins|" },
		{ "cat <<EOF\n${V}\nEOF",
		  "it's \"a\" $HOME `id` \\ ;\nline two\n" },
		{ "cat <<-'EOF'\n\t${W} $HOME\n\tEOF", "later wins $HOME\n" },
		{ "# don't ${V}\nprintf %s ${W}", "later wins" },
		{ "printf %s \\${W}", "${W}" },
		{ "X=1; printf %s \"$X${NOPE:-y}\"", "1y" },
	};
	char *out, *printed;
	struct rfs_error err;

	(void)f;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (rfs_plan_expand(cases[i].text, env, 3, true, &out, &err))
			fail_msg("%s: %s", cases[i].text, err.msg);
		printed = run_sh(out);
		if (strcmp(printed, cases[i].printed) != 0)
			fail_msg(
			    "%s\nexpanded to %s\nprinted '%s'\nwant    '%s'",
			    cases[i].text, out, printed, cases[i].printed);
		free(printed);
		free(out);
	}
	assert_int_equal(
	    rfs_plan_expand("/opt/${W}/$V/${V", env, 3, false, &out, &err), 0);
	assert_string_equal(out, "/opt/later wins/$V/${V");
	free(out);
	assert_int_equal(
	    rfs_plan_expand("echo ${MISSING}", env, 3, true, &out, &err),
	    -EINVAL);
	assert_null(out);
	assert_non_null(strstr(err.msg, "${MISSING}"));
	/* a value that would end its here-document is refused */
	env[1].value = "x\nEOF\nrm -rf /tmp/nothing";
	assert_int_equal(
	    rfs_plan_expand("cat <<EOF\n${W}\nEOF\n", env, 2, true, &out, &err),
	    -EINVAL);

	out = rfs_shell_quote("it's");
	assert_string_equal(out, "'it'\\''s'");
	free(out);
	out = rfs_shell_quote("");
	assert_string_equal(out, "''");
	free(out);
}

static const char check_plan[] =
    "registries:\n"
    "  r: {type: regfs, path: /srv/store}\n"
    "hosts:\n"
    "  h1: {addr: a}\n"
    "targets:\n"
    "  g: [h1, ghost]\n"
    "jobs:\n"
    "  build:\n"
    "    artifacts: {bin: {path: out/bin}}\n"
    "    actions:\n"
    "      - push: {registry: r, artifact: bin, name: app, tag: "
    "\"${VERSION}\"}\n"
    "      - pull: {registry: r, name: app, tag: \"${VERSION}\", to: /x}\n"
    "      - push: {registry: r, artifact: bin, name: app, tag: "
    "\"run-${HADES_RUN_ID}\"}\n"
    "  deploy:\n"
    "    env: {VERSION: }\n"
    "    actions:\n"
    "      - pull: {registry: r, name: app, tag: \"${VERSION}\", to: /y}\n"
    "      - pull: {registry: r, name: base, tag: \"1.0\", to: /z}\n"
    "      - run: echo ${VERSION} ${HADES_HOST_NAME} ${REGCTL_DIGEST_X} "
    "$HOME\n"
    "  broken:\n"
    "    env: {HADES_TARGET: {default: x}}\n"
    "    actions:\n"
    "      - push: {registry: nope, artifact: missing, name: a, tag: b}\n"
    "      - pull: {registry: r, name: a, tag: \"${HADES_HOST_NAME}\", to: /x}\n"
    "      - run: echo ${UNSET}\n"
    "plans:\n"
    "  good:\n"
    "    env: {VERSION: v2}\n"
    "    steps:\n"
    "      - {name: early, job: deploy, targets: [h1]}\n"
    "      - {name: build, job: build, targets: [local]}\n"
    "      - {name: canary, job: deploy, targets: [h1], limit: 1}\n"
    "      - {name: rest, job: deploy, targets: [h1], exclude: [canary]}\n"
    "  bad:\n"
    "    steps:\n"
    "      - {name: one, job: nojob, targets: [nowhere]}\n"
    "      - {name: two, job: broken, targets: [g], exclude: [three]}\n"
    "      - {name: three, job: deploy}\n";

static void test_check(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_tag_ref *needed;
	size_t n_needed, lines = 1, n_more = 0;
	struct rfs_plan_kv t[] = { { .key = "h1" } };
	const char *more;
	struct rfs_plan_vars override = { t, 1 };

	assert_int_equal(load_text(f, check_plan), 0);
	if (rfs_plan_check(f->set, rfs_plan_find(f->set, "good"), NULL, NULL,
			   &needed, &n_needed, &f->err) != 0)
		fail_msg("%s", f->err.msg);
	/* app:v2 is deployed by "early" before "build" pushes it; base:1.0
	 * is never pushed */
	assert_int_equal(n_needed, 2);
	assert_string_equal(needed[0].repo, "app");
	assert_string_equal(needed[0].tag, "v2");
	assert_false(needed[0].pushed_earlier);
	assert_int_equal(needed[0].step, 0);
	assert_string_equal(needed[1].repo, "base");
	assert_string_equal(needed[1].tag, "1.0");
	assert_false(needed[1].pushed_earlier);
	rfs_plan_tag_refs_free(needed, n_needed);

	/* without "early", the pull of "build" itself follows its push */
	f->set->plans[0].steps++;
	f->set->plans[0].n_steps--;
	assert_int_equal(rfs_plan_check(f->set, &f->set->plans[0], NULL, NULL,
					&needed, &n_needed, &f->err),
			 0);
	f->set->plans[0].steps--;
	f->set->plans[0].n_steps++;
	assert_int_equal(n_needed, 2);
	assert_true(needed[0].pushed_earlier);
	assert_int_equal(needed[0].step, 0);
	rfs_plan_tag_refs_free(needed, n_needed);

	/* eleven problems: as many as fit are shown, then a count */
	assert_int_equal(rfs_plan_check(f->set, rfs_plan_find(f->set, "bad"),
					NULL, NULL, &needed, &n_needed,
					&f->err),
			 -EINVAL);
	assert_null(needed);
	assert_int_equal(n_needed, 0);
	for (const char *c = f->err.msg; *c; c++)
		lines += *c == '\n';
	more = strstr(f->err.msg, "\n(");
	assert_non_null(more);
	assert_int_equal(sscanf(more, "\n(%zu more problems)", &n_more), 1);
	assert_true(lines >= 3);
	assert_int_equal(lines - 1 + n_more, 11);
	assert_non_null(strstr(f->err.msg, "job \"nojob\" is not defined"));
	assert_non_null(strstr(f->err.msg, "target \"nowhere\""));
	assert_true(strlen(f->err.msg) < RFS_ERROR_MSG_MAX);

	/* -t stands in for a step's missing targets */
	f->set->plans[1].steps += 2;
	f->set->plans[1].n_steps = 1;
	assert_int_equal(rfs_plan_check(f->set, &f->set->plans[1], NULL, NULL,
					&needed, &n_needed, &f->err),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, "has no targets"));
	assert_int_equal(rfs_plan_check(f->set, &f->set->plans[1], NULL,
					&override, &needed, &n_needed, &f->err),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, "needs VERSION"));
	f->set->plans[1].steps -= 2;
	f->set->plans[1].n_steps = 3;
}

/* Check plan "p" of text (a relative file name keeps lines short) and
 * expect a line "t.hades.yaml:want". */
static void expect_problem(struct fixture *f, const char *text,
			   const char *want)
{
	struct rfs_plan_tag_ref *needed;
	size_t n_needed;
	char cwd[4096], line[256];
	int rc;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	write_file(f, "t.hades.yaml", text);
	rfs_plan_set_free(&f->set);
	rc = rfs_plan_load((const char *const[]){ "t.hades.yaml" }, 1, &f->set,
			   &f->err);
	if (!rc)
		rc = rfs_plan_check(f->set, rfs_plan_find(f->set, "p"), NULL,
				    NULL, &needed, &n_needed, &f->err);
	assert_int_equal(chdir(cwd), 0);
	snprintf(line, sizeof(line), "t.hades.yaml:%s", want);
	if (rc != -EINVAL || !strstr(f->err.msg, line))
		fail_msg("for:\n%s\nwant a line '%s'\ngot %d '%s'", text, line,
			 rc, f->err.msg);
	free(f->paths[--f->n_paths]);
}

static void test_check_messages(void **state)
{
	struct fixture *f = *state;

	expect_problem(f,
		       "hosts: {h: {addr: a}}\ntargets:\n  g: [h, ghost]\n"
		       "jobs: {j: {}}\n"
		       "plans: {p: {steps: [{job: j, targets: [g]}]}}\n",
		       "3:3: target group \"g\" names \"ghost\", not a host");
	expect_problem(
	    f,
	    "jobs:\n  j:\n    env: {HADES_TARGET: {default: x}}\n"
	    "plans: {p: {steps: [{job: j, targets: [local]}]}}\n",
	    "3:11: HADES_TARGET in the env of job \"j\" is reserved");
	expect_problem(
	    f,
	    "jobs:\n  j:\n    actions:\n      - push: {registry: no, "
	    "artifact: a, name: n, tag: t}\n"
	    "plans: {p: {steps: [{job: j, targets: [local]}]}}\n",
	    "4:9: a push names registry \"no\", not defined");
	expect_problem(
	    f,
	    "registries: {r: {type: oci, url: example.com}}\n"
	    "jobs:\n  j:\n    actions:\n      - push: {registry: r, "
	    "artifact: a, name: n, tag: t}\n"
	    "plans: {p: {steps: [{job: j, targets: [local]}]}}\n",
	    "5:9: a push names artifact \"a\", not one of job \"j\"");
	expect_problem(f,
		       "registries: {r: {type: oci, url: example.com}}\n"
		       "jobs:\n  j:\n    actions:\n      - pull: {registry: r, "
		       "name: n, tag: \"${HADES_HOST_NAME}\", to: /x}\n"
		       "plans: {p: {steps: [{job: j, targets: [local]}]}}\n",
		       "5:9: a pull may not use ${HADES_HOST_NAME}");
	expect_problem(
	    f,
	    "jobs:\n  j:\n    actions:\n      - run: echo ${UNSET}\n"
	    "plans: {p: {steps: [{name: s, job: j, targets: "
	    "[local]}]}}\n",
	    "4:9: step \"s\": ${UNSET} in a run command of job \"j\" "
	    "is not set");
	expect_problem(f,
		       "jobs:\n  j:\n    guard: {if: \"test -d ${D}\"}\n"
		       "plans: {p: {steps: [{name: s, job: j, targets: "
		       "[local]}]}}\n",
		       "2:3: step \"s\": ${D} in the guard of job \"j\"");
	expect_problem(
	    f,
	    "jobs: {j: {}}\nplans:\n  p:\n    steps:\n"
	    "      - {name: a, job: j, targets: [local], exclude: [b]}\n"
	    "      - {name: b, job: j, targets: [local]}\n",
	    "5:9: step \"a\" excludes \"b\", which is not an earlier "
	    "step");
	expect_problem(
	    f,
	    "jobs: {j: {env: {V: }}}\nplans:\n  p:\n"
	    "    env: {X: \"${REGFS_TEST_NO_SUCH_VAR}\"}\n"
	    "    steps:\n      - {name: a, job: j, targets: [local]}\n",
	    "4:11: X in the plan's env: ${REGFS_TEST_NO_SUCH_VAR} is "
	    "not set in the environment");
	expect_problem(
	    f,
	    "jobs: {j: {env: {V: }}}\nplans:\n  p:\n"
	    "    steps:\n      - {name: a, job: j, targets: [local]}\n",
	    "5:9: step \"a\": job \"j\" needs V");
	expect_problem(f, "plans: {p: {steps: []}}\n",
		       "1:9: plan \"p\" has no steps");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guide_example, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_hash, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_schema_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_yaml_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_aliases_and_merge, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_across_files,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallelism, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_durations_and_actions,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_forms, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_several_load_problems,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_hosts, setup,
						teardown),
		cmocka_unit_test(test_batch_size),
		cmocka_unit_test_setup_teardown(test_step_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_messages, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
