/*
 * node.c - bring a certnode up from its data directory and take it down.
 *
 * Start order: certificates -> TLS contexts -> state machine -> raft (over
 * the TLS transport) -> HTTPS API -> signals. Stop runs the other way, and
 * the loop ends once every handle is closed, so that ASan sees no leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include <certraft/async_work.h>
#include <certraft/io_close_once.h>
#include <certraft/tls_transport.h>
#include <certraft/x509.h>

#include "api.h"
#include "data_dir.h"
#include "forward.h"
#include "node.h"

int64_t cr_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void cr_node_address_split(const char *address, char *raft_addr,
                           size_t raft_len, char *api_url, size_t api_len)
{
    const char *bar = strchr(address, '|');
    if (bar == NULL) {
        snprintf(raft_addr, raft_len, "%s", address);
        if (api_len > 0) {
            api_url[0] = '\0';
        }
        return;
    }
    snprintf(raft_addr, raft_len, "%.*s", (int)(bar - address), address);
    snprintf(api_url, api_len, "%s", bar + 1);
}

uint64_t cr_node_contact_age_ms(struct cr_node *node)
{
    struct raft *r = &node->raft;
    uint64_t now = node->io.time(&node->io);

    /* A follower's election timer restarts whenever its leader speaks; a
     * leader's whenever it has confirmed a majority still answers (it
     * steps down otherwise). So the timer's start is the last contact. */
    if ((r->state == RAFT_LEADER ||
         (r->state == RAFT_FOLLOWER && r->follower_state.current_leader.id)) &&
        r->election_timer_start > node->last_contact) {
        node->last_contact = r->election_timer_start;
    }
    return now > node->last_contact ? now - node->last_contact : 0;
}

static void catchup_target_cb(struct cr_https_request *req)
{
    struct cr_node *node = req->data;
    json_t *root = NULL;

    node->catchup.in_flight = false;
    if (req->status == 200 && req->resp_body != NULL &&
        (root = json_loadb(req->resp_body, req->resp_len, 0, NULL)) != NULL &&
        json_is_integer(json_object_get(root, "CommitIndex")) &&
        json_is_string(json_object_get(root, "State")) &&
        strcmp(json_string_value(json_object_get(root, "State")), "Leader") ==
            0 &&
        /* A leader's commit index counts only once it has committed in
         * its own term, which is what its Serving says. */
        json_is_true(json_object_get(root, "Serving"))) {
        node->catchup.target =
            (uint64_t)json_integer_value(json_object_get(root, "CommitIndex"));
        node->catchup.known = true;
    }
    json_decref(root);
    cr_https_request_free(req);
}

/* Ask the leader how far the log has committed (ReadIndex, in effect). */
static void catchup_ask_leader(struct cr_node *node)
{
    char leader[256];
    struct cr_https_request *r;

    cr_node_leader_url(node, leader, sizeof leader);
    if (node->catchup.in_flight || leader[0] == '\0' ||
        (r = calloc(1, sizeof *r)) == NULL) {
        return;
    }
    r->data = node;
    r->pool = node->curl_pool;
    r->method = strdup("GET");
    r->url = malloc(strlen(leader) + 32);
    if (r->url != NULL) {
        sprintf(r->url, "%s/cluster/topology", leader);
    }
    r->timeout_ms = 3000;
    if (cr_https_request_set_tls(r, node->cert_pem, node->key_pem,
                                 cr_node_trusted_pem(node)) != 0 ||
        r->method == NULL || r->url == NULL ||
        cr_https_request_start(node->loop, r, catchup_target_cb) != 0) {
        cr_https_request_free(r);
        return;
    }
    node->catchup.in_flight = true;
}

static void catchup_barrier_cb(struct raft_barrier *req, int status)
{
    struct cr_node *node = req->data;
    node->catchup.barrier_in_flight = false;
    if (status == 0 && raft_state(&node->raft) == RAFT_LEADER) {
        node->catchup.target = raft_last_applied(&node->raft);
        node->catchup.known = true;
    }
}

static void catchup_barrier(struct cr_node *node)
{
    if (node->catchup.barrier_in_flight) {
        return;
    }
    node->catchup.barrier.data = node;
    if (raft_barrier(&node->raft, &node->catchup.barrier,
                     catchup_barrier_cb) == 0) {
        node->catchup.barrier_in_flight = true;
    }
}

