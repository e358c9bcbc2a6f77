/*
 * certctl_certs.c - "certctl certs ...": registering, listing, editing,
 * deleting and purging client certificates, and asking who we are. The
 * commands that write certificate files are in certctl_certgen.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "certctl.h"
#include "certctl_certs.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* Certificate files (DER, PEM or PFX with a chain) are a few KiB; a cap
 * keeps a wrong --file (a disk image, /dev/zero) from being read whole. */
#define CERTCTL_MAX_CERT_FILE (1024L * 1024L)

const char *const certctl_clearance_choices[] = {"ClusterAdmin", "Operator", "ValidUser",
                                                 NULL};
const char *const certctl_level_choices[] = {"Admin", "ReadWrite", "Read", NULL};

/* "db1:Admin,db2:Read" from a Permissions object, databases sorted so that
 * the output does not depend on the server's ordering. */
int certctl_format_permissions(const json_t *perms, struct certctl_buf *out)
{
    const char **keys;
    const char *key;
    const json_t *v;
    size_t n = 0, i, j;
    int rc = 0;

    if (!json_is_object(perms) || json_object_size(perms) == 0) {
        return certctl_buf_puts(out, "-");
    }
    keys = calloc(json_object_size(perms), sizeof(*keys));
    if (keys == NULL) {
        return -1;
    }
    json_object_foreach((json_t *)perms, key, v)
    {
        keys[n++] = key;
    }
    for (i = 1; i < n; i++) { /* insertion sort: a handful of databases */
        const char *k = keys[i];

        for (j = i; j > 0 && strcmp(keys[j - 1], k) > 0; j--) {
            keys[j] = keys[j - 1];
        }
        keys[j] = k;
    }
    for (i = 0; i < n && rc == 0; i++) {
        const char *level = json_string_value(json_object_get(perms, keys[i]));

        rc = certctl_buf_printf(out, "%s%s:%s", i > 0 ? "," : "", keys[i],
                                level != NULL ? level : "?");
    }
    free(keys);
    return rc;
}

/* The date part of "2026-01-01T00:00:00Z". */
static const char *date_only(const json_t *v, char *buf, size_t n)
{
    const char *s = json_string_value(v);
    const char *t;

    if (s == NULL) {
        return "-";
    }
    t = strchr(s, 'T');
    snprintf(buf, n, "%.*s", (int)(t != NULL ? (size_t)(t - s) : strlen(s)), s);
    return buf;
}

/* ---- certs upload ------------------------------------------------------ */

