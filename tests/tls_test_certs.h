/*
 * tls_test_certs.h - throwaway certificates for the TLS tests.
 *
 * Each test makes its own EC P-256 self-signed certificates in memory, so
 * no key material is checked in and no test depends on files or on the
 * clock of whoever generated them.
 */
#ifndef CERTRAFT_TLS_TEST_CERTS_H
#define CERTRAFT_TLS_TEST_CERTS_H

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

struct tls_test_cert
{
    char *cert_pem;
    size_t cert_len;
    char *key_pem;
    size_t key_len;
    unsigned char *der; /* the certificate, DER */
    size_t der_len;
};

static inline char *tls_test_bio_dup(BIO *bio, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

static inline void tls_test_cert_free(struct tls_test_cert *c)
{
    free(c->cert_pem);
    free(c->key_pem);
    OPENSSL_free(c->der);
    memset(c, 0, sizeof *c);
}

/* Returns 0 on success. */
static inline int tls_test_cert_make(struct tls_test_cert *c, const char *cn)
{
    int rv = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem());
    BIO *kb = BIO_new(BIO_s_mem());
    unsigned char serial[16];

    memset(c, 0, sizeof *c);
    if (key == NULL || x == NULL || cb == NULL || kb == NULL) {
        goto out;
    }
    if (RAND_bytes(serial, sizeof serial) != 1) {
        goto out;
    }
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL) {
        goto out;
    }
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    if (sn == NULL) {
        goto out;
    }
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
        X509_sign(x, key, EVP_sha256()) <= 0) {
        goto out;
    }
    if (PEM_write_bio_X509(cb, x) != 1 ||
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1) {
        goto out;
    }
    c->cert_pem = tls_test_bio_dup(cb, &c->cert_len);
    c->key_pem = tls_test_bio_dup(kb, &c->key_len);
    int n = i2d_X509(x, &c->der);
    if (c->cert_pem == NULL || c->key_pem == NULL || n <= 0) {
        tls_test_cert_free(c);
        goto out;
    }
    c->der_len = (size_t)n;
    rv = 0;
out:
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return rv;
}

#endif /* CERTRAFT_TLS_TEST_CERTS_H */
