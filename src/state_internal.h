/*
 * state_internal.h - the layout of struct cr_state, private to the core.
 *
 * The state is split by concept (registry.c, documents.c, audit.c,
 * nodes.c) and put together here; apply.c changes it, snapshot.c
 * serialises it, auth.c reads it.
 */
#ifndef CERTRAFT_SRC_STATE_INTERNAL_H
#define CERTRAFT_SRC_STATE_INTERNAL_H

#include <stdint.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include <certraft/state.h>

#include "omap.h"

/* Longest certificate Name accepted. */
#define CR_CERT_NAME_MAX 256

/* One registered certificate: the public entry, its place in the
 * thumbprint order, and its slot in the O(1) hash. */
struct cr_cert_node {
    struct cr_cert_entry e;
    struct cr_omap_node order;
    UT_hash_handle hh;
};

struct cr_registry {
    struct cr_cert_node *by_thumb; /* uthash head, key e.thumbprint */
    struct cr_omap order;          /* same nodes, thumbprint order */
    /* Cluster certificates (thumbprints of ClusterNode entries), newest
     * first. */
    char (*cluster)[CR_THUMBPRINT_LEN + 1];
    size_t n_cluster;
};

struct cr_doc {
    struct cr_omap_node node; /* key: id */
    char *id;
    char *json;
    size_t len;
};

struct cr_database {
    struct cr_omap_node node; /* key: name */
    char *name;
    struct cr_omap docs;
};

struct cr_audit {
    struct cr_audit_record *rec;
    size_t alloc;    /* slots allocated (grows up to capacity) */
    size_t capacity; /* records kept at most */
    size_t start;    /* index of the oldest record */
    size_t count;
};

struct cr_state {
    struct cr_registry reg;
    struct cr_pending_node *pending; /* sorted by id */
    size_t n_pending;
    struct cr_omap dbs;
    struct cr_audit audit;
    uint64_t applied_index;
};

/* --- registry.c ------------------------------------------------------ */

void cr_registry_free(struct cr_registry *reg);
struct cr_cert_node *cr_registry_find(const struct cr_registry *reg,
                                      const char *thumbprint);
/* A new entry from parsed @info; takes info's der/subject/issuer (they
 * are set to NULL) and copies @name and @perms. NULL when out of memory. */
struct cr_cert_node *cr_cert_node_new(struct cr_cert_info *info,
                                      const char *name,
                                      enum cr_clearance clearance,
                                      const struct cr_permission *perms,
                                      size_t n_perms, uint64_t index,
                                      int64_t time_ms);
void cr_cert_node_free(struct cr_cert_node *n);
/* 0, or -1 when out of memory (nothing inserted). The thumbprint must
 * not be present. */
int cr_registry_insert(struct cr_registry *reg, struct cr_cert_node *n);
void cr_registry_unlink(struct cr_registry *reg, struct cr_cert_node *n);
bool cr_registry_is_cluster(const struct cr_registry *reg,
                            const char *thumbprint);
int cr_registry_cluster_add(struct cr_registry *reg, const char *thumbprint);

/* Copies @in validated (database names, access levels, no duplicates)
 * and sorted by database name. */
enum cr_status cr_perms_normalize(const struct cr_permission *in, size_t n,
                                  struct cr_permission **out, size_t *n_out,
                                  struct cr_error *err);
void cr_perms_free(struct cr_permission *perms, size_t n);
enum cr_status cr_perms_copy(const struct cr_permission *in, size_t n,
                             struct cr_permission **out);

/* --- documents.c ----------------------------------------------------- */

struct cr_database *cr_db_find(const struct cr_state *st, const char *name);
enum cr_status cr_db_create(struct cr_state *st, const char *name);
void cr_db_drop(struct cr_state *st, struct cr_database *db);
void cr_dbs_free(struct cr_omap *dbs);
struct cr_doc *cr_doc_find(const struct cr_database *db, const char *id);
/* Takes ownership of nothing; copies @json. */
enum cr_status cr_doc_put(struct cr_database *db, const char *id,
                          const char *json, size_t len);
void cr_doc_drop(struct cr_database *db, struct cr_doc *doc);

/* --- audit.c --------------------------------------------------------- */

void cr_audit_init(struct cr_audit *a, size_t capacity);
void cr_audit_free(struct cr_audit *a);
/* Copies the strings; drops the oldest record when full. */
enum cr_status cr_audit_append(struct cr_audit *a, uint64_t index,
                               int64_t time_ms, const char *caller,
                               const char *caller_name, const char *operation,
                               const char *target, enum cr_status status);
const struct cr_audit_record *cr_audit_at(const struct cr_audit *a, size_t i);

/* --- nodes.c --------------------------------------------------------- */

struct cr_pending_node *cr_pending_find_id(const struct cr_state *st,
                                           uint64_t id);
enum cr_status cr_pending_put(struct cr_state *st, uint64_t id,
                              const char *raft_address, const char *api_url,
                              const char *join_thumbprint, uint64_t index);
void cr_pending_remove(struct cr_state *st, uint64_t id);
void cr_pending_free_all(struct cr_state *st);

/* --- state.c --------------------------------------------------------- */

/* Exchange the replicated content of @a and @b (not the audit
 * capacity, which is local configuration). */
void cr_state_swap(struct cr_state *a, struct cr_state *b);

#endif /* CERTRAFT_SRC_STATE_INTERNAL_H */
