/*
 * x509_info.c - what certraft knows about one certificate: thumbprints,
 * public key pin, names, validity, and the DER list type.
 *
 * Certificates are parsed once, here, when they enter the system; the
 * registry keeps these fields so that authentication never re-parses.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "x509_internal.h"

void cr_hex_upper(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

const char *cr_openssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0) {
        snprintf(buf, size, "unknown reason");
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, size, "%s", r != NULL ? r : "unknown reason");
    }
    ERR_clear_error();
    return buf;
}

/* OpenSSL 3.0 fetches EVP_sha256() and EVP_sha1() from the provider
 * store on every use, a quarter of hashing a small certificate; every
 * hash of a certificate in the core (here, and the thumb digest on each
 * request's authentication) uses these, fetched once. */
static CRYPTO_ONCE digests_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_md, *sha1_md;

static void digests_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
}

const EVP_MD *cr_md_sha256(void)
{
    if (CRYPTO_THREAD_run_once(&digests_once, digests_fetch) &&
        sha256_md != NULL) {
        return sha256_md;
    }
    return EVP_sha256();
}

const EVP_MD *cr_md_sha1(void)
{
    if (CRYPTO_THREAD_run_once(&digests_once, digests_fetch) &&
        sha1_md != NULL) {
        return sha1_md;
    }
    return EVP_sha1();
}

static void digest_hex(const EVP_MD *md, const unsigned char *der, size_t len,
                       char *out)
{
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(der, len, dgst, &n, md, NULL) != 1) {
        /* Only on allocation failure; an empty print never matches. */
        out[0] = '\0';
        ERR_clear_error();
        return;
    }
    cr_hex_upper(dgst, n, out);
}

void cr_thumbprint(const unsigned char *der, size_t len, char *out)
{
    digest_hex(cr_md_sha256(), der, len, out);
}

bool cr_thumbprint_valid(const char *s)
{
    size_t i;

    if (s == NULL) {
        return false;
    }
    for (i = 0; i < CR_THUMBPRINT_LEN; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return s[CR_THUMBPRINT_LEN] == '\0';
}

void cr_thumbprint_normalize(char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        *s = (char)toupper((unsigned char)*s);
    }
}

void cr_der_list_free(struct cr_der_list *list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < list->n; i++) {
        free(list->items[i].der);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

enum cr_status cr_der_list_append(struct cr_der_list *list,
                                  const unsigned char *der, size_t len)
{
    struct cr_der *items;
    unsigned char *copy = malloc(len > 0 ? len : 1);

    if (copy == NULL) {
        return CR_ENOMEM;
    }
    items = realloc(list->items, (list->n + 1) * sizeof *items);
    if (items == NULL) {
        free(copy);
        return CR_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, der, len);
    }
    list->items = items;
    items[list->n].der = copy;
    items[list->n].len = len;
    list->n++;
    return CR_OK;
}

static char *name_rfc2253(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (bio == NULL) {
        return NULL;
    }
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

static char *name_common_name(const X509_NAME *name)
{
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    char *out;
    int n;

    if (idx < 0) {
        return strdup("");
    }
    n = ASN1_STRING_to_UTF8(
        &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (n < 0) {
        ERR_clear_error();
        return strdup("");
    }
    out = strndup((const char *)utf8, (size_t)n);
    OPENSSL_free(utf8);
    return out;
}

static bool asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *out = (int64_t)timegm(&tm);
    return true;
}

static enum cr_status pin_compute(X509 *x, char *out, struct cr_error *err)
{
    unsigned char *spki = NULL, dgst[32];
    unsigned int dlen = 0;
    char *b64;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);

    if (n <= 0 || EVP_Digest(spki, (size_t)n, dgst, &dlen, cr_md_sha256(),
                             NULL) != 1) {
        OPENSSL_free(spki);
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "the certificate's public key cannot be encoded");
    }
    OPENSSL_free(spki);
    b64 = cr_base64_encode(dgst, dlen);
    if (b64 == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    memcpy(out, b64, CR_PIN_LEN + 1);
    free(b64);
    return CR_OK;
}

/* Upper-case hex of a key identifier; "" when absent. */
static char *key_id_hex(const ASN1_OCTET_STRING *id)
{
    const unsigned char *p = id != NULL ? ASN1_STRING_get0_data(id) : NULL;
    int n = id != NULL ? ASN1_STRING_length(id) : 0;
    char *out;

    if (p == NULL || n <= 0) {
        return strdup("");
    }
    out = malloc(2 * (size_t)n + 1);
    if (out != NULL) {
        cr_hex_upper(p, (size_t)n, out);
    }
    return out;
}

/* Decodes one extension; NULL when absent or malformed, and *@bad set
 * when it is malformed or repeated. */
