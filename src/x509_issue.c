/*
 * x509_issue.c - key generation, the cluster certificate, client
 * certificates, and PEM/DER conversions.
 *
 * This is the only place that creates certificates; it follows RavenDB's
 * choices (NotBefore a week back, clientAuth EKU) so that generated
 * certificates behave like RavenDB's.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "x509_internal.h"

static const char *const key_type_names[] = {
    [CR_KEY_EC_P256] = "P-256",       [CR_KEY_EC_P384] = "P-384",
    [CR_KEY_RSA_2048] = "RSA-2048",   [CR_KEY_RSA_3072] = "RSA-3072",
    [CR_KEY_RSA_4096] = "RSA-4096",
};

const char *cr_key_type_name(enum cr_key_type type)
{
    if ((unsigned)type > CR_KEY_RSA_4096) {
        return "unknown";
    }
    return key_type_names[type];
}

enum cr_status cr_key_type_parse(const char *name, enum cr_key_type *out,
                                 struct cr_error *err)
{
    for (unsigned t = 0; t <= CR_KEY_RSA_4096; t++) {
        if (name != NULL && strcmp(name, key_type_names[t]) == 0) {
            *out = (enum cr_key_type)t;
            return CR_OK;
        }
    }
    return cr_error_set(err, CR_EINVAL,
                        "unknown KeyType '%.32s': use P-256, P-384, RSA-2048, "
                        "RSA-3072 or RSA-4096",
                        name != NULL ? name : "");
}

EVP_PKEY *cr_key_generate(enum cr_key_type type, struct cr_error *err)
{
    EVP_PKEY *key = NULL;
    char why[128];

    switch (type) {
    case CR_KEY_EC_P256: key = EVP_EC_gen("P-256"); break;
    case CR_KEY_EC_P384: key = EVP_EC_gen("P-384"); break;
    case CR_KEY_RSA_2048: key = EVP_RSA_gen(2048); break;
    case CR_KEY_RSA_3072: key = EVP_RSA_gen(3072); break;
    case CR_KEY_RSA_4096: key = EVP_RSA_gen(4096); break;
    default:
        cr_error_set(err, CR_EINVAL, "unknown key type %d", (int)type);
        return NULL;
    }
    if (key == NULL) {
        cr_error_set(err, CR_EINTERNAL, "generating a %s key failed: %s",
                     cr_key_type_name(type),
                     cr_openssl_reason(why, sizeof why));
    }
    return key;
}

/* A random positive 20-byte serial (RFC 5280 allows at most 20 octets). */
static bool set_random_serial(X509 *x)
{
    unsigned char raw[20];
    BIGNUM *bn;
    bool ok;

    if (RAND_bytes(raw, sizeof raw) != 1) {
        return false;
    }
    raw[0] &= 0x7f;
    raw[0] |= 0x01; /* never zero, and a fixed length */
    bn = BN_bin2bn(raw, sizeof raw, NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;

    X509_EXTENSION_free(ext);
    return ok;
}

static bool is_rsa(EVP_PKEY *key)
{
    return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
}

/*
 * OpenSSL 3.0's X509_set_pubkey() encodes the key through the encoder
 * framework and decodes that DER back (~150 us for P-256, most of issuing
 * a certificate). An EC key's SubjectPublicKeyInfo is only the curve's OID
 * and the encoded point, so it is set here directly. The certificate then
 * has no decoded key cached: X509_get0_pubkey() on it fails.
 */
static bool set_ec_spki(X509 *x, EVP_PKEY *key)
{
    unsigned char point[133], *copy; /* P-521 at most */
    size_t len = 0;
    int curve = cr_ec_curve_nid(key);

    if (curve == NID_undef ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        point, sizeof point, &len) != 1 ||
        (copy = OPENSSL_memdup(point, len)) == NULL) {
        return false;
    }
    if (X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
                               OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
                               V_ASN1_OBJECT, OBJ_nid2obj(curve), copy,
                               (int)len) != 1) {
        OPENSSL_free(copy);
        return false;
    }
    return true;
}

/* @unkeyed: an EC key's SubjectPublicKeyInfo without the round trip (see
 * set_ec_spki); other keys always go through X509_set_pubkey(). */
