/*
 * certctl_rotation.c - rotating the cluster certificate (RavenDB's flow),
 * the "cluster renew-cert", "cluster replace-cert" and "cluster
 * rotation-status" commands (listed in certctl_cluster.c's table).
 *
 * The new certificate is first trusted beside the old one, every node
 * confirms it holds it, then all switch without a restart (at once with
 * --now), and the old one is forgotten: phases Installed, Confirming,
 * Switching, Done. With --wait, certctl polls the status until Done.
 *
 * Clients that verify the nodes with --cacert (the old, self-signed
 * cluster certificate, as `certnode init` writes it) cannot verify the
 * new certificate, renewed or replaced: OpenSSL does not accept a
 * self-signed certificate because another one with its subject and key
 * is trusted; and of two self-signed certificates with one subject in a
 * CA file it only ever uses the first. So once the rotation has started,
 * certctl fetches the new certificate's registry entry (a ClusterNode
 * entry from the start on) over the connection it already verified, and
 * checks its thumbprint; --cacert-out saves --cacert's certificates plus the new one,
 * the new one first, for clients to use from now on; --wait polls with two
 * clients, one trusting the old order and one the new, as nodes switch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certctl.h"
#include "certctl_files.h"
#include "certctl_rotation.h"
#include "certctl_str.h"
#include "certctl_table.h"

#define CERTCTL_ROTATION_STATUS_PATH "/admin/certificates/replacement/status"
/* How often --wait asks where the replacement stands. */
#define CERTCTL_ROTATION_POLL_MS 500
/* A PFX with its chain is a few KiB. */
#define CERTCTL_MAX_PFX_FILE (1024u * 1024u)
/* How long to wait for the registry to list the new certificate (a node
 * that answers reads may apply the start a moment after the leader). */
#define CERTCTL_EXPORT_WAIT_S 30

#define WAIT_OPTS                                                                        \
    {"now", CERTCTL_OPT_FLAG, 0, NULL,                                                   \
     "switch every node at once, without waiting for all to confirm", NULL, NULL, NULL}, \
        {"wait", CERTCTL_OPT_FLAG, 0, NULL,                                              \
         "wait until the replacement is done (phase Done)", NULL, NULL, NULL},           \
        {"wait-timeout", CERTCTL_OPT_STRING, 0, "SECONDS",                               \
         "how long --wait waits", NULL, "300", NULL},                                    \
        {"cacert-out", CERTCTL_OPT_STRING, 0, "FILE",                                    \
         "save --cacert's certificates and the new one to FILE (0600, not overwritten)", \
         NULL, NULL, NULL}
#define END_OPT {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL}

/* ---- status ------------------------------------------------------------ */

const struct certctl_opt certctl_rotation_status_opts[] = {
    END_OPT,
};

static int id_in(const json_t *ids, json_int_t id)
{
    const json_t *v;
    size_t i;

    json_array_foreach(ids, i, v)
    {
        if (json_is_integer(v) && json_integer_value(v) == id) {
            return 1;
        }
    }
    return 0;
}

/* Every node id named in Voters, Confirmed or Switched, sorted, once. */
static size_t collect_ids(const json_t *st, json_int_t *ids, size_t max)
{
    static const char *const keys[] = {"Voters", "Confirmed", "Switched"};
    size_t n = 0, k, i, j;

    for (k = 0; k < 3; k++) {
        const json_t *v;

        json_array_foreach(json_object_get(st, keys[k]), i, v)
        {
            json_int_t id;

            if (!json_is_integer(v)) {
                continue;
            }
            id = json_integer_value(v);
            for (j = 0; j < n && ids[j] != id; j++) {
            }
            if (j == n && n < max) {
                for (j = n++; j > 0 && ids[j - 1] > id; j--) {
                    ids[j] = ids[j - 1];
                }
                ids[j] = id;
            }
        }
    }
    return n;
}

