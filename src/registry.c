/*
 * registry.c - certificate entries and collections.
 *
 * Entries live in two tag indexes (tag_index.c): by binary thumbprint,
 * whose order is the thumbprint order that listings and snapshots must
 * show the same on every node, and by a hash of their DER, because every
 * request's authentication looks one up (der_lookup.c); and in the pin
 * index (pin_index.c) for implicit trust.
 */
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

void cr_perms_free(struct cr_permission *perms, size_t n)
{
    size_t i;

    for (i = 0; perms != NULL && i < n; i++) {
        free(perms[i].database);
    }
    free(perms);
}

enum cr_status cr_perms_copy(const struct cr_permission *in, size_t n,
                             struct cr_permission **out)
{
    struct cr_permission *p;
    size_t i;

    *out = NULL;
    if (n == 0) {
        return CR_OK;
    }
    p = calloc(n, sizeof *p);
    if (p == NULL) {
        return CR_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        p[i].access = in[i].access;
        p[i].database = strdup(in[i].database);
        if (p[i].database == NULL) {
            cr_perms_free(p, n);
            return CR_ENOMEM;
        }
    }
    *out = p;
    return CR_OK;
}

static int perm_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cr_permission *)a)->database,
                  ((const struct cr_permission *)b)->database);
}

enum cr_status cr_perms_normalize(const struct cr_permission *in, size_t n,
                                  struct cr_permission **out, size_t *n_out,
                                  struct cr_error *err)
{
    struct cr_permission *p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!cr_database_name_valid(in[i].database)) {
            return cr_error_set(err, CR_EINVAL,
                                "permission for an invalid database name "
                                "'%.128s': use 1..128 characters of A-Z a-z "
                                "0-9 _ . - not starting with '.'",
                                in[i].database != NULL ? in[i].database : "");
        }
        if (in[i].access < CR_ACCESS_READ || in[i].access > CR_ACCESS_ADMIN) {
            return cr_error_set(err, CR_EINVAL,
                                "permission for database '%s' must be Admin, "
                                "ReadWrite or Read",
                                in[i].database);
        }
    }
    if (cr_perms_copy(in, n, &p) != CR_OK) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    if (n > 1) {
        qsort(p, n, sizeof *p, perm_cmp);
    }
    for (i = 1; i < n; i++) {
        if (strcmp(p[i - 1].database, p[i].database) == 0) {
            cr_error_set(err, CR_EINVAL,
                         "database '%s' is listed twice in the permissions",
                         p[i].database);
            cr_perms_free(p, n);
            return CR_EINVAL;
        }
    }
    *out = p;
    *n_out = n;
    return CR_OK;
}

struct cr_cert_node *cr_cert_node_new(struct cr_cert_info *info,
                                      const char *name,
                                      enum cr_clearance clearance,
                                      const struct cr_permission *perms,
                                      size_t n_perms, uint64_t index,
                                      int64_t time_ms)
{
    struct cr_cert_node *n = calloc(1, sizeof *n);
    struct cr_cert_entry *e;

    if (n == NULL) {
        return NULL;
    }
    e = &n->e;
    e->name = strdup(name);
    if (e->name == NULL || cr_perms_copy(perms, n_perms, &e->perms) != CR_OK) {
        free(e->name);
        free(n);
        return NULL;
    }
    e->n_perms = n_perms;
    memcpy(e->thumbprint, info->thumbprint, sizeof e->thumbprint);
    memcpy(e->sha1, info->sha1, sizeof e->sha1);
    memcpy(e->pin, info->pin, sizeof e->pin);
    e->clearance = clearance;
    e->not_before = info->not_before;
    e->not_after = info->not_after;
    e->subject = info->subject;
    e->issuer = info->issuer;
    e->der = info->der;
    e->der_len = info->der_len;
    info->subject = info->issuer = NULL;
    info->der = NULL;
    info->der_len = 0;
    e->added_index = index;
    e->added_ms = time_ms;
    return n;
}

void cr_cert_node_free(struct cr_cert_node *n)
{
    if (n == NULL) {
        return;
    }
    free(n->e.name);
    cr_perms_free(n->e.perms, n->e.n_perms);
    free(n->e.subject);
    free(n->e.issuer);
    free(n->e.der);
    free(n->e.secondaries);
    free(n);
}

