/*
 * test_core_x509.c - fingerprints, pins, bundles (DER, PEM, PFX) and
 * issuance, checked against the openssl command line where it matters.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <certraft/x509.h>

#include "core_test_certs.h"
#include "harness.h"

static char tmpdir[64];

static void tmp_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_pem(const char *name, const struct tcert *c)
{
    char path[128], *pem = cr_x509_to_pem(c->x);

    tmp_path(path, sizeof path, name);
    twrite_file(path, pem, strlen(pem));
    free(pem);
}

TEST(test_info_fields)
{
    struct tcert ca = tcert_cluster("certraft test CA");
    struct tcert c = tcert_client(&ca, "alice", 30);
    struct cr_cert_info info;
    char cmd[512], path[128];

    CHECK_INT(cr_cert_info_from_der(c.der, c.len, &info, NULL), CR_OK);
    CHECK_STR(info.common_name, "alice");
    CHECK_STR(info.subject, "CN=alice");
    CHECK_STR(info.issuer, "CN=certraft test CA");
    CHECK(!info.is_ca);
    CHECK(!cr_x509_self_signed(c.der, c.len));
    CHECK(info.not_before < (int64_t)time(NULL) - 6 * 86400);
    CHECK(info.not_after > (int64_t)time(NULL) + 29 * 86400);
    CHECK_INT(strlen(info.thumbprint), 64);
    CHECK(cr_thumbprint_valid(info.thumbprint));

    write_pem("alice.pem", &c);
    tmp_path(path, sizeof path, "alice.pem");
    /* Pin: RFC 7469 pipeline from the brief. */
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin "
             "-outform der | openssl dgst -sha256 -binary | base64",
             path);
    CHECK_STR(info.pin, tshell(cmd));
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -noout -fingerprint -sha256 | sed "
             "'s/.*=//; s/://g'",
             path);
    CHECK_STR(info.thumbprint, tshell(cmd));
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -noout -fingerprint -sha1 | sed "
             "'s/.*=//; s/://g'",
             path);
    CHECK_STR(info.sha1, tshell(cmd));
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -noout -enddate -dateopt iso_8601 2>/dev/null"
             " || true",
             path);
    cr_cert_info_free(&info);

    CHECK_INT(cr_cert_info_from_der(ca.der, ca.len, &info, NULL), CR_OK);
    CHECK(info.is_ca);
    CHECK(cr_x509_self_signed(ca.der, ca.len));
    cr_cert_info_free(&info);

    /* Trailing bytes after the DER are not a certificate. */
    {
        unsigned char *x = malloc(c.len + 1);
        memcpy(x, c.der, c.len);
        x[c.len] = 0;
        CHECK_INT(cr_cert_info_from_der(x, c.len + 1, &info, NULL), CR_EINVAL);
        CHECK_INT(cr_cert_info_from_der(x, c.len - 1, &info, NULL), CR_EINVAL);
        free(x);
    }
    tcert_free(&c);
    tcert_free(&ca);
}

/* The extensions certraft reads are decoded one by one: a repeated or
 * undecodable one is refused, other extensions are not looked at. */
TEST(test_info_bad_extensions)
{
    struct tcert_opts o = {.cn = "twice"};
    struct tcert c = tcert_make(&o);
    X509_EXTENSION *ext;
    struct cr_cert_info info;
    struct cr_error err;
    unsigned char *der = NULL;
    int len;

    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "CA:TRUE");
    CHECK(ext != NULL && X509_add_ext(c.x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
    CHECK(X509_sign(c.x, c.key, EVP_sha256()) > 0);
    len = i2d_X509(c.x, &der);
    CHECK(len > 0);
    CHECK_INT(cr_cert_info_from_der(der, (size_t)len, &info, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "malformed or repeated extension") != NULL);
    OPENSSL_free(der);
    tcert_free(&c);
}

static bool info_same(const struct cr_cert_info *a,
                      const struct cr_cert_info *b)
{
    return strcmp(a->thumbprint, b->thumbprint) == 0 &&
           strcmp(a->sha1, b->sha1) == 0 && strcmp(a->pin, b->pin) == 0 &&
           strcmp(a->subject, b->subject) == 0 &&
           strcmp(a->issuer, b->issuer) == 0 &&
           strcmp(a->common_name, b->common_name) == 0 &&
           a->not_before == b->not_before && a->not_after == b->not_after &&
           a->is_ca == b->is_ca && a->key_cert_sign == b->key_cert_sign &&
           strcmp(a->authority_key_id, b->authority_key_id) == 0 &&
           strcmp(a->subject_key_id, b->subject_key_id) == 0;
}

static void parsed_free(struct cr_cert_info *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_cert_info_free(&p[i]);
    }
    free(p);
}

