/*
 * policy.h - require_signature (regfs.conf(5)): which keys a tag must be
 * signed by before a mount or regctl serve hands out its bytes, and the
 * verdicts, kept in the catalog.
 *
 * Which keys. A tag of repository R must carry a cosign signature (sign.h)
 * by one of the keys of the [upstream NAME] section that serves R (the
 * longest prefix, as the pull-through cache picks upstreams) or, when that
 * section names no key or no upstream serves R, by one of the global keys.
 * The rule is the same for tags pulled through and tags published here: a
 * local publish into R is sealed as ever, but reads as EACCES until
 * `regctl sign` stores a signature by an allowed key. A signature itself
 * (cosign's tag sha256-HEX.sig naming a manifest of simple-signing
 * payloads) is exempt where a client needs it to verify: its manifest
 * from regctl serve, and its pin from an upstream for that. A mount never
 * serves anything unsigned, a signature's payload included.
 *
 * Where it is checked. An upstream tag is checked when it is resolved,
 * before its manifest is stored or pinned (pull.c): refused, nothing of it
 * is kept or served. Every open of a tag's content, and every manifest
 * regctl serve hands out for a tag, asks for the verdict again
 * (rfs_pull_check_policy), which covers tags pinned or published before the
 * policy was configured.
 *
 * Verdicts. Each check's outcome is recorded in the catalog by repository,
 * tag and the digest checked (a pinned tag's manifest, a local tag's
 * content): ok with the key that signed, or refused with the reason. An ok
 * verdict stands while its key is still allowed; a refusal is checked again
 * at the next open, since a signature may have been added meanwhile.
 * `regctl inspect` shows the last verdict.
 *
 * The policy is immutable once made, so it is shared by threads freely.
 */
#ifndef RFS_POLICY_H
#define RFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "sign.h"
#include "store.h"

struct rfs_policy;

/* Load every key cfg's require_signature rules name. *out is NULL when cfg
 * requires no signature. A key that cannot be loaded (missing, malformed,
 * a private key, another algorithm) is an error naming the file: a policy
 * never silently allows. */
int rfs_policy_new(const struct rfs_config *cfg, struct rfs_policy **out,
		   struct rfs_error *err);
void rfs_policy_free(struct rfs_policy **policy);

/* The keys repo's tags must be signed by (*keys is the policy's), and how
 * many: 0 when policy is NULL or none is required for repo. */
size_t rfs_policy_keys(const struct rfs_policy *policy, const char *repo,
		       const struct rfs_sign_key *const **keys);

/* Is tag:m a cosign signature: its name sha256-<64 hex>.sig, and m a
 * manifest whose layers (one at least) are all simple-signing payloads of
 * at most RFS_SIGN_PAYLOAD_MAX bytes? The name alone proves nothing:
 * anyone may publish any bytes under it. */
struct rfs_manifest;
bool rfs_policy_is_signature(const char *tag, const struct rfs_manifest *m);

/* The digest a verdict on tag is recorded under: its manifest when it has
 * one (pinned, pushed), else its content. */
const char *rfs_policy_subject(const struct rfs_tag *tag);

/* Is there an ok verdict on repo:tag at subject by a key policy still
 * allows for repo? */
bool rfs_policy_verified(const struct rfs_policy *policy,
			 struct rfs_catalog *cat, const char *repo,
			 const char *tag, const char *subject);

/* Record a verdict: rc 0 is ok by key fingerprint fpr; -ENOENT (no
 * signature) and -EBADMSG (none valid) are refusals with err's reason.
 * Also writes the audit log (a refusal as verify-failed). */
void rfs_policy_record(struct rfs_store *store, const char *repo,
		       const char *tag, const char *subject, int rc,
		       const char *fpr, const struct rfs_error *err);

/* Check a tag published here against the signatures the store holds:
 * 0 when policy requires none or one verifies, else -EACCES with the
 * reason in err. Records the verdict. */
int rfs_policy_check_local(struct rfs_store *store, const struct rfs_tag *tag,
			   struct rfs_error *err);

#endif
