/*
 * etl_runner.c - the leader runs every ETL task: batches of changes,
 * transformed and delivered on the thread pool, then ETL_PROGRESS.
 *
 * Per task, one slot in node->etl (etl.h) holds what the log does not:
 * whether a batch is out, how far the destination has acknowledged
 * (`delivered`, which runs ahead of the committed progress so the next
 * batch need not wait for the commit), backoff and the status shown to
 * users. The cycle, from the node's tick (every 100 ms):
 *
 *   1. Not the leader: forget the slots (a batch still out is discarded
 *      when it returns). The new leader starts from the progress in the
 *      log: at most one batch is delivered twice, and since destination
 *      ids are deterministic (RavenDB's: the source id for one loadTo,
 *      <id>/<n> for several) a repeat overwrites, never duplicates.
 *   2. No trusted key for the destination yet: a probe finds the key it
 *      serves, which must be registered here (etl_http.h).
 *   3. Collect up to BATCH_DOCS changes after max(progress, delivered)
 *      that the task reads, copy them (the state changes under us), and
 *      run them on the thread pool: transform each (a script error skips
 *      that document and is recorded), then PUT the outputs and DELETE
 *      what a document no longer produces. When every document yields at
 *      most one request they are independent and PARALLEL go at once;
 *      a script that loads several per document goes one request at a
 *      time, in change order. Either way what counts as delivered is the
 *      prefix of the batch that fully succeeded; the first refusal stops
 *      the rest.
 *   4. Back on the loop: propose ETL_PROGRESS for the prefix that was
 *      delivered, and on an error back off (250 ms doubling to 5 s) with
 *      the error in the status; a 403 from the destination simply keeps
 *      failing, writing nothing, until access is restored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <certraft/state.h>

#include "etl.h"
#include "etl_http.h"
#include "etl_js.h"
#include "node.h"

#define BATCH_DOCS 256
#define BATCH_BYTES (8u * 1024 * 1024)
#define SCAN_MAX 20000u /* changes looked at per task and tick */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define REPROPOSE_MS 3000
#define PARALLEL 8 /* requests in flight to the destination per batch */

/* --- slots ------------------------------------------------------------- */

