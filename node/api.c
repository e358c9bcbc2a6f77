/*
 * api.c - routing and authentication for every HTTPS request, and the
 * shared plumbing handlers use to answer, propose and forward.
 *
 * Order for each request: find the route (404/405), authenticate the
 * client certificate against the local registry (401/403), check the
 * route's minimum clearance (403), then either run the handler here or
 * forward to the leader: writes always run on the leader (apply() decides
 * for real), reads run locally unless ?consistency=linearizable.
 *
 * A request forwarded by another node carries the original caller's
 * certificate in a header; it is believed only when the connection itself
 * is authenticated as a cluster node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/json_cut.h>
#include <certraft/x509.h>

#include "api.h"
#include "background.h"
#include "forward.h"

/* A '*' in a path matches one percent-decoded segment (a database name),
 * which handlers read from call->path_param. */
static const struct cr_route routes[] = {
    {"GET", "/certificates/whoami", CR_CLEARANCE_NONE, 0, cr_api_whoami,
     "whoami"},
    {"GET", "/admin/certificates", CR_CLEARANCE_OPERATOR, 0,
     cr_api_certs_list, "certs_list"},
    {"PUT", "/admin/certificates", CR_CLEARANCE_OPERATOR, CR_ROUTE_WRITE,
     cr_api_certs_put, "certs_put"},
    {"POST", "/admin/certificates", CR_CLEARANCE_OPERATOR, CR_ROUTE_WRITE,
     cr_api_certs_generate, "certs_generate"},
    {"DELETE", "/admin/certificates", CR_CLEARANCE_OPERATOR, CR_ROUTE_WRITE,
     cr_api_certs_delete, "certs_delete"},
    {"POST", "/admin/certificates/edit", CR_CLEARANCE_OPERATOR,
     CR_ROUTE_WRITE, cr_api_certs_edit, "certs_edit"},
    {"GET", "/admin/certificates/export", CR_CLEARANCE_OPERATOR, 0,
     cr_api_certs_export, "certs_export"},
    {"DELETE", "/admin/certificates/purge", CR_CLEARANCE_OPERATOR,
     CR_ROUTE_WRITE, cr_api_certs_purge, "certs_purge"},
    {"POST", "/admin/certificates/replace-cluster-cert",
     CR_CLEARANCE_CLUSTER_ADMIN, CR_ROUTE_WRITE, cr_api_replace_cluster_cert,
     "replace_cluster_cert"},
    {"POST", "/admin/certificates/renew-cluster-cert",
     CR_CLEARANCE_CLUSTER_ADMIN, CR_ROUTE_WRITE, cr_api_renew_cluster_cert,
     "renew_cluster_cert"},
    {"GET", "/admin/certificates/replacement/status", CR_CLEARANCE_OPERATOR,
     0, cr_api_replacement_status, "replacement_status"},
    {"POST", "/cluster/replacement", CR_CLEARANCE_CLUSTER_NODE,
     CR_ROUTE_WRITE, cr_api_replacement_step, "replacement_step"},
    {"PUT", "/admin/databases", CR_CLEARANCE_OPERATOR, CR_ROUTE_WRITE,
     cr_api_db_put, "db_put"},
    {"DELETE", "/admin/databases", CR_CLEARANCE_OPERATOR, CR_ROUTE_WRITE,
     cr_api_db_delete, "db_delete"},
    {"GET", "/databases", CR_CLEARANCE_NONE, 0, cr_api_db_list, "db_list"},
    {"GET", "/databases/*/docs", CR_CLEARANCE_NONE, 0, cr_api_docs_get,
     "docs_get"},
    {"PUT", "/databases/*/docs", CR_CLEARANCE_NONE, CR_ROUTE_WRITE,
     cr_api_docs_put, "docs_put"},
    {"DELETE", "/databases/*/docs", CR_CLEARANCE_NONE, CR_ROUTE_WRITE,
     cr_api_docs_delete, "docs_delete"},
    /* ETL tasks (etl.h): db Admin, checked by the handlers; status runs
     * on the leader, which runs the tasks. */
    {"GET", "/databases/*/admin/etl", CR_CLEARANCE_NONE, 0, cr_api_etl_get,
     "etl_get"},
    {"PUT", "/databases/*/admin/etl", CR_CLEARANCE_NONE, CR_ROUTE_WRITE,
     cr_api_etl_put, "etl_put"},
    {"DELETE", "/databases/*/admin/etl", CR_CLEARANCE_NONE, CR_ROUTE_WRITE,
     cr_api_etl_delete, "etl_delete"},
    {"POST", "/databases/*/admin/etl/test", CR_CLEARANCE_NONE, 0,
     cr_api_etl_test, "etl_test"},
    {"GET", "/databases/*/admin/etl/status", CR_CLEARANCE_NONE,
     CR_ROUTE_LEADER, cr_api_etl_status, "etl_status"},
    {"GET", "/admin/client-ca", CR_CLEARANCE_CLUSTER_ADMIN, 0,
     cr_api_client_ca_get, "client_ca_get"},
    {"PUT", "/admin/client-ca", CR_CLEARANCE_CLUSTER_ADMIN, CR_ROUTE_WRITE,
     cr_api_client_ca_put, "client_ca_put"},
    {"PATCH", "/admin/client-ca", CR_CLEARANCE_CLUSTER_ADMIN, CR_ROUTE_WRITE,
     cr_api_client_ca_patch, "client_ca_patch"},
    {"DELETE", "/admin/client-ca", CR_CLEARANCE_CLUSTER_ADMIN,
     CR_ROUTE_WRITE, cr_api_client_ca_delete, "client_ca_delete"},
    {"GET", "/admin/audit", CR_CLEARANCE_CLUSTER_ADMIN, 0, cr_api_audit,
     "audit"},
    {"GET", "/metrics", CR_CLEARANCE_NONE, 0, cr_api_metrics, "metrics"},
    {"GET", "/cluster/topology", CR_CLEARANCE_NONE, 0,
     cr_api_cluster_topology, "topology"},
    {"PUT", "/admin/cluster/node", CR_CLEARANCE_CLUSTER_ADMIN,
     CR_ROUTE_WRITE, cr_api_cluster_node_put, "node_put"},
    {"DELETE", "/admin/cluster/node", CR_CLEARANCE_CLUSTER_ADMIN,
     CR_ROUTE_WRITE, cr_api_cluster_node_delete, "node_delete"},
    {"POST", "/admin/cluster/transfer-leadership",
     CR_CLEARANCE_CLUSTER_ADMIN, CR_ROUTE_LEADER, cr_api_cluster_transfer,
     "transfer"},
    {"POST", "/cluster/implicit-trust", CR_CLEARANCE_NONE, CR_ROUTE_LEADER,
     cr_api_implicit_trust, "implicit_trust"},
    {"GET", "/cluster/join", CR_CLEARANCE_NONE, CR_ROUTE_JOINING,
     cr_api_join_fetch, "join_fetch"},
    {"POST", "/cluster/join", CR_CLEARANCE_NONE,
     CR_ROUTE_JOINING | CR_ROUTE_LEADER, cr_api_join_ready, "join_ready"},
};