static const struct certctl_opt upload_opts[] = {
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", "name to register it under",
     NULL, NULL, NULL},
    {"file", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "PATH",
     "certificate file: DER, PEM or PFX", NULL, NULL, NULL},
    {"password", CERTCTL_OPT_STRING, CERTCTL_OPT_SECRET, "PW", "password of a PFX --file",
     NULL, NULL, NULL},
    {"clearance", CERTCTL_OPT_STRING, 0, "LEVEL", "security clearance", NULL, "ValidUser",
     certctl_clearance_choices},
    {"perm", CERTCTL_OPT_LIST, 0, "DB=LEVEL",
     "access to database DB; LEVEL is Admin, ReadWrite or Read", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Reads a whole file into a buffer the caller must cleanse and free: a PFX
 * holds a private key. Returns 0, or -1 with err. */
static int read_file(const char *path, unsigned char **data, size_t *len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read --file '%.200s': %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(CERTCTL_MAX_CERT_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = fread(buf, 1, CERTCTL_MAX_CERT_FILE + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read --file '%.200s': %s", path, strerror(errno));
        goto fail;
    }
    if (n > CERTCTL_MAX_CERT_FILE) {
        snprintf(err, errlen, "--file '%.200s' is larger than %ld bytes: not a certificate",
                 path, CERTCTL_MAX_CERT_FILE);
        goto fail;
    }
    if (n == 0) {
        snprintf(err, errlen, "--file '%.200s' is empty", path);
        goto fail;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;

fail:
    OPENSSL_cleanse(buf, CERTCTL_MAX_CERT_FILE + 1);
    free(buf);
    fclose(f);
    return -1;
}

int certctl_build_permissions(struct certctl_ctx *ctx, const struct certctl_args *args,
                              json_t **out)
{
    const char *const *perms;
    size_t n = certctl_args_list(args, "perm", &perms), i;
    json_t *obj = json_object();
    char allowed[128];

    *out = NULL;
    if (obj == NULL) {
        return certctl_fail("out of memory");
    }
    certctl_choices_join(certctl_level_choices, allowed, sizeof(allowed));
    for (i = 0; i < n; i++) {
        const char *eq = strchr(perms[i], '=');
        char db[256];

        if (eq == NULL || eq == perms[i] || (size_t)(eq - perms[i]) >= sizeof(db)) {
            json_decref(obj);
            return certctl_usage_fail(ctx, "invalid --perm '%.128s' (expected DB=LEVEL)",
                                      perms[i]);
        }
        snprintf(db, sizeof(db), "%.*s", (int)(eq - perms[i]), perms[i]);
        if (certctl_choice_index(certctl_level_choices, eq + 1) < 0) {
            json_decref(obj);
            return certctl_usage_fail(ctx, "invalid access level '%.64s' for database '%s' "
                                           "(allowed: %s)",
                                      eq + 1, db, allowed);
        }
        if (json_object_get(obj, db) != NULL) {
            json_decref(obj);
            return certctl_usage_fail(ctx, "database '%s' given twice in --perm", db);
        }
        if (json_object_set_new(obj, db, json_string(eq + 1)) != 0) {
            json_decref(obj);
            return certctl_fail("invalid database name in --perm (not UTF-8?)");
        }
    }
    *out = obj;
    return 0;
}

static int print_thumbprints(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"THUMBPRINT", "KIND"};
    struct certctl_table t;
    const json_t *v;
    size_t i;
    int rc = CERTCTL_EXIT_OK;
    const char *row[2];

    if (certctl_table_init(&t, 2, headers) != 0) {
        return certctl_fail("out of memory");
    }
    row[0] = json_string_value(json_object_get(reply, "Thumbprint"));
    row[1] = "primary";
    if (certctl_table_add(&t, row) != 0) {
        rc = certctl_fail("out of memory");
    }
    json_array_foreach(json_object_get(reply, "SecondaryThumbprints"), i, v)
    {
        row[0] = json_string_value(v);
        row[1] = "secondary";
        if (rc == 0 && certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
    }
    certctl_table_free(&t);
    return rc;
}

static int cmd_upload(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *password = certctl_args_get(args, "password");
    unsigned char *data = NULL;
    char *b64 = NULL;
    size_t len = 0, b64len;
    json_t *perms = NULL, *body = NULL;
    struct certctl_reply r;
    char err[512];
    int rc;

    /* The clearance was checked against its choices by the parser. */
    rc = certctl_build_permissions(ctx, args, &perms);
    if (rc != 0) {
        return rc;
    }
    if (read_file(certctl_args_get(args, "file"), &data, &len, err, sizeof(err)) != 0) {
        json_decref(perms);
        return certctl_fail("%s", err);
    }
    b64len = 4 * ((len + 2) / 3) + 1;
    b64 = malloc(b64len);
    if (b64 == NULL) {
        rc = certctl_fail("out of memory");
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)b64, data, (int)len);

    body = json_pack("{s:s, s:s, s:s, s:O}", "Name", certctl_args_get(args, "name"),
                     "Certificate", b64, "SecurityClearance",
                     certctl_args_get(args, "clearance"), "Permissions", perms);
    if (body != NULL && password != NULL &&
        json_object_set_new(body, "Password", json_string(password)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (body == NULL) {
        /* json_pack fails on bad UTF-8 as well as on lack of memory. */
        rc = certctl_usage_fail(ctx, "--name and --password must be valid UTF-8");
        goto out;
    }
    rc = certctl_call(ctx, "PUT", "/admin/certificates", body, &r);
    if (rc != 0) {
        goto out;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_thumbprints(ctx, r.json);
    certctl_reply_free(&r);

out:
    json_decref(body);
    json_decref(perms);
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, b64len);
        free(b64);
    }
    OPENSSL_cleanse(data, CERTCTL_MAX_CERT_FILE + 1);
    free(data);
    return rc;
}

/* ---- certs list -------------------------------------------------------- */

static const struct certctl_opt list_opts[] = {
    {"thumbprint", CERTCTL_OPT_STRING, 0, "T", "only the certificate with this thumbprint",
     NULL, NULL, NULL},
    {"name", CERTCTL_OPT_STRING, 0, "NAME", "only certificates with this name", NULL, NULL,
     NULL},
    {"secondary", CERTCTL_OPT_FLAG, 0, NULL,
     "include secondary certificates (other certificates of a collection)", NULL, NULL,
     NULL},
    {"expiring-within-days", CERTCTL_OPT_STRING, 0, "D",
     "only certificates that expire within D days", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_cert_list(struct certctl_ctx *ctx, const json_t *reply)
{
    static const char *const headers[] = {"THUMBPRINT", "NAME",        "CLEARANCE",
                                          "NOT AFTER",  "PERMISSIONS", "DISABLED"};
    struct certctl_table t;
    const json_t *e;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    if (json_array_size(json_object_get(reply, "Results")) == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no certificates found\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&t, 6, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(json_object_get(reply, "Results"), i, e)
    {
        struct certctl_buf perms;
        char date[64], disabled[8];
        const char *row[6];

        certctl_buf_init(&perms);
        row[0] = json_string_value(json_object_get(e, "Thumbprint"));
        row[1] = json_string_value(json_object_get(e, "Name"));
        row[2] = json_string_value(json_object_get(e, "SecurityClearance"));
        row[3] = date_only(json_object_get(e, "NotAfter"), date, sizeof(date));
        row[5] = certctl_json_text(json_object_get(e, "Disabled"), disabled, sizeof(disabled));
        if (certctl_format_permissions(json_object_get(e, "Permissions"), &perms) != 0) {
            certctl_buf_free(&perms);
            rc = certctl_fail("out of memory");
            break;
        }
        row[4] = perms.data;
        if (certctl_table_add(&t, row) != 0) {
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
    static const char *const filters[][2] = {
        {"thumbprint", "thumbprint"},
        {"name", "name"},
        {"expiring-within-days", "expiringWithinDays"},
    };
    struct certctl_buf path;
    struct certctl_reply r;
    uint64_t days;
    size_t i;
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "expiring-within-days", 0, 36500, &days)) != 0) {
        return rc;
    }
    certctl_buf_init(&path);
    rc = certctl_buf_puts(&path, "/admin/certificates");
    for (i = 0; rc == 0 && i < sizeof(filters) / sizeof(filters[0]); i++) {
        const char *v = certctl_args_get(args, filters[i][0]);

        if (v != NULL) {
            rc = certctl_query_add(&path, filters[i][1], v);
        }
    }
    if (rc == 0 && certctl_args_flag(args, "secondary")) {
        rc = certctl_query_add(&path, "secondary", "true");
    }
    if (rc != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "GET", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_cert_list(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- certs delete ------------------------------------------------------ */

static const struct certctl_opt delete_opts[] = {
    {"thumbprint", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "T",
     "thumbprint of the certificate to delete (with its collection's secondaries)", NULL,
     NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_delete(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    const json_t *v;
    size_t i;
    int rc;

    certctl_buf_init(&path);
    if (certctl_buf_puts(&path, "/admin/certificates") != 0 ||
        certctl_query_add(&path, "thumbprint", certctl_args_get(args, "thumbprint")) != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "DELETE", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        json_array_foreach(json_object_get(r.json, "Deleted"), i, v)
        {
            char t[256];

            certctl_scrub(t, sizeof(t), json_is_string(v) ? json_string_value(v) : "?");
            fprintf(ctx->out, "deleted %s\n", t);
        }
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- certs whoami ------------------------------------------------------ */

static const struct certctl_opt whoami_opts[] = {
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_entry(struct certctl_ctx *ctx, const json_t *e)
{
    static const struct
    {
        const char *label;
        const char *key;
    } fields[] = {
        {"Thumbprint:", "Thumbprint"},
        {"Name:", "Name"},
        {"Clearance:", "SecurityClearance"},
        {"Permissions:", NULL},
        {"Not before:", "NotBefore"},
        {"Not after:", "NotAfter"},
        {"Subject:", "Subject"},
        {"Issuer:", "Issuer"},
        {"Disabled:", "Disabled"},
        {"Primary:", "CollectionPrimaryKey"},
    };
    struct certctl_table t;
    struct certctl_buf perms;
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    certctl_table_init(&t, 2, NULL);
    certctl_buf_init(&perms);
    if (certctl_format_permissions(json_object_get(e, "Permissions"), &perms) != 0) {
        rc = certctl_fail("out of memory");
    }
    for (i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++) {
        char value[1024];
        const char *row[2];

        row[0] = fields[i].label;
        if (fields[i].key == NULL) {
            row[1] = perms.data;
        } else {
            const json_t *v = json_object_get(e, fields[i].key);

            /* A primary certificate has an empty CollectionPrimaryKey. */
            if (json_is_string(v) && json_string_length(v) == 0) {
                continue;
            }
            row[1] = certctl_json_text(v, value, sizeof(value));
        }
        if (certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
    }
    certctl_buf_free(&perms);
    certctl_table_free(&t);
    return rc;
}

static int cmd_whoami(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_reply r;
    int rc;

    (void)args;
    rc = certctl_call(ctx, "GET", "/certificates/whoami", NULL, &r);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_entry(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- certs edit -------------------------------------------------------- */

static const struct certctl_opt edit_opts[] = {
    {"thumbprint", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "T",
     "thumbprint of the certificate to change", NULL, NULL, NULL},
    {"name", CERTCTL_OPT_STRING, 0, "NAME", "new name", NULL, NULL, NULL},
    {"clearance", CERTCTL_OPT_STRING, 0, "LEVEL", "new security clearance", NULL, NULL,
     certctl_clearance_choices},
    {"perm", CERTCTL_OPT_LIST, 0, "DB=LEVEL",
     "access to database DB; replaces all permissions; LEVEL is Admin, ReadWrite or Read",
     NULL, NULL, NULL},
    {"no-perms", CERTCTL_OPT_FLAG, 0, NULL, "remove all database permissions", NULL, NULL,
     NULL},
    {"disable", CERTCTL_OPT_FLAG, 0, NULL, "refuse the certificate from now on", NULL, NULL,
     NULL},
    {"enable", CERTCTL_OPT_FLAG, 0, NULL, "accept a disabled certificate again", NULL, NULL,
     NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_entry(struct certctl_ctx *ctx, const json_t *e);

static int cmd_edit(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *name = certctl_args_get(args, "name");
    const char *clearance = certctl_args_get(args, "clearance");
    int has_perms = certctl_args_given(args, "perm");
    int no_perms = certctl_args_flag(args, "no-perms");
    int disable = certctl_args_flag(args, "disable");
    int enable = certctl_args_flag(args, "enable");
    json_t *body, *perms = NULL;
    struct certctl_reply r;
    int rc;

    if (has_perms && no_perms) {
        return certctl_usage_fail(ctx, "--perm and --no-perms contradict each other");
    }
    if (disable && enable) {
        return certctl_usage_fail(ctx, "--disable and --enable contradict each other");
    }
    if (name == NULL && clearance == NULL && !has_perms && !no_perms && !disable && !enable) {
        return certctl_usage_fail(ctx, "nothing to change: give --name, --clearance, --perm, "
                                       "--no-perms, --disable or --enable");
    }
    if (has_perms && (rc = certctl_build_permissions(ctx, args, &perms)) != 0) {
        return rc;
    }
    if (no_perms && (perms = json_object()) == NULL) {
        return certctl_fail("out of memory");
    }
    /* Only what is to change is sent: the server keeps the rest. */
    body = json_pack("{s:s}", "Thumbprint", certctl_args_get(args, "thumbprint"));
    rc = body == NULL;
    if (rc == 0 && name != NULL) {
        rc = json_object_set_new(body, "Name", json_string(name));
    }
    if (rc == 0 && clearance != NULL) {
        rc = json_object_set_new(body, "SecurityClearance", json_string(clearance));
    }
    if (rc == 0 && perms != NULL) {
        rc = json_object_set(body, "Permissions", perms);
    }
    if (rc == 0 && (disable || enable)) {
        rc = json_object_set_new(body, "Disabled", json_boolean(disable));
    }
    json_decref(perms);
    if (rc != 0) {
        json_decref(body);
        /* json_string() fails on bad UTF-8 as well as on lack of memory. */
        return certctl_usage_fail(ctx, "--thumbprint and --name must be valid UTF-8");
    }
    rc = certctl_call(ctx, "POST", "/admin/certificates/edit", body, &r);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_entry(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- certs purge ------------------------------------------------------- */

static const struct certctl_opt purge_opts[] = {
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_purge(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_reply r;
    const json_t *purged, *v;
    size_t i;
    int rc;

    (void)args;
    rc = certctl_call(ctx, "DELETE", "/admin/certificates/purge", NULL, &r);
    if (rc != 0) {
        return rc;
    }
    purged = json_object_get(r.json, "Purged");
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else if (json_array_size(purged) == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no expired certificates to purge\n", stderr);
    } else {
        json_array_foreach(purged, i, v)
        {
            char t[256];

            certctl_scrub(t, sizeof(t), json_is_string(v) ? json_string_value(v) : "?");
            fprintf(ctx->out, "purged %s\n", t);
        }
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_certs_commands[] = {
    {"upload", "register a client certificate with a clearance and permissions",
     "Registers the certificate(s) in --file under --name. A PFX may hold a\n"
     "chain: its other certificates become secondary certificates of the same\n"
     "collection. Prints the primary and secondary thumbprints.",
     "  certctl certs upload --name app1 --file app1.pem --clearance ValidUser \\\n"
     "      --perm orders=ReadWrite --perm reports=Read\n",
     upload_opts, cmd_upload, NULL},
    {"generate", "have the cluster create a certificate and key, and save them",
     "Asks the cluster to create a new client certificate and private key,\n"
     "registers it under --name with the clearance and permissions given, and\n"
     "writes DIR/NAME.pfx, DIR/NAME.crt and DIR/NAME.key (or, with --zip, the\n"
     "zip the node sent as DIR/NAME.zip). NAME is --name with '/', '\\' and\n"
     "other characters not allowed in file names replaced by '_'. Files are\n"
     "created with mode 0600 and never overwritten: if one exists, nothing is\n"
     "requested. Prints the new thumbprint and the files written; the key is\n"
     "never printed. With --password the PFX (and the key) are protected by it.",
     "  certctl certs generate --name app1 --perm orders=ReadWrite --days 365 \\\n"
     "      --key-type P-384 --out ./secrets\n",
     certctl_generate_opts, certctl_cmd_generate, NULL},
    {"list", "list registered certificates",
     "Lists registered certificates, optionally filtered. Without --secondary\n"
     "only primary certificates are listed.",
     "  certctl certs list --expiring-within-days 30\n", list_opts, cmd_list, NULL},
    {"edit", "rename, re-permission, disable or enable a certificate",
     "Changes a registered certificate: its name, clearance or permissions\n"
     "(--perm replaces them all; --no-perms removes them all), or disables or\n"
     "re-enables it. Only what is given changes; at least one change is\n"
     "needed. Prints the certificate as it now is.",
     "  certctl certs edit --thumbprint 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C"
     "15B0F00A08 \\\n"
     "      --perm orders=Read --disable\n",
     edit_opts, cmd_edit, NULL},
    {"delete", "delete a certificate",
     "Deletes a registered certificate and prints every thumbprint deleted.",
     "  certctl certs delete --thumbprint 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C"
     "15B0F00A08\n",
     delete_opts, cmd_delete, NULL},
    {"purge", "delete every expired certificate",
     "Deletes every registered certificate whose validity has ended and prints\n"
     "the thumbprints deleted.",
     "  certctl certs purge\n", purge_opts, cmd_purge, NULL},
    {"export-server", "save the cluster's server certificates as a PFX",
     "Saves the certificates the nodes present to clients (public parts only,\n"
     "no keys) as one PKCS#12 file with an empty password, e.g. for a client\n"
     "to trust. The file is created with mode 0600; an existing one is only\n"
     "replaced with --force.",
     "  certctl certs export-server --out cluster.pfx\n", certctl_export_server_opts,
     certctl_cmd_export_server, NULL},
    {"whoami", "show the certificate you are authenticated with",
     "Shows the registry entry of the client certificate certctl is using.",
     "  certctl --pfx admin.pfx --password \"$PW\" certs whoami\n", whoami_opts, cmd_whoami,
     NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
