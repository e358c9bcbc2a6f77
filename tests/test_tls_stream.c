/*
 * test_tls_stream.c - cr_tls_stream and cr_tls_ctx_new over real loopback
 * sockets.
 *
 * Server and client streams share one loop, so every test is a single
 * uv_run() whose callbacks script the conversation; a guard timer turns a
 * hang into a failure instead of a stuck test run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/tls_stream.h>

#include "harness.h"
#include "tls_test_certs.h"

#define GUARD_MS 20000

struct fx;
struct peer;

typedef void (*peer_hook)(struct peer *p);

struct peer
{
    struct cr_tls_stream s;
    struct fx *fx;
    bool inited;
    bool hs_called;
    int hs_status;
    int read_err; /* first nread < 0 */
    char errmsg[256];
    unsigned char *got;
    size_t got_len, got_cap;
    unsigned reads;
    unsigned close_cbs;
    unsigned cbs_after_close;
    unsigned drains;
    int version; /* negotiated protocol */
    peer_hook on_handshake; /* after a successful handshake */
    void (*on_data)(struct peer *p, const char *buf, size_t len);
};

struct fx
{
    uv_loop_t loop;
    uv_tcp_t listener;
    bool listener_open;
    uv_tcp_t raw; /* a server that accepts but never speaks */
    bool use_raw;
    bool raw_open;
    int port;
    SSL_CTX *sctx, *cctx;
    struct peer srv, cli;
    uv_connect_t creq;
    uv_timer_t guard;
    bool guard_fired;
    uv_timer_t aux;
    bool aux_open;
    /* test script data */
    unsigned char *payload;
    size_t payload_len;
    size_t paused_at;
};

static struct tls_test_cert server_cert, client_cert, other_cert;

/* --- verify callbacks ---------------------------------------------------- */

struct verify_rec
{
    bool answer;
    unsigned calls;
    unsigned char der[4096];
    size_t der_len;
};

static bool record_verify(void *arg, const unsigned char *der, size_t len)
{
    struct verify_rec *v = arg;
    v->calls++;
    if (len <= sizeof v->der) {
        memcpy(v->der, der, len);
        v->der_len = len;
    }
    return v->answer;
}

static SSL_CTX *make_ctx(const struct tls_test_cert *c, bool server,
                         bool require, struct verify_rec *v)
{
    struct cr_tls_ctx_options o = {
        .is_server = server,
        .require_peer_cert = require,
        .tls13_only = false,
        .verify = v != NULL ? record_verify : NULL,
        .verify_arg = v,
    };
    char err[256] = "";
    SSL_CTX *ctx = cr_tls_ctx_new(c->cert_pem, c->cert_len, c->key_pem,
                                  c->key_len, &o, err, sizeof err);
    if (ctx == NULL) {
        fprintf(stderr, "  cr_tls_ctx_new: %s\n", err);
    }
    return ctx;
}

/* --- peer plumbing ------------------------------------------------------- */

static void peer_append(struct peer *p, const char *buf, size_t len)
{
    if (p->got_len + len > p->got_cap) {
        size_t cap = p->got_cap ? p->got_cap : 4096;
        while (cap < p->got_len + len) {
            cap *= 2;
        }
        unsigned char *g = realloc(p->got, cap);
        if (g == NULL) {
            abort();
        }
        p->got = g;
        p->got_cap = cap;
    }
    memcpy(p->got + p->got_len, buf, len);
    p->got_len += len;
}

static void peer_close_cb(struct cr_tls_stream *s)
{
    struct peer *p = s->data;
    p->close_cbs++;
}

static void peer_close(struct peer *p)
{
    if (p->inited) {
        cr_tls_stream_close(&p->s, peer_close_cb);
    }
}

static void peer_handshake(struct cr_tls_stream *s, int status)
{
    struct peer *p = s->data;
    if (s->closing) {
        p->cbs_after_close++;
        return;
    }
    p->hs_called = true;
    p->hs_status = status;
    p->version = SSL_version(s->ssl);
    if (status != 0) {
        snprintf(p->errmsg, sizeof p->errmsg, "%s", s->errmsg);
        peer_close(p);
        return;
    }
    if (p->on_handshake != NULL) {
        p->on_handshake(p);
    }
}

