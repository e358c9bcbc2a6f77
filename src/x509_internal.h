/*
 * x509_internal.h - helpers shared by the x509_* and pkcs12 files.
 */
#ifndef CERTRAFT_SRC_X509_INTERNAL_H
#define CERTRAFT_SRC_X509_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <certraft/x509.h>

/* Upper-case hex of @len bytes into @out (2 * len + 1 bytes). */
void cr_hex_upper(const unsigned char *in, size_t len, char *out);

/* Does @password open the PFX's MAC (NULL or "" tries both encodings
 * of an empty password)? True when there is no MAC. */
bool cr_pkcs12_mac_ok(PKCS12 *p12, const char *password);

/* PKCS12_parse with the legacy algorithms (RC2, 3DES of old PFX files)
 * available. The key (when @key_der is not NULL) comes back as DER, the
 * certificate then the chain as @certs; @has_cert says whether certs[0]
 * is the key's certificate. False when it fails or the legacy provider
 * is not installed. */
bool cr_pkcs12_parse_legacy(PKCS12 *p12, const char *pass,
                            unsigned char **key_der, size_t *key_len,
                            struct cr_der_list *certs, bool *has_cert);

/* cr_cert_info_from_der() for a certificate parsed already: @der is its
 * encoding (hashed for the thumbprints); out->der is left NULL. */
enum cr_status cr_cert_info_from_x509(X509 *x, const unsigned char *der,
                                      size_t len, struct cr_cert_info *out,
                                      struct cr_error *err);

/* d2i_X509() without decoding the public key (x509_keyless.c): for
 * everything but signature checks. */
X509 *cr_x509_d2i_keyless(const unsigned char **in, long len);

/* cr_x509_issue_client() for a certificate that will only be encoded:
 * an EC key's SubjectPublicKeyInfo is written from its point, without
 * OpenSSL 3.0's encode-then-decode (~150 us), so X509_get0_pubkey() of
 * the result is NULL and X509_check_private_key() fails on it. */
X509 *cr_x509_issue_client_unkeyed(EVP_PKEY *key, const char *name,
                                   int64_t not_after, X509 *ca_cert,
                                   EVP_PKEY *ca_key, struct cr_error *err);

/* The curve of an EC key (NID_X9_62_prime256v1, ...); NID_undef for
 * other keys. */
int cr_ec_curve_nid(const EVP_PKEY *key);

/* @key's private key as PKCS#8 (key_pkcs8.c: EC keys without the encoder
 * framework); the structure wipes the key when freed. */
PKCS8_PRIV_KEY_INFO *cr_key_p8(const EVP_PKEY *key);

/* PEM of @p8: "PRIVATE KEY", or with @password (not NULL) "ENCRYPTED
 * PRIVATE KEY" (PBES2, AES-256-CBC); malloc'ed, the caller wipes it. */
char *cr_p8_to_pem(const PKCS8_PRIV_KEY_INFO *p8, const char *password);

/* "-----BEGIN @label-----" armour around @der (64-column base64). */
char *cr_pem_encode(const char *label, const unsigned char *der, size_t len);

/* A PFX of @p8 (NULL: certificates only; consumed either way), @cert and
 * @extra, as cr_pkcs12_write() describes; the key is not matched against
 * the certificate here. */
enum cr_status cr_pkcs12_build(PKCS8_PRIV_KEY_INFO *p8, X509 *cert,
                               STACK_OF(X509) *extra, const char *password,
                               unsigned char **out, size_t *outlen,
                               struct cr_error *err);

/* SHA-256 and SHA-1, fetched once for the process (x509_info.c). */
const EVP_MD *cr_md_sha256(void);
const EVP_MD *cr_md_sha1(void);

/* The last OpenSSL error as text for a message; pops the queue. */
const char *cr_openssl_reason(char *buf, size_t size);

/* @err = "certificate <@i + 1> of the upload: <why>", with why's status:
 * the one wording for a member of a multi-certificate upload, whether
 * the leader's parse or apply() refused it. */
enum cr_status cr_upload_member_error(struct cr_error *err, size_t i,
                                      const struct cr_error *why);

#endif /* CERTRAFT_SRC_X509_INTERNAL_H */
