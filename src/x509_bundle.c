/*
 * x509_bundle.c - turning an uploaded blob (DER, PEM, PKCS#12) into the
 * ordered list of certificates of one collection.
 *
 * RavenDB's rules: private keys are dropped at once, CA members of a
 * chain are skipped, duplicates collapse, the first remaining certificate
 * is the primary.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "x509_internal.h"

enum cr_status cr_upload_member_error(struct cr_error *err, size_t i,
                                      const struct cr_error *why)
{
    return cr_error_set(err, why->status, "certificate %zu of the upload: %s",
                        i + 1, why->msg);
}

static enum cr_status der_append_x509(struct cr_der_list *out, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    enum cr_status rv = n > 0 ? cr_der_list_append(out, der, (size_t)n)
                              : CR_EINVAL;

    OPENSSL_free(der);
    return rv;
}

bool cr_pkcs12_parse_legacy(PKCS12 *p12, const char *pass,
                            unsigned char **key_der, size_t *key_len,
                            struct cr_der_list *certs, bool *has_cert)
{
    /* A private library context keeps the legacy algorithms away from the
     * rest of the process and is freed afterwards; everything parsed in
     * it is re-encoded as DER so that no object outlives it. */
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new(), *prev;
    OSSL_PROVIDER *def = NULL, *leg = NULL;
    STACK_OF(X509) *ca = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool ok = false;

    *has_cert = false;
    if (ctx == NULL) {
        return false;
    }
    def = OSSL_PROVIDER_load(ctx, "default");
    leg = OSSL_PROVIDER_load(ctx, "legacy");
    if (def != NULL && leg != NULL) {
        prev = OSSL_LIB_CTX_set0_default(ctx);
        ok = PKCS12_parse(p12, pass, &key, &cert, &ca) == 1;
        if (ok && key_der != NULL && key != NULL) {
            int n = i2d_PrivateKey(key, key_der);
            ok = n > 0;
            *key_len = ok ? (size_t)n : 0;
        }
        if (ok && cert != NULL) {
            ok = der_append_x509(certs, cert) == CR_OK;
            *has_cert = ok;
        }
        for (int i = 0; ok && ca != NULL && i < sk_X509_num(ca); i++) {
            ok = der_append_x509(certs, sk_X509_value(ca, i)) == CR_OK;
        }
        EVP_PKEY_free(key);
        X509_free(cert);
        sk_X509_pop_free(ca, X509_free);
        OSSL_LIB_CTX_set0_default(prev);
    }
    OSSL_PROVIDER_unload(leg);
    OSSL_PROVIDER_unload(def);
    OSSL_LIB_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        cr_der_list_free(certs);
        if (key_der != NULL) {
            OPENSSL_free(*key_der);
            *key_der = NULL;
        }
    }
    return ok;
}

/* Collected certificates, still parsed, in input order. */
struct bundle {
    STACK_OF(X509) *certs;
};

static enum cr_status bundle_add(struct bundle *b, X509 *x,
                                 struct cr_error *err)
{
    if (!sk_X509_push(b->certs, x)) {
        X509_free(x);
        return cr_error_set(err, CR_ENOMEM, "out of memory reading a bundle");
    }
    return CR_OK;
}

static bool looks_like_pem(const unsigned char *data, size_t len)
{
    static const char marker[] = "-----BEGIN";
    size_t m = sizeof marker - 1, i;

    for (i = 0; i + m <= len; i++) {
        if (data[i] == '-' && memcmp(data + i, marker, m) == 0) {
            return true;
        }
    }
    return false;
}

