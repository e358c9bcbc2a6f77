/*
 * documents.c - databases and their JSON documents.
 *
 * Both are ordered maps: databases list in name order, and documents are
 * paged by id prefix in id order, in O(log n + page) even with hundreds
 * of thousands of documents. The core stores JSON as given; the node has
 * validated it.
 */
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

static void db_free(struct cr_database *db)
{
    cr_omap_clear(&db->docs, release_doc);
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

enum cr_status cr_doc_put(struct cr_database *db, const char *id,
                          const char *json, size_t len)
{
    struct cr_doc *d = cr_doc_find(db, id);
    char *copy = malloc(len + 1);

    if (copy == NULL) {
        return CR_ENOMEM;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    if (d != NULL) {
        free(d->json);
        d->json = copy;
        d->len = len;
        return CR_OK;
    }
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
    return CR_OK;
}

void cr_doc_drop(struct cr_database *db, struct cr_doc *doc)
{
    cr_omap_remove(&db->docs, doc->id);
    doc_free(doc);
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