/* An upload decoded and parsed in one pass gives, per certificate kept,
 * what parsing its DER alone gives (without a copy of the DER); one
 * certificate that does not parse fails the upload, naming it. */
TEST(test_decode_bundle_parsed)
{
    struct tcert ca = tcert_cluster("upload CA");
    struct tcert a = tcert_client(&ca, "a", 10), b = tcert_client(&ca, "b", 10);
    struct tcert_opts o = {.cn = "twice"};
    struct tcert bad = tcert_make(&o);
    struct cr_cert_info *parsed, alone;
    struct cr_der_list l;
    struct cr_error err;
    char *pa = cr_x509_to_pem(a.x), *pb = cr_x509_to_pem(b.x);
    char *pca = cr_x509_to_pem(ca.x), *pbad;
    X509_EXTENSION *ext;
    char buf[16384];

    CHECK_INT(cr_x509_decode_bundle(a.der, a.len, NULL, &l, &parsed, &err),
              CR_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(cr_cert_info_from_der(a.der, a.len, &alone, &err), CR_OK);
    CHECK(info_same(&parsed[0], &alone));
    CHECK(parsed[0].der == NULL);
    cr_cert_info_free(&alone);
    parsed_free(parsed, l.n);
    cr_der_list_free(&l);

    /* A chain: the CA skipped, the duplicate dropped, parsed in order. */
    snprintf(buf, sizeof buf, "%s%s%s%s", pa, pca, pb, pa);
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)buf, strlen(buf), NULL,
                                    &l, &parsed, &err),
              CR_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(parsed[0].thumbprint, a.thumb);
    CHECK_STR(parsed[1].thumbprint, b.thumb);
    CHECK_STR(parsed[1].common_name, "b");
    parsed_free(parsed, l.n);
    cr_der_list_free(&l);

    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "CA:TRUE");
    CHECK(ext != NULL && X509_add_ext(bad.x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
    CHECK(X509_sign(bad.x, bad.key, EVP_sha256()) > 0);
    pbad = cr_x509_to_pem(bad.x);
    snprintf(buf, sizeof buf, "%s%s", pa, pbad);
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)buf, strlen(buf), NULL,
                                    &l, &parsed, &err),
              CR_EINVAL);
    CHECK(strstr(err.msg, "certificate 2 of the upload: the certificate has "
                          "a malformed or repeated extension") != NULL);
    CHECK(parsed == NULL && l.n == 0 && l.items == NULL);
    /* Without parsing, the same bundle decodes. */
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)buf, strlen(buf), NULL,
                                    &l, NULL, &err),
              CR_OK);
    CHECK_INT(l.n, 2);
    cr_der_list_free(&l);

    free(pa);
    free(pb);
    free(pca);
    free(pbad);
    tcert_free(&a);
    tcert_free(&b);
    tcert_free(&bad);
    tcert_free(&ca);
}

TEST(test_thumbprint_helpers)
{
    char t[65] = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    CHECK(cr_thumbprint_valid(t));
    cr_thumbprint_normalize(t);
    CHECK_STR(t, "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789");
    CHECK(!cr_thumbprint_valid("ABC"));
    CHECK(!cr_thumbprint_valid(NULL));
    t[10] = 'g';
    CHECK(!cr_thumbprint_valid(t));
}

