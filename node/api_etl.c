/*
 * api_etl.c - /databases/{db}/admin/etl: define, list and delete ETL
 * tasks, test a transform script, read a task's status; and the ETL
 * metrics.
 *
 * Everything here needs Admin on the source database (RavenDB: ongoing
 * tasks are the database admin's); apply() checks it again for writes.
 * A definition's script is compiled here before it is proposed, so a
 * syntax error is a 400 now rather than a failing task later. The test
 * endpoint runs a script on a sample document on the thread pool, with
 * the runner's limits, and writes nothing. Status runs on the leader
 * (the route says so), which runs the tasks and knows their errors; lag
 * comes from the replicated progress, so every node's metrics agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "etl.h"
#include "etl_js.h"

/* The source database of the path, checked (name, Admin, exists).
 * Replies and returns NULL otherwise. */
static const char *etl_db(struct cr_api_call *call)
{
    const char *db = call->path_param;
    struct cr_error err;

    if (!cr_database_name_valid(db)) {
        cr_api_reply_error(call, CR_EINVAL, "invalid database name '%.64s'",
                           db);
        return NULL;
    }
    if (cr_authz_require_db(&call->id, db, CR_ACCESS_ADMIN, &err) != CR_OK) {
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return NULL;
    }
    if (!cr_state_db_exists(call->node->fsm.state, db)) {
        cr_api_reply_error(call, CR_ENOTFOUND, "database '%s' does not exist",
                           db);
        return NULL;
    }
    return db;
}

static bool task_name(struct cr_api_call *call, char *name, size_t len,
                      bool required)
{
    if (cr_http_query_get(call->req, "name", name, len) < 0) {
        name[0] = '\0';
        if (required) {
            cr_api_reply_error(call, CR_EINVAL,
                               "give the task as ?name=<task name>");
            return false;
        }
    }
    return true;
}

static json_t *strs_json(char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(v[i]));
    }
    return a;
}

static json_t *time_json(int64_t ms)
{
    char iso[32];

    if (ms <= 0) {
        return json_null();
    }
    cr_api_time_iso(ms / 1000, iso, sizeof iso);
    return json_string(iso);
}

static json_t *task_json(const struct cr_etl_task *t)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:I, s:I, s:o, s:I, s:o}",
                     "Name", t->name, "Database", t->db, "DestinationUrls",
                     strs_json(t->urls, t->n_urls), "DestinationDatabase",
                     t->dest_db, "Script", t->script, "Prefixes",
                     strs_json(t->prefixes, t->n_prefixes), "CreatedIndex",
                     (json_int_t)t->created_index, "Generation",
                     (json_int_t)t->generation, "UpdatedAt",
                     time_json(t->updated_ms), "ProgressIndex",
                     (json_int_t)t->progress, "ProgressAt",
                     time_json(t->progress_ms));
}

/* --- GET ----------------------------------------------------------------- */

static bool list_visit(const struct cr_etl_task *t, void *arg)
{
    json_array_append_new(arg, task_json(t));
    return true;
}

void cr_api_etl_get(struct cr_api_call *call)
{
    const char *db = etl_db(call);
    const struct cr_etl_task *t;
    char name[160];
    json_t *results;

    if (db == NULL || !task_name(call, name, sizeof name, false)) {
        return;
    }
    if (name[0] != '\0') {
        t = cr_state_etl_find(call->node->fsm.state, db, name);
        if (t == NULL) {
            cr_api_reply_error(call, CR_ENOTFOUND,
                               "no ETL task '%s' in database '%s'", name, db);
            return;
        }
        cr_api_reply_json(call, 200, task_json(t));
        return;
    }
    results = json_array();
    cr_state_etl_foreach(call->node->fsm.state, db, list_visit, results);
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Results", results));
}

/* --- PUT ----------------------------------------------------------------- */

struct put_ctx {
    char name[160];
    char db[160];
};

static void put_done(struct cr_api_call *call,
                     const struct cr_apply_result *res)
{
    struct put_ctx *p = call->ctx;

    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 201,
                          json_pack("{s:s, s:s, s:I}", "Name", p->name,
                                    "Database", p->db, "Generation",
                                    (json_int_t)call->index));
    }
}

