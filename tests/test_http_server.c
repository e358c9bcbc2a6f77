/*
 * test_http_server.c - the HTTPS server against real clients.
 *
 * curl covers what ordinary clients do (client certificates, keep-alive,
 * Expect: 100-continue, large bodies); a raw blocking TLS client covers
 * what they never do (garbage, one byte per TLS record, pipelining,
 * abandoned requests). Each test runs its own server on a loop thread
 * (http_test_util.h) and ends with uv_loop_close() == 0, so a handle left
 * open fails the test and memory left behind fails under ASan.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "harness.h"
#include "http_test_util.h"

enum mode
{
    MODE_ECHO,  /* answer at once: the body, or the path when none */
    MODE_ASYNC, /* the same, 50 ms later from a timer */
    MODE_HOLD   /* keep the request in st->held */
};

/* What the handler saw; guarded by fx->mu. */
struct state
{
    enum mode mode;
    int n_handled;
    char method[16];
    char path[256];
    char query[256];
    char remote[64];
    char x_test[256];
    unsigned char *body;
    size_t body_len;
    unsigned char *der;
    size_t der_len;
    bool der_null;
    /* cr_http_query_get results for the query test */
    char q_name[64];
    int q_name_len, q_x_len, q_flag_len, q_empty_len, q_missing_len,
        q_small_len;
    char q_x[16];
    struct cr_http_request *held;
};

static struct
{
    struct ht_cert server, server2, client;
    char dir[64];
    char ca_path[128], cert_path[128], key_path[128];
} g;

/* --- the handler, on the loop thread -------------------------------------- */

