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
#include <ctype.h>
#include <stdbool.h>
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

/*
 * The words sh makes of s, for the part of its grammar the quoting check
 * below allows (blanks, '...', "..." with \ before $ ` " \, \ outside
 * quotes): each word, then 0x1e, into out. false when a quote is left
 * open or out is too small.
 */
static bool sh_words(const char *s, char *out, size_t size)
{
	size_t n = 0;
	bool in_word = false;

	for (; *s; s++) {
		if (n + 2 >= size)
			return false;
		if (*s == ' ' || *s == '\t') {
			if (in_word)
				out[n++] = 0x1e;
			in_word = false;
			continue;
		}
		in_word = true;
		if (*s == '\'') {
			while (*++s != '\'')
				if (!*s || n + 2 >= size)
					return false;
				else
					out[n++] = *s;
		} else if (*s == '"') {
			for (s++; *s != '"'; s++) {
				if (!*s || n + 2 >= size)
					return false;
				if (*s == '\\' && s[1] &&
				    strchr("$`\"\\", s[1]))
					s++;
				out[n++] = *s;
			}
		} else if (*s == '\\') {
			if (!*++s)
				return false;
			out[n++] = *s;
		} else {
			out[n++] = *s;
		}
	}
	if (in_word)
		out[n++] = 0x1e;
	out[n] = '\0';
	return true;
}

/* Replace each 0x01 K 0x01 (K a digit) in words by values[K]. */
static bool fill(const char *words, const char *const values[], char *out,
		 size_t size)
{
	size_t n = 0;

	for (const char *w = words; *w; w++) {
		const char *v = NULL;
		char one[2] = { *w, '\0' };

		if (w[0] == 0x01 && w[1] >= '0' && w[1] <= '1' &&
		    w[2] == 0x01) {
			v = values[w[1] - '0'];
			w += 2;
		}
		if (!v)
			v = one;
		if (n + strlen(v) + 1 > size)
			return false;
		memcpy(out + n, v, strlen(v));
		n += strlen(v);
	}
	out[n] = '\0';
	return true;
}

/*
 * Quoting keeps a value what it is, one word or part of one, wherever it
 * is spliced: for texts of plain words, blanks, quotes and ${VERSION} or
 * ${HOST}, the words sh makes of the expansion are the words it makes of
 * the text with each variable standing for its value verbatim.
 */
static void check_quoting(const char *text, const char *expanded,
			  const char *const values[])
{
	static char marked[8192], want_marked[16384], want[32768], got[32768];
	size_t n = 0;

	for (const char *s = text; *s;) {
		if (!strncmp(s, "${VERSION}", 10) ||
		    !strncmp(s, "${HOST}", 7)) {
			bool version = s[2] == 'V';

			if (n + 4 > sizeof(marked))
				return;
			marked[n++] = 0x01;
			marked[n++] = version ? '0' : '1';
			marked[n++] = 0x01;
			s += version ? 10 : 7;
			continue;
		}
		/* Only what sh_words knows: no $, `, \, <, #, newline,
		 * parentheses, semicolons... */
		if (!isalnum((unsigned char)*s) &&
		    !strchr(" \t_./:=,+-'\"", *s))
			return;
		if (n + 2 > sizeof(marked))
			return;
		marked[n++] = *s++;
	}
	marked[n] = '\0';
	if (!sh_words(marked, want_marked, sizeof(want_marked)) ||
	    !fill(want_marked, values, want, sizeof(want)))
		return;
	FUZZ_ASSERT(sh_words(expanded, got, sizeof(got)));
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "expanded [%s]\nwords [%s]\nwant  [%s]\n",
			expanded, got, want);
	FUZZ_ASSERT(!strcmp(got, want));
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
		if (quote)
			check_quoting(text, out,
				      (const char *const[]){ v1, v2 });
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