/* A JSON array of strings as a borrowed char* vector (malloc'ed); -1 and
 * a reply when it is not one. */
static int strs_of(struct cr_api_call *call, json_t *a, const char *field,
                   char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (a == NULL) {
        return 0;
    }
    if (json_is_string(a)) { /* one URL or prefix given alone */
        if ((*out = malloc(sizeof **out)) == NULL) {
            cr_api_reply_error(call, CR_ENOMEM, "out of memory");
            return -1;
        }
        (*out)[0] = (char *)json_string_value(a);
        *n = 1;
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > 64) {
        cr_api_reply_error(call, CR_EINVAL,
                           "%s must be an array of at most 64 strings", field);
        return -1;
    }
    if ((*out = calloc(json_array_size(a) + 1, sizeof **out)) == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL) {
            free(*out);
            *out = NULL;
            cr_api_reply_error(call, CR_EINVAL, "%s must hold strings", field);
            return -1;
        }
        (*out)[(*n)++] = (char *)s;
    }
    return 0;
}

static json_t *first_of(json_t *body, const char *a, const char *b)
{
    json_t *v = json_object_get(body, a);
    return v != NULL ? v : json_object_get(body, b);
}

void cr_api_etl_put(struct cr_api_call *call)
{
    const char *db = etl_db(call);
    struct cr_command cmd;
    struct cr_etl_js *js;
    struct put_ctx *p;
    json_t *body;
    const char *name, *dest, *script;
    char **urls = NULL, **prefixes = NULL, err[512];
    size_t n_urls = 0, n_prefixes = 0;

    if (db == NULL || (body = cr_api_body_json(call)) == NULL) {
        return;
    }
    name = json_string_value(json_object_get(body, "Name"));
    dest = json_string_value(json_object_get(body, "DestinationDatabase"));
    script = json_string_value(json_object_get(body, "Script"));
    if (name == NULL || dest == NULL || script == NULL) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "the body needs Name, DestinationUrls, "
                           "DestinationDatabase and Script (Prefixes and "
                           "Reset are optional)");
        return;
    }
    if (strs_of(call, first_of(body, "DestinationUrls", "Urls"),
                "DestinationUrls", &urls, &n_urls) != 0 ||
        strs_of(call, json_object_get(body, "Prefixes"), "Prefixes",
                &prefixes, &n_prefixes) != 0) {
        free(urls);
        json_decref(body);
        return;
    }
    js = strlen(script) <= CR_ETL_SCRIPT_MAX
             ? cr_etl_js_new(script, NULL, err, sizeof err)
             : NULL;
    if (js == NULL) {
        if (strlen(script) > CR_ETL_SCRIPT_MAX) {
            snprintf(err, sizeof err, "the script is longer than %d bytes",
                     CR_ETL_SCRIPT_MAX);
        }
        free(urls);
        free(prefixes);
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL, "%s", err);
        return;
    }
    cr_etl_js_free(js);
    if ((p = calloc(1, sizeof *p)) == NULL) {
        free(urls);
        free(prefixes);
        json_decref(body);
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->db, sizeof p->db, "%s", db);
    call->ctx = p;
    call->ctx_free = free;
    cr_api_command_init(call, &cmd, CR_CMD_ETL_PUT);
    cmd.u.etl.db = (char *)db;
    cmd.u.etl.name = (char *)name;
    cmd.u.etl.urls = urls;
    cmd.u.etl.n_urls = n_urls;
    cmd.u.etl.dest_db = (char *)dest;
    cmd.u.etl.script = (char *)script;
    cmd.u.etl.prefixes = prefixes;
    cmd.u.etl.n_prefixes = n_prefixes;
    cmd.u.etl.reset = json_is_true(json_object_get(body, "Reset"));
    /* Encoded before it returns: the borrowed strings may go after. */
    cr_api_propose(call, &cmd, put_done);
    free(urls);
    free(prefixes);
    json_decref(body);
}

/* --- DELETE -------------------------------------------------------------- */

static void delete_done(struct cr_api_call *call,
                        const struct cr_apply_result *res)
{
    struct put_ctx *p = call->ctx;

    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:s, s:b}", "Name", p->name,
                                    "Database", p->db, "Deleted", 1));
    }
}