const struct cr_etl_slot *cr_etl_slot_find(struct cr_node *node,
                                           const char *db, const char *name)
{
    for (size_t i = 0; i < CR_ETL_SLOTS; i++) {
        const struct cr_etl_slot *s = &node->etl.slot[i];
        if (s->used && strcmp(s->db, db) == 0 && strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

static struct cr_etl_slot *slot_by_epoch(struct cr_node *node, uint64_t epoch)
{
    for (size_t i = 0; i < CR_ETL_SLOTS; i++) {
        struct cr_etl_slot *s = &node->etl.slot[i];
        if (s->used && s->epoch == epoch) {
            return s;
        }
    }
    return NULL;
}

/* Start (again) on generation @t->generation of a task. */
static void slot_reset(struct cr_node *node, struct cr_etl_slot *s,
                       const struct cr_etl_task *t)
{
    const char *p = t->script;
    int load_calls = 0;

    memset(s, 0, sizeof *s);
    s->used = true;
    snprintf(s->db, sizeof s->db, "%s", t->db);
    snprintf(s->name, sizeof s->name, "%s", t->name);
    s->generation = t->generation;
    s->epoch = ++node->etl.next_epoch;
    /* A script that calls loadTo in more than one place may load several
     * documents per source; then stale <id>/<n> are looked for too. */
    while ((p = strstr(p, "loadTo")) != NULL) {
        load_calls++;
        p += 6;
    }
    s->multi = load_calls > 1;
}

static void backoff(struct cr_etl_slot *s, int64_t now)
{
    int64_t wait = BACKOFF_MIN_MS;

    s->failures++;
    for (unsigned i = 1; i < s->failures && wait < BACKOFF_MAX_MS; i++) {
        wait *= 2;
    }
    s->next_ms = now + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
}

static void fail(struct cr_etl_slot *s, long http_status, const char *msg)
{
    int64_t now = cr_now_ms();

    snprintf(s->last_error, sizeof s->last_error, "%s", msg);
    s->last_http_status = http_status;
    s->last_error_ms = now;
    backoff(s, now);
}

/* --- progress ---------------------------------------------------------- */

struct progress {
    struct raft_apply req;
    struct cr_node *node;
    uint64_t epoch;
};

static void progress_cb(struct raft_apply *req, int status, void *result)
{
    struct progress *p = req->data;
    struct cr_etl_slot *s = slot_by_epoch(p->node, p->epoch);

    (void)status;
    (void)result;
    if (s != NULL && s->proposing > 0) {
        s->proposing--;
    }
    free(p);
}

static void propose_progress(struct cr_node *node, struct cr_etl_slot *s,
                             uint64_t index)
{
    struct cr_command cmd;
    struct cr_buf out = {0};
    struct raft_buffer buf;
    struct progress *p;

    memset(&cmd, 0, sizeof cmd);
    cmd.type = CR_CMD_ETL_PROGRESS;
    memcpy(cmd.caller, node->cert_thumbprint, sizeof cmd.caller);
    cmd.time_ms = cr_now_ms();
    cmd.u.etl.db = s->db;
    cmd.u.etl.name = s->name;
    cmd.u.etl.generation = s->generation;
    cmd.u.etl.index = index;
    s->proposed_ms = cmd.time_ms;
    if (cr_command_encode(&cmd, &out, NULL) != CR_OK ||
        cr_fsm_frame(out.data, out.len, &buf) != 0) {
        cr_buf_free(&out);
        return; /* re-proposed on a later tick */
    }
    cr_buf_free(&out);
    if ((p = calloc(1, sizeof *p)) == NULL) {
        raft_free(buf.base);
        return;
    }
    p->node = node;
    p->epoch = s->epoch;
    p->req.data = p;
    if (raft_apply(&node->raft, &p->req, &buf, 1, progress_cb) != 0) {
        raft_free(buf.base);
        free(p);
        return;
    }
    s->proposing++;
}

/* --- batches ----------------------------------------------------------- */

struct item {
    char *id;
    char *json; /* NULL: deleted */
    size_t len;
    uint64_t index;
};

struct batch {
    uv_work_t work;
    struct cr_node *node;
    uint64_t epoch, generation;
    bool probe;
    /* in: copies, since the state and the node's identity may change */
    char *script;
    char **urls;
    size_t n_urls;
    unsigned url_next;
    char *dest_db;
    char pin[64];
    char *cert_pem, *key_pem;
    struct item *items;
    size_t n, cap, bytes;
    uint64_t scan_end; /* last change index looked at */
    bool multi;
    /* out */
    bool all_done;
    uint64_t done_index;
    uint64_t loaded, deleted, script_errors;
    char script_error[512];
    char script_error_id[520];
    bool saw_multi;
    long http_status;
    char error[512];
    bool lost_pin;
    char found_pin[64];
    char found_thumb[65];
};

static void batch_free(struct batch *b)
{
    if (b == NULL) {
        return;
    }
    free(b->script);
    for (size_t i = 0; b->urls != NULL && i < b->n_urls; i++) {
        free(b->urls[i]);
    }
    free(b->urls);
    free(b->dest_db);
    if (b->key_pem != NULL) {
        OPENSSL_cleanse(b->key_pem, strlen(b->key_pem));
    }
    free(b->cert_pem);
    free(b->key_pem);
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].id);
        free(b->items[i].json);
    }
    free(b->items);
    free(b);
}

static bool stopping(const struct batch *b)
{
    /* Written on the loop thread only; a stale read costs one request. */
    return __atomic_load_n(&b->node->stopping, __ATOMIC_RELAXED);
}

