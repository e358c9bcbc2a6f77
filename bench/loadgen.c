/*
 * loadgen.c - the one HTTPS load generator every certraft benchmark uses,
 * for certraft and for the systems it is compared with (etcd's JSON
 * gateway, openssl s_server), so that both sides of a comparison are
 * driven identically.
 *
 * Raw OpenSSL over non-blocking sockets and epoll: N connections, each
 * with exactly one request in flight (a closed loop: a connection sends
 * its next request when the previous answer is complete), HTTP/1.1
 * keep-alive unless --new-conn (then every request opens a new TCP
 * connection and does a full mutual-TLS handshake, and its latency counts
 * from the connect). Every completed request's latency is kept, so the
 * percentiles are exact.
 *
 * Requests are either fixed (--method/--path/--body) or generated:
 *   --gen upload     PUT /admin/certificates, a distinct certificate each
 *                    (--template DER with a 16-byte serial 11 12 .. 20,
 *                    replaced by a counter; scale.c does the same)
 *   --gen etcd-put   POST /v3/kv/put {"key": b64("cert/<serial>"),
 *                    "value": b64(the same DER bytes)}
 *   --gen generate   POST /admin/certificates {"Name": "gen-<n>", ...}
 *
 * Prints one JSON object on stdout: ops, errors, seconds, ops_per_s,
 * p50/p90/p99/p999/max/mean latency in ms, handshakes, resumed,
 * total_ok (successes including warm-up and stragglers, to divide CPU
 * time by) and the first unexpected answer (if any).
 *
 *   loadgen --host 127.0.0.1 --port 8001 --cacert ca.crt --cert c.crt
 *           --key c.key --conns 64 --seconds 10 --gen upload
 *           --template t.der [--expect 201] [--threads 1] [--warmup 1]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

enum gen { GEN_FIXED, GEN_UPLOAD, GEN_ETCD_PUT, GEN_GENERATE };

static struct {
    const char *host;
    int port;
    const char *cacert, *cert, *key;
    int conns, threads;
    double seconds, warmup;
    long requests; /* 0: unlimited (time-bound) */
    const char *method, *path, *body;
    enum gen gen;
    unsigned char *tmpl;
    size_t tmpl_len, serial_at;
    uint64_t seq_start;
    int expect;
    bool new_conn, resume, insecure;
    const char *name;
} opt = {
    .host = "127.0.0.1",
    .conns = 1,
    .threads = 1,
    .seconds = 5,
    .method = "GET",
    .path = "/",
    .expect = 0,
    .name = "bench",
};

static SSL_CTX *ctx;
static atomic_long issued;     /* requests started (for --requests) */
static atomic_ullong seq;      /* generated request counter */
static atomic_int stop_flag;
static uint64_t t_begin, t_measure, t_end; /* ns, CLOCK_MONOTONIC */
static char first_error[512];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

/* --- growable buffers ---------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
        die("out of memory");
    }
    b->cap = cap;
}

static void buf_add(struct buf *b, const void *d, size_t n)
{
    buf_reserve(b, n + 1);
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_b64(struct buf *b, const unsigned char *d, size_t n)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    buf_reserve(b, need);
    int w = EVP_EncodeBlock((unsigned char *)b->p + b->len, d, (int)n);
    b->len += (size_t)w;
    b->p[b->len] = '\0';
}

/* --- requests ------------------------------------------------------------ */

static const unsigned char marker[16] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
                                         0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
                                         0x1d, 0x1e, 0x1f, 0x20};

