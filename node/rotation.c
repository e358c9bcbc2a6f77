/*
 * rotation.c - replacing the cluster certificate without a restart
 * (RavenDB's flow), the node's half.
 *
 * The log carries the plan (core: CLUSTER_CERT_INSTALL, CONFIRM, SWITCHED,
 * CLEANUP); each node drives its own part from its tick:
 *   1. unseal the new key (sealed with the current cluster key, see
 *      seal.h), write cluster.crt.new / cluster.key.new, CONFIRM;
 *   2. once the rule says so (everyone confirmed, asked to switch now, or
 *      3 days or less left), move the files in place, rebuild the TLS
 *      contexts, SWITCHED;
 *   3. the leader sends CLEANUP once every voter has switched.
 * Old and new certificates are both trusted by raft peers and the API
 * until the cleanup, so traffic carries on throughout. Every step is
 * retried until the log shows it, so a lost message or a leader change
 * only delays it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <certraft/x509.h>

#include "api.h"
#include "background.h"
#include "data_dir.h"
#include "rotation.h"
#include "seal.h"

#define RETRY_MS 1000

static bool id_in(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

static size_t voters(struct cr_node *node, uint64_t *out, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < node->raft.configuration.n && n < max; i++) {
        if (node->raft.configuration.servers[i].role == RAFT_VOTER) {
            out[n++] = node->raft.configuration.servers[i].id;
        }
    }
    return n;
}

/* CONFIRM / SWITCHED for this node: proposed here when leading, else sent
 * to the leader, who proposes it with our certificate as the caller. */
static void report(struct cr_node *node, enum cr_command_type type)
{
    struct cr_command cmd;
    char body[96];

    memset(&cmd, 0, sizeof cmd);
    cmd.type = type;
    memcpy(cmd.caller, node->cert_thumbprint, sizeof cmd.caller);
    cmd.time_ms = cr_now_ms();
    cmd.u.cluster_node.node_id = node->config.id;
    if (cr_background_propose(node, &cmd) == 0) {
        return;
    }
    snprintf(body, sizeof body, "{\"Step\":\"%s\",\"NodeId\":%llu}",
             type == CR_CMD_CLUSTER_CERT_CONFIRM ? "Confirm" : "Switched",
             (unsigned long long)node->config.id);
    cr_background_to_leader(node, "/cluster/replacement", body, NULL, 0);
}

static char *pem_of_entry(const struct cr_state *st, const char *thumb,
                          const struct cr_der_list *chain)
{
    const struct cr_cert_entry *e = cr_state_cert_find(st, thumb);
    char *pem = e ? cr_der_to_pem(e->der, e->der_len) : NULL;
    for (size_t i = 0; pem != NULL && chain != NULL && i < chain->n; i++) {
        char *more = cr_der_to_pem(chain->items[i].der, chain->items[i].len);
        char *joined = more ? malloc(strlen(pem) + strlen(more) + 1) : NULL;
        if (joined != NULL) {
            strcpy(joined, pem);
            strcat(joined, more);
        }
        free(more);
        free(pem);
        pem = joined;
    }
    return pem;
}

/* Step 1: the new certificate and key, ready beside the current ones. */
static int prepare(struct cr_node *node, const struct cr_replacement *r)
{
    char cpath[600], kpath[600], err[256];
    unsigned char *key = NULL;
    size_t key_len = 0;
    char *cert;
    int rv;

    if (strcmp(node->rotation.prepared_for, r->new_thumbprint) == 0) {
        return 0;
    }
    if (cr_unseal(node->cluster_pkey, r->new_thumbprint, r->sealed_key.der,
                  r->sealed_key.len, &key, &key_len) != 0) {
        if (!node->rotation.unseal_failed) {
            fprintf(stderr, "certnode: cannot open the replacement key for "
                            "%.16s...: this node's cluster key is not the "
                            "one it was sealed with\n",
                    r->new_thumbprint);
            node->rotation.unseal_failed = true;
        }
        return -1;
    }
    cert = pem_of_entry(node->fsm.state, r->new_thumbprint, &r->chain);
    cr_path_join(cpath, sizeof cpath, node->config.data_dir,
                 CR_FILE_CLUSTER_CERT ".new");
    cr_path_join(kpath, sizeof kpath, node->config.data_dir,
                 CR_FILE_CLUSTER_KEY ".new");
    rv = cert != NULL &&
                 cr_file_write_private(kpath, key, key_len, err,
                                       sizeof err) == 0 &&
                 cr_file_write_private(cpath, cert, strlen(cert), err,
                                       sizeof err) == 0
             ? 0
             : -1;
    OPENSSL_clear_free(key, key_len);
    free(cert);
    if (rv == 0) {
        snprintf(node->rotation.prepared_for,
                 sizeof node->rotation.prepared_for, "%s", r->new_thumbprint);
    } else {
        fprintf(stderr, "certnode: cannot stage the new certificate: %s\n",
                err);
    }
    return rv;
}

