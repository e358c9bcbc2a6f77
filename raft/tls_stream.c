/*
 * tls_stream.c - a TLS session driven by libuv through memory BIOs.
 *
 * The TCP handle reads ciphertext into rbio and OpenSSL's output is drained
 * from wbio into uv_write() requests after every SSL call, so nothing here
 * ever blocks and the session needs no thread of its own. Callbacks may
 * re-enter the stream (write, pause, resume, close); the state flags in
 * struct cr_tls_stream are what keep that safe.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <certraft/tls_stream.h>

/* Long enough for a slow peer to take a response, short enough that a
 * peer that stopped reading cannot pin the connection. */
#define LINGER_MS 5000
#define READ_BUF_SIZE (64 * 1024)
/* One TLS record's worth of plaintext per SSL_read(). */
#define PLAIN_BUF_SIZE (16 * 1024)
#define MAX_WRITE_CHUNK (1024 * 1024)

struct cr_tls_chunk
{
    struct cr_tls_chunk *next;
    size_t len;
    char data[];
};

struct write_req
{
    uv_write_t req;
    struct cr_tls_stream *s;
    size_t len;
    char data[];
};

static void process(struct cr_tls_stream *s);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void close_timer(uv_timer_t **t)
{
    if (*t != NULL) {
        uv_timer_stop(*t);
        uv_close((uv_handle_t *)*t, free_handle);
        *t = NULL;
    }
}

/* Describe the first queued OpenSSL error, and clear the queue: it is
 * per thread and shared by every stream, and a stale entry would make the
 * next SSL_get_error() on another stream report a fatal error. */
static void set_ssl_errmsg(struct cr_tls_stream *s, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160];

    if (e == 0) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", what);
    } else {
        ERR_error_string_n(e, buf, sizeof buf);
        long vr = s->ssl != NULL ? SSL_get_verify_result(s->ssl) : X509_V_OK;
        if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
            vr == X509_V_ERR_APPLICATION_VERIFICATION) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "%s: peer certificate not trusted (%s)", what, buf);
        } else if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
                   vr != X509_V_OK) {
            snprintf(s->errmsg, sizeof s->errmsg, "%s: %s (%s)", what,
                     X509_verify_cert_error_string(vr), buf);
        } else {
            snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what, buf);
        }
    }
    ERR_clear_error();
}

/* Stop reading the socket once the session can no longer use input;
 * start_reading() is the other half. */
static void update_reading(struct cr_tls_stream *s)
{
    bool want = s->started && !s->closing && !s->failed && !s->read_done &&
                s->eof_status == 0 && !s->read_paused;
    if (!want && s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
    }
}

static void free_wq(struct cr_tls_stream *s)
{
    while (s->wq_head != NULL) {
        struct cr_tls_chunk *c = s->wq_head;
        s->wq_head = c->next;
        free(c);
    }
    s->wq_tail = &s->wq_head;
    s->wq_bytes = 0;
}

/* Report the end of the session exactly once, through the callback that
 * fits the phase it ended in. */
static void fail(struct cr_tls_stream *s, int status)
{
    if (s->closing || s->failed) {
        return;
    }
    s->failed = true;
    update_reading(s);
    free_wq(s);
    if (s->read_done) {
        return; /* EOF already told the user; later writes will fail */
    }
    if (!s->handshake_done) {
        close_timer(&s->handshake_timer);
        if (s->handshake_cb != NULL) {
            s->handshake_cb(s, status);
            return;
        }
    }
    s->read_done = true;
    if (s->read_cb != NULL) {
        s->read_cb(s, status, NULL);
    }
}

static void maybe_drain(struct cr_tls_stream *s)
{
    if (s->handshake_done && !s->closing && !s->failed &&
        s->pending_writes == 0 && s->wq_head == NULL && s->drain_cb != NULL) {
        s->drain_cb(s);
    }
}