static X509 *cert_new(EVP_PKEY *key, const char *cn, bool unkeyed)
{
    X509 *x = X509_new();
    X509_NAME *name;

    if (x == NULL) {
        return NULL;
    }
    name = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 || !set_random_serial(x) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        (unkeyed && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
             ? !set_ec_spki(x, key)
             : X509_set_pubkey(x, key) != 1)) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool name_ok(const char *s, struct cr_error *err, const char *what)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 64) {
        cr_error_set(err, CR_EINVAL,
                     "the %s must be 1 to 64 characters (a certificate's CN "
                     "is limited to 64)",
                     what);
        return false;
    }
    return true;
}

static char *sans_join(const char *const *sans, size_t n, struct cr_error *err)
{
    size_t total = 1, i;
    char *out;

    for (i = 0; i < n; i++) {
        if (sans[i] == NULL || strchr(sans[i], ',') != NULL ||
            (strncmp(sans[i], "DNS:", 4) != 0 &&
             strncmp(sans[i], "IP:", 3) != 0)) {
            cr_error_set(err, CR_EINVAL,
                         "subjectAltName '%.64s' must look like "
                         "DNS:name or IP:address",
                         sans[i] != NULL ? sans[i] : "");
            return NULL;
        }
        total += strlen(sans[i]) + 1;
    }
    out = malloc(total);
    if (out == NULL) {
        cr_error_set(err, CR_ENOMEM, "out of memory");
        return NULL;
    }
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        if (i > 0) {
            strcat(out, ",");
        }
        strcat(out, sans[i]);
    }
    return out;
}

X509 *cr_x509_make_cluster_cert(EVP_PKEY *key, const char *common_name,
                                const char *const *sans, size_t n_sans,
                                int days, struct cr_error *err)
{
    X509V3_CTX ctx;
    X509 *x;
    char *san = NULL, why[128];
    bool ok;

    if (key == NULL || days <= 0 || days > 36500) {
        cr_error_set(err, CR_EINVAL,
                     "the cluster certificate needs a key and 1..36500 days");
        return NULL;
    }
    if (!name_ok(common_name, err, "cluster certificate's common name")) {
        return NULL;
    }
    if (n_sans > 0 && (san = sans_join(sans, n_sans, err)) == NULL) {
        return NULL;
    }
    x = cert_new(key, common_name, false);
    if (x == NULL) {
        free(san);
        cr_error_set(err, CR_EINTERNAL, "creating a certificate failed: %s",
                     cr_openssl_reason(why, sizeof why));
        return NULL;
    }
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ok = X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -86400) != NULL &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, -86400, NULL) != NULL &&
         add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
         add_ext(x, &ctx, NID_key_usage,
                 is_rsa(key) ? "critical,keyCertSign,digitalSignature,"
                               "keyEncipherment"
                             : "critical,keyCertSign,digitalSignature") &&
         add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") &&
         add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
         (san == NULL || add_ext(x, &ctx, NID_subject_alt_name, san)) &&
         X509_sign(x, key, EVP_sha256()) > 0;
    free(san);
    if (!ok) {
        cr_error_set(err, CR_EINTERNAL,
                     "creating the cluster certificate failed: %s",
                     cr_openssl_reason(why, sizeof why));
        X509_free(x);
        return NULL;
    }
    return x;
}

static X509 *issue_client(EVP_PKEY *key, const char *name, int64_t not_after,
                          X509 *ca_cert, EVP_PKEY *ca_key, bool unkeyed,
                          struct cr_error *err)
{
    X509V3_CTX ctx;
    X509 *x;
    char why[128];
    bool ok;

    if (key == NULL || ca_cert == NULL || ca_key == NULL) {
        cr_error_set(err, CR_EINVAL,
                     "issuing a client certificate needs its key and the "
                     "cluster certificate with its key");
        return NULL;
    }
    if (!name_ok(name, err, "certificate name")) {
        return NULL;
    }
    if (X509_check_private_key(ca_cert, ca_key) != 1) {
        ERR_clear_error();
        cr_error_set(err, CR_EINVAL,
                     "the signing key does not belong to the cluster "
                     "certificate");
        return NULL;
    }
    if (not_after <= (int64_t)time(NULL)) {
        cr_error_set(err, CR_EINVAL, "NotAfter must be in the future");
        return NULL;
    }
    x = cert_new(key, name, unkeyed);
    if (x == NULL) {
        cr_error_set(err, CR_EINTERNAL, "creating a certificate failed: %s",
                     cr_openssl_reason(why, sizeof why));
        return NULL;
    }
    X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
    ok = X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -7L * 86400) != NULL &&
         ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) != NULL &&
         add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(x, &ctx, NID_key_usage,
                 is_rsa(key) ? "critical,digitalSignature,keyEncipherment"
                             : "critical,digitalSignature") &&
         add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") &&
         add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(x, &ctx, NID_authority_key_identifier, "keyid,issuer") &&
         X509_sign(x, ca_key, EVP_sha256()) > 0;
    if (!ok) {
        cr_error_set(err, CR_EINTERNAL,
                     "issuing the client certificate failed: %s",
                     cr_openssl_reason(why, sizeof why));
        X509_free(x);
        return NULL;
    }
    return x;
}

