/*
 * tls_transport.c - canonical raft's raft_uv_transport over mutual TLS.
 *
 * raft only knows uv_stream_t, so each authenticated connection is handed
 * to it as one end of a socketpair; a "bridge" on the same loop pumps bytes
 * between the other end and the TLS stream, with back-pressure both ways.
 * One struct conn per TCP connection, inbound or outbound, holds all of it
 * and goes away only when every handle it owns has closed.
 *
 * Setup, after TLS: the dialler sends the preamble (magic, id, address; see
 * tls_transport.h) and the acceptor answers with an 8-byte ack. The ack
 * exists because a TLS 1.3 client finishes its handshake before the server
 * has judged the client certificate: without it a refused dialler would
 * report success to raft and only fail on its first write.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <certraft/tls_transport.h>

#define MAGIC_PREAMBLE 0x31305446415252ULL /* "RRAFT01" little endian */
#define MAGIC_ACK 0x4b4f5446415252ULL      /* "RRAFTOK" */
#define PREAMBLE_FIXED 24
#define MAX_ADDRESS_LEN 4096
#define SETUP_TIMEOUT_MS 5000
/* Bytes buffered in either direction before the reader is paused. */
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (256 * 1024)
#define BRIDGE_READ_SIZE (64 * 1024)
/* Peers remembered for once-only logging; a bound keeps a flood of
 * addresses from growing the list without limit. */
#define MAX_LOGGED 1024

enum conn_state {
    C_RESOLVING,  /* outbound: uv_getaddrinfo */
    C_CONNECTING, /* outbound: uv_tcp_connect */
    C_HANDSHAKE,  /* TLS handshake */
    C_PREAMBLE,   /* inbound: reading preamble; outbound: waiting for ack */
    C_ESTABLISHED /* bridged to raft */
};

struct logged
{
    struct logged *next;
    char key[];
};

struct tls_transport
{
    struct raft_uv_transport *transport;
    uv_loop_t *loop;
    SSL_CTX *client_ctx;
    SSL_CTX *server_ctx;
    raft_id id;
    char *address;
    uv_tcp_t listener;
    bool listener_open;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    bool closing;
    unsigned long refused;
    struct conn *conns;
    struct logged *logged;
    unsigned n_logged;
};

struct conn
{
    struct tls_transport *t;
    struct conn *prev, *next;
    enum conn_state state;
    bool outbound;
    bool closing;
    unsigned pending; /* handles and requests still to finish */
    int status;       /* for the connect callback */

    struct cr_tls_stream tls;
    bool tls_inited;
    uv_timer_t timer; /* setup deadline */
    bool timer_inited;
    uv_getaddrinfo_t gai;
    uv_connect_t tcp_connect;

    uv_pipe_t bridge; /* our end of the socketpair */
    bool bridge_open;
    bool bridge_paused; /* bridge reads stopped: TLS send queue is full */
    bool tls_paused;    /* TLS reads paused: bridge send queue is full */
    size_t bridge_queued;

    /* outbound */
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    char *dial_address;

    /* setup messages being gathered */
    unsigned char *sbuf;
    size_t slen, scap;

    char peer[INET6_ADDRSTRLEN + 16]; /* "ip:port", for logs */
    char peer_host[INET6_ADDRSTRLEN];
};

struct bridge_write
{
    uv_write_t req;
    struct conn *c;
    size_t len;
    char data[];
};

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

