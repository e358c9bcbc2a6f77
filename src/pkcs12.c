/*
 * pkcs12.c - writing and reading PFX files.
 *
 * Written with OpenSSL 3's modern defaults (AES-256-CBC, PBKDF2, SHA-256
 * MAC) so that current Windows, macOS and Java read them; public-only
 * collections (the cluster export) carry certificate bags only.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "x509_internal.h"

static STACK_OF(X509) *stack_from_list(const struct cr_der_list *list)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    size_t i;

    if (sk == NULL) {
        return NULL;
    }
    for (i = 0; list != NULL && i < list->n; i++) {
        const unsigned char *p = list->items[i].der;
        X509 *x = d2i_X509(NULL, &p, (long)list->items[i].len);
        if (x == NULL || !sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return NULL;
        }
    }
    return sk;
}

enum cr_status cr_pkcs12_write(EVP_PKEY *key, X509 *cert,
                               const struct cr_der_list *extra,
                               const char *password, unsigned char **out,
                               size_t *outlen, struct cr_error *err)
{
    STACK_OF(X509) *ca;
    PKCS12 *p12;
    unsigned char *tmp = NULL;
    bool empty = password == NULL || password[0] == '\0';
    int nid = empty ? -1 : 0; /* 0: OpenSSL's default, AES-256 + PBKDF2 */
    int n;
    char why[128];

    if (cert == NULL) {
        return cr_error_set(err, CR_EINVAL, "a PFX needs a certificate");
    }
    ca = stack_from_list(extra);
    if (ca == NULL) {
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "an extra certificate of the PFX is not valid "
                            "DER");
    }
    /* Without a password the bags are left unencrypted (-1) and the MAC
     * uses the empty password, which every reader accepts. */
    p12 = PKCS12_create(empty ? "" : password, NULL, key, cert, ca, nid, nid,
                        PKCS12_DEFAULT_ITER, PKCS12_DEFAULT_ITER, 0);
    sk_X509_pop_free(ca, X509_free);
    if (p12 == NULL) {
        return cr_error_set(err, CR_EINTERNAL, "creating the PFX failed: %s",
                            cr_openssl_reason(why, sizeof why));
    }
    n = i2d_PKCS12(p12, &tmp);
    PKCS12_free(p12);
    if (n <= 0) {
        return cr_error_set(err, CR_EINTERNAL, "encoding the PFX failed: %s",
                            cr_openssl_reason(why, sizeof why));
    }
    *out = malloc((size_t)n);
    if (*out == NULL) {
        OPENSSL_free(tmp);
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    memcpy(*out, tmp, (size_t)n);
    *outlen = (size_t)n;
    OPENSSL_free(tmp);
    return CR_OK;
}

/* Old RC2/3DES files: parse with the legacy provider and rebuild the
 * objects in the default library context. */
static bool read_legacy(PKCS12 *p12, const char *pass, EVP_PKEY **key,
                        X509 **cert, STACK_OF(X509) **ca)
{
    struct cr_der_list certs = {NULL, 0};
    unsigned char *kd = NULL;
    const unsigned char *q;
    size_t klen = 0, i;
    bool has_cert, ok;

    if (!cr_pkcs12_parse_legacy(p12, pass, &kd, &klen, &certs, &has_cert)) {
        return false;
    }
    q = kd;
    *key = kd != NULL ? d2i_AutoPrivateKey(NULL, &q, (long)klen) : NULL;
    OPENSSL_clear_free(kd, klen);
    *ca = sk_X509_new_null();
    ok = *ca != NULL;
    for (i = 0; ok && i < certs.n; i++) {
        X509 *x;
        q = certs.items[i].der;
        x = d2i_X509(NULL, &q, (long)certs.items[i].len);
        if (x == NULL) {
            ok = false;
        } else if (i == 0 && has_cert) {
            *cert = x;
        } else if (!sk_X509_push(*ca, x)) {
            X509_free(x);
            ok = false;
        }
    }
    cr_der_list_free(&certs);
    if (!ok) {
        EVP_PKEY_free(*key);
        X509_free(*cert);
        sk_X509_pop_free(*ca, X509_free);
        *key = NULL;
        *cert = NULL;
        *ca = NULL;
    }
    return ok;
}

enum cr_status cr_pkcs12_read(const unsigned char *data, size_t len,
                              const char *password, EVP_PKEY **key,
                              X509 **cert, struct cr_der_list *chain,
                              struct cr_error *err)
{
    const unsigned char *p = data;
    const char *pass = password != NULL ? password : "";
    STACK_OF(X509) *ca = NULL;
    PKCS12 *p12;
    int ok;

    *key = NULL;
    *cert = NULL;
    if (chain != NULL) {
        chain->items = NULL;
        chain->n = 0;
    }
    if (data == NULL || len == 0 || len > INT_MAX ||
        (p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL) {
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL, "not a PFX (PKCS#12) file");
    }
    if (!cr_pkcs12_mac_ok(p12, pass)) {
        PKCS12_free(p12);
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "wrong password for the PFX (or it is not a PFX)");
    }
    ok = PKCS12_parse(p12, pass, key, cert, &ca);
    if (!ok) {
        ERR_clear_error();
        ok = read_legacy(p12, pass, key, cert, &ca);
    }
    PKCS12_free(p12);
    ERR_clear_error();
    if (!ok) {
        return cr_error_set(err, CR_EINVAL,
                            "the PFX cannot be opened: its encryption "
                            "algorithm is not supported");
    }
    if (*key == NULL || *cert == NULL) {
        EVP_PKEY_free(*key);
        X509_free(*cert);
        sk_X509_pop_free(ca, X509_free);
        *key = NULL;
        *cert = NULL;
        return cr_error_set(err, CR_EINVAL,
                            "the PFX holds no private key with its "
                            "certificate");
    }
    for (int i = 0; chain != NULL && ca != NULL && i < sk_X509_num(ca); i++) {
        unsigned char *der = NULL;
        int n = i2d_X509(sk_X509_value(ca, i), &der);
        if (n <= 0 || cr_der_list_append(chain, der, (size_t)n) != CR_OK) {
            OPENSSL_free(der);
            sk_X509_pop_free(ca, X509_free);
            cr_der_list_free(chain);
            EVP_PKEY_free(*key);
            X509_free(*cert);
            *key = NULL;
            *cert = NULL;
            ERR_clear_error();
            return cr_error_set(err, CR_ENOMEM, "out of memory");
        }
        OPENSSL_free(der);
    }
    sk_X509_pop_free(ca, X509_free);
    return CR_OK;
}
