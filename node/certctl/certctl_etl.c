/*
 * certctl_etl.c - "certctl etl ...": ETL tasks that copy a database's
 * documents, through a JavaScript transform, to a database on another
 * certraft cluster (add, list, delete, status, test).
 *
 * Every command needs Admin on the source database (--db). The transform
 * is read from a file (--script FILE, "-" for stdin) so that it can be
 * written and versioned like code; `etl test` runs it on a stored or
 * sample document and prints what would be loaded, writing nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certctl.h"
#include "certctl_files.h"
#include "certctl_str.h"
#include "certctl_table.h"

#define SCRIPT_MAX (64 * 1024)

/* "/databases/<db>/admin/etl<suffix>[?name=<name>]". */
static int etl_path(struct certctl_buf *b, const char *db, const char *suffix,
                    const char *name)
{
    certctl_buf_init(b);
    if (certctl_buf_puts(b, "/databases/") != 0 || certctl_percent_encode(b, db) != 0 ||
        certctl_buf_puts(b, "/admin/etl") != 0 || certctl_buf_puts(b, suffix) != 0 ||
        (name != NULL && certctl_query_add(b, "name", name) != 0)) {
        certctl_buf_free(b);
        return -1;
    }
    return 0;
}

/* GET/DELETE without a body; prints the reply as JSON or via @print. */
static int simple(struct certctl_ctx *ctx, const char *method, const char *db,
                  const char *suffix, const char *name,
                  int (*print)(struct certctl_ctx *, const json_t *))
{
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;

    if (etl_path(&path, db, suffix, name) != 0) {
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, method, path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    rc = print != NULL && ctx->g->output != CERTCTL_OUTPUT_JSON ? print(ctx, r.json)
                                                                : certctl_print_json(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

static int read_script(struct certctl_ctx *ctx, const char *file, char **out)
{
    char err[256];
    size_t len;

    if (certctl_read_input(file, "--script", SCRIPT_MAX, out, &len, err, sizeof(err)) != 0) {
        return certctl_usage_fail(ctx, "%s", err);
    }
    return 0;
}

/* ---- etl add ----------------------------------------------------------- */

static const struct certctl_opt add_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "source database", NULL, NULL,
     NULL},
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", "task name", NULL, NULL, NULL},
    {"url", CERTCTL_OPT_LIST, CERTCTL_OPT_REQUIRED, "URL",
     "destination node URL (repeat, or comma-separated)", NULL, NULL, NULL},
    {"dest-db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "destination database", NULL,
     NULL, NULL},
    {"script", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "FILE",
     "JavaScript transform ('-' reads stdin)", NULL, NULL, NULL},
    {"prefix", CERTCTL_OPT_LIST, 0, "PREFIX",
     "only documents whose id starts with it (repeatable)", NULL, NULL, NULL},
    {"reset", CERTCTL_OPT_FLAG, 0, NULL, "start again from the first document", NULL, NULL,
     NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Appends each value, split at commas. */
static int add_split(json_t *arr, const char *const *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = vals[i];
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            if (len > 0 && json_array_append_new(arr, json_stringn(p, len)) != 0) {
                return -1;
            }
            p += len;
            if (*p == ',') {
                p++;
            }
        }
    }
    return 0;
}

static int cmd_add(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *const *vals;
    size_t n;
    struct certctl_buf path;
    struct certctl_reply r;
    char *script = NULL;
    json_t *body, *urls, *prefixes;
    int rc;

    if ((rc = read_script(ctx, certctl_args_get(args, "script"), &script)) != 0) {
        return rc;
    }
    urls = json_array();
    prefixes = json_array();
    n = certctl_args_list(args, "url", &vals);
    rc = add_split(urls, vals, n);
    n = certctl_args_list(args, "prefix", &vals);
    rc |= add_split(prefixes, vals, n);
    body = json_pack("{s:s, s:o, s:s, s:s, s:o, s:b}", "Name", certctl_args_get(args, "name"),
                     "DestinationUrls", urls, "DestinationDatabase",
                     certctl_args_get(args, "dest-db"), "Script", script, "Prefixes",
                     prefixes, "Reset", certctl_args_flag(args, "reset"));
    free(script);
    if (rc != 0 || body == NULL) {
        json_decref(body);
        return certctl_usage_fail(ctx, "the options must be valid UTF-8");
    }
    if (etl_path(&path, certctl_args_get(args, "db"), "", NULL) != 0) {
        json_decref(body);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "PUT", path.data, body, &r);
    certctl_buf_free(&path);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        char name[256], db[256];
        certctl_scrub(name, sizeof(name), certctl_args_get(args, "name"));
        certctl_scrub(db, sizeof(db), certctl_args_get(args, "db"));
        fprintf(ctx->out, "defined ETL task %s on database %s\n", name, db);
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- etl list ---------------------------------------------------------- */

static const struct certctl_opt db_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "source database", NULL, NULL,
     NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_list(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"NAME", "DESTINATION DB", "PROGRESS", "URLS"};
    const json_t *list = json_object_get(reply, "Results"), *t;
    struct certctl_table tab;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    if (json_array_size(list) == 0) {
        fputs("certctl: no ETL tasks\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&tab, 4, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(list, i, t)
    {
        char name[256], dest[256], prog[32], urls[1024] = "";
        const json_t *u;
        size_t k;
        const char *row[4];

        json_array_foreach(json_object_get(t, "DestinationUrls"), k, u)
        {
            size_t have = strlen(urls);
            snprintf(urls + have, sizeof(urls) - have, "%s%s", k ? "," : "",
                     json_string_value(u) ? json_string_value(u) : "");
        }
        row[0] = certctl_json_text(json_object_get(t, "Name"), name, sizeof(name));
        row[1] = certctl_json_text(json_object_get(t, "DestinationDatabase"), dest,
                                   sizeof(dest));
        row[2] = certctl_json_text(json_object_get(t, "ProgressIndex"), prog, sizeof(prog));
        row[3] = urls;
        if (certctl_table_add(&tab, row) != 0) {
            rc = certctl_fail("out of memory");
            break;
        }
    }
    if (rc == 0) {
        certctl_table_print(&tab, ctx->out);
    }
    certctl_table_free(&tab);
    return rc;
}

static int cmd_list(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    return simple(ctx, "GET", certctl_args_get(args, "db"), "", NULL, print_list);
}

/* ---- etl delete / status ------------------------------------------------ */

static const struct certctl_opt name_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "source database", NULL, NULL,
     NULL},
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", "task name", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static const struct certctl_opt status_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "source database", NULL, NULL,
     NULL},
    {"name", CERTCTL_OPT_STRING, 0, "NAME", "task name (default: every task of the database)",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_delete(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;
    char name[256];

    if (etl_path(&path, certctl_args_get(args, "db"), "", certctl_args_get(args, "name")) !=
        0) {
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
        certctl_scrub(name, sizeof(name), certctl_args_get(args, "name"));
        fprintf(ctx->out, "deleted ETL task %s\n", name);
    }
    certctl_reply_free(&r);
    return rc;
}

static void print_one_status(struct certctl_ctx *ctx, const json_t *s)
{
    static const char *const keys[] = {
        "Name", "State", "RunningOn", "DestinationDatabase", "ProgressIndex",
        "LagEntries", "LagSeconds", "LastSuccessAt", "ConsecutiveFailures",
        "DocumentsLoaded", "DocumentsDeleted", "ScriptErrors"};
    const json_t *e;
    char buf[600], clean[600];

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        certctl_json_text(json_object_get(s, keys[i]), buf, sizeof(buf));
        certctl_scrub(clean, sizeof(clean), buf);
        fprintf(ctx->out, "%-20s %s\n", keys[i], clean);
    }
    if ((e = json_object_get(s, "LastError")) != NULL && json_is_object(e)) {
        certctl_json_text(json_object_get(e, "Message"), buf, sizeof(buf));
        certctl_scrub(clean, sizeof(clean), buf);
        fprintf(ctx->out, "%-20s HTTP %lld: %s\n", "LastError",
                (long long)json_integer_value(json_object_get(e, "HttpStatus")), clean);
    }
    if ((e = json_object_get(s, "LastScriptError")) != NULL && json_is_object(e)) {
        char id[600];
        certctl_json_text(json_object_get(e, "Message"), buf, sizeof(buf));
        certctl_scrub(clean, sizeof(clean), buf);
        certctl_json_text(json_object_get(e, "DocumentId"), id, sizeof(id));
        certctl_scrub(buf, sizeof(buf), id);
        fprintf(ctx->out, "%-20s %s: %s\n", "LastScriptError", buf, clean);
    }
}

static int print_status(struct certctl_ctx *ctx, const json_t *reply)
{
    const json_t *list = json_object_get(reply, "Results"), *s;
    size_t i;

    if (list == NULL) {
        print_one_status(ctx, reply);
        return CERTCTL_EXIT_OK;
    }
    json_array_foreach(list, i, s)
    {
        if (i > 0) {
            fputc('\n', ctx->out);
        }
        print_one_status(ctx, s);
    }
    return CERTCTL_EXIT_OK;
}

static int cmd_status(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    return simple(ctx, "GET", certctl_args_get(args, "db"), "/status",
                  certctl_args_get(args, "name"), print_status);
}

/* ---- etl test ----------------------------------------------------------- */

static const struct certctl_opt test_opts[] = {
    {"db", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "DB", "source database", NULL, NULL,
     NULL},
    {"script", CERTCTL_OPT_STRING, 0, "FILE", "JavaScript transform ('-' reads stdin)", NULL,
     NULL, NULL},
    {"name", CERTCTL_OPT_STRING, 0, "NAME", "use this task's script instead of --script",
     NULL, NULL, NULL},
    {"id", CERTCTL_OPT_STRING, 0, "ID", "run on this stored document", NULL, NULL, NULL},
    {"document", CERTCTL_OPT_STRING, 0, "FILE", "run on this sample document (JSON file)",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_test(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *file = certctl_args_get(args, "script"), *doc = certctl_args_get(args, "document");
    const char *id = certctl_args_get(args, "id"), *name = certctl_args_get(args, "name");
    struct certctl_buf path;
    struct certctl_reply r;
    char *script = NULL, *text = NULL, err[256];
    json_t *body, *sample = NULL;
    size_t len;
    int rc;

    if ((file == NULL) == (name == NULL)) {
        return certctl_usage_fail(ctx, "give either --script or --name");
    }
    if ((id == NULL) == (doc == NULL)) {
        return certctl_usage_fail(ctx, "give either --id or --document");
    }
    if (file != NULL && (rc = read_script(ctx, file, &script)) != 0) {
        return rc;
    }
    if (doc != NULL) {
        if (certctl_read_input(doc, "--document", 16u << 20, &text, &len, err, sizeof(err)) !=
            0) {
            free(script);
            return certctl_usage_fail(ctx, "%s", err);
        }
        sample = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        free(text);
        if (sample == NULL) {
            free(script);
            return certctl_usage_fail(ctx, "--document is not valid JSON");
        }
    }
    body = json_object();
    if (script != NULL) {
        json_object_set_new(body, "Script", json_string(script));
    } else {
        json_object_set_new(body, "Name", json_string(name));
    }
    if (sample != NULL) {
        json_object_set_new(body, "Document", sample);
    } else {
        json_object_set_new(body, "DocumentId", json_string(id));
    }
    free(script);
    if (etl_path(&path, certctl_args_get(args, "db"), "/test", NULL) != 0) {
        json_decref(body);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "POST", path.data, body, &r);
    certctl_buf_free(&path);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    /* What would be loaded, as JSON in any output mode: it is data. */
    rc = certctl_print_json(ctx, r.json);
    if (rc == 0 && json_is_string(json_object_get(r.json, "Error"))) {
        rc = CERTCTL_EXIT_FAIL; /* the script failed on this document */
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_etl_commands[] = {
    {"add", "define (or update) an ETL task",
     "Defines a one-way ETL task from a database here to a database on another\n"
     "certraft cluster. Each changed document runs through the JavaScript\n"
     "transform (the document is 'this'; loadTo(obj) loads obj, zero or more\n"
     "times); what it loads is written to the destination database with this\n"
     "cluster's server certificate. Set up trust first: upload this cluster's\n"
     "server certificate (certs export-server) to the destination with\n"
     "ReadWrite on its database, and the destination's to this cluster.\n"
     "Needs Admin on the source database.",
     "  certctl etl add --db hr --name to-public --dest-db public \\\n"
     "      --url https://b1:8443,https://b2:8443 --script public.js\n",
     add_opts, cmd_add, NULL},
    {"list", "list a database's ETL tasks",
     "Lists the ETL tasks of a database with their destination and the last\n"
     "source change index the destination acknowledged.",
     "  certctl etl list --db hr\n", db_opts, cmd_list, NULL},
    {"delete", "delete an ETL task",
     "Deletes an ETL task; documents already loaded stay at the destination.",
     "  certctl etl delete --db hr --name to-public\n", name_opts, cmd_delete, NULL},
    {"status", "show where ETL tasks stand",
     "Shows a task's state (Running, CaughtUp, Retrying, Connecting,\n"
     "NotRunning), the node running it, its lag in changes and seconds, the\n"
     "last error (with the destination's HTTP status) and script errors.",
     "  certctl etl status --db hr --name to-public\n", status_opts, cmd_status, NULL},
    {"test", "run a transform on one document, writing nothing",
     "Runs a transform script (or a task's) on a stored document (--id) or a\n"
     "sample (--document FILE) and prints what would be loaded, with the ids it\n"
     "would get. Nothing is written anywhere. Exits 1 if the script failed.",
     "  certctl etl test --db hr --script public.js --id employees/1\n", test_opts, cmd_test,
     NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