/* Step 2: the staged files become the node's certificate. */
static int switch_now(struct cr_node *node)
{
    char cpath[600], kpath[600], cnew[600], knew[600], err[256];
    char *cert, *key;

    cr_path_join(cpath, sizeof cpath, node->config.data_dir,
                 CR_FILE_CLUSTER_CERT);
    cr_path_join(kpath, sizeof kpath, node->config.data_dir,
                 CR_FILE_CLUSTER_KEY);
    snprintf(cnew, sizeof cnew, "%s.new", cpath);
    snprintf(knew, sizeof knew, "%s.new", kpath);
    cert = cr_file_read(cnew, NULL, err, sizeof err);
    key = cert ? cr_file_read(knew, NULL, err, sizeof err) : NULL;
    if (key == NULL) {
        free(cert);
        node->rotation.prepared_for[0] = '\0'; /* stage again */
        return -1;
    }
    if (cr_node_switch_certificate(node, cert, key, err, sizeof err) != 0) {
        fprintf(stderr, "certnode: cannot switch certificates: %s\n", err);
        return -1;
    }
    /* Key first: a crash between the renames leaves a new key with the
     * old certificate, which start-up reports (key mismatch) instead of
     * silently serving a half-rotated identity. */
    if (rename(knew, kpath) != 0 || rename(cnew, cpath) != 0) {
        fprintf(stderr, "certnode: cannot move the new certificate into "
                        "place in %s\n",
                node->config.data_dir);
        return -1;
    }
    fprintf(stderr, "certnode: node %llu now serves cluster certificate "
                    "%.16s...\n",
            (unsigned long long)node->config.id, node->cert_thumbprint);
    return 0;
}

void cr_rotation_tick(struct cr_node *node)
{
    const struct cr_replacement *r = cr_state_replacement(node->fsm.state);
    int64_t now = cr_now_ms();
    uint64_t ids[64];
    size_t n_voters;
    bool serving_new, in_progress;
    const struct cr_cert_entry *old;

    if (r->phase == CR_REPLACEMENT_NONE || r->new_thumbprint[0] == '\0') {
        return;
    }
    in_progress = r->phase != CR_REPLACEMENT_DONE;
    serving_new = strcmp(node->cert_thumbprint, r->new_thumbprint) == 0;
    n_voters = voters(node, ids, 64);

    if (!serving_new) {
        /* A node that missed the whole replacement (DONE already) only
         * needs to catch up: stage and switch. */
        if (prepare(node, r) != 0) {
            return;
        }
        if (in_progress && !id_in(r->confirmed, r->n_confirmed,
                                  node->config.id) &&
            now - node->rotation.last_confirm_ms > RETRY_MS) {
            node->rotation.last_confirm_ms = now;
            report(node, CR_CMD_CLUSTER_CERT_CONFIRM);
        }
        old = cr_state_cert_find(node->fsm.state, r->old_thumbprint);
        if (!in_progress ||
            cr_replacement_should_switch(r, ids, n_voters, now,
                                         old ? old->not_after
                                             : r->old_not_after)) {
            if (switch_now(node) != 0) {
                return;
            }
            serving_new = true;
        }
    }
    if (serving_new && in_progress &&
        !id_in(r->switched, r->n_switched, node->config.id) &&
        now - node->rotation.last_switched_ms > RETRY_MS) {
        node->rotation.last_switched_ms = now;
        report(node, CR_CMD_CLUSTER_CERT_SWITCHED);
    }
    /* Step 3, on the leader: everyone serves the new certificate. */
    if (in_progress && cr_node_is_leader(node) && n_voters > 0 &&
        now - node->rotation.last_cleanup_ms > RETRY_MS) {
        for (size_t i = 0; i < n_voters; i++) {
            if (!id_in(r->switched, r->n_switched, ids[i])) {
                return;
            }
        }
        struct cr_command cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = CR_CMD_CLUSTER_CERT_CLEANUP;
        memcpy(cmd.caller, node->cert_thumbprint, sizeof cmd.caller);
        cmd.time_ms = now;
        cmd.u.cluster_cleanup.voters = ids;
        cmd.u.cluster_cleanup.n_voters = n_voters;
        node->rotation.last_cleanup_ms = now;
        cr_background_propose(node, &cmd);
    }
}