_Static_assert(sizeof routes / sizeof routes[0] <= CR_METRICS_MAX_ROUTES,
               "raise CR_METRICS_MAX_ROUTES");

size_t cr_api_route_count(void)
{
    return sizeof routes / sizeof routes[0];
}

const struct cr_route *cr_api_route(size_t i)
{
    return &routes[i];
}

static void call_free(struct cr_api_call *call)
{
    if (call->ctx_free != NULL) {
        call->ctx_free(call->ctx);
    }
    free(call->caller_der);
    free(call);
}

/* Count the answer under its route (the last slot: no route matched). */
static void count_reply(struct cr_api_call *call, int status)
{
    size_t r = call->route != NULL ? (size_t)(call->route - routes)
                                   : CR_METRICS_MAX_ROUTES;
    struct cr_route_metrics *m = &call->node->route_metrics[r];

    for (int i = 0; i < CR_METRICS_STATUS_SLOTS; i++) {
        if (m->status[i] == status || m->status[i] == 0) {
            m->status[i] = status;
            m->count[i]++;
            return;
        }
    }
}

void cr_api_reply_raw(struct cr_api_call *call, int status,
                      const char *content_type, const char *extra_headers,
                      const void *body, size_t len)
{
    count_reply(call, status);
    cr_http_respond(call->req, status, content_type, extra_headers, body,
                    len);
    call_free(call);
}

void cr_api_reply_json(struct cr_api_call *call, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        cr_api_reply_raw(call, 500, "application/json", NULL,
                         "{\"Error\":\"out of memory\",\"Type\":\"Internal\"}",
                         44);
        return;
    }
    cr_api_reply_raw(call, status, "application/json", NULL, text,
                     strlen(text));
    free(text);
}