TEST(test_base64)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob",
                                        "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
                                      "Zm9vYmE=", "Zm9vYmFy"};
    struct cr_error err;
    unsigned char *out;
    size_t n, i;

    for (i = 0; i < 7; i++) {
        char *e = cr_base64_encode((const unsigned char *)plain[i],
                                   strlen(plain[i]));
        CHECK_STR(e, enc[i]);
        free(e);
        CHECK_INT(cr_base64_decode(enc[i], strlen(enc[i]), &out, &n, &err),
                  CR_OK);
        CHECK_INT(n, strlen(plain[i]));
        CHECK(memcmp(out, plain[i], n) == 0);
        free(out);
    }
    CHECK_INT(cr_base64_decode("Zm9v\nYmFy\r\n", 11, &out, &n, &err), CR_OK);
    CHECK_INT(n, 6);
    free(out);
    CHECK_INT(cr_base64_decode("Zm9", 3, &out, &n, &err), CR_EINVAL);
    CHECK_INT(cr_base64_decode("Zm9v!", 5, &out, &n, &err), CR_EINVAL);
    CHECK_INT(cr_base64_decode("Zg==Zg==", 8, &out, &n, &err), CR_EINVAL);
    CHECK_INT(cr_base64_decode("Z===", 4, &out, &n, &err), CR_EINVAL);
    /* Whitespace inside a quad, then whole quads again (the fast path). */
    CHECK_INT(cr_base64_decode("Zm9\nvYmFyYmF6", 13, &out, &n, &err), CR_OK);
    CHECK_INT(n, 9);
    CHECK(memcmp(out, "foobarbaz", 9) == 0);
    free(out);
    /* Nothing but whitespace may follow the padding, whole quads neither. */
    CHECK_INT(cr_base64_decode("Zg==Zm9v", 8, &out, &n, &err), CR_EINVAL);
    CHECK_INT(cr_base64_decode("Zm9vYmFy=", 9, &out, &n, &err), CR_EINVAL);
    CHECK_INT(cr_base64_decode("Zm9vYm\x80y", 8, &out, &n, &err), CR_EINVAL);
}

/* Every length from 0 to 300 bytes, encoded in one line and wrapped at 64
 * columns (PEM style): both decode to the original bytes. */
TEST(test_base64_round_trips)
{
    unsigned char plain[300];
    struct cr_error err;
    size_t len, i;

    for (i = 0; i < sizeof plain; i++) {
        plain[i] = (unsigned char)(i * 131 + 7);
    }
    for (len = 0; len <= sizeof plain; len++) {
        char *e = cr_base64_encode(plain, len);
        size_t elen = strlen(e), w = 0;
        char *wrapped = malloc(elen + elen / 64 + 2);
        unsigned char *out = NULL;
        size_t n = 0;

        for (i = 0; i < elen; i++) {
            wrapped[w++] = e[i];
            if (i % 64 == 63) {
                wrapped[w++] = '\n';
            }
        }
        wrapped[w] = '\0';
        CHECK_INT(cr_base64_decode(e, elen, &out, &n, &err), CR_OK);
        CHECK(n == len && memcmp(out, plain, len) == 0);
        free(out);
        CHECK_INT(cr_base64_decode(wrapped, w, &out, &n, &err), CR_OK);
        CHECK(n == len && memcmp(out, plain, len) == 0);
        free(out);
        free(wrapped);
        free(e);
    }
}

static bool list_has(const struct cr_der_list *l, size_t i,
                     const struct tcert *c)
{
    return i < l->n && l->items[i].len == c->len &&
           memcmp(l->items[i].der, c->der, c->len) == 0;
}