static void answer(struct cr_http_request *req)
{
    const char *extra = "X-Handled: yes\r\n";
    if (req->body_len > 0) {
        cr_http_respond(req, 200, "application/octet-stream", extra,
                        req->body, req->body_len);
    } else {
        cr_http_respond(req, 200, "text/plain", extra, req->path,
                        strlen(req->path));
    }
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void async_timer_cb(uv_timer_t *t)
{
    answer(t->data);
    uv_close((uv_handle_t *)t, free_handle);
}

static void record(struct state *st, struct cr_http_request *req)
{
    const char *x = cr_http_request_header(req, "x-test");

    st->n_handled++;
    snprintf(st->method, sizeof st->method, "%s", req->method);
    snprintf(st->path, sizeof st->path, "%s", req->path);
    snprintf(st->query, sizeof st->query, "%s", req->query);
    snprintf(st->remote, sizeof st->remote, "%s", req->remote_addr);
    snprintf(st->x_test, sizeof st->x_test, "%s", x != NULL ? x : "(none)");
    free(st->body);
    st->body = malloc(req->body_len + 1);
    memcpy(st->body, req->body, req->body_len);
    st->body_len = req->body_len;
    free(st->der);
    st->der = NULL;
    st->der_null = req->peer_der == NULL;
    st->der_len = req->peer_der_len;
    if (req->peer_der != NULL) {
        st->der = malloc(req->peer_der_len);
        memcpy(st->der, req->peer_der, req->peer_der_len);
    }
    st->q_name_len = cr_http_query_get(req, "name", st->q_name,
                                       sizeof st->q_name);
    st->q_x_len = cr_http_query_get(req, "x", st->q_x, sizeof st->q_x);
    char tmp[8];
    st->q_flag_len = cr_http_query_get(req, "flag", tmp, sizeof tmp);
    st->q_empty_len = cr_http_query_get(req, "empty", tmp, sizeof tmp);
    st->q_missing_len = cr_http_query_get(req, "missing", tmp, sizeof tmp);
    st->q_small_len = cr_http_query_get(req, "name", tmp, 3);
}

static void handler(struct cr_http_request *req)
{
    struct ht_fixture *fx = req->server->data;
    struct state *st = fx->user;
    enum mode mode;

    pthread_mutex_lock(&fx->mu);
    record(st, req);
    mode = st->mode;
    if (mode == MODE_HOLD) {
        st->held = req;
    }
    pthread_mutex_unlock(&fx->mu);

    if (mode == MODE_ECHO) {
        answer(req);
    } else if (mode == MODE_ASYNC) {
        uv_timer_t *t = malloc(sizeof *t);
        uv_timer_init(&fx->loop, t);
        t->data = req;
        uv_timer_start(t, async_timer_cb, 50, 0);
    }
}

static void state_free(struct state *st)
{
    free(st->body);
    free(st->der);
}

/* --- loop-thread helpers -------------------------------------------------- */

static bool pred_held(struct ht_fixture *fx, void *arg)
{
    (void)arg;
    return ((struct state *)fx->user)->held != NULL;
}

static bool pred_n_connections(struct ht_fixture *fx, void *arg)
{
    return fx->srv.n_connections == *(unsigned *)arg;
}

static bool pred_server_closed(struct ht_fixture *fx, void *arg)
{
    (void)arg;
    return fx->server_closed;
}

static void call_respond_held(struct ht_fixture *fx, void *arg)
{
    struct state *st = fx->user;
    bool *was_detached = arg;
    struct cr_http_request *req = st->held;

    st->held = NULL;
    if (was_detached != NULL) {
        *was_detached = req->conn == NULL;
    }
    answer(req);
}

static void call_set_mode(struct ht_fixture *fx, void *arg)
{
    ((struct state *)fx->user)->mode = *(enum mode *)arg;
}

static void call_close_server(struct ht_fixture *fx, void *arg)
{
    (void)arg;
    cr_http_server_close(&fx->srv, ht_server_closed);
}

static void call_set_ctx(struct ht_fixture *fx, void *arg)
{
    cr_http_server_set_ctx(&fx->srv, arg);
}

static void set_mode(struct ht_fixture *fx, enum mode m)
{
    ht_call(fx, call_set_mode, &m);
}

static bool wait_n_connections(struct ht_fixture *fx, unsigned n)
{
    return ht_wait(fx, pred_n_connections, &n);
}

static int n_handled(struct ht_fixture *fx)
{
    pthread_mutex_lock(&fx->mu);
    int n = ((struct state *)fx->user)->n_handled;
    pthread_mutex_unlock(&fx->mu);
    return n;
}

/* --- curl ----------------------------------------------------------------- */

struct cresp
{
    CURLcode rc;
    long status;
    long num_connects;
    char *body;
    size_t len;
    char ctype[128];
};

static size_t cresp_write(char *p, size_t sz, size_t n, void *ud)
{
    struct cresp *r = ud;
    char *b = realloc(r->body, r->len + sz * n + 1);
    if (b == NULL) {
        return 0;
    }
    memcpy(b + r->len, p, sz * n);
    r->body = b;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void cresp_free(struct cresp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* One request on @h (reused handles keep their connection). */
static void curl_req(CURL *h, int port, const char *method, const char *path,
                     const void *body, size_t len, const char *const *headers,
                     bool client_cert, struct cresp *out)
{
    size_t url_len = strlen(path) + 64;
    char *url = malloc(url_len);
    struct curl_slist *hl = NULL;
    const char *ct = NULL;

    memset(out, 0, sizeof *out);
    snprintf(url, url_len, "https://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, g.ca_path);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)HT_WAIT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cresp_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_SSLCERT, client_cert ? g.cert_path : NULL);
    curl_easy_setopt(h, CURLOPT_SSLKEY, client_cert ? g.key_path : NULL);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, body != NULL ? "POST" : "GET") == 0
                         ? NULL
                         : method);
    for (; headers != NULL && *headers != NULL; headers++) {
        hl = curl_slist_append(hl, *headers);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->num_connects);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out->ctype, sizeof out->ctype, "%s", ct != NULL ? ct : "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    free(url);
    if (out->body == NULL) {
        out->body = calloc(1, 1);
    }
}

static void curl_get(int port, const char *path, bool client_cert,
                     struct cresp *out)
{
    CURL *h = curl_easy_init();
    curl_req(h, port, "GET", path, NULL, 0, NULL, client_cert, out);
    curl_easy_cleanup(h);
}

#define START(fx, st, limits)                                              \
    do {                                                                   \
        memset(&(st), 0, sizeof(st));                                      \
        if (ht_start(&(fx), &g.server, (limits), handler, &(st)) != 0) {   \
            CHECK(!"server failed to start");                              \
            return;                                                        \
        }                                                                  \
    } while (0)

#define STOP(fx, st)                                                       \
    do {                                                                   \
        CHECK_INT(ht_stop(&(fx)), 0);                                      \
        state_free(&(st));                                                 \
    } while (0)

/* A raw request on a fresh connection, and its response. */
static int raw_roundtrip(struct ht_client *c, int port,
                         const struct ht_cert *cert, const char *request,
                         struct ht_resp *resp)
{
    if (ht_client_connect(c, port, cert) != 0 ||
        ht_client_send_str(c, request) != 0) {
        return -1;
    }
    return ht_client_read_response(c, resp);
}

/* --- tests ------------------------------------------------------------------ */

TEST(test_no_client_cert)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;

    START(fx, st, NULL);
    curl_get(fx.port, "/hello", false, &r);
    CHECK_INT(r.rc, CURLE_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "/hello");
    CHECK_STR(r.ctype, "text/plain");
    pthread_mutex_lock(&fx.mu);
    CHECK_INT(st.n_handled, 1);
    CHECK(st.der_null);
    CHECK_INT(st.der_len, 0);
    CHECK_STR(st.method, "GET");
    CHECK(strncmp(st.remote, "127.0.0.1:", 10) == 0);
    pthread_mutex_unlock(&fx.mu);
    cresp_free(&r);
    STOP(fx, st);
}

TEST(test_client_cert)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;

    START(fx, st, NULL);
    curl_get(fx.port, "/me", true, &r);
    CHECK_INT(r.rc, CURLE_OK);
    CHECK_INT(r.status, 200);
    pthread_mutex_lock(&fx.mu);
    CHECK(!st.der_null);
    CHECK_INT(st.der_len, g.client.der_len);
    CHECK(st.der != NULL && st.der_len == g.client.der_len &&
          memcmp(st.der, g.client.der, g.client.der_len) == 0);
    pthread_mutex_unlock(&fx.mu);
    cresp_free(&r);
    STOP(fx, st);
}