/* The by_digest tag: a SHA-256 is uniform already, its first 8 bytes
 * (big-endian, so that home slots follow thumbprint order) will do. */
static uint64_t digest_tag(const unsigned char *digest)
{
    uint64_t t = 0;
    size_t i;

    for (i = 0; i < 8; i++) {
        t = t << 8 | digest[i];
    }
    return t;
}

struct cr_cert_node *cr_registry_find_digest(const struct cr_registry *reg,
                                             const unsigned char *digest)
{
    uint64_t tag = digest_tag(digest);
    size_t pos = cr_tag_index_home(&reg->by_digest, tag);
    struct cr_cert_node *n;

    while ((n = cr_tag_index_next(&reg->by_digest, tag, &pos)) != NULL) {
        if (memcmp(n->digest, digest, CR_DIGEST_LEN) == 0) {
            return n;
        }
    }
    return NULL;
}

struct cr_cert_node *cr_registry_find(const struct cr_registry *reg,
                                      const char *thumbprint)
{
    unsigned char digest[CR_DIGEST_LEN];

    if (!cr_thumb_from_hex(thumbprint, digest) ||
        thumbprint[CR_THUMBPRINT_LEN] != '\0') {
        return NULL;
    }
    return cr_registry_find_digest(reg, digest);
}

int cr_registry_reserve(struct cr_registry *reg, size_t n)
{
    return cr_tag_index_reserve(&reg->by_digest, n) != 0 ||
                   cr_tag_index_reserve(&reg->by_der, n) != 0
               ? -1
               : 0;
}

static void tag_indexes_remove(struct cr_registry *reg,
                               const struct cr_cert_node *n)
{
    cr_tag_index_remove(&reg->by_digest, digest_tag(n->digest), n);
    cr_tag_index_remove(&reg->by_der,
                        cr_registry_der_tag(reg, n->e.der, n->e.der_len), n);
}

int cr_registry_insert(struct cr_registry *reg, struct cr_cert_node *n)
{
    if (!cr_thumb_from_hex(n->e.thumbprint, n->digest) ||
        cr_registry_find_digest(reg, n->digest) != NULL) {
        return -1; /* a duplicate is a bug of the caller */
    }
    if (cr_tag_index_add(&reg->by_digest, digest_tag(n->digest), n) != 0) {
        return -1;
    }
    if (cr_tag_index_add(&reg->by_der,
                         cr_registry_der_tag(reg, n->e.der, n->e.der_len),
                         n) != 0) {
        cr_tag_index_remove(&reg->by_digest, digest_tag(n->digest), n);
        return -1;
    }
    if (cr_pin_index_add(reg, n) != 0) {
        tag_indexes_remove(reg, n);
        return -1;
    }
    if (cr_expiry_index_add(reg, n) != 0) {
        tag_indexes_remove(reg, n);
        cr_pin_index_remove(reg, n);
        return -1;
    }
    return 0;
}

void cr_registry_unlink(struct cr_registry *reg, struct cr_cert_node *n)
{
    tag_indexes_remove(reg, n);
    cr_pin_index_remove(reg, n);
    cr_expiry_index_remove(reg, n);
}

void cr_registry_drop_collection(struct cr_registry *reg,
                                 struct cr_cert_node *p)
{
    size_t i;

    for (i = 0; i < p->e.n_secondaries; i++) {
        struct cr_cert_node *s = cr_registry_find(reg, p->e.secondaries[i]);
        if (s != NULL) {
            cr_registry_unlink(reg, s);
            cr_cert_node_free(s);
        }
    }
    cr_registry_unlink(reg, p);
    cr_cert_node_free(p);
}

void cr_registry_drop_secondary(struct cr_registry *reg,
                                struct cr_cert_node *s)
{
    struct cr_cert_node *p = cr_registry_find(reg, s->e.primary);
    size_t i;

    for (i = 0; p != NULL && i < p->e.n_secondaries; i++) {
        if (strcmp(p->e.secondaries[i], s->e.thumbprint) == 0) {
            memmove(&p->e.secondaries[i], &p->e.secondaries[i + 1],
                    (p->e.n_secondaries - i - 1) * sizeof *p->e.secondaries);
            p->e.n_secondaries--;
            break;
        }
    }
    cr_registry_unlink(reg, s);
    cr_cert_node_free(s);
}

