/*
 * x509_keyless.c - parsing a certificate without decoding its public key.
 *
 * OpenSSL 3.0's d2i_X509() hands the SubjectPublicKeyInfo to the provider
 * decoder framework (OSSL_DECODER_CTX_new_for_pkey), which costs ~150 us
 * per certificate: 90% of parsing one, and it happened on every upload,
 * on every node's apply() and on every replayed log entry. What certraft
 * keeps of a certificate (thumbprints, the SPKI pin, names, validity,
 * extensions) never needs the key object: the pin is a hash of the SPKI
 * bytes, which are kept as they were read.
 *
 * A library context holding only the "null" provider makes that decode
 * fail at once; OpenSSL then leaves the key undecoded, as it does for
 * any unknown key type, and the rest of the certificate is parsed the
 * same. Certificates parsed here must not be used where a key is needed
 * (signature checks, chains): X509_get0_pubkey() returns NULL for them.
 */
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "x509_internal.h"

static CRYPTO_ONCE keyless_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_LIB_CTX *keyless_ctx; /* for the process's lifetime */

static void keyless_init(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    if (ctx != NULL && OSSL_PROVIDER_load(ctx, "null") == NULL) {
        OSSL_LIB_CTX_free(ctx);
        ctx = NULL;
    }
    keyless_ctx = ctx;
}

X509 *cr_x509_d2i_keyless(const unsigned char **in, long len)
{
    if (!CRYPTO_THREAD_run_once(&keyless_once, keyless_init) ||
        keyless_ctx == NULL) {
        return d2i_X509(NULL, in, len); /* slower, same result */
    }
    return (X509 *)ASN1_item_d2i_ex(NULL, in, len, ASN1_ITEM_rptr(X509),
                                    keyless_ctx, NULL);
}

bool cr_x509_self_signed(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len); /* the key is needed here */
    bool self = x != NULL && X509_self_signed(x, 1) == 1;

    X509_free(x);
    ERR_clear_error();
    return self;
}