static int print_status(struct certctl_ctx *ctx, const json_t *st)
{
    static const char *const headers[] = {"NODE", "VOTER", "CONFIRMED", "SWITCHED"};
    static const struct
    {
        const char *label;
        const char *key;
    } fields[] = {
        {"Phase:", "Phase"},
        {"New certificate:", "NewThumbprint"},
        {"Old certificate:", "OldThumbprint"},
        {"Replace immediately:", "ReplaceImmediately"},
    };
    struct certctl_table t, nodes;
    json_int_t ids[256];
    size_t n, i;
    int rc = CERTCTL_EXIT_OK;

    certctl_table_init(&t, 2, NULL);
    certctl_table_init(&nodes, 4, headers);
    for (i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++) {
        char value[256];
        const json_t *v = json_object_get(st, fields[i].key);
        const char *row[2];

        if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
            continue; /* nothing to say yet (phase None) */
        }
        row[0] = fields[i].label;
        row[1] = certctl_json_text(v, value, sizeof(value));
        if (certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
        }
    }
    n = collect_ids(st, ids, sizeof(ids) / sizeof(ids[0]));
    for (i = 0; rc == 0 && i < n; i++) {
        char id[32];
        const char *row[4];

        snprintf(id, sizeof(id), "%" JSON_INTEGER_FORMAT, ids[i]);
        row[0] = id;
        row[1] = id_in(json_object_get(st, "Voters"), ids[i]) ? "yes" : "no";
        row[2] = id_in(json_object_get(st, "Confirmed"), ids[i]) ? "yes" : "no";
        row[3] = id_in(json_object_get(st, "Switched"), ids[i]) ? "yes" : "no";
        if (certctl_table_add(&nodes, row) != 0) {
            rc = certctl_fail("out of memory");
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
        if (nodes.nrows > 1) {
            fputc('\n', ctx->out);
            certctl_table_print(&nodes, ctx->out);
        }
    }
    certctl_table_free(&t);
    certctl_table_free(&nodes);
    return rc;
}