void cr_api_etl_delete(struct cr_api_call *call)
{
    const char *db = etl_db(call);
    struct cr_command cmd;
    struct put_ctx *p;

    if (db == NULL) {
        return;
    }
    if ((p = calloc(1, sizeof *p)) == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    call->ctx = p;
    call->ctx_free = free;
    if (!task_name(call, p->name, sizeof p->name, true)) {
        return;
    }
    snprintf(p->db, sizeof p->db, "%s", db);
    cr_api_command_init(call, &cmd, CR_CMD_ETL_DELETE);
    cmd.u.etl.db = (char *)db;
    cmd.u.etl.name = p->name;
    cr_api_propose(call, &cmd, delete_done);
}

/* --- POST test ----------------------------------------------------------- */

struct test_run {
    uv_work_t work;
    struct cr_api_call *call;
    char *script;
    char *id;
    char *json;
    size_t len;
    /* out */
    struct cr_etl_js_output out;
    char error[512];
    int64_t ms;
};

static void test_run_free(void *arg)
{
    struct test_run *t = arg;

    free(t->script);
    free(t->id);
    free(t->json);
    cr_etl_js_output_free(&t->out);
    free(t);
}

static void test_work(uv_work_t *w)
{
    struct test_run *t = w->data;
    struct cr_etl_js *js;
    int64_t start = cr_now_ms();

    js = cr_etl_js_new(t->script, NULL, t->error, sizeof t->error);
    if (js != NULL) {
        cr_etl_js_run(js, t->id, t->json, t->len, &t->out, t->error,
                      sizeof t->error);
        cr_etl_js_free(js);
    }
    t->ms = cr_now_ms() - start;
}

static void test_after(uv_work_t *w, int status)
{
    struct test_run *t = w->data;
    struct cr_api_call *call = t->call;
    json_t *results = json_array();
    char sub[560];

    (void)status;
    for (size_t i = 0; i < t->out.n; i++) {
        json_t *doc = json_loadb(t->out.json[i], t->out.len[i],
                                 JSON_DECODE_ANY, NULL);
        /* The ids the runner would write: RavenDB's rule. */
        if (t->out.n == 1) {
            snprintf(sub, sizeof sub, "%s", t->id);
        } else {
            snprintf(sub, sizeof sub, "%s/%zu", t->id, i + 1);
        }
        json_array_append_new(results,
                              json_pack("{s:s, s:o}", "Id", sub, "Document",
                                        doc != NULL ? doc : json_null()));
    }
    cr_api_reply_json(call, 200,
                      json_pack("{s:s, s:o, s:o, s:I}", "Id", t->id,
                                "Results", results, "Error",
                                t->error[0] ? json_string(t->error)
                                            : json_null(),
                                "DurationMs", (json_int_t)t->ms));
}

void cr_api_etl_test(struct cr_api_call *call)
{
    const char *db = etl_db(call); /* on failure @call is gone */
    const struct cr_state *st;
    const char *script, *id, *name, *stored;
    struct test_run *t;
    json_t *body, *doc;
    size_t len = 0;

    if (db == NULL || (body = cr_api_body_json(call)) == NULL) {
        return;
    }
    st = call->node->fsm.state;
    if ((t = calloc(1, sizeof *t)) == NULL) {
        json_decref(body);
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    call->ctx = t;
    call->ctx_free = test_run_free;
    t->call = call;
    script = json_string_value(json_object_get(body, "Script"));
    name = json_string_value(json_object_get(body, "Name"));
    if (script == NULL && name != NULL) {
        const struct cr_etl_task *task = cr_state_etl_find(st, db, name);
        script = task != NULL ? task->script : NULL;
    }
    id = json_string_value(json_object_get(body, "DocumentId"));
    doc = json_object_get(body, "Document");
    if (script == NULL || (id == NULL && doc == NULL)) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "the body needs Script (or the Name of a task) "
                           "and Document (a sample) or DocumentId");
        return;
    }
    if (doc != NULL) {
        t->json = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        t->len = t->json != NULL ? strlen(t->json) : 0;
    } else if ((stored = cr_state_doc_get(st, db, id, &len)) != NULL) {
        if ((t->json = malloc(len + 1)) != NULL) {
            memcpy(t->json, stored, len + 1);
            t->len = len;
        }
    } else {
        json_decref(body);
        cr_api_reply_error(call, CR_ENOTFOUND,
                           "document '%.128s' does not exist in '%s'", id, db);
        return;
    }
    t->script = strdup(script);
    t->id = strdup(id != NULL ? id : "sample/1");
    json_decref(body);
    t->work.data = t;
    if (t->json == NULL || t->script == NULL || t->id == NULL ||
        uv_queue_work(call->node->loop, &t->work, test_work, test_after) !=
            0) {
        cr_api_reply_error(call, CR_ENOMEM, "cannot run the script");
    }
}

