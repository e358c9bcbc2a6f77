/*
 * http_server.c - the HTTPS/1.1 server of certnode: libuv accepts, tls_stream
 * carries the bytes, http-parser splits them into requests.
 *
 * Each connection owns one parser, one input backlog and one output buffer,
 * all reused from request to request. A request lives in its own heap
 * object (strings, headers, body, a copy of the peer certificate) because
 * the handler may answer after the connection is gone; once answered, the
 * object goes back to its connection as a spare so that a keep-alive
 * connection allocates nothing in the steady state.
 *
 * One request is in flight per connection: the parser pauses itself at the
 * end of each message, bytes that arrive meanwhile wait in the backlog and
 * are parsed once the response is queued. Reading continues while the
 * handler works (so that a client hanging up is noticed and the request
 * detached) until the backlog holds max_header_bytes.
 *
 * Connections beyond max_connections still complete the TLS handshake and
 * get a 503 JSON answer to their first request, then close: a client sees
 * why it was refused instead of a reset. At most CR_HTTP_MAX_REJECTING such
 * connections exist at a time; beyond that, new sockets are accepted and
 * closed at once so that a flood costs no handshakes.
 *
 * Errors found by the server itself (400, 413, 431, 503) close the
 * connection, but only after a short "linger" during which input is read
 * and dropped: closing a socket with unread data makes the kernel send a
 * reset, which can destroy the error response before the client reads it.
 *
 * idle_timeout_ms bounds every wait on the client: between requests (from
 * when the last response was handed to the kernel), for a whole request
 * head (from its first byte: trickling bytes does not extend it), between
 * reads of a body, and for a response the client does not read. The TLS
 * handshake has its own 10 s. A zero field in cr_http_limits means the
 * default.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include <certraft/http_server.h>
#include <certraft/tls_stream.h>

#define CR_HTTP_HANDSHAKE_TIMEOUT_MS 10000
#define CR_HTTP_LINGER_MS 2000
#define CR_HTTP_MAX_REJECTING 16
/* Request buffers that grew beyond this are freed rather than kept for the
 * next request: a keep-alive connection must not pin a 4 MiB body. */
#define CR_HTTP_KEEP_BUF_MAX (64 * 1024)
#define CR_HTTP_PRERESERVE_MAX (1024 * 1024)
/* Bodies up to this size are sent in the same TLS write as the head. */
#define CR_HTTP_COALESCE_MAX (16 * 1024)

struct cr_buf
{
    char *base;
    size_t len;
    size_t cap;
};

static int buf_reserve(struct cr_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - b->len) {
        return -1;
    }
    need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap != 0 ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    p = realloc(b->base, cap);
    if (p == NULL) {
        return -1;
    }
    b->base = p;
    b->cap = cap;
    return 0;
}

static int buf_append(struct cr_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) != 0) {
        return -1;
    }
    if (len > 0) {
        memcpy(b->base + b->len, data, len);
        b->len += len;
    }
    return 0;
}

