/*
 * state.h - the replicated state and the deterministic apply().
 *
 * One `struct cr_state` per node holds everything the raft log builds: the
 * certificate registry (entries by thumbprint, collections of primary and
 * secondary certificates), the cluster certificate(s), pending node joins,
 * databases and their JSON documents, and the audit trail. It changes only
 * through cr_state_apply() (one committed log entry) and
 * cr_state_restore() (a snapshot), so every node that applied the same
 * entries holds the same state. apply() re-checks the caller's rights
 * against the state at that index: a certificate deleted at index 100 can
 * do nothing at index 101, whichever node accepted its request.
 *
 * Pointers returned by the lookup functions stay valid until the next
 * apply or restore.
 */
#ifndef CERTRAFT_STATE_H
#define CERTRAFT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <certraft/command.h>
#include <certraft/error.h>
#include <certraft/types.h>
#include <certraft/x509.h>

struct cr_state;

struct cr_cert_entry {
    char thumbprint[CR_THUMBPRINT_LEN + 1];
    char sha1[CR_SHA1_LEN + 1];
    char pin[CR_PIN_LEN + 1];
    char *name;
    enum cr_clearance clearance;
    struct cr_permission *perms; /* sorted by database name */
    size_t n_perms;
    int64_t not_before; /* unix seconds */
    int64_t not_after;
    char *subject;
    char *issuer;
    bool disabled;
    unsigned char *der; /* public certificate only */
    size_t der_len;
    /* Collections: a secondary names its primary; a primary lists its
     * secondaries. Rights always come from the primary. */
    char primary[CR_THUMBPRINT_LEN + 1]; /* "" for a primary */
    char (*secondaries)[CR_THUMBPRINT_LEN + 1];
    size_t n_secondaries;
    uint64_t added_index; /* log index that registered it */
    int64_t added_ms;
};

struct cr_pending_node {
    uint64_t id;
    char *raft_address;
    char *api_url;
    char join_thumbprint[CR_THUMBPRINT_LEN + 1];
    uint64_t added_index;
};

struct cr_audit_record {
    uint64_t index;
    int64_t time_ms;
    char caller[CR_THUMBPRINT_LEN + 1];
    char *caller_name;
    char *operation; /* "CertPut", "CertDelete", ... */
    char *target;    /* thumbprint, database, "db/doc-id", node id */
    enum cr_status status; /* CR_OK, or why it was refused */
};

/* The outcome of applying one entry; identical on every node. */
struct cr_apply_result {
    enum cr_status status;
    char message[CR_ERROR_MSG_SIZE];
};

/* Audit records kept (oldest dropped first); configurable for tests. */
#define CR_AUDIT_DEFAULT_CAPACITY 100000

struct cr_state *cr_state_new(void);
void cr_state_free(struct cr_state *st);
void cr_state_set_audit_capacity(struct cr_state *st, size_t capacity);

/* Apply the command encoded in @data at log @index. Never aborts: a
 * command that does not decode, or is not allowed, leaves the state as it
 * was (apart from the applied index and an audit record of the refusal)
 * and says why in @res. */
void cr_state_apply(struct cr_state *st, uint64_t index, const void *data,
                    size_t len, struct cr_apply_result *res);

uint64_t cr_state_applied_index(const struct cr_state *st);
bool cr_state_bootstrapped(const struct cr_state *st);

/* --- certificates ---------------------------------------------------- */

/* The entry registered under exactly this thumbprint (primary or
 * secondary), or NULL. */
const struct cr_cert_entry *cr_state_cert_find(const struct cr_state *st,
                                               const char *thumbprint);
/* The entry whose rights apply: the primary of @e's collection. */
const struct cr_cert_entry *cr_state_cert_primary(const struct cr_state *st,
                                                  const struct cr_cert_entry *e);
size_t cr_state_cert_count(const struct cr_state *st); /* all thumbprints */

/* Calls @fn for every entry (primaries and secondaries) in thumbprint
 * order; stops early when @fn returns false. */
typedef bool (*cr_cert_visit_fn)(const struct cr_cert_entry *e, void *arg);
void cr_state_cert_foreach(const struct cr_state *st, cr_cert_visit_fn fn,
                           void *arg);

/* The cluster (server) certificates, newest first. */
size_t cr_state_cluster_cert_count(const struct cr_state *st);
const struct cr_cert_entry *cr_state_cluster_cert(const struct cr_state *st,
                                                  size_t i);
/* True when @thumbprint is a cluster certificate or a ClusterNode entry:
 * the raft transport's trust decision. */
bool cr_state_is_cluster_node(const struct cr_state *st,
                              const char *thumbprint);

/* --- nodes ----------------------------------------------------------- */

size_t cr_state_pending_node_count(const struct cr_state *st);
const struct cr_pending_node *cr_state_pending_node(const struct cr_state *st,
                                                    size_t i);
const struct cr_pending_node *
cr_state_pending_node_by_thumbprint(const struct cr_state *st,
                                    const char *thumbprint);

/* --- databases and documents ----------------------------------------- */

bool cr_state_db_exists(const struct cr_state *st, const char *db);
/* Database names in sorted order; stops early when @fn returns false. */
typedef bool (*cr_name_visit_fn)(const char *name, void *arg);
void cr_state_db_foreach(const struct cr_state *st, cr_name_visit_fn fn,
                         void *arg);
size_t cr_state_db_doc_count(const struct cr_state *st, const char *db);

/* The JSON text of a document, or NULL. */
const char *cr_state_doc_get(const struct cr_state *st, const char *db,
                             const char *id, size_t *len);
/* Documents whose id starts with @prefix, in id order, starting after
 * @after (NULL: from the first); stops after @limit or when @fn returns
 * false. */
typedef bool (*cr_doc_visit_fn)(const char *id, const char *json,
                                size_t len, void *arg);
void cr_state_doc_foreach(const struct cr_state *st, const char *db,
                          const char *prefix, const char *after, size_t limit,
                          cr_doc_visit_fn fn, void *arg);

/* --- audit ----------------------------------------------------------- */

size_t cr_state_audit_count(const struct cr_state *st);
/* i = 0 is the oldest record kept. */
const struct cr_audit_record *cr_state_audit_get(const struct cr_state *st,
                                                 size_t i);

/* --- snapshots ------------------------------------------------------- */

/* The whole state as one msgpack document (versioned). */
enum cr_status cr_state_snapshot(const struct cr_state *st,
                                 struct cr_buf *out, struct cr_error *err);
/* Replace @st's content with a snapshot's. On failure @st is unchanged. */
enum cr_status cr_state_restore(struct cr_state *st, const void *data,
                                size_t len, struct cr_error *err);

/* Deep equality, for tests and the cluster checkers. */
bool cr_state_equal(const struct cr_state *a, const struct cr_state *b);

#endif /* CERTRAFT_STATE_H */
