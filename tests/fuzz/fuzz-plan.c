/*
 * fuzz-plan.c - libFuzzer harness for the plan YAML loader (core/yaml-tree.c,
 * core/plan-load.c) and the checks regctl plan validate runs before
 * anything (core/plan-check.c): a *.hades.yaml file as a user writes it.
 *
 * Input: a plan file, or, when it starts with a 0x01 byte, a text to
 * expand ${VAR} in, as a value (0x01 0x00) or as shell words (0x01 and
 * anything else): the quoting that keeps a variable's value one word.
 * rfs_plan_load reads paths, so the file is a memfd, opened by its
 * /proc/self/fd name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "plan.h"

#include "fuzz.h"

static char path[64];
static int memfd = -1;

static void setup(void)
{
	if (memfd >= 0)
		return;
	memfd = memfd_create("fuzz.hades.yaml", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
}

static void load(const uint8_t *data, size_t size)
{
	const char *files[] = { path };
	struct rfs_plan_set *set = NULL;
	struct rfs_error err = { 0 };
	struct rfs_plan_vars cli = { 0 };
	int rc;

	if (ftruncate(memfd, 0) < 0 ||
	    (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	rc = rfs_plan_load(files, 1, &set, &err);
	if (rc < 0) {
		FUZZ_ASSERT(!set && err.msg[0]);
		return;
	}
	for (size_t i = 0; i < set->n_plans; i++) {
		struct rfs_plan_tag_ref *needed = NULL;
		size_t n_needed = 0;

		FUZZ_ASSERT(rfs_plan_find(set, set->plans[i].name));
		rc = rfs_plan_check(set, &set->plans[i], &cli, NULL, &needed,
				    &n_needed, &err);
		if (rc == 0)
			for (size_t k = 0; k < n_needed; k++)
				FUZZ_ASSERT(needed[k].repo && needed[k].tag);
		rfs_plan_tag_refs_free(needed, n_needed);
	}
	rfs_plan_set_free(&set);
}

static void expand(const uint8_t *data, size_t size, bool quote)
{
	static char k1[] = "VERSION", v1[] = "v1.0.0";
	static char k2[] = "HOST", v2[] = "it's \"a\" $(host) `x` \\";
	const struct rfs_plan_kv env[] = {
		{ .key = k1, .value = v1 },
		{ .key = k2, .value = v2 },
	};
	struct rfs_error err = { 0 };
	char *text = fuzz_str(data, size), *out = NULL;

	if (rfs_plan_expand(text, env, FUZZ_ARRAY_SIZE(env), quote, &out,
			    &err) == 0) {
		FUZZ_ASSERT(out);
		/* Without quoting, a text with nothing to expand is
		 * itself. */
		if (!quote && !strstr(text, "${"))
			FUZZ_ASSERT(!strcmp(out, text));
	}
	free(out);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size >= 2 && data[0] == 0x01)
		expand(data + 2, size - 2, data[1] != 0);
	else
		load(data, size);
	return 0;
}
