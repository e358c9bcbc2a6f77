/*
 * certctl_docs.c - "certctl docs ...": storing, reading, deleting and
 * listing the JSON documents of a database.
 *
 * Documents are sent and printed as the text they are, not re-encoded by
 * jansson, which would rewrite numbers (0.1 as 0.10000000000000001, big
 * integers refused). jansson only checks that the text is JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certctl.h"
#include "certctl_files.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* The server's request limit is what counts; this only keeps a wrong
 * --file (a disk image, /dev/zero) from being read whole. */
#define CERTCTL_MAX_DOCUMENT (16u * 1024u * 1024u)
/* Characters of a document shown per row by "docs list". */
#define CERTCTL_DOC_CELL 72

/* "/databases/<db>/docs" with the database name percent-encoded, as one
 * path segment, and "?id=<id>" if id is not NULL. */
static int docs_path(struct certctl_buf *b, const char *db, const char *id)
{
    certctl_buf_init(b);
    if (certctl_buf_puts(b, "/databases/") != 0 || certctl_percent_encode(b, db) != 0 ||
        certctl_buf_puts(b, "/docs") != 0 ||
        (id != NULL && certctl_query_add(b, "id", id) != 0)) {
        certctl_buf_free(b);
        return -1;
    }
    return 0;
}

/* ---- docs put ---------------------------------------------------------- */

