/*
 * generate.h - a client certificate generated in one go, as
 * POST /admin/certificates hands it out: a new key pair, its certificate
 * signed by the cluster certificate, the PEM files and a PFX.
 *
 * The steps are separate so that bench/cryptorate can time each; callers
 * use cr_generate_client(). Everything here may run on any thread: the
 * cluster certificate and key are only read.
 */
#ifndef CERTRAFT_GENERATE_H
#define CERTRAFT_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <certraft/error.h>
#include <certraft/x509.h>

struct cr_generated {
    /* Outputs. The key PEM and the PFX are secrets: cr_generated_free()
     * wipes them (a caller that takes one over wipes it itself). */
    unsigned char *der; /* the certificate */
    size_t der_len;
    char *cert_pem;
    char *key_pem; /* PKCS#8, encrypted when there is a password */
    unsigned char *pfx;
    size_t pfx_len;
    /* Between the steps. */
    EVP_PKEY *key;
    X509 *cert; /* signed; its public key is not decoded: encode only */
    PKCS8_PRIV_KEY_INFO *p8;
};

/* All the steps below. @password NULL or "": unencrypted key PEM and a
 * PFX readable with an empty password. @out is zeroed first; on failure
 * it is freed again. */
enum cr_status cr_generate_client(enum cr_key_type type, const char *name,
                                  int64_t not_after, X509 *ca_cert,
                                  EVP_PKEY *ca_key, const char *password,
                                  struct cr_generated *out,
                                  struct cr_error *err);

/* 1. The key pair (out->key). */
enum cr_status cr_generate_key(struct cr_generated *g, enum cr_key_type type,
                               struct cr_error *err);
/* 2. The certificate (out->cert, out->der): as cr_x509_issue_client(). */
enum cr_status cr_generate_cert(struct cr_generated *g, const char *name,
                                int64_t not_after, X509 *ca_cert,
                                EVP_PKEY *ca_key, struct cr_error *err);
/* 3. cert_pem and key_pem. */
enum cr_status cr_generate_pem(struct cr_generated *g, const char *password,
                               struct cr_error *err);
/* 4. The PFX: as cr_pkcs12_write() with no extra certificates. */
enum cr_status cr_generate_pfx(struct cr_generated *g, const char *password,
                               struct cr_error *err);

/* Frees everything, wiping the private key's copies; @g is zeroed. */
void cr_generated_free(struct cr_generated *g);

#endif /* CERTRAFT_GENERATE_H */