static void close_tcp(struct cr_tls_stream *s);

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct cr_tls_stream *s = w->s;

    s->pending_writes--;
    s->queued_bytes -= w->len;
    free(w);

    if (s->closing) {
        if (s->pending_writes == 0 && !uv_is_closing((uv_handle_t *)&s->tcp)) {
            close_tcp(s);
        }
        return;
    }
    if (status < 0) {
        snprintf(s->errmsg, sizeof s->errmsg, "write failed: %s",
                 uv_strerror(status));
        fail(s, status);
        return;
    }
    maybe_drain(s);
}

/* Hand everything OpenSSL produced to the socket. libuv writes straight
 * away when its queue is empty, so an alert or close_notify flushed just
 * before uv_close() still reaches the kernel. */
static int flush(struct cr_tls_stream *s)
{
    size_t pending;

    while ((pending = BIO_ctrl_pending(s->wbio)) > 0) {
        if (uv_is_closing((uv_handle_t *)&s->tcp)) {
            (void)BIO_reset(s->wbio);
            return UV_ECANCELED;
        }
        if (pending > MAX_WRITE_CHUNK) {
            pending = MAX_WRITE_CHUNK;
        }
        struct write_req *w = malloc(sizeof *w + pending);
        if (w == NULL) {
            return UV_ENOMEM;
        }
        int n = BIO_read(s->wbio, w->data, (int)pending);
        if (n <= 0) {
            free(w);
            return UV_EIO;
        }
        w->s = s;
        w->len = (size_t)n;
        uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
        int rv = uv_write(&w->req, (uv_stream_t *)&s->tcp, &buf, 1, on_write);
        if (rv != 0) {
            free(w);
            return rv;
        }
        s->pending_writes++;
        s->queued_bytes += (size_t)n;
    }
    return 0;
}

static bool flush_or_fail(struct cr_tls_stream *s)
{
    int rv = flush(s);
    if (rv != 0 && rv != UV_ECANCELED) {
        snprintf(s->errmsg, sizeof s->errmsg, "write failed: %s",
                 uv_strerror(rv));
        fail(s, rv);
        return false;
    }
    return true;
}

/* 1: all written; 0: SSL needs to read first (renegotiation); <0: error,
 * already recorded in errmsg. */
static int ssl_write_all(struct cr_tls_stream *s, const void *buf, size_t len)
{
    size_t written = 0;
    int rv;

    ERR_clear_error();
    if (SSL_write_ex(s->ssl, buf, len, &written) == 1) {
        rv = 1;
    } else if (SSL_get_error(s->ssl, 0) == SSL_ERROR_WANT_READ) {
        rv = 0;
    } else {
        rv = UV_EPROTO;
    }
    if (rv >= 0) {
        int frv = flush(s);
        if (frv != 0) {
            snprintf(s->errmsg, sizeof s->errmsg, "write failed: %s",
                     uv_strerror(frv));
            return frv;
        }
        return rv;
    }
    set_ssl_errmsg(s, "TLS write failed");
    (void)flush(s);
    return UV_EPROTO;
}

static int enqueue(struct cr_tls_stream *s, const void *buf, size_t len)
{
    struct cr_tls_chunk *c = malloc(sizeof *c + len);
    if (c == NULL) {
        return UV_ENOMEM;
    }
    c->next = NULL;
    c->len = len;
    memcpy(c->data, buf, len);
    *s->wq_tail = c;
    s->wq_tail = &c->next;
    s->wq_bytes += len;
    return 0;
}

static void drain_wq(struct cr_tls_stream *s)
{
    while (s->wq_head != NULL && !s->closing && !s->failed) {
        struct cr_tls_chunk *c = s->wq_head;
        int rv = ssl_write_all(s, c->data, c->len);
        if (rv == 0) {
            return;
        }
        if (rv < 0) {
            fail(s, rv);
            return;
        }
        s->wq_head = c->next;
        if (s->wq_head == NULL) {
            s->wq_tail = &s->wq_head;
        }
        s->wq_bytes -= c->len;
        free(c);
    }
}