X509 *cr_x509_issue_client(EVP_PKEY *key, const char *name, int64_t not_after,
                           X509 *ca_cert, EVP_PKEY *ca_key,
                           struct cr_error *err)
{
    return issue_client(key, name, not_after, ca_cert, ca_key, false, err);
}

X509 *cr_x509_issue_client_unkeyed(EVP_PKEY *key, const char *name,
                                   int64_t not_after, X509 *ca_cert,
                                   EVP_PKEY *ca_key, struct cr_error *err)
{
    return issue_client(key, name, not_after, ca_cert, ca_key, true, err);
}

enum cr_status cr_x509_to_der(X509 *cert, unsigned char **der, size_t *len)
{
    unsigned char *tmp = NULL;
    int n = i2d_X509(cert, &tmp);

    if (n <= 0) {
        ERR_clear_error();
        return CR_EINVAL;
    }
    *der = malloc((size_t)n);
    if (*der == NULL) {
        OPENSSL_free(tmp);
        return CR_ENOMEM;
    }
    memcpy(*der, tmp, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(tmp);
    return CR_OK;
}

/* The content of a memory BIO as a malloc'ed NUL-terminated string. */
static char *bio_to_string(BIO *bio)
{
    char *data, *out;
    long n = BIO_get_mem_data(bio, &data);

    if (n < 0 || (out = malloc((size_t)n + 1)) == NULL) {
        return NULL;
    }
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

char *cr_x509_to_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;

    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
        out = bio_to_string(bio);
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

char *cr_der_to_pem(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;
    char *out;

    if (der == NULL || len == 0 || len > INT_MAX) {
        return NULL;
    }
    x = d2i_X509(NULL, &p, (long)len);
    if (x == NULL) {
        ERR_clear_error();
        return NULL;
    }
    out = cr_x509_to_pem(x);
    X509_free(x);
    return out;
}

char *cr_key_to_pem(EVP_PKEY *key, const char *password)
{
    PKCS8_PRIV_KEY_INFO *p8 = cr_key_p8(key);
    char *pem = p8 != NULL ? cr_p8_to_pem(p8, password) : NULL;

    PKCS8_PRIV_KEY_INFO_free(p8);
    return pem;
}

X509 *cr_x509_from_pem(const char *pem, size_t len, struct cr_error *err)
{
    BIO *bio;
    X509 *x;

    if (pem == NULL || len == 0 || len > INT_MAX) {
        cr_error_set(err, CR_EINVAL, "no PEM certificate given");
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        cr_error_set(err, CR_ENOMEM, "out of memory");
        return NULL;
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    ERR_clear_error();
    if (x == NULL) {
        cr_error_set(err, CR_EINVAL,
                     "no PEM CERTIFICATE block could be read");
    }
    return x;
}

/* Never prompts: the password is the one given or none. */
static int pem_pass_from_arg(char *buf, int size, int rwflag, void *u)
{
    const char *pw = u;
    size_t n;

    (void)rwflag;
    if (pw == NULL) {
        return -1;
    }
    n = strlen(pw);
    if (n > (size_t)size) {
        return -1;
    }
    memcpy(buf, pw, n);
    return (int)n;
}

EVP_PKEY *cr_key_from_pem(const char *pem, size_t len, const char *password,
                          struct cr_error *err)
{
    BIO *bio;
    EVP_PKEY *key;

    if (pem == NULL || len == 0 || len > INT_MAX) {
        cr_error_set(err, CR_EINVAL, "no PEM private key given");
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        cr_error_set(err, CR_ENOMEM, "out of memory");
        return NULL;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_from_arg,
                                  (void *)password);
    BIO_free(bio);
    ERR_clear_error();
    if (key == NULL) {
        cr_error_set(err, CR_EINVAL,
                     "the private key cannot be read: not a PEM key, or the "
                     "password is wrong or missing");
    }
    return key;
}
