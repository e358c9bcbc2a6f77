/*
 * certctl_clientca.c - "certctl client-ca ...": named client CA bundles
 * (CockroachDB's model). Any valid certificate that chains to a bundle's
 * CA certificates authenticates with the bundle's clearance and
 * permissions, without being registered itself.
 *
 *   put     create or replace a bundle (PUT /admin/client-ca)
 *   patch   APPEND certificates to it, or REPLACE them, keeping clearance
 *           and permissions unless given (PATCH): APPEND the new CA, move
 *           the clients over, then REPLACE with the new CA alone rotates
 *           without a moment in which neither works
 *   list    every bundle; get one by name (with its status: NOT_SET,
 *           PENDING, IS_SET, FAILED); delete one
 *
 * Only the certificates of --file are sent, re-encoded from what OpenSSL
 * parsed: a private key in the file (a CA's, by mistake) never leaves
 * this machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certctl.h"
#include "certctl_certs.h"
#include "certctl_clientca.h"
#include "certctl_files.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* A bundle of CA certificates is a few KiB; the server holds at most a
 * handful per name. */
#define CERTCTL_MAX_CA_FILE (1024u * 1024u)

static const char *const mode_choices[] = {"APPEND", "REPLACE", NULL};

#define NAME_OPT(help)                                                                   \
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", help, NULL, NULL, NULL}
#define END_OPT {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL}

/* ---- shared ------------------------------------------------------------ */

/* Reads --file and re-encodes every certificate in it as PEM into out.
 * Returns 0, or prints why not and returns an exit code. */
static int read_bundle(const struct certctl_args *args, struct certctl_buf *out)
{
    const char *path = certctl_args_get(args, "file");
    char *data = NULL;
    size_t len = 0, count = 0;
    char err[512];
    BIO *in = NULL, *pem = NULL;
    X509 *x;
    int rc = CERTCTL_EXIT_OK;
    BUF_MEM *mem;

    if (certctl_read_input(path, "--file", CERTCTL_MAX_CA_FILE, &data, &len, err,
                           sizeof(err)) != 0) {
        return certctl_fail("%s", err);
    }
    if (len == 0) {
        free(data);
        return certctl_fail("--file '%.200s' is empty", path);
    }
    in = BIO_new_mem_buf(data, (int)len);
    pem = BIO_new(BIO_s_mem());
    if (in == NULL || pem == NULL) {
        rc = certctl_fail("out of memory");
        goto out;
    }
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        int ok = PEM_write_bio_X509(pem, x);

        X509_free(x);
        if (!ok) {
            rc = certctl_fail("out of memory");
            goto out;
        }
        count++;
    }
    ERR_clear_error();
    if (count == 0) {
        rc = certctl_fail("--file '%.200s' holds no PEM certificate (-----BEGIN "
                          "CERTIFICATE-----): give the CA certificate(s) in PEM",
                          path);
        goto out;
    }
    if (strstr(data, "PRIVATE KEY-----") != NULL) {
        fprintf(stderr, "certctl: note: --file '%.200s' holds a private key; only its "
                        "certificates are sent\n",
                path);
    }
    BIO_get_mem_ptr(pem, &mem);
    certctl_buf_init(out);
    if (certctl_buf_append(out, mem->data, mem->length) != 0) {
        rc = certctl_fail("out of memory");
    }

out:
    BIO_free(in);
    BIO_free(pem);
    OPENSSL_cleanse(data, len); /* the file may have held a key */
    free(data);
    return rc;
}

/* One row per certificate of a PEM bundle: SHA-256 thumbprint, subject,
 * last day of validity. */
static int add_member_rows(struct certctl_table *t, const char *bundle)
{
    BIO *in = BIO_new_mem_buf(bundle, -1);
    X509 *x;
    int rc = 0;

    if (in == NULL) {
        return -1;
    }
    while (rc == 0 && (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0, i;
        char thumb[2 * EVP_MAX_MD_SIZE + 1] = "-";
        char subject[512] = "-";
        char until[32] = "-";
        struct tm tm;
        const char *row[3];

        if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
            for (i = 0; i < mdlen; i++) {
                snprintf(thumb + 2 * i, 3, "%02X", md[i]);
            }
        }
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
            strftime(until, sizeof(until), "%Y-%m-%d", &tm);
        }
        row[0] = thumb;
        row[1] = subject;
        row[2] = until;
        rc = certctl_table_add(t, row);
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(in);
    return rc;
}