static void handshake_step(struct cr_tls_stream *s)
{
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);

    if (r != 1 && err != SSL_ERROR_WANT_READ) {
        set_ssl_errmsg(s, "TLS handshake failed");
        /* Send the alert so the peer learns why. */
        (void)flush(s);
        fail(s, CR_TLS_EHANDSHAKE);
        return;
    }
    if (!flush_or_fail(s)) {
        return;
    }
    if (r != 1) {
        if (s->eof_status != 0) {
            snprintf(s->errmsg, sizeof s->errmsg,
                     "TLS handshake failed: connection closed by peer (%s)",
                     uv_strerror(s->eof_status));
            fail(s, CR_TLS_EHANDSHAKE);
        }
        return;
    }
    s->handshake_done = true;
    close_timer(&s->handshake_timer);
    drain_wq(s);
    if (s->failed || s->closing) {
        return;
    }
    if (s->handshake_cb != NULL) {
        s->handshake_cb(s, 0);
    }
}

static void read_loop(struct cr_tls_stream *s)
{
    char buf[PLAIN_BUF_SIZE];

    while (!s->closing && !s->failed && !s->read_done && !s->read_paused) {
        ERR_clear_error();
        int n = SSL_read(s->ssl, buf, sizeof buf);
        int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, n);
        /* Post-handshake messages (key updates) may need an answer. */
        if (err != SSL_ERROR_SSL && !flush_or_fail(s)) {
            return;
        }
        if (n > 0) {
            if (s->read_cb != NULL) {
                s->read_cb(s, n, buf);
            }
            continue;
        }
        if (err == SSL_ERROR_WANT_READ) {
            if (s->eof_status != 0) {
                /* Everything before the TCP EOF has been delivered. */
                s->read_done = true;
                if (s->read_cb != NULL) {
                    s->read_cb(s, s->eof_status, NULL);
                }
            }
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            s->read_done = true;
            update_reading(s);
            if (s->read_cb != NULL) {
                s->read_cb(s, UV_EOF, NULL);
            }
            return;
        }
        set_ssl_errmsg(s, "TLS session failed");
        (void)flush(s);
        fail(s, UV_EPROTO);
        return;
    }
}

/* Run the session as far as the ciphertext in rbio allows. */
static void process(struct cr_tls_stream *s)
{
    if (s->in_process || !s->started || s->closing || s->failed) {
        return;
    }
    s->in_process = true;
    if (!s->handshake_done) {
        handshake_step(s);
    }
    if (s->handshake_done) {
        read_loop(s);
        /* A write refused during a renegotiation may go through now. */
        drain_wq(s);
    }
    s->in_process = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    if (suggested > READ_BUF_SIZE) {
        suggested = READ_BUF_SIZE;
    }
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct cr_tls_stream *s = stream->data;

    if (nread > 0 && !s->closing && !s->failed) {
        if (BIO_write(s->rbio, buf->base, (int)nread) != (int)nread) {
            nread = UV_ENOMEM;
        }
    }
    free(buf->base);
    if (s->closing || s->failed || nread == 0) {
        return;
    }
    if (nread < 0) {
        s->eof_status = (int)nread;
        update_reading(s);
    }
    process(s);
}

static void start_reading(struct cr_tls_stream *s)
{
    if (s->started && !s->closing && !s->failed && !s->read_done &&
        s->eof_status == 0 && !s->read_paused && !s->reading) {
        int rv = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
        if (rv != 0) {
            snprintf(s->errmsg, sizeof s->errmsg, "cannot read: %s",
                     uv_strerror(rv));
            fail(s, rv);
            return;
        }
        s->reading = true;
    }
}

static void on_handshake_timeout(uv_timer_t *t)
{
    struct cr_tls_stream *s = t->data;
    if (s->handshake_done || s->closing || s->failed) {
        return;
    }
    snprintf(s->errmsg, sizeof s->errmsg,
             "TLS handshake timed out after %u ms", s->handshake_timeout_ms);
    fail(s, UV_ETIMEDOUT);
}