/*
 * May this node answer from its registry? Not while it has been cut off
 * from the majority for longer than the bound (it may have missed a
 * deletion), and - once cut off, or just started - not until it has
 * applied everything the leader had committed when contact came back.
 * Being in contact again is not enough: the deletion may still be on its
 * way.
 */
bool cr_node_serving(struct cr_node *node, uint64_t *age_ms)
{
    struct raft *r = &node->raft;
    uint64_t age = cr_node_contact_age_ms(node);

    if (age_ms != NULL) {
        *age_ms = age;
    }
    if (age > node->config.stale_after_ms) {
        node->catchup.latched = true;
        node->catchup.known = false;
        return false;
    }
    /* Newly leading: catch up again (see the barrier below). */
    if (r->state == RAFT_LEADER && r->current_term != node->catchup.term) {
        node->catchup.term = r->current_term;
        node->catchup.latched = true;
        node->catchup.known = false;
    }
    if (!node->catchup.latched) {
        return true;
    }
    if (r->state == RAFT_LEADER) {
        /* A new leader does not know what earlier terms committed until
         * an entry of its own term commits: a barrier, once applied,
         * means everything before it is applied too. */
        if (!node->catchup.known) {
            catchup_barrier(node);
            return false;
        }
    } else if (!node->catchup.known) {
        catchup_ask_leader(node);
        return false;
    }
    if (raft_last_applied(r) >= node->catchup.target) {
        node->catchup.latched = false;
        return true;
    }
    return false;
}

bool cr_node_is_leader(struct cr_node *node)
{
    return raft_state(&node->raft) == RAFT_LEADER;
}

void cr_node_leader_url(struct cr_node *node, char *out, size_t outlen)
{
    raft_id id;
    const char *address;
    char raft_addr[256];

    raft_leader(&node->raft, &id, &address);
    if (id == 0 || address == NULL) {
        out[0] = '\0';
        return;
    }
    cr_node_address_split(address, raft_addr, sizeof raft_addr, out, outlen);
}

/* Raft peers must present a cluster certificate: this node's own, or one
 * the replicated state lists as a cluster/ClusterNode certificate. */
static bool node_trust_peer(void *arg, const unsigned char *der, size_t len)
{
    struct cr_node *node = arg;
    char thumbprint[CR_THUMBPRINT_LEN + 1];

    cr_thumbprint(der, len, thumbprint);
    if (strcmp(thumbprint, node->cert_thumbprint) == 0 ||
        cr_state_is_cluster_node(node->fsm.state, thumbprint)) {
        return true;
    }
    /* The cluster key itself: a peer presenting a certificate for the
     * same key as a cluster certificate holds that key (TLS proves it).
     * This is what lets a node that slept through a renewal (same key,
     * new certificate) and its peers still talk and catch up. */
    struct cr_cert_info info;
    bool same_key = false;
    if (cr_cert_info_from_der(der, len, &info, NULL) == CR_OK) {
        const struct cr_state *st = node->fsm.state;
        same_key = strcmp(info.pin, node->cert_pin) == 0;
        for (size_t i = 0; !same_key && i < cr_state_cluster_cert_count(st);
             i++) {
            same_key = strcmp(info.pin, cr_state_cluster_cert(st, i)->pin) == 0;
        }
        cr_cert_info_free(&info);
    }
    return same_key;
}

/* Everything derived from one certificate and key: parsed objects, the
 * thumbprint and the three TLS contexts. Built completely before it
 * replaces the node's, so a bad certificate changes nothing. */
struct node_identity {
    char *cert_pem, *key_pem;
    size_t cert_len, key_len;
    X509 *x509;
    EVP_PKEY *pkey;
    char thumbprint[CR_THUMBPRINT_LEN + 1];
    char pin[CR_PIN_LEN + 1];
    SSL_CTX *raft_server, *raft_client, *http;
};

static void identity_free(struct node_identity *id)
{
    if (id->key_pem != NULL) {
        OPENSSL_cleanse(id->key_pem, id->key_len);
    }
    free(id->key_pem);
    free(id->cert_pem);
    X509_free(id->x509);
    EVP_PKEY_free(id->pkey);
    SSL_CTX_free(id->raft_server);
    SSL_CTX_free(id->raft_client);
    SSL_CTX_free(id->http);
    memset(id, 0, sizeof *id);
}