void cr_api_reply_error(struct cr_api_call *call, enum cr_status status,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_api_reply_json(call, cr_status_http(status),
                      json_pack("{s:s, s:s}", "Error", msg, "Type",
                                cr_status_type(status)));
}

json_t *cr_api_body_json(struct cr_api_call *call)
{
    json_error_t jerr;
    json_t *root;

    if (call->req->body_len == 0) {
        cr_api_reply_error(call, CR_EINVAL,
                           "the request needs a JSON body");
        return NULL;
    }
    root = json_loadb(call->req->body, call->req->body_len, 0, &jerr);
    if (root == NULL) {
        cr_api_reply_error(call, CR_EINVAL,
                           "the body is not valid JSON: %s (line %d)",
                           jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        cr_api_reply_error(call, CR_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

json_t *cr_api_body_json_cut(struct cr_api_call *call, const char *key,
                             const char **value, size_t *len)
{
    const char *body = call->req->body;
    size_t n = call->req->body_len, start, end;
    json_t *root = NULL, *cut;
    char *rest;

    if (cr_json_cut_member(body, n, key, &start, &end) &&
        (rest = malloc(n - (end - start))) != NULL) {
        memcpy(rest, body, start);
        memcpy(rest + start, body + end, n - end);
        root = json_loadb(rest, n - (end - start), 0, NULL);
        free(rest);
        cut = json_object_get(root, key);
        /* jansson must have seen the cut value where the scanner did. */
        if (json_is_object(root) && json_is_string(cut) &&
            json_string_length(cut) == 0) {
            *value = body + start;
            *len = end - start;
            return root;
        }
        json_decref(root);
    }
    root = cr_api_body_json(call);
    cut = json_object_get(root, key);
    *value = json_string_value(cut);
    *len = json_is_string(cut) ? json_string_length(cut) : 0;
    return root;
}

void cr_api_command_init(struct cr_api_call *call, struct cr_command *cmd,
                         enum cr_command_type type)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->type = type;
    snprintf(cmd->caller, sizeof cmd->caller, "%s", call->id.thumbprint);
    cmd->time_ms = cr_now_ms();
}

static void proposal_cb(void *data, int status, uint64_t index,
                        const struct cr_apply_result *res)
{
    struct cr_api_call *call = data;

    if (status != 0 && index == 0) {
        /* Refused before it reached the log: nothing changed. */
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "this node cannot accept writes now (%s); "
                           "nothing was changed, retry",
                           raft_strerror(status));
        return;
    }
    if (status != 0) {
        /* The entry may or may not commit later: say so, the client
         * decides whether to retry (uploads and deletes are idempotent). */
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "leadership was lost before the change was "
                           "committed (%s); its outcome is unknown, retry",
                           raft_strerror(status));
        return;
    }
    call->index = index;
    call->done(call, res);
}

static void unsafe_apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)status;
    (void)result;
    free(req);
}

/* Test-only fault (--unsafe-ack-before-commit): acknowledge as soon as the
 * entry is appended locally, before a quorum has it. The failure-testing
 * harness must catch the writes this loses. */
static void propose_unsafely(struct cr_api_call *call, struct raft_buffer *buf,
                             cr_api_done_cb done)
{
    struct raft_apply *req = calloc(1, sizeof *req);
    struct cr_apply_result ok = {.status = CR_OK};

    if (req == NULL ||
        raft_apply(&call->node->raft, req, buf, 1, unsafe_apply_cb) != 0) {
        free(req);
        raft_free(buf->base);
        cr_api_reply_error(call, CR_EUNAVAILABLE, "not the leader; retry");
        return;
    }
    done(call, &ok);
}

