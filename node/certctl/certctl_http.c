/*
 * certctl_http.c - libcurl transport, node fail-over and leader routing.
 */
#include "certctl_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "certctl_str.h"

/* Replies are small JSON documents or a zip of a few certificate files;
 * a cap keeps a confused or hostile server from filling memory. */
#define CERTCTL_MAX_REPLY (64u * 1024u * 1024u)
/* A node that does not complete a TCP+TLS connection in this long is
 * taken as down, so that the next URL gets a chance before --timeout. */
#define CERTCTL_MAX_CONNECT_SECONDS 10L

struct certctl_client
{
    const struct certctl_global *g;
    CURL *curl;
    const char *live; /* one of g->urls, once a node answered */
    char curl_err[CURL_ERROR_SIZE];
};

/* How one attempt on one node ended, when it got no HTTP answer. */
enum attempt_result
{
    ATTEMPT_ANSWERED,
    ATTEMPT_NOT_SENT,   /* the request surely never reached the node */
    ATTEMPT_LOST,       /* no answer, but the request may have arrived */
    ATTEMPT_LOCAL,      /* our own setup is wrong: no other node will do */
};

struct body_sink
{
    struct certctl_reply *r;
    size_t cap; /* bytes allocated at r->body */
    int too_big;
};

/* Overwrites and frees a buffer that may have held a private key (a
 * generated certificate's zip) or a password. */
