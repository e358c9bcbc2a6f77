/*
 * auth.h - who is calling, and what they may do.
 *
 * Authentication follows RavenDB's order (DESIGN.md): no certificate ->
 * 401; outside its validity or disabled -> 403; registered thumbprint
 * (primary or secondary) -> the primary entry's rights; otherwise 403
 * "unknown certificate <thumbprint>". A node that is joining authenticates
 * with its one-time join certificate for the join endpoint only.
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
    CR_IDENTITY_JOINING_NODE     /* a pending node's join certificate */
};

struct cr_identity {
    enum cr_identity_kind kind;
    char thumbprint[CR_THUMBPRINT_LEN + 1]; /* of the presented cert */
    /* CERTIFICATE: the primary entry whose rights apply. */
    const struct cr_cert_entry *entry;
    /* JOINING_NODE: the pending node. */
    const struct cr_pending_node *pending;
    enum cr_clearance clearance;
    const char *name;
};

/* @der NULL -> CR_EUNAUTH. @now_ms is the wall clock for validity. */
enum cr_status cr_auth_authenticate(const struct cr_state *st,
                                    const unsigned char *der, size_t len,
                                    int64_t now_ms, struct cr_identity *out,
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
 * every database; a ValidUser has what its Permissions say. */
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