/* The error message of a certraft reply ({"Error": ...}), or the body. */
static void reply_message(const char *body, char *out, size_t outlen)
{
    json_t *j = body != NULL ? json_loads(body, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(j, "Error"));

    snprintf(out, outlen, "%s", e != NULL ? e : body != NULL ? body : "");
    json_decref(j);
}

/* One request to the destination; on a connection failure the next URL
 * is tried. true when it answered with one of @ok1/@ok2. */
static bool send_one(struct batch *b, struct cr_etl_http *http,
                     const char *method, const char *id, const char *body,
                     size_t len, long ok1, long ok2)
{
    char *esc = cr_etl_http_escape(id), *resp = NULL, err[256] = "";
    long status = 0;

    if (esc == NULL) {
        snprintf(b->error, sizeof b->error, "out of memory");
        return false;
    }
    for (size_t tries = 0; tries < b->n_urls && !stopping(b); tries++) {
        const char *base = b->urls[b->url_next % b->n_urls];
        size_t n = strlen(base) + strlen(b->dest_db) + strlen(esc) + 32;
        char *url = malloc(n);
        if (url == NULL) {
            break;
        }
        snprintf(url, n, "%s/databases/%s/docs?id=%s", base, b->dest_db, esc);
        free(resp);
        resp = NULL;
        status = cr_etl_http_request(http, method, url, b->pin, body, len,
                                     &resp, err, sizeof err);
        free(url);
        if (status != 0 || strstr(err, "pin mismatch") != NULL) {
            break;
        }
        b->url_next++; /* that node is down: the next one */
    }
    free(esc);
    if (status == ok1 || status == ok2) {
        free(resp);
        return true;
    }
    b->http_status = status;
    if (status == 0) {
        b->lost_pin = strstr(err, "pin mismatch") != NULL;
        snprintf(b->error, sizeof b->error,
                 "destination unreachable: %s", err[0] ? err : "stopping");
    } else {
        char msg[400];
        reply_message(resp, msg, sizeof msg);
        snprintf(b->error, sizeof b->error,
                 "destination refused %s of '%.100s' with HTTP %ld: %s",
                 method, id, status, msg);
    }
    free(resp);
    return false;
}

/* Derived documents <id>/<k> with k > @keep that an earlier version of
 * the source left behind (only for scripts that load several). */
static bool delete_stale(struct batch *b, struct cr_etl_http *http,
                         const char *id, size_t keep)
{
    size_t n = strlen(id);
    char *esc = cr_etl_http_escape(id), *resp = NULL, err[256];
    char *url;
    json_t *j, *results;
    size_t i;
    bool ok = true;

    if (esc == NULL ||
        (url = malloc(strlen(b->urls[b->url_next % b->n_urls]) +
                      strlen(b->dest_db) + strlen(esc) + 64)) == NULL) {
        free(esc);
        snprintf(b->error, sizeof b->error, "out of memory");
        return false;
    }
    sprintf(url, "%s/databases/%s/docs?startsWith=%s/&pageSize=1024",
            b->urls[b->url_next % b->n_urls], b->dest_db, esc);
    free(esc);
    if (cr_etl_http_request(http, "GET", url, b->pin, NULL, 0, &resp, err,
                            sizeof err) != 200) {
        free(url);
        free(resp);
        snprintf(b->error, sizeof b->error,
                 "cannot list derived documents of '%.100s'", id);
        return false;
    }
    free(url);
    j = json_loads(resp != NULL ? resp : "", 0, NULL);
    free(resp);
    results = json_object_get(j, "Results");
    for (i = 0; ok && i < json_array_size(results); i++) {
        const char *d = json_string_value(
            json_object_get(json_array_get(results, i), "Id"));
        char *end;
        unsigned long k;
        if (d == NULL || strncmp(d, id, n) != 0 || d[n] != '/' ||
            d[n + 1] < '1' || d[n + 1] > '9') {
            continue;
        }
        k = strtoul(d + n + 1, &end, 10);
        if (*end == '\0' && k > keep) {
            ok = send_one(b, http, "DELETE", d, NULL, 0, 200, 404);
        }
    }
    json_decref(j);
    return ok;
}