/* Takes ownership of the two PEM buffers. */
static int identity_build(struct cr_node *node, struct node_identity *id,
                          char *cert_pem, size_t cert_len, char *key_pem,
                          size_t key_len, char *err, size_t errlen)
{
    struct cr_tls_ctx_options raft_srv = {
        .is_server = true,
        .require_peer_cert = true,
        .tls13_only = true,
        .verify = node_trust_peer,
        .verify_arg = node,
    };
    struct cr_tls_ctx_options raft_cli = raft_srv;
    struct cr_tls_ctx_options http = {.is_server = true};
    struct cr_error cerr;
    unsigned char *der = NULL;
    size_t der_len = 0;

    memset(id, 0, sizeof *id);
    id->cert_pem = cert_pem;
    id->cert_len = cert_len;
    id->key_pem = key_pem;
    id->key_len = key_len;
    raft_cli.is_server = false;
    id->x509 = cr_x509_from_pem(cert_pem, cert_len, &cerr);
    if (id->x509 == NULL) {
        snprintf(err, errlen, "%s: %s", CR_FILE_CLUSTER_CERT, cerr.msg);
        goto fail;
    }
    if (cr_x509_to_der(id->x509, &der, &der_len) != CR_OK) {
        snprintf(err, errlen, "cannot encode the cluster certificate");
        goto fail;
    }
    cr_thumbprint(der, der_len, id->thumbprint);
    {
        struct cr_cert_info info;
        if (cr_cert_info_from_der(der, der_len, &info, NULL) == CR_OK) {
            memcpy(id->pin, info.pin, sizeof id->pin);
            cr_cert_info_free(&info);
        }
    }
    free(der);
    id->pkey = cr_key_from_pem(key_pem, key_len, NULL, &cerr);
    if (id->pkey == NULL) {
        snprintf(err, errlen, "%s: %s", CR_FILE_CLUSTER_KEY, cerr.msg);
        goto fail;
    }
    id->raft_server = cr_tls_ctx_new(cert_pem, cert_len, key_pem, key_len,
                                     &raft_srv, err, errlen);
    id->raft_client = id->raft_server
                          ? cr_tls_ctx_new(cert_pem, cert_len, key_pem,
                                           key_len, &raft_cli, err, errlen)
                          : NULL;
    id->http = id->raft_client ? cr_tls_ctx_new(cert_pem, cert_len, key_pem,
                                                key_len, &http, err, errlen)
                               : NULL;
    if (id->http == NULL) {
        goto fail;
    }
    return 0;
fail:
    identity_free(id);
    return -1;
}

/* Move @id into the node; the previous identity is released (TLS sessions
 * in progress keep their own references to the old contexts). */
static void identity_adopt(struct cr_node *node, struct node_identity *id)
{
    struct node_identity old = {
        node->cert_pem,      node->key_pem,         node->cert_pem_len,
        node->key_pem_len,   node->cluster_x509,    node->cluster_pkey,
        "",                  "",
        node->raft_server_ctx, node->raft_client_ctx,
        node->http_ctx,
    };
    node->cert_pem = id->cert_pem;
    node->cert_pem_len = id->cert_len;
    node->key_pem = id->key_pem;
    node->key_pem_len = id->key_len;
    node->cluster_x509 = id->x509;
    node->cluster_pkey = id->pkey;
    memcpy(node->cert_thumbprint, id->thumbprint, sizeof id->thumbprint);
    memcpy(node->cert_pin, id->pin, sizeof id->pin);
    node->raft_server_ctx = id->raft_server;
    node->raft_client_ctx = id->raft_client;
    node->http_ctx = id->http;
    memset(id, 0, sizeof *id);
    identity_free(&old);
}

