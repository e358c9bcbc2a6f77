/*
 * http_test_util.h - fixtures for the HTTPS server tests.
 *
 * - throwaway EC P-256 self-signed certificates made in memory (and written
 *   to a mkdtemp directory for curl);
 * - a server whose libuv loop runs on a thread of its own, so that tests
 *   can use blocking clients; ht_call() runs a function on the loop thread
 *   and ht_wait() blocks until a predicate, evaluated on the loop thread
 *   after every loop iteration, holds. No test has to sleep for a
 *   condition it can wait for;
 * - a blocking TLS client for what curl will not send (garbage, byte-wise
 *   fragments, pipelining, half-finished requests).
 */
#ifndef CERTRAFT_HTTP_TEST_UTIL_H
#define CERTRAFT_HTTP_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <uv.h>

#include <certraft/http_server.h>
#include <certraft/tls_stream.h>

/* How long any wait may take before the test calls it a failure. */
#define HT_WAIT_MS 15000

/* --- certificates --------------------------------------------------------- */

struct ht_cert
{
    char *cert_pem;
    size_t cert_len;
    char *key_pem;
    size_t key_len;
    unsigned char *der;
    size_t der_len;
};

static inline char *ht_bio_dup(BIO *bio, size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *len = (size_t)n;
    return out;
}

static inline void ht_cert_free(struct ht_cert *c)
{
    free(c->cert_pem);
    free(c->key_pem);
    OPENSSL_free(c->der);
    memset(c, 0, sizeof *c);
}

/* A self-signed certificate for @cn, valid for 127.0.0.1, ::1 and
 * localhost so that curl can verify it as its own trust anchor. Returns 0
 * on success. */
static inline int ht_cert_make(struct ht_cert *c, const char *cn)
{
    int rv = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem());
    BIO *kb = BIO_new(BIO_s_mem());
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int n;

    memset(c, 0, sizeof *c);
    if (key == NULL || x == NULL || cb == NULL || kb == NULL ||
        RAND_bytes(serial, sizeof serial) != 1) {
        goto out;
    }
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ==
                          NULL) {
        goto out;
    }
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                              "IP:127.0.0.1,IP:::1,DNS:localhost");
    if (ext == NULL || !X509_add_ext(x, ext, -1)) {
        goto out;
    }
    if (X509_sign(x, key, EVP_sha256()) == 0 || !PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL)) {
        goto out;
    }
    c->cert_pem = ht_bio_dup(cb, &c->cert_len);
    c->key_pem = ht_bio_dup(kb, &c->key_len);
    n = i2d_X509(x, &c->der);
    if (c->cert_pem == NULL || c->key_pem == NULL || n <= 0) {
        goto out;
    }
    c->der_len = (size_t)n;
    rv = 0;
out:
    if (rv != 0) {
        ht_cert_free(c);
    }
    X509_EXTENSION_free(ext);
    BN_free(bn);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return rv;
}