static void wipe_free(void *p, size_t n)
{
    if (p != NULL) {
        explicit_bzero(p, n);
        free(p);
    }
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
    FILE *f;

    if (path == NULL) {
        return 0;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s '%.200s': %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

int certctl_client_new(const struct certctl_global *g, struct certctl_client **out,
                       char *err, size_t errlen)
{
    struct certctl_client *c;

    *out = NULL;
    /* curl's own messages for these are vague ("problem with the local
     * SSL certificate"); say which file is wrong instead. */
    if (check_readable("--cert", g->cert, err, errlen) != 0 ||
        check_readable("--key", g->key, err, errlen) != 0 ||
        check_readable("--pfx", g->pfx, err, errlen) != 0 ||
        (!g->insecure && check_readable("--cacert", g->cacert, err, errlen) != 0)) {
        return -1;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->g = g;
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    *out = c;
    return 0;
}

void certctl_client_free(struct certctl_client *c)
{
    if (c == NULL) {
        return;
    }
    curl_easy_cleanup(c->curl);
    free(c);
}

void certctl_reply_free(struct certctl_reply *r)
{
    wipe_free(r->body, r->len);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct body_sink *s = ud;
    struct certctl_reply *r = s->r;
    size_t n = size * nmemb;

    if (n > CERTCTL_MAX_REPLY - r->len) {
        s->too_big = 1;
        return 0;
    }
    if (r->len + n + 1 > s->cap) {
        /* Not realloc(): it would leave copies of the body (maybe a key)
         * in freed memory. Doubling keeps the copies few. */
        size_t cap = s->cap != 0 ? s->cap : 4096;
        char *p;

        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        p = malloc(cap);
        if (p == NULL) {
            return 0;
        }
        if (r->len > 0) {
            memcpy(p, r->body, r->len);
        }
        wipe_free(r->body, s->cap);
        r->body = p;
        s->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Copies the value of header line `data` into dst if its name is `name`. */
static void keep_header(const char *data, size_t n, const char *name, char *dst,
                        size_t dstlen)
{
    size_t len = strlen(name);
    char value[256];
    size_t vlen;

    if (n <= len || data[len] != ':' || strncasecmp(data, name, len) != 0) {
        return;
    }
    data += len + 1;
    n -= len + 1;
    while (n > 0 && (*data == ' ' || *data == '\t')) {
        data++;
        n--;
    }
    while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n' || data[n - 1] == ' ' ||
                     data[n - 1] == '\t')) {
        n--;
    }
    vlen = n < sizeof(value) - 1 ? n : sizeof(value) - 1;
    memcpy(value, data, vlen);
    value[vlen] = '\0';
    certctl_scrub(dst, dstlen, value);
}

/* Keeps the reason phrase of the last status line ("HTTP/1.1 403 Forbidden");
 * HTTP/2 has none, and the caller falls back to a built-in name. Also keeps
 * the one header certctl reads, a generated certificate's thumbprint. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct certctl_reply *r = ud;
    size_t n = size * nmemb;
    char line[128];
    const char *p;

    if (n < 5 || strncmp(data, "HTTP/", 5) != 0) {
        keep_header(data, n, "X-Certraft-Thumbprint", r->thumbprint, sizeof(r->thumbprint));
        return n;
    }
    snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1),
             data);
    /* A new response (after a 100 Continue, say): forget the last one's. */
    r->thumbprint[0] = '\0';
    r->reason[0] = '\0';
    p = strchr(line, ' '); /* before the status code */
    if (p != NULL) {
        p = strchr(p + 1, ' '); /* before the reason */
    }
    if (p != NULL) {
        certctl_scrub(r->reason, sizeof(r->reason), p + 1);
        /* drop the CRLF, which scrubbing turned into blanks */
        for (size_t len = strlen(r->reason); len > 0 && r->reason[len - 1] == ' '; len--) {
            r->reason[len - 1] = '\0';
        }
    }
    return n;
}

static enum attempt_result classify(CURLcode rc, CURL *curl)
{
    curl_off_t pretransfer = 0;

    switch (rc) {
    case CURLE_OK:
        return ATTEMPT_ANSWERED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        return ATTEMPT_NOT_SENT;
    case CURLE_OPERATION_TIMEDOUT:
        /* A timeout before the transfer phase never sent the request. */
        curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
        return pretransfer == 0 ? ATTEMPT_NOT_SENT : ATTEMPT_LOST;
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
        return ATTEMPT_LOCAL;
    default:
        return ATTEMPT_LOST;
    }
}

/* One request to one node. On ATTEMPT_ANSWERED r holds the reply;
 * otherwise r is empty and err says why (never the password or key). */
static enum attempt_result attempt(struct certctl_client *c, const char *base,
                                   const char *method, const char *path,
                                   const char *body, const char *accept,
                                   struct certctl_reply *r, char *err, size_t errlen)
{
    const struct certctl_global *g = c->g;
    CURL *curl = c->curl;
    struct curl_slist *headers = NULL, *h;
    struct body_sink sink = {r, 0, 0};
    struct certctl_buf url, accept_line;
    enum attempt_result res;
    CURLcode rc;
    long connect_timeout = g->timeout < CERTCTL_MAX_CONNECT_SECONDS ? g->timeout
                                                                    : CERTCTL_MAX_CONNECT_SECONDS;

    memset(r, 0, sizeof(*r));
    certctl_buf_init(&url);
    certctl_buf_init(&accept_line);
    if (certctl_buf_puts(&url, base) != 0 || certctl_buf_puts(&url, path) != 0 ||
        certctl_buf_printf(&accept_line, "Accept: %s", accept) != 0) {
        certctl_buf_free(&url);
        certctl_buf_free(&accept_line);
        snprintf(err, errlen, "out of memory");
        return ATTEMPT_LOCAL;
    }
    /* curl_slist_append copies the string. */
    h = curl_slist_append(headers, accept_line.data);
    certctl_buf_free(&accept_line);
    if (h != NULL) {
        headers = h;
        /* No "Expect: 100-continue" round trip for our small bodies. */
        h = curl_slist_append(headers, "Expect:");
    }
    if (h != NULL && body != NULL) {
        headers = h;
        h = curl_slist_append(headers, "Content-Type: application/json");
    }
    if (h == NULL) {
        curl_slist_free_all(headers);
        certctl_buf_free(&url);
        snprintf(err, errlen, "out of memory");
        return ATTEMPT_LOCAL;
    }
    headers = h;

    /* Reset keeps the connection cache, so the topology request and the
     * write that follows it share a TLS session where they can. */
    curl_easy_reset(curl);
    c->curl_err[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url.data);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, g->timeout);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_timeout);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "certctl/" "0.1");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);

    if (g->pfx != NULL) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, g->pfx);
        curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "P12");
    } else {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, g->cert);
        curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
        if (g->key != NULL) {
            curl_easy_setopt(curl, CURLOPT_SSLKEY, g->key);
            curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    if (g->password != NULL) {
        curl_easy_setopt(curl, CURLOPT_KEYPASSWD, g->password);
    }
    if (g->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (g->cacert != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, g->cacert);
    }

    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (body != NULL) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        } else if (strcmp(method, "DELETE") != 0) {
            /* An empty POST/PUT still needs a Content-Length: 0. */
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        }
    }

    rc = curl_easy_perform(curl);
    res = classify(rc, curl);
    if (res == ATTEMPT_ANSWERED) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->body == NULL) {
            r->body = strdup("");
            if (r->body == NULL) {
                snprintf(err, errlen, "out of memory");
                res = ATTEMPT_LOCAL;
            }
        }
        if (r->body != NULL && r->len > 0) {
            r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
        }
    } else {
        char detail[CURL_ERROR_SIZE];

        if (sink.too_big) {
            snprintf(detail, sizeof(detail), "reply larger than %u bytes", CERTCTL_MAX_REPLY);
        } else {
            certctl_scrub(detail, sizeof(detail),
                          c->curl_err[0] != '\0' ? c->curl_err : curl_easy_strerror(rc));
        }
        snprintf(err, errlen, "%s: %s", base, detail);
        wipe_free(r->body, sink.cap);
        memset(r, 0, sizeof(*r));
    }
    /* CURLOPT_ERRORBUFFER and the header list must not outlive this call. */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    certctl_buf_free(&url);
    return res;
}

/* Appends "; what" to a running list of per-node failures. */
static void add_failure(char *all, size_t n, const char *what)
{
    size_t len = strlen(all);

    if (len + 1 < n) {
        snprintf(all + len, n - len, "%s%s", len > 0 ? "; " : "", what);
    }
}

