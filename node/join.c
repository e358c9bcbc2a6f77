/*
 * join.c - the joining node's side of adding a node.
 *
 * `certnode join` first waits (blocking, before the node starts) until an
 * administrator has admitted its join certificate, then fetches the
 * cluster certificate over mutual TLS; once the node runs, it tells the
 * leader it is ready to be added (retried on each tick until it works).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "data_dir.h"
#include "forward.h"
#include "join.h"

/* The n-th URL of a comma-separated list into @out. */
static bool url_at(const char *list, unsigned n, char *out, size_t outlen)
{
    const char *p = list;
    for (unsigned i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (p == NULL) {
            return false;
        }
        p++;
    }
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= outlen) {
        return false;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    while (len > 0 && out[len - 1] == '/') {
        out[--len] = '\0';
    }
    return true;
}

static void announce_done(struct cr_https_request *r)
{
    struct cr_node *node = r->data;
    char path[600];

    node->join_in_flight = false;
    if (r->status == 200) {
        node->join_announced = true;
        node->joining = false;
        fprintf(stderr, "certnode: joined the cluster as node %llu\n",
                (unsigned long long)node->config.id);
        cr_path_join(path, sizeof path, node->config.data_dir,
                     CR_FILE_JOIN_KEY);
        unlink(path);
        cr_path_join(path, sizeof path, node->config.data_dir,
                     CR_FILE_JOIN_CERT);
        unlink(path);
    } else {
        /* Try the next URL on the next tick: the one we used may be down
         * or may not know the leader yet. */
        node->join_url_next++;
    }
    cr_https_request_free(r);
}

void cr_join_announce(struct cr_node *node)
{
    struct cr_https_request *r;
    char base[400];

    /* Called every tick (100 ms); ask about once a second. */
    if (node->join_in_flight || node->join_cert_pem == NULL ||
        node->join_ticks++ % 10 != 0) {
        return;
    }
    if (!url_at(node->join_url, node->join_url_next, base, sizeof base)) {
        node->join_url_next = 0;
        if (!url_at(node->join_url, 0, base, sizeof base)) {
            return;
        }
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        return;
    }
    r->data = node;
    r->pool = node->curl_pool;
    r->method = strdup("POST");
    r->url = malloc(strlen(base) + 32);
    if (r->url != NULL) {
        sprintf(r->url, "%s/cluster/join", base);
    }
    r->body = strdup("{}");
    r->body_len = 2;
    r->content_type = strdup("application/json");
    r->timeout_ms = 60000; /* promotion waits for the catch-up */
    /* By now we know the cluster certificate: trust it alone. */
    if (cr_https_request_set_tls(r, node->join_cert_pem, node->join_key_pem,
                                 strdup(node->cert_pem)) != 0 ||
        r->ca_pem == NULL || r->method == NULL || r->url == NULL ||
        r->body == NULL ||
        r->content_type == NULL ||
        cr_https_request_start(node->loop, r, announce_done) != 0) {
        cr_https_request_free(r);
        return;
    }
    node->join_in_flight = true;
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

/* One GET /cluster/join. Returns 1 when admitted (reply in @out), 0 when
 * not yet, -1 on a permanent problem. */
static int fetch_once(const char *base, const struct cr_join_options *o,
                      struct growbuf *out, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    char url[512];
    struct curl_blob cert = {(void *)o->join_cert_pem,
                             strlen(o->join_cert_pem), CURL_BLOB_NOCOPY};
    struct curl_blob key = {(void *)o->join_key_pem, strlen(o->join_key_pem),
                            CURL_BLOB_NOCOPY};
    struct curl_blob ca;
    long status = 0;
    CURLcode rc;

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(url, sizeof url, "%s/cluster/join", base);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    if (o->ca_pem != NULL) {
        ca = (struct curl_blob){(void *)o->ca_pem, strlen(o->ca_pem),
                                CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", base, curl_easy_strerror(rc));
        return 0;
    }
    if (status == 200) {
        return 1;
    }
    snprintf(err, errlen, "%s answered %ld", base, status);
    return 0;
}

int cr_join_fetch_cluster_cert(const struct cr_join_options *o,
                               char **cert_pem, char **key_pem, char *err,
                               size_t errlen)
{
    int64_t deadline = cr_now_ms() + (int64_t)o->wait_seconds * 1000;
    char base[400], last[256] = "";
    unsigned n = 0;

    for (;;) {
        struct growbuf body = {0};
        int rv;

        if (!url_at(o->cluster_urls, n, base, sizeof base)) {
            n = 0;
            if (!url_at(o->cluster_urls, 0, base, sizeof base)) {
                snprintf(err, errlen, "--cluster needs at least one URL");
                return -1;
            }
        }
        rv = fetch_once(base, o, &body, last, sizeof last);
        if (rv == 1) {
            json_t *root = json_loads(body.data, 0, NULL);
            const char *c = json_string_value(
                json_object_get(root, "ClusterCertificate"));
            const char *k =
                json_string_value(json_object_get(root, "ClusterKey"));
            if (c == NULL || k == NULL) {
                json_decref(root);
                free(body.data);
                snprintf(err, errlen, "%s sent an invalid join reply", base);
                return -1;
            }
            *cert_pem = strdup(c);
            *key_pem = strdup(k);
            OPENSSL_cleanse(body.data, body.len);
            free(body.data);
            json_decref(root);
            return (*cert_pem != NULL && *key_pem != NULL) ? 0 : -1;
        }
        free(body.data);
        if (rv < 0 || cr_now_ms() > deadline) {
            snprintf(err, errlen,
                     "not admitted after %u s (last answer: %s); run the "
                     "printed `certctl cluster add-node` command against the "
                     "cluster",
                     o->wait_seconds, last);
            return -1;
        }
        n++;
        usleep(500 * 1000);
    }
}