static inline int ht_write_file(const char *path, const char *data,
                                size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* --- the server on its own loop thread ---------------------------------- */

struct ht_fixture;
typedef void (*ht_fn)(struct ht_fixture *fx, void *arg);
typedef bool (*ht_pred)(struct ht_fixture *fx, void *arg);

struct ht_fixture
{
    uv_loop_t loop;
    uv_async_t async;
    uv_prepare_t prepare;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ht_fn call_fn;
    void *call_arg;
    bool call_done;
    ht_pred pred;
    void *pred_arg;
    bool pred_ok;
    bool server_closed; /* close_cb ran */
    bool stopping;

    struct cr_http_server srv;
    SSL_CTX *ctx;
    int port;
    void *user; /* the test's state */
};

static inline void ht_check_pred(struct ht_fixture *fx)
{
    pthread_mutex_lock(&fx->mu);
    if (fx->pred != NULL && !fx->pred_ok && fx->pred(fx, fx->pred_arg)) {
        fx->pred_ok = true;
        pthread_cond_broadcast(&fx->cv);
    }
    pthread_mutex_unlock(&fx->mu);
}

static inline void ht_async_cb(uv_async_t *a)
{
    struct ht_fixture *fx = a->data;
    ht_fn fn;
    void *arg;

    pthread_mutex_lock(&fx->mu);
    fn = fx->call_fn;
    arg = fx->call_arg;
    fx->call_fn = NULL;
    pthread_mutex_unlock(&fx->mu);
    if (fn != NULL) {
        fn(fx, arg);
        pthread_mutex_lock(&fx->mu);
        fx->call_done = true;
        pthread_cond_broadcast(&fx->cv);
        pthread_mutex_unlock(&fx->mu);
    }
    ht_check_pred(fx);
}

static inline void ht_prepare_cb(uv_prepare_t *p)
{
    ht_check_pred(p->data);
}

static inline void *ht_loop_main(void *arg)
{
    struct ht_fixture *fx = arg;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    return NULL;
}

static inline void ht_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Run @fn(fx, arg) on the loop thread and return when it has returned. */
static inline bool ht_call(struct ht_fixture *fx, ht_fn fn, void *arg)
{
    struct timespec ts;
    int rc = 0;

    ht_deadline(&ts, HT_WAIT_MS);
    pthread_mutex_lock(&fx->mu);
    fx->call_fn = fn;
    fx->call_arg = arg;
    fx->call_done = false;
    uv_async_send(&fx->async);
    while (!fx->call_done && rc == 0) {
        rc = pthread_cond_timedwait(&fx->cv, &fx->mu, &ts);
    }
    bool done = fx->call_done;
    pthread_mutex_unlock(&fx->mu);
    return done;
}

/* Block until @pred(fx, arg) holds on the loop thread; false on timeout. */
static inline bool ht_wait(struct ht_fixture *fx, ht_pred pred, void *arg)
{
    struct timespec ts;
    int rc = 0;

    ht_deadline(&ts, HT_WAIT_MS);
    pthread_mutex_lock(&fx->mu);
    fx->pred = pred;
    fx->pred_arg = arg;
    fx->pred_ok = false;
    uv_async_send(&fx->async);
    while (!fx->pred_ok && rc == 0) {
        rc = pthread_cond_timedwait(&fx->cv, &fx->mu, &ts);
    }
    bool ok = fx->pred_ok;
    fx->pred = NULL;
    pthread_mutex_unlock(&fx->mu);
    return ok;
}

/* Start a server on @host, port chosen by the kernel. Returns 0, or the
 * listen error (a negative UV_* code), or -1. */
static inline int ht_start_on(struct ht_fixture *fx, const char *host,
                              const struct ht_cert *cert,
                              const struct cr_http_limits *limits,
                              cr_http_handler handler, void *user)
{
    struct cr_tls_ctx_options opts = {.is_server = true};
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    char err[256];
    int rv;

    memset(fx, 0, sizeof *fx);
    fx->user = user;
    fx->ctx = cr_tls_ctx_new(cert->cert_pem, cert->cert_len, cert->key_pem,
                             cert->key_len, &opts, err, sizeof err);
    if (fx->ctx == NULL) {
        fprintf(stderr, "cr_tls_ctx_new: %s\n", err);
        return -1;
    }
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    uv_loop_init(&fx->loop);
    uv_async_init(&fx->loop, &fx->async, ht_async_cb);
    fx->async.data = fx;
    uv_prepare_init(&fx->loop, &fx->prepare);
    fx->prepare.data = fx;
    uv_prepare_start(&fx->prepare, ht_prepare_cb);
    if (cr_http_server_init(&fx->srv, &fx->loop, fx->ctx, limits, handler) !=
        0) {
        return -1;
    }
    fx->srv.data = fx;
    rv = cr_http_server_listen(&fx->srv, host, 0);
    if (rv != 0) {
        /* undo everything so that the caller can simply give up */
        cr_http_server_close(&fx->srv, NULL);
        uv_close((uv_handle_t *)&fx->async, NULL);
        uv_close((uv_handle_t *)&fx->prepare, NULL);
        uv_run(&fx->loop, UV_RUN_DEFAULT);
        uv_loop_close(&fx->loop);
        SSL_CTX_free(fx->ctx);
        pthread_cond_destroy(&fx->cv);
        pthread_mutex_destroy(&fx->mu);
        return rv;
    }
    uv_tcp_getsockname(&fx->srv.listener, (struct sockaddr *)&ss, &len);
    fx->port = ss.ss_family == AF_INET6
                   ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return pthread_create(&fx->thread, NULL, ht_loop_main, fx) == 0 ? 0 : -1;
}

static inline int ht_start(struct ht_fixture *fx, const struct ht_cert *cert,
                           const struct cr_http_limits *limits,
                           cr_http_handler handler, void *user)
{
    return ht_start_on(fx, "127.0.0.1", cert, limits, handler, user);
}

static inline void ht_close_handles(struct ht_fixture *fx)
{
    uv_close((uv_handle_t *)&fx->async, NULL);
    uv_close((uv_handle_t *)&fx->prepare, NULL);
}

static inline void ht_server_closed(struct cr_http_server *srv)
{
    struct ht_fixture *fx = srv->data;
    fx->server_closed = true;
    if (fx->stopping) {
        ht_close_handles(fx);
    }
}

static inline void ht_stop_on_loop(struct ht_fixture *fx, void *arg)
{
    (void)arg;
    fx->stopping = true;
    if (fx->server_closed) {
        ht_close_handles(fx);
    } else if (!fx->srv.closing) {
        cr_http_server_close(&fx->srv, ht_server_closed);
    }
}

/* Close the server, end the loop thread; returns uv_loop_close()'s code,
 * which is non-zero if anything was left open. */
static inline int ht_stop(struct ht_fixture *fx)
{
    int rv;

    if (!ht_call(fx, ht_stop_on_loop, NULL)) {
        return -1;
    }
    pthread_join(fx->thread, NULL);
    rv = uv_loop_close(&fx->loop);
    SSL_CTX_free(fx->ctx);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->mu);
    return rv;
}