/* A bundle as the server describes it: its settings, then its members. */
static int print_ca(struct certctl_ctx *ctx, const json_t *ca)
{
    static const char *const member_headers[] = {"THUMBPRINT", "SUBJECT", "NOT AFTER"};
    static const struct
    {
        const char *label;
        const char *key;
    } fields[] = {
        {"Name:", "Name"},
        {"Status:", "status"},
        {"Clearance:", "SecurityClearance"},
        {"Permissions:", NULL},
        {"Certificates:", "Certificates"},
        {"Updated at index:", "UpdatedAtIndex"},
    };
    const char *bundle = json_string_value(json_object_get(ca, "x509_pem_cert"));
    struct certctl_table t, members;
    struct certctl_buf perms;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    certctl_table_init(&t, 2, NULL);
    certctl_table_init(&members, 3, member_headers);
    certctl_buf_init(&perms);
    if (certctl_format_permissions(json_object_get(ca, "Permissions"), &perms) != 0) {
        rc = certctl_fail("out of memory");
    }
    for (i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++) {
        char value[512];
        const json_t *v = fields[i].key != NULL ? json_object_get(ca, fields[i].key) : NULL;
        const char *row[2];

        /* A NOT_SET bundle has only a name and a status. */
        if (fields[i].key != NULL ? v == NULL : json_object_get(ca, "Permissions") == NULL) {
            continue;
        }
        row[0] = fields[i].label;
        row[1] = fields[i].key == NULL ? perms.data : certctl_json_text(v, value, sizeof(value));
        if (certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
        }
    }
    if (rc == 0 && bundle != NULL && bundle[0] != '\0' && add_member_rows(&members, bundle) != 0) {
        rc = certctl_fail("out of memory");
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
        if (members.nrows > 1) {
            fputc('\n', ctx->out);
            certctl_table_print(&members, ctx->out);
        }
    }
    certctl_buf_free(&perms);
    certctl_table_free(&t);
    certctl_table_free(&members);
    return rc;
}

static int print_reply(struct certctl_ctx *ctx, const json_t *reply)
{
    return ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, reply)
                                                 : print_ca(ctx, reply);
}