/* The request to send next, into @out (reset first). */
static void build_request(struct buf *out, unsigned char *der_scratch)
{
    struct buf body = {0};
    const char *method = opt.method, *path = opt.path;
    const char *ctype = "application/json";

    out->len = 0;
    if (opt.gen == GEN_UPLOAD || opt.gen == GEN_ETCD_PUT) {
        uint64_t n = atomic_fetch_add(&seq, 1);
        memcpy(der_scratch, opt.tmpl, opt.tmpl_len);
        unsigned char *s = der_scratch + opt.serial_at;
        s[0] = 0x11; /* positive, non-zero first byte: still DER-valid */
        memset(s + 1, 0, 7);
        for (int i = 0; i < 8; i++) {
            s[8 + i] = (unsigned char)(n >> (56 - 8 * i));
        }
        if (opt.gen == GEN_UPLOAD) {
            method = "PUT";
            path = "/admin/certificates";
            buf_addf(&body, "{\"Name\":\"%s\",\"Certificate\":\"", opt.name);
            buf_b64(&body, der_scratch, opt.tmpl_len);
            buf_addf(&body, "\",\"SecurityClearance\":\"ValidUser\"}");
        } else {
            char key[64];
            int kl = snprintf(key, sizeof key, "cert/%016llx",
                              (unsigned long long)n);
            method = "POST";
            path = "/v3/kv/put";
            buf_addf(&body, "{\"key\":\"");
            buf_b64(&body, (unsigned char *)key, (size_t)kl);
            buf_addf(&body, "\",\"value\":\"");
            buf_b64(&body, der_scratch, opt.tmpl_len);
            buf_addf(&body, "\"}");
        }
    } else if (opt.gen == GEN_GENERATE) {
        uint64_t n = atomic_fetch_add(&seq, 1);
        method = "POST";
        path = "/admin/certificates";
        buf_addf(&body,
                 "{\"Name\":\"%s-%llu\",\"SecurityClearance\":\"ValidUser\"}",
                 opt.name, (unsigned long long)n);
    } else if (opt.body != NULL) {
        buf_add(&body, opt.body, strlen(opt.body));
    }
    buf_addf(out, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n", method, path, opt.host,
             opt.port);
    if (body.len > 0 || strcmp(method, "GET") != 0) {
        buf_addf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype,
                 body.len);
    }
    buf_addf(out, "%s\r\n", opt.new_conn ? "Connection: close\r\n" : "");
    if (body.len > 0) {
        buf_add(out, body.p, body.len);
    }
    free(body.p);
}

/* --- connections ---------------------------------------------------------- */

enum cstate { C_NONE, C_CONNECTING, C_HANDSHAKE, C_WRITING, C_READING, C_WAIT };

struct conn {
    struct worker *w;
    int fd;
    SSL *ssl;
    SSL_SESSION *sess;
    enum cstate st;
    struct buf req;
    size_t req_off;
    struct buf resp;
    size_t hdr_end;   /* 0 until the head is complete */
    long clen;        /* -1 chunked, -2 until close */
    int status;
    bool close_after;
    uint64_t t0;
    uint64_t retry_at;
    unsigned char *der;
};

struct worker {
    pthread_t th;
    int ep;
    struct conn *c;
    int n;
    uint64_t *lat;
    size_t n_lat, cap_lat;
    long ops, errors, handshakes, resumed, outside;
};

static void record_error(const char *fmt, ...)
{
    pthread_mutex_lock(&err_lock);
    if (first_error[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_error, sizeof first_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&err_lock);
}

static void conn_drop(struct conn *c)
{
    if (c->ssl != NULL) {
        /* Freeing a session that was not shut down marks its session
         * "not resumable"; this client never resumes anything else. */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->st = C_NONE;
}

static void set_events(struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e) != 0) {
        epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &e);
    }
}

static void conn_fail(struct conn *c, const char *why)
{
    unsigned long e = ERR_get_error();
    char eb[200] = "";
    if (e != 0) {
        ERR_error_string_n(e, eb, sizeof eb);
    }
    ERR_clear_error();
    if (!atomic_load(&stop_flag)) {
        c->w->errors++;
        record_error("connection: %s %s (errno %d)", why, eb, errno);
    }
    conn_drop(c);
    c->st = C_WAIT;
    c->retry_at = now_ns() + 20000000ull; /* 20 ms: do not spin */
}

static bool may_start(void)
{
    if (atomic_load(&stop_flag)) {
        return false;
    }
    if (opt.requests > 0) {
        return atomic_fetch_add(&issued, 1) < opt.requests;
    }
    return now_ns() < t_end;
}

static void conn_connect(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)opt.port)};
    int one = 1;

    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        die("socket");
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &e);
    c->ssl = SSL_new(ctx);
    SSL_set_app_data(c->ssl, c);
    SSL_set_fd(c->ssl, c->fd);
    if (c->sess != NULL) {
        SSL_set_session(c->ssl, c->sess);
        SSL_SESSION_free(c->sess);
        c->sess = NULL;
    }
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
        errno != EINPROGRESS) {
        conn_fail(c, "connect");
        return;
    }
    c->st = C_CONNECTING;
}

static void conn_step(struct conn *c);

/* --resume: keep the newest session (TLS 1.3 tickets arrive after the
 * handshake) for the next connection of the same slot. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct conn *c = SSL_get_app_data(ssl);
    if (c == NULL || !SSL_SESSION_is_resumable(sess)) {
        return 0;
    }
    SSL_SESSION_free(c->sess);
    c->sess = sess;
    return 1; /* we keep the reference */
}

