/*
 * core_test_certs.h - certificates and commands made in-process for the
 * core's tests (header-only, static helpers).
 *
 * Certificates come from the core's own x509_issue functions with P-256
 * keys (fast); commands are encoded with the real codec and applied with
 * cr_state_apply, so the tests exercise the same path as raft.
 */
#ifndef CERTRAFT_CORE_TEST_CERTS_H
#define CERTRAFT_CORE_TEST_CERTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <certraft/command.h>
#include <certraft/state.h>
#include <certraft/x509.h>

struct tcert {
    EVP_PKEY *key;
    X509 *x;
    unsigned char *der;
    size_t len;
    char thumb[CR_THUMBPRINT_LEN + 1];
    int64_t not_before, not_after;
};

static inline void tcert_fill(struct tcert *c)
{
    struct cr_cert_info info;

    if (cr_x509_to_der(c->x, &c->der, &c->len) != CR_OK ||
        cr_cert_info_from_der(c->der, c->len, &info, NULL) != CR_OK) {
        fprintf(stderr, "test cert: cannot encode\n");
        abort();
    }
    memcpy(c->thumb, info.thumbprint, sizeof c->thumb);
    c->not_before = info.not_before;
    c->not_after = info.not_after;
    cr_cert_info_free(&info);
}

/* A self-signed cluster (CA) certificate. */
static inline struct tcert tcert_cluster(const char *cn)
{
    static const char *const sans[] = {"DNS:localhost", "IP:127.0.0.1"};
    struct tcert c;
    struct cr_error err;

    memset(&c, 0, sizeof c);
    c.key = cr_key_generate(CR_KEY_EC_P256, &err);
    c.x = c.key ? cr_x509_make_cluster_cert(c.key, cn, sans, 2, 365, &err)
                : NULL;
    if (c.x == NULL) {
        fprintf(stderr, "test cluster cert: %s\n", err.msg);
        abort();
    }
    tcert_fill(&c);
    return c;
}

/* A client certificate signed by @ca, valid for @days from now. */
static inline struct tcert tcert_client(const struct tcert *ca, const char *name,
                                 int days)
{
    struct tcert c;
    struct cr_error err;

    memset(&c, 0, sizeof c);
    c.key = cr_key_generate(CR_KEY_EC_P256, &err);
    c.x = c.key ? cr_x509_issue_client(c.key, name,
                                       (int64_t)time(NULL) + days * 86400LL,
                                       ca->x, ca->key, &err)
                : NULL;
    if (c.x == NULL) {
        fprintf(stderr, "test client cert: %s\n", err.msg);
        abort();
    }
    tcert_fill(&c);
    return c;
}

/* A renewal of @old: the same key, signed by @ca again (RavenDB's
 * renewal), CN=@name, valid for @days from now. */
static inline struct tcert tcert_renew(const struct tcert *old,
                                       const struct tcert *ca,
                                       const char *name, int days)
{
    struct tcert c;
    struct cr_error err;

    memset(&c, 0, sizeof c);
    EVP_PKEY_up_ref(old->key);
    c.key = old->key;
    c.x = cr_x509_issue_client(c.key, name,
                               (int64_t)time(NULL) + days * 86400LL, ca->x,
                               ca->key, &err);
    if (c.x == NULL) {
        fprintf(stderr, "test renewal: %s\n", err.msg);
        abort();
    }
    tcert_fill(&c);
    return c;
}

/* Everything about a hand-made certificate; zero means the default. */
struct tcert_opts {
    const char *cn;
    const struct tcert *issuer; /* NULL: self-signed */
    EVP_PKEY *key;      /* reuse this key (a renewal); NULL: a new one */
    EVP_PKEY *sign_key; /* sign with this instead of the issuer's (forgery) */
    int64_t not_before; /* unix seconds; 0: now - 1 day */
    int64_t not_after;  /* unix seconds; 0: now + 30 days */
    bool ca;            /* CA:TRUE, keyUsage keyCertSign */
    bool ca_no_key_usage; /* with ca: no keyUsage at all */
    bool no_aki;        /* leave out the AuthorityKeyIdentifier */
};

static inline bool tcert_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *v)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, v);
    bool ok = e != NULL && X509_add_ext(x, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok;
}

/* Any certificate the tests need: CAs, intermediates, leaves that are
 * expired or not yet valid, renewals, forgeries. */