static void buf_free(struct cr_buf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

/* Keep a buffer for reuse unless it grew large. */
static void buf_recycle(struct cr_buf *b)
{
    if (b->cap > CR_HTTP_KEEP_BUF_MAX) {
        buf_free(b);
    }
    b->len = 0;
}

/* Header names and values are stored as offsets while strs may still
 * move; pointers are resolved once the headers are complete. */
struct hdr_off
{
    size_t name;
    size_t value;
};

#define NO_VALUE SIZE_MAX

struct cr_http_req_impl
{
    struct cr_http_request pub; /* first: the handler's pointer is ours */
    struct cr_buf strs;         /* url, names and values, path, query */
    struct cr_buf body;
    struct hdr_off *offs;
    size_t n_offs;
    size_t offs_cap;
    struct cr_http_header *headers;
    size_t headers_cap;
    unsigned char *der; /* copy: the stream's buffer dies with it */
    size_t der_len;
    bool der_loaded;
    bool is_head;
    char remote[64];
};

enum conn_state
{
    CONN_HANDSHAKE,
    CONN_IDLE,     /* between requests */
    CONN_READING,  /* a request is partly received */
    CONN_WAITING,  /* the handler has the request */
    CONN_DRAINING, /* last response queued; close once it is sent */
    CONN_LINGER,   /* error response queued; drop input, then close */
    CONN_CLOSED
};

struct cr_http_conn
{
    struct cr_tls_stream tls;
    uv_timer_t timer; /* idle, request, drain and linger deadlines */
    struct cr_http_server *srv;
    struct cr_http_conn *prev;
    struct cr_http_conn *next;
    enum conn_state state;
    unsigned handles; /* tls + timer still open */
    bool rejecting;   /* over max_connections: answer 503 */
    bool in_parse;    /* cr_http_respond must not re-enter the parser */
    bool reads_paused;
    bool keep_alive;

    http_parser parser;
    const char *exec_base; /* start of the chunk being parsed */
    size_t hdr_bytes;      /* header bytes of the current request so far */
    bool headers_done;
    enum { LAST_NONE, LAST_FIELD, LAST_VALUE } last;
    int error_status; /* set by a callback that stops the parser */
    const char *error_msg;

    struct cr_http_req_impl *req; /* being parsed or with the handler */
    struct cr_http_req_impl *spare;
    struct cr_buf in; /* backlog of unparsed plaintext */
    size_t in_off;
    struct cr_buf out; /* response head (and small bodies) */

    time_t date_sec;
    char date[40];
    char remote[64];
};

/* srv->conns: what the public struct cannot hold. */
struct cr_http_server_impl
{
    struct cr_http_conn *head;
    unsigned n_rejecting;
    unsigned n_dropping; /* sockets accepted only to be closed */
    bool listener_closed;
};

static void conn_close(struct cr_http_conn *c);
static void conn_process_input(struct cr_http_conn *c);

/* Every deadline of a connection (idle, head, body, drain, linger) ends
 * the same way. The repeat equals the timeout so that uv_timer_again()
 * can push a running deadline back. */
static void timeout_cb(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_arm(struct cr_http_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, timeout_cb, ms, ms);
}

static uint64_t conn_linger_ms(const struct cr_http_conn *c)
{
    unsigned idle = c->srv->limits.idle_timeout_ms;
    return idle < CR_HTTP_LINGER_MS ? idle : CR_HTTP_LINGER_MS;
}

/* --- small helpers ------------------------------------------------------ */

void cr_http_limits_default(struct cr_http_limits *limits)
{
    limits->max_header_bytes = 16 * 1024;
    limits->max_body_bytes = 4 * 1024 * 1024;
    limits->idle_timeout_ms = 60 * 1000;
    limits->max_connections = 1024;
}

const char *cr_http_reason(int status)
{
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Entity";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Unknown";
    }
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/* Decode one character of a percent-encoded string at @s (@end bounds it)
 * into @out; returns how many input bytes it took. A malformed escape is
 * taken literally, as browsers do. */
static size_t pct_decode_one(const char *s, const char *end, bool plus,
                             char *out)
{
    if (*s == '%' && end - s >= 3) {
        int hi = hexval((unsigned char)s[1]);
        int lo = hexval((unsigned char)s[2]);
        if (hi >= 0 && lo >= 0) {
            *out = (char)(hi << 4 | lo);
            return 3;
        }
    }
    *out = (plus && *s == '+') ? ' ' : *s;
    return 1;
}

/* The HTTP date for a response, formatted at most once a second. */
static const char *conn_date(struct cr_http_conn *c)
{
    time_t now = time(NULL);
    /* by hand: strftime's %a and %b would follow the locale */
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};

    if (now != c->date_sec || c->date[0] == '\0') {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(c->date, sizeof c->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        c->date_sec = now;
    }
    return c->date;
}

/* --- requests --------------------------------------------------------- */

static void req_free(struct cr_http_req_impl *r)
{
    if (r == NULL) {
        return;
    }
    buf_free(&r->strs);
    buf_free(&r->body);
    free(r->offs);
    free(r->headers);
    free(r->der);
    free(r);
}

/* A request object for a new message: the connection's spare if any. */
static struct cr_http_req_impl *req_acquire(struct cr_http_conn *c)
{
    struct cr_http_req_impl *r = c->spare;

    if (r != NULL) {
        c->spare = NULL;
    } else {
        r = calloc(1, sizeof *r);
        if (r == NULL) {
            return NULL;
        }
        snprintf(r->remote, sizeof r->remote, "%s", c->remote);
    }
    if (!r->der_loaded) {
        size_t len = 0;
        const unsigned char *der = cr_tls_stream_peer_der(&c->tls, &len);
        if (der != NULL && len > 0) {
            r->der = malloc(len);
            if (r->der == NULL) {
                req_free(r);
                return NULL;
            }
            memcpy(r->der, der, len);
            r->der_len = len;
        }
        r->der_loaded = true;
    }
    memset(&r->pub, 0, sizeof r->pub);
    r->pub.server = c->srv;
    r->pub.conn = c;
    r->pub.peer_der = r->der;
    r->pub.peer_der_len = r->der_len;
    r->pub.remote_addr = r->remote;
    r->strs.len = 0;
    r->body.len = 0;
    r->n_offs = 0;
    r->is_head = false;
    return r;
}

/* Give a finished request back to its connection for the next message. */
static void req_release(struct cr_http_conn *c, struct cr_http_req_impl *r)
{
    if (c == NULL || c->spare != NULL || c->state == CONN_CLOSED) {
        req_free(r);
        return;
    }
    buf_recycle(&r->strs);
    buf_recycle(&r->body);
    c->spare = r;
}

/* --- parser callbacks ---------------------------------------------------- */

static int parse_fail(struct cr_http_conn *c, int status, const char *msg)
{
    c->error_status = status;
    c->error_msg = msg;
    return -1;
}

/* Counts header bytes up to @end, which points into the current chunk. */
static int check_header_size(struct cr_http_conn *c, const char *end)
{
    size_t used = c->hdr_bytes + (size_t)(end - c->exec_base);
    if (used > c->srv->limits.max_header_bytes) {
        return parse_fail(c, 431, "request line and headers are too large");
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct cr_http_conn *c = p->data;

    c->req = req_acquire(c);
    if (c->req == NULL) {
        return parse_fail(c, 503, "out of memory");
    }
    c->state = CONN_READING;
    c->headers_done = false;
    c->last = LAST_NONE;
    /* An absolute deadline for the head: trickling a byte at a time must
     * not keep a connection (slowloris). */
    conn_arm(c, c->srv->limits.idle_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct cr_http_conn *c = p->data;

    if (check_header_size(c, at + len) != 0) {
        return -1;
    }
    if (buf_append(&c->req->strs, at, len) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct cr_http_conn *c = p->data;
    struct cr_http_req_impl *r = c->req;

    if (c->headers_done) {
        return 0; /* trailers of a chunked body are not kept */
    }
    if (check_header_size(c, at + len) != 0) {
        return -1;
    }
    if (c->last != LAST_FIELD) {
        /* a new header: terminate the url or the previous value */
        if (buf_append(&r->strs, "", 1) != 0) {
            return parse_fail(c, 503, "out of memory");
        }
        if (r->n_offs == r->offs_cap) {
            size_t cap = r->offs_cap != 0 ? r->offs_cap * 2 : 16;
            struct hdr_off *offs = realloc(r->offs, cap * sizeof *offs);
            if (offs == NULL) {
                return parse_fail(c, 503, "out of memory");
            }
            r->offs = offs;
            r->offs_cap = cap;
        }
        r->offs[r->n_offs].name = r->strs.len;
        r->offs[r->n_offs].value = NO_VALUE;
        r->n_offs++;
        c->last = LAST_FIELD;
    }
    if (buf_append(&r->strs, at, len) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct cr_http_conn *c = p->data;
    struct cr_http_req_impl *r = c->req;

    if (c->headers_done) {
        return 0;
    }
    if (check_header_size(c, at + len) != 0) {
        return -1;
    }
    if (c->last != LAST_VALUE) {
        if (buf_append(&r->strs, "", 1) != 0) {
            return parse_fail(c, 503, "out of memory");
        }
        r->offs[r->n_offs - 1].value = r->strs.len;
        c->last = LAST_VALUE;
    }
    if (buf_append(&r->strs, at, len) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    return 0;
}

/* Split the url (the first string of strs) into a decoded path and a raw
 * query, both appended to strs. Returns -2 when the path decodes to a NUL. */
static int split_url(struct cr_http_req_impl *r, size_t *path_off,
                     size_t *query_off)
{
    const char *url = r->strs.base;
    size_t url_len = strlen(url);
    size_t p0 = 0, pend, end = url_len, q0 = 0, i;
    const char *hash, *q;
    char *base, *o;

    /* absolute-form ("https://host:port/x?y"): the path follows the host */
    if (url[0] != '/' && url[0] != '*') {
        const char *scheme = strstr(url, "://");
        if (scheme != NULL) {
            p0 = (size_t)(scheme + 3 - url);
            p0 += strcspn(url + p0, "/?#");
        }
    }
    hash = memchr(url + p0, '#', url_len - p0);
    if (hash != NULL) {
        end = (size_t)(hash - url);
    }
    q = memchr(url + p0, '?', end - p0);
    pend = q != NULL ? (size_t)(q - url) : end;
    if (q != NULL) {
        q0 = pend + 1;
    }

    /* decoding never lengthens; +3: a "/" for an empty path and two NULs */
    if (buf_reserve(&r->strs, (pend - p0) + (end - q0) + 3) != 0) {
        return -1;
    }
    base = r->strs.base;
    o = base + r->strs.len;
    *path_off = r->strs.len;
    if (p0 == pend) {
        *o++ = '/';
    }
    for (i = p0; i < pend; o++) {
        i += pct_decode_one(base + i, base + pend, false, o);
        if (*o == '\0') {
            return -2;
        }
    }
    *o++ = '\0';
    *query_off = (size_t)(o - base);
    if (q != NULL) {
        memcpy(o, base + q0, end - q0);
        o += end - q0;
    }
    *o++ = '\0';
    r->strs.len = (size_t)(o - base);
    return 0;
}

static int send_continue(struct cr_http_conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    return cr_tls_stream_write(&c->tls, msg, sizeof msg - 1);
}

static int on_headers_complete(http_parser *p)
{
    struct cr_http_conn *c = p->data;
    struct cr_http_req_impl *r = c->req;
    const struct cr_http_limits *lim = &c->srv->limits;
    size_t path_off, query_off, i;
    const char *expect;
    int rv;

    c->headers_done = true;
    /* terminate the url or the last value */
    if (buf_append(&r->strs, "", 1) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    if (c->rejecting) {
        return parse_fail(c, 503, "too many connections");
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > lim->max_body_bytes) {
        return parse_fail(c, 413, "request body is too large");
    }

    rv = split_url(r, &path_off, &query_off);
    if (rv == -2) {
        return parse_fail(c, 400, "NUL byte in the request path");
    }
    if (rv != 0) {
        return parse_fail(c, 503, "out of memory");
    }

    /* strs is complete: resolve offsets into pointers */
    if (r->n_offs > r->headers_cap) {
        struct cr_http_header *h =
            realloc(r->headers, r->n_offs * sizeof *h);
        if (h == NULL) {
            return parse_fail(c, 503, "out of memory");
        }
        r->headers = h;
        r->headers_cap = r->n_offs;
    }
    for (i = 0; i < r->n_offs; i++) {
        r->headers[i].name = r->strs.base + r->offs[i].name;
        r->headers[i].value = r->offs[i].value == NO_VALUE
                                  ? r->strs.base + r->offs[i].name +
                                        strlen(r->headers[i].name)
                                  : r->strs.base + r->offs[i].value;
    }
    r->pub.method = http_method_str((enum http_method)p->method);
    r->is_head = p->method == HTTP_HEAD;
    r->pub.url = r->strs.base;
    r->pub.path = r->strs.base + path_off;
    r->pub.query = r->strs.base + query_off;
    r->pub.headers = r->headers;
    r->pub.n_headers = r->n_offs;

    if (p->flags & F_CONTENTLENGTH) {
        /* One allocation for the body instead of doublings; capped so that
         * a client announcing a large body without sending it does not get
         * megabytes reserved for nothing. */
        size_t want = (size_t)p->content_length + 1;
        if (want > CR_HTTP_PRERESERVE_MAX) {
            want = CR_HTTP_PRERESERVE_MAX;
        }
        if (buf_reserve(&r->body, want) != 0) {
            return parse_fail(c, 503, "out of memory");
        }
    }

    expect = cr_http_request_header(&r->pub, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
        p->http_major == 1 && p->http_minor >= 1 &&
        ((p->flags & F_CHUNKED) || p->content_length > 0)) {
        if (send_continue(c) != 0) {
            return parse_fail(c, 503, "write failed");
        }
    }

    /* from now on the timer measures inactivity while the body arrives */
    conn_arm(c, lim->idle_timeout_ms);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct cr_http_conn *c = p->data;
    struct cr_http_req_impl *r = c->req;

    if (len > c->srv->limits.max_body_bytes - r->body.len) {
        return parse_fail(c, 413, "request body is too large");
    }
    if (buf_append(&r->body, at, len) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct cr_http_conn *c = p->data;
    struct cr_http_req_impl *r = c->req;

    if (buf_reserve(&r->body, 1) != 0) {
        return parse_fail(c, 503, "out of memory");
    }
    r->body.base[r->body.len] = '\0';
    r->pub.body = r->body.base;
    r->pub.body_len = r->body.len;
    /* After an Upgrade the rest of the stream is not HTTP; we never
     * upgrade, so the connection ends with this request. */
    c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    c->hdr_bytes = 0;
    /* one request at a time: execute returns right after this message */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --- responses ------------------------------------------------------------ */

static int out_str(struct cr_buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

static int out_uint(struct cr_buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return buf_append(b, tmp + i, sizeof tmp - i);
}

/* Queue a whole response on @c. Returns 0 or a negative UV_* code. */
static int conn_send(struct cr_http_conn *c, int status,
                     const char *content_type, const char *extra,
                     const void *body, size_t body_len, bool keep_alive,
                     bool head_only)
{
    struct cr_buf *o = &c->out;
    bool no_body = status == 204 || status == 304 || status < 200;
    bool send_body = !no_body && !head_only && body_len > 0;
    int err = 0;

    o->len = 0;
    err |= out_str(o, "HTTP/1.1 ");
    err |= out_uint(o, (unsigned)status);
    err |= out_str(o, " ");
    err |= out_str(o, cr_http_reason(status));
    if (content_type != NULL && !no_body) {
        err |= out_str(o, "\r\nContent-Type: ");
        err |= out_str(o, content_type);
    }
    if (!no_body) {
        err |= out_str(o, "\r\nContent-Length: ");
        err |= out_uint(o, body_len);
    }
    err |= out_str(o, keep_alive ? "\r\nConnection: keep-alive\r\nDate: "
                                 : "\r\nConnection: close\r\nDate: ");
    err |= out_str(o, conn_date(c));
    err |= out_str(o, "\r\n");
    if (extra != NULL && extra[0] != '\0') {
        size_t n = strlen(extra);
        err |= buf_append(o, extra, n);
        /* a missing final CRLF would turn the body into headers */
        if (n < 2 || extra[n - 2] != '\r' || extra[n - 1] != '\n') {
            err |= out_str(o, "\r\n");
        }
    }
    err |= out_str(o, "\r\n");
    if (send_body && body_len <= CR_HTTP_COALESCE_MAX) {
        err |= buf_append(o, body, body_len);
        send_body = false;
    }
    if (err != 0) {
        return UV_ENOMEM;
    }
    err = cr_tls_stream_write(&c->tls, o->base, o->len);
    if (err == 0 && send_body) {
        err = cr_tls_stream_write(&c->tls, body, body_len);
    }
    buf_recycle(o);
    return err;
}

static void json_escape_into(char *dst, size_t dstlen, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 7 < dstlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(dst + n, dstlen - n, "\\u%04x", ch);
        } else {
            dst[n++] = (char)ch;
        }
    }
    dst[n] = '\0';
}

static const char *error_type(int status)
{
    switch (status) {
        case 413: return "PayloadTooLarge";
        case 431: return "RequestHeaderFieldsTooLarge";
        case 503: return "Unavailable";
        default: return "BadRequest";
    }
}

/* Answer an error found by the server and wind the connection down. */
static void conn_fail(struct cr_http_conn *c, int status, const char *msg)
{
    char esc[256], body[384], limit_msg[160];
    int n;

    if (c->req != NULL) {
        req_release(c, c->req);
        c->req = NULL;
    }
    /* Say what the limit is, so the client knows what to send instead. */
    if (status == 413) {
        snprintf(limit_msg, sizeof limit_msg,
                 "request body is too large: the limit is %zu bytes",
                 c->srv->limits.max_body_bytes);
        msg = limit_msg;
    } else if (status == 431) {
        snprintf(limit_msg, sizeof limit_msg,
                 "request line and headers are too large: the limit is %zu "
                 "bytes",
                 c->srv->limits.max_header_bytes);
        msg = limit_msg;
    }
    json_escape_into(esc, sizeof esc, msg);
    n = snprintf(body, sizeof body, "{\"Error\":\"%s\",\"Type\":\"%s\"}", esc,
                 error_type(status));
    c->state = CONN_LINGER;
    if (conn_send(c, status, "application/json", NULL, body, (size_t)n,
                  false, false) != 0) {
        conn_close(c);
        return;
    }
    if (c->reads_paused) {
        cr_tls_stream_resume(&c->tls);
        c->reads_paused = false;
    }
    /* until the response is out, a client that does not read gets the
     * idle timeout; afterwards only the short linger (see drain_cb) */
    conn_arm(c, cr_tls_stream_queued(&c->tls) == 0
                    ? conn_linger_ms(c)
                    : c->srv->limits.idle_timeout_ms);
}

/* --- connection I/O ------------------------------------------------------ */

static void conn_dispatch(struct cr_http_conn *c)
{
    uv_timer_stop(&c->timer);
    c->state = CONN_WAITING;
    c->srv->handler(&c->req->pub);
}

/* Feed @len bytes to the parser, dispatching every complete request, for
 * as long as the connection can take requests. Returns bytes consumed. */
static size_t conn_parse(struct cr_http_conn *c, const char *data, size_t len)
{
    size_t off = 0;

    while (off < len &&
           (c->state == CONN_IDLE || c->state == CONN_READING)) {
        size_t n;
        enum http_errno err;

        c->exec_base = data + off;
        n = http_parser_execute(&c->parser, &parser_settings, data + off,
                                len - off);
        off += n;
        err = HTTP_PARSER_ERRNO(&c->parser);
        if (err == HPE_PAUSED) {
            conn_dispatch(c);
            continue;
        }
        if (err == HPE_OK && n == 0) {
            err = HPE_UNKNOWN; /* no progress: never spin on it */
        }
        if (err != HPE_OK) {
            if (c->error_status != 0) {
                conn_fail(c, c->error_status, c->error_msg);
            } else if (err == HPE_HEADER_OVERFLOW) {
                conn_fail(c, 431, "request line and headers are too large");
            } else {
                conn_fail(c, 400, http_errno_description(err));
            }
            return len;
        }
        if (!c->headers_done || c->state == CONN_IDLE) {
            c->hdr_bytes += n;
            if (c->hdr_bytes > c->srv->limits.max_header_bytes) {
                conn_fail(c, 431, "request line and headers are too large");
                return len;
            }
        }
    }
    return off;
}

static void conn_pause_reads(struct cr_http_conn *c)
{
    if (!c->reads_paused) {
        cr_tls_stream_pause(&c->tls);
        c->reads_paused = true;
    }
}

static void conn_backlog(struct cr_http_conn *c, const char *data, size_t len)
{
    if (buf_append(&c->in, data, len) != 0) {
        conn_close(c);
        return;
    }
    /* A request head's worth is enough to have the next request ready;
     * beyond it reads pause so that a client cannot make the server buffer
     * without bound (it only slows a client that pipelines heavily). */
    if (c->in.len - c->in_off >= c->srv->limits.max_header_bytes) {
        conn_pause_reads(c);
    }
}

/* Parse what waited in the backlog (after a response). */
static void conn_process_input(struct cr_http_conn *c)
{
    size_t n;

    c->in_parse = true;
    n = conn_parse(c, c->in.base + c->in_off, c->in.len - c->in_off);
    c->in_parse = false;
    c->in_off += n;
    if (c->in_off == c->in.len) {
        c->in_off = 0;
        buf_recycle(&c->in);
    }
    if (c->reads_paused &&
        (c->state == CONN_IDLE || c->state == CONN_READING)) {
        cr_tls_stream_resume(&c->tls);
        c->reads_paused = false;
    }
}

static void on_read(struct cr_tls_stream *s, ssize_t nread, const char *buf)
{
    struct cr_http_conn *c = s->data;
    size_t n;

    if (nread < 0) {
        conn_close(c);
        return;
    }
    switch (c->state) {
        case CONN_WAITING:
            conn_backlog(c, buf, (size_t)nread);
            return;
        case CONN_IDLE:
        case CONN_READING:
            break;
        default:
            return; /* draining or lingering: input no longer matters */
    }
    if (c->state == CONN_READING && c->headers_done) {
        uv_timer_again(&c->timer);
    }
    c->in_parse = true;
    n = conn_parse(c, buf, (size_t)nread);
    c->in_parse = false;
    if (n < (size_t)nread && c->state == CONN_WAITING) {
        conn_backlog(c, buf + n, (size_t)nread - n);
    }
}

static void drain_cb(struct cr_tls_stream *s)
{
    struct cr_http_conn *c = s->data;

    switch (c->state) {
        case CONN_DRAINING:
            conn_close(c);
            break;
        case CONN_LINGER:
            conn_arm(c, conn_linger_ms(c));
            break;
        case CONN_IDLE:
            /* idle time counts from when the client had the response */
            uv_timer_again(&c->timer);
            break;
        default:
            break;
    }
}

static void conn_enter_idle(struct cr_http_conn *c)
{
    c->state = CONN_IDLE;
    /* a refused connection only gets to say what it wanted, quickly */
    conn_arm(c, c->rejecting ? conn_linger_ms(c)
                             : c->srv->limits.idle_timeout_ms);
}

static void on_handshake(struct cr_tls_stream *s, int status)
{
    struct cr_http_conn *c = s->data;

    if (status != 0) {
        conn_close(c);
        return;
    }
    conn_enter_idle(c);
}

static void conn_maybe_free(struct cr_http_conn *c);

static void on_tls_closed(struct cr_tls_stream *s)
{
    conn_maybe_free(s->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    conn_maybe_free(h->data);
}

static void server_maybe_finish(struct cr_http_server *srv)
{
    struct cr_http_server_impl *impl = srv->conns;

    if (!srv->closing || impl == NULL || !impl->listener_closed ||
        impl->head != NULL || impl->n_dropping != 0) {
        return;
    }
    free(impl);
    srv->conns = NULL;
    if (srv->close_cb != NULL) {
        srv->close_cb(srv);
    }
}

static void conn_maybe_free(struct cr_http_conn *c)
{
    struct cr_http_server *srv = c->srv;
    struct cr_http_server_impl *impl = srv->conns;

    if (--c->handles > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        impl->head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    if (c->rejecting) {
        impl->n_rejecting--;
    } else {
        srv->n_connections--;
    }
    req_free(c->req);
    req_free(c->spare);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
    server_maybe_finish(srv);
}

/* Close @c; its memory goes once both handles are closed. A request with
 * the handler is detached: it stays valid until cr_http_respond(). */
static void conn_close(struct cr_http_conn *c)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (c->req != NULL) {
        if (c->state == CONN_WAITING) {
            c->req->pub.conn = NULL;
        } else {
            req_free(c->req);
        }
        c->req = NULL;
    }
    c->state = CONN_CLOSED;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    cr_tls_stream_close(&c->tls, on_tls_closed);
}

/* --- public API ----------------------------------------------------------- */

void cr_http_respond(struct cr_http_request *req, int status,
                     const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len)
{
    struct cr_http_req_impl *r = (struct cr_http_req_impl *)req;
    struct cr_http_conn *c = req->conn;
    bool keep, head;

    if (c == NULL) {
        req_free(r);
        return;
    }
    keep = c->keep_alive && !c->srv->closing;
    head = r->is_head;
    c->req = NULL;
    /* The request is recycled only after the write: the handler's body
     * may point into it (an echo), and conn_send copies it. */
    if (conn_send(c, status, content_type, extra_headers, body, body_len, keep,
                  head) != 0) {
        req_free(r);
        conn_close(c);
        return;
    }
    req_release(c, r);
    if (!keep) {
        c->state = CONN_DRAINING;
        if (cr_tls_stream_queued(&c->tls) == 0) {
            conn_close(c);
        } else {
            /* a client that never reads must not hold the socket forever */
            conn_arm(c, c->srv->limits.idle_timeout_ms);
        }
        return;
    }
    http_parser_pause(&c->parser, 0);
    conn_enter_idle(c);
    if (!c->in_parse) {
        conn_process_input(c);
    }
}

static void drop_closed(uv_handle_t *h)
{
    struct cr_http_server *srv = h->data;
    struct cr_http_server_impl *impl = srv->conns;

    free(h);
    impl->n_dropping--;
    server_maybe_finish(srv);
}

/* Take the socket off the accept queue and close it: libuv stops polling
 * the listener until a pending connection is accepted. */
static void accept_and_drop(struct cr_http_server *srv)
{
    struct cr_http_server_impl *impl = srv->conns;
    uv_tcp_t *tcp = malloc(sizeof *tcp);

    if (tcp == NULL) {
        return;
    }
    uv_tcp_init(srv->loop, tcp);
    tcp->data = srv;
    uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)tcp);
    impl->n_dropping++;
    uv_close((uv_handle_t *)tcp, drop_closed);
}

static void format_peer(uv_tcp_t *tcp, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
            snprintf(out, outlen, "[%s]:%d", ip, port);
            return;
        }
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        }
    }
    snprintf(out, outlen, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct cr_http_server *srv = listener->data;
    struct cr_http_server_impl *impl = srv->conns;
    struct cr_http_conn *c;
    bool reject;

    if (status < 0 || srv->closing) {
        return;
    }
    reject = srv->n_connections >= srv->limits.max_connections;
    if (reject && impl->n_rejecting >= CR_HTTP_MAX_REJECTING) {
        accept_and_drop(srv);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        accept_and_drop(srv);
        return;
    }
    if (cr_tls_stream_init(&c->tls, srv->loop, srv->ctx, true) != 0) {
        free(c);
        accept_and_drop(srv);
        return;
    }
    c->srv = srv;
    c->tls.data = c;
    c->rejecting = reject;
    c->state = CONN_HANDSHAKE;
    c->handles = 2;
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;

    c->next = impl->head;
    if (impl->head != NULL) {
        impl->head->prev = c;
    }
    impl->head = c;
    if (reject) {
        impl->n_rejecting++;
    } else {
        srv->n_connections++;
    }

    if (uv_accept(listener, (uv_stream_t *)&c->tls.tcp) != 0) {
        conn_close(c);
        return;
    }
    /* responses go out in one write; Nagle would only delay them */
    uv_tcp_nodelay(&c->tls.tcp, 1);
    format_peer(&c->tls.tcp, c->remote, sizeof c->remote);
    cr_tls_stream_set_handshake_timeout(&c->tls, CR_HTTP_HANDSHAKE_TIMEOUT_MS);
    cr_tls_stream_set_drain_cb(&c->tls, drain_cb);
    if (cr_tls_stream_start(&c->tls, on_handshake, on_read) != 0) {
        conn_close(c);
    }
}

int cr_http_server_init(struct cr_http_server *srv, uv_loop_t *loop,
                        SSL_CTX *ctx, const struct cr_http_limits *limits,
                        cr_http_handler handler)
{
    struct cr_http_server_impl *impl;
    struct cr_http_limits def;
    int rv;

    memset(srv, 0, sizeof *srv);
    impl = calloc(1, sizeof *impl);
    if (impl == NULL) {
        return UV_ENOMEM;
    }
    rv = uv_tcp_init(loop, &srv->listener);
    if (rv != 0) {
        free(impl);
        return rv;
    }
    /* zero fields take the defaults, so callers set only what they mean */
    cr_http_limits_default(&def);
    if (limits != NULL) {
        srv->limits = *limits;
        if (srv->limits.max_header_bytes == 0) {
            srv->limits.max_header_bytes = def.max_header_bytes;
        }
        if (srv->limits.max_body_bytes == 0) {
            srv->limits.max_body_bytes = def.max_body_bytes;
        }
        if (srv->limits.idle_timeout_ms == 0) {
            srv->limits.idle_timeout_ms = def.idle_timeout_ms;
        }
        if (srv->limits.max_connections == 0) {
            srv->limits.max_connections = def.max_connections;
        }
    } else {
        srv->limits = def;
    }
    srv->loop = loop;
    srv->ctx = ctx;
    srv->handler = handler;
    srv->listener.data = srv;
    srv->conns = impl;
    return 0;
}

int cr_http_server_listen(struct cr_http_server *srv, const char *host,
                          int port)
{
    struct sockaddr_storage addr;
    int rv;

    if (strchr(host, ':') != NULL) {
        rv = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    } else {
        rv = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    }
    if (rv != 0) {
        return rv;
    }
    rv = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rv != 0) {
        return rv;
    }
    return uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
}

void cr_http_server_set_ctx(struct cr_http_server *srv, SSL_CTX *ctx)
{
    /* SSL_new takes its own reference, so live sessions keep the old one */
    srv->ctx = ctx;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cr_http_server *srv = h->data;
    struct cr_http_server_impl *impl = srv->conns;

    impl->listener_closed = true;
    server_maybe_finish(srv);
}

void cr_http_server_close(struct cr_http_server *srv,
                          cr_http_server_close_cb cb)
{
    struct cr_http_server_impl *impl = srv->conns;
    struct cr_http_conn *c;

    if (srv->closing || impl == NULL) {
        return;
    }
    srv->closing = true;
    srv->close_cb = cb;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    /* conn_close only starts closing: the list stays intact meanwhile */
    for (c = impl->head; c != NULL; c = c->next) {
        conn_close(c);
    }
}

const char *cr_http_request_header(const struct cr_http_request *req,
                                   const char *name)
{
    size_t i;
    for (i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

/* Does the encoded key [s, end) decode to @name? */
static bool key_equals(const char *s, const char *end, const char *name)
{
    while (s < end) {
        char ch;
        s += pct_decode_one(s, end, true, &ch);
        if (*name == '\0' || ch != *name) {
            return false;
        }
        name++;
    }
    return *name == '\0';
}

int cr_http_query_get(const struct cr_http_request *req, const char *name,
                      char *out, size_t outlen)
{
    const char *s = req->query;
    const char *qend = s + strlen(s);

    while (s < qend) {
        const char *amp = memchr(s, '&', (size_t)(qend - s));
        const char *pend = amp != NULL ? amp : qend;
        const char *eq = memchr(s, '=', (size_t)(pend - s));
        const char *kend = eq != NULL ? eq : pend;

        if (key_equals(s, kend, name)) {
            const char *v = eq != NULL ? eq + 1 : pend;
            size_t n = 0;
            while (v < pend) {
                char ch;
                v += pct_decode_one(v, pend, true, &ch);
                if (n + 1 >= outlen) {
                    return -1;
                }
                out[n++] = ch;
            }
            if (outlen == 0) {
                return -1;
            }
            out[n] = '\0';
            return (int)n;
        }
        s = pend + 1;
    }
    return -1;
}
