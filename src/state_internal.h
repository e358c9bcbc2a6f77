/*
 * state_internal.h - the layout of struct cr_state, private to the core.
 *
 * The state is split by concept (registry.c, pin_index.c, client_ca.c,
 * replacement.c, documents.c, audit.c, nodes.c) and put together here;
 * apply*.c change it, snapshot.c serialises it, auth.c and
 * trust_implicit.c read it.
 */
#ifndef CERTRAFT_SRC_STATE_INTERNAL_H
#define CERTRAFT_SRC_STATE_INTERNAL_H

#include <stdint.h>

#include <openssl/x509_vfy.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include <certraft/state.h>

#include "omap.h"

/* Unix seconds from ms, rounding down also before 1970, for every
 * int64_t (a log entry may carry any time_ms). */
static inline int64_t cr_ms_to_s(int64_t ms)
{
    int64_t s = ms / 1000;

    return ms % 1000 < 0 ? s - 1 : s;
}

/* Longest certificate Name accepted. */
#define CR_CERT_NAME_MAX 256

/* SHA-256, the binary form of a thumbprint. */
#define CR_DIGEST_LEN 32

/* One registered certificate: its thumbprint in binary (the key of the
 * registry's by_digest index, whose order is thumbprint order), the
 * public entry, and its place in the pin index: one entry per pin is in
 * the by_pin hash, the others with the same pin hang off it through
 * pin_next. That list's order is insertion order, which differs between
 * a node that applied the log and one that restored a snapshot: readers
 * choose among its members by a total order of their own, never by
 * position. */
struct cr_cert_node {
    unsigned char digest[CR_DIGEST_LEN];
    struct cr_cert_entry e;
    UT_hash_handle hh_pin;
    struct cr_cert_node *pin_next;
    struct cr_cert_node *exp_prev, *exp_next; /* same expiry day */
};

/* Entries by a 64-bit tag, in (tag, digest) order (tag_index.c). */
struct cr_tag_index {
    struct cr_tag_slot *slots; /* total of them, or NULL */
    size_t size;               /* 2^bits home slots ... */
    size_t total;              /* ... and the slack after them */
    unsigned bits;
    size_t count;
};

struct cr_registry {
    /* Every entry, by binary thumbprint and in thumbprint order. */
    struct cr_tag_index by_digest;
    /* ... and by a hash of their DER seeded with der_seed, so that
     * authentication finds the slot before the digest is computed
     * (der_lookup.c). Random per state: registering certificates whose
     * hashes collide cannot be planned. */
    struct cr_tag_index by_der;
    uint64_t der_seed;
    struct cr_cert_node *by_pin;     /* uthash head (hh_pin), key e.pin */
    struct cr_expiry_day *by_expiry; /* uthash of days (expiry_index.c) */
    /* Cluster certificates (thumbprints of ClusterNode entries), newest
     * first. */
    char (*cluster)[CR_THUMBPRINT_LEN + 1];
    size_t n_cluster;
};

/* A client CA bundle and its verification store (derived, rebuilt
 * whenever the bundle changes, never serialised). */
struct cr_ca_node {
    struct cr_client_ca ca;
    X509_STORE *store;
};

/* What the last CR_CMD_CERT_PURGE removed (local, not replicated). */
struct cr_purge_report {
    uint64_t index;
    char (*thumbs)[CR_THUMBPRINT_LEN + 1];
    size_t n;
};

/* A document's or a tombstone's place in its database's change order
 * (etl.c): keyed by the change index as 16 hex digits, so the omap's
 * byte order is index order. */
struct cr_change {
    struct cr_omap_node node; /* key: key */
    char key[17];
    uint64_t index;
    int64_t time_ms;
    bool deleted; /* a cr_tombstone, else a cr_doc */
};

struct cr_doc {
    struct cr_omap_node node; /* key: id */
    char *id;
    char *json;
    size_t len;
    struct cr_change change;
};

/* A deleted document that some ETL task has not passed yet. */
struct cr_tombstone {
    struct cr_omap_node node;  /* key: id */
    struct cr_omap_node order; /* key: change.key, in tomb_order */
    char *id;
    struct cr_change change;
};

struct cr_etl_node {
    struct cr_omap_node node; /* key: t.name */
    struct cr_etl_task t;
};

struct cr_database {
    struct cr_omap_node node; /* key: name */
    char *name;
    struct cr_omap docs;
    struct cr_omap tombstones; /* by id */
    struct cr_omap tomb_order; /* the same, by change index (trimming) */
    struct cr_omap changes;    /* docs and tombstones, by change index */
    struct cr_omap etl;        /* ETL tasks reading this database */
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
    struct cr_ca_node **cas; /* sorted by name; a handful at most */
    size_t n_cas;
    struct cr_replacement repl;
    struct cr_purge_report purged;
};

/* --- registry.c ------------------------------------------------------ */

