/*
 * api_cluster.c - membership: topology, adding and removing nodes,
 * leadership transfer, and the two endpoints a joining node calls.
 *
 * Adding a node (one command on each side):
 *   1. `certnode join` on the new node makes a one-time join certificate
 *      and prints its thumbprint;
 *   2. `certctl cluster add-node --thumbprint ...` commits NODE_PENDING,
 *      which lets that certificate (and nothing else) call /cluster/join;
 *   3. the new node fetches the cluster certificate over mutual TLS
 *      (GET /cluster/join) - the private key is only ever sent inside TLS
 *      to the holder of the pinned join key - starts raft, and asks the
 *      leader to add it (POST /cluster/join): raft_add as a spare, then
 *      raft_assign to voter once it has caught up, then NODE_JOINED
 *      retires the join certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/tls_transport.h>
#include <certraft/x509.h>

#include "api.h"

static const char *role_name(int role)
{
    switch (role) {
    case RAFT_VOTER:
        return "Voter";
    case RAFT_STANDBY:
        return "Standby";
    default:
        return "Spare";
    }
}

static const char *state_name(int state)
{
    switch (state) {
    case RAFT_LEADER:
        return "Leader";
    case RAFT_CANDIDATE:
        return "Candidate";
    case RAFT_FOLLOWER:
        return "Follower";
    default:
        return "Unavailable";
    }
}

void cr_api_cluster_topology(struct cr_api_call *call)
{
    struct cr_node *node = call->node;
    struct raft *r = &node->raft;
    const struct cr_state *st = node->fsm.state;
    json_t *nodes = json_array();
    json_t *pending = json_array();
    raft_id leader_id;
    const char *leader_addr;
    char raft_addr[256], api_url[256], leader_url[256];

    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        cr_node_address_split(s->address, raft_addr, sizeof raft_addr,
                              api_url, sizeof api_url);
        json_array_append_new(
            nodes, json_pack("{s:I, s:s, s:s, s:s}", "Id", (json_int_t)s->id,
                             "RaftAddress", raft_addr, "ApiUrl", api_url,
                             "Role", role_name(s->role)));
    }
    for (size_t i = 0; i < cr_state_pending_node_count(st); i++) {
        const struct cr_pending_node *p = cr_state_pending_node(st, i);
        json_array_append_new(
            pending,
            json_pack("{s:I, s:s, s:s, s:s}", "Id", (json_int_t)p->id,
                      "RaftAddress", p->raft_address, "ApiUrl", p->api_url,
                      "JoinThumbprint", p->join_thumbprint));
    }
    raft_leader(r, &leader_id, &leader_addr);
    cr_node_leader_url(node, leader_url, sizeof leader_url);
    uint64_t age;
    bool serving = cr_node_serving(node, &age);
    json_t *topo;
    topo = (
        json_pack("{s:I, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
                  "NodeId",
                  (json_int_t)node->config.id, "State",
                  state_name(raft_state(r)), "Leader",
                  leader_id != 0 ? json_integer((json_int_t)leader_id)
                                 : json_null(),
                  "LeaderApiUrl",
                  leader_url[0] != '\0' ? json_string(leader_url)
                                        : json_null(),
                  "Term", (json_int_t)r->current_term, "CommitIndex",
                  (json_int_t)r->commit_index, "AppliedIndex",
                  (json_int_t)raft_last_applied(r), "SnapshotsTaken",
                  (json_int_t)node->fsm.snapshots_taken, "SnapshotsRestored",
                  (json_int_t)node->fsm.snapshots_restored,
                  "SnapshotsInstalled",
                  (json_int_t)node->fsm.snapshots_installed, "Nodes", nodes,
                  "PendingNodes", pending));
    /* Whether this node answers other requests now, and why not. */
    json_object_set_new(topo, "Serving", json_boolean(serving));
    json_object_set_new(topo, "ContactAgeMs", json_integer((json_int_t)age));
    json_object_set_new(topo, "SnapshotMaxMs",
                        json_integer((json_int_t)node->fsm.snapshot_max_ms));
    cr_api_reply_json(call, 200, topo);
}

static void node_put_done(struct cr_api_call *call,
                          const struct cr_apply_result *res)
{
    if (res->status != CR_OK) {
        cr_api_reply_error(call, res->status, "%s", res->message);
        return;
    }
    cr_api_reply_json(call, 202,
                      json_pack("{s:I, s:s}", "Id", *(json_int_t *)call->ctx,
                                "Status", "Pending"));
}

