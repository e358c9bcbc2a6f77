/*
 * etl.c - what an ETL task needs from the state: the change order of a
 * database's documents, tombstones of deleted ones, and the tasks
 * themselves with their progress.
 *
 * An ETL runner asks "what changed in this database after index N?".
 * Each document remembers the log index that last wrote it and sits in a
 * second ordered map keyed by that index, so the answer is a walk from N
 * in O(log n + changes), not a scan of every document. A deletion has to
 * reach the destination too, so while a database has tasks a deleted
 * document leaves a tombstone in the same order; tombstones go once every
 * task's progress has passed them (cr_tombstones_trim, run by apply on
 * every progress report and task change), so they cost nothing for a
 * database without tasks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

/* --- change order ---------------------------------------------------- */

void cr_change_set(struct cr_change *c, uint64_t index, int64_t time_ms,
                   bool deleted)
{
    snprintf(c->key, sizeof c->key, "%016llx", (unsigned long long)index);
    c->node.key = c->key;
    c->index = index;
    c->time_ms = time_ms;
    c->deleted = deleted;
}

int cr_change_link(struct cr_database *db, struct cr_change *c)
{
    return cr_omap_insert(&db->changes, &c->node) == NULL ? 0 : -1;
}

void cr_change_unlink(struct cr_database *db, struct cr_change *c)
{
    struct cr_omap_node *n = cr_omap_find(&db->changes, c->key);

    /* Only unlink our own node: a failed insert left another in place. */
    if (n == &c->node) {
        cr_omap_remove(&db->changes, c->key);
    }
}

/* --- tombstones ------------------------------------------------------ */

struct cr_tombstone *cr_tombstone_find(const struct cr_database *db,
                                       const char *id)
{
    struct cr_omap_node *n = cr_omap_find(&db->tombstones, id);

    return n != NULL ? CR_OMAP_ENTRY(n, struct cr_tombstone, node) : NULL;
}

void cr_tombstone_drop(struct cr_database *db, struct cr_tombstone *t)
{
    cr_change_unlink(db, &t->change);
    cr_omap_remove(&db->tomb_order, t->change.key);
    cr_omap_remove(&db->tombstones, t->id);
    free(t->id);
    free(t);
}

enum cr_status cr_tombstone_put(struct cr_database *db, const char *id,
                                uint64_t index, int64_t time_ms)
{
    struct cr_tombstone *old = cr_tombstone_find(db, id);
    struct cr_tombstone *t = calloc(1, sizeof *t);

    if (t == NULL || (t->id = strdup(id)) == NULL) {
        free(t);
        return CR_ENOMEM;
    }
    t->node.key = t->id;
    cr_change_set(&t->change, index, time_ms, true);
    if (cr_change_link(db, &t->change) != 0) {
        free(t->id);
        free(t);
        return CR_ECONFLICT;
    }
    if (old != NULL) {
        cr_tombstone_drop(db, old);
    }
    t->order.key = t->change.key;
    cr_omap_insert(&db->tomb_order, &t->order);
    cr_omap_insert(&db->tombstones, &t->node);
    return CR_OK;
}

/* The lowest progress of @db's tasks (UINT64_MAX when it has none). */
struct min_progress {
    uint64_t min;
};

static bool min_visit(struct cr_omap_node *o, void *arg)
{
    struct min_progress *m = arg;
    const struct cr_etl_node *e = CR_OMAP_ENTRY(o, struct cr_etl_node, node);

    if (e->t.progress < m->min) {
        m->min = e->t.progress;
    }
    return true;
}

struct trim {
    uint64_t upto;
    struct cr_tombstone **drop;
    size_t n, cap;
};

static bool trim_visit(struct cr_omap_node *o, void *arg)
{
    struct trim *t = arg;
    struct cr_tombstone *ts = CR_OMAP_ENTRY(o, struct cr_tombstone, order);

    if (ts->change.index > t->upto || t->n == t->cap) {
        return false;
    }
    t->drop[t->n++] = ts;
    return true;
}

void cr_tombstones_trim(struct cr_database *db)
{
    struct min_progress m = {UINT64_MAX};
    struct cr_tombstone *batch[256];
    struct trim t;

    if (db->tombstones.count == 0) {
        return;
    }
    cr_omap_walk(&db->etl, NULL, true, min_visit, &m);
    /* Oldest first, in fixed batches: O(dropped), and trimming never
     * allocates (so it never fails half-way inside apply). */
    do {
        t.upto = m.min;
        t.drop = batch;
        t.n = 0;
        t.cap = sizeof batch / sizeof batch[0];
        cr_omap_walk(&db->tomb_order, NULL, true, trim_visit, &t);
        for (size_t i = 0; i < t.n; i++) {
            cr_tombstone_drop(db, batch[i]);
        }
    } while (t.n == t.cap);
}

/* --- tasks ----------------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void cr_etl_node_free(struct cr_etl_node *n)
{
    if (n == NULL) {
        return;
    }
    free(n->t.name);
    free(n->t.db);
    strv_free(n->t.urls, n->t.n_urls);
    free(n->t.dest_db);
    free(n->t.script);
    strv_free(n->t.prefixes, n->t.n_prefixes);
    free(n);
}

static void release_etl(struct cr_omap_node *o)
{
    cr_etl_node_free(CR_OMAP_ENTRY(o, struct cr_etl_node, node));
}

void cr_db_etl_free(struct cr_database *db)
{
    cr_omap_clear(&db->etl, release_etl);
}

struct cr_etl_node *cr_etl_find(const struct cr_database *db,
                                const char *name)
{
    struct cr_omap_node *n = name != NULL ? cr_omap_find(&db->etl, name)
                                          : NULL;

    return n != NULL ? CR_OMAP_ENTRY(n, struct cr_etl_node, node) : NULL;
}

bool cr_etl_name_valid(const char *name)
{
    /* The database name rule: names travel in query strings and metric
     * labels. */
    return cr_database_name_valid(name);
}

