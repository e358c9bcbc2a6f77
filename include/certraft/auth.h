/*
 * auth.h - who is calling, and what they may do.
 *
 * Authentication follows RavenDB's order (DESIGN.md): no certificate ->
 * 401; outside its validity or disabled -> 403; registered thumbprint
 * (primary or secondary) -> the primary entry's rights; not registered but
 * the same public key pinning hash as a registered entry and the same
 * issuer -> implicit trust with that entry's rights (the node then
 * registers it with CR_CMD_CERT_IMPLICIT); chains to a client CA bundle
 * -> that bundle's rights; otherwise 403 "unknown certificate
 * <thumbprint>". A node that is joining authenticates with its one-time
 * join certificate for the join endpoint only.
 *
 * "The same issuer" (step 4): both certificates self-signed; or the same
 * issuer DN and, when both carry an AuthorityKeyIdentifier, the same one.
 * When the issuer is a certificate the cluster knows (a cluster
 * certificate or a client CA member with that subject), the presented
 * certificate's signature must also verify with its key, so the holder of
 * a registered key cannot mint itself a "renewal" with a new validity.
 *
 * The authorization predicates are the single source of RavenDB's rules;
 * the HTTP layer uses them to fail fast and apply() uses them again, at the
 * command's log index, to decide for real.
 */
#ifndef CERTRAFT_AUTH_H
#define CERTRAFT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <certraft/error.h>
#include <certraft/state.h>
#include <certraft/types.h>

enum cr_identity_kind {
    CR_IDENTITY_CERTIFICATE = 1, /* a registered certificate */
    CR_IDENTITY_JOINING_NODE,    /* a pending node's join certificate */
    CR_IDENTITY_IMPLICIT,        /* step 4: same key and issuer as an entry */
    CR_IDENTITY_CLIENT_CA        /* step 5: chains to a client CA bundle */
};

#define CR_IDENTITY_CN_MAX 256

/* Pointers into the state stay valid until the next apply or restore. */
struct cr_identity {
    enum cr_identity_kind kind;
    char thumbprint[CR_THUMBPRINT_LEN + 1]; /* of the presented cert */
    /* CERTIFICATE: the primary entry whose rights apply. IMPLICIT: the
     * primary entry of the matched registered certificate. */
    const struct cr_cert_entry *entry;
    /* JOINING_NODE: the pending node. */
    const struct cr_pending_node *pending;
    enum cr_clearance clearance;
    const char *name; /* CLIENT_CA: points at cn below */
    /* The database permissions that apply, for every kind (the entry's,
     * the bundle's; none for a joining node). Sorted by database. */
    const struct cr_permission *perms;
    size_t n_perms;
    /* IMPLICIT: always true; the node should propose CR_CMD_CERT_IMPLICIT
     * with this certificate as caller_der, so later requests find it by
     * thumbprint (two nodes racing to do so is harmless). */
    bool needs_registration;
    /* IMPLICIT: thumbprint of the registered certificate that matched. */
    char matched_thumbprint[CR_THUMBPRINT_LEN + 1];
    /* CLIENT_CA: the bundle whose rights apply, and the subject CN of the
     * presented certificate (the user name, as in CockroachDB). */
    const struct cr_client_ca *client_ca;
    char cn[CR_IDENTITY_CN_MAX + 1];
};

/* Copy an identity (name may point into the identity itself). */
void cr_identity_copy(struct cr_identity *dst, const struct cr_identity *src);

/* @der NULL -> CR_EUNAUTH. @now_ms is the wall clock for validity. */
enum cr_status cr_auth_authenticate(const struct cr_state *st,
                                    const unsigned char *der, size_t len,
                                    int64_t now_ms, struct cr_identity *out,
                                    struct cr_error *err);

/* Same, with the intermediates the TLS peer sent after its certificate
 * (@chain, untrusted; may be NULL when @n_chain is 0). They only help to
 * build a path to a client CA bundle (step 5). */
enum cr_status cr_auth_authenticate_chain(const struct cr_state *st,
                                          const unsigned char *der,
                                          size_t len,
                                          const struct cr_der *chain,
                                          size_t n_chain, int64_t now_ms,
                                          struct cr_identity *out,
                                          struct cr_error *err);

/* Same, for a caller known by thumbprint only (apply()'s view). */
enum cr_status cr_auth_by_thumbprint(const struct cr_state *st,
                                     const char *thumbprint, int64_t now_ms,
                                     struct cr_identity *out,
                                     struct cr_error *err);

/* At least @min clearance, else CR_EFORBIDDEN with a message naming the
 * clearance needed. */
enum cr_status cr_authz_require(const struct cr_identity *id,
                                enum cr_clearance min, const char *what,
                                struct cr_error *err);

/* The caller's access to database @db: Operator and above have Admin on
 * every database; a ValidUser has what its Permissions say (id->perms;
 * an identity filled by hand with only ->entry set uses the entry's). */
enum cr_access cr_authz_db_access(const struct cr_identity *id,
                                  const char *db);
enum cr_status cr_authz_require_db(const struct cr_identity *id,
                                   const char *db, enum cr_access min,
                                   struct cr_error *err);

/* May the caller create/modify/delete a certificate whose clearance is
 * (or would become) @target? Operator and above manage certificates, but
 * only ClusterAdmin (or ClusterNode) may touch ClusterAdmin or ClusterNode
 * ones. */
enum cr_status cr_authz_manage_cert(const struct cr_identity *id,
                                    enum cr_clearance target,
                                    struct cr_error *err);

#endif /* CERTRAFT_AUTH_H */
