/*
 * forward.c - blocking libcurl calls on the thread pool, for forwarding
 * writes to the leader and for a joining node's announcements.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <certraft/x509.h>

#include "api.h"
#include "forward.h"
#include "node.h"

#define CR_CURL_POOL_MAX 32

struct cr_curl_pool {
    pthread_mutex_t lock;
    CURL *free_handles[CR_CURL_POOL_MAX];
    size_t n_free;
};

struct cr_curl_pool *cr_curl_pool_new(struct cr_node *node)
{
    struct cr_curl_pool *pool = calloc(1, sizeof *pool);
    (void)node;
    if (pool != NULL) {
        pthread_mutex_init(&pool->lock, NULL);
    }
    return pool;
}

void cr_curl_pool_free(struct cr_curl_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    for (size_t i = 0; i < pool->n_free; i++) {
        curl_easy_cleanup(pool->free_handles[i]);
    }
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

static CURL *pool_take(struct cr_curl_pool *pool)
{
    CURL *h = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->n_free > 0) {
        h = pool->free_handles[--pool->n_free];
    }
    pthread_mutex_unlock(&pool->lock);
    if (h == NULL) {
        h = curl_easy_init();
    } else {
        curl_easy_reset(h); /* keeps the connection cache */
    }
    return h;
}

static void pool_give(struct cr_curl_pool *pool, CURL *h)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->n_free < CR_CURL_POOL_MAX) {
        pool->free_handles[pool->n_free++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
}

struct growbuf {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct growbuf *b = arg;
    size_t n = size * nmemb;
    char *p = realloc(b->data, b->len + n + 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

/* Keep the response headers a client of the leader would have seen that
 * say something about the body: the file name and the thumbprint. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct growbuf *h = arg;
    size_t n = size * nmemb;

    if ((n > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) ||
        (n > 11 && strncasecmp(line, "X-Certraft-", 11) == 0)) {
        on_body(line, 1, n, h);
    }
    return n;
}

static void https_work(uv_work_t *work)
{
    struct cr_https_request *r = work->data;
    CURL *h = pool_take(r->pool);
    struct curl_slist *headers = NULL;
    struct growbuf body = {0}, hdrs = {0};
    char ctype[160];
    struct curl_blob cert, key, ca;
    CURLcode rc;
    char *type = NULL;

    if (h == NULL) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrs);
    if (r->body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body_len);
    }
    headers = curl_slist_append(headers, "Expect:");
    if (r->content_type != NULL) {
        snprintf(ctype, sizeof ctype, "Content-Type: %s", r->content_type);
        headers = curl_slist_append(headers, ctype);
    }
    if (r->extra_header != NULL) {
        headers = curl_slist_append(headers, r->extra_header);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (r->cert_pem != NULL) {
        cert = (struct curl_blob){(void *)r->cert_pem, strlen(r->cert_pem),
                                  CURL_BLOB_NOCOPY};
        key = (struct curl_blob){(void *)r->key_pem, strlen(r->key_pem),
                                 CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    }
    if (r->ca_pem != NULL) {
        /* Nodes share the cluster certificate; trusting it as the only CA
         * pins the peer. Host names are not checked because a node's
         * address need not be in the certificate's SANs. */
        ca = (struct curl_blob){(void *)r->ca_pem, strlen(r->ca_pem),
                                CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    }
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);

    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
        free(body.data);
        free(hdrs.data);
    } else {
        r->resp_headers = hdrs.data;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
        r->resp_type = strdup(type != NULL ? type : "application/json");
        r->resp_body = body.data;
        r->resp_len = body.len;
    }
    curl_slist_free_all(headers);
    pool_give(r->pool, h);
}

static void https_after_work(uv_work_t *work, int status)
{
    struct cr_https_request *r = work->data;
    if (status != 0 && r->error[0] == '\0') {
        snprintf(r->error, sizeof r->error, "cancelled");
    }
    r->cb(r);
}

int cr_https_request_start(uv_loop_t *loop, struct cr_https_request *r,
                           cr_https_cb cb)
{
    r->cb = cb;
    r->work.data = r;
    if (r->timeout_ms == 0) {
        r->timeout_ms = 10000;
    }
    return uv_queue_work(loop, &r->work, https_work, https_after_work);
}

void cr_https_request_free(struct cr_https_request *r)
{
    if (r == NULL) {
        return;
    }
    free(r->method);
    free(r->url);
    free(r->body);
    free(r->content_type);
    free(r->extra_header);
    free(r->resp_body);
    free(r->resp_type);
    free(r->resp_headers);
    free(r->cert_pem);
    if (r->key_pem != NULL) {
        OPENSSL_cleanse(r->key_pem, strlen(r->key_pem));
        free(r->key_pem);
    }
    free(r->ca_pem);
    free(r);
}