int cr_raft_address_parse(const char *address, char *host, size_t hostlen,
                          int *port)
{
    if (address == NULL || host == NULL || hostlen == 0 || port == NULL) {
        return -1;
    }
    size_t len = strcspn(address, "|");
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        if (address[i] == ':') {
            colon = address + i;
        }
    }
    if (colon == NULL) {
        return -1;
    }
    const char *h = address;
    size_t hl = (size_t)(colon - address);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* [v6]:port */
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen || memchr(h, '[', hl) || memchr(h, ']', hl)) {
        return -1;
    }
    const char *p = colon + 1;
    size_t pl = len - (size_t)(p - address);
    if (pl == 0 || pl > 5) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535) {
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

/* --- logging ------------------------------------------------------------- */

/* Once per @key: a refused peer retries every second and would otherwise
 * fill the log. */
static void log_once(struct tls_transport *t, const char *key,
                     const char *fmt_prefix, const char *who,
                     const char *reason)
{
    for (struct logged *l = t->logged; l != NULL; l = l->next) {
        if (strcmp(l->key, key) == 0) {
            return;
        }
    }
    if (t->n_logged < MAX_LOGGED) {
        size_t n = strlen(key) + 1;
        struct logged *l = malloc(sizeof *l + n);
        if (l != NULL) {
            memcpy(l->key, key, n);
            l->next = t->logged;
            t->logged = l;
            t->n_logged++;
        }
    }
    fprintf(stderr, "raft: %s %s: %s\n", fmt_prefix, who, reason);
}

/* Turn a stream's errmsg into the short reason operators need. */
static const char *refusal_reason(const struct cr_tls_stream *s, int status,
                                  char *buf, size_t len)
{
    const char *m = s->errmsg;
    static const char prefix[] = "TLS handshake failed: ";

    if (status == UV_ETIMEDOUT) {
        return "TLS handshake timed out";
    }
    if (strstr(m, "not trusted") != NULL) {
        return "certificate not trusted";
    }
    if (strstr(m, "did not return a certificate") != NULL ||
        strstr(m, "certificate required") != NULL) {
        return "no client certificate";
    }
    /* An alert means the other side refused us; its text is after the
     * last "::" of OpenSSL's error string. */
    const char *alert = strstr(m, " alert ");
    if (alert != NULL) {
        const char *what = m;
        for (const char *p = strstr(m, "::"); p != NULL;
             p = strstr(p + 2, "::")) {
            what = p + 2;
        }
        snprintf(buf, len, "rejected by peer (%.200s)", what);
        return buf;
    }
    if (strncmp(m, prefix, sizeof prefix - 1) == 0) {
        m += sizeof prefix - 1;
    }
    snprintf(buf, len, "%s", m[0] != '\0' ? m : "TLS handshake failed");
    return buf;
}

/* --- connection teardown ------------------------------------------------- */

static void transport_maybe_closed(struct tls_transport *t)
{
    if (!t->closing || t->listener_open || t->conns != NULL ||
        t->close_cb == NULL) {
        return;
    }
    raft_uv_transport_close_cb cb = t->close_cb;
    t->close_cb = NULL;
    cb(t->transport);
}

static void conn_maybe_free(struct conn *c)
{
    struct tls_transport *t = c->t;

    if (!c->closing || c->pending > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        t->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    /* Fired only now, when nothing of ours refers to the request any
     * more, as raft's own TCP transport does. */
    if (c->req != NULL && c->cb != NULL) {
        int status = t->closing ? RAFT_CANCELED
                                : (c->status != 0 ? c->status
                                                  : RAFT_NOCONNECTION);
        c->cb(c->req, NULL, status);
    }
    free(c->sbuf);
    free(c->dial_address);
    free(c);
    transport_maybe_closed(t);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->pending--;
    conn_maybe_free(c);
}

static void on_conn_tls_closed(struct cr_tls_stream *s)
{
    struct conn *c = s->data;
    c->pending--;
    conn_maybe_free(c);
}

static void conn_close(struct conn *c, int status)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->status = status;
    if (c->timer_inited) {
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
        c->pending++;
    }
    if (c->state == C_RESOLVING) {
        /* Its callback still runs (with UV_ECANCELED if this worked) and
         * drops the pending count taken when it started. */
        uv_cancel((uv_req_t *)&c->gai);
    }
    if (c->tls_inited) {
        cr_tls_stream_close(&c->tls, on_conn_tls_closed);
        c->pending++;
    }
    if (c->bridge_open) {
        uv_close((uv_handle_t *)&c->bridge, on_conn_handle_closed);
        c->pending++;
    }
    conn_maybe_free(c);
}

static void refuse_inbound(struct conn *c, int status, const char *reason)
{
    char buf[256];
    struct tls_transport *t = c->t;

    if (reason == NULL) {
        reason = refusal_reason(&c->tls, status, buf, sizeof buf);
    }
    t->refused++;
    log_once(t, c->peer_host, "refused peer", c->peer, reason);
    conn_close(c, RAFT_NOCONNECTION);
}

static void fail_outbound(struct conn *c, int status, bool log)
{
    if (log && !c->t->closing) {
        char buf[256];
        log_once(c->t, c->dial_address, "cannot connect to", c->dial_address,
                 refusal_reason(&c->tls, status, buf, sizeof buf));
    }
    conn_close(c, RAFT_NOCONNECTION);
}

static struct conn *conn_new(struct tls_transport *t, bool outbound)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->t = t;
    c->outbound = outbound;
    c->tls.data = c;
    c->next = t->conns;
    if (t->conns != NULL) {
        t->conns->prev = c;
    }
    t->conns = c;
    return c;
}

