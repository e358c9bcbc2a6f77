/*
 * api_databases.c - databases and their JSON documents: the resources that
 * per-database access levels guard.
 *
 * Read may read and list, ReadWrite may also write, Admin (and Operator or
 * above) may also manage the database. The handlers check the caller's
 * access to fail fast; apply() checks it again at the entry's index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* 201/200 replies that echo a name. */
static void db_put_done(struct cr_api_call *call,
                        const struct cr_apply_result *res)
{
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 201,
                          json_pack("{s:s}", "Name", (char *)call->ctx));
    }
}

void cr_api_db_put(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    const char *name;
    struct cr_command cmd;

    if (body == NULL) {
        return;
    }
    name = json_string_value(json_object_get(body, "DatabaseName"));
    if (name == NULL || !cr_database_name_valid(name)) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "DatabaseName must be 1-128 letters, digits, '_', "
                           "'-' or '.' (not starting with '.')");
        return;
    }
    call->ctx = strdup(name);
    call->ctx_free = free;
    json_decref(body);
    if (call->ctx == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_DB_PUT);
    cmd.u.db.name = call->ctx;
    cr_api_propose(call, &cmd, db_put_done);
}

static void db_delete_done(struct cr_api_call *call,
                           const struct cr_apply_result *res)
{
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:b}", "Name", (char *)call->ctx,
                                    "Deleted", 1));
    }
}

void cr_api_db_delete(struct cr_api_call *call)
{
    char name[256];
    struct cr_command cmd;

    if (cr_http_query_get(call->req, "name", name, sizeof name) < 0 ||
        !cr_database_name_valid(name)) {
        cr_api_reply_error(call, CR_EINVAL,
                           "give the database to delete as ?name=<database>: "
                           "1-128 letters, digits, '_', '-' or '.' (not "
                           "starting with '.')");
        return;
    }
    call->ctx = strdup(name);
    call->ctx_free = free;
    if (call->ctx == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_DB_DELETE);
    cmd.u.db.name = call->ctx;
    cr_api_propose(call, &cmd, db_delete_done);
}

struct db_list {
    struct cr_api_call *call;
    json_t *out;
};

static bool db_list_visit(const char *name, void *arg)
{
    struct db_list *l = arg;
    enum cr_access access = cr_authz_db_access(&l->call->id, name);

    /* A ValidUser sees only the databases it may use. */
    if (access != CR_ACCESS_NONE) {
        json_array_append_new(
            l->out,
            json_pack("{s:s, s:I, s:s}", "Name", name, "Documents",
                      (json_int_t)cr_state_db_doc_count(
                          l->call->node->fsm.state, name),
                      "Access", cr_access_name(access)));
    }
    return true;
}

void cr_api_db_list(struct cr_api_call *call)
{
    struct db_list l = {call, json_array()};
    cr_state_db_foreach(call->node->fsm.state, db_list_visit, &l);
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Databases", l.out));
}