bool cr_etl_url_valid(const char *url)
{
    size_t n;

    if (url == NULL || strncmp(url, "https://", 8) != 0) {
        return false;
    }
    n = strlen(url);
    if (n <= 8 || n > CR_ETL_URL_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '"' || ch == '\\') {
            return false;
        }
    }
    return true;
}

/* --- public reads ---------------------------------------------------- */

const struct cr_etl_task *cr_state_etl_find(const struct cr_state *st,
                                            const char *db, const char *name)
{
    struct cr_database *d = cr_db_find(st, db);
    struct cr_etl_node *n = d != NULL ? cr_etl_find(d, name) : NULL;

    return n != NULL ? &n->t : NULL;
}

struct etl_visit {
    cr_etl_visit_fn fn;
    void *arg;
    bool stopped;
};

static bool etl_visit(struct cr_omap_node *o, void *arg)
{
    struct etl_visit *v = arg;

    if (!v->fn(&CR_OMAP_ENTRY(o, struct cr_etl_node, node)->t, v->arg)) {
        v->stopped = true;
        return false;
    }
    return true;
}

static bool db_etl_visit(struct cr_omap_node *o, void *arg)
{
    struct etl_visit *v = arg;
    struct cr_database *d = CR_OMAP_ENTRY(o, struct cr_database, node);

    cr_omap_walk(&d->etl, NULL, true, etl_visit, v);
    return !v->stopped;
}

void cr_state_etl_foreach(const struct cr_state *st, const char *db,
                          cr_etl_visit_fn fn, void *arg)
{
    struct etl_visit v = {fn, arg, false};
    struct cr_database *d;

    if (db == NULL) {
        cr_omap_walk(&st->dbs, NULL, true, db_etl_visit, &v);
    } else if ((d = cr_db_find(st, db)) != NULL) {
        cr_omap_walk(&d->etl, NULL, true, etl_visit, &v);
    }
}

static bool count_db_etl(struct cr_omap_node *o, void *arg)
{
    *(size_t *)arg += CR_OMAP_ENTRY(o, struct cr_database, node)->etl.count;
    return true;
}

size_t cr_state_etl_count(const struct cr_state *st)
{
    size_t n = 0;

    cr_omap_walk(&st->dbs, NULL, true, count_db_etl, &n);
    return n;
}

bool cr_etl_task_reads(const struct cr_etl_task *t, const char *id)
{
    if (t->n_prefixes == 0) {
        return true;
    }
    for (size_t i = 0; i < t->n_prefixes; i++) {
        if (strncmp(id, t->prefixes[i], strlen(t->prefixes[i])) == 0) {
            return true;
        }
    }
    return false;
}

struct change_visit {
    cr_change_visit_fn fn;
    void *arg;
};

static bool change_visit(struct cr_omap_node *o, void *arg)
{
    struct change_visit *v = arg;
    struct cr_change *c = CR_OMAP_ENTRY(o, struct cr_change, node);
    struct cr_doc_change dc;

    dc.index = c->index;
    dc.time_ms = c->time_ms;
    if (c->deleted) {
        dc.id = CR_OMAP_ENTRY(c, struct cr_tombstone, change)->id;
        dc.json = NULL;
        dc.len = 0;
    } else {
        const struct cr_doc *d = CR_OMAP_ENTRY(c, struct cr_doc, change);
        dc.id = d->id;
        dc.json = d->json;
        dc.len = d->len;
    }
    return v->fn(&dc, v->arg);
}

void cr_state_changes_foreach(const struct cr_state *st, const char *db,
                              uint64_t after, cr_change_visit_fn fn, void *arg)
{
    struct cr_database *d = cr_db_find(st, db);
    struct change_visit v = {fn, arg};
    char key[17];

    if (d == NULL) {
        return;
    }
    snprintf(key, sizeof key, "%016llx", (unsigned long long)after);
    cr_omap_walk(&d->changes, key, false, change_visit, &v);
}

uint64_t cr_state_doc_change_index(const struct cr_state *st, const char *db,
                                   const char *id)
{
    struct cr_database *d = cr_db_find(st, db);
    struct cr_doc *doc = d != NULL && id != NULL ? cr_doc_find(d, id) : NULL;

    return doc != NULL ? doc->change.index : 0;
}

size_t cr_state_db_tombstone_count(const struct cr_state *st, const char *db)
{
    struct cr_database *d = cr_db_find(st, db);

    return d != NULL ? d->tombstones.count : 0;
}

struct lag {
    const struct cr_etl_task *t;
    uint64_t entries, last;
    int64_t oldest;
};

static bool lag_visit(const struct cr_doc_change *c, void *arg)
{
    struct lag *l = arg;

    if (cr_etl_task_reads(l->t, c->id)) {
        if (l->entries++ == 0) {
            l->oldest = c->time_ms;
        }
        l->last = c->index;
    }
    return true;
}

void cr_state_etl_lag(const struct cr_state *st, const struct cr_etl_task *t,
                      uint64_t *entries, uint64_t *last_index,
                      int64_t *oldest_ms)
{
    struct lag l = {t, 0, t->progress, 0};

    cr_state_changes_foreach(st, t->db, t->progress, lag_visit, &l);
    *entries = l.entries;
    *last_index = l.last;
    *oldest_ms = l.oldest;
}