int cr_tls_stream_init(struct cr_tls_stream *s, uv_loop_t *loop,
                       SSL_CTX *ctx, bool is_server)
{
    void *data = s->data;

    memset(s, 0, sizeof *s);
    s->data = data;
    s->is_server = is_server;
    s->wq_tail = &s->wq_head;

    s->ssl = SSL_new(ctx);
    if (s->ssl == NULL) {
        ERR_clear_error();
        return UV_ENOMEM;
    }
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_free(s->ssl);
        s->ssl = NULL;
        ERR_clear_error();
        return UV_ENOMEM;
    }
    /* An empty BIO means "not yet", never end of stream. */
    BIO_set_mem_eof_return(s->rbio, -1);
    BIO_set_mem_eof_return(s->wbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    if (is_server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
    }

    int rv = uv_tcp_init(loop, &s->tcp);
    if (rv != 0) {
        SSL_free(s->ssl); /* frees both BIOs */
        s->ssl = NULL;
        return rv;
    }
    s->tcp.data = s;
    return 0;
}

int cr_tls_stream_set_hostname(struct cr_tls_stream *s, const char *host,
                               bool verify_host)
{
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 ||
                 inet_pton(AF_INET6, host, addr) == 1;
    int ok = 1;

    if (s->ssl == NULL || s->is_server || s->started) {
        return UV_EINVAL;
    }
    /* SNI carries DNS names only (RFC 6066). */
    if (!is_ip) {
        ok = SSL_set_tlsext_host_name(s->ssl, host);
    }
    if (ok && verify_host) {
        ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), host)
                   : SSL_set1_host(s->ssl, host);
    }
    if (!ok) {
        ERR_clear_error();
        return UV_EINVAL;
    }
    return 0;
}

void cr_tls_stream_set_handshake_timeout(struct cr_tls_stream *s,
                                         unsigned ms)
{
    s->handshake_timeout_ms = ms;
}

int cr_tls_stream_start(struct cr_tls_stream *s,
                        cr_tls_handshake_cb handshake_cb,
                        cr_tls_read_cb read_cb)
{
    int rv;

    if (s->ssl == NULL || s->started || s->closing) {
        return UV_EINVAL;
    }
    s->handshake_cb = handshake_cb;
    s->read_cb = read_cb;

    if (s->handshake_timeout_ms > 0) {
        uv_timer_t *t = malloc(sizeof *t);
        if (t == NULL) {
            return UV_ENOMEM;
        }
        rv = uv_timer_init(s->tcp.loop, t);
        if (rv != 0) {
            free(t);
            return rv;
        }
        t->data = s;
        s->handshake_timer = t;
        uv_timer_start(t, on_handshake_timeout, s->handshake_timeout_ms, 0);
    }

    s->started = true;
    if (!s->read_paused) {
        rv = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
        if (rv != 0) {
            snprintf(s->errmsg, sizeof s->errmsg, "cannot read: %s",
                     uv_strerror(rv));
            goto err;
        }
        s->reading = true;
    }
    if (!s->is_server) {
        /* Send the ClientHello now; the reply drives the rest. A failure
         * this early is a local configuration problem: report it here
         * rather than through a callback. */
        ERR_clear_error();
        int r = SSL_do_handshake(s->ssl);
        if (r != 1 && SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ) {
            set_ssl_errmsg(s, "TLS handshake failed");
            rv = CR_TLS_EHANDSHAKE;
            goto err;
        }
        rv = flush(s);
        if (rv != 0) {
            snprintf(s->errmsg, sizeof s->errmsg, "write failed: %s",
                     uv_strerror(rv));
            goto err;
        }
    }
    return 0;

err:
    s->started = false;
    if (s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
    }
    close_timer(&s->handshake_timer);
    return rv;
}

