/*
 * forward.h - HTTPS requests made by a node: forwarding a client's write to
 * the leader, and a joining node announcing itself.
 *
 * libcurl's easy interface is blocking, so each request runs on libuv's
 * thread pool and its completion comes back to the loop thread. Handles are
 * pooled so that repeated forwards reuse TLS connections to the leader.
 */
#ifndef CERTNODE_FORWARD_H
#define CERTNODE_FORWARD_H

#include <stddef.h>

#include <uv.h>

struct cr_node;
struct cr_api_call;
struct cr_curl_pool;

struct cr_curl_pool *cr_curl_pool_new(struct cr_node *node);
void cr_curl_pool_free(struct cr_curl_pool *pool);

struct cr_https_request;
typedef void (*cr_https_cb)(struct cr_https_request *r);

struct cr_https_request {
    uv_work_t work;
    void *data;
    struct cr_curl_pool *pool;
    /* in */
    char *method;
    char *url;
    char *body;
    size_t body_len;
    char *content_type;
    char *extra_header; /* one "Name: value" line, or NULL */
    /* Client certificate and key, trusted server certificate(s) (NULL:
     * any): the request's own copies, set with cr_https_request_set_tls,
     * because a certificate rotation can replace the node's while the
     * request runs on the pool. The key is wiped when freed. */
    char *cert_pem;
    char *key_pem;
    char *ca_pem;
    long timeout_ms;
    /* out */
    long status;        /* 0 when no HTTP answer came */
    char *resp_body;
    size_t resp_len;
    char *resp_type;
    char *resp_headers; /* relayed "Name: value\r\n" lines, or NULL */
    char error[256];
    cr_https_cb cb;
};

/* Run @r on the thread pool; @cb runs on the loop. The caller frees @r
 * with cr_https_request_free() in or after the callback. */
int cr_https_request_start(uv_loop_t *loop, struct cr_https_request *r,
                           cr_https_cb cb);
void cr_https_request_free(struct cr_https_request *r);

/* Gives @r copies of @cert_pem and @key_pem (both or neither) and takes
 * @ca_pem_owned (malloc'ed, may be NULL). 0, or -1 when out of memory
 * (@ca_pem_owned is then freed with the request all the same). */
int cr_https_request_set_tls(struct cr_https_request *r, const char *cert_pem,
                             const char *key_pem, char *ca_pem_owned);

/* Every certificate a node of this cluster may serve, as one PEM bundle
 * (malloc'ed): the cluster certificate(s) and, during a replacement, the
 * new one. Peers are verified against it, so forwarding keeps working
 * while nodes switch certificates. */
char *cr_node_trusted_pem(struct cr_node *node);

/* Send @call to the leader at @leader_url with the caller's certificate in
 * a header, and relay the leader's answer. */
void cr_forward_call(struct cr_api_call *call, const char *leader_url);

#define CR_HEADER_FORWARDED_CERT "X-Certraft-Forwarded-Cert"

#endif /* CERTNODE_FORWARD_H */
