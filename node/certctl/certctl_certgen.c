/*
 * certctl_certgen.c - the "certs" commands that write certificate files:
 * "certs generate" (the cluster creates a certificate and key and sends
 * them as a zip, which is unpacked here with libzip) and "certs
 * export-server" (the cluster's server certificates as a PFX).
 *
 * A generated certificate is registered by the very request that returns
 * its key, and the key exists nowhere else. So every check that can fail
 * (options, output directory, files already there) runs before the
 * request, and a failure after it says which certificate now exists
 * without a key file so that it can be deleted.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <zip.h>

#include "certctl.h"
#include "certctl_certs.h"
#include "certctl_files.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* The files in the zip are a few KiB; a cap stops a zip bomb. */
#define CERTCTL_MAX_ZIP_ENTRY (1024u * 1024u)

static const char *const key_type_choices[] = {"P-256",    "P-384",    "RSA-2048",
                                               "RSA-3072", "RSA-4096", NULL};

/* The three parts of a generated certificate, in the order written. */
enum
{
    PART_PFX,
    PART_CRT,
    PART_KEY,
    NPARTS
};
static const char *const part_ext[NPARTS] = {".pfx", ".crt", ".key"};

struct part
{
    unsigned char *data;
    size_t len;
};

static void parts_free(struct part *parts)
{
    size_t i;

    for (i = 0; i < NPARTS; i++) {
        if (parts[i].data != NULL) {
            OPENSSL_cleanse(parts[i].data, parts[i].len);
            free(parts[i].data);
        }
        parts[i].data = NULL;
        parts[i].len = 0;
    }
}

/* Which part a zip entry is, by its extension, or -1. The entries' names
 * only tell the parts apart: they never become paths here, so a hostile
 * "../../.bashrc" in the zip leads nowhere. */
