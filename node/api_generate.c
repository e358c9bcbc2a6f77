/*
 * api_generate.c - POST /admin/certificates: generate a client certificate
 * signed by the cluster certificate and reply with it, once.
 *
 * Everything that does not need the loop - the key pair (RSA-4096 takes a
 * second), signing, PEM, PFX and the zip - runs on the thread pool, so a
 * leader generating many certificates uses every core; the loop only
 * proposes the public certificate (it goes through the log like an
 * upload) and, once it has committed, replies with the zip of <Name>.pfx,
 * <Name>.crt and <Name>.key. The private key is never logged, proposed,
 * or written to disk; this file's copies of it (PEM, PFX, zip) are wiped
 * as soon as the reply is handed to the HTTP layer. (libzip's working
 * buffer and the HTTP layer's send buffer are freed or reused unwiped.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zip.h>

#include <certraft/generate.h>
#include <certraft/x509.h>

#include "api.h"

#define DEFAULT_VALIDITY_DAYS 1826 /* five years, as RavenDB */
#define MAX_CN 64                  /* X.509 upper bound for a CN */

struct gen_job {
    uv_work_t work;
    struct cr_api_call *call;
    /* in */
    char *name;
    char *password;
    enum cr_key_type key_type;
    int64_t not_after;
    enum cr_clearance clearance;
    struct cr_permission *perms;
    size_t n_perms;
    X509 *ca_cert;    /* references of its own: a rotation may replace */
    EVP_PKEY *ca_key; /* the node's while the job runs */
    /* out */
    unsigned char *der;
    size_t der_len;
    unsigned char *zip;
    size_t zip_len;
    struct cr_cert_info parsed; /* the log entry carries it: no node
                                 * parses the certificate again */
    struct cr_error err;
};

static void wipe_free(void *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}

static void gen_job_free(void *arg)
{
    struct gen_job *j = arg;
    if (j == NULL) {
        return;
    }
    free(j->name);
    if (j->password != NULL) {
        wipe_free(j->password, strlen(j->password));
    }
    for (size_t i = 0; i < j->n_perms; i++) {
        free(j->perms[i].database);
    }
    free(j->perms);
    X509_free(j->ca_cert);
    EVP_PKEY_free(j->ca_key);
    free(j->der);
    cr_cert_info_free(&j->parsed);
    wipe_free(j->zip, j->zip_len);
    free(j);
}

/* File names inside the zip: the Name with path characters replaced. */
static void safe_file_name(const char *name, const char *ext, char *out,
                           size_t outlen)
{
    size_t n = 0;
    for (const char *p = name; *p != '\0' && n + 1 < outlen; p++) {
        char c = *p;
        out[n++] = (c == '/' || c == '\\' || c == ':' || c == '*' ||
                    c == '?' || c == '"' || c == '<' || c == '>' ||
                    c == '|' || (unsigned char)c < 0x20)
                       ? '_'
                       : c;
    }
    out[n] = '\0';
    strncat(out, ext, outlen - n - 1);
}

/* An in-memory zip of the three files. libzip reads each buffer only in
 * zip_close(), so they stay alive until then. They are stored, not
 * deflated: ~2 KB of mostly random DER and base64 shrink by a fifth, and
 * deflating them cost ~190 us per certificate (zlib's state per member),
 * more than generating the key and certificate. */