void cr_api_propose(struct cr_api_call *call, const struct cr_command *cmd,
                    cr_api_done_cb done)
{
    struct cr_buf out = {0};
    struct cr_error err;
    struct raft_buffer buf;
    int rv;

    struct cr_command with_der = *cmd;
    /* A caller not registered by thumbprint (implicit trust, client CA)
     * is re-authenticated by apply() from its certificate. */
    if ((call->id.kind == CR_IDENTITY_IMPLICIT ||
         call->id.kind == CR_IDENTITY_CLIENT_CA) &&
        with_der.caller_der.der == NULL) {
        with_der.caller_der.der = call->caller_der;
        with_der.caller_der.len = call->caller_der_len;
    }
    if (cr_command_encode(&with_der, &out, &err) != CR_OK) {
        cr_buf_free(&out);
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return;
    }
    if (cr_fsm_frame(out.data, out.len, &buf) != 0) {
        cr_buf_free(&out);
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    cr_buf_free(&out);
    if (call->node->config.unsafe_ack_before_commit) {
        propose_unsafely(call, &buf, done);
        return;
    }
    call->done = done;
    rv = cr_proposals_submit(&call->node->proposals, buf, proposal_cb, call);
    if (rv != 0) {
        raft_free(buf.base);
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "this node cannot accept writes now (%s); retry",
                           raft_strerror(rv));
    }
}

/* Does @path match @pattern, where '*' stands for one segment? The
 * segment is copied to @param. */
static bool path_matches(const char *pattern, const char *path, char *param,
                         size_t paramlen)
{
    while (*pattern != '\0') {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= paramlen) {
                return false;
            }
            memcpy(param, path, n);
            param[n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path) {
            return false;
        }
        pattern++;
        path++;
    }
    return *path == '\0';
}

static const struct cr_route *route_find(const char *method, const char *path,
                                         bool *path_known, char *param,
                                         size_t paramlen)
{
    *path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (path_matches(routes[i].path, path, param, paramlen)) {
            *path_known = true;
            if (strcmp(routes[i].method, method) == 0) {
                return &routes[i];
            }
        }
    }
    return NULL;
}

/* The caller's certificate: the TLS peer's, or, for a request forwarded by
 * a cluster node, the original caller's from the header. */
static bool call_set_caller(struct cr_api_call *call)
{
    const struct cr_http_request *req = call->req;
    const char *fwd = cr_http_request_header(req, CR_HEADER_FORWARDED_CERT);
    const unsigned char *der = req->peer_der;
    size_t len = req->peer_der_len;

    if (fwd != NULL && der != NULL) {
        char thumb[CR_THUMBPRINT_LEN + 1];
        unsigned char *orig = NULL;
        size_t orig_len = 0;

        cr_thumbprint(der, len, thumb);
        if (strcmp(thumb, call->node->cert_thumbprint) != 0 &&
            !cr_state_is_cluster_node(call->node->fsm.state, thumb)) {
            cr_api_reply_error(call, CR_EFORBIDDEN,
                               "only cluster nodes may forward requests");
            return false;
        }
        if (cr_base64_decode(fwd, strlen(fwd), &orig, &orig_len, NULL) !=
            CR_OK) {
            cr_api_reply_error(call, CR_EINVAL,
                               "malformed %s header", CR_HEADER_FORWARDED_CERT);
            return false;
        }
        call->caller_der = orig;
        call->caller_der_len = orig_len;
        call->forwarded = true;
        return true;
    }
    if (der != NULL) {
        call->caller_der = malloc(len);
        if (call->caller_der == NULL) {
            cr_api_reply_error(call, CR_ENOMEM, "out of memory");
            return false;
        }
        memcpy(call->caller_der, der, len);
        call->caller_der_len = len;
    }
    return true;
}

static bool query_is(const struct cr_http_request *req, const char *name,
                     const char *value)
{
    char buf[64];
    return cr_http_query_get(req, name, buf, sizeof buf) >= 0 &&
           strcmp(buf, value) == 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct cr_api_call *call = req->data;
    if (status != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "linearizable read failed: %s; retry",
                           raft_strerror(status));
        return;
    }
    /* Everything committed before the barrier is applied: a read now sees
     * every write acknowledged before the request arrived. Authenticate
     * again, since the caller may have been deleted meanwhile. */
    struct cr_error err;
    if (cr_auth_authenticate(call->node->fsm.state, call->caller_der,
                             call->caller_der_len, cr_now_ms(), &call->id,
                             &err) != CR_OK) {
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return;
    }
    call->route->handler(call);
}

