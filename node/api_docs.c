/*
 * api_docs.c - /databases/{db}/docs: put, get, delete and list JSON
 * documents by id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

#define DOC_PAGE_DEFAULT 128
#define DOC_PAGE_MAX 1024

/* The database of the path, checked to exist and be accessible at @min.
 * Replies and returns NULL otherwise. */
static const char *doc_db(struct cr_api_call *call, enum cr_access min)
{
    const char *db = call->path_param;
    struct cr_error err;

    if (!cr_database_name_valid(db)) {
        cr_api_reply_error(call, CR_EINVAL,
                           "invalid database name '%.64s': use 1-128 "
                           "letters, digits, '_', '-' or '.' (not starting "
                           "with '.')",
                           db);
        return NULL;
    }
    if (cr_authz_require_db(&call->id, db, min, &err) != CR_OK) {
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return NULL;
    }
    if (!cr_state_db_exists(call->node->fsm.state, db)) {
        cr_api_reply_error(call, CR_ENOTFOUND,
                           "database '%s' does not exist", db);
        return NULL;
    }
    return db;
}

static bool doc_id(struct cr_api_call *call, char *id, size_t idlen)
{
    if (cr_http_query_get(call->req, "id", id, idlen) < 0 ||
        !cr_document_id_valid(id)) {
        cr_api_reply_error(call, CR_EINVAL,
                           "give the document as ?id=<id> (1-512 bytes, no "
                           "control characters)");
        return false;
    }
    return true;
}

struct doc_page {
    json_t *results;
    size_t n;
    char last[520];
};

static bool doc_visit(const char *id, const char *json, size_t len, void *arg)
{
    struct doc_page *p = arg;
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY, NULL);

    json_array_append_new(p->results,
                          json_pack("{s:s, s:o}", "Id", id, "Document",
                                    doc != NULL ? doc : json_null()));
    snprintf(p->last, sizeof p->last, "%s", id);
    p->n++;
    return true;
}

static void docs_list(struct cr_api_call *call, const char *db)
{
    char prefix[520] = "", start[520], size[16];
    struct doc_page page = {json_array(), 0, ""};
    long page_size = DOC_PAGE_DEFAULT;
    bool has_start;

    cr_http_query_get(call->req, "startsWith", prefix, sizeof prefix);
    has_start = cr_http_query_get(call->req, "start", start, sizeof start) >= 0;
    if (cr_http_query_get(call->req, "pageSize", size, sizeof size) >= 0) {
        char *end;
        page_size = strtol(size, &end, 10);
        if (*end != '\0' || page_size < 1 || page_size > DOC_PAGE_MAX) {
            json_decref(page.results);
            cr_api_reply_error(call, CR_EINVAL,
                               "pageSize must be between 1 and %d",
                               DOC_PAGE_MAX);
            return;
        }
    }
    cr_state_doc_foreach(call->node->fsm.state, db, prefix,
                         has_start ? start : NULL, (size_t)page_size,
                         doc_visit, &page);
    cr_api_reply_json(call, 200,
                      json_pack("{s:o, s:o}", "Results", page.results,
                                "NextStart",
                                page.n == (size_t)page_size
                                    ? json_string(page.last)
                                    : json_null()));
}

void cr_api_docs_get(struct cr_api_call *call)
{
    char id[520];
    const char *db = doc_db(call, CR_ACCESS_READ);
    const char *json;
    size_t len;

    if (db == NULL) {
        return;
    }
    if (cr_http_query_get(call->req, "id", id, sizeof id) < 0) {
        docs_list(call, db);
        return;
    }
    if (!cr_document_id_valid(id)) {
        cr_api_reply_error(call, CR_EINVAL, "invalid document id");
        return;
    }
    json = cr_state_doc_get(call->node->fsm.state, db, id, &len);
    if (json == NULL) {
        cr_api_reply_error(call, CR_ENOTFOUND,
                           "document '%.128s' does not exist in '%s'", id,
                           db);
        return;
    }
    cr_api_reply_raw(call, 200, "application/json", NULL, json, len);
}

struct doc_ctx {
    char id[520];
};

static void doc_put_done(struct cr_api_call *call,
                         const struct cr_apply_result *res)
{
    struct doc_ctx *d = call->ctx;
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 201, json_pack("{s:s}", "Id", d->id));
    }
}

void cr_api_docs_put(struct cr_api_call *call)
{
    const char *db = doc_db(call, CR_ACCESS_READ_WRITE);
    struct doc_ctx *d;
    struct cr_command cmd;
    json_error_t jerr;
    json_t *doc;

    if (db == NULL) {
        return;
    }
    d = calloc(1, sizeof *d);
    call->ctx = d;
    call->ctx_free = free;
    if (d == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    if (!doc_id(call, d->id, sizeof d->id)) {
        return;
    }
    doc = json_loadb(call->req->body, call->req->body_len, JSON_DECODE_ANY,
                     &jerr);
    if (doc == NULL) {
        cr_api_reply_error(call, CR_EINVAL,
                           "the document is not valid JSON: %s (line %d)",
                           jerr.text, jerr.line);
        return;
    }
    /* Stored as sent: the bytes travel in the log entry, so every node
     * holds the same ones, and re-encoding would alter numbers (0.1). */
    json_decref(doc);
    cr_api_command_init(call, &cmd, CR_CMD_DOC_PUT);
    cmd.u.doc.db = (char *)db;
    cmd.u.doc.id = d->id;
    cmd.u.doc.json = (char *)call->req->body;
    cmd.u.doc.json_len = call->req->body_len;
    cr_api_propose(call, &cmd, doc_put_done);
}

static void doc_delete_done(struct cr_api_call *call,
                            const struct cr_apply_result *res)
{
    struct doc_ctx *d = call->ctx;
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:b}", "Id", d->id, "Deleted", 1));
    }
}

void cr_api_docs_delete(struct cr_api_call *call)
{
    const char *db = doc_db(call, CR_ACCESS_READ_WRITE);
    struct doc_ctx *d;
    struct cr_command cmd;

    if (db == NULL) {
        return;
    }
    d = calloc(1, sizeof *d);
    call->ctx = d;
    call->ctx_free = free;
    if (d == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    if (!doc_id(call, d->id, sizeof d->id)) {
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_DOC_DELETE);
    cmd.u.doc.db = (char *)db;
    cmd.u.doc.id = d->id;
    cr_api_propose(call, &cmd, doc_delete_done);
}
