/*
 * api_admin.c - the rest of /admin: exporting the cluster's server
 * certificates, purging expired entries, and reading the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

#include "api.h"

/* GET /admin/certificates/export: the cluster certificate(s) as a PFX
 * collection with public parts only, for another cluster (or RavenDB) to
 * upload and so trust this one. */
void cr_api_certs_export(struct cr_api_call *call)
{
    const struct cr_state *st = call->node->fsm.state;
    struct cr_der_list extra = {0};
    struct cr_error err;
    unsigned char *pfx = NULL;
    size_t pfx_len = 0, n = cr_state_cluster_cert_count(st);
    const struct cr_cert_entry *first;
    const unsigned char *p;
    X509 *cert;

    if (n == 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "this node has not applied the bootstrap entry "
                           "yet; retry");
        return;
    }
    first = cr_state_cluster_cert(st, 0);
    p = first->der;
    cert = d2i_X509(NULL, &p, (long)first->der_len);
    for (size_t i = 1; i < n; i++) {
        const struct cr_cert_entry *e = cr_state_cluster_cert(st, i);
        cr_der_list_append(&extra, e->der, e->der_len);
    }
    {
        /* During a replacement the new certificate is already trusted
         * here; other clusters should learn it before the switch. */
        const struct cr_replacement *r = cr_state_replacement(st);
        const struct cr_cert_entry *e =
            r->phase != CR_REPLACEMENT_NONE && r->phase != CR_REPLACEMENT_DONE
                ? cr_state_cert_find(st, r->new_thumbprint)
                : NULL;
        bool listed = false;
        for (size_t i = 0; e != NULL && i < n; i++) {
            listed |= strcmp(cr_state_cluster_cert(st, i)->thumbprint,
                             e->thumbprint) == 0;
        }
        if (e != NULL && !listed) {
            cr_der_list_append(&extra, e->der, e->der_len);
        }
    }
    if (cert == NULL ||
        cr_pkcs12_write(NULL, cert, &extra, NULL, &pfx, &pfx_len, &err) !=
            CR_OK) {
        X509_free(cert);
        cr_der_list_free(&extra);
        cr_api_reply_error(call, CR_EINTERNAL,
                           "cannot build the PFX collection");
        return;
    }
    X509_free(cert);
    cr_der_list_free(&extra);
    cr_api_reply_raw(call, 200, "application/x-pkcs12",
                     "Content-Disposition: attachment; "
                     "filename=\"cluster-certificates.pfx\"\r\n",
                     pfx, pfx_len);
    free(pfx);
}

/* GET /admin/audit?start=&pageSize=: oldest first. */
void cr_api_audit(struct cr_api_call *call)
{
    const struct cr_state *st = call->node->fsm.state;
    size_t total = cr_state_audit_count(st), start = 0, page = 100;
    char buf[32];
    json_t *results = json_array();

    if (cr_http_query_get(call->req, "start", buf, sizeof buf) >= 0) {
        start = strtoull(buf, NULL, 10);
    }
    if (cr_http_query_get(call->req, "pageSize", buf, sizeof buf) >= 0) {
        page = strtoull(buf, NULL, 10);
        if (page == 0 || page > 10000) {
            json_decref(results);
            cr_api_reply_error(call, CR_EINVAL,
                               "pageSize must be between 1 and 10000");
            return;
        }
    }
    for (size_t i = start; i < total && i < start + page; i++) {
        const struct cr_audit_record *a = cr_state_audit_get(st, i);
        char when[40], iso[32];
        cr_api_time_iso(a->time_ms / 1000, iso, sizeof iso);
        /* 2026-11-25T16:59:01Z -> 2026-11-25T16:59:01.123Z */
        snprintf(when, sizeof when, "%.19s.%03dZ", iso,
                 (int)(a->time_ms % 1000));
        json_array_append_new(
            results,
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "Index",
                      (json_int_t)a->index, "Time", when, "Caller", a->caller,
                      "CallerName", a->caller_name ? a->caller_name : "",
                      "Operation", a->operation ? a->operation : "", "Target",
                      a->target ? a->target : "", "Status",
                      a->status == CR_OK ? "OK" : cr_status_type(a->status)));
    }
    cr_api_reply_json(call, 200,
                      json_pack("{s:o, s:I}", "Results", results, "Total",
                                (json_int_t)total));
}

static void purge_done(struct cr_api_call *call,
                       const struct cr_apply_result *res)
{
    const char(*thumbs)[CR_THUMBPRINT_LEN + 1] = NULL;
    uint64_t index = 0;
    size_t n;
    json_t *purged = json_array();

    if (cr_api_reply_if_refused(call, res)) {
        json_decref(purged);
        return;
    }
    /* The purge just applied is the last one: the done callback runs
     * synchronously with apply(). */
    n = cr_state_last_purged(call->node->fsm.state, &index, &thumbs);
    if (index == call->index) {
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(purged, json_string(thumbs[i]));
        }
    }
    cr_api_reply_json(call, 200, json_pack("{s:o}", "Purged", purged));
}

/* DELETE /admin/certificates/purge: remove expired entries. */
void cr_api_certs_purge(struct cr_api_call *call)
{
    struct cr_command cmd;
    cr_api_command_init(call, &cmd, CR_CMD_CERT_PURGE);
    cr_api_propose(call, &cmd, purge_done);
}
