/*
 * generate.c - one generated client certificate: key pair, certificate,
 * PEM files and PFX (POST /admin/certificates).
 *
 * The same result as cr_key_generate + cr_x509_issue_client +
 * cr_x509_to_pem + cr_key_to_pem + cr_pkcs12_write, at a fraction of the
 * cost: the certificate is never asked for its public key (which OpenSSL
 * 3.0 would encode and decode again), the private key is encoded to
 * PKCS#8 once and that one encoding feeds both the .key file and the PFX.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <certraft/generate.h>

#include "x509_internal.h"

static const char *nonempty(const char *password)
{
    return password != NULL && password[0] != '\0' ? password : NULL;
}

static PKCS8_PRIV_KEY_INFO *need_p8(struct cr_generated *g)
{
    if (g->p8 == NULL && g->key != NULL) {
        g->p8 = cr_key_p8(g->key);
    }
    return g->p8;
}

enum cr_status cr_generate_key(struct cr_generated *g, enum cr_key_type type,
                               struct cr_error *err)
{
    g->key = cr_key_generate(type, err);
    return g->key != NULL ? CR_OK : err->status;
}

enum cr_status cr_generate_cert(struct cr_generated *g, const char *name,
                                int64_t not_after, X509 *ca_cert,
                                EVP_PKEY *ca_key, struct cr_error *err)
{
    unsigned char *p;
    int n;

    g->cert = cr_x509_issue_client_unkeyed(g->key, name, not_after, ca_cert,
                                           ca_key, err);
    if (g->cert == NULL) {
        return err->status;
    }
    n = i2d_X509(g->cert, NULL);
    if (n <= 0 || (g->der = malloc((size_t)n)) == NULL) {
        ERR_clear_error();
        return cr_error_set(err, CR_ENOMEM, "cannot encode the certificate");
    }
    p = g->der;
    g->der_len = (size_t)i2d_X509(g->cert, &p);
    return CR_OK;
}

enum cr_status cr_generate_pem(struct cr_generated *g, const char *password,
                               struct cr_error *err)
{
    g->cert_pem = cr_pem_encode("CERTIFICATE", g->der, g->der_len);
    g->key_pem = need_p8(g) != NULL ? cr_p8_to_pem(g->p8, nonempty(password))
                                    : NULL;
    if (g->cert_pem == NULL || g->key_pem == NULL) {
        return cr_error_set(err, CR_EINTERNAL,
                            "cannot encode the generated certificate or key "
                            "as PEM");
    }
    return CR_OK;
}

enum cr_status cr_generate_pfx(struct cr_generated *g, const char *password,
                               struct cr_error *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = need_p8(g);

    if (p8 == NULL) {
        return cr_error_set(err, CR_EINTERNAL,
                            "the generated key cannot be encoded");
    }
    g->p8 = NULL; /* cr_pkcs12_build consumes it */
    return cr_pkcs12_build(p8, g->cert, NULL, nonempty(password), &g->pfx,
                           &g->pfx_len, err);
}

enum cr_status cr_generate_client(enum cr_key_type type, const char *name,
                                  int64_t not_after, X509 *ca_cert,
                                  EVP_PKEY *ca_key, const char *password,
                                  struct cr_generated *out,
                                  struct cr_error *err)
{
    memset(out, 0, sizeof *out);
    if (cr_generate_key(out, type, err) != CR_OK ||
        cr_generate_cert(out, name, not_after, ca_cert, ca_key, err) !=
            CR_OK ||
        cr_generate_pem(out, password, err) != CR_OK ||
        cr_generate_pfx(out, password, err) != CR_OK) {
        cr_generated_free(out);
        return err->status;
    }
    /* Only the outputs are needed from here on. */
    X509_free(out->cert);
    EVP_PKEY_free(out->key);
    out->cert = NULL;
    out->key = NULL;
    return CR_OK;
}

void cr_generated_free(struct cr_generated *g)
{
    if (g->key_pem != NULL) {
        OPENSSL_cleanse(g->key_pem, strlen(g->key_pem));
    }
    if (g->pfx != NULL) {
        OPENSSL_cleanse(g->pfx, g->pfx_len);
    }
    free(g->der);
    free(g->cert_pem);
    free(g->key_pem);
    free(g->pfx);
    PKCS8_PRIV_KEY_INFO_free(g->p8);
    X509_free(g->cert);
    EVP_PKEY_free(g->key);
    memset(g, 0, sizeof *g);
}