static void on_setup_timeout(uv_timer_t *timer)
{
    struct conn *c = timer->data;
    if (c->closing || c->state == C_ESTABLISHED) {
        return;
    }
    snprintf(c->tls.errmsg, sizeof c->tls.errmsg,
             "connection setup timed out");
    if (c->outbound) {
        fail_outbound(c, UV_ETIMEDOUT, true);
    } else {
        refuse_inbound(c, UV_ETIMEDOUT, "connection setup timed out");
    }
}

static int start_setup_timer(struct conn *c)
{
    int rv = uv_timer_init(c->t->loop, &c->timer);
    if (rv != 0) {
        return rv;
    }
    c->timer.data = c;
    c->timer_inited = true;
    return uv_timer_start(&c->timer, on_setup_timeout, SETUP_TIMEOUT_MS, 0);
}

/* --- the bridge ---------------------------------------------------------- */

static void on_bridge_write(uv_write_t *req, int status)
{
    struct bridge_write *w = (struct bridge_write *)req;
    struct conn *c = w->c;

    c->bridge_queued -= w->len;
    free(w);
    if (c->closing) {
        return;
    }
    if (status != 0) {
        conn_close(c, RAFT_IOERR);
        return;
    }
    if (c->tls_paused && c->bridge_queued <= LOW_WATER) {
        c->tls_paused = false;
        cr_tls_stream_resume(&c->tls);
    }
}

/* TLS plaintext -> raft. */
static int bridge_send(struct conn *c, const char *buf, size_t len)
{
    struct bridge_write *w = malloc(sizeof *w + len);
    if (w == NULL) {
        return UV_ENOMEM;
    }
    w->c = c;
    w->len = len;
    memcpy(w->data, buf, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&c->bridge, &b, 1,
                      on_bridge_write);
    if (rv != 0) {
        free(w);
        return rv;
    }
    c->bridge_queued += len;
    if (c->bridge_queued > HIGH_WATER && !c->tls_paused) {
        c->tls_paused = true;
        cr_tls_stream_pause(&c->tls);
    }
    return 0;
}

static void on_bridge_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(BRIDGE_READ_SIZE);
    buf->len = buf->base != NULL ? BRIDGE_READ_SIZE : 0;
}