static enum cr_status decode_pem(const unsigned char *data, size_t len,
                                 struct bundle *b, struct cr_error *err)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    enum cr_status rv = CR_OK;
    int blocks = 0;

    if (bio == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory reading PEM");
    }
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *body = NULL;
        long blen = 0;

        if (!PEM_read_bio(bio, &name, &header, &body, &blen)) {
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            if (blocks == 0 || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
                rv = cr_error_set(err, CR_EINVAL,
                                  "malformed PEM (block %d is truncated or "
                                  "not base64)",
                                  blocks + 1);
            }
            break;
        }
        blocks++;
        /* Keys and other blocks are skipped unread: certraft never
         * keeps a private key that was uploaded. */
        if (strcmp(name, PEM_STRING_X509) == 0 ||
            strcmp(name, PEM_STRING_X509_OLD) == 0 ||
            strcmp(name, PEM_STRING_X509_TRUSTED) == 0) {
            const unsigned char *p = body;
            X509 *x = strcmp(name, PEM_STRING_X509_TRUSTED) == 0
                          ? d2i_X509_AUX(NULL, &p, blen)
                          : d2i_X509(NULL, &p, blen);
            if (x == NULL) {
                ERR_clear_error();
                rv = cr_error_set(err, CR_EINVAL,
                                  "PEM block %d is not a valid certificate",
                                  blocks);
            } else {
                rv = bundle_add(b, x, err);
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(body);
        if (rv != CR_OK) {
            break;
        }
    }
    BIO_free(bio);
    return rv;
}

bool cr_pkcs12_mac_ok(PKCS12 *p12, const char *password)
{
    if (!PKCS12_mac_present(p12)) {
        return true;
    }
    if (password == NULL || password[0] == '\0') {
        /* An empty password is encoded either way by various tools. */
        return PKCS12_verify_mac(p12, NULL, 0) == 1 ||
               PKCS12_verify_mac(p12, "", 0) == 1;
    }
    return PKCS12_verify_mac(p12, password, -1) == 1;
}

static enum cr_status decode_pkcs12(const unsigned char *data, size_t len,
                                    const char *password, struct bundle *b,
                                    struct cr_error *err)
{
    const unsigned char *p = data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    enum cr_status rv = CR_OK;
    const char *pass = password != NULL ? password : "";
    int ok;

    if (p12 == NULL) {
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "not a certificate: expected DER, PEM or a PFX "
                            "(PKCS#12) file");
    }
    if (!cr_pkcs12_mac_ok(p12, pass)) {
        ERR_clear_error();
        PKCS12_free(p12);
        return cr_error_set(err, CR_EINVAL,
                            "wrong password for the PFX (or it is not a PFX)");
    }
    ok = PKCS12_parse(p12, pass, &key, &cert, &ca);
    EVP_PKEY_free(key); /* never kept */
    if (!ok) {
        /* Old files use RC2 or 3DES, which OpenSSL 3 keeps in the
         * legacy provider. */
        struct cr_der_list legacy = {NULL, 0};
        bool has_cert;
        ERR_clear_error();
        ok = cr_pkcs12_parse_legacy(p12, pass, NULL, NULL, &legacy, &has_cert);
        for (size_t i = 0; ok && rv == CR_OK && i < legacy.n; i++) {
            const unsigned char *q = legacy.items[i].der;
            X509 *x = d2i_X509(NULL, &q, (long)legacy.items[i].len);
            rv = x != NULL ? bundle_add(b, x, err)
                           : cr_error_set(err, CR_EINVAL, "bad PFX member");
        }
        cr_der_list_free(&legacy);
    }
    PKCS12_free(p12);
    if (!ok) {
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "the PFX cannot be opened: its encryption "
                            "algorithm is not supported");
    }
    if (cert != NULL) {
        rv = bundle_add(b, cert, err);
    }
    while (rv == CR_OK && ca != NULL && sk_X509_num(ca) > 0) {
        rv = bundle_add(b, sk_X509_shift(ca), err);
    }
    sk_X509_pop_free(ca, X509_free);
    return rv;
}

static bool is_issuer_of(X509 *ca, X509 *other)
{
    if (X509_check_issued(ca, other) == X509_V_OK) {
        return true;
    }
    return (X509_get_extension_flags(ca) & EXFLAG_CA) != 0 &&
           X509_NAME_cmp(X509_get_subject_name(ca),
                         X509_get_issuer_name(other)) == 0;
}

/* The bundle's certificates into @out and, when @parsed is not NULL,
 * what each one holds into @parsed[] (room for every member). */