/* Begin the next request on @c (connecting first if needed). */
static void conn_start(struct conn *c)
{
    if (!may_start()) {
        conn_drop(c);
        c->st = C_NONE;
        return;
    }
    build_request(&c->req, c->der);
    c->req_off = 0;
    c->resp.len = 0;
    c->hdr_end = 0;
    c->status = 0;
    c->close_after = false;
    c->t0 = now_ns();
    if (c->ssl == NULL) {
        conn_connect(c);
        if (c->st != C_CONNECTING) {
            return;
        }
    } else {
        c->st = C_WRITING;
    }
    conn_step(c);
}

/* Is the response in c->resp complete? Parses the head once. */
static bool resp_complete(struct conn *c, bool eof)
{
    if (c->hdr_end == 0) {
        char *h = memmem(c->resp.p, c->resp.len, "\r\n\r\n", 4);
        if (h == NULL) {
            return false;
        }
        c->hdr_end = (size_t)(h - c->resp.p) + 4;
        c->status = atoi(c->resp.p + 9);
        c->clen = -2;
        /* walk header lines */
        char *line = strstr(c->resp.p, "\r\n") + 2;
        while (line < c->resp.p + c->hdr_end - 2) {
            char *end = strstr(line, "\r\n");
            if (strncasecmp(line, "content-length:", 15) == 0) {
                c->clen = atol(line + 15);
            } else if (strncasecmp(line, "transfer-encoding:", 18) == 0 &&
                       memmem(line, (size_t)(end - line), "chunked", 7)) {
                c->clen = -1;
            } else if (strncasecmp(line, "connection:", 11) == 0 &&
                       memmem(line, (size_t)(end - line), "close", 5)) {
                c->close_after = true;
            }
            line = end + 2;
        }
        if (strncmp(c->resp.p, "HTTP/1.0", 8) == 0) {
            c->close_after = true;
        }
        if (c->status == 204 || c->status == 304) {
            c->clen = 0;
        }
    }
    size_t have = c->resp.len - c->hdr_end;
    if (c->clen >= 0) {
        return have >= (size_t)c->clen;
    }
    if (c->clen == -2) {
        return eof;
    }
    /* chunked: walk the chunks */
    const char *p = c->resp.p + c->hdr_end, *end = c->resp.p + c->resp.len;
    for (;;) {
        const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (nl == NULL) {
            return false;
        }
        long sz = strtol(p, NULL, 16);
        if (sz == 0) {
            return memmem(nl, (size_t)(end - nl), "\r\n\r\n", 4) != NULL ||
                   (end - nl >= 4 && memcmp(nl, "\r\n\r\n", 4) == 0);
        }
        p = nl + 2 + sz + 2;
        if (p > end) {
            return false;
        }
    }
}

static void conn_done(struct conn *c)
{
    struct worker *w = c->w;
    uint64_t t1 = now_ns();
    int want = opt.expect;
    bool ok = want ? c->status == want : (c->status >= 200 && c->status < 300);

    if (!ok) {
        if (!atomic_load(&stop_flag)) {
            w->errors++;
            record_error("HTTP %d: %.300s", c->status,
                         c->resp.p + (c->hdr_end ? c->hdr_end : 0));
        }
    } else if (c->t0 >= t_measure && (opt.requests > 0 || t1 <= t_end)) {
        if (w->n_lat == w->cap_lat) {
            w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 65536;
            w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
            if (w->lat == NULL) {
                die("out of memory");
            }
        }
        w->lat[w->n_lat++] = t1 - c->t0;
        w->ops++;
    } else {
        w->outside++;
    }
    if (opt.new_conn || c->close_after) {
        conn_drop(c);
    }
    conn_start(c);
}