static void peer_read(struct cr_tls_stream *s, ssize_t nread,
                      const char *buf)
{
    struct peer *p = s->data;
    if (s->closing) {
        p->cbs_after_close++;
        return;
    }
    if (nread < 0) {
        if (p->read_err == 0) {
            p->read_err = (int)nread;
            snprintf(p->errmsg, sizeof p->errmsg, "%s", s->errmsg);
        }
        peer_close(p);
        return;
    }
    p->reads++;
    if (p->on_data != NULL) {
        p->on_data(p, buf, (size_t)nread);
    } else {
        peer_append(p, buf, (size_t)nread);
    }
}

static void peer_drain(struct cr_tls_stream *s)
{
    struct peer *p = s->data;
    if (s->closing) {
        p->cbs_after_close++;
    }
    p->drains++;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct fx *fx = req->data;
    CHECK_INT(status, 0);
    if (status != 0) {
        peer_close(&fx->cli);
        return;
    }
    CHECK_INT(cr_tls_stream_start(&fx->cli.s, peer_handshake, peer_read), 0);
}

static void on_raw_close(uv_handle_t *h)
{
    (void)h;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct fx *fx = listener->data;
    CHECK_INT(status, 0);
    if (fx->use_raw) {
        uv_tcp_init(&fx->loop, &fx->raw);
        fx->raw_open = true;
        CHECK_INT(uv_accept(listener, (uv_stream_t *)&fx->raw), 0);
    } else {
        fx->srv.s.data = &fx->srv;
        CHECK_INT(cr_tls_stream_init(&fx->srv.s, &fx->loop, fx->sctx, true),
                  0);
        fx->srv.inited = true;
        CHECK_INT(uv_accept(listener, (uv_stream_t *)&fx->srv.s.tcp), 0);
        CHECK_INT(cr_tls_stream_start(&fx->srv.s, peer_handshake, peer_read),
                  0);
        cr_tls_stream_set_drain_cb(&fx->srv.s, peer_drain);
    }
    /* One connection per test. */
    uv_close((uv_handle_t *)&fx->listener, NULL);
    fx->listener_open = false;
}

static void on_guard(uv_timer_t *t)
{
    struct fx *fx = t->data;
    fx->guard_fired = true;
    peer_close(&fx->srv);
    peer_close(&fx->cli);
    if (fx->listener_open) {
        uv_close((uv_handle_t *)&fx->listener, NULL);
        fx->listener_open = false;
    }
    if (fx->raw_open) {
        uv_close((uv_handle_t *)&fx->raw, on_raw_close);
        fx->raw_open = false;
    }
    if (fx->aux_open) {
        uv_close((uv_handle_t *)&fx->aux, NULL);
        fx->aux_open = false;
    }
}

static void fx_setup(struct fx *fx, SSL_CTX *sctx, SSL_CTX *cctx)
{
    memset(fx, 0, sizeof *fx);
    fx->sctx = sctx;
    fx->cctx = cctx;
    fx->srv.fx = fx;
    fx->cli.fx = fx;
    CHECK_INT(uv_loop_init(&fx->loop), 0);

    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&fx->loop, &fx->listener);
    fx->listener.data = fx;
    fx->listener_open = true;
    CHECK_INT(uv_tcp_bind(&fx->listener, (struct sockaddr *)&addr, 0), 0);
    CHECK_INT(uv_listen((uv_stream_t *)&fx->listener, 8, on_connection), 0);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    uv_tcp_getsockname(&fx->listener, (struct sockaddr *)&ss, &sl);
    fx->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

    uv_timer_init(&fx->loop, &fx->guard);
    fx->guard.data = fx;
    uv_timer_start(&fx->guard, on_guard, GUARD_MS, 0);
    /* The guard must not keep the loop alive by itself. */
    uv_unref((uv_handle_t *)&fx->guard);
}

