/*
 * api_certs.c - /admin/certificates and /certificates/whoami.
 *
 * Handlers validate what can be validated without the log (JSON shape,
 * clearance names, the certificate blob) so that bad input gets a precise
 * 400 at once; the rights are checked again by apply() at the entry's
 * index, which is what decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

#include "api.h"

void cr_api_whoami(struct cr_api_call *call)
{
    const struct cr_state *st = call->node->fsm.state;
    const struct cr_cert_entry *e;
    json_t *perms, *obj;

    e = cr_state_cert_find(st, call->id.thumbprint);
    if (e != NULL) {
        cr_api_reply_json(call, 200, cr_api_entry_json(st, e));
        return;
    }
    /* Not registered by thumbprint: say how the caller was trusted. */
    perms = json_object();
    for (size_t i = 0; i < call->id.n_perms; i++) {
        json_object_set_new(perms, call->id.perms[i].database,
                            json_string(cr_access_name(call->id.perms[i].access)));
    }
    obj = json_pack("{s:s, s:s, s:s, s:o}", "Thumbprint", call->id.thumbprint,
                    "Name", call->id.name != NULL ? call->id.name : "",
                    "SecurityClearance",
                    cr_clearance_name(call->id.clearance), "Permissions",
                    perms);
    if (call->id.kind == CR_IDENTITY_IMPLICIT) {
        json_object_set_new(obj, "AuthenticatedBy",
                            json_string("ImplicitTrust"));
        json_object_set_new(obj, "MatchedThumbprint",
                            json_string(call->id.matched_thumbprint));
    } else if (call->id.kind == CR_IDENTITY_CLIENT_CA &&
               call->id.client_ca != NULL) {
        json_object_set_new(obj, "AuthenticatedBy", json_string("ClientCA"));
        json_object_set_new(obj, "ClientCA",
                            json_string(call->id.client_ca->name));
    }
    cr_api_reply_json(call, 200, obj);
}

struct list_filter {
    const struct cr_state *st;
    json_t *results;
    char thumbprint[CR_THUMBPRINT_LEN + 1];
    char name[512];
    bool has_name;
    bool secondary;
    long expiring_days;
    int64_t now;
};

static bool list_visit(const struct cr_cert_entry *e, void *arg)
{
    struct list_filter *f = arg;
    const struct cr_cert_entry *p = cr_state_cert_primary(f->st, e);

    if (e->primary[0] != '\0' && !f->secondary) {
        return true;
    }
    if (f->has_name && (p == NULL || p->name == NULL ||
                        strcmp(p->name, f->name) != 0)) {
        return true;
    }
    if (f->expiring_days >= 0 &&
        e->not_after > f->now + f->expiring_days * 86400) {
        return true;
    }
    json_array_append_new(f->results, cr_api_entry_json(f->st, e));
    return true;
}

void cr_api_certs_list(struct cr_api_call *call)
{
    struct list_filter f;
    char buf[32];
    const struct cr_state *st = call->node->fsm.state;

    memset(&f, 0, sizeof f);
    f.st = st;
    f.results = json_array();
    f.expiring_days = -1;
    f.now = cr_now_ms() / 1000;
    f.secondary = cr_http_query_get(call->req, "secondary", buf, sizeof buf) >=
                      0 &&
                  strcmp(buf, "true") == 0;
    f.has_name = cr_http_query_get(call->req, "name", f.name, sizeof f.name) >=
                 0;
    if (cr_http_query_get(call->req, "expiringWithinDays", buf, sizeof buf) >=
        0) {
        char *end;
        f.expiring_days = strtol(buf, &end, 10);
        if (*end != '\0' || f.expiring_days < 0) {
            json_decref(f.results);
            cr_api_reply_error(call, CR_EINVAL,
                               "expiringWithinDays must be a non-negative "
                               "integer");
            return;
        }
    }
    if (cr_http_query_get(call->req, "thumbprint", f.thumbprint,
                          sizeof f.thumbprint) >= 0) {
        const struct cr_cert_entry *e;
        cr_thumbprint_normalize(f.thumbprint);
        e = cr_state_cert_find(st, f.thumbprint);
        if (e == NULL) {
            json_decref(f.results);
            cr_api_reply_error(call, CR_ENOTFOUND,
                               "no certificate with thumbprint %s",
                               f.thumbprint);
            return;
        }
        f.secondary = true; /* asking by thumbprint finds secondaries too */
        list_visit(e, &f);
    } else {
        cr_state_cert_foreach(st, list_visit, &f);
    }
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Results", f.results));
}