/* Advance @c as far as it goes without blocking. */
static void conn_step(struct conn *c)
{
    for (;;) {
        switch (c->st) {
        case C_CONNECTING: {
            int err = 0;
            socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err == EINPROGRESS) {
                return;
            }
            if (err != 0) {
                errno = err;
                conn_fail(c, "connect");
                return;
            }
            c->st = C_HANDSHAKE;
            break;
        }
        case C_HANDSHAKE: {
            int r = SSL_connect(c->ssl);
            if (r == 1) {
                c->w->handshakes++;
                if (SSL_session_reused(c->ssl)) {
                    c->w->resumed++;
                }
                c->st = C_WRITING;
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                set_events(c, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLOUT);
                return;
            }
            conn_fail(c, "handshake");
            return;
        }
        case C_WRITING: {
            int r = SSL_write(c->ssl, c->req.p + c->req_off,
                              (int)(c->req.len - c->req_off));
            if (r > 0) {
                c->req_off += (size_t)r;
                if (c->req_off == c->req.len) {
                    c->st = C_READING;
                    set_events(c, EPOLLIN);
                }
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                set_events(c, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLOUT);
                return;
            }
            conn_fail(c, "write");
            return;
        }
        case C_READING: {
            buf_reserve(&c->resp, 16384 + 1);
            int r = SSL_read(c->ssl, c->resp.p + c->resp.len, 16384);
            if (r > 0) {
                c->resp.len += (size_t)r;
                c->resp.p[c->resp.len] = '\0';
                if (resp_complete(c, false)) {
                    conn_done(c);
                    return;
                }
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                return; /* EPOLLIN already */
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, EPOLLOUT);
                return;
            }
            if ((e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) &&
                c->resp.len > 0 && resp_complete(c, true)) {
                ERR_clear_error();
                c->close_after = true;
                conn_done(c);
                return;
            }
            conn_fail(c, "read");
            return;
        }
        default:
            return;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];

    for (int i = 0; i < w->n; i++) {
        conn_start(&w->c[i]);
    }
    for (;;) {
        uint64_t now = now_ns();
        bool busy = false;
        for (int i = 0; i < w->n; i++) {
            struct conn *c = &w->c[i];
            if (c->st == C_WAIT && now >= c->retry_at) {
                conn_start(c);
            }
            if (c->st != C_NONE) {
                busy = true;
            }
        }
        if (!busy) {
            break;
        }
        if (opt.requests == 0 && now > t_end + 2000000000ull) {
            break; /* stragglers past the end do not count anyway */
        }
        int n = epoll_wait(w->ep, evs, 256, 10);
        for (int i = 0; i < n; i++) {
            conn_step(evs[i].data.ptr);
        }
    }
    for (int i = 0; i < w->n; i++) {
        conn_drop(&w->c[i]);
        SSL_SESSION_free(w->c[i].sess);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t k = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    if (k >= n) {
        k = n - 1;
    }
    return (double)v[k] / 1e6;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        die(path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        die("read");
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void json_escape(const char *s, FILE *out)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(out, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(out, "\\u%04x", ch);
        } else {
            fputc(ch, out);
        }
    }
}