/* Connect the client and run until every handle has closed. */
static void fx_run(struct fx *fx, unsigned hs_timeout_ms)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", fx->port, &addr);
    fx->cli.s.data = &fx->cli;
    CHECK_INT(cr_tls_stream_init(&fx->cli.s, &fx->loop, fx->cctx, false), 0);
    fx->cli.inited = true;
    CHECK_INT(cr_tls_stream_set_hostname(&fx->cli.s, "localhost", false), 0);
    if (hs_timeout_ms > 0) {
        cr_tls_stream_set_handshake_timeout(&fx->cli.s, hs_timeout_ms);
    }
    fx->creq.data = fx;
    CHECK_INT(uv_tcp_connect(&fx->creq, &fx->cli.s.tcp,
                             (struct sockaddr *)&addr, on_connect),
              0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static void fx_teardown(struct fx *fx)
{
    uv_close((uv_handle_t *)&fx->guard, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    CHECK(!fx->guard_fired);
    CHECK_INT(uv_loop_close(&fx->loop), 0);
    CHECK_INT(fx->cli.close_cbs, fx->cli.inited ? 1 : 0);
    CHECK_INT(fx->srv.close_cbs, fx->srv.inited ? 1 : 0);
    CHECK_INT(fx->cli.cbs_after_close, 0);
    CHECK_INT(fx->srv.cbs_after_close, 0);
    free(fx->cli.got);
    free(fx->srv.got);
    free(fx->payload);
    SSL_CTX_free(fx->sctx);
    SSL_CTX_free(fx->cctx);
}

static void make_payload(struct fx *fx, size_t len)
{
    fx->payload = malloc(len);
    fx->payload_len = len;
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fx->payload[i] = (unsigned char)x;
    }
}

/* --- tests --------------------------------------------------------------- */

static void close_both_after_handshake(struct peer *p)
{
    /* Client's handshake completes first in TLS 1.3; the server closes
     * once it is done too, and the client then sees EOF. */
    if (p == &p->fx->srv) {
        peer_close(p);
    }
}

TEST(handshake_and_peer_certificates)
{
    struct verify_rec sv = {.answer = true}, cv = {.answer = true};
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, &sv),
             make_ctx(&client_cert, false, false, &cv));
    fx.srv.on_handshake = close_both_after_handshake;
    fx_run(&fx, 5000);

    CHECK(fx.srv.hs_called && fx.srv.hs_status == 0);
    CHECK(fx.cli.hs_called && fx.cli.hs_status == 0);
    CHECK_INT(fx.cli.read_err, UV_EOF);
    /* Each side saw the other's certificate, through both the verify
     * callback and cr_tls_stream_peer_der(). */
    CHECK_INT(sv.calls, 1);
    CHECK_INT(cv.calls, 1);
    CHECK(sv.der_len == client_cert.der_len &&
          memcmp(sv.der, client_cert.der, sv.der_len) == 0);
    CHECK(cv.der_len == server_cert.der_len &&
          memcmp(cv.der, server_cert.der, cv.der_len) == 0);
    fx_teardown(&fx);
}

static void check_peer_der_then_close(struct peer *p)
{
    size_t len = 0;
    const unsigned char *der = cr_tls_stream_peer_der(&p->s, &len);
    const struct tls_test_cert *want =
        p == &p->fx->srv ? &client_cert : &server_cert;
    CHECK(der != NULL);
    CHECK(len == want->der_len && der != NULL &&
          memcmp(der, want->der, len) == 0);
    /* Cached: same buffer the second time. */
    size_t len2 = 0;
    CHECK(cr_tls_stream_peer_der(&p->s, &len2) == der && len2 == len);
    if (p == &p->fx->srv) {
        peer_close(p);
    }
}

TEST(peer_der_matches)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    fx.srv.on_handshake = check_peer_der_then_close;
    fx.cli.on_handshake = check_peer_der_then_close;
    fx_run(&fx, 5000);
    CHECK(fx.srv.hs_status == 0 && fx.srv.hs_called);
    CHECK(fx.cli.hs_status == 0 && fx.cli.hs_called);
    fx_teardown(&fx);
}

static void echo_data(struct peer *p, const char *buf, size_t len)
{
    CHECK_INT(cr_tls_stream_write(&p->s, buf, len), 0);
}

static void client_collect(struct peer *p, const char *buf, size_t len)
{
    peer_append(p, buf, len);
    if (p->got_len >= p->fx->payload_len) {
        peer_close(p);
    }
}

