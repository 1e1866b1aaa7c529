/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz share: an assertion
 * that stays on in every build (a broken invariant is a crash libFuzzer
 * keeps the input of), and copies of the input with the shapes core's
 * parsers are handed in real life.
 */
#ifndef RFS_FUZZ_H
#define RFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define FUZZ_ASSERT(cond)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", \
				__FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc()ed copy of exactly size bytes (ASan then sees a read past the
 * end), never NULL: an out-of-memory here is not the code's fault. */
static inline char *fuzz_dup(const uint8_t *data, size_t size)
{
	char *p = malloc(size ? size : 1);

	if (!p)
		abort();
	if (size)
		memcpy(p, data, size);
	return p;
}

/* A malloc()ed NUL-terminated copy, cut at the first NUL of data. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size);
	char *p = malloc(n + 1);

	if (!p)
		abort();
	memcpy(p, data, n);
	p[n] = '\0';
	return p;
}

#endif