void cr_api_handle(struct cr_http_request *req)
{
    struct cr_node *node = req->server->data;
    struct cr_api_call *call = calloc(1, sizeof *call);
    const struct cr_route *route;
    struct cr_error err;
    bool path_known, on_leader, linearizable;
    char leader[256];

    node->requests_total++;
    if (call == NULL) {
        cr_http_respond(req, 500, "application/json", NULL,
                        "{\"Error\":\"out of memory\",\"Type\":\"Internal\"}",
                        44);
        return;
    }
    call->node = node;
    call->req = req;
    call->started_ms = cr_now_ms();
    req->data = call;

    route = route_find(req->method, req->path, &path_known, call->path_param,
                       sizeof call->path_param);
    if (route == NULL) {
        if (path_known) {
            cr_api_reply_error(call, CR_EINVAL,
                               "method %s is not allowed on %s", req->method,
                               req->path);
        } else {
            cr_api_reply_json(
                call, 404,
                json_pack("{s:s, s:s}", "Error", "no such endpoint", "Type",
                          "NotFound"));
        }
        return;
    }
    call->route = route;
    if (!call_set_caller(call)) {
        return;
    }
    /* Revocation must hold under partitions: a node cut off from the
     * majority may not have seen a deletion, so it serves nobody. The
     * topology stays readable so operators can see why. */
    {
        uint64_t age;
        if (!cr_node_serving(node, &age) &&
            route->handler != cr_api_cluster_topology) {
            if (age > node->config.stale_after_ms) {
                cr_api_reply_error(
                    call, CR_EUNAVAILABLE,
                    "node %llu has had no contact with a majority of the "
                    "cluster for %llu ms, so its registry may be stale; it "
                    "refuses requests until it rejoins (use another node)",
                    (unsigned long long)node->config.id,
                    (unsigned long long)age);
            } else {
                cr_api_reply_error(
                    call, CR_EUNAVAILABLE,
                    "node %llu is catching up with the cluster's log and "
                    "refuses requests until it has applied every committed "
                    "change (use another node, or retry shortly)",
                    (unsigned long long)node->config.id);
            }
            return;
        }
    }

    on_leader = cr_node_is_leader(node);
    linearizable = query_is(req, "consistency", "linearizable");
    cr_node_leader_url(node, leader, sizeof leader);

    /* A write that reaches a follower goes to the leader, which
     * authenticates against its (newest) registry; refusing here first
     * would wrongly reject a certificate registered a moment ago. */
    if (((route->flags & (CR_ROUTE_WRITE | CR_ROUTE_LEADER)) ||
         linearizable) &&
        !on_leader) {
        if (call->caller_der == NULL) {
            cr_api_reply_error(call, CR_EUNAUTH,
                               "no client certificate was presented; connect "
                               "with a certificate registered in this "
                               "cluster");
            return;
        }
        if (leader[0] == '\0') {
            cr_api_reply_error(call, CR_EUNAVAILABLE,
                               "no leader is known right now (election in "
                               "progress or no quorum); retry");
            return;
        }
        cr_forward_call(call, leader);
        return;
    }

    if (cr_auth_authenticate(node->fsm.state, call->caller_der,
                             call->caller_der_len, cr_now_ms(), &call->id,
                             &err) != CR_OK) {
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return;
    }
    if (call->id.needs_registration &&
        route->handler != cr_api_implicit_trust) {
        /* Renewed certificate, same key and issuer: serve it now and
         * register it through the log in the background. */
        cr_background_register_implicit(node, call->caller_der,
                                        call->caller_der_len);
    }
    if (call->id.kind == CR_IDENTITY_JOINING_NODE &&
        !(route->flags & CR_ROUTE_JOINING)) {
        cr_api_reply_error(call, CR_EFORBIDDEN,
                           "a join certificate may only be used to join");
        return;
    }
    if (call->id.kind != CR_IDENTITY_JOINING_NODE &&
        route->min_clearance != CR_CLEARANCE_NONE &&
        cr_authz_require(&call->id, route->min_clearance, route->name,
                         &err) != CR_OK) {
        cr_api_reply_error(call, err.status, "%s", err.msg);
        return;
    }
    if (linearizable && !(route->flags & CR_ROUTE_WRITE)) {
        call->barrier.data = call;
        if (raft_barrier(&node->raft, &call->barrier, barrier_cb) != 0) {
            cr_api_reply_error(call, CR_EUNAVAILABLE,
                               "linearizable read failed: not the leader; "
                               "retry");
        }
        return;
    }
    route->handler(call);
}

bool cr_api_reply_if_refused(struct cr_api_call *call,
                             const struct cr_apply_result *res)
{
    if (res->status == CR_OK) {
        return false;
    }
    cr_api_reply_error(call, res->status, "%s", res->message);
    return true;
}
