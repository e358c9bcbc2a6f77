/*
 * etl_http.c - libcurl calls from an ETL batch to the destination
 * cluster: the unverified probe that learns the server's key, and pinned
 * requests afterwards. Runs on thread-pool threads only; see etl_http.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <certraft/x509.h>

#include "etl_http.h"

#define CONNECT_TIMEOUT_MS 3000L
#define REQUEST_TIMEOUT_MS 10000L
#define PAR_MAX 16

struct cr_etl_http {
    CURL *h;
    const char *cert_pem;
    const char *key_pem;
    /* cr_etl_http_parallel(): a multi handle and its easy handles, kept
     * for the client's life so their connections stay open. */
    CURLM *multi;
    CURL *lane[PAR_MAX];
};

struct cr_etl_http *cr_etl_http_new(const char *cert_pem, const char *key_pem)
{
    struct cr_etl_http *c = calloc(1, sizeof *c);

    if (c == NULL || (c->h = curl_easy_init()) == NULL) {
        free(c);
        return NULL;
    }
    c->cert_pem = cert_pem;
    c->key_pem = key_pem;
    return c;
}

void cr_etl_http_free(struct cr_etl_http *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < PAR_MAX; i++) {
        if (c->lane[i] != NULL) {
            curl_easy_cleanup(c->lane[i]);
        }
    }
    if (c->multi != NULL) {
        curl_multi_cleanup(c->multi);
    }
    curl_easy_cleanup(c->h);
    free(c);
}

struct growbuf {
    char *data;
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct growbuf *b = arg;
    size_t n = size * nmemb;
    char *p;

    if (b->len + n > 1024 * 1024) {
        return n; /* replies we read are small; drop the rest */
    }
    if ((p = realloc(b->data, b->len + n + 1)) == NULL) {
        return 0;
    }
    memcpy(p + b->len, ptr, n);
    b->len += n;
    p[b->len] = '\0';
    b->data = p;
    return n;
}

/* Options every request shares: client certificate, timeouts, no
 * signals (thread pool), no host name check (nodes share a certificate
 * whose names need not match their addresses; trust is the pin). */
static void common_on(CURL *h, struct cr_etl_http *c, const char *method,
                      const char *url, struct growbuf *body,
                      struct curl_blob *cert, struct curl_blob *key)
{
    curl_easy_reset(h); /* keeps the connection cache */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    *cert = (struct curl_blob){(void *)c->cert_pem, strlen(c->cert_pem),
                               CURL_BLOB_NOCOPY};
    *key = (struct curl_blob){(void *)c->key_pem, strlen(c->key_pem),
                              CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, key);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
}

static void common(struct cr_etl_http *c, const char *method, const char *url,
                   struct growbuf *body, struct curl_blob *cert,
                   struct curl_blob *key)
{
    common_on(c->h, c, method, url, body, cert, key);
}

/* The leaf certificate of the connection, from CURLINFO_CERTINFO. */
static void served_key(CURL *h, char *pin, size_t pinlen, char *thumb,
                       size_t thumblen)
{
    struct curl_certinfo *ci = NULL;
    struct curl_slist *s;

    pin[0] = thumb[0] = '\0';
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &ci) != CURLE_OK ||
        ci == NULL || ci->num_of_certs < 1) {
        return;
    }
    for (s = ci->certinfo[0]; s != NULL; s = s->next) {
        if (strncmp(s->data, "Cert:", 5) == 0) {
            struct cr_error err;
            X509 *x = cr_x509_from_pem(s->data + 5, strlen(s->data + 5), &err);
            unsigned char *der = NULL;
            size_t len = 0;
            struct cr_cert_info info;
            if (x != NULL && cr_x509_to_der(x, &der, &len) == CR_OK &&
                cr_cert_info_from_der(der, len, &info, NULL) == CR_OK) {
                snprintf(pin, pinlen, "%s", info.pin);
                snprintf(thumb, thumblen, "%s", info.thumbprint);
                cr_cert_info_free(&info);
            }
            free(der);
            X509_free(x);
            return;
        }
    }
}

long cr_etl_http_probe(struct cr_etl_http *c, const char *url, char *pin,
                       size_t pinlen, char *thumbprint, size_t thumblen,
                       char **body, char *err, size_t errlen)
{
    struct growbuf b = {NULL, 0};
    struct curl_blob cert, key;
    char full[600];
    long status = 0;
    CURLcode rc;

    pin[0] = thumbprint[0] = '\0';
    snprintf(full, sizeof full, "%s/certificates/whoami", url);
    common(c, "GET", full, &b, &cert, &key);
    /* A new connection, so that its certificate is reported. */
    curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c->h, CURLOPT_CERTINFO, 1L);
    rc = curl_easy_perform(c->h);
    served_key(c->h, pin, pinlen, thumbprint, thumblen);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
        free(b.data);
        b.data = NULL;
    } else {
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    }
    if (body != NULL) {
        *body = b.data;
    } else {
        free(b.data);
    }
    return status;
}