TEST(echo_one_mib_in_chunks)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    make_payload(&fx, 1024 * 1024);
    fx.srv.on_data = echo_data;
    fx.cli.on_data = client_collect;

    /* Written before the connection even exists: everything has to be
     * queued until the handshake is done, then go out in order. */
    fx.cli.s.data = &fx.cli;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", fx.port, &addr);
    CHECK_INT(cr_tls_stream_init(&fx.cli.s, &fx.loop, fx.cctx, false), 0);
    fx.cli.inited = true;
    size_t off = 0, step = 1;
    while (off < fx.payload_len) {
        size_t n = step;
        if (n > fx.payload_len - off) {
            n = fx.payload_len - off;
        }
        CHECK_INT(cr_tls_stream_write(&fx.cli.s, fx.payload + off, n), 0);
        off += n;
        step = step * 7 % 9973 + 1; /* 1 byte .. ~10 KB, irregular */
    }
    CHECK(cr_tls_stream_queued(&fx.cli.s) == fx.payload_len);
    fx.creq.data = &fx;
    CHECK_INT(uv_tcp_connect(&fx.creq, &fx.cli.s.tcp,
                             (struct sockaddr *)&addr, on_connect),
              0);
    uv_run(&fx.loop, UV_RUN_DEFAULT);

    CHECK(fx.cli.hs_status == 0 && fx.srv.hs_status == 0);
    CHECK(fx.cli.got_len == fx.payload_len &&
          memcmp(fx.cli.got, fx.payload, fx.payload_len) == 0);
    CHECK_INT(fx.srv.read_err, UV_EOF);
    CHECK(fx.srv.drains > 0);
    fx_teardown(&fx);
}

static void on_aux_resume(uv_timer_t *t)
{
    struct fx *fx = t->data;
    /* Nothing may have been delivered while paused. */
    CHECK_INT(fx->srv.got_len, fx->paused_at);
    cr_tls_stream_resume(&fx->srv.s);
    uv_close((uv_handle_t *)&fx->aux, NULL);
    fx->aux_open = false;
}

static void pausing_collect(struct peer *p, const char *buf, size_t len)
{
    struct fx *fx = p->fx;
    peer_append(p, buf, len);
    if (p->reads == 1) {
        cr_tls_stream_pause(&p->s);
        /* pause + resume + pause from inside the callback must hold. */
        cr_tls_stream_resume(&p->s);
        cr_tls_stream_pause(&p->s);
        fx->paused_at = p->got_len;
        uv_timer_init(&fx->loop, &fx->aux);
        fx->aux.data = fx;
        fx->aux_open = true;
        uv_timer_start(&fx->aux, on_aux_resume, 200, 0);
    }
    if (p->got_len >= fx->payload_len) {
        peer_close(p);
    }
}

static void client_send_payload(struct peer *p)
{
    CHECK_INT(cr_tls_stream_write(&p->s, p->fx->payload,
                                  p->fx->payload_len),
              0);
}

TEST(pause_and_resume)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    /* A few records, small enough to arrive in one socket read: after the
     * pause the rest sits inside rbio/SSL, and only resume() can deliver
     * it since no more ciphertext will come. */
    make_payload(&fx, 40 * 1024);
    fx.srv.on_data = pausing_collect;
    fx.cli.on_handshake = client_send_payload;
    fx_run(&fx, 5000);

    CHECK(fx.paused_at > 0 && fx.paused_at < fx.payload_len);
    CHECK(fx.srv.got_len == fx.payload_len &&
          memcmp(fx.srv.got, fx.payload, fx.payload_len) == 0);
    CHECK_INT(fx.cli.read_err, UV_EOF);
    fx_teardown(&fx);
}

static void close_repeatedly(struct peer *p)
{
    cr_tls_stream_close(&p->s, peer_close_cb);
    cr_tls_stream_close(&p->s, peer_close_cb);
    /* Writing to a closing stream fails cleanly. */
    CHECK(cr_tls_stream_write(&p->s, "x", 1) < 0);
    cr_tls_stream_pause(&p->s);
    cr_tls_stream_resume(&p->s);
    cr_tls_stream_close(&p->s, peer_close_cb);
}

TEST(close_from_server_side)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    fx.srv.on_handshake = close_repeatedly;
    fx_run(&fx, 5000);
    CHECK_INT(fx.srv.hs_status, 0);
    CHECK_INT(fx.cli.read_err, UV_EOF); /* close_notify arrived */
    fx_teardown(&fx);
}

static void client_write_then_close(struct peer *p)
{
    /* Much more than the socket buffers take at once: close() has to
     * wait for the queued writes before closing the handle. */
    CHECK_INT(cr_tls_stream_write(&p->s, p->fx->payload, p->fx->payload_len),
              0);
    close_repeatedly(p);
}