static int part_of(const char *name)
{
    size_t len = strlen(name), i;

    for (i = 0; i < NPARTS; i++) {
        size_t el = strlen(part_ext[i]);

        if (len > el && strcasecmp(name + len - el, part_ext[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Reads entry i of za (size bytes) into a new buffer. */
static int read_entry(zip_t *za, zip_uint64_t i, zip_uint64_t size, struct part *p,
                      char *err, size_t errlen)
{
    zip_file_t *zf = zip_fopen_index(za, i, 0);
    unsigned char extra;
    zip_int64_t n;
    int rc = -1;

    if (zf == NULL) {
        snprintf(err, errlen, "cannot open an entry: %s", zip_strerror(za));
        return -1;
    }
    p->data = malloc(size + 1);
    if (p->data == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    p->len = (size_t)size;
    n = size > 0 ? zip_fread(zf, p->data, size) : 0;
    /* Reading one byte more reaches the end, where libzip checks the CRC. */
    if (n != (zip_int64_t)size || zip_fread(zf, &extra, 1) != 0) {
        snprintf(err, errlen, "an entry is damaged: %s", zip_file_strerror(zf));
        goto out;
    }
    rc = 0;

out:
    if (zip_fclose(zf) != 0 && rc == 0) {
        snprintf(err, errlen, "an entry is damaged");
        rc = -1;
    }
    return rc;
}

/* Finds the .pfx, .crt and .key in a zip held in memory. Returns 0 with
 * every part filled, or -1 with err (and parts freed by the caller). */
static int unzip_parts(const char *data, size_t len, struct part *parts, char *err,
                       size_t errlen)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    zip_int64_t n, i;
    int rc = -1;

    zip_error_init(&ze);
    src = zip_source_buffer_create(data, len, 0, &ze);
    if (src == NULL) {
        snprintf(err, errlen, "%s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (za == NULL) {
        snprintf(err, errlen, "not a zip archive (%s)", zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);

    n = zip_get_num_entries(za, 0);
    for (i = 0; i < n; i++) {
        zip_stat_t st;
        int k;

        zip_stat_init(&st);
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 ||
            (st.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE)) != (ZIP_STAT_NAME | ZIP_STAT_SIZE)) {
            snprintf(err, errlen, "cannot read the archive's directory");
            goto out;
        }
        k = part_of(st.name);
        if (k < 0) {
            continue; /* something extra, a README say: not ours to write */
        }
        if (parts[k].data != NULL) {
            snprintf(err, errlen, "it holds more than one %s file", part_ext[k]);
            goto out;
        }
        if (st.size > CERTCTL_MAX_ZIP_ENTRY) {
            snprintf(err, errlen, "its %s file is larger than %u bytes", part_ext[k],
                     CERTCTL_MAX_ZIP_ENTRY);
            goto out;
        }
        if (read_entry(za, (zip_uint64_t)i, st.size, &parts[k], err, errlen) != 0) {
            goto out;
        }
    }
    for (i = 0; i < NPARTS; i++) {
        if (parts[i].data == NULL || parts[i].len == 0) {
            snprintf(err, errlen, "it has no %s file", part_ext[i]);
            goto out;
        }
    }
    rc = 0;

out:
    zip_discard(za); /* frees src too; data itself is the caller's */
    return rc;
}

static void hex_upper(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* SHA-256 thumbprint of a certificate, upper-case hex as the cluster
 * writes them; out holds 65 bytes. */
static void cert_thumbprint(X509 *x, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    if (X509_digest(x, EVP_sha256(), md, &n) != 1) {
        snprintf(out, 65, "-");
        return;
    }
    hex_upper(md, n, out);
}

/* The thumbprint of a generated certificate: the X-Certraft-Thumbprint
 * header if it is hex, else computed from the .crt (PEM or DER) if there
 * is one, else "-". */
static void generated_thumbprint(const struct certctl_reply *r, const struct part *crt,
                                 char *out, size_t n)
{
    const char *h = r->thumbprint;
    size_t i, len = strlen(h);
    X509 *x = NULL;
    BIO *bio;

    for (i = 0; i < len && isxdigit((unsigned char)h[i]); i++) {
    }
    if (len >= 40 && i == len) {
        snprintf(out, n, "%s", h);
        return;
    }
    snprintf(out, n, "-");
    if (crt->data == NULL) {
        return;
    }
    bio = BIO_new_mem_buf(crt->data, (int)crt->len);
    if (bio != NULL) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }
    if (x == NULL) {
        const unsigned char *p = crt->data;

        x = d2i_X509(NULL, &p, (long)crt->len);
    }
    if (x != NULL && n >= 65) {
        cert_thumbprint(x, out);
    }
    X509_free(x);
}

/* ---- certs generate ---------------------------------------------------- */

const struct certctl_opt certctl_generate_opts[] = {
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME",
     "name to register it under; also names the files", NULL, NULL, NULL},
    {"clearance", CERTCTL_OPT_STRING, 0, "LEVEL", "security clearance", NULL, "ValidUser",
     certctl_clearance_choices},
    {"perm", CERTCTL_OPT_LIST, 0, "DB=LEVEL",
     "access to database DB; LEVEL is Admin, ReadWrite or Read", NULL, NULL, NULL},
    {"password", CERTCTL_OPT_STRING, CERTCTL_OPT_SECRET, "PW",
     "password to protect the PFX and key with (default: none)", NULL, NULL, NULL},
    {"days", CERTCTL_OPT_STRING, 0, "D", "valid for D days (1 to 36500)", NULL, NULL, NULL},
    {"not-after", CERTCTL_OPT_STRING, 0, "DATE",
     "valid until DATE: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (instead of --days)", NULL,
     NULL, NULL},
    {"key-type", CERTCTL_OPT_STRING, 0, "TYPE", "key algorithm (default: the server's)",
     NULL, NULL, key_type_choices},
    {"out", CERTCTL_OPT_STRING, 0, "DIR", "existing directory to write the files to", NULL,
     ".", NULL},
    {"zip", CERTCTL_OPT_FLAG, 0, NULL, "write the zip as sent, NAME.zip, instead of its files",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* The request body, or NULL with the exit code in *rc (already printed). */
static json_t *generate_body(struct certctl_ctx *ctx, const struct certctl_args *args, int *rc)
{
    const char *password = certctl_args_get(args, "password");
    const char *not_after = certctl_args_get(args, "not-after");
    const char *key_type = certctl_args_get(args, "key-type");
    uint64_t days = 0;
    json_t *perms = NULL, *body;
    int bad;

    if (certctl_args_given(args, "days") && not_after != NULL) {
        *rc = certctl_usage_fail(ctx, "give either --days or --not-after, not both");
        return NULL;
    }
    if ((*rc = certctl_opt_u64(ctx, args, "days", 1, 36500, &days)) != 0) {
        return NULL;
    }
    if (not_after != NULL && certctl_check_date(not_after) != 0) {
        *rc = certctl_usage_fail(ctx, "invalid --not-after '%.64s' (expected YYYY-MM-DD or "
                                      "YYYY-MM-DDTHH:MM:SSZ)",
                                 not_after);
        return NULL;
    }
    if ((*rc = certctl_build_permissions(ctx, args, &perms)) != 0) {
        return NULL;
    }
    body = json_pack("{s:s, s:s, s:o}", "Name", certctl_args_get(args, "name"),
                     "SecurityClearance", certctl_args_get(args, "clearance"), "Permissions",
                     perms);
    bad = body == NULL;
    if (!bad && password != NULL) {
        bad = json_object_set_new(body, "Password", json_string(password)) != 0;
    }
    if (!bad && not_after != NULL) {
        bad = json_object_set_new(body, "NotAfter", json_string(not_after)) != 0;
    }
    if (!bad && days != 0) {
        bad = json_object_set_new(body, "ExpirationDays", json_integer((json_int_t)days)) != 0;
    }
    if (!bad && key_type != NULL) {
        bad = json_object_set_new(body, "KeyType", json_string(key_type)) != 0;
    }
    if (bad) {
        json_decref(body);
        /* json_pack fails on bad UTF-8 as well as on lack of memory. */
        *rc = certctl_usage_fail(ctx, "--name and --password must be valid UTF-8");
        return NULL;
    }
    return body;
}

/* After a failure past the request: says that the certificate exists
 * anyway and how to get rid of it. */
static int fail_generated(const char *thumb, const char *name, const char *what)
{
    char scrubbed[256];

    if (strcmp(thumb, "-") != 0) {
        return certctl_fail("the certificate was generated and registered (thumbprint %s), "
                            "but %s: delete it with 'certctl certs delete --thumbprint %s'",
                            thumb, what, thumb);
    }
    certctl_scrub(scrubbed, sizeof(scrubbed), name);
    return certctl_fail("the certificate was generated and registered, but %s: find it "
                        "with 'certctl certs list --name \"%s\"' and delete it",
                        what, scrubbed);
}

static int print_generated(struct certctl_ctx *ctx, const char *thumb,
                           const struct certctl_outfile *files, size_t n)
{
    size_t i;

    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        json_t *list = json_array();
        json_t *j = json_pack("{s:s, s:o}", "Thumbprint", thumb, "Files", list);
        int rc;

        for (i = 0; j != NULL && i < n; i++) {
            if (json_array_append_new(list, json_string(files[i].path)) != 0) {
                json_decref(j);
                j = NULL;
            }
        }
        if (j == NULL) {
            return certctl_fail("out of memory (the files were written)");
        }
        rc = certctl_print_json(ctx, j);
        json_decref(j);
        return rc;
    }
    fprintf(ctx->out, "thumbprint %s\n", thumb);
    for (i = 0; i < n; i++) {
        fprintf(ctx->out, "wrote %s\n", files[i].path);
    }
    return CERTCTL_EXIT_OK;
}

int certctl_cmd_generate(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *dir = certctl_args_get(args, "out");
    int as_zip = certctl_args_flag(args, "zip");
    struct certctl_buf base, paths[NPARTS];
    struct certctl_outfile files[NPARTS];
    struct part parts[NPARTS];
    struct certctl_reply r;
    char err[1024], thumb[160];
    size_t nfiles = as_zip ? 1 : NPARTS, i;
    char *text;
    json_t *body;
    int rc;

    memset(parts, 0, sizeof(parts));
    memset(&r, 0, sizeof(r));
    certctl_buf_init(&base);
    for (i = 0; i < NPARTS; i++) {
        certctl_buf_init(&paths[i]);
    }
    body = generate_body(ctx, args, &rc);
    if (body == NULL) {
        goto out;
    }
    text = json_dumps(body, JSON_COMPACT);
    /* jansson frees its copy of the password unwiped; argv has one too. */
    json_decref(body);
    if (text == NULL) {
        rc = certctl_fail("out of memory");
        goto out;
    }

    /* Where the files go, checked before anything exists to lose. */
    rc = certctl_safe_filename(&base, certctl_args_get(args, "name"));
    for (i = 0; rc == 0 && i < nfiles; i++) {
        rc = certctl_path_join(&paths[i], dir, base.data);
        if (rc == 0) {
            rc = certctl_buf_puts(&paths[i], as_zip ? ".zip" : part_ext[i]);
        }
        files[i].path = paths[i].data;
    }
    if (rc != 0) {
        rc = certctl_fail("out of memory");
        goto wipe_text;
    }
    if (certctl_check_dir(dir, "--out", err, sizeof(err)) != 0) {
        rc = certctl_fail("%s", err);
        goto wipe_text;
    }
    for (i = 0; i < nfiles; i++) {
        if (certctl_check_absent(files[i].path, err, sizeof(err)) != 0) {
            rc = certctl_fail("%s; nothing was generated", err);
            goto wipe_text;
        }
    }

    rc = certctl_call_ex(ctx, "POST", "/admin/certificates", text, "application/zip",
                         CERTCTL_REPLY_BINARY, &r);
wipe_text:
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc != 0) {
        goto out;
    }

    /* From here on the certificate exists: every error must say so. Even
     * with --zip the zip is opened, so that no broken one is saved. */
    rc = unzip_parts(r.body, r.len, parts, err, sizeof(err));
    generated_thumbprint(&r, &parts[PART_CRT], thumb, sizeof(thumb));
    if (rc != 0) {
        char what[1200];

        snprintf(what, sizeof(what), "the node's reply is unusable: %s", err);
        rc = fail_generated(thumb, certctl_args_get(args, "name"), what);
        goto out;
    }
    for (i = 0; i < nfiles; i++) {
        files[i].data = as_zip ? (const void *)r.body : parts[i].data;
        files[i].len = as_zip ? r.len : parts[i].len;
    }
    if (certctl_write_new_files(files, nfiles, err, sizeof(err)) != 0) {
        char what[1200];

        snprintf(what, sizeof(what), "%s, so its key is lost", err);
        rc = fail_generated(thumb, certctl_args_get(args, "name"), what);
        goto out;
    }
    rc = print_generated(ctx, thumb, files, nfiles);

out:
    parts_free(parts);
    certctl_reply_free(&r);
    certctl_buf_free(&base);
    for (i = 0; i < NPARTS; i++) {
        certctl_buf_free(&paths[i]);
    }
    return rc;
}

/* ---- certs export-server ----------------------------------------------- */

const struct certctl_opt certctl_export_server_opts[] = {
    {"out", CERTCTL_OPT_STRING, 0, "FILE", "file to write", NULL, "cluster-certificates.pfx",
     NULL},
    {"force", CERTCTL_OPT_FLAG, 0, NULL, "replace FILE if it exists", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Adds a row (thumbprint, subject) per certificate in the PFX, which has
 * an empty password. Returns the number of certificates, or -1 if the PFX
 * cannot be opened with it. */
static int list_pfx(PKCS12 *p12, struct certctl_table *t, json_t *list)
{
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    int count = 0, i, n;

    if (PKCS12_parse(p12, "", &pkey, &cert, &ca) != 1) {
        return -1;
    }
    n = ca != NULL ? sk_X509_num(ca) : 0;
    for (i = -1; i < n; i++) {
        X509 *x = i < 0 ? cert : sk_X509_value(ca, i);
        char thumb[65], subject[512];
        const char *row[2];

        if (x == NULL) {
            continue; /* no certificate with a key: the usual case here */
        }
        cert_thumbprint(x, thumb);
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
        row[0] = thumb;
        row[1] = subject;
        if (certctl_table_add(t, row) != 0 ||
            json_array_append_new(list, json_pack("{s:s, s:s}", "Thumbprint", thumb,
                                                  "Subject", subject)) != 0) {
            count = -1; /* out of memory, or a subject that is not UTF-8 */
            break;
        }
        count++;
    }
    EVP_PKEY_free(pkey);
    X509_free(cert);
    sk_X509_pop_free(ca, X509_free);
    return count;
}

int certctl_cmd_export_server(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    static const char *const headers[] = {"THUMBPRINT", "SUBJECT"};
    const char *path = certctl_args_get(args, "out");
    int force = certctl_args_flag(args, "force");
    struct certctl_reply r;
    struct certctl_outfile file;
    struct certctl_table t;
    const unsigned char *p;
    json_t *list = NULL;
    PKCS12 *p12;
    char err[1024];
    int rc, count;

    if (!force && certctl_check_absent(path, err, sizeof(err)) != 0) {
        return certctl_fail("%s (use --force to replace it)", err);
    }
    rc = certctl_call_ex(ctx, "GET", "/admin/certificates/export", NULL, "application/x-pkcs12",
                         CERTCTL_REPLY_BINARY, &r);
    if (rc != 0) {
        return rc;
    }
    p = (const unsigned char *)r.body;
    p12 = d2i_PKCS12(NULL, &p, (long)r.len);
    if (p12 == NULL) {
        long status = r.status;

        certctl_reply_free(&r);
        return certctl_fail("%ld: the node's reply is not a PKCS#12 file; nothing written",
                            status);
    }
    file.path = path;
    file.data = r.body;
    file.len = r.len;
    if (force ? certctl_replace_file(path, r.body, r.len, err, sizeof(err))
              : certctl_write_new_files(&file, 1, err, sizeof(err))) {
        PKCS12_free(p12);
        certctl_reply_free(&r);
        return certctl_fail("%s", err);
    }
    certctl_reply_free(&r);

    if (certctl_table_init(&t, 2, headers) != 0 || (list = json_array()) == NULL) {
        PKCS12_free(p12);
        certctl_table_free(&t);
        return certctl_fail("out of memory (%s was written)", path);
    }
    count = list_pfx(p12, &t, list);
    PKCS12_free(p12);
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        json_t *j = json_pack("{s:s, s:O}", "File", path, "Certificates",
                              count >= 0 ? list : json_null());

        rc = j != NULL ? certctl_print_json(ctx, j) : certctl_fail("out of memory");
        json_decref(j);
    } else {
        fprintf(ctx->out, "wrote %s\n", path);
        if (count > 0) {
            certctl_table_print(&t, ctx->out);
        }
    }
    if (count < 0) {
        /* The file is what the node sent; only our look inside failed. */
        fputs("certctl: warning: cannot list the certificates in it (is its password "
              "not empty?)\n",
              stderr);
    }
    json_decref(list);
    certctl_table_free(&t);
    return rc;
}
