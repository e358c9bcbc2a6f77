/*
 * api_trust.c - trust that is not a registered thumbprint: registering a
 * certificate accepted by implicit trust (pinning hash), and the client CA
 * bundles of CockroachDB's model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include <certraft/x509.h>

#include "api.h"

static void implicit_done(struct cr_api_call *call,
                          const struct cr_apply_result *res)
{
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:s}", "Thumbprint",
                                    call->id.thumbprint, "Status",
                                    "Registered"));
    }
}

/* POST /cluster/implicit-trust: register the caller's certificate (sent
 * by a follower on its behalf, or by the caller itself), which
 * authenticated by pinning hash. */
void cr_api_implicit_trust(struct cr_api_call *call)
{
    struct cr_command cmd;

    if (call->id.kind == CR_IDENTITY_CERTIFICATE) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:s}", "Thumbprint",
                                    call->id.thumbprint, "Status",
                                    "AlreadyRegistered"));
        return;
    }
    if (call->id.kind != CR_IDENTITY_IMPLICIT) {
        cr_api_reply_error(call, CR_EFORBIDDEN,
                           "only a certificate trusted by its pinning hash "
                           "is registered this way");
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CERT_IMPLICIT);
    cmd.caller_der.der = call->caller_der;
    cmd.caller_der.len = call->caller_der_len;
    cr_api_propose(call, &cmd, implicit_done);
}

/* --- client CAs (CockroachDB's model) --------------------------------- */

/* Every CERTIFICATE block of a PEM bundle, in order (CA bundles keep all
 * members, unlike uploads, which skip the chain). */
static enum cr_status pem_certs(const char *pem, struct cr_der_list *out,
                                struct cr_error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
    X509 *x;

    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        unsigned char *der = NULL;
        size_t len = 0;
        if (cr_x509_to_der(x, &der, &len) != CR_OK ||
            cr_der_list_append(out, der, len) != CR_OK) {
            free(der);
            X509_free(x);
            BIO_free(bio);
            return cr_error_set(err, CR_ENOMEM, "out of memory");
        }
        free(der);
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    if (out->n == 0) {
        return cr_error_set(err, CR_EINVAL,
                            "x509_pem_cert holds no PEM certificate: give "
                            "the CA certificate(s) as -----BEGIN "
                            "CERTIFICATE----- blocks");
    }
    return CR_OK;
}

static char *bundle_pem(const struct cr_der_list *certs)
{
    size_t len = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; out != NULL && i < certs->n; i++) {
        char *pem = cr_der_to_pem(certs->items[i].der, certs->items[i].len);
        char *grown = pem ? realloc(out, len + strlen(pem) + 1) : NULL;
        if (grown == NULL) {
            free(pem);
            free(out);
            return NULL;
        }
        out = grown;
        memcpy(out + len, pem, strlen(pem) + 1);
        len += strlen(pem);
        free(pem);
    }
    return out;
}

static json_t *client_ca_json(const struct cr_client_ca *ca, const char *name,
                              const char *status)
{
    json_t *perms = json_object();
    char *pem;
    json_t *obj;

    if (ca == NULL) {
        json_decref(perms);
        return json_pack("{s:s, s:s, s:s}", "Name", name, "status", status,
                         "x509_pem_cert", "");
    }
    for (size_t i = 0; i < ca->n_perms; i++) {
        json_object_set_new(perms, ca->perms[i].database,
                            json_string(cr_access_name(ca->perms[i].access)));
    }
    pem = bundle_pem(&ca->certs);
    obj = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "Name", ca->name,
                    "status", status, "x509_pem_cert", pem ? pem : "",
                    "SecurityClearance", cr_clearance_name(ca->clearance),
                    "Permissions", perms, "Certificates", (json_int_t)ca->certs.n,
                    "UpdatedAtIndex", (json_int_t)ca->updated_index);
    free(pem);
    return obj;
}

/* The node remembers what happened to its own recent proposals, which is
 * where CockroachDB's PENDING and FAILED come from; the replicated state
 * only knows IS_SET. */
static const char *local_status(struct cr_node *node, const char *name,
                                const char *fallback)
{
    for (size_t i = 0; i < CR_CA_STATUS_SLOTS; i++) {
        if (strcmp(node->ca_status[i].name, name) == 0 &&
            node->ca_status[i].status != NULL) {
            return node->ca_status[i].status;
        }
    }
    return fallback;
}

static void set_local_status(struct cr_node *node, const char *name,
                             const char *status)
{
    struct cr_ca_status_slot *slot = &node->ca_status[0];
    for (size_t i = 0; i < CR_CA_STATUS_SLOTS; i++) {
        if (strcmp(node->ca_status[i].name, name) == 0) {
            slot = &node->ca_status[i];
            break;
        }
        if (node->ca_status[i].at_ms < slot->at_ms) {
            slot = &node->ca_status[i];
        }
    }
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->status = status;
    slot->at_ms = cr_now_ms();
}

void cr_api_client_ca_get(struct cr_api_call *call)
{
    const struct cr_state *st = call->node->fsm.state;
    char name[CR_CA_NAME_MAX];
    json_t *results;

    if (cr_http_query_get(call->req, "name", name, sizeof name) >= 0) {
        const struct cr_client_ca *ca = cr_state_client_ca_find(st, name);
        cr_api_reply_json(
            call, 200,
            client_ca_json(ca, name,
                           local_status(call->node, name,
                                        ca != NULL ? "IS_SET" : "NOT_SET")));
        return;
    }
    results = json_array();
    for (size_t i = 0; i < cr_state_client_ca_count(st); i++) {
        const struct cr_client_ca *ca = cr_state_client_ca_get(st, i);
        json_array_append_new(
            results,
            client_ca_json(ca, ca->name,
                           local_status(call->node, ca->name, "IS_SET")));
    }
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Results", results));
}