/* Permissions: {"db": "Read"|"ReadWrite"|"Admin", ...}. */
enum cr_status cr_api_parse_permissions(json_t *obj,
                                        struct cr_permission **out,
                                        size_t *n_out, struct cr_error *err)
{
    const char *db;
    json_t *level;
    size_t n = 0;

    *out = NULL;
    *n_out = 0;
    if (obj == NULL || json_is_null(obj)) {
        return CR_OK;
    }
    if (!json_is_object(obj)) {
        return cr_error_set(err, CR_EINVAL,
                            "Permissions must be an object like "
                            "{\"hr\": \"Read\"}");
    }
    *out = calloc(json_object_size(obj) + 1, sizeof **out);
    if (*out == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    json_object_foreach(obj, db, level)
    {
        enum cr_access access;
        if (!cr_database_name_valid(db)) {
            cr_error_set(err, CR_EINVAL,
                         "invalid database name '%.64s' in Permissions: use "
                         "letters, digits, '_', '-' and '.'",
                         db);
            goto fail;
        }
        if (!json_is_string(level) ||
            cr_access_parse(json_string_value(level), &access, err) !=
                CR_OK) {
            if (!json_is_string(level)) {
                cr_error_set(err, CR_EINVAL,
                             "the access level of '%s' must be a string: "
                             "Admin, ReadWrite or Read",
                             db);
            }
            goto fail;
        }
        (*out)[n].database = strdup(db);
        (*out)[n].access = access;
        if ((*out)[n].database == NULL) {
            cr_error_set(err, CR_ENOMEM, "out of memory");
            goto fail;
        }
        n++;
    }
    *n_out = n;
    return CR_OK;
fail:
    for (size_t i = 0; i < n; i++) {
        free((*out)[i].database);
    }
    free(*out);
    *out = NULL;
    return err->status;
}

static void certs_put_done(struct cr_api_call *call,
                           const struct cr_apply_result *res)
{
    const struct cr_state *st = call->node->fsm.state;
    const char *primary = call->ctx;
    const struct cr_cert_entry *e;
    json_t *secondaries;

    if (res->status != CR_OK) {
        cr_api_reply_error(call, res->status, "%s", res->message);
        return;
    }
    secondaries = json_array();
    e = cr_state_cert_find(st, primary);
    for (size_t i = 0; e != NULL && i < e->n_secondaries; i++) {
        json_array_append_new(secondaries, json_string(e->secondaries[i]));
    }
    cr_api_reply_json(call, 201,
                      json_pack("{s:s, s:o}", "Thumbprint", primary,
                                "SecondaryThumbprints", secondaries));
}

void cr_api_certs_put(struct cr_api_call *call)
{
    const char *name, *cert_b64, *clearance, *password;
    size_t cert_b64_len;
    /* The certificate is most of the body: not lexed by jansson. */
    json_t *body =
        cr_api_body_json_cut(call, "Certificate", &cert_b64, &cert_b64_len);
    struct cr_command cmd;
    struct cr_error err;
    unsigned char *blob = NULL;
    size_t blob_len = 0;

    if (body == NULL) {
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CERT_PUT);
    name = json_string_value(json_object_get(body, "Name"));
    clearance = json_string_value(json_object_get(body, "SecurityClearance"));
    password = json_string_value(json_object_get(body, "Password"));
    if (name == NULL || name[0] == '\0') {
        cr_error_set(&err, CR_EINVAL, "Name is required and must not be empty");
        goto fail;
    }
    if (cert_b64 == NULL || cert_b64_len == 0) {
        cr_error_set(&err, CR_EINVAL,
                     "Certificate is required: the base64 of a DER, PEM or "
                     "PFX file");
        goto fail;
    }
    if (clearance == NULL) {
        cmd.u.cert_put.clearance = CR_CLEARANCE_VALID_USER;
    } else if (cr_clearance_parse(clearance, &cmd.u.cert_put.clearance,
                                  &err) != CR_OK) {
        goto fail;
    }
    if (cr_api_parse_permissions(json_object_get(body, "Permissions"),
                          &cmd.u.cert_put.perms, &cmd.u.cert_put.n_perms,
                          &err) != CR_OK) {
        goto fail;
    }
    if (cr_base64_decode(cert_b64, cert_b64_len, &blob, &blob_len,
                         &err) != CR_OK) {
        cr_error_set(&err, CR_EINVAL,
                     "Certificate is not valid base64: encode the file's "
                     "bytes with base64");
        goto fail;
    }
    /* Parsed here, once: the entry carries what every node keeps. */
    if (cr_x509_decode_bundle(blob, blob_len, password, &cmd.u.cert_put.certs,
                              &cmd.u.cert_put.parsed, &err) != CR_OK) {
        goto fail;
    }
    /* Fail fast on rights; apply() checks again at the entry's index. */
    if (cr_authz_manage_cert(&call->id, cmd.u.cert_put.clearance, &err) !=
        CR_OK) {
        goto fail;
    }
    cmd.u.cert_put.name = strdup(name);
    call->ctx = strdup(cmd.u.cert_put.parsed[0].thumbprint);
    call->ctx_free = free;
    if (cmd.u.cert_put.name == NULL || call->ctx == NULL) {
        cr_error_set(&err, CR_ENOMEM, "out of memory");
        goto fail;
    }
    OPENSSL_cleanse(blob, blob_len); /* a PFX may have held a private key */
    free(blob);
    json_decref(body);
    cr_api_propose(call, &cmd, certs_put_done);
    cr_command_free(&cmd);
    return;
fail:
    if (blob != NULL) {
        OPENSSL_cleanse(blob, blob_len);
    }
    free(blob);
    json_decref(body);
    cr_command_free(&cmd);
    cr_api_reply_error(call, err.status, "%s", err.msg);
}

static void certs_delete_done(struct cr_api_call *call,
                              const struct cr_apply_result *res)
{
    if (res->status != CR_OK) {
        cr_api_reply_error(call, res->status, "%s", res->message);
        return;
    }
    cr_api_reply_json(call, 200, json_pack("{s:O}", "Deleted", call->ctx));
}

static void json_decref_void(void *p)
{
    json_decref(p);
}

void cr_api_certs_delete(struct cr_api_call *call)
{
    struct cr_command cmd;
    char thumb[CR_THUMBPRINT_LEN + 8];

    if (cr_http_query_get(call->req, "thumbprint", thumb, sizeof thumb) < 0 ||
        !cr_thumbprint_valid(thumb)) {
        cr_api_reply_error(call, CR_EINVAL,
                           "give the certificate to delete as "
                           "?thumbprint=<64 hex digits>");
        return;
    }
    cr_thumbprint_normalize(thumb);
    cr_api_command_init(call, &cmd, CR_CMD_CERT_DELETE);
    memcpy(cmd.u.cert_delete.thumbprint, thumb, CR_THUMBPRINT_LEN + 1);
    {
        /* The collection as it stands now: apply() deletes exactly the
         * members of the entry it finds, which are these unless a later
         * entry changed them first. */
        const struct cr_state *st = call->node->fsm.state;
        const struct cr_cert_entry *e = cr_state_cert_find(st, thumb);
        json_t *deleted = json_array();
        json_array_append_new(deleted, json_string(thumb));
        for (size_t i = 0; e != NULL && e->primary[0] == '\0' &&
                           i < e->n_secondaries;
             i++) {
            json_array_append_new(deleted, json_string(e->secondaries[i]));
        }
        call->ctx = deleted;
        call->ctx_free = json_decref_void;
    }
    cr_api_propose(call, &cmd, certs_delete_done);
    cr_command_free(&cmd);
}

static void certs_edit_done(struct cr_api_call *call,
                            const struct cr_apply_result *res)
{
    const struct cr_state *st = call->node->fsm.state;
    const struct cr_cert_entry *e;

    if (cr_api_reply_if_refused(call, res)) {
        return;
    }
    e = cr_state_cert_find(st, call->ctx);
    if (e == NULL) { /* deleted by a later entry already */
        cr_api_reply_error(call, CR_ENOTFOUND, "certificate %s is gone",
                           (char *)call->ctx);
        return;
    }
    cr_api_reply_json(call, 200, cr_api_entry_json(st, e));
}

/* POST /admin/certificates/edit {Thumbprint, Name?, SecurityClearance?,
 * Permissions?, Disabled?}: fields left out stay as they are. */
void cr_api_certs_edit(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    struct cr_command cmd;
    struct cr_error err;
    const char *thumb, *name, *clearance;
    json_t *perms, *disabled;

    if (body == NULL) {
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CERT_EDIT);
    cmd.u.cert_edit.disabled = -1;
    thumb = json_string_value(json_object_get(body, "Thumbprint"));
    name = json_string_value(json_object_get(body, "Name"));
    clearance = json_string_value(json_object_get(body, "SecurityClearance"));
    perms = json_object_get(body, "Permissions");
    disabled = json_object_get(body, "Disabled");
    if (thumb == NULL || !cr_thumbprint_valid(thumb)) {
        cr_error_set(&err, CR_EINVAL,
                     "Thumbprint (64 hex digits) names the certificate to "
                     "edit");
        goto fail;
    }
    memcpy(cmd.u.cert_edit.thumbprint, thumb, CR_THUMBPRINT_LEN + 1);
    cr_thumbprint_normalize(cmd.u.cert_edit.thumbprint);
    if (json_object_get(body, "Name") != NULL &&
        (name == NULL || name[0] == '\0')) {
        cr_error_set(&err, CR_EINVAL, "Name must be a non-empty string");
        goto fail;
    }
    if (clearance != NULL) {
        if (cr_clearance_parse(clearance, &cmd.u.cert_edit.clearance, &err) !=
            CR_OK) {
            goto fail;
        }
        cmd.u.cert_edit.set_clearance = true;
        if (cr_authz_manage_cert(&call->id, cmd.u.cert_edit.clearance,
                                 &err) != CR_OK) {
            goto fail;
        }
    }
    if (perms != NULL) {
        if (cr_api_parse_permissions(perms, &cmd.u.cert_edit.perms,
                                     &cmd.u.cert_edit.n_perms,
                                     &err) != CR_OK) {
            goto fail;
        }
        cmd.u.cert_edit.set_perms = true;
    }
    if (disabled != NULL) {
        if (!json_is_boolean(disabled)) {
            cr_error_set(&err, CR_EINVAL, "Disabled must be true or false");
            goto fail;
        }
        cmd.u.cert_edit.disabled = json_is_true(disabled) ? 1 : 0;
    }
    if (name != NULL && (cmd.u.cert_edit.name = strdup(name)) == NULL) {
        cr_error_set(&err, CR_ENOMEM, "out of memory");
        goto fail;
    }
    call->ctx = strdup(cmd.u.cert_edit.thumbprint);
    call->ctx_free = free;
    json_decref(body);
    cr_api_propose(call, &cmd, certs_edit_done);
    cr_command_free(&cmd);
    return;
fail:
    json_decref(body);
    cr_command_free(&cmd);
    cr_api_reply_error(call, err.status, "%s", err.msg);
}