int cr_https_request_set_tls(struct cr_https_request *r, const char *cert_pem,
                             const char *key_pem, char *ca_pem_owned)
{
    r->ca_pem = ca_pem_owned;
    if (cert_pem == NULL || key_pem == NULL) {
        return 0;
    }
    r->cert_pem = strdup(cert_pem);
    r->key_pem = strdup(key_pem);
    return r->cert_pem != NULL && r->key_pem != NULL ? 0 : -1;
}

static char *append_pem(char *bundle, const unsigned char *der, size_t len)
{
    char *pem = cr_der_to_pem(der, len);
    size_t have = bundle ? strlen(bundle) : 0;
    char *out = pem ? realloc(bundle, have + strlen(pem) + 1) : NULL;

    if (out == NULL) {
        free(pem);
        return bundle;
    }
    memcpy(out + have, pem, strlen(pem) + 1);
    free(pem);
    return out;
}

char *cr_node_trusted_pem(struct cr_node *node)
{
    const struct cr_state *st = node->fsm.state;
    const struct cr_replacement *r = cr_state_replacement(st);
    char *bundle = strdup(node->cert_pem);

    for (size_t i = 0; bundle && i < cr_state_cluster_cert_count(st); i++) {
        const struct cr_cert_entry *e = cr_state_cluster_cert(st, i);
        bundle = append_pem(bundle, e->der, e->der_len);
    }
    if (bundle != NULL && r->phase != CR_REPLACEMENT_NONE) {
        const struct cr_cert_entry *e =
            cr_state_cert_find(st, r->new_thumbprint);
        if (e != NULL) {
            bundle = append_pem(bundle, e->der, e->der_len);
        }
    }
    return bundle;
}

static void forward_done(struct cr_https_request *r)
{
    struct cr_api_call *call = r->data;

    if (r->status == 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "the leader could not be reached (%s); retry",
                           r->error);
    } else {
        cr_api_reply_raw(call, (int)r->status, r->resp_type,
                         r->resp_headers, r->resp_body, r->resp_len);
    }
    cr_https_request_free(r);
}

void cr_forward_call(struct cr_api_call *call, const char *leader_url)
{
    struct cr_node *node = call->node;
    struct cr_https_request *r = calloc(1, sizeof *r);
    char *b64 = NULL;
    const char *ctype;
    size_t hlen;
    int tls_rv;

    if (call->forwarded) {
        /* One hop only: the leader we were sent to has changed. */
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "leadership changed while forwarding; retry");
        free(r);
        return;
    }
    if (r == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    r->data = call;
    r->pool = node->curl_pool;
    r->method = strdup(call->req->method);
    hlen = strlen(leader_url) + strlen(call->req->url) + 1;
    r->url = malloc(hlen);
    if (r->url != NULL) {
        snprintf(r->url, hlen, "%s%s", leader_url, call->req->url);
    }
    if (call->req->body_len > 0) {
        r->body = malloc(call->req->body_len);
        if (r->body != NULL) {
            memcpy(r->body, call->req->body, call->req->body_len);
            r->body_len = call->req->body_len;
        }
    }
    ctype = cr_http_request_header(call->req, "Content-Type");
    r->content_type = strdup(ctype != NULL ? ctype : "application/json");
    b64 = cr_base64_encode(call->caller_der, call->caller_der_len);
    if (b64 != NULL) {
        hlen = strlen(b64) + sizeof CR_HEADER_FORWARDED_CERT + 4;
        r->extra_header = malloc(hlen);
        if (r->extra_header != NULL) {
            snprintf(r->extra_header, hlen, "%s: %s",
                     CR_HEADER_FORWARDED_CERT, b64);
        }
        free(b64);
    }
    {
        char *trusted = cr_node_trusted_pem(node);
        if (trusted == NULL) {
            trusted = strdup(node->cert_pem);
        }
        tls_rv = cr_https_request_set_tls(r, node->cert_pem, node->key_pem,
                                          trusted);
    }
    r->timeout_ms = 15000;
    if (tls_rv != 0 || r->ca_pem == NULL || r->method == NULL ||
        r->url == NULL || r->extra_header == NULL ||
        r->content_type == NULL ||
        (call->req->body_len > 0 && r->body == NULL) ||
        cr_https_request_start(node->loop, r, forward_done) != 0) {
        cr_https_request_free(r);
        cr_api_reply_error(call, CR_ENOMEM, "cannot forward the request");
    }
}