int certctl_cmd_rotation_status(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_reply r;
    int rc;

    (void)args;
    rc = certctl_call(ctx, "GET", CERTCTL_ROTATION_STATUS_PATH, NULL, &r);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_status(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- waiting ----------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Polls the status until the replacement of `thumb` is Done. Nodes switch
 * certificates meanwhile, so failures to connect are retried, with each of
 * the `n` clients (which trust differently) until one is answered; a 4xx
 * other than 408/429 is final. */
static int wait_done(struct certctl_ctx *ctx, struct certctl_client *const *clients, size_t n,
                     const char *thumb, uint64_t wait_seconds)
{
    double deadline = now_seconds() + (double)wait_seconds;
    char last[1024] = "no answer yet";
    FILE *msg = ctx->g->output == CERTCTL_OUTPUT_JSON ? stderr : ctx->out;
    size_t k = 0; /* the client answered last */

    for (;;) {
        struct certctl_reply r;
        char err[1024];
        double left;
        size_t tries;
        int got = -1;

        for (tries = 0; tries < n && got != 0; tries++) {
            got = certctl_client_read(clients[k], CERTCTL_ROTATION_STATUS_PATH, &r, err,
                                      sizeof(err));
            if (got != 0) {
                k = (k + 1) % n;
            }
        }
        if (got != 0) {
            snprintf(last, sizeof(last), "%s", err);
        } else if (r.status >= 200 && r.status <= 299 && json_is_object(r.json)) {
            const char *phase = json_string_value(json_object_get(r.json, "Phase"));
            const char *now = json_string_value(json_object_get(r.json, "NewThumbprint"));
            int ours = now != NULL && thumb[0] != '\0' && strcmp(now, thumb) == 0;

            if (phase != NULL && strcmp(phase, "Done") == 0 && (ours || thumb[0] == '\0')) {
                char shown[160];

                certctl_scrub(shown, sizeof(shown), now != NULL ? now : "?");
                certctl_reply_free(&r);
                fprintf(msg, "replacement done: every node serves %s\n", shown);
                return CERTCTL_EXIT_OK;
            }
            if (!ours && thumb[0] != '\0' && now != NULL && now[0] != '\0' &&
                phase != NULL && strcmp(phase, "None") != 0) {
                char shown[160];

                certctl_scrub(shown, sizeof(shown), now);
                certctl_reply_free(&r);
                return certctl_fail("another replacement (of %s) took the place of ours (%s)",
                                    shown, thumb);
            }
            {
                char shown[64];

                certctl_scrub(shown, sizeof(shown), phase != NULL ? phase : "?");
                snprintf(last, sizeof(last), "phase %s", shown);
            }
            certctl_reply_free(&r);
        } else {
            certctl_reply_error(&r, err, sizeof(err));
            if (r.status >= 400 && r.status <= 499 && r.status != 408 && r.status != 429) {
                certctl_reply_free(&r);
                return certctl_fail("%s", err);
            }
            snprintf(last, sizeof(last), "%s", err);
            certctl_reply_free(&r);
        }
        left = deadline - now_seconds();
        if (left <= 0) {
            return certctl_fail("the replacement was not done within %" PRIu64
                                " s (last: %s); see certctl cluster rotation-status",
                                wait_seconds, last);
        }
        sleep_ms(left * 1000 < CERTCTL_ROTATION_POLL_MS ? (long)(left * 1000) + 1
                                                        : CERTCTL_ROTATION_POLL_MS);
    }
}

/* ---- trusting the new certificate -------------------------------------- */

/* SHA-256 of x in upper-case hex, or "" if it cannot be computed. */
static void cert_hex(X509 *x, char out[2 * EVP_MAX_MD_SIZE + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
        for (i = 0; i < mdlen; i++) {
            snprintf(out + 2 * i, 3, "%02X", md[i]);
        }
    }
}

/* Appends x to list (taking a reference) unless a certificate with its
 * SHA-256 is there. Returns 0, or -1 out of memory. */
static int list_add(STACK_OF(X509) *list, X509 *x)
{
    char hex[2 * EVP_MAX_MD_SIZE + 1], other[2 * EVP_MAX_MD_SIZE + 1];
    int i;

    cert_hex(x, hex);
    for (i = 0; i < sk_X509_num(list); i++) {
        cert_hex(sk_X509_value(list, i), other);
        if (strcmp(hex, other) == 0) {
            return 0;
        }
    }
    if (X509_up_ref(x) != 1) {
        return -1;
    }
    if (sk_X509_push(list, x) <= 0) {
        X509_free(x);
        return -1;
    }
    return 0;
}

/* The list as PEM into out, the certificate with thumbprint `first` (if
 * any) before the others. Returns 0, or -1 out of memory. */
static int list_pem(STACK_OF(X509) *list, const char *first, struct certctl_buf *out)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *mem;
    int pass, i, rc = 0;

    certctl_buf_init(out);
    if (b == NULL) {
        return -1;
    }
    for (pass = 0; pass < 2 && rc == 0; pass++) {
        for (i = 0; i < sk_X509_num(list) && rc == 0; i++) {
            X509 *x = sk_X509_value(list, i);
            char hex[2 * EVP_MAX_MD_SIZE + 1];
            int is_first;

            cert_hex(x, hex);
            is_first = first != NULL && strcmp(hex, first) == 0;
            if (is_first == (pass == 0) && PEM_write_bio_X509(b, x) != 1) {
                rc = -1;
            }
        }
    }
    if (rc == 0) {
        BIO_get_mem_ptr(b, &mem);
        rc = certctl_buf_append(out, mem->data, mem->length);
    }
    BIO_free(b);
    return rc;
}

/* Adds the new cluster certificate to list, as the registry holds it from
 * the start of the rotation on (a ClusterNode entry). Returns 1 when
 * added, 0 when the answering node does not list it yet, or -1 with err. */
static int list_add_new(struct certctl_ctx *ctx, const char *thumb, STACK_OF(X509) *list,
                        char *err, size_t errlen)
{
    const json_t *entry;
    const char *b64;
    struct certctl_buf path;
    struct certctl_reply r;
    unsigned char *der = NULL;
    const unsigned char *p;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    size_t b64len;
    int found = -1, len;
    X509 *x = NULL;

    certctl_buf_init(&path);
    if (certctl_buf_puts(&path, "/admin/certificates") != 0 ||
        certctl_query_add(&path, "thumbprint", thumb) != 0) {
        certctl_buf_free(&path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (certctl_client_read(ctx->client, path.data, &r, err, errlen) != 0) {
        certctl_buf_free(&path);
        return -1;
    }
    certctl_buf_free(&path);
    if (r.status == 404) {
        certctl_reply_free(&r);
        return 0; /* not applied on the node that answered yet */
    }
    if (r.status < 200 || r.status > 299) {
        certctl_reply_error(&r, err, errlen);
        certctl_reply_free(&r);
        return -1;
    }
    entry = json_array_get(json_object_get(r.json, "Results"), 0);
    b64 = json_string_value(json_object_get(entry, "Certificate"));
    if (b64 == NULL || (b64len = strlen(b64)) == 0 || b64len > CERTCTL_MAX_PFX_FILE) {
        found = entry == NULL ? 0 : -1;
        snprintf(err, errlen, "the registry's entry %s has no certificate", thumb);
        goto out;
    }
    der = malloc(b64len);
    len = der != NULL ? EVP_DecodeBlock(der, (const unsigned char *)b64, (int)b64len) : -1;
    if (len > 0) {
        /* EVP_DecodeBlock counts the padding as zero bytes; DER knows its
         * own length, so they are harmless. */
        p = der;
        x = d2i_X509(NULL, &p, len);
    }
    if (x == NULL) {
        snprintf(err, errlen, "the registry's entry %s is not a certificate", thumb);
        goto out;
    }
    cert_hex(x, hex);
    if (strcmp(hex, thumb) != 0) {
        snprintf(err, errlen, "the registry's entry %s holds another certificate", thumb);
        goto out;
    }
    if (list_add(list, x) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    found = 1;

out:
    ERR_clear_error();
    X509_free(x);
    free(der);
    certctl_reply_free(&r);
    return found;
}

/* --cacert's certificates, then the new cluster certificate, each once.
 * Returns
 * an exit code, having printed any error; *out is the caller's to free
 * (sk_X509_pop_free). */
static int trust_list(struct certctl_ctx *ctx, const char *thumb, STACK_OF(X509) **out)
{
    double deadline = now_seconds() + CERTCTL_EXPORT_WAIT_S;
    STACK_OF(X509) *base = sk_X509_new_null(), *list = NULL;
    char err[1024];
    int rc = CERTCTL_EXIT_OK, i;

    *out = NULL;
    if (base == NULL) {
        return certctl_fail("out of memory");
    }
    if (ctx->g->cacert != NULL) {
        char *data = NULL;
        size_t len = 0;
        BIO *in;
        X509 *x;

        if (certctl_read_input(ctx->g->cacert, "--cacert", CERTCTL_MAX_PFX_FILE, &data, &len,
                               err, sizeof(err)) != 0) {
            sk_X509_free(base);
            return certctl_fail("%s", err);
        }
        in = BIO_new_mem_buf(data, (int)len);
        while (in != NULL && rc == 0 && (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
            if (list_add(base, x) != 0) {
                rc = certctl_fail("out of memory");
            }
            X509_free(x);
        }
        ERR_clear_error();
        BIO_free(in);
        free(data);
    }
    while (rc == 0) {
        int found;

        /* Each try starts again from --cacert's certificates. */
        list = sk_X509_new_null();
        for (i = 0; list != NULL && i < sk_X509_num(base); i++) {
            if (list_add(list, sk_X509_value(base, i)) != 0) {
                break;
            }
        }
        if (list == NULL || i < sk_X509_num(base)) {
            rc = certctl_fail("out of memory");
            break;
        }
        found = list_add_new(ctx, thumb, list, err, sizeof(err));
        if (found == 1) {
            *out = list;
            list = NULL;
            break;
        }
        sk_X509_pop_free(list, X509_free);
        list = NULL;
        if (found == 0) {
            snprintf(err, sizeof(err), "the registry does not list %s yet", thumb);
        }
        if (now_seconds() >= deadline) {
            rc = certctl_fail("cannot fetch the new cluster certificate to trust it: %s", err);
            break;
        }
        sleep_ms(CERTCTL_ROTATION_POLL_MS);
    }
    sk_X509_pop_free(list, X509_free);
    sk_X509_pop_free(base, X509_free);
    return rc;
}

/* Writes pem to a fresh private temporary file; its path goes to tmp.
 * Returns 0 or -1 with err. */
static int write_temp(const struct certctl_buf *pem, char *tmp, size_t tmplen, char *err,
                      size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    struct certctl_outfile file;
    int fd;

    snprintf(tmp, tmplen, "%s/certctl-trust-XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in %s",
                 dir != NULL && dir[0] != '\0' ? dir : "/tmp");
        tmp[0] = '\0';
        return -1;
    }
    close(fd);
    unlink(tmp); /* certctl_write_new_files() creates it afresh, 0600 */
    file.path = tmp;
    file.data = pem->data;
    file.len = pem->len;
    if (certctl_write_new_files(&file, 1, err, errlen) != 0) {
        tmp[0] = '\0';
        return -1;
    }
    return 0;
}

/* Sends a start request (renew or replace) and reports, saves the trust
 * bundle, or waits. */
static int start_rotation(struct certctl_ctx *ctx, const struct certctl_args *args,
                          const char *path, json_t *body, uint64_t wait_seconds)
{
    const char *cacert_out = certctl_args_get(args, "cacert-out");
    int wait = certctl_args_flag(args, "wait");
    struct certctl_reply r;
    struct certctl_buf new_first, old_first;
    struct certctl_global g_old, g_new;
    struct certctl_client *clients[2] = {NULL, NULL};
    STACK_OF(X509) *list = NULL;
    char thumb[160] = "", phase[64], err[1024], tmp_old[4096] = "", tmp_new[4096] = "";
    FILE *msg;
    int rc;

    certctl_buf_init(&new_first);
    certctl_buf_init(&old_first);
    /* Refuse before anything starts, not after. */
    if (cacert_out != NULL && certctl_check_absent(cacert_out, err, sizeof(err)) != 0) {
        json_decref(body);
        return certctl_fail("--cacert-out: %s", err);
    }
    if (certctl_args_flag(args, "now") &&
        json_object_set_new(body, "ReplaceImmediately", json_true()) != 0) {
        json_decref(body);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "POST", path, body, &r);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    certctl_scrub(thumb, sizeof(thumb),
                  json_is_string(json_object_get(r.json, "Thumbprint"))
                      ? json_string_value(json_object_get(r.json, "Thumbprint"))
                      : "");
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        fprintf(ctx->out, "replacement started: new certificate %s, phase %s\n",
                thumb[0] != '\0' ? thumb : "?",
                certctl_json_text(json_object_get(r.json, "Phase"), phase, sizeof(phase)));
    }
    certctl_reply_free(&r);
    if (rc != 0 || (!wait && cacert_out == NULL)) {
        return rc;
    }
    fflush(ctx->out); /* say it started before a wait of minutes */
    msg = ctx->g->output == CERTCTL_OUTPUT_JSON ? stderr : ctx->out;
    if (ctx->g->insecure && cacert_out == NULL) {
        struct certctl_client *only = ctx->client;

        return wait_done(ctx, &only, 1, thumb, wait_seconds); /* nothing is verified */
    }
    if ((rc = trust_list(ctx, thumb, &list)) != 0) {
        return rc;
    }
    /* OpenSSL trusts only the first of two self-signed certificates with
     * one subject (a renewal keeps the subject): the new one goes first. */
    if (list_pem(list, thumb, &new_first) != 0 || list_pem(list, NULL, &old_first) != 0) {
        rc = certctl_fail("out of memory");
        goto out;
    }
    if (cacert_out != NULL) {
        struct certctl_outfile file = {cacert_out, new_first.data, new_first.len};

        if (certctl_write_new_files(&file, 1, err, sizeof(err)) != 0) {
            rc = certctl_fail("%s", err);
            goto out;
        }
        fprintf(msg, "wrote %s: use it as --cacert from now on\n", cacert_out);
        fflush(msg);
    }
    if (!wait) {
        goto out;
    }
    if (ctx->g->insecure || ctx->g->cacert == NULL) {
        clients[0] = ctx->client;
        rc = wait_done(ctx, clients, 1, thumb, wait_seconds);
        clients[0] = NULL;
        goto out;
    }
    /* Nodes serve the old certificate until they switch, then the new one:
     * one client trusts each order. */
    g_old = ctx->global;
    g_new = ctx->global;
    if (write_temp(&old_first, tmp_old, sizeof(tmp_old), err, sizeof(err)) != 0 ||
        write_temp(&new_first, tmp_new, sizeof(tmp_new), err, sizeof(err)) != 0) {
        rc = certctl_fail("%s", err);
        goto out;
    }
    g_old.cacert = tmp_old;
    g_new.cacert = tmp_new;
    if (certctl_client_new(&g_old, &clients[0], err, sizeof(err)) != 0 ||
        certctl_client_new(&g_new, &clients[1], err, sizeof(err)) != 0) {
        rc = certctl_fail("%s", err);
        goto out;
    }
    rc = wait_done(ctx, clients, 2, thumb, wait_seconds);

out:
    certctl_client_free(clients[0]);
    certctl_client_free(clients[1]);
    if (tmp_old[0] != '\0') {
        unlink(tmp_old);
    }
    if (tmp_new[0] != '\0') {
        unlink(tmp_new);
    }
    certctl_buf_free(&new_first);
    certctl_buf_free(&old_first);
    sk_X509_pop_free(list, X509_free);
    return rc;
}

/* ---- renew-cert -------------------------------------------------------- */

const struct certctl_opt certctl_renew_cert_opts[] = {
    {"days", CERTCTL_OPT_STRING, 0, "N",
     "validity of the renewed certificate, in days (default: the server's)", NULL, NULL,
     NULL},
    WAIT_OPTS,
    END_OPT,
};

int certctl_cmd_renew_cert(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    uint64_t days = 0, wait_seconds = 0;
    json_t *body;
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "days", 1, 36500, &days)) != 0 ||
        (rc = certctl_opt_u64(ctx, args, "wait-timeout", 1, 86400, &wait_seconds)) != 0) {
        return rc;
    }
    body = json_object();
    if (body == NULL ||
        (days != 0 &&
         json_object_set_new(body, "ExpirationDays", json_integer((json_int_t)days)) != 0)) {
        json_decref(body);
        return certctl_fail("out of memory");
    }
    return start_rotation(ctx, args, "/admin/certificates/renew-cluster-cert", body,
                          wait_seconds);
}