void cr_registry_free(struct cr_registry *reg);
/* @thumbprint in upper case, as entries store it (NULL otherwise). */
struct cr_cert_node *cr_registry_find(const struct cr_registry *reg,
                                      const char *thumbprint);
struct cr_cert_node *cr_registry_find_digest(const struct cr_registry *reg,
                                             const unsigned char *digest);
/* Room for @n entries in the thumbprint index: a hint before inserting
 * that many (restore); 0, or -1 when out of memory (nothing changed). */
int cr_registry_reserve(struct cr_registry *reg, size_t n);
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

/* Remove a whole collection (primary @p and its secondaries) from the
 * registry and free it; allocates nothing, so it cannot fail. */
void cr_registry_drop_collection(struct cr_registry *reg,
                                 struct cr_cert_node *p);
/* Remove secondary @s from its collection and free it. */
void cr_registry_drop_secondary(struct cr_registry *reg,
                                struct cr_cert_node *s);

/* --- tag_index.c, der_lookup.c, thumb_digest.c ----------------------- */

/* Room for @n entries without growing (restore knows the count). 0, or
 * -1 when out of memory (the table is unchanged). */
int cr_tag_index_reserve(struct cr_tag_index *t, size_t n);
/* 0, or -1 when out of memory (nothing added). Equal tags go in beside
 * each other; callers compare the whole key of each candidate. */
int cr_tag_index_add(struct cr_tag_index *t, uint64_t tag,
                     struct cr_cert_node *n);
/* Allocates nothing; cannot fail. */
void cr_tag_index_remove(struct cr_tag_index *t, uint64_t tag,
                         const struct cr_cert_node *n);
/* A lookup of @tag: *pos = cr_tag_index_home(), then each call of
 * cr_tag_index_next() returns the next node with that tag, NULL at the
 * end of the run. cr_tag_index_prefetch() asks for the home slot's
 * cache line ahead of the lookup. */
size_t cr_tag_index_home(const struct cr_tag_index *t, uint64_t tag);
struct cr_cert_node *cr_tag_index_next(const struct cr_tag_index *t,
                                       uint64_t tag, size_t *pos);
void cr_tag_index_prefetch(const struct cr_tag_index *t, uint64_t tag);
/* Calls @fn for each node in (tag, digest) order until it returns false;
 * false when it did. @fn must not change the index. */
bool cr_tag_index_walk(const struct cr_tag_index *t,
                       bool (*fn)(struct cr_cert_node *n, void *arg),
                       void *arg);
void cr_tag_index_free(struct cr_tag_index *t);

/* A new registry's by_der seed, from OpenSSL's random generator. */
void cr_registry_seed(struct cr_registry *reg);
/* The by_der tag of @der in @reg. */
uint64_t cr_registry_der_tag(const struct cr_registry *reg,
                             const unsigned char *der, size_t len);
/* The entry registered for certificate @der, or NULL, and its SHA-256
 * into @digest; false only when OpenSSL fails to allocate. */
bool cr_registry_find_der(const struct cr_registry *reg,
                          const unsigned char *der, size_t len,
                          unsigned char *digest, struct cr_cert_node **out);

/* SHA-256 of @der into @digest (CR_DIGEST_LEN bytes); false only when
 * OpenSSL fails to allocate. */
bool cr_thumb_digest(const unsigned char *der, size_t len,
                     unsigned char *digest);
/* @hex, an upper-case thumbprint as entries store it, into @digest;
 * false when it is not one (lower case included). */
bool cr_thumb_from_hex(const char *hex, unsigned char *digest);

/* --- pin_index.c ----------------------------------------------------- */

/* 0, or -1 when out of memory (nothing added). */
int cr_pin_index_add(struct cr_registry *reg, struct cr_cert_node *n);
/* Allocates nothing; cannot fail. */
void cr_pin_index_remove(struct cr_registry *reg, struct cr_cert_node *n);
void cr_pin_index_free(struct cr_registry *reg);
/* The first of the entries with @pin (follow pin_next), or NULL. */
struct cr_cert_node *cr_pin_index_find(const struct cr_registry *reg,
                                       const char *pin);

/* --- expiry_index.c -------------------------------------------------- */

/* 0, or -1 when out of memory (nothing added). */
int cr_expiry_index_add(struct cr_registry *reg, struct cr_cert_node *n);
/* Cannot fail. */
void cr_expiry_index_remove(struct cr_registry *reg, struct cr_cert_node *n);
void cr_expiry_index_free(struct cr_registry *reg);

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
/* Takes ownership of nothing; copies @json. The document's change index
 * becomes @index (unique in the database; CR_ECONFLICT when another
 * change has it) and any tombstone of @id goes. */
enum cr_status cr_doc_put(struct cr_database *db, const char *id,
                          const char *json, size_t len, uint64_t index,
                          int64_t time_ms);
/* Remove @doc; when the database has ETL tasks a tombstone at @index
 * remembers the deletion (CR_ENOMEM: nothing changed). */