static int read_as(struct certctl_client *c, const char *path, const char *accept,
                   struct certctl_reply *r, char *err, size_t errlen)
{
    char failures[1024] = "";
    char one[CURL_ERROR_SIZE + 256];
    const char *tried = NULL;
    size_t i;

    if (c->live != NULL) {
        enum attempt_result res =
            attempt(c, c->live, "GET", path, NULL, accept, r, one, sizeof(one));

        if (res == ATTEMPT_ANSWERED) {
            return 0;
        }
        if (res == ATTEMPT_LOCAL) {
            snprintf(err, errlen, "%s", one);
            return -1;
        }
        add_failure(failures, sizeof(failures), one);
        tried = c->live;
        c->live = NULL;
    }
    for (i = 0; i < c->g->nurls; i++) {
        const char *url = c->g->urls[i];
        enum attempt_result res;

        if (url == tried) {
            continue;
        }
        res = attempt(c, url, "GET", path, NULL, accept, r, one, sizeof(one));
        if (res == ATTEMPT_ANSWERED) {
            c->live = url;
            return 0;
        }
        if (res == ATTEMPT_LOCAL) {
            snprintf(err, errlen, "%s", one);
            return -1;
        }
        add_failure(failures, sizeof(failures), one);
    }
    snprintf(err, errlen, "no node answered (%s)", failures);
    return -1;
}

int certctl_client_read(struct certctl_client *c, const char *path,
                        struct certctl_reply *r, char *err, size_t errlen)
{
    return read_as(c, path, "application/json", r, err, errlen);
}

static int same_url(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 0 && a[la - 1] == '/') {
        la--;
    }
    while (lb > 0 && b[lb - 1] == '/') {
        lb--;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* The leader's API URL from a topology reply, copied into buf, or NULL if
 * there is none we would dare send our client certificate to. */
static const char *leader_url(const struct certctl_reply *topo, char *buf, size_t n)
{
    const char *s;
    char **urls = NULL;
    size_t nurls = 0;
    char ignored[256];

    if (topo->status < 200 || topo->status > 299 || !json_is_object(topo->json)) {
        return NULL;
    }
    s = json_string_value(json_object_get(topo->json, "LeaderApiUrl"));
    if (s == NULL || strlen(s) >= n) {
        return NULL;
    }
    /* Reuse the --url checks: one http(s) URL, no query, no blanks. */
    if (strchr(s, ',') != NULL ||
        certctl_urls_split(s, &urls, &nurls, ignored, sizeof(ignored)) != 0 || nurls != 1) {
        certctl_urls_free(urls, nurls);
        return NULL;
    }
    snprintf(buf, n, "%s", urls[0]);
    certctl_urls_free(urls, nurls);
    return buf;
}

static int write_as(struct certctl_client *c, const char *method, const char *path,
                    const char *body, const char *accept, struct certctl_reply *r,
                    char *err, size_t errlen)
{
    struct certctl_reply topo;
    char leader_buf[512];
    char one[CURL_ERROR_SIZE + 256];
    const char *leader;
    enum attempt_result res;

    if (certctl_client_read(c, "/cluster/topology", &topo, err, errlen) != 0) {
        return -1;
    }
    /* If the live node cannot tell (an error status, no leader now), it
     * gets the write and forwards it or answers why not. */
    leader = leader_url(&topo, leader_buf, sizeof(leader_buf));
    certctl_reply_free(&topo);

    if (leader != NULL && !same_url(leader, c->live)) {
        res = attempt(c, leader, method, path, body, accept, r, one, sizeof(one));
        if (res == ATTEMPT_ANSWERED) {
            return 0;
        }
        if (res != ATTEMPT_NOT_SENT) {
            /* It may have arrived: re-sending could apply it twice. */
            snprintf(err, errlen, "%s (the request may or may not have been applied)", one);
            return -1;
        }
        /* The leader is unreachable from here; the live node forwards. */
    }
    res = attempt(c, c->live, method, path, body, accept, r, one, sizeof(one));
    if (res == ATTEMPT_ANSWERED) {
        return 0;
    }
    if (res == ATTEMPT_NOT_SENT || res == ATTEMPT_LOCAL) {
        snprintf(err, errlen, "%s", one);
    } else {
        snprintf(err, errlen, "%s (the request may or may not have been applied)", one);
    }
    return -1;
}

int certctl_client_write(struct certctl_client *c, const char *method,
                         const char *path, const char *body,
                         struct certctl_reply *r, char *err, size_t errlen)
{
    return write_as(c, method, path, body, "application/json", r, err, errlen);
}

int certctl_client_request(struct certctl_client *c, const char *method,
                           const char *path, const char *body, const char *accept,
                           struct certctl_reply *r, char *err, size_t errlen)
{
    if (strcmp(method, "GET") == 0) {
        return read_as(c, path, accept, r, err, errlen);
    }
    return write_as(c, method, path, body, accept, r, err, errlen);
}
