/*
 * state.h - the replicated state and the deterministic apply().
 *
 * One `struct cr_state` per node holds everything the raft log builds: the
 * certificate registry (entries by thumbprint, collections of primary and
 * secondary certificates, an index by public key pinning hash), the
 * cluster certificate(s) and a replacement in progress, client CA
 * bundles, pending node joins, databases and their JSON documents (with
 * the log index that last changed each, and tombstones), ETL tasks and
 * their progress, and the audit trail. It changes only
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

/* A named client CA bundle (CockroachDB's model): any certificate that
 * chains to one of its certificates, and is valid, authenticates with the
 * bundle's clearance and permissions (authentication step 5). */
enum cr_client_ca_status {
    CR_CLIENT_CA_NOT_SET = 0, /* no bundle of that name */
    CR_CLIENT_CA_PENDING,     /* proposed, not applied yet: the node's view */
    CR_CLIENT_CA_IS_SET,      /* applied: every bundle in the state */
    CR_CLIENT_CA_FAILED       /* the proposal was refused: the node's view */
};
const char *cr_client_ca_status_name(enum cr_client_ca_status s); /* "IS_SET" */

struct cr_client_ca {
    char *name;
    struct cr_der_list certs; /* trust anchors (DER, CA:TRUE), upload order */
    enum cr_clearance clearance; /* ValidUser, Operator or ClusterAdmin */
    struct cr_permission *perms; /* sorted by database name */
    size_t n_perms;
    enum cr_client_ca_status status; /* always IS_SET in the state */
    uint64_t added_index;   /* log index that created it */
    uint64_t updated_index; /* log index of the last PUT */
    int64_t updated_ms;
};

/* The cluster certificate replacement (RavenDB's flow): INSTALL
 * registers the new certificate as a ClusterNode entry next to the old
 * one, nodes CONFIRM they hold it, each node SWITCHES to serving it when
 * cr_replacement_should_switch() says so, and CLEANUP makes it the
 * cluster certificate and removes the old one's entry. After CLEANUP the
 * record stays, phase DONE (confirmed/switched cleared, the rest kept so
 * a node that was away can see what happened), until the next INSTALL. */
enum cr_replacement_phase {
    CR_REPLACEMENT_NONE = 0,  /* no replacement was ever installed */
    CR_REPLACEMENT_INSTALLED, /* installed, nobody confirmed yet */
    CR_REPLACEMENT_CONFIRMING,/* some nodes confirmed, none switched */
    CR_REPLACEMENT_SWITCHING, /* at least one node serves the new cert */
    CR_REPLACEMENT_DONE       /* cleaned up: the new cert is the cluster's */
};
const char *cr_replacement_phase_name(enum cr_replacement_phase p);