void cr_api_cluster_node_put(struct cr_api_call *call)
{
    json_t *body = cr_api_body_json(call);
    struct cr_command cmd;
    json_int_t id;
    const char *raft_addr, *api_url, *thumb;
    char host[128];
    int port;

    if (body == NULL) {
        return;
    }
    id = json_integer_value(json_object_get(body, "Id"));
    raft_addr = json_string_value(json_object_get(body, "RaftAddress"));
    api_url = json_string_value(json_object_get(body, "ApiUrl"));
    thumb = json_string_value(json_object_get(body, "JoinThumbprint"));
    if (id <= 0 || raft_addr == NULL || api_url == NULL || thumb == NULL) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "the body needs Id (a positive integer), "
                           "RaftAddress (host:port), ApiUrl "
                           "(https://host:port) and JoinThumbprint (printed "
                           "by `certnode join`)");
        return;
    }
    if (cr_raft_address_parse(raft_addr, host, sizeof host, &port) != 0 ||
        strchr(raft_addr, '|') != NULL) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "RaftAddress must be host:port");
        return;
    }
    if (strncmp(api_url, "https://", 8) != 0 || strchr(api_url, '|')) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "ApiUrl must start with https://");
        return;
    }
    if (!cr_thumbprint_valid(thumb)) {
        json_decref(body);
        cr_api_reply_error(call, CR_EINVAL,
                           "JoinThumbprint must be 64 hex digits");
        return;
    }
    for (unsigned i = 0; i < call->node->raft.configuration.n; i++) {
        if (call->node->raft.configuration.servers[i].id == (raft_id)id) {
            json_decref(body);
            cr_api_reply_error(call, CR_ECONFLICT,
                               "node %lld is already a member; remove it "
                               "first",
                               (long long)id);
            return;
        }
    }
    cr_api_command_init(call, &cmd, CR_CMD_NODE_PENDING);
    cmd.u.node.id = (uint64_t)id;
    cmd.u.node.raft_address = strdup(raft_addr);
    cmd.u.node.api_url = strdup(api_url);
    snprintf(cmd.u.node.join_thumbprint, sizeof cmd.u.node.join_thumbprint,
             "%s", thumb);
    cr_thumbprint_normalize(cmd.u.node.join_thumbprint);
    json_decref(body);
    call->ctx = malloc(sizeof(json_int_t));
    call->ctx_free = free;
    if (call->ctx == NULL || cmd.u.node.raft_address == NULL ||
        cmd.u.node.api_url == NULL) {
        cr_command_free(&cmd);
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    *(json_int_t *)call->ctx = id;
    cr_api_propose(call, &cmd, node_put_done);
    cr_command_free(&cmd);
}

static void audit_done(struct cr_api_call *call,
                       const struct cr_apply_result *res)
{
    /* The membership change already happened; the audit entry records it. */
    (void)res;
    cr_api_reply_json(call, 200,
                      json_pack("{s:I, s:s}", "Id", *(json_int_t *)call->ctx,
                                "Status", "Removed"));
}

static void node_removed_cb(struct raft_change *req, int status)
{
    struct cr_api_call *call = req->data;
    struct cr_command cmd;

    if (status != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "removing the node failed: %s; retry",
                           raft_strerror(status));
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_NODE_REMOVED);
    cmd.u.node.id = (uint64_t)*(json_int_t *)call->ctx;
    cr_api_propose(call, &cmd, audit_done);
    cr_command_free(&cmd);
}

void cr_api_cluster_node_delete(struct cr_api_call *call)
{
    char buf[32], *end;
    long long id;
    int rv;

    if (cr_http_query_get(call->req, "id", buf, sizeof buf) < 0 ||
        (id = strtoll(buf, &end, 10)) <= 0 || *end != '\0') {
        cr_api_reply_error(call, CR_EINVAL,
                           "give the node to remove as ?id=<node id>");
        return;
    }
    if ((raft_id)id == call->node->config.id) {
        cr_api_reply_error(call, CR_ECONFLICT,
                           "node %lld is the leader; move leadership first "
                           "(certctl cluster transfer-leadership) and retry",
                           id);
        return;
    }
    call->ctx = malloc(sizeof(json_int_t));
    call->ctx_free = free;
    if (call->ctx == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    *(json_int_t *)call->ctx = id;
    call->change.data = call;
    rv = raft_remove(&call->node->raft, &call->change, (raft_id)id,
                     node_removed_cb);
    if (rv == RAFT_BADID) {
        cr_api_reply_error(call, CR_ENOTFOUND, "node %lld is not a member",
                           id);
    } else if (rv != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "cannot remove node %lld now: %s; retry", id,
                           raft_strerror(rv));
    }
}

struct transfer_ctx {
    struct raft_transfer transfer;
    struct cr_api_call *call;
};

static void transfer_cb(struct raft_transfer *req)
{
    struct transfer_ctx *t = req->data;
    struct cr_api_call *call = t->call;
    raft_id id;
    const char *address;

    raft_leader(&call->node->raft, &id, &address);
    free(t);
    if (id == 0 || id == call->node->config.id) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "leadership did not move in time; retry");
        return;
    }
    cr_api_reply_json(call, 200, json_pack("{s:I}", "Leader", (json_int_t)id));
}