static inline struct tcert tcert_make(const struct tcert_opts *o)
{
    struct tcert c;
    X509V3_CTX ctx;
    X509_NAME *name;
    unsigned char serial[8];
    BIGNUM *bn;
    int64_t now = (int64_t)time(NULL);
    bool ok;

    memset(&c, 0, sizeof c);
    if (o->key != NULL) {
        EVP_PKEY_up_ref(o->key);
        c.key = o->key;
    } else {
        c.key = EVP_EC_gen("P-256");
    }
    c.x = X509_new();
    name = X509_get_subject_name(c.x);
    RAND_bytes(serial, sizeof serial);
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 1);
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    ok = c.key != NULL && c.x != NULL && bn != NULL &&
         X509_set_version(c.x, X509_VERSION_3) == 1 &&
         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.x)) != NULL &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)o->cn, -1, -1,
                                    0) == 1 &&
         X509_set_issuer_name(c.x, o->issuer != NULL
                                       ? X509_get_subject_name(o->issuer->x)
                                       : name) == 1 &&
         ASN1_TIME_set(X509_getm_notBefore(c.x),
                       (time_t)(o->not_before ? o->not_before
                                              : now - 86400)) != NULL &&
         ASN1_TIME_set(X509_getm_notAfter(c.x),
                       (time_t)(o->not_after ? o->not_after
                                             : now + 30 * 86400)) != NULL &&
         X509_set_pubkey(c.x, c.key) == 1;
    BN_free(bn);
    X509V3_set_ctx(&ctx, o->issuer != NULL ? o->issuer->x : c.x, c.x, NULL,
                   NULL, 0);
    ok = ok &&
         tcert_ext(c.x, &ctx, NID_basic_constraints,
                   o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
         (o->ca_no_key_usage ||
          tcert_ext(c.x, &ctx, NID_key_usage,
                    o->ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                          : "critical,digitalSignature")) &&
         (o->ca || tcert_ext(c.x, &ctx, NID_ext_key_usage, "clientAuth")) &&
         tcert_ext(c.x, &ctx, NID_subject_key_identifier, "hash") &&
         (o->no_aki ||
          tcert_ext(c.x, &ctx, NID_authority_key_identifier, "keyid:always")) &&
         X509_sign(c.x,
                   o->sign_key != NULL ? o->sign_key
                   : o->issuer != NULL ? o->issuer->key
                                       : c.key,
                   EVP_sha256()) > 0;
    if (!ok) {
        fprintf(stderr, "test cert %s: cannot make it\n", o->cn);
        abort();
    }
    tcert_fill(&c);
    return c;
}

static inline void tcert_free(struct tcert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->x);
    free(c->der);
    memset(c, 0, sizeof *c);
}

/* --- commands -------------------------------------------------------- */

/* A time inside every test certificate's validity. */
static inline int64_t tnow_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

static inline void tcmd_init(struct cr_command *cmd, enum cr_command_type type,
                      const struct tcert *caller)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->type = type;
    if (caller != NULL) {
        memcpy(cmd->caller, caller->thumb, sizeof cmd->caller);
    }
    cmd->time_ms = tnow_ms();
}

/* Apply @cmd at the next index; the command is not freed (its pointers
 * usually point at test data). */
static inline enum cr_status tapply(struct cr_state *st, const struct cr_command *cmd,
                             struct cr_apply_result *res_out)
{
    struct cr_buf buf = {NULL, 0, 0};
    struct cr_apply_result res;
    struct cr_error err;

    if (cr_command_encode(cmd, &buf, &err) != CR_OK) {
        fprintf(stderr, "encode: %s\n", err.msg);
        abort();
    }
    cr_state_apply(st, cr_state_applied_index(st) + 1, buf.data, buf.len,
                   &res);
    cr_buf_free(&buf);
    if (res_out != NULL) {
        *res_out = res;
    }
    return res.status;
}

static inline enum cr_status tbootstrap(struct cr_state *st, const struct tcert *cl,
                                 const struct tcert *admin)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_BOOTSTRAP, NULL);
    cmd.u.bootstrap.cluster_cert.der = cl->der;
    cmd.u.bootstrap.cluster_cert.len = cl->len;
    cmd.u.bootstrap.admin_cert.der = admin->der;
    cmd.u.bootstrap.admin_cert.len = admin->len;
    cmd.u.bootstrap.admin_name = (char *)"admin";
    return tapply(st, &cmd, NULL);
}

/* Upload @n certificates (first is primary) as one collection. */
static inline enum cr_status tput(struct cr_state *st, const struct tcert *caller,
                           const struct tcert *const *certs, size_t n,
                           const char *name, enum cr_clearance clearance,
                           const struct cr_permission *perms, size_t n_perms,
                           struct cr_apply_result *res)
{
    struct cr_command cmd;
    struct cr_der items[16];
    size_t i;