/* Deliver what one source document now produces. */
static bool deliver(struct batch *b, struct cr_etl_http *http,
                    const struct item *it, const struct cr_etl_js_output *out)
{
    size_t n = out != NULL ? out->n : 0;

    if (n == 0) {
        if (!send_one(b, http, "DELETE", it->id, NULL, 0, 200, 404)) {
            return false;
        }
    } else if (n == 1) {
        if (!send_one(b, http, "PUT", it->id, out->json[0], out->len[0], 201,
                      200)) {
            return false;
        }
        b->loaded++;
    } else {
        char sub[560];
        b->saw_multi = true;
        for (size_t k = 0; k < n; k++) {
            snprintf(sub, sizeof sub, "%s/%zu", it->id, k + 1);
            if (!send_one(b, http, "PUT", sub, out->json[k], out->len[k], 201,
                          200)) {
                return false;
            }
            b->loaded++;
        }
        if (!send_one(b, http, "DELETE", it->id, NULL, 0, 200, 404)) {
            return false;
        }
    }
    if (it->json == NULL) {
        b->deleted++;
    }
    /* One output lives at <id>: then every <id>/<k> is stale. */
    return !(b->multi || b->saw_multi) ||
           delete_stale(b, http, it->id, n > 1 ? n : 0);
}

static void probe_work(struct batch *b, struct cr_etl_http *http)
{
    char err[256] = "";

    for (size_t tries = 0; tries < b->n_urls && !stopping(b); tries++) {
        const char *url = b->urls[b->url_next % b->n_urls];
        long status = cr_etl_http_probe(http, url, b->found_pin,
                                        sizeof b->found_pin, b->found_thumb,
                                        sizeof b->found_thumb, NULL, err,
                                        sizeof err);
        if (b->found_pin[0] != '\0') {
            b->http_status = status;
            return;
        }
        b->url_next++;
    }
    snprintf(b->error, sizeof b->error,
             "destination unreachable: %s", err[0] ? err : "no answer");
}

/* Run the script on every document of the batch first; a script error
 * leaves that document's slot in @skip set (it is recorded, and
 * skipped). false when the script itself cannot be loaded. */
static bool transform_all(struct batch *b, struct cr_etl_js_output *outs,
                          bool *skip)
{
    struct cr_etl_js *js = NULL;
    char err[512];

    for (size_t i = 0; i < b->n && !stopping(b); i++) {
        const struct item *it = &b->items[i];
        if (it->json == NULL) {
            continue; /* a deletion: nothing to run */
        }
        if (js == NULL &&
            (js = cr_etl_js_new(b->script, NULL, err, sizeof err)) == NULL) {
            snprintf(b->error, sizeof b->error, "%s", err);
            return false;
        }
        if (cr_etl_js_run(js, it->id, it->json, it->len, &outs[i], err,
                          sizeof err) != 0) {
            /* This document stops here; the others go on. */
            skip[i] = true;
            b->script_errors++;
            snprintf(b->script_error, sizeof b->script_error, "%s", err);
            snprintf(b->script_error_id, sizeof b->script_error_id, "%s",
                     it->id);
            if (cr_etl_js_tainted(js)) {
                cr_etl_js_free(js); /* a clean heap for the next one */
                js = NULL;
            }
        } else if (outs[i].n > 1) {
            b->saw_multi = true;
        }
    }
    cr_etl_js_free(js);
    return true;
}

/* In change order, one request at a time: needed when a document may
 * produce several (its PUTs and DELETEs must not overtake each other). */
