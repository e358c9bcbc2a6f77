/*
 * http_server.h - HTTPS/1.1 server on libuv, OpenSSL (via tls_stream) and
 * http-parser.
 *
 * The server knows nothing about certificates or routes: it parses
 * requests, enforces limits (header size, body size, idle time, number of
 * connections) and hands each complete request to one handler. The handler
 * may answer at once or later (after a raft commit, after forwarding to the
 * leader): the request stays valid until cr_http_respond() is called,
 * even if the connection goes away meanwhile. Requests on one connection
 * are handled one at a time, in order (pipelining is serialised).
 */
#ifndef CERTRAFT_HTTP_SERVER_H
#define CERTRAFT_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

struct cr_http_server;
struct cr_http_conn;

struct cr_http_header
{
    char *name;
    char *value;
};

struct cr_http_request
{
    void *data; /* free for the handler's use */
    struct cr_http_server *server;

    const char *method; /* "GET", "PUT", ... */
    const char *url;    /* raw request target, e.g. "/a/b?x=1" */
    const char *path;   /* percent-decoded path, without the query */
    const char *query;  /* raw query string without '?', "" when none */
    const struct cr_http_header *headers;
    size_t n_headers;
    const char *body; /* NUL-terminated for convenience; may hold NULs */
    size_t body_len;

    /* The client's TLS certificate (DER), NULL when it presented none. */
    const unsigned char *peer_der;
    size_t peer_der_len;
    const char *remote_addr; /* "127.0.0.1:53122" */

    /* private */
    struct cr_http_conn *conn; /* NULL once the connection is gone */
};

/* Called once per complete request, on the loop thread. */
typedef void (*cr_http_handler)(struct cr_http_request *req);
typedef void (*cr_http_server_close_cb)(struct cr_http_server *srv);

struct cr_http_limits
{
    size_t max_header_bytes;  /* request line + headers; 431 beyond it */
    size_t max_body_bytes;    /* 413 beyond it */
    unsigned idle_timeout_ms; /* keep-alive connections idle this long close */
    unsigned max_connections; /* further connections get 503 and close */
};

/* 16 KiB headers, 4 MiB bodies, 60 s idle, 1024 connections. */
void cr_http_limits_default(struct cr_http_limits *limits);

struct cr_http_server
{
    void *data; /* user data */
    uv_loop_t *loop;
    uv_tcp_t listener;
    SSL_CTX *ctx; /* not owned */
    struct cr_http_limits limits;
    cr_http_handler handler;
    cr_http_server_close_cb close_cb;
    unsigned n_connections;
    bool closing;
    /* private */
    void *conns; /* intrusive list of live connections */
};

int cr_http_server_init(struct cr_http_server *srv, uv_loop_t *loop,
                        SSL_CTX *ctx, const struct cr_http_limits *limits,
                        cr_http_handler handler);

/* @host is an IPv4/IPv6 literal; returns 0 or a negative UV_* code. */
int cr_http_server_listen(struct cr_http_server *srv, const char *host,
                          int port);

/* New connections use @ctx from now on (certificate rotation). */
void cr_http_server_set_ctx(struct cr_http_server *srv, SSL_CTX *ctx);

/* Stop listening, close every connection, then call @cb. Requests still
 * waiting for a response stay valid until they are answered. */
void cr_http_server_close(struct cr_http_server *srv,
                          cr_http_server_close_cb cb);

/* Case-insensitive header lookup; NULL when absent. */
const char *cr_http_request_header(const struct cr_http_request *req,
                                   const char *name);

/* Percent-decoded value of query parameter @name into @out (NUL-terminated).
 * Returns the decoded length, or -1 when absent or longer than @outlen-1. */
int cr_http_query_get(const struct cr_http_request *req, const char *name,
                      char *out, size_t outlen);

/* Send the response and release the request. @extra_headers, when not NULL,
 * is a string of "Name: value\r\n" lines. The body is copied. After this
 * call @req must not be touched. */
void cr_http_respond(struct cr_http_request *req, int status,
                     const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len);

/* The standard reason phrase for @status ("OK", "Not Found", ...). */
const char *cr_http_reason(int status);

#endif /* CERTRAFT_HTTP_SERVER_H */