long cr_etl_http_request(struct cr_etl_http *c, const char *method,
                         const char *url, const char *pin, const char *body,
                         size_t body_len, char **resp, char *err,
                         size_t errlen)
{
    struct growbuf b = {NULL, 0};
    struct curl_blob cert, key;
    struct curl_slist *headers = NULL;
    char pinned[96];
    long status = 0;
    CURLcode rc;

    common(c, method, url, &b, &cert, &key);
    snprintf(pinned, sizeof pinned, "sha256//%s", pin);
    curl_easy_setopt(c->h, CURLOPT_PINNEDPUBLICKEY, pinned);
    headers = curl_slist_append(headers, "Expect:");
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body_len);
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(c->h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, url,
                 rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH
                     ? "the destination's key changed (pin mismatch)"
                     : curl_easy_strerror(rc));
        free(b.data);
        b.data = NULL;
    } else {
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(headers);
    if (resp != NULL) {
        *resp = b.data;
    } else {
        free(b.data);
    }
    return status;
}

/* What one lane of cr_etl_http_parallel() is doing. */
struct lane {
    struct cr_etl_http_op *op;
    struct growbuf body;
    struct curl_slist *headers;
    struct curl_blob cert, key;
};

static void lane_start(struct cr_etl_http *c, CURL *h, struct lane *l,
                       struct cr_etl_http_op *op, const char *pinned)
{
    l->op = op;
    l->body.data = NULL;
    l->body.len = 0;
    op->started = true;
    common_on(h, c, op->method, op->url, &l->body, &l->cert, &l->key);
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pinned);
    l->headers = curl_slist_append(NULL, "Expect:");
    if (op->body != NULL) {
        l->headers = curl_slist_append(l->headers,
                                       "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, op->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)op->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l->headers);
    curl_easy_setopt(h, CURLOPT_PRIVATE, l);
    curl_multi_add_handle(c->multi, h);
}

/* Record how the lane's op ended; true when it succeeded. */
static bool lane_done(struct cr_etl_http *c, CURL *h, struct lane *l,
                      CURLcode rc)
{
    struct cr_etl_http_op *op = l->op;

    curl_multi_remove_handle(c->multi, h);
    curl_slist_free_all(l->headers);
    l->headers = NULL;
    if (rc != CURLE_OK) {
        snprintf(op->err, sizeof op->err, "%s %s: %s", op->method, op->url,
                 rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH
                     ? "the destination's key changed (pin mismatch)"
                     : curl_easy_strerror(rc));
        free(l->body.data);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &op->status);
        op->resp = l->body.data;
    }
    l->body.data = NULL;
    l->op = NULL;
    return rc == CURLE_OK && (op->status == op->ok1 || op->status == op->ok2);
}

size_t cr_etl_http_parallel(struct cr_etl_http *c, struct cr_etl_http_op *ops,
                            size_t n, unsigned par, const char *pin)
{
    struct lane lanes[PAR_MAX];
    char pinned[96];
    size_t next = 0, running = 0;
    bool failed = false;

    memset(lanes, 0, sizeof lanes);
    par = par < 1 ? 1 : par > PAR_MAX ? PAR_MAX : par;
    snprintf(pinned, sizeof pinned, "sha256//%s", pin);
    if (c->multi == NULL && (c->multi = curl_multi_init()) == NULL) {
        return 0;
    }
    for (unsigned i = 0; i < par; i++) {
        if (c->lane[i] == NULL && (c->lane[i] = curl_easy_init()) == NULL) {
            par = i;
            break;
        }
    }
    if (par == 0) {
        return 0;
    }
    for (;;) {
        int still = 0, queued;
        CURLMsg *m;

        for (unsigned i = 0; i < par && !failed && next < n; i++) {
            if (lanes[i].op == NULL) {
                lane_start(c, c->lane[i], &lanes[i], &ops[next++], pinned);
                running++;
            }
        }
        if (running == 0) {
            break;
        }
        curl_multi_perform(c->multi, &still);
        while ((m = curl_multi_info_read(c->multi, &queued)) != NULL) {
            struct lane *l = NULL;
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&l);
            if (!lane_done(c, m->easy_handle, l, m->data.result)) {
                failed = true;
            }
            running--;
        }
        if (running > 0) {
            curl_multi_poll(c->multi, NULL, 0, 200, NULL);
        }
    }
    return next;
}

char *cr_etl_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;

    if (out == NULL) {
        return NULL;
    }
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
            ch == '~' || ch == '/') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    *p = '\0';
    return out;
}
