/*
 * pkcs12.c - writing and reading PFX files.
 *
 * Written with OpenSSL 3's modern defaults (AES-256-CBC, PBKDF2, SHA-256
 * MAC) so that current Windows, macOS and Java read them; public-only
 * collections (the cluster export) carry certificate bags only. Files
 * without a password get a one-iteration MAC (see cr_pkcs12_build).
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

/* Appends @bag to @bags; frees it when that fails. */
static bool push_bag(STACK_OF(PKCS12_SAFEBAG) **bags, PKCS12_SAFEBAG *bag)
{
    if (bag != NULL && (*bags != NULL ||
                        (*bags = sk_PKCS12_SAFEBAG_new_null()) != NULL)) {
        if (sk_PKCS12_SAFEBAG_push(*bags, bag) > 0) {
            return true;
        }
    }
    PKCS12_SAFEBAG_free(bag);
    return false;
}

/* Moves @bags into one safe of @safes (encrypted unless @nid is -1). */
static bool add_safe(STACK_OF(PKCS7) **safes, STACK_OF(PKCS12_SAFEBAG) **bags,
                     int nid, const char *pass)
{
    bool ok = PKCS12_add_safe_ex(safes, *bags, nid, PKCS12_DEFAULT_ITER,
                                 pass, NULL, NULL) == 1;

    sk_PKCS12_SAFEBAG_pop_free(*bags, PKCS12_SAFEBAG_free);
    *bags = NULL;
    return ok;
}

/*
 * What PKCS12_create() makes, from a PKCS#8 key that is already encoded
 * (PKCS12_create() would encode the EVP_PKEY again through the encoder
 * framework): the certificates in one safe, the key in another, both
 * carrying the certificate's SHA-1 as localKeyID (Windows pairs them by
 * it), and a SHA-256 MAC.
 *
 * With a password: AES-256-CBC with PBKDF2 for the key and for the
 * certificates, 2048 iterations for those and for the MAC. Without one the
 * bags are left unencrypted and the MAC uses the empty password; it then
 * protects nothing (anyone can recompute it), so it gets one iteration
 * instead of 2048 (~170 us saved per file), as OpenSSL 1.1's
 * PKCS12_create() did by default: every reader accepts it.
 */
enum cr_status cr_pkcs12_build(PKCS8_PRIV_KEY_INFO *p8, X509 *cert,
                               STACK_OF(X509) *extra, const char *password,
                               unsigned char **out, size_t *outlen,
                               struct cr_error *err)
{
    bool empty = password == NULL || password[0] == '\0';
    const char *pass = empty ? "" : password;
    int nid = empty ? -1 : NID_aes_256_cbc;
    unsigned char keyid[EVP_MAX_MD_SIZE], *der = NULL, *p;
    unsigned int keyid_len = 0;
    STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
    STACK_OF(PKCS7) *safes = NULL;
    PKCS12_SAFEBAG *bag;
    PKCS12 *p12 = NULL;
    int n = -1;
    char why[128];

    if (p8 != NULL && X509_digest(cert, EVP_sha1(), keyid, &keyid_len) != 1) {
        goto fail;
    }
    bag = PKCS12_SAFEBAG_create_cert(cert);
    if (!push_bag(&bags, bag) ||
        (p8 != NULL && PKCS12_add_localkeyid(bag, keyid, (int)keyid_len) != 1)) {
        goto fail;
    }
    for (int i = 0; i < sk_X509_num(extra); i++) {
        if (PKCS12_add_cert(&bags, sk_X509_value(extra, i)) == NULL) {
            goto fail;
        }
    }
    if (!add_safe(&safes, &bags, nid, pass)) {
        goto fail;
    }
    if (p8 != NULL) {
        if (empty) {
            bag = PKCS12_SAFEBAG_create0_p8inf(p8);
            if (bag != NULL) {
                p8 = NULL; /* the bag owns it */
            }
        } else {
            bag = PKCS12_SAFEBAG_create_pkcs8_encrypt_ex(
                nid, pass, -1, NULL, 0, PKCS12_DEFAULT_ITER, p8, NULL, NULL);
        }
        if (!push_bag(&bags, bag) ||
            PKCS12_add_localkeyid(bag, keyid, (int)keyid_len) != 1 ||
            !add_safe(&safes, &bags, -1, NULL)) {
            goto fail;
        }
    }
    p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL);
    if (p12 == NULL ||
        PKCS12_set_mac(p12, pass, -1, NULL, 0,
                       empty ? 1 : PKCS12_DEFAULT_ITER, NULL) != 1 ||
        (n = i2d_PKCS12(p12, NULL)) <= 0) {
        goto fail;
    }
    /* Written straight into a buffer of its own size, which the caller
     * wipes: without a password it holds the private key in clear. */
    der = malloc((size_t)n);
    p = der;
    if (der == NULL || i2d_PKCS12(p12, &p) != n) {
        free(der);
        der = NULL;
        goto fail;
    }
    *out = der;
    *outlen = (size_t)n;
fail:
    PKCS12_free(p12);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (der == NULL) {
        return cr_error_set(err, CR_EINTERNAL, "creating the PFX failed: %s",
                            cr_openssl_reason(why, sizeof why));
    }
    return CR_OK;
}

enum cr_status cr_pkcs12_write(EVP_PKEY *key, X509 *cert,
                               const struct cr_der_list *extra,
                               const char *password, unsigned char **out,
                               size_t *outlen, struct cr_error *err)
{
    STACK_OF(X509) *ca;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    enum cr_status st;

    if (cert == NULL) {
        return cr_error_set(err, CR_EINVAL, "a PFX needs a certificate");
    }
    if (key != NULL && X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "the private key does not belong to the PFX's "
                            "certificate");
    }
    if (key != NULL && (p8 = cr_key_p8(key)) == NULL) {
        return cr_error_set(err, CR_EINTERNAL,
                            "the private key cannot be encoded");
    }
    ca = stack_from_list(extra);
    if (ca == NULL) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "an extra certificate of the PFX is not valid "
                            "DER");
    }
    st = cr_pkcs12_build(p8, cert, ca, password, out, outlen, err);
    sk_X509_pop_free(ca, X509_free);
    return st;
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
