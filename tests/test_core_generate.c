/*
 * test_core_generate.c - generated client certificates (cr_generate_*)
 * and the encodings they share with the rest of the core: the hand-built
 * SubjectPublicKeyInfo and PKCS#8 must be byte for byte what OpenSSL's own
 * encoders write, and the PFX must open in OpenSSL and the openssl CLI.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include <certraft/generate.h>
#include <certraft/x509.h>

#include "core_test_certs.h"
#include "harness.h"

static char tmpdir[64];

/* What OpenSSL 3.0's encoder writes for @key, as a malloc'ed string. */
static char *openssl_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ==
        1) {
        n = BIO_get_mem_data(bio, &data);
        out = strndup(data, (size_t)n);
    }
    BIO_free(bio);
    return out;
}

static X509 *parse_der(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    return d2i_X509(NULL, &p, (long)len);
}

static int mac_iterations(const unsigned char *pfx, size_t len)
{
    const unsigned char *p = pfx;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    const ASN1_INTEGER *iter = NULL;
    long n;

    if (p12 == NULL) {
        return -1;
    }
    PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
    n = iter != NULL ? ASN1_INTEGER_get(iter) : 1; /* absent: 1 */
    PKCS12_free(p12);
    return (int)n;
}

/* Everything one generation must satisfy, whatever the key type. */
static void check_generated(const struct cr_generated *g, enum cr_key_type kt,
                            const struct tcert *ca, const char *password)
{
    struct cr_error err;
    X509 *x = parse_der(g->der, g->der_len), *px = NULL;
    X509 *from_pem = cr_x509_from_pem(g->cert_pem, strlen(g->cert_pem), &err);
    EVP_PKEY *key = cr_key_from_pem(g->key_pem, strlen(g->key_pem), password,
                                    &err);
    EVP_PKEY *pk = NULL;
    struct cr_cert_info info;

    CHECK(x != NULL && from_pem != NULL && X509_cmp(x, from_pem) == 0);
    CHECK(key != NULL);
    if (x == NULL || key == NULL) {
        goto out;
    }
    /* Decoded afresh, the certificate's key is the generated one. */
    CHECK(X509_check_private_key(x, key) == 1);
    CHECK(X509_verify(x, ca->key) == 1);
    CHECK(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0) == 1);
    CHECK(X509_check_ca(x) == 0);
    CHECK_INT(EVP_PKEY_get_base_id(key), kt <= CR_KEY_EC_P384 ? EVP_PKEY_EC
                                                              : EVP_PKEY_RSA);
    CHECK_INT(cr_cert_info_from_der(g->der, g->der_len, &info, NULL), CR_OK);
    CHECK_STR(info.common_name, "gen user");
    CHECK_STR(info.issuer, "CN=generate CA");
    cr_cert_info_free(&info);
    /* The key's PEM is encrypted exactly when there is a password. */
    CHECK((strstr(g->key_pem, "ENCRYPTED PRIVATE KEY") != NULL) ==
          (password != NULL));
    if (password != NULL) {
        EVP_PKEY *none = cr_key_from_pem(g->key_pem, strlen(g->key_pem),
                                         NULL, &err);
        CHECK(none == NULL);
        EVP_PKEY_free(none);
    }
    /* The PFX holds the same pair. */
    CHECK_INT(cr_pkcs12_read(g->pfx, g->pfx_len, password, &pk, &px, NULL,
                             &err),
              CR_OK);
    CHECK(pk != NULL && EVP_PKEY_eq(pk, key) == 1);
    CHECK(px != NULL && X509_cmp(px, x) == 0);
    CHECK_INT(mac_iterations(g->pfx, g->pfx_len),
              password != NULL ? PKCS12_DEFAULT_ITER : 1);
out:
    EVP_PKEY_free(pk);
    X509_free(px);
    EVP_PKEY_free(key);
    X509_free(from_pem);
    X509_free(x);
}

