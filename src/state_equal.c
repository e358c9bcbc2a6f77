/*
 * state_equal.c - deep comparison of two states, field by field.
 *
 * Used by the tests and the cluster checkers to prove that nodes which
 * applied the same log (or restored the same snapshot) agree. It does not
 * go through the snapshot encoding, so it also catches a field that the
 * snapshot forgot.
 */
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* The nodes of a map or of the registry in their order (malloc'ed). */
struct collect {
    void **v;
    size_t n;
};

static bool collect_alloc(struct collect *c, size_t count)
{
    c->n = 0;
    c->v = malloc((count > 0 ? count : 1) * sizeof *c->v);
    return c->v != NULL;
}

static bool collect_visit(struct cr_omap_node *o, void *arg)
{
    struct collect *c = arg;

    c->v[c->n++] = o;
    return true;
}

static bool omap_nodes(const struct cr_omap *m, struct collect *c)
{
    if (!collect_alloc(c, m->count)) {
        return false;
    }
    cr_omap_walk(m, NULL, true, collect_visit, c);
    return true;
}

static bool entry_equal(const struct cr_cert_entry *a,
                        const struct cr_cert_entry *b)
{
    size_t i;

    if (strcmp(a->thumbprint, b->thumbprint) || strcmp(a->sha1, b->sha1) ||
        strcmp(a->pin, b->pin) || !str_eq(a->name, b->name) ||
        a->clearance != b->clearance || a->n_perms != b->n_perms ||
        a->not_before != b->not_before || a->not_after != b->not_after ||
        !str_eq(a->subject, b->subject) || !str_eq(a->issuer, b->issuer) ||
        a->disabled != b->disabled || a->der_len != b->der_len ||
        memcmp(a->der, b->der, a->der_len) != 0 ||
        strcmp(a->primary, b->primary) ||
        a->n_secondaries != b->n_secondaries ||
        a->added_index != b->added_index || a->added_ms != b->added_ms) {
        return false;
    }
    for (i = 0; i < a->n_perms; i++) {
        if (strcmp(a->perms[i].database, b->perms[i].database) ||
            a->perms[i].access != b->perms[i].access) {
            return false;
        }
    }
    for (i = 0; i < a->n_secondaries; i++) {
        if (strcmp(a->secondaries[i], b->secondaries[i])) {
            return false;
        }
    }
    return true;
}

static bool cert_collect_visit(struct cr_cert_node *n, void *arg)
{
    struct collect *c = arg;

    c->v[c->n++] = n;
    return true;
}

/* The entries of @reg in thumbprint order. */
static bool cert_nodes(const struct cr_registry *reg, struct collect *c)
{
    if (!collect_alloc(c, reg->by_digest.count)) {
        return false;
    }
    cr_tag_index_walk(&reg->by_digest, cert_collect_visit, c);
    return true;
}

static bool certs_equal(const struct cr_state *a, const struct cr_state *b)
{
    struct collect ca, cb;
    bool eq;
    size_t i;

    if (a->reg.by_digest.count != b->reg.by_digest.count ||
        a->reg.n_cluster != b->reg.n_cluster) {
        return false;
    }
    for (i = 0; i < a->reg.n_cluster; i++) {
        if (strcmp(a->reg.cluster[i], b->reg.cluster[i])) {
            return false;
        }
    }
    if (!cert_nodes(&a->reg, &ca)) {
        return false;
    }
    if (!cert_nodes(&b->reg, &cb)) {
        free(ca.v);
        return false;
    }
    eq = ca.n == cb.n;
    for (i = 0; eq && i < ca.n; i++) {
        eq = entry_equal(&((struct cr_cert_node *)ca.v[i])->e,
                         &((struct cr_cert_node *)cb.v[i])->e);
    }
    free(ca.v);
    free(cb.v);
    return eq;
}

static bool tombstones_equal(const struct cr_database *a,
                             const struct cr_database *b)
{
    struct collect ca, cb;
    bool eq;
    size_t i;

    if (a->tombstones.count != b->tombstones.count ||
        a->changes.count != b->changes.count) {
        return false;
    }
    if (!omap_nodes(&a->tombstones, &ca)) {
        return false;
    }
    if (!omap_nodes(&b->tombstones, &cb)) {
        free(ca.v);
        return false;
    }
    eq = ca.n == cb.n;
    for (i = 0; eq && i < ca.n; i++) {
        const struct cr_tombstone *x =
            CR_OMAP_ENTRY(ca.v[i], struct cr_tombstone, node);
        const struct cr_tombstone *y =
            CR_OMAP_ENTRY(cb.v[i], struct cr_tombstone, node);
        eq = strcmp(x->id, y->id) == 0 &&
             x->change.index == y->change.index &&
             x->change.time_ms == y->change.time_ms;
    }
    free(ca.v);
    free(cb.v);
    return eq;
}

static bool strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    size_t i;

    if (na != nb) {
        return false;
    }
    for (i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

static bool task_equal(const struct cr_etl_task *x, const struct cr_etl_task *y)
{
    return str_eq(x->name, y->name) && str_eq(x->db, y->db) &&
           strv_equal(x->urls, x->n_urls, y->urls, y->n_urls) &&
           str_eq(x->dest_db, y->dest_db) && str_eq(x->script, y->script) &&
           strv_equal(x->prefixes, x->n_prefixes, y->prefixes,
                      y->n_prefixes) &&
           x->created_index == y->created_index &&
           x->generation == y->generation && x->updated_ms == y->updated_ms &&
           x->progress == y->progress && x->progress_ms == y->progress_ms;
}

static bool etl_equal(const struct cr_database *a, const struct cr_database *b)
{
    struct collect ca, cb;
    bool eq;
    size_t i;

    if (a->etl.count != b->etl.count || !omap_nodes(&a->etl, &ca)) {
        return false;
    }
    if (!omap_nodes(&b->etl, &cb)) {
        free(ca.v);
        return false;
    }
    eq = ca.n == cb.n;
    for (i = 0; eq && i < ca.n; i++) {
        eq = task_equal(&CR_OMAP_ENTRY(ca.v[i], struct cr_etl_node, node)->t,
                        &CR_OMAP_ENTRY(cb.v[i], struct cr_etl_node, node)->t);
    }
    free(ca.v);
    free(cb.v);
    return eq;
}

static bool docs_equal(const struct cr_database *a, const struct cr_database *b)
{
    struct collect ca, cb;
    bool eq;
    size_t i;

    if (strcmp(a->name, b->name) || a->docs.count != b->docs.count) {
        return false;
    }
    if (!omap_nodes(&a->docs, &ca)) {
        return false;
    }
    if (!omap_nodes(&b->docs, &cb)) {
        free(ca.v);
        return false;
    }
    eq = ca.n == cb.n;
    for (i = 0; eq && i < ca.n; i++) {
        const struct cr_doc *x = CR_OMAP_ENTRY(ca.v[i], struct cr_doc, node);
        const struct cr_doc *y = CR_OMAP_ENTRY(cb.v[i], struct cr_doc, node);
        eq = strcmp(x->id, y->id) == 0 && x->len == y->len &&
             memcmp(x->json, y->json, x->len) == 0 &&
             x->change.index == y->change.index &&
             x->change.time_ms == y->change.time_ms;
    }
    free(ca.v);
    free(cb.v);
    return eq && tombstones_equal(a, b) && etl_equal(a, b);
}

static bool dbs_equal(const struct cr_state *a, const struct cr_state *b)
{
    struct collect ca, cb;
    bool eq;
    size_t i;

    if (a->dbs.count != b->dbs.count || !omap_nodes(&a->dbs, &ca)) {
        return false;
    }
    if (!omap_nodes(&b->dbs, &cb)) {
        free(ca.v);
        return false;
    }
    eq = ca.n == cb.n;
    for (i = 0; eq && i < ca.n; i++) {
        eq = docs_equal(CR_OMAP_ENTRY(ca.v[i], struct cr_database, node),
                        CR_OMAP_ENTRY(cb.v[i], struct cr_database, node));
    }
    free(ca.v);
    free(cb.v);
    return eq;
}

static bool pending_equal(const struct cr_state *a, const struct cr_state *b)
{
    size_t i;

    if (a->n_pending != b->n_pending) {
        return false;
    }
    for (i = 0; i < a->n_pending; i++) {
        const struct cr_pending_node *x = &a->pending[i], *y = &b->pending[i];
        if (x->id != y->id || !str_eq(x->raft_address, y->raft_address) ||
            !str_eq(x->api_url, y->api_url) ||
            strcmp(x->join_thumbprint, y->join_thumbprint) ||
            x->added_index != y->added_index) {
            return false;
        }
    }
    return true;
}

static bool audit_equal(const struct cr_state *a, const struct cr_state *b)
{
    size_t i;

    if (a->audit.count != b->audit.count) {
        return false;
    }
    for (i = 0; i < a->audit.count; i++) {
        const struct cr_audit_record *x = cr_audit_at(&a->audit, i);
        const struct cr_audit_record *y = cr_audit_at(&b->audit, i);
        if (x->index != y->index || x->time_ms != y->time_ms ||
            strcmp(x->caller, y->caller) ||
            !str_eq(x->caller_name, y->caller_name) ||
            !str_eq(x->operation, y->operation) ||
            !str_eq(x->target, y->target) || x->status != y->status) {
            return false;
        }
    }
    return true;
}

static bool ders_equal(const struct cr_der_list *a, const struct cr_der_list *b)
{
    size_t i;

    if (a->n != b->n) {
        return false;
    }
    for (i = 0; i < a->n; i++) {
        if (a->items[i].len != b->items[i].len ||
            memcmp(a->items[i].der, b->items[i].der, a->items[i].len) != 0) {
            return false;
        }
    }
    return true;
}

static bool perms_equal(const struct cr_permission *a, size_t na,
                        const struct cr_permission *b, size_t nb)
{
    size_t i;

    if (na != nb) {
        return false;
    }
    for (i = 0; i < na; i++) {
        if (strcmp(a[i].database, b[i].database) ||
            a[i].access != b[i].access) {
            return false;
        }
    }
    return true;
}

static bool cas_equal(const struct cr_state *a, const struct cr_state *b)
{
    size_t i;

    if (a->n_cas != b->n_cas) {
        return false;
    }
    for (i = 0; i < a->n_cas; i++) {
        const struct cr_client_ca *x = &a->cas[i]->ca, *y = &b->cas[i]->ca;
        if (!str_eq(x->name, y->name) || !ders_equal(&x->certs, &y->certs) ||
            x->clearance != y->clearance ||
            !perms_equal(x->perms, x->n_perms, y->perms, y->n_perms) ||
            x->status != y->status || x->added_index != y->added_index ||
            x->updated_index != y->updated_index ||
            x->updated_ms != y->updated_ms) {
            return false;
        }
    }
    return true;
}

static bool ids_equal(const uint64_t *a, size_t na, const uint64_t *b,
                      size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static bool repl_equal(const struct cr_replacement *a,
                       const struct cr_replacement *b)
{
    if (a->phase == CR_REPLACEMENT_NONE || b->phase == CR_REPLACEMENT_NONE) {
        return a->phase == b->phase;
    }
    return a->phase == b->phase &&
           strcmp(a->new_thumbprint, b->new_thumbprint) == 0 &&
           strcmp(a->old_thumbprint, b->old_thumbprint) == 0 &&
           ders_equal(&a->chain, &b->chain) &&
           a->sealed_key.len == b->sealed_key.len &&
           memcmp(a->sealed_key.der, b->sealed_key.der, a->sealed_key.len) ==
               0 &&
           ids_equal(a->confirmed, a->n_confirmed, b->confirmed,
                     b->n_confirmed) &&
           ids_equal(a->switched, a->n_switched, b->switched, b->n_switched) &&
           a->switch_now == b->switch_now && a->started_ms == b->started_ms &&
           a->started_index == b->started_index &&
           a->finished_ms == b->finished_ms &&
           a->new_not_after == b->new_not_after &&
           a->old_not_after == b->old_not_after;
}

bool cr_state_equal(const struct cr_state *a, const struct cr_state *b)
{
    return a->applied_index == b->applied_index && certs_equal(a, b) &&
           pending_equal(a, b) && dbs_equal(a, b) && audit_equal(a, b) &&
           cas_equal(a, b) && repl_equal(&a->repl, &b->repl);
}