static bool release_node(struct cr_cert_node *n, void *arg)
{
    (void)arg;
    cr_cert_node_free(n);
    return true;
}

void cr_registry_free(struct cr_registry *reg)
{
    cr_pin_index_free(reg);
    cr_expiry_index_free(reg);
    cr_tag_index_walk(&reg->by_digest, release_node, NULL);
    cr_tag_index_free(&reg->by_digest);
    cr_tag_index_free(&reg->by_der);
    free(reg->cluster);
    reg->cluster = NULL;
    reg->n_cluster = 0;
}

bool cr_registry_is_cluster(const struct cr_registry *reg,
                            const char *thumbprint)
{
    size_t i;

    for (i = 0; i < reg->n_cluster; i++) {
        if (strcmp(reg->cluster[i], thumbprint) == 0) {
            return true;
        }
    }
    return false;
}

int cr_registry_cluster_add(struct cr_registry *reg, const char *thumbprint)
{
    char(*c)[CR_THUMBPRINT_LEN + 1] =
        realloc(reg->cluster, (reg->n_cluster + 1) * sizeof *c);

    if (c == NULL) {
        return -1;
    }
    memmove(c + 1, c, reg->n_cluster * sizeof *c); /* newest first */
    memcpy(c[0], thumbprint, CR_THUMBPRINT_LEN + 1);
    reg->cluster = c;
    reg->n_cluster++;
    return 0;
}

/* --- public lookups -------------------------------------------------- */

/* Lookups accept a thumbprint in either case, as users type it. */
static bool thumb_key(const char *in, char *out)
{
    if (!cr_thumbprint_valid(in)) {
        return false;
    }
    memcpy(out, in, CR_THUMBPRINT_LEN + 1);
    cr_thumbprint_normalize(out);
    return true;
}

const struct cr_cert_entry *cr_state_cert_find(const struct cr_state *st,
                                               const char *thumbprint)
{
    char key[CR_THUMBPRINT_LEN + 1];
    struct cr_cert_node *n;

    if (!thumb_key(thumbprint, key)) {
        return NULL;
    }
    n = cr_registry_find(&st->reg, key);
    return n != NULL ? &n->e : NULL;
}

const struct cr_cert_entry *cr_state_cert_primary(const struct cr_state *st,
                                                  const struct cr_cert_entry *e)
{
    struct cr_cert_node *n;

    if (e == NULL || e->primary[0] == '\0') {
        return e;
    }
    n = cr_registry_find(&st->reg, e->primary);
    return n != NULL ? &n->e : NULL;
}

size_t cr_state_cert_count(const struct cr_state *st)
{
    return st->reg.by_digest.count;
}

struct cert_visit {
    cr_cert_visit_fn fn;
    void *arg;
};

static bool cert_visit(struct cr_cert_node *n, void *arg)
{
    struct cert_visit *v = arg;

    return v->fn(&n->e, v->arg);
}

void cr_state_cert_foreach(const struct cr_state *st, cr_cert_visit_fn fn,
                           void *arg)
{
    struct cert_visit v = {fn, arg};

    cr_tag_index_walk(&st->reg.by_digest, cert_visit, &v);
}

size_t cr_state_cluster_cert_count(const struct cr_state *st)
{
    return st->reg.n_cluster;
}

const struct cr_cert_entry *cr_state_cluster_cert(const struct cr_state *st,
                                                  size_t i)
{
    struct cr_cert_node *n;

    if (i >= st->reg.n_cluster) {
        return NULL;
    }
    n = cr_registry_find(&st->reg, st->reg.cluster[i]);
    return n != NULL ? &n->e : NULL;
}

bool cr_state_is_cluster_node(const struct cr_state *st,
                              const char *thumbprint)
{
    char key[CR_THUMBPRINT_LEN + 1];
    const struct cr_cert_entry *e, *p;

    if (!thumb_key(thumbprint, key)) {
        return false;
    }
    if (cr_registry_is_cluster(&st->reg, key) ||
        (cr_replacement_in_progress(&st->repl) &&
         strcmp(st->repl.new_thumbprint, key) == 0)) {
        return true;
    }
    e = cr_state_cert_find(st, key);
    p = cr_state_cert_primary(st, e);
    return p != NULL && p->clearance == CR_CLEARANCE_CLUSTER_NODE &&
           !p->disabled;
}