static int node_load_certificate(struct cr_node *node, char *err,
                                 size_t errlen)
{
    char path[600];
    struct node_identity id;
    char *cert, *key;
    size_t cert_len, key_len;

    cr_path_join(path, sizeof path, node->config.data_dir,
                 CR_FILE_CLUSTER_CERT);
    cert = cr_file_read(path, &cert_len, err, errlen);
    if (cert == NULL) {
        return -1;
    }
    cr_path_join(path, sizeof path, node->config.data_dir,
                 CR_FILE_CLUSTER_KEY);
    key = cr_file_read(path, &key_len, err, errlen);
    if (key == NULL) {
        free(cert);
        return -1;
    }
    if (identity_build(node, &id, cert, cert_len, key, key_len, err,
                       errlen) != 0) {
        return -1;
    }
    identity_adopt(node, &id);
    return 0;
}

int cr_node_switch_certificate(struct cr_node *node, char *cert_pem,
                               char *key_pem, char *err, size_t errlen)
{
    struct node_identity id;

    if (identity_build(node, &id, cert_pem, strlen(cert_pem), key_pem,
                       strlen(key_pem), err, errlen) != 0) {
        return -1;
    }
    identity_adopt(node, &id);
    /* New connections, both raft and HTTPS, present the new certificate;
     * established ones finish on the old, which stays trusted until the
     * replacement is cleaned up. */
    cr_tls_transport_set_ctx(&node->transport, node->raft_client_ctx,
                             node->raft_server_ctx);
    if (!node->bootstrap_only) {
        cr_http_server_set_ctx(&node->http, node->http_ctx);
    }
    return 0;
}

static void node_bootstrap_cb(struct raft_apply *req, int status,
                              void *result)
{
    struct cr_node *node = req->data;
    const struct cr_apply_result *res = cr_fsm_result(&node->fsm, req->index);
    char path[600];

    (void)result;
    free(req);
    if (status != 0 || res == NULL || res->status != CR_OK) {
        fprintf(stderr, "certnode: bootstrap entry failed: %s\n",
                status != 0 ? raft_strerror(status)
                            : (res ? res->message : "no result"));
        node->bootstrap_proposed = false; /* try again on the next tick */
        return;
    }
    cr_path_join(path, sizeof path, node->config.data_dir, CR_FILE_BOOTSTRAP);
    unlink(path);
    /* `certnode init` stops on its next tick: closing raft from inside
     * its own apply callback trips libuv assertions in raft's writer. */
}

/* The first leader of a new cluster proposes the BOOTSTRAP command that
 * `certnode init` left in the data directory (public certificates only). */
static void node_maybe_bootstrap(struct cr_node *node)
{
    char path[600], err[256];
    struct raft_buffer buf;
    struct raft_apply *req;
    char *data;
    size_t len;

    if (node->bootstrap_proposed || !cr_node_is_leader(node)) {
        return;
    }
    cr_path_join(path, sizeof path, node->config.data_dir, CR_FILE_BOOTSTRAP);
    if (!cr_file_exists(path)) {
        return;
    }
    if (cr_state_bootstrapped(node->fsm.state)) {
        unlink(path);
        return;
    }
    data = cr_file_read(path, &len, err, sizeof err);
    if (data == NULL) {
        fprintf(stderr, "certnode: %s\n", err);
        return;
    }
    req = calloc(1, sizeof *req);
    if (req == NULL || cr_fsm_frame(data, len, &buf) != 0) {
        free(req);
        free(data);
        return;
    }
    free(data);
    req->data = node;
    if (raft_apply(&node->raft, req, &buf, 1, node_bootstrap_cb) != 0) {
        raft_free(buf.base);
        free(req);
        return;
    }
    node->bootstrap_proposed = true;
}

#define SNAPSHOT_SPACING_MAX 131072 /* entries between snapshots */

static void node_tick_cb(uv_timer_t *timer)
{
    struct cr_node *node = timer->data;
    if (node->stopping) {
        return;
    }
    if (node->bootstrap_only && cr_state_bootstrapped(node->fsm.state)) {
        cr_node_stop(node, 0);
        return;
    }
    node_maybe_bootstrap(node);
    if (node->joining && !node->join_announced) {
        cr_join_announce(node);
    }
    cr_rotation_tick(node);
    cr_node_serving(node, NULL);
    {
        /* A snapshot encodes, compresses and writes the whole registry:
         * a few us of CPU per certificate (in a forked child at a lower
         * priority; the loop pays the fork, raft's pool the write). A restart replays the
         * entries since the last one, ~30 us each. Spacing snapshots by
         * half the registry keeps their cost per write small and
         * constant; capping the spacing at 128k entries bounds a
         * restart's replay to ~4 s past 256k certificates, where
         * snapshots then cost more per write (bench/README.md, scale). */
        size_t part = cr_state_cert_count(node->fsm.state) / 2;
        unsigned threshold = node->config.snapshot_threshold;
        if (part > SNAPSHOT_SPACING_MAX) {
            part = SNAPSHOT_SPACING_MAX;
        }
        if (part > threshold) {
            threshold = (unsigned)part;
        }
        raft_set_snapshot_threshold(&node->raft, threshold);
    }
    cr_etl_tick(node);
}

