/*
 * tls_context.c - SSL_CTX construction for certraft's mutual-TLS links.
 *
 * certraft trusts certificates by thumbprint, not by chain: every peer
 * certificate is requested, chain errors (self-signed, unknown issuer) are
 * ignored, and the caller's verify function decides on the leaf alone. The
 * verify function and its argument ride along in the SSL_CTX's ex_data so
 * that each context carries its own policy and frees it when it dies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <certraft/tls_stream.h>

struct cr_tls_verify
{
    cr_tls_verify_fn fn;
    void *arg;
};

/* OpenSSL hands out ex_data indexes per process; registering one per
 * context would grow its tables forever, so the index is obtained once and
 * never changes afterwards. */
static CRYPTO_ONCE verify_index_once = CRYPTO_ONCE_STATIC_INIT;
static int verify_index = -1;

static void verify_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    free(ptr);
}

static void verify_index_init(void)
{
    verify_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, verify_free);
}

static int get_verify_index(void)
{
    if (!CRYPTO_THREAD_run_once(&verify_index_once, verify_index_init)) {
        return -1;
    }
    return verify_index;
}

static void set_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    if (err == NULL || errlen == 0) {
        ERR_clear_error();
        return;
    }
    if (e != 0) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(err, errlen, "%s: %s", what, buf);
    } else {
        snprintf(err, errlen, "%s", what);
    }
    ERR_clear_error();
}

/* Chain errors are expected (certificates are self-signed or issued by
 * CAs nobody configured) and ignored; a host name the caller asked for is
 * still enforced, and the leaf goes to the caller's verify function. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *xctx)
{
    int depth = X509_STORE_CTX_get_error_depth(xctx);

    if (!preverify_ok) {
        int e = X509_STORE_CTX_get_error(xctx);
        if (e == X509_V_ERR_HOSTNAME_MISMATCH ||
            e == X509_V_ERR_IP_ADDRESS_MISMATCH ||
            e == X509_V_ERR_APPLICATION_VERIFICATION) {
            return 0;
        }
        return 1;
    }
    /* OpenSSL calls back exactly once with preverify_ok=1 for each depth,
     * leaf last: that is where the leaf is judged. */
    if (depth != 0) {
        return 1;
    }

    SSL *ssl = X509_STORE_CTX_get_ex_data(
        xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    int idx = get_verify_index();
    if (ssl == NULL || idx < 0) {
        X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    const struct cr_tls_verify *v =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), idx);
    if (v == NULL || v->fn == NULL) {
        return 1;
    }

    X509 *leaf = X509_STORE_CTX_get_current_cert(xctx);
    unsigned char *der = NULL;
    int len = leaf != NULL ? i2d_X509(leaf, &der) : -1;
    bool ok = len > 0 && v->fn(v->arg, der, (size_t)len);
    OPENSSL_free(der);
    if (!ok) {
        X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* Keys are stored unencrypted; without this OpenSSL would prompt on the
 * terminal for an encrypted one. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int load_chain(SSL_CTX *ctx, const char *pem, size_t len, char *err,
                      size_t errlen)
{
    if (pem == NULL || len == 0 || len > INT32_MAX) {
        set_err(err, errlen, "no certificate given");
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    X509 *leaf = PEM_read_bio_X509(bio, NULL, no_password, NULL);
    if (leaf == NULL) {
        set_err(err, errlen, "cannot parse certificate PEM");
        BIO_free(bio);
        return -1;
    }
    if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
        set_err(err, errlen, "cannot use certificate");
        X509_free(leaf);
        BIO_free(bio);
        return -1;
    }
    X509_free(leaf); /* the context holds its own reference */

    X509 *extra;
    while ((extra = PEM_read_bio_X509(bio, NULL, no_password, NULL)) !=
           NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            set_err(err, errlen, "cannot add chain certificate");
            X509_free(extra);
            BIO_free(bio);
            return -1;
        }
    }
    /* The loop ends on "no start line"; anything else is a broken PEM. */
    unsigned long e = ERR_peek_last_error();
    if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
                    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        set_err(err, errlen, "cannot parse chain certificate PEM");
        BIO_free(bio);
        return -1;
    }
    ERR_clear_error();
    BIO_free(bio);
    return 0;
}

static int load_key(SSL_CTX *ctx, const char *pem, size_t len, char *err,
                    size_t errlen)
{
    if (pem == NULL || len == 0 || len > INT32_MAX) {
        set_err(err, errlen, "no private key given");
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (key == NULL) {
        set_err(err, errlen, "cannot parse private key PEM");
        return -1;
    }
    int rv = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (rv != 1) {
        unsigned long e = ERR_peek_last_error();
        set_err(err, errlen,
                ERR_GET_LIB(e) == ERR_LIB_X509 &&
                        ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH
                    ? "private key does not match certificate"
                    : "cannot use private key");
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, errlen, "private key does not match certificate");
        return -1;
    }
    return 0;
}

SSL_CTX *cr_tls_ctx_new(const char *cert_pem, size_t cert_len,
                        const char *key_pem, size_t key_len,
                        const struct cr_tls_ctx_options *opts, char *err,
                        size_t errlen)
{
    struct cr_tls_ctx_options none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    ERR_clear_error();

    int idx = get_verify_index();
    if (idx < 0) {
        set_err(err, errlen, "cannot allocate SSL_CTX ex_data index");
        return NULL;
    }

    SSL_CTX *ctx =
        SSL_CTX_new(opts->is_server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        set_err(err, errlen, "SSL_CTX_new failed");
        return NULL;
    }

    struct cr_tls_verify *v = calloc(1, sizeof *v);
    if (v == NULL) {
        set_err(err, errlen, "out of memory");
        SSL_CTX_free(ctx);
        return NULL;
    }
    v->fn = opts->verify;
    v->arg = opts->verify_arg;
    if (!SSL_CTX_set_ex_data(ctx, idx, v)) {
        set_err(err, errlen, "cannot attach verify data");
        free(v);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* From here on SSL_CTX_free() releases v through verify_free(). */

    if (!SSL_CTX_set_min_proto_version(
            ctx, opts->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION)) {
        set_err(err, errlen, "cannot set minimum TLS version");
        goto fail;
    }
    if (load_chain(ctx, cert_pem, cert_len, err, errlen) != 0 ||
        load_key(ctx, key_pem, key_len, err, errlen) != 0) {
        goto fail;
    }

    /* Pre-handshake writes are retried from the stream's own queue, whose
     * chunks may move between attempts. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);

    int mode = SSL_VERIFY_PEER;
    if (opts->is_server) {
        if (opts->require_peer_cert) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        /* A resumed session skips the verify callback, which would let a
         * certificate that has since been revoked back in: every
         * connection does a full handshake. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_verify(ctx, mode, verify_cb);
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}