/* --- the API ---------------------------------------------------------- */

static void install_done(struct cr_api_call *call,
                         const struct cr_apply_result *res)
{
    const struct cr_replacement *r;
    if (cr_api_reply_if_refused(call, res)) {
        return;
    }
    r = cr_state_replacement(call->node->fsm.state);
    cr_api_reply_json(call, 202,
                      json_pack("{s:s, s:s}", "Thumbprint", r->new_thumbprint,
                                "Phase", cr_replacement_phase_name(r->phase)));
}

/* Seal @key with the current cluster key and propose the INSTALL. */
static void propose_install(struct cr_api_call *call, X509 *cert,
                            EVP_PKEY *key, const struct cr_der_list *chain,
                            bool now)
{
    struct cr_command cmd;
    unsigned char *der = NULL, *sealed = NULL;
    size_t der_len = 0, sealed_len = 0;
    char thumb[CR_THUMBPRINT_LEN + 1];
    char *key_pem;

    if (X509_check_private_key(cert, key) != 1) {
        cr_api_reply_error(call, CR_EINVAL,
                           "the private key does not match the certificate");
        return;
    }
    if (cr_x509_to_der(cert, &der, &der_len) != CR_OK) {
        cr_api_reply_error(call, CR_EINTERNAL, "cannot encode certificate");
        return;
    }
    cr_thumbprint(der, der_len, thumb);
    key_pem = cr_key_to_pem(key, NULL);
    if (key_pem == NULL ||
        cr_seal(call->node->cluster_pkey, thumb, (unsigned char *)key_pem,
                strlen(key_pem), &sealed, &sealed_len) != 0) {
        if (key_pem != NULL) {
            OPENSSL_clear_free(key_pem, strlen(key_pem));
        }
        free(der);
        cr_api_reply_error(call, CR_EINTERNAL, "cannot seal the new key");
        return;
    }
    OPENSSL_clear_free(key_pem, strlen(key_pem));
    cr_api_command_init(call, &cmd, CR_CMD_CLUSTER_CERT_INSTALL);
    cmd.u.cluster_install.cert.der = der;
    cmd.u.cluster_install.cert.len = der_len;
    if (chain != NULL) {
        cmd.u.cluster_install.chain = *chain;
    }
    cmd.u.cluster_install.sealed_key.der = sealed;
    cmd.u.cluster_install.sealed_key.len = sealed_len;
    cmd.u.cluster_install.switch_now = now;
    cr_api_propose(call, &cmd, install_done);
    free(der);
    free(sealed);
}

/* POST /admin/certificates/replace-cluster-cert {Certificate: base64 PFX,
 * Password?, ReplaceImmediately?} */
void cr_api_replace_cluster_cert(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    const char *b64, *password;
    unsigned char *pfx = NULL;
    size_t pfx_len = 0;
    struct cr_error err;
    struct cr_der_list chain = {0};
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    if (body == NULL) {
        return;
    }
    b64 = json_string_value(json_object_get(body, "Certificate"));
    password = json_string_value(json_object_get(body, "Password"));
    if (b64 == NULL ||
        cr_base64_decode(b64, strlen(b64), &pfx, &pfx_len, &err) != CR_OK) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "Certificate must be the base64 of a PFX file "
                           "holding the new certificate and its key");
        return;
    }
    if (cr_pkcs12_read(pfx, pfx_len, password, &key, &cert, &chain, &err) !=
            CR_OK ||
        key == NULL) {
        OPENSSL_clear_free(pfx, pfx_len);
        json_decref(body);
        X509_free(cert);
        cr_der_list_free(&chain);
        cr_api_reply_error(call, CR_EINVAL, "%s",
                           key == NULL && cert != NULL
                               ? "the PFX holds no private key"
                               : err.msg);
        return;
    }
    OPENSSL_clear_free(pfx, pfx_len);
    propose_install(call, cert, key, &chain,
                    json_is_true(json_object_get(body, "ReplaceImmediately")));
    json_decref(body);
    X509_free(cert);
    EVP_PKEY_free(key);
    cr_der_list_free(&chain);
}

/* POST /admin/certificates/renew-cluster-cert {ExpirationDays?,
 * ReplaceImmediately?}: the same key, a new serial and validity. */