/* raft -> TLS. */
static void on_bridge_read(uv_stream_t *stream, ssize_t nread,
                           const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    int rv = 0;

    if (nread > 0 && !c->closing) {
        rv = cr_tls_stream_write(&c->tls, buf->base, (size_t)nread);
    }
    free(buf->base);
    if (c->closing || nread == 0) {
        return;
    }
    if (nread < 0 || rv != 0) {
        /* raft closed its end (or the session broke): tear both down. */
        conn_close(c, nread < 0 ? RAFT_NOCONNECTION : RAFT_IOERR);
        return;
    }
    if (cr_tls_stream_queued(&c->tls) > HIGH_WATER && !c->bridge_paused) {
        c->bridge_paused = true;
        uv_read_stop((uv_stream_t *)&c->bridge);
    }
}

static void on_tls_drain(struct cr_tls_stream *s)
{
    struct conn *c = s->data;
    if (c->bridge_paused && !c->closing) {
        c->bridge_paused = false;
        if (uv_read_start((uv_stream_t *)&c->bridge, on_bridge_alloc,
                          on_bridge_read) != 0) {
            conn_close(c, RAFT_IOERR);
        }
    }
}

static void free_raft_pipe(uv_handle_t *h)
{
    raft_free(h);
}

/* Make the socketpair: raft gets *raft_side, the bridge keeps the other
 * end. On failure everything is released (asynchronously for handles). */
static int bridge_open(struct conn *c, uv_pipe_t **raft_side)
{
    int fds[2];
    int rv;

    *raft_side = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return uv_translate_sys_error(errno);
    }
    uv_pipe_t *p = raft_malloc(sizeof *p);
    if (p == NULL) {
        close(fds[0]);
        close(fds[1]);
        return UV_ENOMEM;
    }
    rv = uv_pipe_init(c->t->loop, p, 0);
    if (rv != 0) {
        raft_free(p);
        close(fds[0]);
        close(fds[1]);
        return rv;
    }
    rv = uv_pipe_open(p, fds[0]);
    if (rv != 0) {
        uv_close((uv_handle_t *)p, free_raft_pipe);
        close(fds[0]);
        close(fds[1]);
        return rv;
    }
    /* From here p owns fds[0]. */
    rv = uv_pipe_init(c->t->loop, &c->bridge, 0);
    if (rv != 0) {
        uv_close((uv_handle_t *)p, free_raft_pipe);
        close(fds[1]);
        return rv;
    }
    c->bridge.data = c;
    c->bridge_open = true;
    rv = uv_pipe_open(&c->bridge, fds[1]);
    if (rv != 0) {
        close(fds[1]);
        uv_close((uv_handle_t *)p, free_raft_pipe);
        return rv; /* conn_close() closes c->bridge */
    }
    rv = uv_read_start((uv_stream_t *)&c->bridge, on_bridge_alloc,
                       on_bridge_read);
    if (rv != 0) {
        uv_close((uv_handle_t *)p, free_raft_pipe);
        return rv;
    }
    *raft_side = p;
    return 0;
}

/* Everything after the setup message in the same TLS read belongs to
 * raft. The acceptor acks only once the bridge exists, so a dialler never
 * hears "yes" from a connection that is about to be dropped. */
static void establish(struct conn *c, const char *extra, size_t extra_len,
                      raft_id peer_id, const char *peer_address)
{
    struct tls_transport *t = c->t;
    uv_pipe_t *p;
    int rv = bridge_open(c, &p);

    if (rv != 0) {
        snprintf(c->tls.errmsg, sizeof c->tls.errmsg, "socketpair: %s",
                 uv_strerror(rv));
        if (c->outbound) {
            fail_outbound(c, rv, true);
        } else {
            refuse_inbound(c, rv, c->tls.errmsg);
        }
        return;
    }
    if (!c->outbound) {
        unsigned char ack[8];
        put64(ack, MAGIC_ACK);
        if (cr_tls_stream_write(&c->tls, ack, sizeof ack) != 0) {
            uv_close((uv_handle_t *)p, free_raft_pipe);
            conn_close(c, RAFT_IOERR);
            return;
        }
    }
    c->state = C_ESTABLISHED;
    uv_timer_stop(&c->timer);
    cr_tls_stream_set_drain_cb(&c->tls, on_tls_drain);
    if (extra_len > 0 && bridge_send(c, extra, extra_len) != 0) {
        uv_close((uv_handle_t *)p, free_raft_pipe);
        conn_close(c, RAFT_IOERR);
        return;
    }
    if (c->outbound) {
        struct raft_uv_connect *req = c->req;
        raft_uv_connect_cb cb = c->cb;
        c->req = NULL;
        cb(req, (uv_stream_t *)p, 0);
    } else {
        t->accept_cb(t->transport, peer_id, peer_address, (uv_stream_t *)p);
    }
}