static const struct certctl_opt put_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "database to store it in", NULL,
     NULL, NULL},
    {"id", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "ID",
     "document id; an existing document is replaced", NULL, NULL, NULL},
    {"data", CERTCTL_OPT_STRING, 0, "JSON", "the document itself", NULL, NULL, NULL},
    {"file", CERTCTL_OPT_STRING, 0, "PATH",
     "file holding the document; '-' reads standard input", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Checks that text[0..len) is one JSON value. Returns 0, or prints why
 * not as a usage error and returns its exit code. */
static int check_json(struct certctl_ctx *ctx, const char *what, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j;
    char reason[256];

    if (memchr(text, '\0', len) != NULL) {
        return certctl_usage_fail(ctx, "invalid JSON in %s: it contains a NUL byte", what);
    }
    /* Integers as reals: a 20-digit id is valid JSON, if not jansson's. */
    j = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
    if (j == NULL) {
        certctl_scrub(reason, sizeof(reason), jerr.text);
        return certctl_usage_fail(ctx, "invalid JSON in %s: %s (line %d, column %d)", what,
                                  reason, jerr.line, jerr.column);
    }
    json_decref(j);
    return 0;
}

static int cmd_put(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *data = certctl_args_get(args, "data");
    const char *file = certctl_args_get(args, "file");
    const char *id = certctl_args_get(args, "id");
    char *text = NULL;
    size_t len;
    struct certctl_buf path;
    struct certctl_reply r;
    char err[512];
    int rc;

    if ((data == NULL) == (file == NULL)) {
        return certctl_usage_fail(ctx, "give the document as either --data or --file");
    }
    if (file != NULL) {
        if (certctl_read_input(file, "--file", CERTCTL_MAX_DOCUMENT, &text, &len, err,
                               sizeof(err)) != 0) {
            return certctl_fail("%s", err);
        }
        data = text;
    } else {
        len = strlen(data);
    }
    rc = check_json(ctx, file != NULL ? "--file" : "--data", data, len);
    if (rc != 0) {
        free(text);
        return rc;
    }
    if (docs_path(&path, certctl_args_get(args, "db"), id) != 0) {
        free(text);
        return certctl_fail("out of memory");
    }
    rc = certctl_call_ex(ctx, "PUT", path.data, data, "application/json",
                         CERTCTL_REPLY_OBJECT, &r);
    certctl_buf_free(&path);
    free(text);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        const char *stored = json_string_value(json_object_get(r.json, "Id"));
        char shown[512];

        certctl_scrub(shown, sizeof(shown), stored != NULL ? stored : id);
        fprintf(ctx->out, "stored %s\n", shown);
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- docs get ---------------------------------------------------------- */

static const struct certctl_opt get_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "database", NULL, NULL, NULL},
    {"id", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "ID", "document id", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_get(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;

    if (docs_path(&path, certctl_args_get(args, "db"), certctl_args_get(args, "id")) != 0) {
        return certctl_fail("out of memory");
    }
    rc = certctl_call_ex(ctx, "GET", path.data, NULL, "application/json",
                         CERTCTL_REPLY_ANY_JSON, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    /* The document is the reply: the same in table and json output. */
    rc = certctl_print_json_text(ctx, r.body, r.len);
    certctl_reply_free(&r);
    return rc;
}

/* ---- docs delete ------------------------------------------------------- */

static const struct certctl_opt delete_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "database", NULL, NULL, NULL},
    {"id", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "ID", "id of the document to delete",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_delete(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *id = certctl_args_get(args, "id");
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;

    if (docs_path(&path, certctl_args_get(args, "db"), id) != 0) {
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "DELETE", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        const char *deleted = json_string_value(json_object_get(r.json, "Id"));
        char shown[512];

        certctl_scrub(shown, sizeof(shown), deleted != NULL ? deleted : id);
        fprintf(ctx->out, "deleted %s\n", shown);
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- docs list --------------------------------------------------------- */

static const struct certctl_opt list_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "database", NULL, NULL, NULL},
    {"prefix", CERTCTL_OPT_STRING, 0, "P", "only documents whose id starts with P", NULL,
     NULL, NULL},
    {"start", CERTCTL_OPT_STRING, 0, "ID",
     "only documents after this id (the previous page's last)", NULL, NULL, NULL},
    {"page-size", CERTCTL_OPT_STRING, 0, "N",
     "at most N documents, 1 to 10000 (default: the server's)", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* A document on one line, cut to CERTCTL_DOC_CELL characters. */
static int doc_cell(const json_t *doc, char *cell, size_t n)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    char cut[CERTCTL_DOC_CELL * 4 + 1];
    size_t i, chars = 0;

    if (text == NULL) {
        return -1;
    }
    /* Count characters, not bytes, and never split a UTF-8 sequence. */
    for (i = 0; text[i] != '\0' && i < sizeof(cut) - 1; i++) {
        if (((unsigned char)text[i] & 0xc0) != 0x80 && chars++ == CERTCTL_DOC_CELL) {
            break;
        }
        cut[i] = text[i];
    }
    cut[i] = '\0';
    snprintf(cell, n, "%s%s", cut, text[i] != '\0' ? "..." : "");
    free(text);
    return 0;
}

static int print_doc_list(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"ID", "DOCUMENT"};
    const json_t *results = json_object_get(reply, "Results");
    const char *next = json_string_value(json_object_get(reply, "NextStart"));
    struct certctl_table t;
    const json_t *e;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    if (json_array_size(results) == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no documents found\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&t, 2, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(results, i, e)
    {
        char id[512], doc[CERTCTL_DOC_CELL * 4 + 8];
        const char *row[2];

        row[0] = certctl_json_text(json_object_get(e, "Id"), id, sizeof(id));
        row[1] = doc;
        if (doc_cell(json_object_get(e, "Document"), doc, sizeof(doc)) != 0 ||
            certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
            break;
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
        if (next != NULL) {
            char shown[512];

            certctl_scrub(shown, sizeof(shown), next);
            fprintf(stderr, "certctl: more documents may follow: add --start '%s'\n", shown);
        }
    }
    certctl_table_free(&t);
    return rc;
}

static int cmd_list(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    static const char *const queries[][2] = {
        {"prefix", "startsWith"},
        {"start", "start"},
        {"page-size", "pageSize"},
    };
    struct certctl_buf path;
    struct certctl_reply r;
    uint64_t page_size;
    size_t i;
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "page-size", 1, 10000, &page_size)) != 0) {
        return rc;
    }
    if (docs_path(&path, certctl_args_get(args, "db"), NULL) != 0) {
        return certctl_fail("out of memory");
    }
    for (i = 0; rc == 0 && i < sizeof(queries) / sizeof(queries[0]); i++) {
        const char *v = certctl_args_get(args, queries[i][0]);

        if (v != NULL) {
            rc = certctl_query_add(&path, queries[i][1], v);
        }
    }
    if (rc != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "GET", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json_text(ctx, r.body, r.len)
                                               : print_doc_list(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_docs_commands[] = {
    {"put", "store a JSON document",
     "Stores a JSON document (any JSON value) under --id, replacing any\n"
     "document with that id. The document is checked to be JSON before it is\n"
     "sent, and sent as written.",
     "  certctl docs put --db hr --id employees/1 --data '{\"Name\": \"Ann\"}'\n"
     "  curl -s https://example.com/doc.json | certctl docs put --db hr --id x --file -\n",
     put_opts, cmd_put, NULL},
    {"get", "print a document",
     "Prints the document stored under --id, indented, its numbers and key\n"
     "order exactly as stored.",
     "  certctl docs get --db hr --id employees/1\n", get_opts, cmd_get, NULL},
    {"delete", "delete a document",
     "Deletes the document stored under --id.",
     "  certctl docs delete --db hr --id employees/1\n", delete_opts, cmd_delete, NULL},
    {"list", "list documents, a page at a time",
     "Lists documents in id order with their content cut to one line. For the\n"
     "next page, pass the last id shown as --start (certctl says so on stderr\n"
     "when there may be more).",
     "  certctl docs list --db hr --prefix employees/ --page-size 50\n", list_opts, cmd_list,
     NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