static int make_zip(const char *name, const void *pfx, size_t pfx_len,
                    const char *crt, const char *key, unsigned char **out,
                    size_t *out_len)
{
    zip_error_t zerr;
    zip_source_t *archive;
    zip_t *za;
    zip_stat_t st;
    const struct {
        const char *ext;
        const void *data;
        size_t len;
    } files[] = {{".pfx", pfx, pfx_len},
                 {".crt", crt, strlen(crt)},
                 {".key", key, strlen(key)}};
    char fname[300];
    int rv = -1;

    zip_error_init(&zerr);
    archive = zip_source_buffer_create(NULL, 0, 0, &zerr);
    if (archive == NULL) {
        zip_error_fini(&zerr);
        return -1;
    }
    za = zip_open_from_source(archive, ZIP_TRUNCATE, &zerr);
    if (za == NULL) {
        zip_source_free(archive);
        zip_error_fini(&zerr);
        return -1;
    }
    zip_source_keep(archive);
    for (size_t i = 0; i < 3; i++) {
        zip_source_t *src =
            zip_source_buffer(za, files[i].data, files[i].len, 0);
        zip_int64_t idx = -1;
        safe_file_name(name, files[i].ext, fname, sizeof fname);
        if (src == NULL ||
            (idx = zip_file_add(za, fname, src, ZIP_FL_ENC_UTF_8)) < 0) {
            zip_source_free(src);
            zip_discard(za);
            goto out;
        }
        if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE,
                                     0) != 0) {
            zip_discard(za);
            goto out;
        }
    }
    if (zip_close(za) != 0) {
        zip_discard(za);
        goto out;
    }
    if (zip_source_stat(archive, &st) != 0 ||
        zip_source_open(archive) != 0) {
        goto out;
    }
    *out = malloc(st.size > 0 ? st.size : 1);
    if (*out != NULL &&
        zip_source_read(archive, *out, st.size) == (zip_int64_t)st.size) {
        *out_len = st.size;
        rv = 0;
    } else {
        free(*out);
        *out = NULL;
    }
    zip_source_close(archive);
out:
    zip_source_free(archive);
    zip_error_fini(&zerr);
    return rv;
}

/* Thread pool: key generation, signing, encodings, the zip. */
static void gen_work(uv_work_t *work)
{
    struct gen_job *j = work->data;
    struct cr_generated g;

    if (cr_generate_client(j->key_type, j->name, j->not_after, j->ca_cert,
                           j->ca_key, j->password, &g, &j->err) != CR_OK) {
        return;
    }
    if (make_zip(j->name, g.pfx, g.pfx_len, g.cert_pem, g.key_pem, &j->zip,
                 &j->zip_len) != 0) {
        cr_error_set(&j->err, CR_EINTERNAL, "cannot build the zip archive");
    } else if (cr_cert_info_from_der(g.der, g.der_len, &j->parsed,
                                     &j->err) == CR_OK) {
        j->der = g.der; /* proposed by gen_after_work */
        j->der_len = g.der_len;
        g.der = NULL;
        j->err.status = CR_OK;
    }
    cr_generated_free(&g); /* wipes the key's PEM and the PFX */
}

static void gen_committed(struct cr_api_call *call,
                          const struct cr_apply_result *res)
{
    struct gen_job *j = call->ctx;
    char headers[512], fname[300];

    if (cr_api_reply_if_refused(call, res)) {
        return;
    }
    safe_file_name(j->name, ".zip", fname, sizeof fname);
    snprintf(headers, sizeof headers,
             "Content-Disposition: attachment; filename=\"%s\"\r\n"
             "X-Certraft-Thumbprint: %s\r\n",
             fname, j->parsed.thumbprint);
    /* The reply copies the body; the job (and its zip) is wiped when the
     * call is freed right after. */
    cr_api_reply_raw(call, 201, "application/zip", headers, j->zip,
                     j->zip_len);
}

static void gen_after_work(uv_work_t *work, int status)
{
    struct gen_job *j = work->data;
    struct cr_api_call *call = j->call;
    struct cr_command cmd;

    if (status != 0 || j->err.status != CR_OK) {
        cr_api_reply_error(call, status != 0 ? CR_EINTERNAL : j->err.status,
                           "%s", status != 0 ? "cancelled" : j->err.msg);
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CERT_PUT);
    cmd.u.cert_put.name = j->name;
    cmd.u.cert_put.clearance = j->clearance;
    cmd.u.cert_put.perms = j->perms;
    cmd.u.cert_put.n_perms = j->n_perms;
    cmd.u.cert_put.certs.items = &(struct cr_der){j->der, j->der_len};
    cmd.u.cert_put.certs.n = 1;
    cmd.u.cert_put.parsed = &j->parsed;
    cr_api_propose(call, &cmd, gen_committed);
}

