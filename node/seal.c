/*
 * seal.c - AES-256-GCM under a key derived from the cluster private key.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "seal.h"

#define NONCE 12
#define TAG 16

static int derive(EVP_PKEY *key, const char *context, unsigned char out[32])
{
    unsigned char *ikm = NULL;
    int ikm_len = i2d_PrivateKey(key, &ikm);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5];
    int rv = -1;

    if (ikm_len > 0 && ctx != NULL) {
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                     "SHA256", 0);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm,
                                                      (size_t)ikm_len);
        params[2] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, "certraft seal v1", 16);
        params[3] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, (void *)context, strlen(context));
        params[4] = OSSL_PARAM_construct_end();
        rv = EVP_KDF_derive(ctx, out, 32, params) == 1 ? 0 : -1;
    }
    if (ikm != NULL) {
        OPENSSL_clear_free(ikm, (size_t)ikm_len);
    }
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

int cr_seal(EVP_PKEY *sealing_key, const char *context,
            const unsigned char *plain, size_t len, unsigned char **out,
            size_t *outlen)
{
    unsigned char k[32];
    unsigned char *buf = malloc(NONCE + len + TAG);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, rv = -1;

    if (buf == NULL || c == NULL || derive(sealing_key, context, k) != 0 ||
        RAND_bytes(buf, NONCE) != 1) {
        goto out;
    }
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, k, buf) != 1 ||
        EVP_EncryptUpdate(c, buf + NONCE, &n, plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, buf + NONCE + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG,
                            buf + NONCE + n + fin) != 1) {
        goto out;
    }
    *out = buf;
    *outlen = NONCE + (size_t)n + (size_t)fin + TAG;
    buf = NULL;
    rv = 0;
out:
    OPENSSL_cleanse(k, sizeof k);
    free(buf);
    EVP_CIPHER_CTX_free(c);
    return rv;
}

int cr_unseal(EVP_PKEY *sealing_key, const char *context,
              const unsigned char *sealed, size_t len, unsigned char **out,
              size_t *outlen)
{
    unsigned char k[32];
    unsigned char *buf;
    EVP_CIPHER_CTX *c;
    size_t ct_len;
    int n = 0, fin = 0, rv = -1;

    if (len < NONCE + TAG) {
        return -1;
    }
    ct_len = len - NONCE - TAG;
    buf = malloc(ct_len + 1);
    c = EVP_CIPHER_CTX_new();
    if (buf == NULL || c == NULL || derive(sealing_key, context, k) != 0) {
        goto out;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, k, sealed) != 1 ||
        EVP_DecryptUpdate(c, buf, &n, sealed + NONCE, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG,
                            (void *)(sealed + NONCE + ct_len)) != 1 ||
        EVP_DecryptFinal_ex(c, buf + n, &fin) != 1) {
        goto out;
    }
    buf[n + fin] = '\0';
    *out = buf;
    *outlen = (size_t)(n + fin);
    buf = NULL;
    rv = 0;
out:
    OPENSSL_cleanse(k, sizeof k);
    if (buf != NULL) {
        OPENSSL_clear_free(buf, ct_len + 1);
    }
    EVP_CIPHER_CTX_free(c);
    return rv;
}
