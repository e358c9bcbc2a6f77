/*
 * documents.c - databases and their JSON documents.
 *
 * Both are ordered maps: databases list in name order, and documents are
 * paged by id prefix in id order, in O(log n + page) even with hundreds
 * of thousands of documents. The core stores JSON as given; the node has
 * validated it. Each document also sits in its database's change order
 * (etl.c), which ETL tasks read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct cr_database *cr_db_find(const struct cr_state *st, const char *name)
{
    struct cr_omap_node *n;

    if (name == NULL) {
        return NULL;
    }
    n = cr_omap_find(&st->dbs, name);
    return n != NULL ? CR_OMAP_ENTRY(n, struct cr_database, node) : NULL;
}

enum cr_status cr_db_create(struct cr_state *st, const char *name)
{
    struct cr_database *db = calloc(1, sizeof *db);

    if (db == NULL || (db->name = strdup(name)) == NULL) {
        free(db);
        return CR_ENOMEM;
    }
    db->node.key = db->name;
    if (cr_omap_insert(&st->dbs, &db->node) != NULL) {
        free(db->name);
        free(db);
        return CR_ECONFLICT;
    }
    return CR_OK;
}

static void doc_free(struct cr_doc *d)
{
    free(d->id);
    free(d->json);
    free(d);
}

static void release_doc(struct cr_omap_node *o)
{
    doc_free(CR_OMAP_ENTRY(o, struct cr_doc, node));
}

static void release_tombstone(struct cr_omap_node *o)
{
    struct cr_tombstone *t = CR_OMAP_ENTRY(o, struct cr_tombstone, node);

    free(t->id);
    free(t);
}

static void db_free(struct cr_database *db)
{
    /* The change order only links nodes the two maps below own. */
    cr_omap_clear(&db->changes, NULL);
    cr_omap_clear(&db->tomb_order, NULL);
    cr_omap_clear(&db->docs, release_doc);
    cr_omap_clear(&db->tombstones, release_tombstone);
    cr_db_etl_free(db);
    free(db->name);
    free(db);
}

void cr_db_drop(struct cr_state *st, struct cr_database *db)
{
    cr_omap_remove(&st->dbs, db->name);
    db_free(db);
}

static void release_db(struct cr_omap_node *o)
{
    db_free(CR_OMAP_ENTRY(o, struct cr_database, node));
}

void cr_dbs_free(struct cr_omap *dbs)
{
    cr_omap_clear(dbs, release_db);
}

struct cr_doc *cr_doc_find(const struct cr_database *db, const char *id)
{
    struct cr_omap_node *n = cr_omap_find(&db->docs, id);

    return n != NULL ? CR_OMAP_ENTRY(n, struct cr_doc, node) : NULL;
}

/* Is @index free in the change order, or already @mine? */
static bool index_free(const struct cr_database *db, uint64_t index,
                       const struct cr_change *mine)
{
    char key[17];
    struct cr_omap_node *n;

    snprintf(key, sizeof key, "%016llx", (unsigned long long)index);
    n = cr_omap_find(&db->changes, key);
    return n == NULL || (mine != NULL && n == &mine->node);
}

enum cr_status cr_doc_put(struct cr_database *db, const char *id,
                          const char *json, size_t len, uint64_t index,
                          int64_t time_ms)
{
    struct cr_doc *d = cr_doc_find(db, id);
    struct cr_tombstone *t = cr_tombstone_find(db, id);
    char *copy;

    /* Checked first so that nothing changes when it fails. */
    if (!index_free(db, index, d != NULL ? &d->change : NULL)) {
        return CR_ECONFLICT;
    }
    if ((copy = malloc(len + 1)) == NULL) {
        return CR_ENOMEM;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    if (d != NULL) {
        free(d->json);
        d->json = copy;
        d->len = len;
        cr_change_unlink(db, &d->change);
    } else {
        d = calloc(1, sizeof *d);
        if (d == NULL || (d->id = strdup(id)) == NULL) {
            free(d);
            free(copy);
            return CR_ENOMEM;
        }
        d->json = copy;
        d->len = len;
        d->node.key = d->id;
        cr_omap_insert(&db->docs, &d->node);
    }
    cr_change_set(&d->change, index, time_ms, false);
    cr_change_link(db, &d->change);
    if (t != NULL) {
        cr_tombstone_drop(db, t); /* the document's change supersedes it */
    }
    return CR_OK;
}

enum cr_status cr_doc_drop(struct cr_database *db, struct cr_doc *doc,
                           uint64_t index, int64_t time_ms)
{
    if (db->etl.count > 0) {
        enum cr_status rv;
        cr_change_unlink(db, &doc->change); /* frees its index */
        rv = cr_tombstone_put(db, doc->id, index, time_ms);
        if (rv != CR_OK) {
            cr_change_link(db, &doc->change);
            return rv;
        }
    } else {
        cr_change_unlink(db, &doc->change);
    }
    cr_omap_remove(&db->docs, doc->id);
    doc_free(doc);
    return CR_OK;
}

/* --- public reads ---------------------------------------------------- */

bool cr_state_db_exists(const struct cr_state *st, const char *db)
{
    return cr_db_find(st, db) != NULL;
}

struct name_visit {
    cr_name_visit_fn fn;
    void *arg;
};

static bool db_visit(struct cr_omap_node *o, void *arg)
{
    struct name_visit *v = arg;

    return v->fn(o->key, v->arg);
}

void cr_state_db_foreach(const struct cr_state *st, cr_name_visit_fn fn,
                         void *arg)
{
    struct name_visit v = {fn, arg};

    cr_omap_walk(&st->dbs, NULL, true, db_visit, &v);
}

size_t cr_state_db_doc_count(const struct cr_state *st, const char *db)
{
    struct cr_database *d = cr_db_find(st, db);

    return d != NULL ? d->docs.count : 0;
}

const char *cr_state_doc_get(const struct cr_state *st, const char *db,
                             const char *id, size_t *len)
{
    struct cr_database *d = cr_db_find(st, db);
    struct cr_doc *doc = d != NULL && id != NULL ? cr_doc_find(d, id) : NULL;

    if (doc == NULL) {
        return NULL;
    }
    if (len != NULL) {
        *len = doc->len;
    }
    return doc->json;
}

struct doc_visit {
    const char *prefix;
    size_t prefix_len;
    size_t left;
    cr_doc_visit_fn fn;
    void *arg;
};

static bool doc_visit(struct cr_omap_node *o, void *arg)
{
    struct doc_visit *v = arg;
    struct cr_doc *d = CR_OMAP_ENTRY(o, struct cr_doc, node);

    /* Ids with the prefix are contiguous in byte order: the first one
     * without it ends the walk. */
    if (v->left == 0 || strncmp(d->id, v->prefix, v->prefix_len) != 0) {
        return false;
    }
    v->left--;
    return v->fn(d->id, d->json, d->len, v->arg);
}

void cr_state_doc_foreach(const struct cr_state *st, const char *db,
                          const char *prefix, const char *after, size_t limit,
                          cr_doc_visit_fn fn, void *arg)
{
    struct cr_database *d = cr_db_find(st, db);
    struct doc_visit v;

    if (d == NULL || limit == 0) {
        return;
    }
    v.prefix = prefix != NULL ? prefix : "";
    v.prefix_len = strlen(v.prefix);
    v.left = limit;
    v.fn = fn;
    v.arg = arg;
    if (after != NULL && strcmp(after, v.prefix) >= 0) {
        cr_omap_walk(&d->docs, after, false, doc_visit, &v);
    } else {
        cr_omap_walk(&d->docs, v.prefix, true, doc_visit, &v);
    }
}