/* --- setup messages ------------------------------------------------------ */

/* Gather bytes until c->sbuf holds @want; returns how many were used. */
static size_t gather(struct conn *c, const char *buf, size_t len, size_t want)
{
    if (c->scap < want) {
        unsigned char *n = realloc(c->sbuf, want);
        if (n == NULL) {
            return 0;
        }
        c->sbuf = n;
        c->scap = want;
    }
    size_t take = want - c->slen;
    if (take > len) {
        take = len;
    }
    memcpy(c->sbuf + c->slen, buf, take);
    c->slen += take;
    return take;
}

static void inbound_setup_data(struct conn *c, const char *buf, size_t len)
{
    size_t used = gather(c, buf, len, PREAMBLE_FIXED);
    if (c->slen < PREAMBLE_FIXED) {
        if (used == 0 && len > 0) {
            refuse_inbound(c, UV_ENOMEM, "out of memory");
        }
        return;
    }
    uint64_t magic = get64(c->sbuf);
    uint64_t id = get64(c->sbuf + 8);
    uint64_t alen = get64(c->sbuf + 16);
    if (magic != MAGIC_PREAMBLE) {
        refuse_inbound(c, UV_EPROTO, "bad preamble magic");
        return;
    }
    if (id == 0 || alen == 0 || alen > MAX_ADDRESS_LEN || alen % 8 != 0) {
        refuse_inbound(c, UV_EPROTO, "bad preamble");
        return;
    }
    size_t want = PREAMBLE_FIXED + (size_t)alen;
    used += gather(c, buf + used, len - used, want);
    if (c->slen < want) {
        if (c->scap < want) {
            refuse_inbound(c, UV_ENOMEM, "out of memory");
        }
        return;
    }
    const char *address = (const char *)c->sbuf + PREAMBLE_FIXED;
    if (memchr(address, '\0', (size_t)alen) == NULL || address[0] == '\0') {
        refuse_inbound(c, UV_EPROTO, "bad preamble address");
        return;
    }
    establish(c, buf + used, len - used, (raft_id)id, address);
}

static void outbound_setup_data(struct conn *c, const char *buf, size_t len)
{
    size_t used = gather(c, buf, len, 8);
    if (c->slen < 8) {
        if (used == 0 && len > 0) {
            fail_outbound(c, UV_ENOMEM, false);
        }
        return;
    }
    if (get64(c->sbuf) != MAGIC_ACK) {
        snprintf(c->tls.errmsg, sizeof c->tls.errmsg, "bad acknowledgement");
        fail_outbound(c, UV_EPROTO, true);
        return;
    }
    establish(c, buf + used, len - used, 0, NULL);
}

static void on_tls_read(struct cr_tls_stream *s, ssize_t nread,
                        const char *buf)
{
    struct conn *c = s->data;

    if (c->closing) {
        return;
    }
    if (nread < 0) {
        if (c->state == C_ESTABLISHED) {
            conn_close(c, RAFT_NOCONNECTION);
        } else if (c->outbound) {
            /* A refused TLS 1.3 client learns it here, from the alert. */
            fail_outbound(c, (int)nread, true);
        } else {
            refuse_inbound(c, (int)nread, nread == UV_EOF
                                              ? "closed before preamble"
                                              : NULL);
        }
        return;
    }
    if (c->state == C_ESTABLISHED) {
        if (bridge_send(c, buf, (size_t)nread) != 0) {
            conn_close(c, RAFT_IOERR);
        }
    } else if (c->outbound) {
        outbound_setup_data(c, buf, (size_t)nread);
    } else {
        inbound_setup_data(c, buf, (size_t)nread);
    }
}

