/*
 * test_tls_transport.c - the TLS raft transport, alone and under a real
 * canonical raft cluster.
 *
 * Everything runs on one loop in one process over loopback: first the
 * transport driven by hand (connect/accept, bytes both ways, refusals,
 * cancellation), then three raft servers replicating through it while a
 * fourth with an untrusted certificate tries to get in.
 */
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <certraft/io_close_once.h>
#include <certraft/tls_transport.h>

#include "harness.h"
#include "tls_test_certs.h"

#define GUARD_MS 60000

static struct tls_test_cert certs[5]; /* 0..2 cluster, 4 stranger */

/* --- trust --------------------------------------------------------------- */

struct trust
{
    const struct tls_test_cert *certs[8];
    unsigned n;
    bool any;
};

static bool trust_check(void *arg, const unsigned char *der, size_t len)
{
    const struct trust *tr = arg;
    if (tr->any) {
        return true;
    }
    for (unsigned i = 0; i < tr->n; i++) {
        if (tr->certs[i]->der_len == len &&
            memcmp(tr->certs[i]->der, der, len) == 0) {
            return true;
        }
    }
    return false;
}

static SSL_CTX *ctx_for(const struct tls_test_cert *c, bool server,
                        struct trust *tr)
{
    struct cr_tls_ctx_options o = {
        .is_server = server,
        .require_peer_cert = true,
        .tls13_only = true,
        .verify = trust_check,
        .verify_arg = tr,
    };
    char err[256] = "";
    SSL_CTX *ctx = cr_tls_ctx_new(c->cert_pem, c->cert_len, c->key_pem,
                                  c->key_len, &o, err, sizeof err);
    if (ctx == NULL) {
        fprintf(stderr, "  cr_tls_ctx_new: %s\n", err);
    }
    return ctx;
}