/* "2030-01-31" or "2030-01-31T12:00:00Z" -> unix seconds. */
static bool parse_date(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (end == NULL || (*end != '\0' && strcmp(end, "Z") != 0 &&
                        strncmp(end, ".", 1) != 0)) {
        return false;
    }
    *out = (int64_t)timegm(&tm);
    return true;
}

void cr_api_certs_generate(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    struct gen_job *j;
    struct cr_error err;
    const char *name, *clearance, *password, *not_after, *key_type;
    json_t *days;
    int64_t now = cr_now_ms() / 1000;

    if (body == NULL) {
        return;
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        json_decref(body);
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    call->ctx = j;
    call->ctx_free = gen_job_free;
    j->call = call;
    j->clearance = CR_CLEARANCE_VALID_USER;
    j->key_type = CR_KEY_EC_P256;
    j->not_after = now + (int64_t)DEFAULT_VALIDITY_DAYS * 86400;
    name = json_string_value(json_object_get(body, "Name"));
    clearance = json_string_value(json_object_get(body, "SecurityClearance"));
    password = json_string_value(json_object_get(body, "Password"));
    not_after = json_string_value(json_object_get(body, "NotAfter"));
    key_type = json_string_value(json_object_get(body, "KeyType"));
    days = json_object_get(body, "ExpirationDays");

    if (name == NULL || name[0] == '\0') {
        cr_error_set(&err, CR_EINVAL, "Name is required and must not be "
                                      "empty");
        goto fail;
    }
    if (strlen(name) > MAX_CN) {
        cr_error_set(&err, CR_EINVAL,
                     "Name becomes the certificate's CN: at most %d "
                     "characters",
                     MAX_CN);
        goto fail;
    }
    if (clearance != NULL &&
        cr_clearance_parse(clearance, &j->clearance, &err) != CR_OK) {
        goto fail;
    }
    if (key_type != NULL &&
        cr_key_type_parse(key_type, &j->key_type, &err) != CR_OK) {
        goto fail;
    }
    if (not_after != NULL && days != NULL) {
        cr_error_set(&err, CR_EINVAL,
                     "give either NotAfter or ExpirationDays, not both");
        goto fail;
    }
    if (not_after != NULL && !parse_date(not_after, &j->not_after)) {
        cr_error_set(&err, CR_EINVAL,
                     "NotAfter must be a date like 2030-01-31 or "
                     "2030-01-31T00:00:00Z");
        goto fail;
    }
    if (days != NULL) {
        if (!json_is_integer(days) || json_integer_value(days) < 1 ||
            json_integer_value(days) > 36500) {
            cr_error_set(&err, CR_EINVAL,
                         "ExpirationDays must be an integer from 1 to "
                         "36500");
            goto fail;
        }
        j->not_after = now + json_integer_value(days) * 86400;
    }
    if (j->not_after <= now) {
        cr_error_set(&err, CR_EINVAL,
                     "NotAfter is in the past: choose a future date");
        goto fail;
    }
    if (cr_api_parse_permissions(json_object_get(body, "Permissions"),
                                 &j->perms, &j->n_perms, &err) != CR_OK) {
        goto fail;
    }
    if (cr_authz_manage_cert(&call->id, j->clearance, &err) != CR_OK) {
        goto fail;
    }
    j->name = strdup(name);
    j->password = (password != NULL && password[0] != '\0')
                      ? strdup(password)
                      : NULL;
    if (j->name == NULL ||
        (password != NULL && password[0] != '\0' && j->password == NULL)) {
        cr_error_set(&err, CR_ENOMEM, "out of memory");
        goto fail;
    }
    json_decref(body); /* also drops jansson's copy of the password */
    body = NULL;
    X509_up_ref(call->node->cluster_x509);
    j->ca_cert = call->node->cluster_x509;
    EVP_PKEY_up_ref(call->node->cluster_pkey);
    j->ca_key = call->node->cluster_pkey;
    j->work.data = j;
    if (uv_queue_work(call->node->loop, &j->work, gen_work, gen_after_work) !=
        0) {
        cr_api_reply_error(call, CR_EINTERNAL, "cannot schedule the work");
    }
    return;
fail:
    json_decref(body);
    cr_api_reply_error(call, err.status, "%s", err.msg);
}