static void on_tls_handshake(struct cr_tls_stream *s, int status)
{
    struct conn *c = s->data;

    if (c->closing) {
        return;
    }
    if (status != 0) {
        if (c->outbound) {
            fail_outbound(c, status, true);
        } else {
            refuse_inbound(c, status, NULL);
        }
        return;
    }
    c->state = C_PREAMBLE;
    if (!c->outbound) {
        return;
    }

    struct tls_transport *t = c->t;
    size_t alen = strlen(t->address) + 1;
    alen = (alen + 7) / 8 * 8;
    size_t n = PREAMBLE_FIXED + alen;
    unsigned char *pre = calloc(1, n);
    if (pre == NULL) {
        fail_outbound(c, UV_ENOMEM, false);
        return;
    }
    put64(pre, MAGIC_PREAMBLE);
    put64(pre + 8, (uint64_t)t->id);
    put64(pre + 16, (uint64_t)alen);
    memcpy(pre + PREAMBLE_FIXED, t->address, strlen(t->address));
    int rv = cr_tls_stream_write(&c->tls, pre, n);
    free(pre);
    if (rv != 0) {
        fail_outbound(c, rv, false);
    }
}

static int start_tls(struct conn *c)
{
    int rv;
    uv_tcp_nodelay(&c->tls.tcp, 1);
    rv = cr_tls_stream_start(&c->tls, on_tls_handshake, on_tls_read);
    if (rv == 0) {
        c->state = C_HANDSHAKE;
    }
    return rv;
}

/* --- inbound ------------------------------------------------------------- */

static void free_tcp(uv_handle_t *h)
{
    free(h);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct tls_transport *t = h->data;
    t->listener_open = false;
    transport_maybe_closed(t);
}

/* libuv stops watching a listener whose connection callback did not
 * accept, so even a connection we cannot serve must be taken and closed. */
static void accept_and_drop(struct tls_transport *t, uv_stream_t *listener)
{
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    if (tcp == NULL || uv_tcp_init(t->loop, tcp) != 0) {
        free(tcp);
        return;
    }
    (void)uv_accept(listener, (uv_stream_t *)tcp);
    uv_close((uv_handle_t *)tcp, free_tcp);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct tls_transport *t = listener->data;
    struct sockaddr_storage ss;
    int sl = sizeof ss;

    if (status != 0 || t->closing) {
        return;
    }
    struct conn *c = conn_new(t, false);
    if (c == NULL) {
        accept_and_drop(t, listener);
        return;
    }
    int rv = cr_tls_stream_init(&c->tls, t->loop, t->server_ctx, true);
    if (rv != 0) {
        conn_close(c, RAFT_NOMEM);
        accept_and_drop(t, listener);
        return;
    }
    c->tls_inited = true;
    if (uv_accept(listener, (uv_stream_t *)&c->tls.tcp) != 0) {
        conn_close(c, RAFT_IOERR);
        return;
    }
    snprintf(c->peer, sizeof c->peer, "unknown");
    if (uv_tcp_getpeername(&c->tls.tcp, (struct sockaddr *)&ss, &sl) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, c->peer_host, sizeof c->peer_host);
            port = ntohs(a->sin_port);
            snprintf(c->peer, sizeof c->peer, "%s:%d", c->peer_host, port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, c->peer_host, sizeof c->peer_host);
            port = ntohs(a->sin6_port);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", c->peer_host, port);
        }
    }
    if (start_setup_timer(c) != 0 || start_tls(c) != 0) {
        conn_close(c, RAFT_IOERR);
    }
}