enum cr_status cr_doc_drop(struct cr_database *db, struct cr_doc *doc,
                           uint64_t index, int64_t time_ms);

/* --- etl.c ----------------------------------------------------------- */

void cr_change_set(struct cr_change *c, uint64_t index, int64_t time_ms,
                   bool deleted);
/* 0, or -1 when the index is taken (nothing inserted). */
int cr_change_link(struct cr_database *db, struct cr_change *c);
void cr_change_unlink(struct cr_database *db, struct cr_change *c);
struct cr_tombstone *cr_tombstone_find(const struct cr_database *db,
                                       const char *id);
/* A tombstone for @id at @index (replacing an older one). */
enum cr_status cr_tombstone_put(struct cr_database *db, const char *id,
                                uint64_t index, int64_t time_ms);
void cr_tombstone_drop(struct cr_database *db, struct cr_tombstone *t);
/* Drop the tombstones every task of @db has passed (all of them when it
 * has no task). Allocates nothing. */
void cr_tombstones_trim(struct cr_database *db);
void cr_db_etl_free(struct cr_database *db);
struct cr_etl_node *cr_etl_find(const struct cr_database *db,
                                const char *name);
void cr_etl_node_free(struct cr_etl_node *n);
bool cr_etl_name_valid(const char *name);
bool cr_etl_url_valid(const char *url);

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

/* --- client_ca.c ----------------------------------------------------- */

/* Longest bundle name. */
#define CR_CLIENT_CA_NAME_MAX 128
/* Most certificates in one bundle. */
#define CR_CLIENT_CA_MAX_CERTS 64

bool cr_client_ca_name_valid(const char *name);
/* A bundle of copies of @certs/@perms with its store built. NULL when out
 * of memory or a certificate does not parse (checked by the caller). */
struct cr_ca_node *cr_ca_node_new(const char *name,
                                  const struct cr_der_list *certs,
                                  enum cr_clearance clearance,
                                  const struct cr_permission *perms,
                                  size_t n_perms, uint64_t added_index,
                                  uint64_t updated_index, int64_t updated_ms);
void cr_ca_node_free(struct cr_ca_node *n);
struct cr_ca_node *cr_ca_find(const struct cr_state *st, const char *name);
/* Insert @n, or replace the bundle of the same name (the old one is
 * freed). 0, or -1 when out of memory (nothing changed). */
int cr_ca_put(struct cr_state *st, struct cr_ca_node *n);
void cr_ca_remove(struct cr_state *st, struct cr_ca_node *n);
void cr_cas_free(struct cr_state *st);
/* Step 5: the first bundle (name order) that @leaf chains to at @now_s,
 * with @untrusted as extra intermediates. CR_OK and *out; CR_ENOTFOUND
 * when no bundle could even start a path; CR_EFORBIDDEN with the reason
 * when a bundle named the issuer but the chain failed. */
enum cr_status cr_ca_authenticate(const struct cr_state *st, X509 *leaf,
                                  STACK_OF(X509) *untrusted, int64_t now_s,
                                  const struct cr_ca_node **out,
                                  struct cr_error *err);

/* --- replacement.c --------------------------------------------------- */

void cr_replacement_free(struct cr_replacement *r);
/* Insert @id into the ascending set; 0, or -1 when out of memory. */
int cr_id_set_add(uint64_t **ids, size_t *n, uint64_t id);
bool cr_id_set_has(const uint64_t *ids, size_t n, uint64_t id);
/* INSTALLED, CONFIRMING or SWITCHING. */
bool cr_replacement_in_progress(const struct cr_replacement *r);

/* --- auth.c --------------------------------------------------------- */

/* Step 2: CR_EFORBIDDEN with a message unless nb <= now <= na (unix
 * seconds; @now_ms rounded down). */
enum cr_status cr_auth_validity_check(const char *thumb, int64_t nb,
                                      int64_t na, int64_t now_ms,
                                      struct cr_error *err);

/* --- trust_implicit.c ------------------------------------------------ */

/* Step 4 for the parsed certificate @info (@x its OpenSSL form): the
 * registered entry that implicitly trusts it. CR_OK and *match (its
 * primary is not disabled); CR_ENOTFOUND when no entry has its pin;
 * CR_EFORBIDDEN with a message naming the registered certificate when
 * the key is known but the issuer differs, or when the match is disabled
 * (then *final is set: no later step may let it in). */
enum cr_status cr_implicit_match(const struct cr_state *st,
                                 const struct cr_cert_info *info, X509 *x,
                                 const struct cr_cert_node **match,
                                 bool *final, struct cr_error *err);

/* --- state.c --------------------------------------------------------- */

/* Exchange the replicated content of @a and @b (not the audit
 * capacity, which is local configuration). */
void cr_state_swap(struct cr_state *a, struct cr_state *b);

#endif /* CERTRAFT_SRC_STATE_INTERNAL_H */