static void deliver_in_order(struct batch *b, struct cr_etl_http *http,
                             const struct cr_etl_js_output *outs,
                             const bool *skip)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        const struct item *it = &b->items[i];
        if (stopping(b)) {
            snprintf(b->error, sizeof b->error, "the node is stopping");
            break;
        }
        if (!skip[i] &&
            !deliver(b, http, it, it->json != NULL ? &outs[i] : NULL)) {
            break;
        }
        b->done_index = it->index;
    }
    b->all_done = i == b->n && b->error[0] == '\0';
}

/* <base>/databases/<dest>/docs?id=<id> (malloc'ed), or NULL. */
static char *doc_url(const struct batch *b, const char *base, const char *id)
{
    char *esc = cr_etl_http_escape(id), *url = NULL;
    size_t len;

    if (esc != NULL &&
        (url = malloc((len = strlen(base) + strlen(b->dest_db) + strlen(esc) +
                             32))) != NULL) {
        snprintf(url, len, "%s/databases/%s/docs?id=%s", base, b->dest_db,
                 esc);
    }
    free(esc);
    return url;
}

/* Every document yields at most one request (PUT or DELETE of its own
 * id), so they are independent: PAR of them at a time. Progress is the
 * prefix of the batch, in change order, that fully succeeded. */
static void deliver_parallel(struct batch *b, struct cr_etl_http *http,
                             const struct cr_etl_js_output *outs,
                             const bool *skip)
{
    struct cr_etl_http_op *ops = calloc(b->n + 1, sizeof *ops);
    size_t *op_of = calloc(b->n + 1, sizeof *op_of), n_ops = 0, i;
    bool *absent = calloc(b->n + 1, sizeof *absent);
    const char *base = b->urls[b->url_next % b->n_urls];

    if (ops == NULL || op_of == NULL || absent == NULL) {
        snprintf(b->error, sizeof b->error, "out of memory");
        goto out;
    }
    /* A document the script filters out may never have reached the
     * destination: look first (a read), so that only those that did cost
     * a DELETE (a write to the destination's log). */
    for (i = 0; i < b->n; i++) {
        if (!skip[i] && b->items[i].json != NULL && outs[i].n == 0) {
            if ((ops[n_ops].url = doc_url(b, base, b->items[i].id)) == NULL) {
                snprintf(b->error, sizeof b->error, "out of memory");
                goto out;
            }
            ops[n_ops].method = "GET";
            ops[n_ops].ok1 = 200;
            ops[n_ops].ok2 = 404;
            op_of[i] = n_ops++;
        }
    }
    if (n_ops > 0) {
        cr_etl_http_parallel(http, ops, n_ops, PARALLEL, b->pin);
        for (i = 0; i < b->n; i++) {
            if (!skip[i] && b->items[i].json != NULL && outs[i].n == 0) {
                absent[i] = ops[op_of[i]].started &&
                            ops[op_of[i]].status == 404;
            }
        }
        for (i = 0; i < n_ops; i++) {
            free(ops[i].url);
            free(ops[i].resp);
        }
        memset(ops, 0, (b->n + 1) * sizeof *ops);
        n_ops = 0;
    }
    for (i = 0; i < b->n; i++) {
        const struct item *it = &b->items[i];
        struct cr_etl_http_op *op = &ops[n_ops];
        bool put = it->json != NULL && outs[i].n == 1;

        op_of[i] = SIZE_MAX;
        if (skip[i] || absent[i]) {
            continue;
        }
        if ((op->url = doc_url(b, base, it->id)) == NULL) {
            snprintf(b->error, sizeof b->error, "out of memory");
            goto out;
        }
        op->method = put ? "PUT" : "DELETE";
        op->body = put ? outs[i].json[0] : NULL;
        op->body_len = put ? outs[i].len[0] : 0;
        op->ok1 = put ? 201 : 200;
        op->ok2 = put ? 200 : 404;
        op_of[i] = n_ops++;
    }
    cr_etl_http_parallel(http, ops, n_ops, PARALLEL, b->pin);
    for (i = 0; i < b->n; i++) {
        const struct item *it = &b->items[i];
        const struct cr_etl_http_op *op =
            op_of[i] != SIZE_MAX ? &ops[op_of[i]] : NULL;
        if (op != NULL && (!op->started || (op->status != op->ok1 &&
                                            op->status != op->ok2))) {
            break;
        }
        if (op != NULL && strcmp(op->method, "PUT") == 0) {
            b->loaded++;
        } else if (it->json == NULL) {
            b->deleted++;
        }
        b->done_index = it->index;
    }
    b->all_done = i == b->n;
    /* Report the first failure in change order. */
    for (size_t k = 0; k < n_ops && b->all_done == false; k++) {
        const struct cr_etl_http_op *op = &ops[k];
        if (!op->started || op->status == op->ok1 || op->status == op->ok2) {
            continue;
        }
        b->http_status = op->status;
        if (op->status == 0) {
            b->lost_pin = strstr(op->err, "pin mismatch") != NULL;
            b->url_next++; /* that node may be down: the next one */
            snprintf(b->error, sizeof b->error, "destination unreachable: %s",
                     op->err);
        } else {
            char msg[400];
            reply_message(op->resp, msg, sizeof msg);
            snprintf(b->error, sizeof b->error,
                     "destination refused %s with HTTP %ld: %s", op->url,
                     op->status, msg);
        }
        break;
    }
    if (!b->all_done && b->error[0] == '\0') {
        snprintf(b->error, sizeof b->error, "the node is stopping");
    }
out:
    for (i = 0; ops != NULL && i < n_ops; i++) {
        free(ops[i].url);
        free(ops[i].resp);
    }
    free(ops);
    free(op_of);
    free(absent);
}