static int resolve_sync(uv_loop_t *loop, const char *host, int port,
                        struct sockaddr_storage *out)
{
    struct addrinfo hints;
    uv_getaddrinfo_t req;
    char service[8];

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    snprintf(service, sizeof service, "%d", port);
    /* Without a callback libuv resolves synchronously: acceptable once,
     * at listen time. */
    int rv = uv_getaddrinfo(loop, &req, NULL, host, service, &hints);
    if (rv != 0) {
        return rv;
    }
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static int tls_listen(struct raft_uv_transport *transport,
                      raft_uv_accept_cb cb)
{
    struct tls_transport *t = transport->impl;
    char host[256];
    int port;
    struct sockaddr_storage addr;
    int rv;

    if (t->address == NULL ||
        cr_raft_address_parse(t->address, host, sizeof host, &port) != 0) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "invalid address '%s'", t->address ? t->address : "");
        return RAFT_INVALID;
    }
    rv = resolve_sync(t->loop, host, port, &addr);
    if (rv != 0) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "resolve '%.100s': %s", host, uv_strerror(rv));
        return RAFT_IOERR;
    }
    rv = uv_tcp_init(t->loop, &t->listener);
    if (rv != 0) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "tcp init: %s", uv_strerror(rv));
        return RAFT_IOERR;
    }
    t->listener.data = t;
    t->listener_open = true;
    rv = uv_tcp_bind(&t->listener, (struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
    }
    if (rv != 0) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "listen on %s: %s", t->address, uv_strerror(rv));
        uv_close((uv_handle_t *)&t->listener, on_listener_closed);
        return RAFT_IOERR;
    }
    t->accept_cb = cb;
    return 0;
}

/* --- outbound ------------------------------------------------------------ */

static void on_tcp_connected(uv_connect_t *req, int status)
{
    struct conn *c = req->data;

    if (c->closing) {
        return;
    }
    if (status != 0) {
        /* Plain TCP failures are routine while peers start: not logged. */
        conn_close(c, RAFT_NOCONNECTION);
        return;
    }
    int rv = start_tls(c);
    if (rv != 0) {
        fail_outbound(c, rv, true);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res)
{
    struct conn *c = req->data;

    c->pending--;
    c->state = C_CONNECTING;
    if (c->closing) {
        uv_freeaddrinfo(res);
        conn_maybe_free(c);
        return;
    }
    if (status != 0 || res == NULL) {
        snprintf(c->tls.errmsg, sizeof c->tls.errmsg, "resolve: %s",
                 uv_strerror(status != 0 ? status : UV_EAI_NONAME));
        uv_freeaddrinfo(res);
        fail_outbound(c, status, true);
        return;
    }
    int rv = cr_tls_stream_init(&c->tls, c->t->loop, c->t->client_ctx, false);
    if (rv != 0) {
        uv_freeaddrinfo(res);
        conn_close(c, RAFT_NOMEM);
        return;
    }
    c->tls.data = c;
    c->tls_inited = true;
    c->tcp_connect.data = c;
    rv = uv_tcp_connect(&c->tcp_connect, &c->tls.tcp, res->ai_addr,
                        on_tcp_connected);
    uv_freeaddrinfo(res);
    if (rv != 0) {
        conn_close(c, RAFT_NOCONNECTION);
    }
}

static int tls_connect(struct raft_uv_transport *transport,
                       struct raft_uv_connect *req, raft_id id,
                       const char *address, raft_uv_connect_cb cb)
{
    struct tls_transport *t = transport->impl;
    char host[256];
    char service[8];
    int port;
    struct addrinfo hints;

    (void)id;
    if (t->closing) {
        return RAFT_CANCELED;
    }
    if (t->address == NULL) { /* init() never ran: no preamble to send */
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "transport not initialised");
        return RAFT_INVALID;
    }
    if (cr_raft_address_parse(address, host, sizeof host, &port) != 0) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "invalid address '%s'", address);
        return RAFT_NOCONNECTION;
    }
    struct conn *c = conn_new(t, true);
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    c->dial_address = strdup(address);
    if (c->dial_address == NULL || start_setup_timer(c) != 0) {
        /* Nothing to report through cb: the caller gets the error. */
        c->closing = true;
        if (c->timer_inited) {
            uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
            c->pending++;
        }
        conn_maybe_free(c);
        return RAFT_NOMEM;
    }

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    c->gai.data = c;
    c->state = C_RESOLVING;
    int rv = uv_getaddrinfo(t->loop, &c->gai, on_resolved, host, service,
                            &hints);
    if (rv != 0) {
        c->state = C_CONNECTING;
        c->closing = true;
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
        c->pending++;
        conn_maybe_free(c);
        return RAFT_NOCONNECTION;
    }
    c->pending++; /* until on_resolved */
    c->req = req;
    c->cb = cb;
    req->cb = cb;
    return 0;
}