static const char usage[] =
    "usage: loadgen --port P [--host 127.0.0.1] [--cacert F] [--cert F "
    "--key F]\n"
    "  [--conns N] [--threads T] [--seconds S | --requests R] [--warmup S]\n"
    "  [--method M --path P --body B | --gen upload|etcd-put|generate\n"
    "   --template DER --seq-start N] [--expect STATUS] [--new-conn]\n"
    "  [--resume] [--name NAME] [--insecure]\n";

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'h'},      {"port", 1, 0, 'p'},
        {"cacert", 1, 0, 'A'},    {"cert", 1, 0, 'C'},
        {"key", 1, 0, 'K'},       {"conns", 1, 0, 'c'},
        {"threads", 1, 0, 't'},   {"seconds", 1, 0, 's'},
        {"warmup", 1, 0, 'w'},    {"requests", 1, 0, 'n'},
        {"method", 1, 0, 'm'},    {"path", 1, 0, 'P'},
        {"body", 1, 0, 'b'},      {"gen", 1, 0, 'g'},
        {"template", 1, 0, 'T'},  {"seq-start", 1, 0, 'S'},
        {"expect", 1, 0, 'e'},    {"new-conn", 0, 0, 'N'},
        {"resume", 0, 0, 'R'},    {"name", 1, 0, 'a'},
        {"insecure", 0, 0, 'I'},  {"help", 0, 0, '?'},
        {0, 0, 0, 0}};
    const char *tmpl_path = NULL;
    int o;

    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'A': opt.cacert = optarg; break;
        case 'C': opt.cert = optarg; break;
        case 'K': opt.key = optarg; break;
        case 'c': opt.conns = atoi(optarg); break;
        case 't': opt.threads = atoi(optarg); break;
        case 's': opt.seconds = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'n': opt.requests = atol(optarg); break;
        case 'm': opt.method = optarg; break;
        case 'P': opt.path = optarg; break;
        case 'b': opt.body = optarg; break;
        case 'g':
            opt.gen = strcmp(optarg, "upload") == 0     ? GEN_UPLOAD
                      : strcmp(optarg, "etcd-put") == 0 ? GEN_ETCD_PUT
                      : strcmp(optarg, "generate") == 0 ? GEN_GENERATE
                                                        : GEN_FIXED;
            break;
        case 'T': tmpl_path = optarg; break;
        case 'S': opt.seq_start = strtoull(optarg, NULL, 0); break;
        case 'e': opt.expect = atoi(optarg); break;
        case 'N': opt.new_conn = true; break;
        case 'R': opt.resume = true; break;
        case 'a': opt.name = optarg; break;
        case 'I': opt.insecure = true; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (opt.port <= 0 || opt.conns < 1 || opt.threads < 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (opt.threads > opt.conns) {
        opt.threads = opt.conns;
    }
    if (opt.gen == GEN_UPLOAD || opt.gen == GEN_ETCD_PUT) {
        if (tmpl_path == NULL) {
            die("--gen upload/etcd-put needs --template");
        }
        opt.tmpl = read_file(tmpl_path, &opt.tmpl_len);
        unsigned char *m = memmem(opt.tmpl, opt.tmpl_len, marker, 16);
        if (m == NULL) {
            die("template has no 11 12 .. 20 serial marker");
        }
        opt.serial_at = (size_t)(m - opt.tmpl);
    }
    atomic_store(&seq, opt.seq_start);

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        die("SSL_CTX_new");
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (opt.cacert != NULL && !opt.insecure) {
        if (SSL_CTX_load_verify_locations(ctx, opt.cacert, NULL) != 1) {
            die("cannot load --cacert");
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (opt.cert != NULL &&
        (SSL_CTX_use_certificate_chain_file(ctx, opt.cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, opt.key, SSL_FILETYPE_PEM) != 1)) {
        die("cannot load --cert/--key");
    }
    if (opt.resume) {
        SSL_CTX_set_session_cache_mode(
            ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    signal(SIGPIPE, SIG_IGN);

    struct worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    t_begin = now_ns();
    t_measure = t_begin + (uint64_t)(opt.warmup * 1e9);
    t_end = t_measure + (uint64_t)(opt.seconds * 1e9);
    int per = opt.conns / opt.threads, extra = opt.conns % opt.threads;
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &ws[t];
        w->n = per + (t < extra);
        w->c = calloc((size_t)w->n, sizeof *w->c);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < w->n; i++) {
            w->c[i].w = w;
            w->c[i].fd = -1;
            w->c[i].der = malloc(opt.tmpl_len + 1);
        }
        pthread_create(&w->th, NULL, worker_main, w);
    }
    uint64_t lat_n = 0;
    long ops = 0, errors = 0, hs = 0, resumed = 0, total_ok = 0;
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(ws[t].th, NULL);
        lat_n += ws[t].n_lat;
        ops += ws[t].ops;
        total_ok += ws[t].ops + ws[t].outside;
        errors += ws[t].errors;
        hs += ws[t].handshakes;
        resumed += ws[t].resumed;
    }
    uint64_t t_fin = now_ns();
    uint64_t *all = malloc((lat_n ? lat_n : 1) * sizeof *all);
    size_t k = 0;
    double sum = 0;
    for (int t = 0; t < opt.threads; t++) {
        memcpy(all + k, ws[t].lat, ws[t].n_lat * sizeof *all);
        k += ws[t].n_lat;
    }
    qsort(all, lat_n, sizeof *all, cmp_u64);
    for (size_t i = 0; i < lat_n; i++) {
        sum += (double)all[i];
    }
    double secs = opt.requests > 0 ? (double)(t_fin - t_measure) / 1e9
                                   : (double)(t_end - t_measure) / 1e9;
    printf("{\"ops\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"ops_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
           "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"handshakes\":%ld,"
           "\"resumed\":%ld,\"conns\":%d,\"total_ok\":%ld,\"first_error\":\"",
           ops, errors, secs, secs > 0 ? (double)ops / secs : 0,
           pct(all, lat_n, 50), pct(all, lat_n, 90), pct(all, lat_n, 99),
           pct(all, lat_n, 99.9), lat_n ? (double)all[lat_n - 1] / 1e6 : 0,
           lat_n ? sum / (double)lat_n / 1e6 : 0, hs, resumed, opt.conns,
           total_ok);
    json_escape(first_error, stdout);
    printf("\"}\n");
    return 0;
}