void cr_api_renew_cluster_cert(struct cr_api_call *call)
{
    struct cr_node *node = call->node;
    json_t *body = call->req->body_len ? cr_api_body_json(call) : json_object();
    json_t *days_j;
    X509 *cert;
    ASN1_INTEGER *serial;
    unsigned char rnd[20];
    long days;

    if (body == NULL) {
        return;
    }
    if (X509_check_issued(node->cluster_x509, node->cluster_x509) !=
        X509_V_OK) {
        json_decref(body);
        cr_api_reply_error(call, CR_ECONFLICT,
                           "the cluster certificate was issued by another "
                           "authority: renew it there and use "
                           "replace-cluster-cert");
        return;
    }
    days_j = json_object_get(body, "ExpirationDays");
    days = 3650; /* as `certnode init` issues it */
    if (days_j != NULL) {
        if (!json_is_integer(days_j) || json_integer_value(days_j) < 1 ||
            json_integer_value(days_j) > 36500) {
            json_decref(body);
            cr_api_reply_error(call, CR_EINVAL,
                               "ExpirationDays must be from 1 to 36500");
            return;
        }
        days = (long)json_integer_value(days_j);
    }
    cert = X509_dup(node->cluster_x509);
    serial = ASN1_INTEGER_new();
    RAND_bytes(rnd, sizeof rnd);
    /* Positive, and never a leading zero byte: a raw 0x00 first octet
     * would be non-minimal DER, which parsers rightly reject. */
    rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40);
    if (cert == NULL || serial == NULL ||
        ASN1_STRING_set(serial, rnd, sizeof rnd) != 1 ||
        X509_set_serialNumber(cert, serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert), -86400) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400) == NULL ||
        X509_sign(cert, node->cluster_pkey, EVP_sha256()) <= 0) {
        ASN1_INTEGER_free(serial);
        X509_free(cert);
        json_decref(body);
        cr_api_reply_error(call, CR_EINTERNAL,
                           "cannot re-issue the cluster certificate");
        return;
    }
    ASN1_INTEGER_free(serial);
    propose_install(call, cert, node->cluster_pkey, NULL,
                    json_is_true(json_object_get(body, "ReplaceImmediately")));
    X509_free(cert);
    json_decref(body);
}

static json_t *ids_json(const uint64_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_integer((json_int_t)ids[i]));
    }
    return a;
}

void cr_api_replacement_status(struct cr_api_call *call)
{
    const struct cr_replacement *r = cr_state_replacement(call->node->fsm.state);
    uint64_t ids[64];
    size_t n = voters(call->node, ids, 64);
    char started[32] = "", finished[32] = "";

    if (r->started_ms) {
        cr_api_time_iso(r->started_ms / 1000, started, sizeof started);
    }
    if (r->finished_ms) {
        cr_api_time_iso(r->finished_ms / 1000, finished, sizeof finished);
    }
    cr_api_reply_json(
        call, 200,
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:s, s:s, s:s}",
                  "Phase", cr_replacement_phase_name(r->phase),
                  "NewThumbprint", r->new_thumbprint, "OldThumbprint",
                  r->old_thumbprint, "Confirmed",
                  ids_json(r->confirmed, r->n_confirmed), "Switched",
                  ids_json(r->switched, r->n_switched), "Voters",
                  ids_json(ids, n), "ReplaceImmediately", (int)r->switch_now,
                  "StartedAt", started, "FinishedAt", finished,
                  "ServedByThisNode", call->node->cert_thumbprint));
}

static void step_done(struct cr_api_call *call,
                      const struct cr_apply_result *res)
{
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200, json_pack("{s:s}", "Status", "OK"));
    }
}

/* POST /cluster/replacement {Step: Confirm|Switched, NodeId}: a follower
 * reporting its progress; only cluster nodes may. */
void cr_api_replacement_step(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    const char *step;
    json_int_t id;
    struct cr_command cmd;

    if (body == NULL) {
        return;
    }
    step = json_string_value(json_object_get(body, "Step"));
    id = json_integer_value(json_object_get(body, "NodeId"));
    if (step == NULL || id <= 0 ||
        (strcmp(step, "Confirm") != 0 && strcmp(step, "Switched") != 0)) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "the body needs Step (Confirm or Switched) and "
                           "NodeId");
        return;
    }
    cr_api_command_init(call, &cmd,
                        strcmp(step, "Confirm") == 0
                            ? CR_CMD_CLUSTER_CERT_CONFIRM
                            : CR_CMD_CLUSTER_CERT_SWITCHED);
    cmd.u.cluster_node.node_id = (uint64_t)id;
    json_decref(body);
    cr_api_propose(call, &cmd, step_done);
}
