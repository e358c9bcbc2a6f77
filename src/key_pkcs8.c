/*
 * key_pkcs8.c - private keys as PKCS#8 and PEM without OpenSSL 3.0's
 * encoder framework.
 *
 * In OpenSSL 3.0 every key write (PEM_write_*PrivateKey, EVP_PKEY2PKCS8)
 * builds an encoder context by walking all providers' encoders, which
 * costs more than the encoding (~50 us for a P-256 key). An EC key's
 * PrivateKeyInfo (RFC 5208 around RFC 5915's ECPrivateKey) is small and
 * of one shape, so it is written here from the key's parameters; other
 * key types still go through EVP_PKEY2PKCS8. Every buffer that held the
 * private key is wiped before it is freed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "x509_internal.h"

int cr_ec_curve_nid(const EVP_PKEY *key)
{
    char group[64];
    int nid;

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof group, NULL) != 1) {
        ERR_clear_error();
        return NID_undef;
    }
    nid = OBJ_sn2nid(group); /* "prime256v1", "secp384r1" */
    return nid != NID_undef ? nid : EC_curve_nist2nid(group); /* "P-256" */
}

/* A DER tag and definite length at @p (NULL: only count); the length of
 * the header. */
static size_t der_head(unsigned char *p, unsigned char tag, size_t len)
{
    size_t n = len < 0x80 ? 2 : len <= 0xff ? 3 : 4;

    if (p != NULL) {
        p[0] = tag;
        if (n == 2) {
            p[1] = (unsigned char)len;
        } else if (n == 3) {
            p[1] = 0x81;
            p[2] = (unsigned char)len;
        } else {
            p[1] = 0x82;
            p[2] = (unsigned char)(len >> 8);
            p[3] = (unsigned char)len;
        }
    }
    return n;
}

/*
 * ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET
 * STRING, [1] publicKey BIT STRING } - the curve is in the PKCS#8
 * algorithm, so [0] parameters are left out, as OpenSSL does.
 */
static unsigned char *ec_private_key_der(const unsigned char *priv,
                                         size_t priv_len,
                                         const unsigned char *point,
                                         size_t point_len, size_t *out_len)
{
    size_t bits = 1 + point_len;
    size_t bits_tlv = der_head(NULL, 0x03, bits) + bits;
    size_t pub_tlv = der_head(NULL, 0xa1, bits_tlv) + bits_tlv;
    size_t priv_tlv = der_head(NULL, 0x04, priv_len) + priv_len;
    size_t body = 3 + priv_tlv + pub_tlv;
    size_t total = der_head(NULL, 0x30, body) + body;
    unsigned char *der = OPENSSL_malloc(total), *p = der;

    if (der == NULL) {
        return NULL;
    }
    p += der_head(p, 0x30, body);
    memcpy(p, "\x02\x01\x01", 3);
    p += 3;
    p += der_head(p, 0x04, priv_len);
    memcpy(p, priv, priv_len);
    p += priv_len;
    p += der_head(p, 0xa1, bits_tlv);
    p += der_head(p, 0x03, bits);
    *p++ = 0x00; /* no unused bits */
    memcpy(p, point, point_len);
    *out_len = total;
    return der;
}

static PKCS8_PRIV_KEY_INFO *ec_p8(const EVP_PKEY *key, int curve)
{
    unsigned char priv[66], point[133]; /* P-521 at most */
    size_t point_len = 0, der_len = 0;
    int priv_len = (EVP_PKEY_get_bits(key) + 7) / 8;
    BIGNUM *d = NULL;
    unsigned char *der = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;

    if (priv_len <= 0 || priv_len > (int)sizeof priv ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        point, sizeof point,
                                        &point_len) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, priv, priv_len) != priv_len) {
        goto out;
    }
    der = ec_private_key_der(priv, (size_t)priv_len, point, point_len,
                             &der_len);
    p8 = der != NULL ? PKCS8_PRIV_KEY_INFO_new() : NULL;
    if (p8 == NULL ||
        PKCS8_pkey_set0(p8, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), 0,
                        V_ASN1_OBJECT, OBJ_nid2obj(curve), der,
                        (int)der_len) != 1) {
        PKCS8_PRIV_KEY_INFO_free(p8);
        p8 = NULL;
        goto out;
    }
    der = NULL; /* p8 owns it, and wipes it when freed */
out:
    OPENSSL_clear_free(der, der_len);
    OPENSSL_cleanse(priv, sizeof priv);
    BN_clear_free(d);
    return p8;
}

PKCS8_PRIV_KEY_INFO *cr_key_p8(const EVP_PKEY *key)
{
    int curve = cr_ec_curve_nid(key);
    PKCS8_PRIV_KEY_INFO *p8 =
        curve != NID_undef ? ec_p8(key, curve) : EVP_PKEY2PKCS8(key);

    ERR_clear_error();
    return p8;
}

char *cr_pem_encode(const char *label, const unsigned char *der, size_t len)
{
    size_t lines = (len + 47) / 48, label_len = strlen(label);
    /* "-----BEGIN " label "-----\n", 64 characters + "\n" per 48 bytes,
     * "-----END " label "-----\n", NUL */
    size_t total = 16 + label_len + 1 + len / 48 * 65 +
                   (len % 48 != 0 ? (len % 48 + 2) / 3 * 4 + 1 : 0) + 14 +
                   label_len + 1 + 1;
    char *out, *p;

    if (len == 0 || len > INT_MAX / 2 || (out = malloc(total)) == NULL) {
        return NULL;
    }
    p = out + sprintf(out, "-----BEGIN %s-----\n", label);
    for (size_t i = 0; i < lines; i++) {
        size_t n = len - i * 48 < 48 ? len - i * 48 : 48;
        p += EVP_EncodeBlock((unsigned char *)p, der + i * 48, (int)n);
        *p++ = '\n';
    }
    sprintf(p, "-----END %s-----\n", label);
    return out;
}

char *cr_p8_to_pem(const PKCS8_PRIV_KEY_INFO *p8, const char *password)
{
    X509_SIG *sealed = NULL;
    unsigned char *der = NULL, *q;
    int n;
    char *pem = NULL;

    if (password != NULL) {
        /* What PEM_write_PKCS8PrivateKey() writes in OpenSSL 3.0: PBES2,
         * PBKDF2-HMAC-SHA256 (2048 iterations), AES-256-CBC. */
        sealed = PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), password,
                                  (int)strlen(password), NULL, 0,
                                  PKCS5_DEFAULT_ITER,
                                  (PKCS8_PRIV_KEY_INFO *)p8, NULL, NULL);
        n = sealed != NULL ? i2d_X509_SIG(sealed, NULL) : -1;
    } else {
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    }
    if (n > 0 && (der = malloc((size_t)n)) != NULL) {
        q = der;
        if ((sealed != NULL ? i2d_X509_SIG(sealed, &q)
                            : i2d_PKCS8_PRIV_KEY_INFO(p8, &q)) == n) {
            pem = cr_pem_encode(sealed != NULL ? "ENCRYPTED PRIVATE KEY"
                                               : "PRIVATE KEY",
                                der, (size_t)n);
        }
        OPENSSL_cleanse(der, (size_t)n);
        free(der);
    }
    X509_SIG_free(sealed);
    ERR_clear_error();
    return pem;
}