static void batch_work(uv_work_t *w)
{
    struct batch *b = w->data;
    struct cr_etl_http *http = cr_etl_http_new(b->cert_pem, b->key_pem);
    struct cr_etl_js_output *outs = calloc(b->n + 1, sizeof *outs);
    bool *skip = calloc(b->n + 1, sizeof *skip);

    if (http == NULL || outs == NULL || skip == NULL) {
        snprintf(b->error, sizeof b->error, "out of memory");
    } else if (b->probe) {
        probe_work(b, http);
    } else if (transform_all(b, outs, skip)) {
        if (b->multi || b->saw_multi) {
            deliver_in_order(b, http, outs, skip);
        } else {
            deliver_parallel(b, http, outs, skip);
        }
    }
    for (size_t i = 0; outs != NULL && i < b->n; i++) {
        cr_etl_js_output_free(&outs[i]);
    }
    free(outs);
    free(skip);
    cr_etl_http_free(http);
}

static void batch_after(uv_work_t *w, int status)
{
    struct batch *b = w->data;
    struct cr_node *node = b->node;
    struct cr_etl_slot *s;
    int64_t now = cr_now_ms();
    uint64_t upto;

    (void)status;
    if (node->stopping || (s = slot_by_epoch(node, b->epoch)) == NULL) {
        batch_free(b);
        return;
    }
    s->busy = false;
    if (!cr_node_is_leader(node) || s->generation != b->generation) {
        batch_free(b); /* the tick resets or forgets the slot */
        return;
    }
    s->url_next = b->url_next;
    if (b->probe) {
        if (b->found_pin[0] == '\0') {
            fail(s, 0, b->error);
        } else if (cr_state_cert_by_pin(node->fsm.state, b->found_pin, NULL,
                                        0) == 0) {
            char msg[512];
            snprintf(msg, sizeof msg,
                     "the destination serves certificate %s, which is not "
                     "registered in this cluster: export the destination's "
                     "server certificate there (certctl certs export-server) "
                     "and upload it here (certctl certs upload) to trust it",
                     b->found_thumb);
            fail(s, 0, msg);
        } else {
            snprintf(s->pin, sizeof s->pin, "%s", b->found_pin);
            s->next_ms = now;
        }
        batch_free(b);
        cr_etl_tick(node); /* go on now rather than at the next tick */
        return;
    }
    s->batches++;
    s->loaded += b->loaded;
    s->deleted += b->deleted;
    if (b->script_errors > 0) {
        s->script_errors += b->script_errors;
        snprintf(s->last_script_error, sizeof s->last_script_error, "%s",
                 b->script_error);
        snprintf(s->last_script_error_id, sizeof s->last_script_error_id,
                 "%s", b->script_error_id);
        s->last_script_error_ms = now;
    }
    s->multi |= b->saw_multi;
    upto = b->all_done ? b->scan_end : b->done_index;
    if (upto > s->delivered) {
        s->delivered = upto;
        propose_progress(node, s, upto);
    }
    if (b->error[0] != '\0') {
        if (b->lost_pin) {
            s->pin[0] = '\0'; /* probe again: which key is it now? */
        }
        fail(s, b->http_status, b->error);
        batch_free(b);
        return;
    }
    s->failures = 0;
    s->last_success_ms = now;
    s->next_ms = now;
    batch_free(b);
    cr_etl_tick(node); /* the next batch now, not at the next tick */
}