static void *ext_d2i(X509 *x, int nid, bool *bad)
{
    int crit = -1;
    void *v = X509_get_ext_d2i(x, nid, &crit, NULL);

    /* crit: -1 absent, -2 present more than once; v NULL with crit >= 0
     * means present but undecodable. */
    if (crit == -2 || (v == NULL && crit >= 0)) {
        *bad = true;
    }
    return v;
}

/* basicConstraints, keyUsage and the key identifiers, decoded one by one
 * rather than through X509_get_extension_flags(), which also decodes
 * every other extension (a long subjectAltName is most of a
 * certificate's parsing time) and hashes the whole certificate. */
static enum cr_status read_extensions(X509 *x, struct cr_cert_info *out,
                                      struct cr_error *err)
{
    bool bad = false;
    BASIC_CONSTRAINTS *bc = ext_d2i(x, NID_basic_constraints, &bad);
    ASN1_BIT_STRING *ku = ext_d2i(x, NID_key_usage, &bad);
    AUTHORITY_KEYID *akid = ext_d2i(x, NID_authority_key_identifier, &bad);
    ASN1_OCTET_STRING *skid = ext_d2i(x, NID_subject_key_identifier, &bad);

    out->is_ca = bc != NULL && bc->ca;
    /* Explicitly: strict chain validation refuses a CA without keyUsage. */
    out->key_cert_sign =
        ku != NULL && ASN1_BIT_STRING_get_bit(ku, 5 /* keyCertSign */) == 1;
    out->authority_key_id = key_id_hex(akid != NULL ? akid->keyid : NULL);
    out->subject_key_id = key_id_hex(skid);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(skid);
    if (bad) {
        return cr_error_set(err, CR_EINVAL,
                            "the certificate has a malformed or repeated "
                            "extension");
    }
    return CR_OK;
}

enum cr_status cr_cert_info_from_x509(X509 *x, const unsigned char *der,
                                      size_t len, struct cr_cert_info *out,
                                      struct cr_error *err)
{
    enum cr_status rv;

    memset(out, 0, sizeof *out);
    cr_thumbprint(der, len, out->thumbprint);
    digest_hex(cr_md_sha1(), der, len, out->sha1);
    rv = pin_compute(x, out->pin, err);
    if (rv != CR_OK) {
        goto fail;
    }
    if (!asn1_time_unix(X509_get0_notBefore(x), &out->not_before) ||
        !asn1_time_unix(X509_get0_notAfter(x), &out->not_after)) {
        rv = cr_error_set(err, CR_EINVAL,
                          "the certificate's validity dates are malformed");
        goto fail;
    }
    out->subject = name_rfc2253(X509_get_subject_name(x));
    out->issuer = name_rfc2253(X509_get_issuer_name(x));
    out->common_name = name_common_name(X509_get_subject_name(x));
    rv = read_extensions(x, out, err);
    if (rv != CR_OK) {
        goto fail;
    }
    if (out->subject == NULL || out->issuer == NULL ||
        out->common_name == NULL || out->authority_key_id == NULL ||
        out->subject_key_id == NULL) {
        rv = cr_error_set(err, CR_ENOMEM, "out of memory parsing a certificate");
        goto fail;
    }
    ERR_clear_error();
    return CR_OK;
fail:
    ERR_clear_error();
    cr_cert_info_free(out);
    return rv;
}

enum cr_status cr_cert_info_from_der(const unsigned char *der, size_t len,
                                     struct cr_cert_info *out,
                                     struct cr_error *err)
{
    const unsigned char *p = der;
    enum cr_status rv;
    X509 *x;

    memset(out, 0, sizeof *out);
    if (der == NULL || len == 0 || len > (size_t)LONG_MAX) {
        return cr_error_set(err, CR_EINVAL, "empty certificate");
    }
    x = cr_x509_d2i_keyless(&p, (long)len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return cr_error_set(err, CR_EINVAL,
                            "not a DER X.509 certificate (%zu bytes)", len);
    }
    rv = cr_cert_info_from_x509(x, der, len, out, err);
    X509_free(x);
    if (rv != CR_OK) {
        return rv;
    }
    if ((out->der = malloc(len)) == NULL) {
        cr_cert_info_free(out);
        return cr_error_set(err, CR_ENOMEM,
                            "out of memory parsing a certificate");
    }
    memcpy(out->der, der, len);
    out->der_len = len;
    return CR_OK;
}

void cr_cert_info_free(struct cr_cert_info *info)
{
    if (info == NULL) {
        return;
    }
    free(info->subject);
    free(info->issuer);
    free(info->common_name);
    free(info->der);
    free(info->authority_key_id);
    free(info->subject_key_id);
    info->authority_key_id = info->subject_key_id = NULL;
    info->subject = info->issuer = info->common_name = NULL;
    info->der = NULL;
    info->der_len = 0;
}
