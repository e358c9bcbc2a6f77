/*
 * certctl_db.c - "certctl db ...": creating, deleting and listing
 * databases. A database's name may be given as --name or as the only
 * argument ("certctl db create hr").
 */
#include <stdio.h>
#include <string.h>

#include "certctl.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* ---- db create --------------------------------------------------------- */

static const struct certctl_opt create_opts[] = {
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", "name of the new database",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Prints "<verb> database <Name from the reply>", or the reply as JSON. */
static int print_db_result(struct certctl_ctx *ctx, const json_t *reply, const char *verb,
                           const char *asked)
{
    const char *name = json_string_value(json_object_get(reply, "Name"));
    char shown[512];

    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        return certctl_print_json(ctx, reply);
    }
    certctl_scrub(shown, sizeof(shown), name != NULL ? name : asked);
    fprintf(ctx->out, "%s database %s\n", verb, shown);
    return CERTCTL_EXIT_OK;
}

static int cmd_create(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *name = certctl_args_get(args, "name");
    struct certctl_reply r;
    json_t *body;
    int rc;

    body = json_pack("{s:s}", "DatabaseName", name);
    if (body == NULL) {
        return certctl_usage_fail(ctx, "the database name must be valid UTF-8");
    }
    rc = certctl_call(ctx, "PUT", "/admin/databases", body, &r);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    rc = print_db_result(ctx, r.json, "created", name);
    certctl_reply_free(&r);
    return rc;
}

/* ---- db delete --------------------------------------------------------- */

static const struct certctl_opt delete_opts[] = {
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME",
     "database to delete, with all its documents", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_delete(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *name = certctl_args_get(args, "name");
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;

    certctl_buf_init(&path);
    if (certctl_buf_puts(&path, "/admin/databases") != 0 ||
        certctl_query_add(&path, "name", name) != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "DELETE", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    rc = print_db_result(ctx, r.json, "deleted", name);
    certctl_reply_free(&r);
    return rc;
}

/* ---- db list ----------------------------------------------------------- */

static const struct certctl_opt list_opts[] = {
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_db_list(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"NAME", "DOCUMENTS", "ACCESS"};
    const json_t *list = json_object_get(reply, "Databases");
    struct certctl_table t;
    const json_t *d;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    if (json_array_size(list) == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no databases you can see\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&t, 3, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(list, i, d)
    {
        char name[512], docs[32], access[64];
        const char *row[3];

        row[0] = certctl_json_text(json_object_get(d, "Name"), name, sizeof(name));
        row[1] = certctl_json_text(json_object_get(d, "Documents"), docs, sizeof(docs));
        row[2] = certctl_json_text(json_object_get(d, "Access"), access, sizeof(access));
        if (certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
            break;
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
    }
    certctl_table_free(&t);
    return rc;
}

static int cmd_list(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_reply r;
    int rc;

    (void)args;
    rc = certctl_call(ctx, "GET", "/databases", NULL, &r);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_db_list(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_db_commands[] = {
    {"create", "create a database",
     "Creates an empty database. Client certificates get access to it with\n"
     "'certctl certs edit --perm NAME=LEVEL' (or --perm when uploading or\n"
     "generating them).",
     "  certctl db create hr\n", create_opts, cmd_create, "name"},
    {"delete", "delete a database and all its documents",
     "Deletes a database with every document in it. There is no undo.",
     "  certctl db delete hr\n", delete_opts, cmd_delete, "name"},
    {"list", "list the databases you have access to",
     "Lists the databases the client certificate may use, with their number of\n"
     "documents and its access level to each (all of them for an operator or\n"
     "cluster admin).",
     "  certctl db list\n", list_opts, cmd_list, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