TEST(test_bundle_der_pem)
{
    struct tcert ca = tcert_cluster("bundle CA");
    struct tcert a = tcert_client(&ca, "a", 10), b = tcert_client(&ca, "b", 10);
    struct cr_der_list l;
    struct cr_error err;
    char *pa = cr_x509_to_pem(a.x), *pb = cr_x509_to_pem(b.x);
    char *pca = cr_x509_to_pem(ca.x), *key = cr_key_to_pem(a.key, NULL);
    char *ekey = cr_key_to_pem(a.key, "secret");
    char buf[16384];

    CHECK_INT(cr_x509_decode_bundle(a.der, a.len, NULL, &l, NULL, &err), CR_OK);
    CHECK_INT(l.n, 1);
    CHECK(list_has(&l, 0, &a));
    cr_der_list_free(&l);

    /* PEM with a key block first, a chain, a duplicate: keys ignored, the
     * CA skipped, the duplicate dropped, order kept. */
    snprintf(buf, sizeof buf, "junk before\n%s%s%s%s%s%s", key, pa, ekey, pca,
             pb, pa);
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)buf, strlen(buf), NULL,
                                    &l, NULL, &err),
              CR_OK);
    CHECK_INT(l.n, 2);
    CHECK(list_has(&l, 0, &a));
    CHECK(list_has(&l, 1, &b));
    cr_der_list_free(&l);

    /* Only a CA alone is a certificate (nothing issued by it here). */
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)pca, strlen(pca), NULL,
                                    &l, NULL, &err),
              CR_OK);
    CHECK_INT(l.n, 1);
    cr_der_list_free(&l);

    /* Only a key: no certificate. */
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)key, strlen(key), NULL,
                                    &l, NULL, &err),
              CR_EINVAL);
    CHECK(strstr(err.msg, "no certificate") != NULL);

    /* Truncated PEM. */
    CHECK_INT(cr_x509_decode_bundle((unsigned char *)pa, strlen(pa) - 40,
                                    NULL, &l, NULL, &err),
              CR_EINVAL);
    /* Truncated DER, garbage, empty. */
    CHECK_INT(cr_x509_decode_bundle(a.der, a.len - 10, NULL, &l, NULL, &err),
              CR_EINVAL);
    CHECK_INT(cr_x509_decode_bundle((const unsigned char *)"garbage!", 8,
                                    NULL, &l, NULL, &err),
              CR_EINVAL);
    CHECK_INT(cr_x509_decode_bundle(NULL, 0, NULL, &l, NULL, &err), CR_EINVAL);
    CHECK(l.n == 0 && l.items == NULL);

    /* PEM <-> DER helpers. */
    {
        char *p2 = cr_der_to_pem(a.der, a.len);
        X509 *x = cr_x509_from_pem(p2, strlen(p2), &err);
        EVP_PKEY *k = cr_key_from_pem(ekey, strlen(ekey), "secret", &err);
        CHECK_STR(p2, pa);
        CHECK(x != NULL && X509_cmp(x, a.x) == 0);
        CHECK(k != NULL && EVP_PKEY_eq(k, a.key) == 1);
        CHECK(cr_key_from_pem(ekey, strlen(ekey), "wrong", &err) == NULL);
        CHECK(cr_key_from_pem(ekey, strlen(ekey), NULL, &err) == NULL);
        X509_free(x);
        EVP_PKEY_free(k);
        free(p2);
    }
    free(pa);
    free(pb);
    free(pca);
    free(key);
    free(ekey);
    tcert_free(&a);
    tcert_free(&b);
    tcert_free(&ca);
}