TEST(test_generate_each_key_type)
{
    static const enum cr_key_type types[] = {CR_KEY_EC_P256, CR_KEY_EC_P384,
                                             CR_KEY_RSA_2048};
    struct tcert ca = tcert_cluster("generate CA");
    struct cr_error err;

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct cr_generated g;
        CHECK_INT(cr_generate_client(types[i], "gen user",
                                     (int64_t)time(NULL) + 86400, ca.x,
                                     ca.key, NULL, &g, &err),
                  CR_OK);
        /* Only the outputs are left. */
        CHECK(g.key == NULL && g.cert == NULL && g.p8 == NULL);
        check_generated(&g, types[i], &ca, NULL);
        cr_generated_free(&g);
        CHECK(g.der == NULL && g.pfx == NULL && g.key_pem == NULL);
    }
    tcert_free(&ca);
}

TEST(test_generate_with_password)
{
    struct tcert ca = tcert_cluster("generate CA");
    struct cr_error err;
    struct cr_generated g;

    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "gen user",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 "s3cret", &g, &err),
              CR_OK);
    check_generated(&g, CR_KEY_EC_P256, &ca, "s3cret");
    {
        EVP_PKEY *k = NULL;
        X509 *x = NULL;
        CHECK_INT(cr_pkcs12_read(g.pfx, g.pfx_len, "wrong", &k, &x, NULL,
                                 &err),
                  CR_EINVAL);
    }
    cr_generated_free(&g);
    /* An empty password is no password. */
    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "gen user",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 "", &g, &err),
              CR_OK);
    check_generated(&g, CR_KEY_EC_P256, &ca, NULL);
    cr_generated_free(&g);
    tcert_free(&ca);
}

/* The hand-built encodings against OpenSSL's encoders, on the same key. */
TEST(test_encodings_match_openssl)
{
    static const enum cr_key_type types[] = {CR_KEY_EC_P256, CR_KEY_EC_P384,
                                             CR_KEY_RSA_2048};
    struct tcert ca = tcert_cluster("generate CA");
    struct cr_error err;

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct cr_generated g = {0};
        unsigned char *spki = NULL, *want = NULL;
        int spki_len, want_len;
        char *pem;

        CHECK_INT(cr_generate_key(&g, types[i], &err), CR_OK);
        CHECK_INT(cr_generate_cert(&g, "gen user", (int64_t)time(NULL) + 60,
                                   ca.x, ca.key, &err),
                  CR_OK);
        CHECK_INT(cr_generate_pem(&g, NULL, &err), CR_OK);
        /* PKCS#8, through cr_generate_pem and cr_key_to_pem. */
        pem = openssl_key_pem(g.key);
        CHECK_STR(g.key_pem, pem);
        free(pem);
        pem = cr_key_to_pem(g.key, NULL);
        CHECK_STR(g.key_pem, pem);
        free(pem);
        /* SubjectPublicKeyInfo as X509_set_pubkey() would have it. */
        spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(g.cert), &spki);
        want_len = i2d_PUBKEY(g.key, &want);
        CHECK(spki_len > 0 && spki_len == want_len &&
              memcmp(spki, want, (size_t)spki_len) == 0);
        OPENSSL_free(spki);
        OPENSSL_free(want);
        /* The certificate's PEM as PEM_write_X509 writes it. */
        {
            X509 *x = parse_der(g.der, g.der_len);
            char *ref = cr_x509_to_pem(x);
            CHECK_STR(g.cert_pem, ref);
            free(ref);
            X509_free(x);
        }
        cr_generated_free(&g);
    }
    tcert_free(&ca);
}