/* --- transport ----------------------------------------------------------- */

static int tls_init(struct raft_uv_transport *transport, raft_id id,
                    const char *address)
{
    struct tls_transport *t = transport->impl;
    char *copy = strdup(address);
    if (copy == NULL) {
        return RAFT_NOMEM;
    }
    free(t->address);
    t->address = copy;
    t->id = id;
    return 0;
}

static void tls_close(struct raft_uv_transport *transport,
                      raft_uv_transport_close_cb cb)
{
    struct tls_transport *t = transport->impl;

    t->closing = true;
    if (t->listener_open && !uv_is_closing((uv_handle_t *)&t->listener)) {
        uv_close((uv_handle_t *)&t->listener, on_listener_closed);
    }
    /* Established bridges go too: raft has closed its ends already when
     * it closes the transport, and nothing may outlive the close_cb. */
    struct conn *c = t->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        /* conn_close() may free c (and only c) right away. */
        conn_close(c, RAFT_CANCELED);
        c = next;
    }
    /* Set only now so that no callback above can fire it (and let the
     * user free t) while the loop still walks the list. */
    t->close_cb = cb;
    transport_maybe_closed(t);
}

int cr_tls_transport_init(struct raft_uv_transport *transport,
                          uv_loop_t *loop, SSL_CTX *client_ctx,
                          SSL_CTX *server_ctx)
{
    /* raft_uv_init() may already have set data; keep it, as raft's own
     * transports do. */
    void *data = transport->data;
    memset(transport, 0, sizeof *transport);
    transport->data = data;

    struct tls_transport *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(transport->errmsg, sizeof transport->errmsg,
                 "out of memory");
        return RAFT_NOMEM;
    }
    t->transport = transport;
    t->loop = loop;
    t->client_ctx = client_ctx;
    t->server_ctx = server_ctx;

    transport->impl = t;
    transport->init = tls_init;
    transport->listen = tls_listen;
    transport->connect = tls_connect;
    transport->close = tls_close;
    return 0;
}

void cr_tls_transport_set_ctx(struct raft_uv_transport *transport,
                              SSL_CTX *client_ctx, SSL_CTX *server_ctx)
{
    struct tls_transport *t = transport->impl;
    if (client_ctx != NULL) {
        t->client_ctx = client_ctx;
    }
    if (server_ctx != NULL) {
        t->server_ctx = server_ctx;
    }
}

void cr_tls_transport_close(struct raft_uv_transport *transport)
{
    struct tls_transport *t = transport->impl;
    if (t == NULL) {
        return;
    }
    while (t->logged != NULL) {
        struct logged *l = t->logged;
        t->logged = l->next;
        free(l);
    }
    free(t->address);
    free(t);
    transport->impl = NULL;
}

unsigned long cr_tls_transport_refused(struct raft_uv_transport *transport)
{
    struct tls_transport *t = transport->impl;
    return t != NULL ? t->refused : 0;
}