TEST(close_from_client_side_after_big_write)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    make_payload(&fx, 4 * 1024 * 1024);
    fx.cli.on_handshake = client_write_then_close;
    fx_run(&fx, 5000);
    CHECK_INT(fx.cli.hs_status, 0);
    CHECK_INT(fx.srv.read_err, UV_EOF);
    CHECK(fx.srv.got_len == fx.payload_len &&
          memcmp(fx.srv.got, fx.payload, fx.payload_len) == 0);
    fx_teardown(&fx);
}

TEST(verify_callback_rejects_client)
{
    struct verify_rec sv = {.answer = false};
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, &sv),
             make_ctx(&other_cert, false, false, NULL));
    fx_run(&fx, 5000);

    CHECK_INT(sv.calls, 1);
    CHECK(sv.der_len == other_cert.der_len &&
          memcmp(sv.der, other_cert.der, sv.der_len) == 0);
    CHECK_INT(fx.srv.hs_status, CR_TLS_EHANDSHAKE);
    CHECK(strstr(fx.srv.errmsg, "not trusted") != NULL);
    if (strstr(fx.srv.errmsg, "not trusted") == NULL) {
        fprintf(stderr, "  server errmsg: %s\n", fx.srv.errmsg);
    }
    /* TLS 1.3 clients finish before the server has judged them: they
     * learn through the alert on their first read instead. */
    CHECK(fx.cli.hs_status != 0 || fx.cli.read_err < 0);
    CHECK(fx.cli.read_err != UV_EOF);
    CHECK(fx.cli.errmsg[0] != '\0');
    fx_teardown(&fx);
}

TEST(server_requires_client_certificate)
{
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL), bare);
    fx_run(&fx, 5000);

    CHECK_INT(fx.srv.hs_status, CR_TLS_EHANDSHAKE);
    CHECK(strstr(fx.srv.errmsg, "certificate") != NULL);
    if (strstr(fx.srv.errmsg, "certificate") == NULL) {
        fprintf(stderr, "  server errmsg: %s\n", fx.srv.errmsg);
    }
    CHECK(fx.cli.hs_status != 0 || fx.cli.read_err < 0);
    CHECK(fx.cli.errmsg[0] != '\0');
    fx_teardown(&fx);
}

TEST(server_without_require_accepts_anonymous_client)
{
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, false, NULL), bare);
    fx.srv.on_handshake = close_both_after_handshake;
    fx_run(&fx, 5000);
    CHECK_INT(fx.srv.hs_status, 0);
    CHECK(cr_tls_stream_peer_der(&fx.srv.s, NULL) == NULL);
    fx_teardown(&fx);
}

TEST(handshake_timeout)
{
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, NULL),
             make_ctx(&client_cert, false, false, NULL));
    fx.use_raw = true;
    uint64_t t0 = uv_now(&fx.loop);
    /* The client closes itself on the failed handshake; the mute server
     * end stays open until then, so run only until the client is gone. */
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", fx.port, &addr);
    fx.cli.s.data = &fx.cli;
    CHECK_INT(cr_tls_stream_init(&fx.cli.s, &fx.loop, fx.cctx, false), 0);
    fx.cli.inited = true;
    cr_tls_stream_set_handshake_timeout(&fx.cli.s, 300);
    fx.creq.data = &fx;
    CHECK_INT(uv_tcp_connect(&fx.creq, &fx.cli.s.tcp,
                             (struct sockaddr *)&addr, on_connect),
              0);
    while (fx.cli.close_cbs == 0 &&
           uv_run(&fx.loop, UV_RUN_ONCE) != 0) {
    }
    uv_update_time(&fx.loop);
    uint64_t elapsed = uv_now(&fx.loop) - t0;
    CHECK_INT(fx.cli.hs_status, UV_ETIMEDOUT);
    CHECK(strstr(fx.cli.errmsg, "timed out") != NULL);
    CHECK(elapsed >= 250 && elapsed < 5000);
    if (fx.raw_open) {
        uv_close((uv_handle_t *)&fx.raw, on_raw_close);
        fx.raw_open = false;
    }
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    fx_teardown(&fx);
}