/* --- a blocking TLS client ------------------------------------------------- */

struct ht_client
{
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf; /* received plaintext not yet consumed */
    size_t len;
    size_t cap;
};

struct ht_resp
{
    int status;
    char head[8192]; /* status line and headers, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
};

static inline void ht_resp_free(struct ht_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Connect and handshake; @cert may be NULL (no client certificate). */
static inline int ht_client_connect(struct ht_client *c, int port,
                                    const struct ht_cert *cert)
{
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = HT_WAIT_MS / 1000};
    int one = 1;

    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (cert != NULL) {
        BIO *cb = BIO_new_mem_buf(cert->cert_pem, (int)cert->cert_len);
        BIO *kb = BIO_new_mem_buf(cert->key_pem, (int)cert->key_len);
        X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
        int ok = x != NULL && k != NULL &&
                 SSL_CTX_use_certificate(c->ctx, x) == 1 &&
                 SSL_CTX_use_PrivateKey(c->ctx, k) == 1;
        X509_free(x);
        EVP_PKEY_free(k);
        BIO_free(cb);
        BIO_free(kb);
        if (!ok) {
            return -1;
        }
    }
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }
    /* a bound on every blocking read: a hung server fails the test */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        return -1;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static inline void ht_client_close(struct ht_client *c)
{
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    SSL_CTX_free(c->ctx);
    free(c->buf);
    ERR_clear_error();
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static inline int ht_client_send(struct ht_client *c, const void *data,
                                 size_t len)
{
    size_t written = 0;
    return SSL_write_ex(c->ssl, data, len, &written) == 1 && written == len
               ? 0
               : -1;
}

static inline int ht_client_send_str(struct ht_client *c, const char *s)
{
    return ht_client_send(c, s, strlen(s));
}

/* Read more plaintext; 0 on data, -1 on EOF, error or timeout. */
static inline int ht_client_fill(struct ht_client *c)
{
    size_t n = 0;

    if (c->cap - c->len < 16384) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 65536;
        char *b = realloc(c->buf, cap);
        if (b == NULL) {
            return -1;
        }
        c->buf = b;
        c->cap = cap;
    }
    if (SSL_read_ex(c->ssl, c->buf + c->len, c->cap - c->len - 1, &n) != 1) {
        ERR_clear_error();
        return -1;
    }
    c->len += n;
    c->buf[c->len] = '\0';
    return 0;
}

/* Read one response (a 100 Continue counts as one). 0 or -1. */
static inline int ht_client_read_response(struct ht_client *c,
                                          struct ht_resp *r)
{
    char *end;
    size_t head_len, clen = 0;
    const char *cl;

    memset(r, 0, sizeof *r);
    while ((end = c->len > 0 ? strstr(c->buf, "\r\n\r\n") : NULL) == NULL) {
        if (ht_client_fill(c) != 0) {
            return -1;
        }
    }
    head_len = (size_t)(end - c->buf) + 4;
    if (head_len >= sizeof r->head) {
        return -1;
    }
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) {
        return -1;
    }
    cl = strcasestr(r->head, "\r\nContent-Length:");
    if (cl != NULL) {
        clen = strtoul(cl + 17, NULL, 10);
    }
    while (c->len < head_len + clen) {
        if (ht_client_fill(c) != 0) {
            return -1;
        }
    }
    r->body = malloc(clen + 1);
    if (r->body == NULL) {
        return -1;
    }
    memcpy(r->body, c->buf + head_len, clen);
    r->body[clen] = '\0';
    r->body_len = clen;
    memmove(c->buf, c->buf + head_len + clen, c->len - head_len - clen);
    c->len -= head_len + clen;
    c->buf[c->len] = '\0';
    return 0;
}

/* Wait for the server to end the connection: true when it did (close_notify
 * or plain EOF), false when data came instead or the read timed out. */
static inline bool ht_client_wait_closed(struct ht_client *c)
{
    char tmp[256];
    size_t n;

    if (c->len > 0) {
        return false;
    }
    errno = 0;
    if (SSL_read_ex(c->ssl, tmp, sizeof tmp, &n) == 1) {
        return false;
    }
    int err = SSL_get_error(c->ssl, 0);
    bool timed_out = err == SSL_ERROR_SYSCALL &&
                     (errno == EAGAIN || errno == EWOULDBLOCK);
    ERR_clear_error();
    return !timed_out;
}

static inline double ht_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif /* CERTRAFT_HTTP_TEST_UTIL_H */