static int free_port(void)
{
    uv_loop_t loop;
    uv_tcp_t tcp;
    struct sockaddr_in addr;
    struct sockaddr_storage ss;
    int sl = sizeof ss;

    uv_loop_init(&loop);
    uv_tcp_init(&loop, &tcp);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&tcp, (struct sockaddr *)&addr, 0);
    uv_tcp_getsockname(&tcp, (struct sockaddr *)&ss, &sl);
    uv_close((uv_handle_t *)&tcp, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void free_raft_handle(uv_handle_t *h)
{
    raft_free(h);
}

/* --- address parsing ----------------------------------------------------- */

TEST(address_parse)
{
    char host[64];
    int port = 0;

    CHECK_INT(cr_raft_address_parse("127.0.0.1:9001", host, sizeof host,
                                    &port),
              0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 9001);
    CHECK_INT(cr_raft_address_parse("node1.example:7000|https://node1:8443",
                                    host, sizeof host, &port),
              0);
    CHECK_STR(host, "node1.example");
    CHECK_INT(port, 7000);
    CHECK_INT(cr_raft_address_parse("[::1]:9|x:1", host, sizeof host, &port),
              0);
    CHECK_STR(host, "::1");
    CHECK_INT(port, 9);
    CHECK_INT(cr_raft_address_parse("nohost", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse(":80", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("h:", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("h:0", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("h:70000", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("h:8x", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("h|x:80", host, sizeof host, &port), -1);
    CHECK_INT(cr_raft_address_parse("verylonghostname:80", host, 4, &port),
              -1);
}

/* --- transport by hand --------------------------------------------------- */

struct side
{
    struct raft_uv_transport t;
    struct trust trust;
    SSL_CTX *cctx, *sctx;
    char address[128];
    uv_stream_t *stream; /* what raft would get */
    unsigned accepts;
    raft_id accepted_id;
    char accepted_address[128];
    unsigned connects;
    int connect_status;
    struct raft_uv_connect req;
    unsigned char *got;
    size_t got_len, got_cap;
    int read_err;
    bool closed;
};

struct hand
{
    uv_loop_t loop;
    struct side a, b, c;
    unsigned char *payload;
    size_t payload_len;
    void *aux; /* per-test state */
    uv_timer_t guard;
    bool guard_fired;
};

static void side_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = suggested;
}

static void side_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct side *s = stream->data;
    if (nread > 0) {
        if (s->got_len + (size_t)nread > s->got_cap) {
            size_t cap = s->got_cap ? s->got_cap * 2 : 65536;
            while (cap < s->got_len + (size_t)nread) {
                cap *= 2;
            }
            s->got = realloc(s->got, cap);
            s->got_cap = cap;
        }
        memcpy(s->got + s->got_len, buf->base, (size_t)nread);
        s->got_len += (size_t)nread;
    } else if (nread < 0 && s->read_err == 0) {
        s->read_err = (int)nread;
    }
    free(buf->base);
}

static void side_accept(struct raft_uv_transport *t, raft_id id,
                        const char *address, uv_stream_t *stream)
{
    struct side *s = t->data;
    s->accepts++;
    s->accepted_id = id;
    snprintf(s->accepted_address, sizeof s->accepted_address, "%s", address);
    if (s->stream != NULL) {
        uv_close((uv_handle_t *)stream, free_raft_handle);
        return;
    }
    s->stream = stream;
    stream->data = s;
    CHECK_INT(uv_read_start(stream, side_alloc, side_read), 0);
}

static void side_connected(struct raft_uv_connect *req, uv_stream_t *stream,
                           int status)
{
    struct side *s = req->data;
    s->connects++;
    s->connect_status = status;
    if (status == 0) {
        CHECK(stream != NULL);
        s->stream = stream;
        stream->data = s;
        CHECK_INT(uv_read_start(stream, side_alloc, side_read), 0);
    } else {
        CHECK(stream == NULL);
    }
}

static void side_closed(struct raft_uv_transport *t)
{
    struct side *s = t->data;
    s->closed = true;
}

static void side_setup(struct hand *h, struct side *s, raft_id id,
                       const struct tls_test_cert *cert, bool listen)
{
    s->sctx = ctx_for(cert, true, &s->trust);
    s->cctx = ctx_for(cert, false, &s->trust);
    CHECK_INT(cr_tls_transport_init(&s->t, &h->loop, s->cctx, s->sctx), 0);
    s->t.data = s;
    snprintf(s->address, sizeof s->address, "127.0.0.1:%d|https://n%llu",
             free_port(), (unsigned long long)id);
    CHECK_INT(s->t.init(&s->t, id, s->address), 0);
    if (listen) {
        CHECK_INT(s->t.listen(&s->t, side_accept), 0);
    }
    s->req.data = s;
}

static void side_teardown(struct side *s)
{
    if (s->t.impl == NULL) {
        return;
    }
    CHECK(s->closed);
    cr_tls_transport_close(&s->t);
    SSL_CTX_free(s->cctx);
    SSL_CTX_free(s->sctx);
    free(s->got);
}

static void on_guard(uv_timer_t *t)
{
    struct hand *h = t->data;
    h->guard_fired = true;
    uv_stop(&h->loop);
}

static void hand_init(struct hand *h)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    uv_timer_init(&h->loop, &h->guard);
    h->guard.data = h;
    uv_timer_start(&h->guard, on_guard, GUARD_MS, 0);
    uv_unref((uv_handle_t *)&h->guard);
}

/* Run until @done says so (or the guard fires). */
static void run_until(struct hand *h, bool (*done)(struct hand *))
{
    while (!done(h) && !h->guard_fired) {
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static void hand_finish(struct hand *h)
{
    uv_close((uv_handle_t *)&h->guard, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    CHECK(!h->guard_fired);
    CHECK_INT(uv_loop_close(&h->loop), 0);
    side_teardown(&h->a);
    side_teardown(&h->b);
    side_teardown(&h->c);
    free(h->payload);
}

static bool connected(struct hand *h)
{
    return h->b.connects > 0 && (h->b.connect_status != 0 || h->a.accepts);
}

static bool all_received(struct hand *h)
{
    return h->a.got_len >= h->payload_len && h->b.got_len >= h->payload_len;
}

static bool b_saw_eof(struct hand *h)
{
    return h->b.read_err != 0;
}

static bool all_closed(struct hand *h)
{
    return h->a.closed && h->b.closed &&
           (h->c.t.impl == NULL || h->c.closed);
}

static void write_done(uv_write_t *req, int status)
{
    CHECK_INT(status, 0);
    free(req);
}

/* Like raft: many writes, several buffers each. */
static void send_payload(uv_stream_t *stream, const unsigned char *p,
                         size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < 100000 ? len - off : 100000;
        size_t half = n / 2;
        uv_buf_t bufs[2] = {uv_buf_init((char *)p + off, (unsigned)half),
                            uv_buf_init((char *)p + off + half,
                                        (unsigned)(n - half))};
        uv_write_t *w = malloc(sizeof *w);
        CHECK_INT(uv_write(w, stream, bufs, 2, write_done), 0);
        off += n;
    }
}

static void close_transports(struct hand *h)
{
    h->a.t.close(&h->a.t, side_closed);
    h->b.t.close(&h->b.t, side_closed);
    if (h->c.t.impl != NULL) {
        h->c.t.close(&h->c.t, side_closed);
    }
}

TEST(connect_accept_and_bytes_both_ways)
{
    struct hand h;
    hand_init(&h);
    h.a.trust = (struct trust){.certs = {&certs[0], &certs[1]}, .n = 2};
    h.b.trust = h.a.trust;
    side_setup(&h, &h.a, 1, &certs[0], true);
    side_setup(&h, &h.b, 2, &certs[1], true);

    CHECK_INT(h.b.t.connect(&h.b.t, &h.b.req, 1, h.a.address,
                            side_connected),
              0);
    run_until(&h, connected);
    CHECK_INT(h.b.connect_status, 0);
    CHECK_INT(h.a.accepts, 1);
    CHECK_INT(h.a.accepted_id, 2);
    CHECK_STR(h.a.accepted_address, h.b.address);
    CHECK_INT(cr_tls_transport_refused(&h.a.t), 0);

    if (h.a.stream != NULL && h.b.stream != NULL) {
        /* 6 MiB each way at once: exercises back-pressure on both the
         * TLS and the socketpair side of both bridges. */
        h.payload_len = 6 * 1024 * 1024 + 13;
        h.payload = malloc(h.payload_len);
        for (size_t i = 0; i < h.payload_len; i++) {
            h.payload[i] = (unsigned char)(i * 2654435761u >> 13);
        }
        send_payload(h.b.stream, h.payload, h.payload_len);
        send_payload(h.a.stream, h.payload, h.payload_len);
        run_until(&h, all_received);
        CHECK(h.a.got_len == h.payload_len &&
              memcmp(h.a.got, h.payload, h.payload_len) == 0);
        CHECK(h.b.got_len == h.payload_len &&
              memcmp(h.b.got, h.payload, h.payload_len) == 0);

        /* raft closing its end on one side reaches the other side. */
        uv_close((uv_handle_t *)h.a.stream, free_raft_handle);
        h.a.stream = NULL;
        run_until(&h, b_saw_eof);
        CHECK_INT(h.b.read_err, UV_EOF);
        uv_close((uv_handle_t *)h.b.stream, free_raft_handle);
        h.b.stream = NULL;
    }
    close_transports(&h);
    run_until(&h, all_closed);
    hand_finish(&h);
}

TEST(untrusted_client_is_refused)
{
    struct hand h;
    hand_init(&h);
    h.a.trust = (struct trust){.certs = {&certs[0], &certs[1]}, .n = 2};
    h.b.trust = (struct trust){.any = true};
    side_setup(&h, &h.a, 1, &certs[0], true);
    side_setup(&h, &h.b, 9, &certs[4], false); /* the stranger */

    /* Twice: refused each time, logged once. */
    for (int i = 0; i < 2; i++) {
        h.b.connects = 0;
        CHECK_INT(h.b.t.connect(&h.b.t, &h.b.req, 1, h.a.address,
                                side_connected),
                  0);
        run_until(&h, connected);
        CHECK_INT(h.b.connect_status, RAFT_NOCONNECTION);
        CHECK(h.b.stream == NULL);
    }
    CHECK_INT(h.a.accepts, 0);
    CHECK_INT(cr_tls_transport_refused(&h.a.t), 2);
    close_transports(&h);
    run_until(&h, all_closed);
    CHECK_INT(h.a.accepts, 0);
    hand_finish(&h);
}

TEST(untrusted_server_is_refused)
{
    struct hand h;
    hand_init(&h);
    h.a.trust = (struct trust){.any = true};
    h.b.trust = (struct trust){.certs = {&certs[1]}, .n = 1};
    side_setup(&h, &h.a, 1, &certs[4], true); /* server is the stranger */
    side_setup(&h, &h.b, 2, &certs[1], false);

    CHECK_INT(h.b.t.connect(&h.b.t, &h.b.req, 1, h.a.address,
                            side_connected),
              0);
    run_until(&h, connected);
    CHECK_INT(h.b.connect_status, RAFT_NOCONNECTION);
    close_transports(&h);
    run_until(&h, all_closed);
    CHECK_INT(h.a.accepts, 0);
    hand_finish(&h);
}

struct mute
{
    uv_tcp_t listener;
    uv_tcp_t conn;
    bool accepted;
};

static void mute_connection(uv_stream_t *l, int status)
{
    struct mute *m = l->data;
    CHECK_INT(status, 0);
    uv_tcp_init(l->loop, &m->conn);
    CHECK_INT(uv_accept(l, (uv_stream_t *)&m->conn), 0);
    m->accepted = true;
}

static bool mute_accepted(struct hand *h)
{
    struct mute *m = h->aux;
    return m->accepted;
}

static bool b_closed(struct hand *h)
{
    return h->b.closed;
}

TEST(close_cancels_pending_connects)
{
    struct hand h;
    struct mute m;
    struct sockaddr_in addr;
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char target[64];

    hand_init(&h);
    memset(&m, 0, sizeof m);
    /* A TCP server that accepts and never speaks TLS. */
    uv_tcp_init(&h.loop, &m.listener);
    m.listener.data = &m;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&m.listener, (struct sockaddr *)&addr, 0);
    CHECK_INT(uv_listen((uv_stream_t *)&m.listener, 4, mute_connection), 0);
    uv_tcp_getsockname(&m.listener, (struct sockaddr *)&ss, &sl);
    snprintf(target, sizeof target, "127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&ss)->sin_port));

    h.b.trust = (struct trust){.any = true};
    side_setup(&h, &h.b, 2, &certs[1], true);
    h.aux = &m;
    CHECK_INT(h.b.t.connect(&h.b.t, &h.b.req, 1, target, side_connected), 0);
    run_until(&h, mute_accepted);
    CHECK_INT(h.b.connects, 0); /* still handshaking */

    /* A second request still resolving/connecting when close comes. */
    struct side extra;
    memset(&extra, 0, sizeof extra);
    extra.req.data = &extra;
    CHECK_INT(h.b.t.connect(&h.b.t, &extra.req, 3, "localhost:1",
                            side_connected),
              0);

    h.b.t.close(&h.b.t, side_closed);
    run_until(&h, b_closed);
    CHECK_INT(h.b.connects, 1);
    CHECK_INT(h.b.connect_status, RAFT_CANCELED);
    CHECK_INT(extra.connects, 1);
    CHECK_INT(extra.connect_status, RAFT_CANCELED);

    uv_close((uv_handle_t *)&m.listener, NULL);
    if (m.accepted) {
        uv_close((uv_handle_t *)&m.conn, NULL);
    }
    hand_finish(&h);
}

/* --- a real raft cluster ------------------------------------------------- */

#define N_NODES 4 /* three cluster members and one intruder */

struct node
{
    struct cluster *cl;
    raft_id id;
    const struct tls_test_cert *cert;
    char dir[64];
    char address[64];
    struct trust trust;
    SSL_CTX *cctx, *sctx;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uint64_t value;
    bool started;
    bool closed;
};

struct cluster
{
    uv_loop_t loop;
    struct node nodes[N_NODES];
    uv_timer_t tick;
    int phase;
    unsigned applied_ok;
    unsigned apply_failed;
    uint64_t target;
    unsigned long refused_before;
    uint64_t tick_count;
    bool done;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct node *n = fsm->data;
    uint64_t v;
    if (buf->len != sizeof v) {
        return RAFT_MALFORMED;
    }
    memcpy(&v, buf->base, sizeof v);
    n->value += v;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct node *n = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL) {
        return RAFT_NOMEM;
    }
    (*bufs)[0].base = raft_malloc(sizeof n->value);
    if ((*bufs)[0].base == NULL) {
        raft_free(*bufs);
        return RAFT_NOMEM;
    }
    (*bufs)[0].len = sizeof n->value;
    memcpy((*bufs)[0].base, &n->value, sizeof n->value);
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    if (buf->len != sizeof n->value) {
        return RAFT_MALFORMED;
    }
    memcpy(&n->value, buf->base, sizeof n->value);
    raft_free(buf->base);
    return 0;
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    struct cluster *cl = req->data;
    (void)result;
    if (status == 0) {
        cl->applied_ok++;
    } else {
        cl->apply_failed++;
    }
    free(req);
}

static struct node *leader_of(struct cluster *cl)
{
    for (int i = 0; i < 3; i++) {
        if (cl->nodes[i].started &&
            raft_state(&cl->nodes[i].raft) == RAFT_LEADER) {
            return &cl->nodes[i];
        }
    }
    return NULL;
}

/* Propose 1..100 (or 101..200): each batch adds 5050 + 100*offset. */
static void propose(struct cluster *cl, struct node *leader, uint64_t offset)
{
    for (uint64_t i = 1; i <= 100; i++) {
        struct raft_apply *req = malloc(sizeof *req);
        struct raft_buffer buf;
        uint64_t v = i + offset;
        buf.len = sizeof v;
        buf.base = raft_malloc(buf.len);
        memcpy(buf.base, &v, sizeof v);
        req->data = cl;
        int rv = raft_apply(&leader->raft, req, &buf, 1, apply_done);
        if (rv != 0) {
            raft_free(buf.base);
            free(req);
            cl->apply_failed++;
        }
        cl->target += v;
    }
}

static bool members_at(struct cluster *cl, uint64_t value)
{
    for (int i = 0; i < 3; i++) {
        if (cl->nodes[i].value != value) {
            return false;
        }
    }
    return true;
}

static unsigned long members_refused(struct cluster *cl)
{
    unsigned long n = 0;
    for (int i = 0; i < 3; i++) {
        n += cr_tls_transport_refused(&cl->nodes[i].transport);
    }
    return n;
}

static void node_closed(struct raft *r)
{
    struct node *n = r->data;
    n->closed = true;
}

static int node_start(struct cluster *cl, struct node *n, int n_config)
{
    int rv;
    struct raft_configuration conf;

    n->cl = cl;
    n->sctx = ctx_for(n->cert, true, &n->trust);
    n->cctx = ctx_for(n->cert, false, &n->trust);
    rv = cr_tls_transport_init(&n->transport, &cl->loop, n->cctx, n->sctx);
    if (rv != 0) {
        return rv;
    }
    rv = raft_uv_init(&n->io, &cl->loop, n->dir, &n->transport);
    if (rv != 0) {
        fprintf(stderr, "  raft_uv_init: %s\n", n->io.errmsg);
        return rv;
    }
    cr_io_close_once(&n->io);
    n->fsm.version = 1;
    n->fsm.data = n;
    n->fsm.apply = fsm_apply;
    n->fsm.snapshot = fsm_snapshot;
    n->fsm.restore = fsm_restore;
    rv = raft_init(&n->raft, &n->io, &n->fsm, n->id, n->address);
    if (rv != 0) {
        fprintf(stderr, "  raft_init: %s\n", raft_errmsg(&n->raft));
        return rv;
    }
    n->raft.data = n;
    raft_set_election_timeout(&n->raft, 300);
    raft_set_heartbeat_timeout(&n->raft, 50);
    raft_set_snapshot_threshold(&n->raft, 100000);

    raft_configuration_init(&conf);
    for (int i = 0; i < n_config; i++) {
        struct node *m = &cl->nodes[i];
        rv = raft_configuration_add(&conf, m->id, m->address, RAFT_VOTER);
        if (rv != 0) {
            raft_configuration_close(&conf);
            return rv;
        }
    }
    rv = raft_bootstrap(&n->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0) {
        fprintf(stderr, "  raft_bootstrap: %s\n", raft_errmsg(&n->raft));
        return rv;
    }
    rv = raft_start(&n->raft);
    if (rv != 0) {
        fprintf(stderr, "  raft_start: %s\n", raft_errmsg(&n->raft));
        return rv;
    }
    n->started = true;
    return 0;
}

static void cluster_stop(struct cluster *cl)
{
    for (int i = 0; i < N_NODES; i++) {
        if (cl->nodes[i].started && !cl->nodes[i].closed) {
            raft_close(&cl->nodes[i].raft, node_closed);
        }
    }
    uv_close((uv_handle_t *)&cl->tick, NULL);
    cl->done = true;
}

/* The test script, one step per tick. */
static void on_tick(uv_timer_t *timer)
{
    struct cluster *cl = timer->data;
    struct node *leader = leader_of(cl);

    cl->tick_count++;
    if (cl->tick_count > GUARD_MS / 50) {
        fprintf(stderr, "  cluster test timed out in phase %d\n", cl->phase);
        CHECK(false);
        cluster_stop(cl);
        return;
    }
    switch (cl->phase) {
        case 0: /* wait for a leader, then replicate */
            if (leader != NULL) {
                propose(cl, leader, 0);
                cl->phase = 1;
            }
            break;
        case 1: /* all members converge; then the intruder shows up */
            if (members_at(cl, cl->target)) {
                CHECK_INT(cl->target, 5050);
                cl->refused_before = members_refused(cl);
                CHECK_INT(node_start(cl, &cl->nodes[3], 4), 0);
                cl->phase = 2;
            }
            break;
        case 2: /* the intruder campaigns and is turned away */
            if (members_refused(cl) > cl->refused_before + 1) {
                cl->phase = 3;
            }
            break;
        case 3: /* the cluster keeps committing */
            if (leader != NULL) {
                propose(cl, leader, 100);
                cl->phase = 4;
            }
            break;
        case 4:
            if (members_at(cl, cl->target)) {
                cluster_stop(cl);
            }
            break;
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

TEST(raft_cluster_over_tls)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    uv_loop_init(&cl->loop);

    for (int i = 0; i < N_NODES; i++) {
        struct node *n = &cl->nodes[i];
        n->id = (raft_id)(i + 1);
        snprintf(n->dir, sizeof n->dir, "/tmp/certraft-tls-XXXXXX");
        CHECK(mkdtemp(n->dir) != NULL);
        snprintf(n->address, sizeof n->address, "127.0.0.1:%d", free_port());
        if (i < 3) {
            n->cert = &certs[i];
            n->trust = (struct trust){
                .certs = {&certs[0], &certs[1], &certs[2]}, .n = 3};
        } else {
            /* Not a cluster certificate. The intruder trusts everyone;
             * nobody trusts it. */
            n->cert = &certs[4];
            n->trust = (struct trust){.any = true};
        }
    }

    for (int i = 0; i < 3; i++) {
        CHECK_INT(node_start(cl, &cl->nodes[i], 3), 0);
    }
    uv_timer_init(&cl->loop, &cl->tick);
    cl->tick.data = cl;
    uv_timer_start(&cl->tick, on_tick, 50, 50);
    uv_run(&cl->loop, UV_RUN_DEFAULT);

    CHECK(cl->done);
    CHECK_INT(cl->phase, 4);
    CHECK_INT(cl->target, 5050 + 5050 + 100 * 100);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(cl->nodes[i].value, cl->target);
    }
    CHECK_INT(cl->nodes[3].value, 0);
    CHECK_INT(cl->applied_ok, 200);
    CHECK_INT(cl->apply_failed, 0);
    CHECK(members_refused(cl) >= 2);

    for (int i = 0; i < N_NODES; i++) {
        struct node *n = &cl->nodes[i];
        if (n->started) {
            CHECK(n->closed);
            raft_uv_close(&n->io);
            cr_tls_transport_close(&n->transport);
        }
        SSL_CTX_free(n->cctx);
        SSL_CTX_free(n->sctx);
        nftw(n->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    CHECK_INT(uv_loop_close(&cl->loop), 0);
    free(cl);
}

int main(void)
{
    /* A peer that vanishes mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    static const char *names[] = {"node1", "node2", "node3", "unused",
                                  "intruder"};
    for (int i = 0; i < 5; i++) {
        if (i != 3 && tls_test_cert_make(&certs[i], names[i]) != 0) {
            fprintf(stderr, "cannot make test certificates\n");
            return 1;
        }
    }
    RUN(address_parse);
    RUN(connect_accept_and_bytes_both_ways);
    RUN(untrusted_client_is_refused);
    RUN(untrusted_server_is_refused);
    RUN(close_cancels_pending_connects);
    RUN(raft_cluster_over_tls);
    for (int i = 0; i < 5; i++) {
        tls_test_cert_free(&certs[i]);
    }
    return HARNESS_DONE();
}
