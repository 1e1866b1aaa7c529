/*
 * fuzz-manifest.c - libFuzzer harness for the manifest and index parser
 * (core/manifest.c): what an upstream or a client of regctl serve sends as
 * a manifest, parsed, followed to a platform, and turned into the tag the
 * tree shows.
 *
 * Input: one byte choosing the Content-Type it came with, then the body.
 * Beyond the sanitizers, it checks what the tree relies on: every file name
 * of a layer folder is one safe path component that is not the folder's
 * own (a dot name, manifest.json), and no two are alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "manifest.h"
#include "names.h"

#include "fuzz.h"

static const char *const content_types[] = {
	NULL,
	"",
	RFS_MT_OCI_MANIFEST,
	RFS_MT_OCI_INDEX,
	RFS_MT_DOCKER_MANIFEST,
	RFS_MT_DOCKER_LIST,
	"application/json",
	"application/vnd.oci.artifact.manifest.v1+json",
};

static void check_name(const char *name)
{
	size_t n = strnlen(name, RFS_LAYER_NAME_MAX + 1);

	FUZZ_ASSERT(n > 0 && n <= RFS_LAYER_NAME_MAX);
	FUZZ_ASSERT(!strchr(name, '/'));
	/* The folder keeps dot names (so "." and "..") and manifest.json
	 * for itself. */
	FUZZ_ASSERT(name[0] != '.' && strcmp(name, "manifest.json") != 0);
}

static void check_tag(const char *body, size_t len,
		      const struct rfs_manifest *m)
{
	static const char digest[] = "sha256:"
				     "e3b0c44298fc1c149afbf4c8996fb924"
				     "27ae41e4649b934ca495991b7852b855";
	struct rfs_manifest_tag t;
	struct rfs_error err = { 0 };

	if (rfs_manifest_tag(body, len, digest, m, &t, &err) == 0) {
		FUZZ_ASSERT(t.digest && rfs_digest_valid(t.digest));
		FUZZ_ASSERT(t.meta.n_annotations <=
			    RFS_MANIFEST_TAG_ANNOTATIONS_MAX);
		for (size_t i = 0; i < t.n_layers; i++) {
			check_name(t.layers[i].name);
			FUZZ_ASSERT(rfs_digest_valid(t.layers[i].digest));
			for (size_t j = 0; j < i; j++)
				FUZZ_ASSERT(strcmp(t.layers[i].name,
						   t.layers[j].name) != 0);
		}
	}
	rfs_manifest_tag_release(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_manifest m;
	struct rfs_error err = { 0 };
	const struct rfs_descriptor *d;
	const char *type;
	char *body;

	if (size < 1)
		return 0;
	type = content_types[data[0] % FUZZ_ARRAY_SIZE(content_types)];
	/* The body as the upstream client hands it over: malloc()ed, its
	 * length apart, with no NUL after it. */
	body = fuzz_dup(data + 1, size - 1);
	if (rfs_manifest_parse(body, size - 1, type, &m, &err) == 0) {
		for (size_t i = 0; i < m.n_entries; i++)
			FUZZ_ASSERT(rfs_digest_valid(m.entries[i].digest));
		if (m.kind == RFS_MANIFEST_INDEX) {
			d = rfs_manifest_pick_platform(&m);
			FUZZ_ASSERT(!d || (d >= m.entries &&
					   d < m.entries + m.n_entries));
		}
		check_tag(body, size - 1, &m);
		rfs_manifest_release(&m);
	}
	free(body);
	return 0;
}