TEST(ctx_rejects_bad_input)
{
    char err[256];
    struct cr_tls_ctx_options o = {.is_server = true};

    CHECK(cr_tls_ctx_new("garbage", 7, server_cert.key_pem,
                         server_cert.key_len, &o, err, sizeof err) == NULL);
    CHECK(strstr(err, "certificate") != NULL);
    /* A key that is not the certificate's. */
    CHECK(cr_tls_ctx_new(server_cert.cert_pem, server_cert.cert_len,
                         client_cert.key_pem, client_cert.key_len, &o, err,
                         sizeof err) == NULL);
    CHECK(strstr(err, "does not match") != NULL);
    CHECK(cr_tls_ctx_new(server_cert.cert_pem, server_cert.cert_len, "x", 1,
                         &o, err, sizeof err) == NULL);
    CHECK(strstr(err, "private key") != NULL);

    /* Leaf plus an extra chain certificate is accepted. */
    size_t n = server_cert.cert_len + other_cert.cert_len;
    char *chain = malloc(n);
    memcpy(chain, server_cert.cert_pem, server_cert.cert_len);
    memcpy(chain + server_cert.cert_len, other_cert.cert_pem,
           other_cert.cert_len);
    SSL_CTX *ctx = cr_tls_ctx_new(chain, n, server_cert.key_pem,
                                  server_cert.key_len, &o, err, sizeof err);
    CHECK(ctx != NULL);
    SSL_CTX_free(ctx);
    free(chain);

    o.tls13_only = true;
    ctx = cr_tls_ctx_new(server_cert.cert_pem, server_cert.cert_len,
                         server_cert.key_pem, server_cert.key_len, &o, err,
                         sizeof err);
    CHECK(ctx != NULL && SSL_CTX_get_min_proto_version(ctx) == TLS1_3_VERSION);
    SSL_CTX_free(ctx);
}

TEST(tls13_only_server_refuses_tls12_client)
{
    struct cr_tls_ctx_options so = {
        .is_server = true, .require_peer_cert = true, .tls13_only = true};
    char err[256];
    SSL_CTX *sctx =
        cr_tls_ctx_new(server_cert.cert_pem, server_cert.cert_len,
                       server_cert.key_pem, server_cert.key_len, &so, err,
                       sizeof err);
    SSL_CTX *cctx = make_ctx(&client_cert, false, false, NULL);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    struct fx fx;
    fx_setup(&fx, sctx, cctx);
    fx_run(&fx, 5000);
    CHECK_INT(fx.srv.hs_status, CR_TLS_EHANDSHAKE);
    CHECK(strstr(fx.srv.errmsg, "unsupported protocol") != NULL);
    CHECK_INT(fx.cli.hs_status, CR_TLS_EHANDSHAKE);
    fx_teardown(&fx);
}

TEST(tls12_client_sends_certificate_to_empty_ca_list)
{
    /* The server names no acceptable CAs; a TLS 1.2 client must still
     * present its certificate. */
    struct verify_rec sv = {.answer = true};
    SSL_CTX *cctx = make_ctx(&client_cert, false, false, NULL);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    struct fx fx;
    fx_setup(&fx, make_ctx(&server_cert, true, true, &sv), cctx);
    fx.srv.on_handshake = check_peer_der_then_close;
    fx_run(&fx, 5000);
    CHECK_INT(fx.srv.hs_status, 0);
    CHECK_INT(fx.cli.hs_status, 0);
    CHECK_INT(sv.calls, 1);
    CHECK_INT(fx.srv.version, TLS1_2_VERSION);
    fx_teardown(&fx);
}

int main(void)
{
    if (tls_test_cert_make(&server_cert, "server") != 0 ||
        tls_test_cert_make(&client_cert, "client") != 0 ||
        tls_test_cert_make(&other_cert, "stranger") != 0) {
        fprintf(stderr, "cannot make test certificates\n");
        return 1;
    }
    RUN(handshake_and_peer_certificates);
    RUN(peer_der_matches);
    RUN(echo_one_mib_in_chunks);
    RUN(pause_and_resume);
    RUN(close_from_server_side);
    RUN(close_from_client_side_after_big_write);
    RUN(verify_callback_rejects_client);
    RUN(server_requires_client_certificate);
    RUN(server_without_require_accepts_anonymous_client);
    RUN(handshake_timeout);
    RUN(ctx_rejects_bad_input);
    RUN(tls13_only_server_refuses_tls12_client);
    RUN(tls12_client_sends_certificate_to_empty_ca_list);
    tls_test_cert_free(&server_cert);
    tls_test_cert_free(&client_cert);
    tls_test_cert_free(&other_cert);
    return HARNESS_DONE();
}