/* --- status ---------------------------------------------------------------- */

struct status_ctx {
    struct cr_api_call *call;
    json_t *results;
};

static const char *state_of(const struct cr_etl_slot *s, uint64_t lag)
{
    if (s == NULL) {
        return "NotRunning";
    }
    if (s->failures > 0) {
        return "Retrying";
    }
    if (s->pin[0] == '\0') {
        return "Connecting";
    }
    return lag > 0 ? "Running" : "CaughtUp";
}

static json_t *status_json(struct cr_node *node, const struct cr_etl_task *t)
{
    const struct cr_etl_slot *s = cr_etl_slot_find(node, t->db, t->name);
    uint64_t lag, last;
    int64_t oldest, now = cr_now_ms();
    json_t *o;

    cr_state_etl_lag(node->fsm.state, t, &lag, &last, &oldest);
    o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:f, s:I}",
                  "Name", t->name, "Database", t->db, "DestinationDatabase",
                  t->dest_db, "DestinationUrls", strs_json(t->urls, t->n_urls),
                  "State", state_of(s, lag), "Generation",
                  (json_int_t)t->generation, "ProgressIndex",
                  (json_int_t)t->progress, "LagEntries", (json_int_t)lag,
                  "LagSeconds",
                  lag > 0 && oldest > 0 && now > oldest
                      ? (double)(now - oldest) / 1000.0
                      : 0.0,
                  "LastChangeIndex", (json_int_t)last);
    json_object_set_new(o, "ProgressAt", time_json(t->progress_ms));
    if (s == NULL) {
        json_object_set_new(o, "RunningOn", json_null());
        return o;
    }
    json_object_set_new(o, "RunningOn",
                        json_integer((json_int_t)node->config.id));
    json_object_set_new(o, "DeliveredIndex",
                        json_integer((json_int_t)s->delivered));
    json_object_set_new(
        o, "LastError",
        s->last_error[0]
            ? json_pack("{s:s, s:I, s:o}", "Message", s->last_error,
                        "HttpStatus", (json_int_t)s->last_http_status, "At",
                        time_json(s->last_error_ms))
            : json_null());
    json_object_set_new(o, "ConsecutiveFailures",
                        json_integer((json_int_t)s->failures));
    json_object_set_new(
        o, "NextAttemptInMs",
        json_integer(s->failures > 0 && s->next_ms > now
                         ? (json_int_t)(s->next_ms - now)
                         : 0));
    json_object_set_new(o, "LastSuccessAt", time_json(s->last_success_ms));
    json_object_set_new(o, "ScriptErrors",
                        json_integer((json_int_t)s->script_errors));
    json_object_set_new(
        o, "LastScriptError",
        s->last_script_error[0]
            ? json_pack("{s:s, s:s, s:o}", "DocumentId",
                        s->last_script_error_id, "Message",
                        s->last_script_error, "At",
                        time_json(s->last_script_error_ms))
            : json_null());
    json_object_set_new(o, "DocumentsLoaded",
                        json_integer((json_int_t)s->loaded));
    json_object_set_new(o, "DocumentsDeleted",
                        json_integer((json_int_t)s->deleted));
    json_object_set_new(o, "Batches", json_integer((json_int_t)s->batches));
    return o;
}

static bool status_visit(const struct cr_etl_task *t, void *arg)
{
    struct status_ctx *c = arg;

    json_array_append_new(c->results, status_json(c->call->node, t));
    return true;
}

