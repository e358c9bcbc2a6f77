/*
 * cryptorate.c - what OpenSSL itself achieves on one core of this machine,
 * the yardsticks for certraft's generation and handshake figures:
 *
 *   keygen+sign   P-256 key generation plus issuing (signing) a client
 *                 certificate with a P-256 CA key, plain OpenSSL calls
 *   handshake     a full TLS 1.3 mutual-TLS handshake (P-256 server and
 *                 client certificates, X25519, client certificate
 *                 required and verified by a callback, no resumption)
 *                 between two SSL objects over memory BIOs in this
 *                 process; the server side's CPU time is measured on its
 *                 own, so 1/that is the most handshakes one core of a
 *                 server could complete
 *
 * and, for the diagnosis of POST /admin/certificates, certraft's own
 * steps of one generation (certraft_core's cr_generate_key, _cert, _pem,
 * _pfx: what the node runs on its thread pool, minus the zip), without a
 * password and with one.
 *
 * Prints one JSON object: per-operation microseconds and rates. Times are
 * this thread's CPU time, not wall time, so that a machine shared with
 * other work still gives one core's figures.
 *
 *   cryptorate [--seconds 2]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <certraft/generate.h>
#include <certraft/x509.h>

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "cryptorate: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* A certificate for @key: self-signed when @ca is NULL. Plain OpenSSL,
 * roughly what any CA does for a client certificate. */
static X509 *issue(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *ca_key,
                   bool is_ca)
{
    X509 *x = X509_new();
    X509V3_CTX v3;
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(mono() * 1e6));
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
    X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", is_ca ? "critical,CA:TRUE" : "CA:FALSE"},
        {"keyUsage", is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                           : "critical,digitalSignature"},
        {"extendedKeyUsage", is_ca ? "serverAuth,clientAuth" : "clientAuth"},
        {"subjectKeyIdentifier", "hash"},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        X509_EXTENSION *e =
            X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        if (e == NULL) {
            die("extension");
        }
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    if (X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) <= 0) {
        die("sign");
    }
    return x;
}

static int accept_any(int ok, X509_STORE_CTX *c)
{
    (void)ok;
    (void)c;
    return 1; /* certraft judges the leaf by thumbprint, not by chain */
}

/* Move pending bytes from one side's write BIO to the other's read BIO. */
static void pump(BIO *from, BIO *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0) {
        BIO_write(to, buf, n);
    }
}

