/*
 * x509.h - certificate parsing, fingerprints, bundles and issuance.
 *
 * Everything certraft needs to know about a certificate is extracted once,
 * into `struct cr_cert_info`, when it enters the system (upload, bootstrap,
 * a TLS handshake). Uploaded blobs may be DER, PEM (one or many) or PKCS#12
 * (with a password); private keys in them are discarded at once.
 */
#ifndef CERTRAFT_X509_H
#define CERTRAFT_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <certraft/error.h>

#define CR_THUMBPRINT_LEN 64 /* SHA-256 of the DER, upper-case hex */
#define CR_SHA1_LEN 40       /* SHA-1 of the DER, upper-case hex (RavenDB) */
#define CR_PIN_LEN 44        /* base64(SHA-256(DER SubjectPublicKeyInfo)) */

struct cr_cert_info {
    char thumbprint[CR_THUMBPRINT_LEN + 1];
    char sha1[CR_SHA1_LEN + 1];
    char pin[CR_PIN_LEN + 1];
    char *subject; /* RFC 2253 one-line form, e.g. "CN=alice,O=Acme" */
    char *issuer;
    char *common_name; /* CN of the subject, "" when none */
    int64_t not_before; /* unix seconds */
    int64_t not_after;
    bool is_ca;       /* basicConstraints CA:TRUE */
    unsigned char *der;
    size_t der_len;
    /* What implicit trust and client CAs look at (added after the
     * fields above, so existing initialisers keep working). */
    bool key_cert_sign;     /* a keyUsage extension with keyCertSign */
    char *authority_key_id; /* AKI keyIdentifier, upper-case hex; "" if none */
    char *subject_key_id;   /* SKI, upper-case hex; "" if none */
};

/* Parse one DER certificate. Fills every field of @out (which owns copies). */
enum cr_status cr_cert_info_from_der(const unsigned char *der, size_t len,
                                     struct cr_cert_info *out,
                                     struct cr_error *err);
void cr_cert_info_free(struct cr_cert_info *info);

/* Is the DER certificate self-signed: subject == issuer and its signature
 * verifies with its own key? Not part of cr_cert_info because it needs the
 * key decoded and a signature check, which only implicit trust asks. */
bool cr_x509_self_signed(const unsigned char *der, size_t len);

/* SHA-256 of @der as upper-case hex; @out has room for 65 bytes. */
void cr_thumbprint(const unsigned char *der, size_t len, char *out);

/* True when @s is 64 hex digits (either case). */
bool cr_thumbprint_valid(const char *s);

/* Upper-cases a thumbprint given by a user, in place. */
void cr_thumbprint_normalize(char *s);

/* An ordered list of DER certificates. */
struct cr_der {
    unsigned char *der;
    size_t len;
};
struct cr_der_list {
    struct cr_der *items;
    size_t n;
};
void cr_der_list_free(struct cr_der_list *list);
enum cr_status cr_der_list_append(struct cr_der_list *list,
                                  const unsigned char *der, size_t len);

/*
 * Decode an uploaded blob: DER, PEM with one or more CERTIFICATE blocks
 * (other blocks such as private keys are ignored), or PKCS#12 opened with
 * @password (NULL or "" for none). Duplicates are dropped; members that are
 * the issuer of another member (CA members of a chain) are skipped, as
 * RavenDB does; the first remaining certificate is the primary. A wrong
 * password, garbage, or a bundle with no usable certificate is CR_EINVAL
 * with a message that says which. When @parsed is not NULL it is set to
 * what each certificate of @out holds (out->n of them; the fields of
 * cr_cert_info_from_der() but der, which stays NULL), read from the
 * certificates just decoded rather than by a second parse; then one that
 * cannot be read fails the whole upload ("certificate 2 of the upload:
 * ..."). On failure *@parsed is NULL.
 */
enum cr_status cr_x509_decode_bundle(const unsigned char *data, size_t len,
                                     const char *password,
                                     struct cr_der_list *out,
                                     struct cr_cert_info **parsed,
                                     struct cr_error *err);

/* base64 helpers (standard alphabet, with padding). decode ignores
 * whitespace and returns CR_EINVAL on anything else that is not base64. */
enum cr_status cr_base64_decode(const char *in, size_t inlen,
                                unsigned char **out, size_t *outlen,
                                struct cr_error *err);
char *cr_base64_encode(const unsigned char *in, size_t len);

/* Key types for generated keys. */
enum cr_key_type {
    CR_KEY_EC_P256 = 0,
    CR_KEY_EC_P384,
    CR_KEY_RSA_2048,
    CR_KEY_RSA_3072,
    CR_KEY_RSA_4096
};
const char *cr_key_type_name(enum cr_key_type type); /* "P-256", "RSA-2048" */
enum cr_status cr_key_type_parse(const char *name, enum cr_key_type *out,
                                 struct cr_error *err);
EVP_PKEY *cr_key_generate(enum cr_key_type type, struct cr_error *err);

/*
 * The cluster certificate: self-signed, CA:TRUE, keyUsage keyCertSign +
 * digitalSignature (+ keyEncipherment for RSA), EKU serverAuth + clientAuth,
 * CN=@common_name, subjectAltName from @sans ("DNS:localhost",
 * "IP:127.0.0.1", ...), random 20-byte positive serial, valid from now - 1
 * day for @days days.
 */
X509 *cr_x509_make_cluster_cert(EVP_PKEY *key, const char *common_name,
                                const char *const *sans, size_t n_sans,
                                int days, struct cr_error *err);

/*
 * A client certificate for @key signed by @ca_cert/@ca_key: CN=@name,
 * EKU clientAuth, CA:FALSE, random 20-byte serial, NotBefore = now - 7 days
 * (RavenDB), NotAfter = @not_after (unix seconds).
 */
X509 *cr_x509_issue_client(EVP_PKEY *key, const char *name, int64_t not_after,
                           X509 *ca_cert, EVP_PKEY *ca_key,
                           struct cr_error *err);

/* DER/PEM conversions; returned buffers are malloc'ed, NUL-terminated PEM. */
enum cr_status cr_x509_to_der(X509 *cert, unsigned char **der, size_t *len);
char *cr_x509_to_pem(X509 *cert);
char *cr_der_to_pem(const unsigned char *der, size_t len);
/* @password NULL: unencrypted PKCS#8; else AES-256-CBC encrypted PKCS#8. */
char *cr_key_to_pem(EVP_PKEY *key, const char *password);
X509 *cr_x509_from_pem(const char *pem, size_t len, struct cr_error *err);
EVP_PKEY *cr_key_from_pem(const char *pem, size_t len, const char *password,
                          struct cr_error *err);

/*
 * PKCS#12: @key may be NULL (a public-only collection, as the export of the
 * cluster's server certificates). Certificates in @extra are added after
 * @cert. @password NULL or "" makes an unencrypted-MAC'd file readable with
 * an empty password. Modern algorithms (AES-256, PBKDF2, SHA-256 MAC).
 */
enum cr_status cr_pkcs12_write(EVP_PKEY *key, X509 *cert,
                               const struct cr_der_list *extra,
                               const char *password, unsigned char **out,
                               size_t *outlen, struct cr_error *err);
/* Open a PKCS#12 holding a key and its certificate (+ chain). */
enum cr_status cr_pkcs12_read(const unsigned char *data, size_t len,
                              const char *password, EVP_PKEY **key,
                              X509 **cert, struct cr_der_list *chain,
                              struct cr_error *err);

#endif /* CERTRAFT_X509_H */
