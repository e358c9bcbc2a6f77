/*
 * apply_etl.c - ETL task definitions and their progress, as apply() rules
 * on them.
 *
 * ETL_PUT and ETL_DELETE are database administration: the caller needs
 * Admin on the source database (RavenDB: tasks are a database admin's
 * business), and the definition is validated here so that every node
 * holds the same, sane one (https URLs, a valid destination database
 * name, a bounded script, prefixes that are document ids). Whether the
 * script compiles is checked by the node that accepted the request: the
 * core has no JavaScript engine.
 *
 * ETL_PROGRESS comes from the node that runs the task, with its cluster
 * certificate as the caller (ClusterNode only). It names the task's
 * generation, so a report computed under an older definition is refused,
 * and it only ever raises progress: a retried or reordered report is
 * harmless. Every change here may let tombstones go (cr_tombstones_trim).
 */
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* A copy of @v (NULL for none). 0, or -1 when out of memory. */
static int strv_copy(char *const *v, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    if ((*out = calloc(n, sizeof **out)) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (((*out)[i] = strdup(v[i])) == NULL) {
            strv_free(*out, i);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

static enum cr_status source_db(struct apply_ctx *c, const char *what,
                                struct cr_database **out)
{
    const char *name = c->cmd->u.etl.db;
    enum cr_status rv;

    if ((rv = cr_authz_require_db(&c->id, name, CR_ACCESS_ADMIN, &c->err))) {
        return rv;
    }
    if ((*out = cr_db_find(c->st, name)) == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "database '%.128s' does not exist; cannot %s",
                            name != NULL ? name : "", what);
    }
    return CR_OK;
}

static enum cr_status validate(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    size_t i;

    if (!cr_etl_name_valid(cmd->u.etl.name)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "invalid ETL task name: use 1..128 characters "
                            "of A-Z a-z 0-9 _ . - not starting with '.'");
    }
    if (cmd->u.etl.n_urls == 0 || cmd->u.etl.n_urls > CR_ETL_URLS_MAX) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "an ETL task needs 1 to %d destination URLs",
                            CR_ETL_URLS_MAX);
    }
    for (i = 0; i < cmd->u.etl.n_urls; i++) {
        if (!cr_etl_url_valid(cmd->u.etl.urls[i])) {
            return cr_error_set(&c->err, CR_EINVAL,
                                "destination URL '%.128s' is not an "
                                "https:// URL of at most %d characters",
                                cmd->u.etl.urls[i], CR_ETL_URL_MAX);
        }
    }
    if (!cr_database_name_valid(cmd->u.etl.dest_db)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "invalid destination database name '%.128s'",
                            cmd->u.etl.dest_db != NULL ? cmd->u.etl.dest_db
                                                       : "");
    }
    if (cmd->u.etl.script == NULL || cmd->u.etl.script[0] == '\0' ||
        strlen(cmd->u.etl.script) > CR_ETL_SCRIPT_MAX) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "the transform script must have 1 to %d bytes",
                            CR_ETL_SCRIPT_MAX);
    }
    if (cmd->u.etl.n_prefixes > CR_ETL_PREFIXES_MAX) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "at most %d document id prefixes",
                            CR_ETL_PREFIXES_MAX);
    }
    for (i = 0; i < cmd->u.etl.n_prefixes; i++) {
        if (!cr_document_id_valid(cmd->u.etl.prefixes[i])) {
            return cr_error_set(&c->err, CR_EINVAL,
                                "prefix %zu is not a valid document id "
                                "prefix (1..512 bytes, no control "
                                "characters)",
                                i + 1);
        }
    }
    return CR_OK;
}

/* A task node built from the command, prefixes sorted and deduplicated
 * so that equal definitions are equal states. NULL when out of memory. */