static void node_signal_cb(uv_signal_t *sig, int signum)
{
    struct cr_node *node = sig->data;
    (void)signum;
    cr_node_stop(node, 0);
}

static void node_entry_applied(struct cr_fsm *fsm, uint64_t index,
                               const struct cr_apply_result *res)
{
    struct cr_node *node = fsm->data;
    cr_proposals_applied(&node->proposals, index, res);
}

static int node_start_raft(struct cr_node *node, bool bootstrap, char *err,
                           size_t errlen)
{
    char dir[600], address[512];
    int rv;

    cr_path_join(dir, sizeof dir, node->config.data_dir, CR_DIR_RAFT);
    if (cr_dir_create_private(dir, err, errlen) != 0) {
        return -1;
    }
    rv = cr_tls_transport_init(&node->transport, node->loop,
                               node->raft_client_ctx, node->raft_server_ctx);
    if (rv != 0) {
        snprintf(err, errlen, "raft transport: %s", raft_strerror(rv));
        return -1;
    }
    rv = raft_uv_init(&node->io, node->loop, dir, &node->transport);
    if (rv != 0) {
        snprintf(err, errlen, "raft storage in %s: %s", dir,
                 node->io.errmsg);
        return -1;
    }
    cr_async_work_enable(&node->io, node->loop);
    cr_io_close_once(&node->io);
    if (cr_fsm_init(&node->fsm) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    node->fsm.data = node;
    cr_node_config_raft_address(&node->config, address, sizeof address);
    rv = raft_init(&node->raft, &node->io, &node->fsm.raft_fsm,
                   node->config.id, address);
    if (rv != 0) {
        snprintf(err, errlen, "raft: %s", raft_errmsg(&node->raft));
        return -1;
    }
    node->fsm.raft = &node->raft;
    node->fsm.applied_cb = node_entry_applied;
    rv = cr_proposals_init(&node->proposals, node->loop, &node->raft);
    if (rv != 0) {
        snprintf(err, errlen, "proposal queue: %s", uv_strerror(rv));
        return -1;
    }
    rv = cr_loop_watch_start(&node->loop_watch, node->loop);
    if (rv != 0) {
        snprintf(err, errlen, "loop watch: %s", uv_strerror(rv));
        return -1;
    }
    raft_set_election_timeout(&node->raft, node->config.election_timeout_ms);
    raft_set_heartbeat_timeout(&node->raft, node->config.heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&node->raft, node->config.snapshot_threshold);
    raft_set_snapshot_trailing(&node->raft, node->config.snapshot_trailing);
    raft_set_pre_vote(&node->raft, true);

    if (bootstrap) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        rv = raft_configuration_add(&conf, node->config.id, address,
                                    RAFT_VOTER);
        if (rv == 0) {
            rv = raft_bootstrap(&node->raft, &conf);
        }
        raft_configuration_close(&conf);
        if (rv != 0) {
            snprintf(err, errlen, "raft bootstrap: %s",
                     raft_errmsg(&node->raft));
            return -1;
        }
    }
    node->fsm.starting = true;
    rv = raft_start(&node->raft);
    node->fsm.starting = false;
    /* A node that just started has a grace period to find its leader,
     * and serves once it has caught up with what the leader committed. */
    node->last_contact = node->io.time(&node->io);
    node->catchup.latched = true;
    if (rv != 0) {
        snprintf(err, errlen, "raft start: %s", raft_errmsg(&node->raft));
        return -1;
    }
    return 0;
}