/* --- collecting a batch ------------------------------------------------ */

struct collect {
    const struct cr_etl_task *t;
    struct batch *b;
    size_t scanned;
    bool oom;
};

static bool collect_visit(const struct cr_doc_change *c, void *arg)
{
    struct collect *k = arg;
    struct batch *b = k->b;
    struct item *it;

    if (b->n == BATCH_DOCS || b->bytes >= BATCH_BYTES ||
        k->scanned == SCAN_MAX) {
        return false;
    }
    k->scanned++;
    if (cr_etl_task_reads(k->t, c->id)) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 32;
            struct item *p = realloc(b->items, cap * sizeof *p);
            if (p == NULL) {
                k->oom = true;
                return false;
            }
            b->items = p;
            b->cap = cap;
        }
        it = &b->items[b->n];
        memset(it, 0, sizeof *it);
        it->index = c->index;
        it->len = c->len;
        if ((it->id = strdup(c->id)) == NULL ||
            (c->json != NULL && (it->json = malloc(c->len + 1)) == NULL)) {
            free(it->id);
            k->oom = true;
            return false;
        }
        if (c->json != NULL) {
            memcpy(it->json, c->json, c->len);
            it->json[c->len] = '\0';
        }
        b->n++;
        b->bytes += c->len + strlen(c->id);
    }
    b->scan_end = c->index;
    return true;
}

static struct batch *batch_new(struct cr_node *node, struct cr_etl_slot *s,
                               const struct cr_etl_task *t, bool probe)
{
    struct batch *b = calloc(1, sizeof *b);
    size_t i;

    if (b == NULL) {
        return NULL;
    }
    b->node = node;
    b->epoch = s->epoch;
    b->generation = s->generation;
    b->probe = probe;
    b->url_next = s->url_next;
    b->multi = s->multi;
    snprintf(b->pin, sizeof b->pin, "%s", s->pin);
    b->urls = calloc(t->n_urls, sizeof *b->urls);
    if (b->urls == NULL) {
        batch_free(b);
        return NULL;
    }
    for (i = 0; i < t->n_urls; i++) {
        if ((b->urls[i] = strdup(t->urls[i])) == NULL) {
            batch_free(b);
            return NULL;
        }
        b->n_urls++;
    }
    if ((b->script = strdup(t->script)) == NULL ||
        (b->dest_db = strdup(t->dest_db)) == NULL ||
        (b->cert_pem = strdup(node->cert_pem)) == NULL ||
        (b->key_pem = strdup(node->key_pem)) == NULL) {
        batch_free(b);
        return NULL;
    }
    return b;
}

static void start(struct cr_node *node, struct cr_etl_slot *s,
                  struct batch *b)
{
    b->work.data = b;
    if (uv_queue_work(node->loop, &b->work, batch_work, batch_after) != 0) {
        batch_free(b);
        return;
    }
    s->busy = true;
}