/* ---- replace-cert ------------------------------------------------------ */

const struct certctl_opt certctl_replace_cert_opts[] = {
    {"file", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "PFX",
     "the new certificate with its private key (and chain), PKCS#12", NULL, NULL, NULL},
    {"password", CERTCTL_OPT_STRING, CERTCTL_OPT_SECRET, "PW", "password of the PFX", NULL,
     NULL, NULL},
    WAIT_OPTS,
    END_OPT,
};

int certctl_cmd_replace_cert(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *file = certctl_args_get(args, "file");
    const char *password = certctl_args_get(args, "password");
    uint64_t wait_seconds = 0;
    char *data = NULL, *b64 = NULL;
    size_t len = 0, b64len = 0;
    char err[512];
    json_t *body = NULL;
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "wait-timeout", 1, 86400, &wait_seconds)) != 0) {
        return rc;
    }
    if (certctl_read_input(file, "--file", CERTCTL_MAX_PFX_FILE, &data, &len, err,
                           sizeof(err)) != 0) {
        return certctl_fail("%s", err);
    }
    if (len == 0) {
        rc = certctl_fail("--file '%.200s' is empty", file);
        goto out;
    }
    b64len = 4 * ((len + 2) / 3) + 1;
    b64 = malloc(b64len);
    if (b64 == NULL) {
        rc = certctl_fail("out of memory");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)len);
    body = json_pack("{s:s}", "Certificate", b64);
    if (body != NULL && password != NULL &&
        json_object_set_new(body, "Password", json_string(password)) != 0) {
        json_decref(body);
        rc = certctl_usage_fail(ctx, "--password must be valid UTF-8");
        goto out;
    }
    if (body == NULL) {
        rc = certctl_fail("out of memory");
        goto out;
    }
    /* The body (key and password) is wiped by certctl_call(). */
    rc = start_rotation(ctx, args, "/admin/certificates/replace-cluster-cert", body,
                        wait_seconds);

out:
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, b64len);
        free(b64);
    }
    OPENSSL_cleanse(data, len); /* a PFX holds the cluster's private key */
    free(data);
    return rc;
}