int cr_tls_stream_write(struct cr_tls_stream *s, const void *buf, size_t len)
{
    if (s->ssl == NULL || s->closing || s->failed) {
        return UV_EPIPE;
    }
    if (len == 0) {
        return 0;
    }
    if (!s->handshake_done || s->wq_head != NULL) {
        return enqueue(s, buf, len);
    }
    int rv = ssl_write_all(s, buf, len);
    if (rv == 0) {
        return enqueue(s, buf, len);
    }
    if (rv < 0) {
        /* The caller learns from the return value; the session is dead. */
        s->failed = true;
        update_reading(s);
        return rv;
    }
    return 0;
}

size_t cr_tls_stream_queued(const struct cr_tls_stream *s)
{
    /* Plaintext still waiting for the handshake counts too: to a writer
     * applying back-pressure it is just as unsent. */
    return s->queued_bytes + s->wq_bytes;
}

void cr_tls_stream_set_drain_cb(struct cr_tls_stream *s, cr_tls_drain_cb cb)
{
    s->drain_cb = cb;
}

void cr_tls_stream_pause(struct cr_tls_stream *s)
{
    s->read_paused = true;
    update_reading(s);
}

void cr_tls_stream_resume(struct cr_tls_stream *s)
{
    if (!s->read_paused) {
        return;
    }
    s->read_paused = false;
    start_reading(s);
    /* Records already pulled off the socket would otherwise sit in rbio
     * (or decrypted in SSL) until more ciphertext arrived. */
    process(s);
}

static void on_tcp_close(uv_handle_t *h)
{
    struct cr_tls_stream *s = h->data;

    SSL_free(s->ssl); /* frees both BIOs */
    s->ssl = NULL;
    s->rbio = NULL;
    s->wbio = NULL;
    OPENSSL_free(s->peer_der);
    s->peer_der = NULL;
    s->peer_der_len = 0;
    if (s->close_cb != NULL) {
        s->close_cb(s);
    }
}

static void close_tcp(struct cr_tls_stream *s)
{
    close_timer(&s->linger_timer);
    uv_close((uv_handle_t *)&s->tcp, on_tcp_close);
}

static void on_linger_timeout(uv_timer_t *t)
{
    struct cr_tls_stream *s = t->data;
    if (!uv_is_closing((uv_handle_t *)&s->tcp)) {
        close_tcp(s); /* cancels the writes still queued */
    }
}

void cr_tls_stream_close(struct cr_tls_stream *s, cr_tls_close_cb cb)
{
    if (s->closing) {
        if (s->close_cb == NULL) {
            s->close_cb = cb;
        }
        return;
    }
    s->closing = true;
    s->close_cb = cb;
    if (s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = false;
    }
    free_wq(s);
    close_timer(&s->handshake_timer);

    if (s->started && s->handshake_done && !s->failed) {
        ERR_clear_error();
        (void)SSL_shutdown(s->ssl);
        ERR_clear_error();
        (void)flush(s);
    }
    if (s->pending_writes > 0) {
        /* Let queued data (a response, the close_notify) go out first;
         * on_write() closes the handle once the last write is done. */
        uv_timer_t *t = malloc(sizeof *t);
        if (t != NULL && uv_timer_init(s->tcp.loop, t) == 0) {
            t->data = s;
            s->linger_timer = t;
            uv_timer_start(t, on_linger_timeout, LINGER_MS, 0);
            return;
        }
        free(t);
    }
    close_tcp(s);
}

const unsigned char *cr_tls_stream_peer_der(struct cr_tls_stream *s,
                                            size_t *len)
{
    if (s->peer_der == NULL && s->ssl != NULL) {
        X509 *peer = SSL_get0_peer_certificate(s->ssl);
        if (peer != NULL) {
            unsigned char *der = NULL;
            int n = i2d_X509(peer, &der);
            if (n > 0) {
                s->peer_der = der;
                s->peer_der_len = (size_t)n;
            } else {
                ERR_clear_error();
            }
        }
    }
    if (len != NULL) {
        *len = s->peer_der != NULL ? s->peer_der_len : 0;
    }
    return s->peer_der;
}