static void client_ca_done(struct cr_api_call *call,
                           const struct cr_apply_result *res)
{
    const char *name = call->ctx;
    const struct cr_client_ca *ca;

    if (res->status != CR_OK) {
        set_local_status(call->node, name, "FAILED");
        cr_api_reply_error(call, res->status, "%s", res->message);
        return;
    }
    set_local_status(call->node, name, NULL);
    ca = cr_state_client_ca_find(call->node->fsm.state, name);
    cr_api_reply_json(call, 200,
                      client_ca_json(ca, name, ca ? "IS_SET" : "NOT_SET"));
}

/* PUT (create or replace) and PATCH (APPEND or REPLACE the certificates,
 * keeping clearance and permissions unless given). */
static void client_ca_write(struct cr_api_call *call, bool patch)
{
    json_t *body = cr_api_body_json(call);
    const struct cr_client_ca *existing;
    struct cr_command cmd;
    struct cr_error err;
    const char *name, *pem, *clearance, *mode;

    if (body == NULL) {
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CLIENT_CA_PUT);
    cmd.u.client_ca.mode = CR_CLIENT_CA_REPLACE;
    name = json_string_value(json_object_get(body, "Name"));
    pem = json_string_value(json_object_get(body, "x509_pem_cert"));
    clearance = json_string_value(json_object_get(body, "SecurityClearance"));
    mode = json_string_value(json_object_get(body, "Mode"));
    if (name == NULL || name[0] == '\0' || strlen(name) >= CR_CA_NAME_MAX) {
        cr_error_set(&err, CR_EINVAL,
                     "Name (1-%d characters) names the CA bundle",
                     CR_CA_NAME_MAX - 1);
        goto fail;
    }
    if (pem == NULL) {
        cr_error_set(&err, CR_EINVAL,
                     "x509_pem_cert is required: the CA certificate(s) in "
                     "PEM");
        goto fail;
    }
    if (mode != NULL) {
        if (strcmp(mode, "APPEND") == 0) {
            cmd.u.client_ca.mode = CR_CLIENT_CA_APPEND;
        } else if (strcmp(mode, "REPLACE") != 0) {
            cr_error_set(&err, CR_EINVAL, "Mode must be APPEND or REPLACE");
            goto fail;
        }
    }
    if (!patch && mode != NULL) {
        cr_error_set(&err, CR_EINVAL,
                     "PUT always replaces; use PATCH with Mode APPEND to "
                     "add certificates");
        goto fail;
    }
    existing = cr_state_client_ca_find(call->node->fsm.state, name);
    if (patch && existing == NULL) {
        cr_error_set(&err, CR_ENOTFOUND,
                     "client CA '%s' does not exist; create it with PUT",
                     name);
        goto fail;
    }
    if (clearance != NULL) {
        if (cr_clearance_parse(clearance, &cmd.u.client_ca.clearance, &err) !=
            CR_OK) {
            goto fail;
        }
    } else if (existing != NULL) {
        cmd.u.client_ca.clearance = existing->clearance;
    } else {
        cmd.u.client_ca.clearance = CR_CLEARANCE_VALID_USER;
    }
    if (json_object_get(body, "Permissions") != NULL || existing == NULL) {
        if (cr_api_parse_permissions(json_object_get(body, "Permissions"),
                                     &cmd.u.client_ca.perms,
                                     &cmd.u.client_ca.n_perms,
                                     &err) != CR_OK) {
            goto fail;
        }
    } else {
        cmd.u.client_ca.perms =
            calloc(existing->n_perms + 1, sizeof *cmd.u.client_ca.perms);
        for (size_t i = 0; cmd.u.client_ca.perms && i < existing->n_perms;
             i++) {
            cmd.u.client_ca.perms[i].database =
                strdup(existing->perms[i].database);
            cmd.u.client_ca.perms[i].access = existing->perms[i].access;
            cmd.u.client_ca.n_perms++;
        }
    }
    if (pem_certs(pem, &cmd.u.client_ca.certs, &err) != CR_OK) {
        goto fail;
    }
    cmd.u.client_ca.name = strdup(name);
    call->ctx = strdup(name);
    call->ctx_free = free;
    if (cmd.u.client_ca.name == NULL || call->ctx == NULL) {
        cr_error_set(&err, CR_ENOMEM, "out of memory");
        goto fail;
    }
    set_local_status(call->node, name, "PENDING");
    json_decref(body);
    cr_api_propose(call, &cmd, client_ca_done);
    cr_command_free(&cmd);
    return;
fail:
    json_decref(body);
    cr_command_free(&cmd);
    cr_api_reply_error(call, err.status, "%s", err.msg);
}

void cr_api_client_ca_put(struct cr_api_call *call)
{
    client_ca_write(call, false);
}

void cr_api_client_ca_patch(struct cr_api_call *call)
{
    client_ca_write(call, true);
}

void cr_api_client_ca_delete(struct cr_api_call *call)
{
    char name[CR_CA_NAME_MAX];
    struct cr_command cmd;

    if (cr_http_query_get(call->req, "name", name, sizeof name) < 0 ||
        name[0] == '\0') {
        cr_api_reply_error(call, CR_EINVAL,
                           "give the client CA to delete as ?name=<name>");
        return;
    }
    call->ctx = strdup(name);
    call->ctx_free = free;
    cr_api_command_init(call, &cmd, CR_CMD_CLIENT_CA_DELETE);
    cmd.u.client_ca.name = call->ctx;
    cr_api_propose(call, &cmd, client_ca_done);
}