TEST(test_bundle_pfx)
{
    struct tcert ca = tcert_cluster("pfx CA");
    struct tcert a = tcert_client(&ca, "a", 10), b = tcert_client(&ca, "b", 10);
    struct cr_der_list extra = {NULL, 0}, l;
    struct cr_error err;
    unsigned char *pfx;
    size_t n;

    cr_der_list_append(&extra, ca.der, ca.len);
    cr_der_list_append(&extra, b.der, b.len);

    /* With password: key dropped, CA skipped. */
    CHECK_INT(cr_pkcs12_write(a.key, a.x, &extra, "pw", &pfx, &n, &err),
              CR_OK);
    CHECK_INT(cr_x509_decode_bundle(pfx, n, "pw", &l, NULL, &err), CR_OK);
    CHECK_INT(l.n, 2);
    CHECK(list_has(&l, 0, &a));
    CHECK(list_has(&l, 1, &b));
    cr_der_list_free(&l);
    CHECK_INT(cr_x509_decode_bundle(pfx, n, "nope", &l, NULL, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "wrong password") != NULL);
    CHECK(strstr(err.msg, "pw") == NULL);
    CHECK_INT(cr_x509_decode_bundle(pfx, n, NULL, &l, NULL, &err), CR_EINVAL);
    CHECK_INT(cr_x509_decode_bundle(pfx, n / 2, "pw", &l, NULL, &err), CR_EINVAL);
    {
        EVP_PKEY *k;
        X509 *x;
        struct cr_der_list chain;
        CHECK_INT(cr_pkcs12_read(pfx, n, "pw", &k, &x, &chain, &err), CR_OK);
        CHECK(k != NULL && EVP_PKEY_eq(k, a.key) == 1);
        CHECK(x != NULL && X509_cmp(x, a.x) == 0);
        CHECK_INT(chain.n, 2);
        EVP_PKEY_free(k);
        X509_free(x);
        cr_der_list_free(&chain);
        CHECK_INT(cr_pkcs12_read(pfx, n, "bad", &k, &x, &chain, &err),
                  CR_EINVAL);
    }
    free(pfx);

    /* Without password. */
    CHECK_INT(cr_pkcs12_write(a.key, a.x, NULL, NULL, &pfx, &n, &err), CR_OK);
    CHECK_INT(cr_x509_decode_bundle(pfx, n, NULL, &l, NULL, &err), CR_OK);
    CHECK_INT(l.n, 1);
    cr_der_list_free(&l);
    CHECK_INT(cr_x509_decode_bundle(pfx, n, "", &l, NULL, &err), CR_OK);
    cr_der_list_free(&l);
    free(pfx);

    /* Public only (the cluster export), read by the openssl CLI. */
    CHECK_INT(cr_pkcs12_write(NULL, ca.x, &extra, NULL, &pfx, &n, &err),
              CR_OK);
    {
        char path[128], cmd[300];
        tmp_path(path, sizeof path, "export.pfx");
        twrite_file(path, pfx, n);
        snprintf(cmd, sizeof cmd,
                 "openssl pkcs12 -in %s -nokeys -passin pass: 2>/dev/null | "
                 "grep -c 'BEGIN CERTIFICATE'",
                 path);
        CHECK_STR(tshell(cmd), "3");
    }
    free(pfx);
    CHECK_INT(cr_pkcs12_write(a.key, a.x, NULL, "pw", &pfx, &n, &err), CR_OK);
    {
        char path[128], cmd[300];
        tmp_path(path, sizeof path, "a.pfx");
        twrite_file(path, pfx, n);
        snprintf(cmd, sizeof cmd,
                 "openssl pkcs12 -in %s -info -nokeys -passin pass:pw 2>&1 | "
                 "grep -c 'AES-256-CBC'",
                 path);
        CHECK(atoi(tshell(cmd)) >= 1);
    }
    free(pfx);
    cr_der_list_free(&extra);
    tcert_free(&a);
    tcert_free(&b);
    tcert_free(&ca);
}

/* A PFX written by the CLI with the old RC2/3DES algorithms. */
TEST(test_bundle_legacy_pfx)
{
    struct tcert ca = tcert_cluster("legacy CA");
    struct tcert a = tcert_client(&ca, "old", 10);
    char cert[128], keyp[128], out[128], cmd[600], *key;
    struct cr_der_list l;
    struct cr_error err;
    unsigned char *data = NULL;
    size_t n = 0;
    FILE *f;

    write_pem("old.pem", &a);
    tmp_path(cert, sizeof cert, "old.pem");
    tmp_path(keyp, sizeof keyp, "old.key");
    tmp_path(out, sizeof out, "old.pfx");
    key = cr_key_to_pem(a.key, NULL);
    twrite_file(keyp, key, strlen(key));
    free(key);
    snprintf(cmd, sizeof cmd,
             "openssl pkcs12 -export -legacy -in %s -inkey %s -passout "
             "pass:old -out %s 2>/dev/null && echo ok",
             cert, keyp, out);
    if (strcmp(tshell(cmd), "ok") != 0) {
        printf("  (skipped: openssl CLI cannot write legacy PFX here)\n");
        tcert_free(&a);
        tcert_free(&ca);
        return;
    }
    f = fopen(out, "rb");
    if (f != NULL) {
        data = malloc(65536);
        n = fread(data, 1, 65536, f);
        fclose(f);
    }
    CHECK_INT(cr_x509_decode_bundle(data, n, "old", &l, NULL, &err), CR_OK);
    CHECK(list_has(&l, 0, &a));
    cr_der_list_free(&l);
    CHECK_INT(cr_x509_decode_bundle(data, n, "wrong", &l, NULL, &err), CR_EINVAL);
    {
        EVP_PKEY *k = NULL;
        X509 *x = NULL;
        CHECK_INT(cr_pkcs12_read(data, n, "old", &k, &x, NULL, &err), CR_OK);
        CHECK(k != NULL && EVP_PKEY_eq(k, a.key) == 1);
        CHECK(x != NULL && X509_cmp(x, a.x) == 0);
        EVP_PKEY_free(k);
        X509_free(x);
    }
    free(data);
    tcert_free(&a);
    tcert_free(&ca);
}