static enum cr_status bundle_to_list(struct bundle *b, struct cr_der_list *out,
                                     struct cr_cert_info *parsed,
                                     struct cr_error *err)
{
    int n = sk_X509_num(b->certs), i, j;

    for (i = 0; i < n; i++) {
        X509 *x = sk_X509_value(b->certs, i);
        unsigned char *der = NULL;
        bool skip = false;
        int len;

        for (j = 0; j < n && !skip; j++) {
            X509 *y = sk_X509_value(b->certs, j);
            /* Duplicates keep their first occurrence. */
            if (j < i && X509_cmp(x, y) == 0) {
                skip = true;
            } else if (j != i && X509_cmp(x, y) != 0 && is_issuer_of(x, y)) {
                skip = true;
            }
        }
        if (skip) {
            continue;
        }
        len = i2d_X509(x, &der);
        if (len <= 0) {
            ERR_clear_error();
            return cr_error_set(err, CR_EINVAL,
                                "a certificate of the bundle cannot be "
                                "re-encoded");
        }
        if (cr_der_list_append(out, der, (size_t)len) != CR_OK) {
            OPENSSL_free(der);
            return cr_error_set(err, CR_ENOMEM, "out of memory");
        }
        OPENSSL_free(der);
        if (parsed != NULL) {
            const struct cr_der *d = &out->items[out->n - 1];
            struct cr_error why;
            if (cr_cert_info_from_x509(x, d->der, d->len,
                                       &parsed[out->n - 1], &why) != CR_OK) {
                return cr_upload_member_error(err, out->n - 1, &why);
            }
        }
    }
    ERR_clear_error();
    if (out->n == 0) {
        return cr_error_set(err, CR_EINVAL,
                            "no certificate found in the upload (only CA "
                            "certificates, keys or nothing)");
    }
    return CR_OK;
}

static void parsed_free(struct cr_cert_info **parsed, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        cr_cert_info_free(&(*parsed)[i]);
    }
    free(*parsed);
    *parsed = NULL;
}

enum cr_status cr_x509_decode_bundle(const unsigned char *data, size_t len,
                                     const char *password,
                                     struct cr_der_list *out,
                                     struct cr_cert_info **parsed,
                                     struct cr_error *err)
{
    struct bundle b;
    enum cr_status rv;
    int members;

    out->items = NULL;
    out->n = 0;
    if (parsed != NULL) {
        *parsed = NULL;
    }
    if (data == NULL || len == 0) {
        return cr_error_set(err, CR_EINVAL, "no certificate found: the "
                                            "upload is empty");
    }
    if (len > INT_MAX) {
        return cr_error_set(err, CR_ETOOLARGE, "the upload is too large");
    }
    b.certs = sk_X509_new_null();
    if (b.certs == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    if (looks_like_pem(data, len)) {
        rv = decode_pem(data, len, &b, err);
    } else {
        const unsigned char *p = data;
        /* One DER certificate (the common upload) is never checked
         * against another, so its key is not needed; PEM bundles are,
         * by is_issuer_of(), and keep the full parse. */
        X509 *x = cr_x509_d2i_keyless(&p, (long)len);
        if (x != NULL && p == data + len) {
            rv = bundle_add(&b, x, err);
        } else {
            X509_free(x);
            ERR_clear_error();
            rv = decode_pkcs12(data, len, password, &b, err);
        }
    }
    members = sk_X509_num(b.certs);
    if (rv == CR_OK && parsed != NULL &&
        (*parsed = calloc(members > 0 ? (size_t)members : 1,
                          sizeof **parsed)) == NULL) {
        rv = cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    if (rv == CR_OK) {
        rv = bundle_to_list(&b, out, parsed != NULL ? *parsed : NULL, err);
    }
    if (rv != CR_OK) {
        if (parsed != NULL && *parsed != NULL) {
            parsed_free(parsed, (size_t)members);
        }
        cr_der_list_free(out);
    }
    sk_X509_pop_free(b.certs, X509_free);
    ERR_clear_error();
    return rv;
}
