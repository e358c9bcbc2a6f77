/*
 * x509_internal.h - helpers shared by the x509_* and pkcs12 files.
 */
#ifndef CERTRAFT_SRC_X509_INTERNAL_H
#define CERTRAFT_SRC_X509_INTERNAL_H

#include <stddef.h>

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

/* d2i_X509() without decoding the public key (x509_keyless.c): for
 * everything but signature checks. */
X509 *cr_x509_d2i_keyless(const unsigned char **in, long len);

/* The last OpenSSL error as text for a message; pops the queue. */
const char *cr_openssl_reason(char *buf, size_t size);

#endif /* CERTRAFT_SRC_X509_INTERNAL_H */