void cr_api_cluster_transfer(struct cr_api_call *call)
{
    struct transfer_ctx *t = calloc(1, sizeof *t);
    char buf[32], *end;
    long long id = 0;
    int rv;

    if (t == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    if (cr_http_query_get(call->req, "id", buf, sizeof buf) >= 0 &&
        ((id = strtoll(buf, &end, 10)) <= 0 || *end != '\0')) {
        free(t);
        cr_api_reply_error(call, CR_EINVAL, "id must be a node id");
        return;
    }
    t->call = call;
    t->transfer.data = t;
    rv = raft_transfer(&call->node->raft, &t->transfer, (raft_id)id,
                       transfer_cb);
    if (rv != 0) {
        free(t);
        cr_api_reply_error(call,
                           rv == RAFT_BADID || rv == RAFT_NOTFOUND
                               ? CR_EINVAL
                               : CR_EUNAVAILABLE,
                           "cannot transfer leadership: %s",
                           raft_strerror(rv));
    }
}

/* GET /cluster/join: hand the cluster certificate and key to the node that
 * holds the pinned join certificate. */
void cr_api_join_fetch(struct cr_api_call *call)
{
    struct cr_node *node = call->node;
    const struct cr_pending_node *p = call->id.pending;

    if (call->id.kind != CR_IDENTITY_JOINING_NODE || p == NULL) {
        cr_api_reply_error(call, CR_EFORBIDDEN,
                           "only a node admitted with `certctl cluster "
                           "add-node` may fetch the cluster certificate");
        return;
    }
    cr_api_reply_json(call, 200,
                      json_pack("{s:I, s:s, s:s, s:s, s:s}", "Id",
                                (json_int_t)p->id, "RaftAddress",
                                p->raft_address, "ApiUrl", p->api_url,
                                "ClusterCertificate", node->cert_pem,
                                "ClusterKey", node->key_pem));
}

struct join_ctx {
    uint64_t id;
    char address[600];
};

static void join_joined_done(struct cr_api_call *call,
                             const struct cr_apply_result *res)
{
    struct join_ctx *j = call->ctx;
    (void)res;
    cr_api_reply_json(call, 200,
                      json_pack("{s:I, s:s}", "Id", (json_int_t)j->id,
                                "Status", "Voter"));
}

static void join_assigned_cb(struct raft_change *req, int status)
{
    struct cr_api_call *call = req->data;
    struct join_ctx *j = call->ctx;
    struct cr_command cmd;

    if (status != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "promotion to voter failed: %s; retry",
                           raft_strerror(status));
        return;
    }
    /* Retire the join certificate: caller is this node itself. */
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CR_CMD_NODE_JOINED;
    snprintf(cmd.caller, sizeof cmd.caller, "%s", call->node->cert_thumbprint);
    cmd.time_ms = cr_now_ms();
    cmd.u.node.id = j->id;
    cr_api_propose(call, &cmd, join_joined_done);
}

static void join_assign(struct cr_api_call *call)
{
    struct join_ctx *j = call->ctx;
    int rv;

    call->change.data = call;
    rv = raft_assign(&call->node->raft, &call->change, j->id, RAFT_VOTER,
                     join_assigned_cb);
    if (rv == RAFT_BADROLE) { /* already a voter: a retry after success */
        join_assigned_cb(&call->change, 0);
    } else if (rv != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "cannot promote node %llu now: %s; retry",
                           (unsigned long long)j->id, raft_strerror(rv));
    }
}

static void join_added_cb(struct raft_change *req, int status)
{
    struct cr_api_call *call = req->data;
    if (status != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "adding the node failed: %s; retry",
                           raft_strerror(status));
        return;
    }
    join_assign(call);
}

/* POST /cluster/join: the new node is running; add and promote it. */
void cr_api_join_ready(struct cr_api_call *call)
{
    const struct cr_pending_node *p = call->id.pending;
    struct raft *r = &call->node->raft;
    struct join_ctx *j;
    int rv;

    if (call->id.kind != CR_IDENTITY_JOINING_NODE || p == NULL) {
        cr_api_reply_error(call, CR_EFORBIDDEN,
                           "only a node admitted with `certctl cluster "
                           "add-node` may join");
        return;
    }
    j = calloc(1, sizeof *j);
    if (j == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    j->id = p->id;
    snprintf(j->address, sizeof j->address, "%s|%s", p->raft_address,
             p->api_url);
    call->ctx = j;
    call->ctx_free = free;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == j->id) {
            join_assign(call); /* added by an earlier attempt */
            return;
        }
    }
    call->change.data = call;
    rv = raft_add(r, &call->change, j->id, j->address, join_added_cb);
    if (rv != 0) {
        cr_api_reply_error(call, CR_EUNAVAILABLE,
                           "cannot add node %llu now: %s; retry",
                           (unsigned long long)j->id, raft_strerror(rv));
    }
}