int main(int argc, char **argv)
{
    double seconds = 2;
    static const struct option lo[] = {{"seconds", 1, 0, 's'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o == 's') {
            seconds = atof(optarg);
        } else {
            fprintf(stderr, "usage: cryptorate [--seconds S]\n");
            return 2;
        }
    }

    EVP_PKEY *ca_key = EVP_EC_gen("P-256");
    X509 *ca = issue(ca_key, "bench-ca", NULL, NULL, true);

    /* 1. keygen + sign, plain OpenSSL */
    double t0 = mono(), keygen_t = 0, sign_t = 0;
    long n_gen = 0;
    while (mono() - t0 < seconds) {
        double a = thread_cpu();
        EVP_PKEY *k = EVP_EC_gen("P-256");
        double b = thread_cpu();
        X509 *x = issue(k, "client", ca, ca_key, false);
        double c = thread_cpu();
        keygen_t += b - a;
        sign_t += c - b;
        X509_free(x);
        EVP_PKEY_free(k);
        n_gen++;
    }
    double gen_us = (keygen_t + sign_t) / (double)n_gen * 1e6;

    /* 2. certraft's generation steps, without a password then with one */
    double st[2][4] = {{0}};
    long n_cr[2] = {0, 0};
    for (int pw = 0; pw < 2; pw++) {
        const char *password = pw ? "secret" : NULL;
        t0 = mono();
        while (mono() - t0 < seconds / 2) {
            struct cr_generated g = {0};
            struct cr_error err;
            double a = thread_cpu();
            if (cr_generate_key(&g, CR_KEY_EC_P256, &err) != CR_OK) {
                die(err.msg);
            }
            double b = thread_cpu();
            if (cr_generate_cert(&g, "client",
                                 (int64_t)time(NULL) + 86400 * 365, ca,
                                 ca_key, &err) != CR_OK) {
                die(err.msg);
            }
            double c = thread_cpu();
            if (cr_generate_pem(&g, password, &err) != CR_OK) {
                die(err.msg);
            }
            double d = thread_cpu();
            if (cr_generate_pfx(&g, password, &err) != CR_OK) {
                die(err.msg);
            }
            double e = thread_cpu();
            cr_generated_free(&g);
            st[pw][0] += b - a;
            st[pw][1] += c - b;
            st[pw][2] += d - c;
            st[pw][3] += e - d;
            n_cr[pw]++;
        }
    }
    double cr_us[2][5];
    for (int pw = 0; pw < 2; pw++) {
        cr_us[pw][4] = 0;
        for (int i = 0; i < 4; i++) {
            cr_us[pw][i] = st[pw][i] / (double)n_cr[pw] * 1e6;
            cr_us[pw][4] += cr_us[pw][i];
        }
    }

    /* 3. full mutual-TLS handshakes over memory BIOs */
    EVP_PKEY *srv_key = EVP_EC_gen("P-256");
    X509 *srv = issue(srv_key, "server", ca, ca_key, false);
    EVP_PKEY *cli_key = EVP_EC_gen("P-256");
    X509 *cli = issue(cli_key, "client", ca, ca_key, false);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate(sctx, srv);
    SSL_CTX_use_PrivateKey(sctx, srv_key);
    SSL_CTX_use_certificate(cctx, cli);
    SSL_CTX_use_PrivateKey(cctx, cli_key);
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       accept_any);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, accept_any);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(sctx, 0);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    long n_hs = 0;
    double srv_cpu = 0, cli_cpu = 0;
    t0 = mono();
    while (mono() - t0 < seconds) {
        SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
        BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
        BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
        SSL_set_bio(s, s_in, s_out);
        SSL_set_bio(c, c_in, c_out);
        SSL_set_accept_state(s);
        SSL_set_connect_state(c);
        int sd = 0, cd = 0;
        for (int round = 0; round < 20 && !(sd && cd); round++) {
            double a = thread_cpu();
            if (!cd) {
                cd = SSL_do_handshake(c) == 1;
            }
            double b = thread_cpu();
            pump(c_out, s_in);
            if (!sd) {
                sd = SSL_do_handshake(s) == 1;
            }
            double d = thread_cpu();
            pump(s_out, c_in);
            cli_cpu += b - a;
            srv_cpu += d - b;
        }
        if (!(sd && cd)) {
            die("handshake did not complete");
        }
        /* one tiny request and answer, as the HTTP benchmark does */
        char buf[64];
        SSL_write(c, "GET / HTTP/1.1\r\n\r\n", 18);
        pump(c_out, s_in);
        double a = thread_cpu();
        SSL_read(s, buf, sizeof buf);
        SSL_write(s, "HTTP/1.1 200 OK\r\n\r\n", 19);
        srv_cpu += thread_cpu() - a;
        pump(s_out, c_in);
        SSL_read(c, buf, sizeof buf);
        SSL_free(s);
        SSL_free(c);
        n_hs++;
    }
    double hs_wall = mono() - t0;

    printf("{\"keygen_sign_us\":%.1f,\"keygen_us\":%.1f,\"sign_us\":%.1f,"
           "\"keygen_sign_per_s\":%.0f,"
           "\"cr_keygen_us\":%.1f,\"cr_issue_us\":%.1f,\"cr_pem_us\":%.1f,"
           "\"cr_pfx_us\":%.1f,\"cr_generate_us\":%.1f,"
           "\"cr_generate_per_s\":%.0f,"
           "\"cr_pem_password_us\":%.1f,\"cr_pfx_password_us\":%.1f,"
           "\"cr_generate_password_us\":%.1f,"
           "\"handshake_pair_us\":%.1f,\"handshake_server_us\":%.1f,"
           "\"handshake_client_us\":%.1f,\"handshake_server_per_s\":%.0f}\n",
           gen_us, keygen_t / (double)n_gen * 1e6, sign_t / (double)n_gen * 1e6,
           1e6 / gen_us, cr_us[0][0], cr_us[0][1], cr_us[0][2], cr_us[0][3],
           cr_us[0][4], 1e6 / cr_us[0][4], cr_us[1][2], cr_us[1][3],
           cr_us[1][4], hs_wall / (double)n_hs * 1e6,
           srv_cpu / (double)n_hs * 1e6, cli_cpu / (double)n_hs * 1e6,
           (double)n_hs / srv_cpu);
    return 0;
}