TEST(test_issue)
{
    struct tcert ca = tcert_cluster("issuer");
    struct tcert other = tcert_cluster("other");
    struct cr_error err;
    enum cr_key_type kt;
    EVP_PKEY *k = cr_key_generate(CR_KEY_RSA_2048, &err);
    X509 *x;

    CHECK(k != NULL);
    x = cr_x509_issue_client(k, "rsa user", (int64_t)time(NULL) + 86400,
                             ca.x, ca.key, &err);
    CHECK(x != NULL);
    CHECK(X509_verify(x, ca.key) == 1);
    CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) == 1);
    X509_free(x);
    /* The wrong signing key, an empty name, a past NotAfter. */
    CHECK(cr_x509_issue_client(k, "u", (int64_t)time(NULL) + 86400, ca.x,
                               other.key, &err) == NULL);
    CHECK_INT(err.status, CR_EINVAL);
    CHECK(cr_x509_issue_client(k, "", (int64_t)time(NULL) + 86400, ca.x,
                               ca.key, &err) == NULL);
    CHECK(cr_x509_issue_client(k, "u", 1000, ca.x, ca.key, &err) == NULL);
    EVP_PKEY_free(k);
    CHECK(cr_x509_make_cluster_cert(ca.key, "x", (const char *const[]){"bad"},
                                    1, 10, &err) == NULL);
    CHECK(X509_check_purpose(ca.x, X509_PURPOSE_SSL_SERVER, 0) == 1);
    CHECK(X509_check_ca(ca.x) == 1);

    CHECK_INT(cr_key_type_parse("P-384", &kt, &err), CR_OK);
    CHECK_INT(kt, CR_KEY_EC_P384);
    CHECK_STR(cr_key_type_name(CR_KEY_RSA_4096), "RSA-4096");
    CHECK_INT(cr_key_type_parse("rsa", &kt, &err), CR_EINVAL);
    tcert_free(&ca);
    tcert_free(&other);
}

TEST(test_types)
{
    enum cr_clearance c;
    enum cr_access a;
    struct cr_error err;

    CHECK_INT(cr_clearance_parse("Operator", &c, &err), CR_OK);
    CHECK_INT(c, CR_CLEARANCE_OPERATOR);
    CHECK_INT(cr_clearance_parse("operator", &c, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "ClusterAdmin") != NULL);
    CHECK_INT(cr_access_parse("ReadWrite", &a, &err), CR_OK);
    CHECK_INT(a, CR_ACCESS_READ_WRITE);
    CHECK_STR(cr_access_name(CR_ACCESS_ADMIN), "Admin");
    CHECK_STR(cr_clearance_name(CR_CLEARANCE_CLUSTER_NODE), "ClusterNode");
    CHECK(cr_database_name_valid("Orders_2024.v-1"));
    CHECK(!cr_database_name_valid(".hidden"));
    CHECK(!cr_database_name_valid("a/b"));
    CHECK(!cr_database_name_valid(""));
    CHECK(cr_document_id_valid("users/1"));
    CHECK(!cr_document_id_valid("a\nb"));
    CHECK_INT(cr_status_http(CR_ECONFLICT), 409);
    CHECK_STR(cr_status_type(CR_EUNAUTH), "Unauthorized");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cr_x509_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }
    RUN(test_info_fields);
    RUN(test_info_bad_extensions);
    RUN(test_thumbprint_helpers);
    RUN(test_base64);
    RUN(test_base64_round_trips);
    RUN(test_bundle_der_pem);
    RUN(test_decode_bundle_parsed);
    RUN(test_bundle_pfx);
    RUN(test_bundle_legacy_pfx);
    RUN(test_issue);
    RUN(test_types);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", tmpdir);
        }
    }
    return HARNESS_DONE();
}
