/*
 * apply_internal.h - what the apply*.c files share: the context of one
 * entry being applied and RavenDB's collection rules.
 *
 * apply.c decodes, authenticates the caller and dispatches; each later
 * group of commands lives in its own file (apply_trust.c: purge and
 * implicit trust; apply_client_ca.c; apply_rotation.c) so that each
 * file is about one concept.
 */
#ifndef CERTRAFT_SRC_APPLY_INTERNAL_H
#define CERTRAFT_SRC_APPLY_INTERNAL_H

#include <certraft/auth.h>

#include "state_internal.h"

#define CR_CLUSTER_CERT_NAME "Cluster Node Certificate"
#define CR_CLUSTER_CERT_REPLACEMENT_NAME \
    "Cluster Node Certificate (replacement)"

struct apply_ctx {
    struct cr_state *st;
    uint64_t index;
    const struct cr_command *cmd;
    struct cr_identity id;
    char target[160]; /* what the audit record names */
    struct cr_error err;
    char info[CR_ERROR_MSG_SIZE]; /* the result message on success */
    /* A command that turned out to change nothing (a duplicate implicit
     * trust registration): not worth an audit record. */
    bool no_op;
};

/* Is @primary's collection the cluster certificate (or the new one of a
 * replacement in progress)? Such collections are never removed by
 * uploads, deletes, edits of clearance, purges or implicit trust. */
bool cr_apply_cluster_collection(const struct cr_state *st,
                                 const struct cr_cert_entry *primary);

/* Is @primary's collection the caller's own: it holds the caller's
 * certificate, or it is the entry an implicitly trusted caller renews?
 * RavenDB: nobody deletes (or demotes) what they are connected with. */
bool cr_apply_caller_owns(const struct apply_ctx *c,
                          const struct cr_cert_entry *primary);

/* apply_trust.c */
/* Certificate @i of a CR_CMD_CERT_PUT as a registry entry keeps it:
 * thumbprint, sha1, pin, subject, issuer, validity and the DER are set
 * (the other fields of @out only when the entry carries no parsed
 * fields and the DER is parsed here). cert_put_parse.c. */
enum cr_status cr_cert_put_member(const struct cr_command *cmd, size_t i,
                                  struct cr_cert_info *out,
                                  struct cr_error *err);

enum cr_status cr_apply_cert_purge(struct apply_ctx *c);
enum cr_status cr_apply_cert_implicit(struct apply_ctx *c);

/* apply_client_ca.c */
enum cr_status cr_apply_client_ca_put(struct apply_ctx *c);
enum cr_status cr_apply_client_ca_delete(struct apply_ctx *c);

/* apply_rotation.c */
enum cr_status cr_apply_cluster_install(struct apply_ctx *c);
enum cr_status cr_apply_cluster_node_report(struct apply_ctx *c);
enum cr_status cr_apply_cluster_cleanup(struct apply_ctx *c);

/* apply_etl.c */
enum cr_status cr_apply_etl_put(struct apply_ctx *c);
enum cr_status cr_apply_etl_delete(struct apply_ctx *c);
enum cr_status cr_apply_etl_progress(struct apply_ctx *c);

#endif /* CERTRAFT_SRC_APPLY_INTERNAL_H */