static int node_start_http(struct cr_node *node, char *err, size_t errlen)
{
    struct cr_http_limits limits;
    char host[128];
    int port, rv;

    cr_http_limits_default(&limits);
    limits.max_body_bytes = node->config.max_body_bytes;
    limits.max_connections = node->config.max_connections;
    limits.idle_timeout_ms = node->config.idle_timeout_ms;
    rv = cr_http_server_init(&node->http, node->loop, node->http_ctx, &limits,
                             cr_api_handle);
    if (rv != 0) {
        snprintf(err, errlen, "http: %s", uv_strerror(rv));
        return -1;
    }
    node->http.data = node;
    if (cr_raft_address_parse(node->config.api_address, host, sizeof host,
                              &port) != 0) {
        snprintf(err, errlen, "invalid API address '%s' (want host:port)",
                 node->config.api_address);
        return -1;
    }
    rv = cr_http_server_listen(&node->http, host, port);
    if (rv != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s",
                 node->config.api_address, uv_strerror(rv));
        return -1;
    }
    return 0;
}

int cr_node_start(struct cr_node *node, uv_loop_t *loop,
                  const struct cr_node_config *config, bool bootstrap,
                  char *err, size_t errlen)
{
    node->config = *config;
    if (node->config.stale_after_ms == 0) {
        node->config.stale_after_ms = 3 * node->config.election_timeout_ms;
    }
    node->loop = loop;
    cr_fsm_tune_malloc();
    if (node_load_certificate(node, err, errlen) != 0) {
        return -1;
    }
    node->curl_pool = cr_curl_pool_new(node);
    if (node->curl_pool == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (node_start_raft(node, bootstrap, err, errlen) != 0) {
        return -1;
    }
    if (!node->bootstrap_only && node_start_http(node, err, errlen) != 0) {
        return -1;
    }
    uv_timer_init(loop, &node->tick);
    node->tick.data = node;
    uv_timer_start(&node->tick, node_tick_cb, 50, 100);
    uv_signal_init(loop, &node->sigterm);
    uv_signal_init(loop, &node->sigint);
    node->sigterm.data = node;
    node->sigint.data = node;
    uv_signal_start(&node->sigterm, node_signal_cb, SIGTERM);
    uv_signal_start(&node->sigint, node_signal_cb, SIGINT);
    return 0;
}

static void node_close_done(struct cr_node *node)
{
    if (--node->pending_closes == 0) {
        /* Everything is closed; the loop ends by itself. */
    }
}

static void node_handle_closed(uv_handle_t *handle)
{
    node_close_done(handle->data);
}

static void node_raft_closed(struct raft *raft)
{
    struct cr_node *node = raft->data;
    node_close_done(node);
}

static void node_http_closed(struct cr_http_server *srv)
{
    node_close_done(srv->data);
}

void cr_node_stop(struct cr_node *node, int exit_code)
{
    if (node->stopping) {
        return;
    }
    node->stopping = true;
    node->exit_code = exit_code;
    node->pending_closes = 4;
    uv_close((uv_handle_t *)&node->tick, node_handle_closed);
    uv_close((uv_handle_t *)&node->sigterm, node_handle_closed);
    uv_close((uv_handle_t *)&node->sigint, node_handle_closed);
    node->pending_closes += 3;
    cr_proposals_close(&node->proposals, node_handle_closed, node);
    cr_loop_watch_close(&node->loop_watch, node_handle_closed, node);
    cr_async_work_cancel(&node->io);
    cr_fsm_snapshot_abort(&node->fsm);
    node->raft.data = node;
    raft_close(&node->raft, node_raft_closed);
    if (!node->bootstrap_only) {
        node->pending_closes++;
        cr_http_server_close(&node->http, node_http_closed);
    }
}

void cr_node_free(struct cr_node *node)
{
    raft_uv_close(&node->io);
    cr_tls_transport_close(&node->transport);
    cr_fsm_close(&node->fsm);
    cr_curl_pool_free(node->curl_pool);
    {
        struct node_identity none = {0};
        identity_adopt(node, &none); /* releases the current identity */
    }
    free(node->bootstrap_file);
    free(node->join_cert_pem);
    if (node->join_key_pem != NULL) {
        OPENSSL_cleanse(node->join_key_pem, strlen(node->join_key_pem));
    }
    free(node->join_key_pem);
    free(node->join_ca_pem);
}