TEST(test_keep_alive)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;
    struct ht_client c;
    struct ht_resp resp;
    char first_remote[64] = "";
    CURL *h;
    int i;

    START(fx, st, NULL);
    h = curl_easy_init();
    for (i = 0; i < 5; i++) {
        curl_req(h, fx.port, "GET", "/ka", NULL, 0, NULL, true, &r);
        CHECK_INT(r.status, 200);
        CHECK_INT(r.num_connects, i == 0 ? 1 : 0);
        pthread_mutex_lock(&fx.mu);
        if (i == 0) {
            snprintf(first_remote, sizeof first_remote, "%s", st.remote);
        }
        CHECK_STR(st.remote, first_remote);
        pthread_mutex_unlock(&fx.mu);
        cresp_free(&r);
    }
    curl_easy_cleanup(h);

    /* HTTP/1.0 closes unless asked to keep alive */
    CHECK_INT(raw_roundtrip(&c, fx.port, NULL, "GET /old HTTP/1.0\r\n\r\n",
                            &resp),
              0);
    CHECK_INT(resp.status, 200);
    CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(resp.head, "\r\nX-Handled: yes\r\n") != NULL);
    CHECK(strstr(resp.head, "\r\nContent-Length: 4\r\n") != NULL);
    CHECK(strstr(resp.head, "\r\nDate: ") != NULL);
    CHECK(ht_client_wait_closed(&c));
    ht_resp_free(&resp);
    ht_client_close(&c);

    CHECK_INT(raw_roundtrip(&c, fx.port, NULL,
                            "GET /old1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                            &resp),
              0);
    CHECK(strcasestr(resp.head, "\r\nConnection: keep-alive\r\n") != NULL);
    ht_resp_free(&resp);
    CHECK_INT(ht_client_send_str(&c, "GET /old2 HTTP/1.0\r\n\r\n"), 0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_STR(resp.body, "/old2");
    CHECK(ht_client_wait_closed(&c));
    ht_resp_free(&resp);
    ht_client_close(&c);

    /* we never upgrade: the request is answered, then the connection ends */
    CHECK_INT(raw_roundtrip(&c, fx.port, NULL,
                            "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                            "Upgrade: websocket\r\n\r\n",
                            &resp),
              0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "/up");
    CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
    CHECK(ht_client_wait_closed(&c));
    ht_resp_free(&resp);
    ht_client_close(&c);

    /* HTTP/1.1 with Connection: close */
    CHECK_INT(raw_roundtrip(&c, fx.port, NULL,
                            "GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            &resp),
              0);
    CHECK_INT(resp.status, 200);
    CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
    CHECK(ht_client_wait_closed(&c));
    ht_resp_free(&resp);
    ht_client_close(&c);
    STOP(fx, st);
}

TEST(test_query_and_headers)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;
    struct ht_client c;
    struct ht_resp resp;
    const char *hdrs[] = {"X-Test: hello world", NULL};
    const char *req = "GET /frag/%41?k=v HTTP/1.1\r\nHost: x\r\n"
                      "X-Other: 1\r\nX-Test: fragmented value\r\n\r\n";
    size_t i;

    START(fx, st, NULL);
    CURL *h = curl_easy_init();
    curl_req(h, fx.port, "GET",
             "/a%20b/c%2Fd?name=J%C3%B6rg+M%26x&x=1&x=2&flag&empty=", NULL, 0,
             hdrs, false, &r);
    curl_easy_cleanup(h);
    CHECK_INT(r.status, 200);
    pthread_mutex_lock(&fx.mu);
    CHECK_STR(st.path, "/a b/c/d");
    CHECK_STR(st.query, "name=J%C3%B6rg+M%26x&x=1&x=2&flag&empty=");
    CHECK_STR(st.x_test, "hello world");
    CHECK_STR(st.q_name, "J\xc3\xb6rg M&x");
    CHECK_INT(st.q_name_len, 9);
    CHECK_STR(st.q_x, "1");
    CHECK_INT(st.q_x_len, 1);
    CHECK_INT(st.q_flag_len, 0);
    CHECK_INT(st.q_empty_len, 0);
    CHECK_INT(st.q_missing_len, -1);
    CHECK_INT(st.q_small_len, -1);
    pthread_mutex_unlock(&fx.mu);
    cresp_free(&r);

    /* one byte per TLS record: every name and value arrives in pieces */
    CHECK_INT(ht_client_connect(&c, fx.port, NULL), 0);
    for (i = 0; req[i] != '\0'; i++) {
        CHECK_INT(ht_client_send(&c, req + i, 1), 0);
    }
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "/frag/A");
    pthread_mutex_lock(&fx.mu);
    CHECK_STR(st.x_test, "fragmented value");
    CHECK_STR(st.query, "k=v");
    pthread_mutex_unlock(&fx.mu);
    ht_resp_free(&resp);

    /* absolute-form target with a fragment, an empty header value */
    CHECK_INT(ht_client_send_str(&c, "GET http://example.com?a=1#frag HTTP/1.1\r\n"
                                     "Host: x\r\nX-Test:\r\n\r\n"),
              0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "/");
    pthread_mutex_lock(&fx.mu);
    CHECK_STR(st.query, "a=1");
    CHECK_STR(st.x_test, "");
    pthread_mutex_unlock(&fx.mu);
    ht_resp_free(&resp);

    /* a malformed escape is kept as it is */
    CHECK_INT(ht_client_send_str(&c, "GET /x%2 HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_STR(resp.body, "/x%2");
    ht_resp_free(&resp);
    ht_client_close(&c);
    STOP(fx, st);
}

TEST(test_bodies)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;
    struct ht_client c;
    struct ht_resp resp;
    size_t len = 1024 * 1024;
    unsigned char *big = malloc(len);

    RAND_bytes(big, (int)len);
    START(fx, st, NULL);
    /* curl sends Expect: 100-continue for a body this size */
    CURL *h = curl_easy_init();
    curl_req(h, fx.port, "PUT", "/big", big, len, NULL, true, &r);
    curl_easy_cleanup(h);
    CHECK_INT(r.rc, CURLE_OK);
    CHECK_INT(r.status, 200);
    CHECK(r.len == len && memcmp(r.body, big, len) == 0);
    pthread_mutex_lock(&fx.mu);
    CHECK_STR(st.method, "PUT");
    CHECK(st.body_len == len && memcmp(st.body, big, len) == 0);
    pthread_mutex_unlock(&fx.mu);
    cresp_free(&r);

    /* Expect: 100-continue by hand: nothing is sent before the 100 */
    CHECK_INT(raw_roundtrip(&c, fx.port, NULL,
                            "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            "Expect: 100-continue\r\n\r\n",
                            &resp),
              0);
    CHECK_INT(resp.status, 100);
    ht_resp_free(&resp);
    CHECK_INT(ht_client_send_str(&c, "hello"), 0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "hello");
    ht_resp_free(&resp);

    /* chunked upload on the same connection */
    CHECK_INT(ht_client_send_str(&c, "POST /c HTTP/1.1\r\nHost: x\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"
                                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
              0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "hello world");
    ht_resp_free(&resp);

    /* trailers are accepted (and dropped) */
    CHECK_INT(ht_client_send_str(&c, "POST /t HTTP/1.1\r\nHost: x\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"
                                     "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"),
              0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, "abc");
    ht_resp_free(&resp);
    CHECK_INT(ht_client_send_str(&c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_STR(resp.body, "/after");
    ht_resp_free(&resp);
    ht_client_close(&c);
    free(big);
    STOP(fx, st);
}

static const char err413[] =
    "{\"Error\":\"request body is too large: the limit is 1000 bytes\",\"Type\":\"PayloadTooLarge\"}";

TEST(test_body_limit)
{
    struct ht_fixture fx;
    struct state st;
    struct cr_http_limits lim;
    struct cresp r;
    struct ht_client c;
    struct ht_resp resp;
    char body[2000];
    const char *no_expect[] = {"Expect:", NULL};

    cr_http_limits_default(&lim);
    lim.max_body_bytes = 1000;
    lim.idle_timeout_ms = 500;
    memset(body, 'b', sizeof body);
    START(fx, st, &lim);

    CURL *h = curl_easy_init();
    /* with Expect: 100-continue, refused before the body is sent */
    curl_req(h, fx.port, "POST", "/p", body, sizeof body, NULL, false, &r);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.body, err413);
    CHECK_STR(r.ctype, "application/json");
    cresp_free(&r);
    /* without: the body is on its way when the answer comes */
    curl_req(h, fx.port, "POST", "/p", body, sizeof body, no_expect, false,
             &r);
    CHECK_INT(r.status, 413);
    CHECK_STR(r.body, err413);
    cresp_free(&r);
    CHECK_INT(n_handled(&fx), 0);
    /* exactly the limit is fine */
    curl_req(h, fx.port, "POST", "/p", body, 1000, NULL, false, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.len, 1000);
    cresp_free(&r);
    curl_easy_cleanup(h);

    /* a chunked body that grows past the limit */
    CHECK_INT(ht_client_connect(&c, fx.port, NULL), 0);
    CHECK_INT(ht_client_send_str(&c, "POST /c HTTP/1.1\r\nHost: x\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"),
              0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(ht_client_send_str(&c, "190\r\n"), 0);
        CHECK_INT(ht_client_send(&c, body, 400), 0);
        CHECK_INT(ht_client_send_str(&c, "\r\n"), 0);
    }
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_INT(resp.status, 413);
    CHECK_STR(resp.body, err413);
    CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
    CHECK(ht_client_wait_closed(&c));
    ht_resp_free(&resp);
    ht_client_close(&c);
    CHECK_INT(n_handled(&fx), 1);
    STOP(fx, st);
}

TEST(test_header_limit)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;
    size_t n = 20000;
    char *big = malloc(n + 16);
    const char *hdrs[] = {big, NULL};

    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', n);
    big[7 + n] = '\0';
    START(fx, st, NULL);
    CURL *h = curl_easy_init();
    curl_req(h, fx.port, "GET", "/h", NULL, 0, hdrs, false, &r);
    CHECK_INT(r.status, 431);
    CHECK_STR(r.body, "{\"Error\":\"request line and headers are too large: "
                      "the limit is 16384 bytes\","
                      "\"Type\":\"RequestHeaderFieldsTooLarge\"}");
    cresp_free(&r);
    CHECK_INT(n_handled(&fx), 0);
    /* under the 16 KiB default is fine */
    big[7 + 15000] = '\0';
    curl_req(h, fx.port, "GET", "/h", NULL, 0, hdrs, false, &r);
    CHECK_INT(r.status, 200);
    cresp_free(&r);
    /* the request line counts too */
    char *url = malloc(n + 2);
    url[0] = '/';
    memset(url + 1, 'u', n);
    url[n + 1] = '\0';
    curl_req(h, fx.port, "GET", url, NULL, 0, NULL, false, &r);
    CHECK_INT(r.status, 431);
    cresp_free(&r);
    free(url);
    curl_easy_cleanup(h);
    free(big);
    STOP(fx, st);
}

TEST(test_bad_requests)
{
    struct ht_fixture fx;
    struct state st;
    struct cr_http_limits lim;
    struct ht_client c;
    struct ht_resp resp;
    const char *bad[] = {
        "\x01\x02\x03 garbage\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "GET /nul%00x HTTP/1.1\r\nHost: x\r\n\r\n",
    };

    cr_http_limits_default(&lim);
    lim.idle_timeout_ms = 300; /* bounds the linger after an error */
    START(fx, st, &lim);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(raw_roundtrip(&c, fx.port, NULL, bad[i], &resp), 0);
        CHECK_INT(resp.status, 400);
        CHECK(strstr(resp.body, "\"Type\":\"BadRequest\"") != NULL);
        CHECK(strncmp(resp.body, "{\"Error\":\"", 10) == 0);
        CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
        /* the server ends the connection by itself */
        CHECK(ht_client_wait_closed(&c));
        ht_resp_free(&resp);
        ht_client_close(&c);
    }
    CHECK_INT(n_handled(&fx), 0);
    STOP(fx, st);
}

TEST(test_async_response)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;

    START(fx, st, NULL);
    set_mode(&fx, MODE_ASYNC);
    CURL *h = curl_easy_init();
    for (int i = 0; i < 2; i++) {
        curl_req(h, fx.port, "GET", "/slow", NULL, 0, NULL, false, &r);
        CHECK_INT(r.rc, CURLE_OK);
        CHECK_INT(r.status, 200);
        CHECK_STR(r.body, "/slow");
        CHECK_INT(r.num_connects, i == 0 ? 1 : 0);
        cresp_free(&r);
    }
    curl_easy_cleanup(h);
    STOP(fx, st);
}