struct cr_replacement {
    enum cr_replacement_phase phase;
    char new_thumbprint[CR_THUMBPRINT_LEN + 1];
    char old_thumbprint[CR_THUMBPRINT_LEN + 1]; /* the cert being replaced */
    struct cr_der_list chain;  /* the new certificate's chain, if any */
    struct cr_der sealed_key;  /* opaque: sealed by the node layer */
    uint64_t *confirmed;       /* node ids, ascending */
    size_t n_confirmed;
    uint64_t *switched;        /* node ids, ascending */
    size_t n_switched;
    bool switch_now;
    int64_t started_ms;        /* the INSTALL's time_ms */
    uint64_t started_index;    /* the INSTALL's log index */
    int64_t finished_ms;       /* the CLEANUP's time_ms; 0 before */
    int64_t new_not_after;     /* unix seconds */
    int64_t old_not_after;     /* unix seconds, at install time */
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
/* Entries (every thumbprint) whose not after is before @now, and those
 * from @now to @now + @horizon inclusive (unix seconds). Costs one step
 * per distinct expiry day, not per entry. */
void cr_state_cert_expiry_counts(const struct cr_state *st, int64_t now,
                                 int64_t horizon, size_t *expired,
                                 size_t *expiring);

/* Calls @fn for every entry (primaries and secondaries) in thumbprint
 * order; stops early when @fn returns false. */
typedef bool (*cr_cert_visit_fn)(const struct cr_cert_entry *e, void *arg);
void cr_state_cert_foreach(const struct cr_state *st, cr_cert_visit_fn fn,
                           void *arg);

/* The cluster (server) certificates, newest first. */
size_t cr_state_cluster_cert_count(const struct cr_state *st);
const struct cr_cert_entry *cr_state_cluster_cert(const struct cr_state *st,
                                                  size_t i);
/* True when @thumbprint is a cluster certificate or a ClusterNode entry
 * (which includes the new certificate of a replacement in progress, so
 * old and new are trusted together): the raft transport's trust
 * decision. */
bool cr_state_is_cluster_node(const struct cr_state *st,
                              const char *thumbprint);

/* Registered entries (primaries or secondaries) whose public key pinning
 * hash is @pin: at most @max of them into @out, in thumbprint order;
 * returns how many there are. O(1) lookup plus the matches. */
size_t cr_state_cert_by_pin(const struct cr_state *st, const char *pin,
                            const struct cr_cert_entry **out, size_t max);

/* The most recent CR_CMD_CERT_PURGE that applied: its log index in
 * *index (0 when none since this state was created or restored) and the
 * thumbprints it removed (every member of every purged collection, in
 * thumbprint order) in *thumbs. Returns their number. Kept until the next
 * purge or restore, so a node can report it after its proposal commits
 * (check *index against the proposal's index). Not replicated state:
 * snapshots and cr_state_equal() ignore it. */
size_t cr_state_last_purged(const struct cr_state *st, uint64_t *index,
                            const char (**thumbs)[CR_THUMBPRINT_LEN + 1]);

/* --- client CAs ------------------------------------------------------ */

size_t cr_state_client_ca_count(const struct cr_state *st);
/* i-th bundle in name order, or NULL. */
const struct cr_client_ca *cr_state_client_ca_get(const struct cr_state *st,
                                                  size_t i);
const struct cr_client_ca *cr_state_client_ca_find(const struct cr_state *st,
                                                   const char *name);

/* --- cluster certificate replacement -------------------------------- */

/* Never NULL; phase CR_REPLACEMENT_NONE when there is none. */
const struct cr_replacement *cr_state_replacement(const struct cr_state *st);

/* Should nodes switch to the new certificate now? True while a
 * replacement is in progress and any of: every voter in @voter_ids has
 * confirmed (an empty voter list never counts as "all"); switch_now was
 * asked for; the old certificate has 3 days or less left at @now_ms
 * (@old_not_after in unix seconds); a node has switched already (the
 * decision was taken, the others follow). Pure: no state, no clock. */
bool cr_replacement_should_switch(const struct cr_replacement *r,
                                  const uint64_t *voter_ids, size_t n,
                                  int64_t now_ms, int64_t old_not_after);

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

/* --- document changes (what ETL reads) -------------------------------- */

/* Every document records the log index and time_ms of the entry that
 * last wrote it; a deleted document leaves a tombstone with the index of
 * its deletion while the database has ETL tasks that have not passed it.
 * One log entry writes at most one document, so change indexes are
 * unique within a database and "the changes after index N" is the
 * current state of every document touched after N, in index order. */
struct cr_doc_change {
    const char *id;
    const char *json; /* NULL: deleted (a tombstone) */
    size_t len;
    uint64_t index;
    int64_t time_ms;
};
/* Changes of @db with index > @after in index order; stops when @fn
 * returns false. O(log n + visited). */
typedef bool (*cr_change_visit_fn)(const struct cr_doc_change *c, void *arg);
void cr_state_changes_foreach(const struct cr_state *st, const char *db,
                              uint64_t after, cr_change_visit_fn fn,
                              void *arg);
/* The change index of document @id (0: no such document). */
uint64_t cr_state_doc_change_index(const struct cr_state *st, const char *db,
                                   const char *id);
size_t cr_state_db_tombstone_count(const struct cr_state *st, const char *db);

/* --- ETL tasks -------------------------------------------------------- */

/* Limits apply() enforces on a task definition. */
#define CR_ETL_SCRIPT_MAX (64 * 1024) /* bytes of JavaScript */
#define CR_ETL_URLS_MAX 16
#define CR_ETL_URL_MAX 512
#define CR_ETL_PREFIXES_MAX 64
#define CR_ETL_TASKS_MAX 64 /* per database */

/* A one-way link from a database here to a database on another cluster.
 * generation is the log index of the ETL_PUT that last defined it:
 * progress reports name it, so a report computed under an older
 * definition (or a deleted and re-created task) is refused. progress is
 * the highest change index of the source database whose effect the
 * destination has acknowledged; it only grows, except by Reset. */
struct cr_etl_task {
    char *name;
    char *db;
    char **urls;
    size_t n_urls;
    char *dest_db;
    char *script;
    char **prefixes; /* sorted; none: every document */
    size_t n_prefixes;
    uint64_t created_index;
    uint64_t generation;
    int64_t updated_ms;
    uint64_t progress;
    int64_t progress_ms; /* time_ms of the report that set progress */
};

const struct cr_etl_task *cr_state_etl_find(const struct cr_state *st,
                                            const char *db, const char *name);
/* Tasks of @db (NULL: of every database), by database then name. */
typedef bool (*cr_etl_visit_fn)(const struct cr_etl_task *t, void *arg);
void cr_state_etl_foreach(const struct cr_state *st, const char *db,
                          cr_etl_visit_fn fn, void *arg);
size_t cr_state_etl_count(const struct cr_state *st);
/* Does the task read document @id (its prefixes)? */
bool cr_etl_task_reads(const struct cr_etl_task *t, const char *id);
/* What the task still has to deliver: changes after its progress that it
 * reads (*entries), the index of the last one (*last_index, else the
 * progress) and the time_ms of the oldest (*oldest_ms, 0 when none).
 * O(changes after progress). */
void cr_state_etl_lag(const struct cr_state *st, const struct cr_etl_task *t,
                      uint64_t *entries, uint64_t *last_index,
                      int64_t *oldest_ms);

/* --- audit ----------------------------------------------------------- */

size_t cr_state_audit_count(const struct cr_state *st);
/* i = 0 is the oldest record kept. */
const struct cr_audit_record *cr_state_audit_get(const struct cr_state *st,
                                                 size_t i);

/* --- snapshots ------------------------------------------------------- */

/* The whole state as one msgpack document (versioned), appended to @out. */
enum cr_status cr_state_snapshot(const struct cr_state *st,
                                 struct cr_buf *out, struct cr_error *err);
/* The same bytes handed to @write in order, piece by piece as they are
 * encoded, so that a caller can keep them in bounded chunks rather than
 * one buffer the size of the state. @write returns 0, or non-zero to stop
 * (the snapshot then fails with CR_ENOMEM). */
enum cr_status cr_state_snapshot_write(const struct cr_state *st,
                                       cr_write_fn write, void *arg,
                                       struct cr_error *err);
/* Replace @st's content with a snapshot's. On failure @st is unchanged. */
enum cr_status cr_state_restore(struct cr_state *st, const void *data,
                                size_t len, struct cr_error *err);

/* Deep equality, for tests and the cluster checkers. */
bool cr_state_equal(const struct cr_state *a, const struct cr_state *b);

#endif /* CERTRAFT_STATE_H */