static bool stop_at_first(const struct cr_doc_change *c, void *arg)
{
    (void)c;
    *(bool *)arg = true;
    return false;
}

/* Has @db changed after index @from? O(log n). */
static bool any_change(const struct cr_state *st, const char *db,
                       uint64_t from)
{
    bool any = false;

    cr_state_changes_foreach(st, db, from, stop_at_first, &any);
    return any;
}

static void run_task(struct cr_node *node, struct cr_etl_slot *s,
                     const struct cr_etl_task *t, int64_t now)
{
    const struct cr_state *st = node->fsm.state;
    struct collect k;
    struct batch *b;
    uint64_t from;

    if (s->pin[0] != '\0' && cr_state_cert_by_pin(st, s->pin, NULL, 0) == 0) {
        s->pin[0] = '\0'; /* no longer trusted here */
    }
    if (s->pin[0] == '\0') {
        if ((b = batch_new(node, s, t, true)) != NULL) {
            start(node, s, b);
        }
        return;
    }
    if (s->delivered < t->progress) {
        s->delivered = t->progress;
    }
    from = s->delivered;
    if (!any_change(st, t->db, from)) {
        /* Caught up. A progress report that got lost is sent again. */
        if (t->progress < s->delivered && s->proposing == 0 &&
            now - s->proposed_ms > REPROPOSE_MS) {
            propose_progress(node, s, s->delivered);
        }
        return;
    }
    if ((b = batch_new(node, s, t, false)) == NULL) {
        return;
    }
    memset(&k, 0, sizeof k);
    k.t = t;
    k.b = b;
    cr_state_changes_foreach(st, t->db, from, collect_visit, &k);
    if (k.oom || b->scan_end == 0) {
        batch_free(b);
        return;
    }
    if (b->n == 0) {
        /* Nothing this task reads: only move past it. */
        s->delivered = b->scan_end;
        propose_progress(node, s, b->scan_end);
        batch_free(b);
        return;
    }
    start(node, s, b);
}

/* --- the tick ---------------------------------------------------------- */

struct sync {
    struct cr_node *node;
    int64_t now;
};

static bool sync_task(const struct cr_etl_task *t, void *arg)
{
    struct sync *y = arg;
    struct cr_node *node = y->node;
    struct cr_etl_slot *s = (struct cr_etl_slot *)cr_etl_slot_find(
        node, t->db, t->name);

    if (s == NULL) {
        for (size_t i = 0; i < CR_ETL_SLOTS && s == NULL; i++) {
            if (!node->etl.slot[i].used) {
                s = &node->etl.slot[i];
                slot_reset(node, s, t);
            }
        }
        if (s == NULL) {
            return true; /* no room: reported as NotRunning */
        }
    }
    if (s->busy) {
        return true;
    }
    if (s->generation != t->generation) {
        char pin[64];
        memcpy(pin, s->pin, sizeof pin); /* same destination, same key */
        slot_reset(node, s, t);
        memcpy(s->pin, pin, sizeof pin);
    }
    if (y->now >= s->next_ms) {
        run_task(node, s, t, y->now);
    }
    return true;
}

void cr_etl_tick(struct cr_node *node)
{
    struct sync y = {node, cr_now_ms()};
    bool leader = cr_node_is_leader(node);

    for (size_t i = 0; i < CR_ETL_SLOTS; i++) {
        struct cr_etl_slot *s = &node->etl.slot[i];
        if (!s->used || s->busy) {
            continue;
        }
        /* Not leading, or the task is gone: forget it. */
        if (!leader || cr_state_etl_find(node->fsm.state, s->db, s->name) ==
                           NULL) {
            memset(s, 0, sizeof *s);
        }
    }
    if (leader) {
        cr_state_etl_foreach(node->fsm.state, NULL, sync_task, &y);
    }
}
