/*
 * tls_stream.h - a TLS session over a libuv TCP handle.
 *
 * OpenSSL never touches the socket: ciphertext moves between the TCP handle
 * and a pair of memory BIOs, so the whole session lives on the libuv loop
 * with no blocking calls. Both the HTTPS API (node/) and the raft transport
 * (raft/) are built on it.
 *
 * Life cycle: cr_tls_stream_init() -> uv_accept()/uv_tcp_connect() on
 * s->tcp -> cr_tls_stream_start() -> handshake_cb -> read_cb ... ->
 * cr_tls_stream_close() -> close_cb, after which the memory may be freed.
 * Every callback is optional except close_cb's.
 */
#ifndef CERTRAFT_TLS_STREAM_H
#define CERTRAFT_TLS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <uv.h>

struct cr_tls_stream;

/* status is 0 on success, a negative UV_* code or CR_TLS_EHANDSHAKE. */
typedef void (*cr_tls_handshake_cb)(struct cr_tls_stream *s, int status);
/* nread > 0: plaintext bytes in buf (valid during the call only).
 * nread < 0: UV_EOF when the peer closed, another UV_* code on error;
 * the user is expected to close the stream then. */
typedef void (*cr_tls_read_cb)(struct cr_tls_stream *s, ssize_t nread,
                               const char *buf);
typedef void (*cr_tls_close_cb)(struct cr_tls_stream *s);
/* Called when every byte queued by cr_tls_stream_write() has been handed
 * to the kernel; lets writers apply back-pressure. */
typedef void (*cr_tls_drain_cb)(struct cr_tls_stream *s);

#define CR_TLS_EHANDSHAKE (-10001)

struct cr_tls_stream
{
    void *data;   /* user data */
    uv_tcp_t tcp; /* connect/accept on this before cr_tls_stream_start */
    SSL *ssl;
    bool is_server;
    bool handshake_done;
    bool closing;
    char errmsg[256]; /* why the handshake or the session failed */

    /* private */
    BIO *rbio; /* ciphertext received from the network, read by SSL */
    BIO *wbio; /* ciphertext produced by SSL, to be sent */
    cr_tls_handshake_cb handshake_cb;
    cr_tls_read_cb read_cb;
    cr_tls_close_cb close_cb;
    cr_tls_drain_cb drain_cb;
    size_t pending_writes; /* uv_write requests in flight */
    size_t queued_bytes;   /* ciphertext bytes in flight */
    bool reading;
    bool read_paused;
    uv_timer_t *handshake_timer; /* handshake deadline; NULL when none */
    unsigned handshake_timeout_ms;
    /* plaintext accepted by cr_tls_stream_write() that SSL could not take
     * yet (handshake not done, or renegotiation in progress) */
    struct cr_tls_chunk *wq_head;
    struct cr_tls_chunk **wq_tail;
    size_t wq_bytes;
    unsigned char *peer_der; /* cr_tls_stream_peer_der() cache */
    size_t peer_der_len;
    uv_timer_t *linger_timer; /* bounds the wait for writes at close */
    int eof_status;    /* TCP read error/EOF not yet delivered, or 0 */
    bool started;      /* cr_tls_stream_start() succeeded */
    bool failed;       /* fatal error reported; no close_notify at close */
    bool read_done;    /* EOF or error delivered; no more read_cb */
    bool in_process;   /* inside process(): guards re-entry from callbacks */
};

/* Prepare @s: initialises s->tcp on @loop and an SSL object from @ctx.
 * Returns 0 or a negative UV_* code. */
int cr_tls_stream_init(struct cr_tls_stream *s, uv_loop_t *loop,
                       SSL_CTX *ctx, bool is_server);

/* For clients: the server name to send (SNI) and, when @verify_host is
 * true, to check against the server's certificate. Call before start. */
int cr_tls_stream_set_hostname(struct cr_tls_stream *s, const char *host,
                               bool verify_host);

/* Fail the handshake with UV_ETIMEDOUT unless it completes in @ms. */
void cr_tls_stream_set_handshake_timeout(struct cr_tls_stream *s,
                                         unsigned ms);

/* Begin the handshake and reading; s->tcp must be connected. */
int cr_tls_stream_start(struct cr_tls_stream *s,
                        cr_tls_handshake_cb handshake_cb,
                        cr_tls_read_cb read_cb);

/* Queue @len bytes of plaintext (copied). 0 or a negative UV_* code. */
int cr_tls_stream_write(struct cr_tls_stream *s, const void *buf,
                        size_t len);

/* Ciphertext bytes handed to libuv but not yet written, plus plaintext
 * still queued behind the handshake. */
size_t cr_tls_stream_queued(const struct cr_tls_stream *s);
void cr_tls_stream_set_drain_cb(struct cr_tls_stream *s, cr_tls_drain_cb cb);

/* Stop / resume delivering read_cb (back-pressure from the consumer). */
void cr_tls_stream_pause(struct cr_tls_stream *s);
void cr_tls_stream_resume(struct cr_tls_stream *s);

/* Send close_notify (best effort), close the TCP handle, then call @cb.
 * Safe to call more than once and from inside any callback. */
void cr_tls_stream_close(struct cr_tls_stream *s, cr_tls_close_cb cb);

/* The peer's certificate as DER, or NULL. The buffer is owned by the
 * stream and lives until close_cb. */
const unsigned char *cr_tls_stream_peer_der(struct cr_tls_stream *s,
                                            size_t *len);

/*
 * SSL_CTX helpers.
 *
 * A server context presents @cert_pem/@key_pem (the cluster certificate)
 * and requests a client certificate without verifying its chain: certraft
 * authenticates by thumbprint afterwards (RavenDB's model). When
 * @require_peer_cert is true a peer without a certificate fails the
 * handshake; when @tls13_only is true TLS 1.2 is refused.
 *
 * A client context presents @cert_pem/@key_pem as its client certificate.
 *
 * @verify, when non-NULL, is called during the handshake with the peer's
 * leaf certificate as DER; returning false aborts the handshake. It is how
 * raft peers refuse a node whose certificate is not a cluster certificate.
 */
typedef bool (*cr_tls_verify_fn)(void *arg, const unsigned char *der,
                                 size_t len);

struct cr_tls_ctx_options
{
    bool is_server;
    bool require_peer_cert;
    bool tls13_only;
    cr_tls_verify_fn verify; /* NULL: accept any peer certificate */
    void *verify_arg;
};

/* Load PEM certificate chain and key from memory. On failure returns NULL
 * and writes a reason into @err. */
SSL_CTX *cr_tls_ctx_new(const char *cert_pem, size_t cert_len,
                        const char *key_pem, size_t key_len,
                        const struct cr_tls_ctx_options *opts, char *err,
                        size_t errlen);

#endif /* CERTRAFT_TLS_STREAM_H */