static struct cr_etl_node *task_new(const struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_etl_node *n = calloc(1, sizeof *n);
    struct cr_etl_task *t;
    size_t i, j;

    if (n == NULL) {
        return NULL;
    }
    t = &n->t;
    if ((t->name = strdup(cmd->u.etl.name)) == NULL ||
        (t->db = strdup(cmd->u.etl.db)) == NULL ||
        (t->dest_db = strdup(cmd->u.etl.dest_db)) == NULL ||
        (t->script = strdup(cmd->u.etl.script)) == NULL ||
        strv_copy(cmd->u.etl.urls, cmd->u.etl.n_urls, &t->urls) != 0) {
        cr_etl_node_free(n);
        return NULL;
    }
    t->n_urls = cmd->u.etl.n_urls;
    if (strv_copy(cmd->u.etl.prefixes, cmd->u.etl.n_prefixes,
                  &t->prefixes) != 0) {
        cr_etl_node_free(n);
        return NULL;
    }
    t->n_prefixes = cmd->u.etl.n_prefixes;
    if (t->n_prefixes > 1) {
        qsort(t->prefixes, t->n_prefixes, sizeof *t->prefixes, str_cmp);
        for (i = 1, j = 1; i < t->n_prefixes; i++) {
            if (strcmp(t->prefixes[i], t->prefixes[j - 1]) == 0) {
                free(t->prefixes[i]);
            } else {
                t->prefixes[j++] = t->prefixes[i];
            }
        }
        t->n_prefixes = j;
    }
    n->node.key = t->name;
    t->generation = c->index;
    t->created_index = c->index;
    t->updated_ms = cmd->time_ms;
    return n;
}

enum cr_status cr_apply_etl_put(struct apply_ctx *c)
{
    struct cr_database *db;
    struct cr_etl_node *old, *n;
    enum cr_status rv;

    if ((rv = source_db(c, "define an ETL task", &db)) ||
        (rv = validate(c))) {
        return rv;
    }
    old = cr_etl_find(db, c->cmd->u.etl.name);
    if (old == NULL && db->etl.count >= CR_ETL_TASKS_MAX) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "database '%.128s' has %d ETL tasks already",
                            db->name, CR_ETL_TASKS_MAX);
    }
    if ((n = task_new(c)) == NULL) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    if (old != NULL) {
        /* An update keeps what was delivered (the destination has it)
         * unless asked to start again; the new generation stops reports
         * made under the old definition. */
        n->t.created_index = old->t.created_index;
        if (!c->cmd->u.etl.reset) {
            n->t.progress = old->t.progress;
            n->t.progress_ms = old->t.progress_ms;
        }
        cr_omap_remove(&db->etl, old->t.name);
        cr_etl_node_free(old);
    }
    cr_omap_insert(&db->etl, &n->node);
    cr_tombstones_trim(db);
    return CR_OK;
}

enum cr_status cr_apply_etl_delete(struct apply_ctx *c)
{
    struct cr_database *db;
    struct cr_etl_node *n;
    enum cr_status rv;

    if ((rv = source_db(c, "delete an ETL task", &db))) {
        return rv;
    }
    if ((n = cr_etl_find(db, c->cmd->u.etl.name)) == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "no ETL task '%.128s' in database '%.128s'",
                            c->cmd->u.etl.name != NULL ? c->cmd->u.etl.name
                                                       : "",
                            db->name);
    }
    cr_omap_remove(&db->etl, n->t.name);
    cr_etl_node_free(n);
    cr_tombstones_trim(db);
    return CR_OK;
}

enum cr_status cr_apply_etl_progress(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_database *db;
    struct cr_etl_node *n;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_NODE,
                               "reporting ETL progress", &c->err))) {
        return rv;
    }
    db = cr_db_find(c->st, cmd->u.etl.db);
    n = db != NULL ? cr_etl_find(db, cmd->u.etl.name) : NULL;
    if (n == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "no ETL task '%.128s' in database '%.128s'",
                            cmd->u.etl.name != NULL ? cmd->u.etl.name : "",
                            cmd->u.etl.db != NULL ? cmd->u.etl.db : "");
    }
    if (cmd->u.etl.generation != n->t.generation) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "ETL task '%.128s' was redefined at index %llu; "
                            "this report is for generation %llu",
                            n->t.name,
                            (unsigned long long)n->t.generation,
                            (unsigned long long)cmd->u.etl.generation);
    }
    if (cmd->u.etl.index >= c->index) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "progress %llu is not before this entry (%llu)",
                            (unsigned long long)cmd->u.etl.index,
                            (unsigned long long)c->index);
    }
    if (cmd->u.etl.index > n->t.progress) {
        n->t.progress = cmd->u.etl.index;
        n->t.progress_ms = cmd->time_ms;
        cr_tombstones_trim(db);
    }
    return CR_OK;
}
