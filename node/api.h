/*
 * api.h - the HTTPS API: routing, authentication, and the plumbing every
 * handler shares (JSON replies, proposals through raft, forwarding).
 *
 * Each request becomes one `struct cr_api_call`, freed when its response is
 * sent. Handlers run on the loop thread and may answer later.
 */
#ifndef CERTNODE_API_H
#define CERTNODE_API_H

#include <stdarg.h>
#include <stdbool.h>

#include <jansson.h>
#include <raft.h>

#include <certraft/auth.h>
#include <certraft/command.h>
#include <certraft/http_server.h>

#include "node.h"

struct cr_api_call;
typedef void (*cr_api_handler)(struct cr_api_call *call);
typedef void (*cr_api_done_cb)(struct cr_api_call *call,
                               const struct cr_apply_result *res);

enum cr_route_flags {
    CR_ROUTE_WRITE = 1 << 0,   /* changes state: runs on the leader */
    CR_ROUTE_JOINING = 1 << 1, /* open to a joining node's certificate */
    CR_ROUTE_LEADER = 1 << 2,  /* must run on the leader (not a proposal) */
};

struct cr_route {
    const char *method;
    const char *path; /* exact match */
    enum cr_clearance min_clearance;
    unsigned flags;
    cr_api_handler handler;
    const char *name; /* for metrics */
};

struct cr_api_call {
    struct cr_node *node;
    struct cr_http_request *req;
    const struct cr_route *route;
    struct cr_identity id; /* valid until the next apply */
    unsigned char *caller_der;
    size_t caller_der_len;
    bool forwarded; /* came from another node on the caller's behalf */
    char path_param[256]; /* the segment a '*' in the route matched */
    uint64_t index; /* of the proposal's entry, once applied */
    struct raft_barrier barrier;
    struct raft_change change;
    cr_api_done_cb done;
    int64_t started_ms;
    void *ctx; /* handler's own state */
    void (*ctx_free)(void *ctx);
};

void cr_api_handle(struct cr_http_request *req);

/* Replies; each ends the call. json_reply steals @body. */
void cr_api_reply_json(struct cr_api_call *call, int status, json_t *body);
void cr_api_reply_error(struct cr_api_call *call, enum cr_status status,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cr_api_reply_raw(struct cr_api_call *call, int status,
                      const char *content_type, const char *extra_headers,
                      const void *body, size_t len);

/* Fill the common fields of @cmd (caller, time) from the call. */
void cr_api_command_init(struct cr_api_call *call, struct cr_command *cmd,
                         enum cr_command_type type);
/* Encode and append @cmd to the raft log; @done runs once it is applied
 * (res->status says whether apply() allowed it). Raft errors are answered
 * with 503 by this function itself. @cmd is not freed. */
void cr_api_propose(struct cr_api_call *call, const struct cr_command *cmd,
                    cr_api_done_cb done);

/* Parse the request body as a JSON object; on failure replies 400 and
 * returns NULL. */
json_t *cr_api_body_json(struct cr_api_call *call);

/* cr_api_body_json() for a body with one long string member @key: its
 * value is not handed to jansson but returned as *@value (*@len bytes,
 * not NUL-terminated, pointing into the body or into the object); NULL
 * when absent or not a string. */
json_t *cr_api_body_json_cut(struct cr_api_call *call, const char *key,
                             const char **value, size_t *len);

/* Entry rendering shared by several handlers (api_json.c). */
json_t *cr_api_entry_json(const struct cr_state *st,
                          const struct cr_cert_entry *e);
void cr_api_time_iso(int64_t unix_seconds, char *out, size_t outlen);

/* Handlers, by area. */
void cr_api_certs_list(struct cr_api_call *call);
void cr_api_certs_put(struct cr_api_call *call);
void cr_api_certs_delete(struct cr_api_call *call);
void cr_api_whoami(struct cr_api_call *call);
void cr_api_cluster_topology(struct cr_api_call *call);
void cr_api_cluster_node_put(struct cr_api_call *call);
void cr_api_cluster_node_delete(struct cr_api_call *call);
void cr_api_cluster_transfer(struct cr_api_call *call);
void cr_api_join_fetch(struct cr_api_call *call);
void cr_api_certs_generate(struct cr_api_call *call);
void cr_api_implicit_trust(struct cr_api_call *call);
void cr_api_client_ca_get(struct cr_api_call *call);
void cr_api_replace_cluster_cert(struct cr_api_call *call);
void cr_api_renew_cluster_cert(struct cr_api_call *call);
void cr_api_replacement_status(struct cr_api_call *call);
void cr_api_replacement_step(struct cr_api_call *call);
void cr_api_client_ca_put(struct cr_api_call *call);
void cr_api_client_ca_patch(struct cr_api_call *call);
void cr_api_client_ca_delete(struct cr_api_call *call);
void cr_api_certs_edit(struct cr_api_call *call);
void cr_api_certs_export(struct cr_api_call *call);
void cr_api_certs_purge(struct cr_api_call *call);
void cr_api_db_put(struct cr_api_call *call);
void cr_api_db_delete(struct cr_api_call *call);
void cr_api_db_list(struct cr_api_call *call);
void cr_api_docs_get(struct cr_api_call *call);
void cr_api_docs_put(struct cr_api_call *call);
void cr_api_docs_delete(struct cr_api_call *call);
void cr_api_audit(struct cr_api_call *call);
void cr_api_metrics(struct cr_api_call *call);

/* The route table, for metrics. */
size_t cr_api_route_count(void);
const struct cr_route *cr_api_route(size_t i);

/* Shared parsing: {"db": "Read", ...} into a permission array. */
enum cr_status cr_api_parse_permissions(json_t *obj,
                                        struct cr_permission **out,
                                        size_t *n_out, struct cr_error *err);

/* Reply with the rejection in @res, or nothing and false when it is OK. */
bool cr_api_reply_if_refused(struct cr_api_call *call,
                             const struct cr_apply_result *res);
void cr_api_join_ready(struct cr_api_call *call);

/* Joining side: ask the leader to add this node (node/join.c). */
void cr_join_announce(struct cr_node *node);

#endif /* CERTNODE_API_H */