    tcmd_init(&cmd, CR_CMD_CERT_PUT, caller);
    for (i = 0; i < n; i++) {
        items[i].der = certs[i]->der;
        items[i].len = certs[i]->len;
    }
    cmd.u.cert_put.name = (char *)name;
    cmd.u.cert_put.clearance = clearance;
    cmd.u.cert_put.perms = (struct cr_permission *)perms;
    cmd.u.cert_put.n_perms = n_perms;
    cmd.u.cert_put.certs.items = items;
    cmd.u.cert_put.certs.n = n;
    return tapply(st, &cmd, res);
}

static inline enum cr_status tput1(struct cr_state *st, const struct tcert *caller,
                            const struct tcert *cert, const char *name,
                            enum cr_clearance clearance)
{
    return tput(st, caller, &cert, 1, name, clearance, NULL, 0, NULL);
}

static inline enum cr_status tdelete(struct cr_state *st, const struct tcert *caller,
                              const char *thumb, struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CERT_DELETE, caller);
    snprintf(cmd.u.cert_delete.thumbprint,
             sizeof cmd.u.cert_delete.thumbprint, "%s", thumb);
    return tapply(st, &cmd, res);
}

static inline enum cr_status tdb(struct cr_state *st, const struct tcert *caller,
                          enum cr_command_type type, const char *name)
{
    struct cr_command cmd;

    tcmd_init(&cmd, type, caller);
    cmd.u.db.name = (char *)name;
    return tapply(st, &cmd, NULL);
}

static inline enum cr_status tdoc(struct cr_state *st, const struct tcert *caller,
                           const char *db, const char *id, const char *json)
{
    struct cr_command cmd;

    tcmd_init(&cmd, json != NULL ? CR_CMD_DOC_PUT : CR_CMD_DOC_DELETE, caller);
    cmd.u.doc.db = (char *)db;
    cmd.u.doc.id = (char *)id;
    cmd.u.doc.json = (char *)json;
    cmd.u.doc.json_len = json != NULL ? strlen(json) : 0;
    return tapply(st, &cmd, NULL);
}

/* Send @cmd as @caller with its certificate attached (caller_der), as a
 * node does for a caller it authenticated by implicit trust or a client
 * CA. */
static inline void tcmd_with_der(struct cr_command *cmd,
                                 const struct tcert *caller)
{
    memcpy(cmd->caller, caller->thumb, sizeof cmd->caller);
    cmd->caller_der.der = caller->der;
    cmd->caller_der.len = caller->len;
}

/* CR_CMD_CERT_IMPLICIT for @c. */
static inline enum cr_status timplicit(struct cr_state *st,
                                       const struct tcert *c,
                                       struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CERT_IMPLICIT, c);
    tcmd_with_der(&cmd, c);
    return tapply(st, &cmd, res);
}

/* CR_CMD_CLIENT_CA_PUT of @n CA certificates. */
static inline enum cr_status tca_put(struct cr_state *st,
                                     const struct tcert *caller,
                                     const char *name,
                                     const struct tcert *const *cas, size_t n,
                                     enum cr_clearance clearance,
                                     const struct cr_permission *perms,
                                     size_t n_perms,
                                     enum cr_client_ca_mode mode,
                                     struct cr_apply_result *res)
{
    struct cr_command cmd;
    struct cr_der items[16];
    size_t i;

    tcmd_init(&cmd, CR_CMD_CLIENT_CA_PUT, caller);
    for (i = 0; i < n; i++) {
        items[i].der = cas[i]->der;
        items[i].len = cas[i]->len;
    }
    cmd.u.client_ca.name = (char *)name;
    cmd.u.client_ca.clearance = clearance;
    cmd.u.client_ca.perms = (struct cr_permission *)perms;
    cmd.u.client_ca.n_perms = n_perms;
    cmd.u.client_ca.certs.items = items;
    cmd.u.client_ca.certs.n = n;
    cmd.u.client_ca.mode = mode;
    return tapply(st, &cmd, res);
}

/* Snapshot bytes of @st, for before/after comparisons. */
static inline struct cr_buf tsnap(const struct cr_state *st)
{
    struct cr_buf buf = {NULL, 0, 0};

    if (cr_state_snapshot(st, &buf, NULL) != CR_OK) {
        abort();
    }
    return buf;
}

/* Run a shell command; returns its first output line (static buffer). */
static inline const char *tshell(const char *cmdline)
{
    static char line[512];
    FILE *p = popen(cmdline, "r");

    line[0] = '\0';
    if (p == NULL) {
        return line;
    }
    if (fgets(line, sizeof line, p) == NULL) {
        line[0] = '\0';
    }
    line[strcspn(line, "\r\n")] = '\0';
    pclose(p);
    return line;
}

static inline void twrite_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL || fwrite(data, 1, len, f) != len) {
        abort();
    }
    fclose(f);
}

#endif /* CERTRAFT_CORE_TEST_CERTS_H */