/* Sends a PUT or PATCH body and prints the bundle as it now is. */
static int send_bundle(struct certctl_ctx *ctx, const char *method, json_t *body)
{
    struct certctl_reply r;
    int rc = certctl_call(ctx, method, "/admin/client-ca", body, &r);

    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    rc = print_reply(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* {"Name": ..., "x509_pem_cert": ...}, or NULL (bad UTF-8 in the name). */
static json_t *bundle_body(const struct certctl_args *args, const struct certctl_buf *pem)
{
    return json_pack("{s:s, s:s}", "Name", certctl_args_get(args, "name"), "x509_pem_cert",
                     pem->data);
}

/* ---- client-ca put ----------------------------------------------------- */

static const struct certctl_opt put_opts[] = {
    NAME_OPT("name of the bundle: 1-128 characters of A-Z a-z 0-9 _ . -"),
    {"file", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "PEM",
     "the CA certificate(s) in PEM ('-' for standard input)", NULL, NULL, NULL},
    {"clearance", CERTCTL_OPT_STRING, 0, "LEVEL",
     "security clearance its certificates get", NULL, "ValidUser",
     certctl_clearance_choices},
    {"perm", CERTCTL_OPT_LIST, 0, "DB=LEVEL",
     "access to database DB; LEVEL is Admin, ReadWrite or Read", NULL, NULL, NULL},
    END_OPT,
};

static int cmd_put(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf pem;
    json_t *perms = NULL, *body;
    int rc;

    if ((rc = certctl_build_permissions(ctx, args, &perms)) != 0) {
        return rc;
    }
    if ((rc = read_bundle(args, &pem)) != 0) {
        json_decref(perms);
        return rc;
    }
    body = bundle_body(args, &pem);
    certctl_buf_free(&pem);
    if (body == NULL ||
        json_object_set_new(body, "SecurityClearance",
                            json_string(certctl_args_get(args, "clearance"))) != 0 ||
        json_object_set(body, "Permissions", perms) != 0) {
        json_decref(body);
        json_decref(perms);
        return certctl_usage_fail(ctx, "--name must be valid UTF-8");
    }
    json_decref(perms);
    return send_bundle(ctx, "PUT", body);
}

/* ---- client-ca patch --------------------------------------------------- */

static const struct certctl_opt patch_opts[] = {
    NAME_OPT("name of an existing bundle"),
    {"file", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "PEM",
     "the CA certificate(s) in PEM ('-' for standard input)", NULL, NULL, NULL},
    {"mode", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "MODE",
     "APPEND adds the certificates; REPLACE makes them the whole bundle", NULL, NULL,
     mode_choices},
    {"clearance", CERTCTL_OPT_STRING, 0, "LEVEL", "new security clearance (default: kept)",
     NULL, NULL, certctl_clearance_choices},
    {"perm", CERTCTL_OPT_LIST, 0, "DB=LEVEL",
     "replaces all permissions (default: kept); LEVEL is Admin, ReadWrite or Read", NULL,
     NULL, NULL},
    {"no-perms", CERTCTL_OPT_FLAG, 0, NULL, "remove all database permissions", NULL, NULL,
     NULL},
    END_OPT,
};

static int cmd_patch(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *clearance = certctl_args_get(args, "clearance");
    int has_perms = certctl_args_given(args, "perm");
    int no_perms = certctl_args_flag(args, "no-perms");
    struct certctl_buf pem;
    json_t *perms = NULL, *body;
    int rc, bad;

    if (has_perms && no_perms) {
        return certctl_usage_fail(ctx, "--perm and --no-perms contradict each other");
    }
    if (has_perms && (rc = certctl_build_permissions(ctx, args, &perms)) != 0) {
        return rc;
    }
    if (no_perms && (perms = json_object()) == NULL) {
        return certctl_fail("out of memory");
    }
    if ((rc = read_bundle(args, &pem)) != 0) {
        json_decref(perms);
        return rc;
    }
    body = bundle_body(args, &pem);
    certctl_buf_free(&pem);
    /* Only what is to change is sent: the server keeps the rest. */
    bad = body == NULL ||
          json_object_set_new(body, "Mode", json_string(certctl_args_get(args, "mode"))) != 0 ||
          (clearance != NULL &&
           json_object_set_new(body, "SecurityClearance", json_string(clearance)) != 0) ||
          (perms != NULL && json_object_set(body, "Permissions", perms) != 0);
    json_decref(perms);
    if (bad) {
        json_decref(body);
        return certctl_usage_fail(ctx, "--name must be valid UTF-8");
    }
    return send_bundle(ctx, "PATCH", body);
}

/* ---- client-ca list ---------------------------------------------------- */

static const struct certctl_opt list_opts[] = {
    END_OPT,
};

static int print_list(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"NAME", "STATUS", "CLEARANCE", "PERMISSIONS",
                                          "CERTIFICATES"};
    const json_t *results = json_object_get(reply, "Results");
    struct certctl_table t;
    const json_t *e;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    if (json_array_size(results) == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no client CAs\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&t, 5, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(results, i, e)
    {
        struct certctl_buf perms;
        char name[256], status[32], clearance[32], count[32];
        const char *row[5];

        certctl_buf_init(&perms);
        row[0] = certctl_json_text(json_object_get(e, "Name"), name, sizeof(name));
        row[1] = certctl_json_text(json_object_get(e, "status"), status, sizeof(status));
        row[2] = certctl_json_text(json_object_get(e, "SecurityClearance"), clearance,
                                   sizeof(clearance));
        row[4] = certctl_json_text(json_object_get(e, "Certificates"), count, sizeof(count));
        if (certctl_format_permissions(json_object_get(e, "Permissions"), &perms) != 0 ||
            (row[3] = perms.data, certctl_table_add(&t, row) != 0)) {
            certctl_buf_free(&perms);
            rc = certctl_fail("out of memory");
            break;
        }
        certctl_buf_free(&perms);
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
    rc = certctl_call(ctx, "GET", "/admin/client-ca", NULL, &r);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_list(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- client-ca get / delete -------------------------------------------- */

static const struct certctl_opt get_opts[] = {
    NAME_OPT("name of the bundle"),
    {"pem", CERTCTL_OPT_FLAG, 0, NULL, "print the bundle's certificates in PEM instead", NULL,
     NULL, NULL},
    END_OPT,
};

static int name_path(const struct certctl_args *args, struct certctl_buf *path)
{
    certctl_buf_init(path);
    if (certctl_buf_puts(path, "/admin/client-ca") != 0 ||
        certctl_query_add(path, "name", certctl_args_get(args, "name")) != 0) {
        certctl_buf_free(path);
        return certctl_fail("out of memory");
    }
    return CERTCTL_EXIT_OK;
}

static int cmd_get(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    int rc;

    if ((rc = name_path(args, &path)) != 0) {
        return rc;
    }
    rc = certctl_call(ctx, "GET", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (certctl_args_flag(args, "pem") && ctx->g->output != CERTCTL_OUTPUT_JSON) {
        const char *pem = json_string_value(json_object_get(r.json, "x509_pem_cert"));

        /* Re-encoded from what parses, so no control characters pass. */
        if (pem != NULL && pem[0] != '\0') {
            BIO *in = BIO_new_mem_buf(pem, -1), *o = BIO_new(BIO_s_mem());
            X509 *x;
            BUF_MEM *mem;

            while (in != NULL && o != NULL &&
                   (x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
                PEM_write_bio_X509(o, x);
                X509_free(x);
            }
            ERR_clear_error();
            if (o != NULL) {
                BIO_get_mem_ptr(o, &mem);
                fwrite(mem->data, 1, mem->length, ctx->out);
            }
            BIO_free(in);
            BIO_free(o);
        } else {
            char status[32];

            rc = certctl_fail("client CA has no certificates (status %s)",
                              certctl_json_text(json_object_get(r.json, "status"), status,
                                                sizeof(status)));
        }
    } else {
        rc = print_reply(ctx, r.json);
    }
    certctl_reply_free(&r);
    return rc;
}

static const struct certctl_opt delete_opts[] = {
    NAME_OPT("name of the bundle to delete"),
    END_OPT,
};

static int cmd_delete(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    char shown[256];
    int rc;

    if ((rc = name_path(args, &path)) != 0) {
        return rc;
    }
    rc = certctl_call(ctx, "DELETE", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        certctl_scrub(shown, sizeof(shown), certctl_args_get(args, "name"));
        fprintf(ctx->out, "deleted client CA %s\n", shown);
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_clientca_commands[] = {
    {"put", "create or replace a client CA bundle",
     "Registers the CA certificate(s) of --file as the bundle NAME, replacing\n"
     "any bundle of that name. Every valid certificate that chains to one of\n"
     "them (and has no extended key usage, or clientAuth) then authenticates\n"
     "with --clearance and --perm, on every node, without being registered\n"
     "itself; its name is its subject's CN. Each certificate must be a CA\n"
     "(basicConstraints CA:TRUE, keyUsage keyCertSign). Only certificates are\n"
     "sent: a private key in --file is left out. Prints the bundle.",
     "  certctl client-ca put team --file team-ca.pem --perm orders=ReadWrite\n", put_opts,
     cmd_put, "name"},
    {"patch", "add CA certificates to a bundle, or replace them",
     "With --mode APPEND, adds the certificates of --file to the bundle NAME;\n"
     "with --mode REPLACE, they become the whole bundle. Clearance and\n"
     "permissions are kept unless --clearance, --perm or --no-perms is given.\n"
     "To move to a new CA without a moment in which clients fail: APPEND the\n"
     "new CA, give clients their new certificates, then REPLACE with the new\n"
     "CA alone. Prints the bundle.",
     "  certctl client-ca patch team --file new-ca.pem --mode APPEND\n"
     "  certctl client-ca patch team --file new-ca.pem --mode REPLACE\n",
     patch_opts, cmd_patch, "name"},
    {"list", "list the client CA bundles",
     "Lists every client CA bundle with its status, clearance, permissions\n"
     "and number of certificates.",
     "  certctl client-ca list\n", list_opts, cmd_list, NULL},
    {"get", "show one client CA bundle and its status",
     "Shows the bundle NAME: its status (NOT_SET: no such bundle; PENDING: a\n"
     "write of it is waiting to commit; IS_SET; FAILED: the answering node's\n"
     "last write of it was refused), clearance, permissions, and each CA\n"
     "certificate's thumbprint, subject and expiry. --pem prints the\n"
     "certificates instead.",
     "  certctl client-ca get team --pem > team-bundle.pem\n", get_opts, cmd_get, "name"},
    {"delete", "delete a client CA bundle",
     "Deletes the bundle NAME: certificates that chain to it stop working on\n"
     "every node (those registered by thumbprint are not affected).",
     "  certctl client-ca delete team\n", delete_opts, cmd_delete, "name"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