/* The PFX as the openssl CLI sees it (what Windows/curl users will do). */
TEST(test_pfx_openssl_cli)
{
    struct tcert ca = tcert_cluster("generate CA");
    struct cr_error err;
    struct cr_generated g;
    char path[128], cmd[400];

    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "gen user",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 NULL, &g, &err),
              CR_OK);
    snprintf(path, sizeof path, "%s/gen.pfx", tmpdir);
    twrite_file(path, g.pfx, g.pfx_len);
    snprintf(cmd, sizeof cmd,
             "openssl pkcs12 -in %s -passin pass: -nodes 2>/dev/null | "
             "grep -c -e 'BEGIN CERTIFICATE' -e 'BEGIN PRIVATE KEY'",
             path);
    CHECK_STR(tshell(cmd), "2");
    snprintf(cmd, sizeof cmd,
             "openssl pkcs12 -in %s -passin pass: -info -noout 2>&1 | "
             "grep -c 'MAC: sha256, Iteration 1$'",
             path);
    CHECK_STR(tshell(cmd), "1");
    cr_generated_free(&g);

    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "gen user",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 "pw", &g, &err),
              CR_OK);
    twrite_file(path, g.pfx, g.pfx_len);
    snprintf(cmd, sizeof cmd,
             "openssl pkcs12 -in %s -passin pass:pw -nodes 2>/dev/null | "
             "grep -c -e 'BEGIN CERTIFICATE' -e 'BEGIN PRIVATE KEY'",
             path);
    CHECK_STR(tshell(cmd), "2");
    snprintf(cmd, sizeof cmd,
             "openssl pkcs12 -in %s -passin pass:pw -info -noout 2>&1 | "
             "grep -c 'PBES2, PBKDF2, AES-256-CBC, Iteration 2048'",
             path);
    CHECK_STR(tshell(cmd), "2"); /* the certificate's safe and the key */
    cr_generated_free(&g);
    tcert_free(&ca);
}

TEST(test_generate_refuses)
{
    struct tcert ca = tcert_cluster("generate CA");
    struct tcert other = tcert_cluster("other CA");
    struct cr_error err;
    struct cr_generated g;

    /* A signing key that is not the certificate's. */
    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "u",
                                 (int64_t)time(NULL) + 86400, ca.x,
                                 other.key, NULL, &g, &err),
              CR_EINVAL);
    CHECK(g.der == NULL && g.key == NULL && g.key_pem == NULL);
    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 NULL, &g, &err),
              CR_EINVAL);
    CHECK_INT(cr_generate_client(CR_KEY_EC_P256, "u", 1000, ca.x, ca.key,
                                 NULL, &g, &err),
              CR_EINVAL);
    CHECK_INT(cr_generate_client((enum cr_key_type)99, "u",
                                 (int64_t)time(NULL) + 86400, ca.x, ca.key,
                                 NULL, &g, &err),
              CR_EINVAL);
    /* cr_pkcs12_write still checks that the key is the certificate's. */
    {
        unsigned char *pfx = NULL;
        size_t n = 0;
        CHECK_INT(cr_pkcs12_write(other.key, ca.x, NULL, NULL, &pfx, &n,
                                  &err),
                  CR_EINVAL);
        CHECK(pfx == NULL);
    }
    tcert_free(&ca);
    tcert_free(&other);
}

/* The node generates on its thread pool with one shared CA key. */
struct thread_arg {
    const struct tcert *ca;
    int failures;
};

static void *generate_many(void *p)
{
    struct thread_arg *a = p;
    struct cr_error err;

    for (int i = 0; i < 25; i++) {
        struct cr_generated g;
        if (cr_generate_client(CR_KEY_EC_P256, "gen user",
                               (int64_t)time(NULL) + 86400, a->ca->x,
                               a->ca->key, NULL, &g, &err) != CR_OK) {
            a->failures++;
            continue;
        }
        {
            X509 *x = parse_der(g.der, g.der_len);
            if (x == NULL || X509_verify(x, a->ca->key) != 1) {
                a->failures++;
            }
            X509_free(x);
        }
        cr_generated_free(&g);
    }
    return NULL;
}

TEST(test_generate_threads)
{
    struct tcert ca = tcert_cluster("generate CA");
    pthread_t t[4];
    struct thread_arg args[4];

    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){&ca, 0};
        CHECK(pthread_create(&t[i], NULL, generate_many, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(args[i].failures, 0);
    }
    tcert_free(&ca);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cr_generate_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }
    RUN(test_generate_each_key_type);
    RUN(test_generate_with_password);
    RUN(test_encodings_match_openssl);
    RUN(test_pfx_openssl_cli);
    RUN(test_generate_refuses);
    RUN(test_generate_threads);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cannot remove %s\n", tmpdir);
        }
    }
    return HARNESS_DONE();
}