TEST(test_client_gone_before_answer)
{
    struct ht_fixture fx;
    struct state st;
    struct ht_client c;
    bool detached = false;

    START(fx, st, NULL);
    set_mode(&fx, MODE_HOLD);
    CHECK_INT(ht_client_connect(&c, fx.port, NULL), 0);
    CHECK_INT(ht_client_send_str(&c, "POST /held HTTP/1.1\r\nHost: x\r\n"
                                     "Content-Length: 3\r\n\r\nabc"),
              0);
    CHECK(ht_wait(&fx, pred_held, NULL));
    /* a pipelined request waits in the server's buffer, then the client
     * hangs up (the close_notify follows the request, so the server reads
     * both while the first request is with the handler) */
    CHECK_INT(ht_client_send_str(&c, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ht_client_close(&c);
    CHECK(wait_n_connections(&fx, 0));
    CHECK_INT(n_handled(&fx), 1);
    /* the request outlived its connection; answering just frees it */
    CHECK(ht_call(&fx, call_respond_held, &detached));
    CHECK(detached);
    STOP(fx, st);
}

TEST(test_idle_timeout)
{
    struct ht_fixture fx;
    struct state st;
    struct cr_http_limits lim;
    struct ht_client c;
    struct ht_resp resp;
    double t0;

    cr_http_limits_default(&lim);
    lim.idle_timeout_ms = 200;
    START(fx, st, &lim);
    CHECK_INT(raw_roundtrip(&c, fx.port, NULL,
                            "GET /i HTTP/1.1\r\nHost: x\r\n\r\n", &resp),
              0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    t0 = ht_now_ms();
    CHECK(ht_client_wait_closed(&c));
    CHECK(ht_now_ms() - t0 >= 150);
    ht_client_close(&c);

    /* a request that never completes is cut off as well, unanswered */
    CHECK_INT(ht_client_connect(&c, fx.port, NULL), 0);
    CHECK_INT(ht_client_send_str(&c, "GET /slow HTTP/1.1\r\nHost: x\r\nX-A"),
              0);
    CHECK(ht_client_wait_closed(&c));
    ht_client_close(&c);
    CHECK(wait_n_connections(&fx, 0));
    CHECK_INT(n_handled(&fx), 1);
    STOP(fx, st);
}

TEST(test_max_connections)
{
    struct ht_fixture fx;
    struct state st;
    struct cr_http_limits lim;
    struct ht_client c1, c2, c3, c4;
    struct ht_resp resp;
    const char *get = "GET /m HTTP/1.1\r\nHost: x\r\n\r\n";

    cr_http_limits_default(&lim);
    lim.max_connections = 2;
    START(fx, st, &lim);
    CHECK_INT(raw_roundtrip(&c1, fx.port, NULL, get, &resp), 0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    CHECK_INT(raw_roundtrip(&c2, fx.port, NULL, get, &resp), 0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);

    CHECK_INT(raw_roundtrip(&c3, fx.port, NULL, get, &resp), 0);
    CHECK_INT(resp.status, 503);
    CHECK_STR(resp.body,
              "{\"Error\":\"too many connections\",\"Type\":\"Unavailable\"}");
    CHECK(strcasestr(resp.head, "\r\nConnection: close\r\n") != NULL);
    ht_resp_free(&resp);
    ht_client_close(&c3);
    CHECK_INT(n_handled(&fx), 2);

    ht_client_close(&c1);
    CHECK(wait_n_connections(&fx, 1));
    CHECK_INT(raw_roundtrip(&c4, fx.port, NULL, get, &resp), 0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    ht_client_close(&c2);
    ht_client_close(&c4);
    STOP(fx, st);
}

/* Beyond the connections it refuses with a 503, the server drops new
 * sockets without a handshake. Refused connections live 2 s at most
 * without a request; opening 17 takes a fraction of that. */
TEST(test_overflow_dropped)
{
    struct ht_fixture fx;
    struct state st;
    struct cr_http_limits lim;
    struct ht_client c0, over[17];
    struct ht_resp resp;
    int i;

    cr_http_limits_default(&lim);
    lim.max_connections = 1;
    START(fx, st, &lim);
    CHECK_INT(raw_roundtrip(&c0, fx.port, NULL,
                            "GET /0 HTTP/1.1\r\nHost: x\r\n\r\n", &resp),
              0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    for (i = 0; i < 16; i++) {
        CHECK_INT(ht_client_connect(&over[i], fx.port, NULL), 0);
    }
    CHECK(ht_client_connect(&over[16], fx.port, NULL) != 0 ||
          ht_client_wait_closed(&over[16]));
    for (i = 0; i < 17; i++) {
        ht_client_close(&over[i]);
    }
    ht_client_close(&c0);
    CHECK(wait_n_connections(&fx, 0));
    STOP(fx, st);
}

TEST(test_ipv6)
{
    struct ht_fixture fx;
    struct state st;
    struct cresp r;
    char url[64];
    CURL *h;

    memset(&st, 0, sizeof st);
    int rv = ht_start_on(&fx, "::1", &g.server, NULL, handler, &st);
    if (rv == UV_EADDRNOTAVAIL || rv == UV_EAFNOSUPPORT) {
        printf("     (no IPv6 loopback here; skipped)\n");
        return;
    }
    CHECK_INT(rv, 0);
    if (rv != 0) {
        return;
    }
    h = curl_easy_init();
    snprintf(url, sizeof url, "https://[::1]:%d/six", fx.port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, g.ca_path);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)HT_WAIT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cresp_write);
    memset(&r, 0, sizeof r);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    CHECK_INT(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
    CHECK_STR(r.body, "/six");
    pthread_mutex_lock(&fx.mu);
    CHECK(strncmp(st.remote, "[::1]:", 6) == 0);
    pthread_mutex_unlock(&fx.mu);
    cresp_free(&r);
    STOP(fx, st);
}

TEST(test_pipelining)
{
    struct ht_fixture fx;
    struct state st;
    struct ht_client c;
    struct ht_resp resp;
    const char *three = "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                        "\r\nbody"
                        "GET /p3 HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *want[] = {"/p1", "body", "/p3"};
    enum mode modes[] = {MODE_ASYNC, MODE_ECHO};
    struct cr_http_limits lim;
    size_t m, i;

    /* the limit also sizes what is buffered while a request is held */
    cr_http_limits_default(&lim);
    lim.max_header_bytes = 1024;
    START(fx, st, &lim);
    CHECK_INT(ht_client_connect(&c, fx.port, NULL), 0);
    for (m = 0; m < 2; m++) {
        set_mode(&fx, modes[m]);
        CHECK_INT(ht_client_send_str(&c, three), 0);
        for (i = 0; i < 3; i++) {
            CHECK_INT(ht_client_read_response(&c, &resp), 0);
            CHECK_INT(resp.status, 200);
            CHECK_STR(resp.body, want[i]);
            ht_resp_free(&resp);
        }
    }

    /* A held request followed, in the same TLS record, by far more than
     * the server buffers meanwhile: reading pauses, and once the first
     * answer is out everything is answered in order. */
    set_mode(&fx, MODE_HOLD);
    size_t n = 3000, len = 0;
    char *burst = malloc(n * 48);
    len += (size_t)sprintf(burst, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    for (i = 0; i < n; i++) {
        len += (size_t)sprintf(burst + len,
                               "GET /b%zu HTTP/1.1\r\nHost: x\r\n\r\n", i);
    }
    CHECK_INT(ht_client_send(&c, burst, len), 0);
    CHECK(ht_wait(&fx, pred_held, NULL));
    set_mode(&fx, MODE_ECHO);
    CHECK(ht_call(&fx, call_respond_held, NULL));
    CHECK_INT(ht_client_read_response(&c, &resp), 0);
    CHECK_STR(resp.body, "/first");
    ht_resp_free(&resp);
    for (i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "/b%zu", i);
        if (ht_client_read_response(&c, &resp) != 0) {
            CHECK(!"response missing");
            break;
        }
        if (strcmp(resp.body, path) != 0) {
            CHECK_STR(resp.body, path);
            ht_resp_free(&resp);
            break;
        }
        ht_resp_free(&resp);
    }
    free(burst);
    ht_client_close(&c);
    STOP(fx, st);
}

TEST(test_server_close_with_pending)
{
    struct ht_fixture fx;
    struct state st;
    struct ht_client c1, c2;
    bool detached = false;

    START(fx, st, NULL);
    set_mode(&fx, MODE_HOLD);
    CHECK_INT(ht_client_connect(&c1, fx.port, NULL), 0);
    CHECK_INT(ht_client_send_str(&c1, "GET /pending HTTP/1.1\r\nHost: x\r\n\r\n"),
              0);
    CHECK(ht_wait(&fx, pred_held, NULL));
    CHECK_INT(ht_client_connect(&c2, fx.port, NULL), 0);
    CHECK(wait_n_connections(&fx, 2));

    CHECK(ht_call(&fx, call_close_server, NULL));
    CHECK(ht_wait(&fx, pred_server_closed, NULL));
    CHECK(ht_client_wait_closed(&c1));
    CHECK(ht_client_wait_closed(&c2));
    CHECK(ht_call(&fx, call_respond_held, &detached));
    CHECK(detached);
    ht_client_close(&c1);
    ht_client_close(&c2);
    STOP(fx, st);
}

TEST(test_set_ctx)
{
    struct ht_fixture fx;
    struct state st;
    struct ht_client c1, c2;
    struct ht_resp resp;
    struct cr_tls_ctx_options opts = {.is_server = true};
    char err[256];
    SSL_CTX *ctx2;
    X509 *peer;
    unsigned char *der = NULL;
    int n;

    START(fx, st, NULL);
    ctx2 = cr_tls_ctx_new(g.server2.cert_pem, g.server2.cert_len,
                          g.server2.key_pem, g.server2.key_len, &opts, err,
                          sizeof err);
    CHECK(ctx2 != NULL);
    CHECK_INT(ht_client_connect(&c1, fx.port, NULL), 0);
    CHECK(ht_call(&fx, call_set_ctx, ctx2));
    CHECK_INT(ht_client_connect(&c2, fx.port, NULL), 0);

    peer = SSL_get1_peer_certificate(c1.ssl);
    n = i2d_X509(peer, &der);
    CHECK(n > 0 && (size_t)n == g.server.der_len &&
          memcmp(der, g.server.der, (size_t)n) == 0);
    OPENSSL_free(der);
    X509_free(peer);
    der = NULL;
    peer = SSL_get1_peer_certificate(c2.ssl);
    n = i2d_X509(peer, &der);
    CHECK(n > 0 && (size_t)n == g.server2.der_len &&
          memcmp(der, g.server2.der, (size_t)n) == 0);
    OPENSSL_free(der);
    X509_free(peer);

    /* both sessions work; the old one keeps the old context */
    CHECK_INT(ht_client_send_str(&c1, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_INT(ht_client_read_response(&c1, &resp), 0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    CHECK_INT(ht_client_send_str(&c2, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    CHECK_INT(ht_client_read_response(&c2, &resp), 0);
    CHECK_INT(resp.status, 200);
    ht_resp_free(&resp);
    ht_client_close(&c1);
    ht_client_close(&c2);
    STOP(fx, st);
    SSL_CTX_free(ctx2);
}

TEST(test_reason_phrases)
{
    static const int codes[] = {200, 201, 202, 204, 307, 400, 401, 403, 404,
                                405, 409, 413, 421, 431, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(strcmp(cr_http_reason(codes[i]), "Unknown") != 0);
    }
    CHECK_STR(cr_http_reason(404), "Not Found");
    CHECK_STR(cr_http_reason(431), "Request Header Fields Too Large");
}

static int setup(void)
{
    snprintf(g.dir, sizeof g.dir, "/tmp/test_http_XXXXXX");
    if (mkdtemp(g.dir) == NULL || ht_cert_make(&g.server, "server") != 0 ||
        ht_cert_make(&g.server2, "server2") != 0 ||
        ht_cert_make(&g.client, "client") != 0) {
        return -1;
    }
    snprintf(g.ca_path, sizeof g.ca_path, "%s/server.pem", g.dir);
    snprintf(g.cert_path, sizeof g.cert_path, "%s/client.pem", g.dir);
    snprintf(g.key_path, sizeof g.key_path, "%s/client.key", g.dir);
    if (ht_write_file(g.ca_path, g.server.cert_pem, g.server.cert_len) != 0 ||
        ht_write_file(g.cert_path, g.client.cert_pem, g.client.cert_len) !=
            0 ||
        ht_write_file(g.key_path, g.client.key_pem, g.client.key_len) != 0) {
        return -1;
    }
    return 0;
}

static void teardown(void)
{
    unlink(g.ca_path);
    unlink(g.cert_path);
    unlink(g.key_path);
    rmdir(g.dir);
    ht_cert_free(&g.server);
    ht_cert_free(&g.server2);
    ht_cert_free(&g.client);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    RUN(test_no_client_cert);
    RUN(test_client_cert);
    RUN(test_keep_alive);
    RUN(test_query_and_headers);
    RUN(test_bodies);
    RUN(test_body_limit);
    RUN(test_header_limit);
    RUN(test_bad_requests);
    RUN(test_async_response);
    RUN(test_client_gone_before_answer);
    RUN(test_idle_timeout);
    RUN(test_max_connections);
    RUN(test_overflow_dropped);
    RUN(test_ipv6);
    RUN(test_pipelining);
    RUN(test_server_close_with_pending);
    RUN(test_set_ctx);
    RUN(test_reason_phrases);
    teardown();
    curl_global_cleanup();
    return HARNESS_DONE();
}