void cr_api_etl_status(struct cr_api_call *call)
{
    const char *db = etl_db(call);
    const struct cr_etl_task *t;
    struct status_ctx c;
    char name[160];

    if (db == NULL || !task_name(call, name, sizeof name, false)) {
        return;
    }
    if (name[0] != '\0') {
        t = cr_state_etl_find(call->node->fsm.state, db, name);
        if (t == NULL) {
            cr_api_reply_error(call, CR_ENOTFOUND,
                               "no ETL task '%s' in database '%s'", name, db);
            return;
        }
        cr_api_reply_json(call, 200, status_json(call->node, t));
        return;
    }
    c.call = call;
    c.results = json_array();
    cr_state_etl_foreach(call->node->fsm.state, db, status_visit, &c);
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Results", c.results));
}

/* --- metrics --------------------------------------------------------------- */

struct metrics_ctx {
    struct cr_node *node;
    char *text;
    size_t len;
    int64_t now;
    bool oom;
};

static void append(struct metrics_ctx *m, const char *s)
{
    size_t n = strlen(s);
    char *p;

    if (m->oom || (p = realloc(m->text, m->len + n + 1)) == NULL) {
        m->oom = true;
        return;
    }
    memcpy(p + m->len, s, n + 1);
    m->text = p;
    m->len += n;
}

static bool metrics_visit(const struct cr_etl_task *t, void *arg)
{
    struct metrics_ctx *m = arg;
    const struct cr_etl_slot *s = cr_etl_slot_find(m->node, t->db, t->name);
    uint64_t lag, last;
    int64_t oldest;
    char line[1024];

    cr_state_etl_lag(m->node->fsm.state, t, &lag, &last, &oldest);
    snprintf(line, sizeof line,
             "certraft_etl_lag_entries{db=\"%s\",task=\"%s\"} %llu\n"
             "certraft_etl_lag_seconds{db=\"%s\",task=\"%s\"} %.3f\n"
             "certraft_etl_progress_index{db=\"%s\",task=\"%s\"} %llu\n",
             t->db, t->name, (unsigned long long)lag, t->db, t->name,
             lag > 0 && oldest > 0 && m->now > oldest
                 ? (double)(m->now - oldest) / 1000.0
                 : 0.0,
             t->db, t->name, (unsigned long long)t->progress);
    append(m, line);
    if (s != NULL) {
        snprintf(line, sizeof line,
                 "certraft_etl_failures{db=\"%s\",task=\"%s\"} %u\n"
                 "certraft_etl_script_errors_total{db=\"%s\",task=\"%s\"} "
                 "%llu\n"
                 "certraft_etl_documents_loaded_total{db=\"%s\",task=\"%s\"} "
                 "%llu\n",
                 t->db, t->name, s->failures, t->db, t->name,
                 (unsigned long long)s->script_errors, t->db, t->name,
                 (unsigned long long)s->loaded);
        append(m, line);
    }
    return true;
}

char *cr_etl_metrics_text(struct cr_node *node)
{
    struct metrics_ctx m = {node, NULL, 0, cr_now_ms(), false};

    append(&m,
           "# HELP certraft_etl_lag_entries Changes an ETL task has yet to "
           "deliver (from the replicated progress).\n"
           "# TYPE certraft_etl_lag_entries gauge\n"
           "# HELP certraft_etl_lag_seconds Age of the oldest change an ETL "
           "task has yet to deliver.\n"
           "# TYPE certraft_etl_lag_seconds gauge\n"
           "# HELP certraft_etl_progress_index Last source change index the "
           "destination acknowledged.\n"
           "# TYPE certraft_etl_progress_index gauge\n"
           "# HELP certraft_etl_failures Consecutive failed attempts (on the "
           "node running the task).\n"
           "# TYPE certraft_etl_failures gauge\n"
           "# HELP certraft_etl_script_errors_total Documents the transform "
           "script failed on (on the node running the task).\n"
           "# TYPE certraft_etl_script_errors_total counter\n"
           "# HELP certraft_etl_documents_loaded_total Documents written to "
           "the destination (on the node running the task).\n"
           "# TYPE certraft_etl_documents_loaded_total counter\n");
    cr_state_etl_foreach(node->fsm.state, NULL, metrics_visit, &m);
    if (m.oom) {
        free(m.text);
        return NULL;
    }
    return m.text;
}
