/*
 * certctl_cluster.c - "certctl cluster ...": topology, adding and removing
 * nodes, moving leadership.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certctl.h"
#include "certctl_rotation.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* How often add-node asks whether the new node has become a voter. */
#define CERTCTL_JOIN_POLL_MS 500
/* Raft ids travel as JSON integers, which jansson keeps as long long. */
#define CERTCTL_MAX_NODE_ID ((uint64_t)INT64_MAX)

/* ---- cluster status ---------------------------------------------------- */

static const struct certctl_opt status_opts[] = {
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int print_topology(struct certctl_ctx *ctx, const json_t *topo)
{
    static const char *const node_headers[] = {"ID", "ROLE", "LEADER", "RAFT ADDRESS",
                                               "API URL"};
    static const char *const pending_headers[] = {"ID", "RAFT ADDRESS", "API URL",
                                                  "JOIN THUMBPRINT"};
    struct certctl_table summary, nodes, pending;
    const json_t *leader = json_object_get(topo, "Leader");
    const json_t *list, *n;
    char a[64], b[64], line[160], leader_text[64];
    size_t i;
    int rc = CERTCTL_EXIT_OK;

    certctl_table_init(&summary, 2, NULL);
    certctl_table_init(&nodes, 5, NULL);
    certctl_table_init(&pending, 4, NULL);
    if (certctl_table_add(&nodes, node_headers) != 0 ||
        certctl_table_add(&pending, pending_headers) != 0) {
        goto oom;
    }

    snprintf(line, sizeof(line), "node %s (%s)",
             certctl_json_text(json_object_get(topo, "NodeId"), a, sizeof(a)),
             certctl_json_text(json_object_get(topo, "State"), b, sizeof(b)));
    if (json_is_integer(leader)) {
        snprintf(leader_text, sizeof(leader_text), "node %" JSON_INTEGER_FORMAT,
                 json_integer_value(leader));
    } else {
        snprintf(leader_text, sizeof(leader_text), "none known");
    }
    {
        const char *rows[][2] = {
            {"Answered by:", line},
            {"Leader:", leader_text},
            {"Term:", NULL},
            {"Commit index:", NULL},
            {"Applied index:", NULL},
        };
        const char *keys[] = {NULL, NULL, "Term", "CommitIndex", "AppliedIndex"};
        char vals[5][64];

        for (i = 0; i < 5; i++) {
            if (rows[i][1] == NULL) {
                rows[i][1] = certctl_json_text(json_object_get(topo, keys[i]), vals[i],
                                               sizeof(vals[i]));
            }
            if (certctl_table_add(&summary, rows[i]) != 0) {
                goto oom;
            }
        }
    }

    list = json_object_get(topo, "Nodes");
    json_array_foreach(list, i, n)
    {
        const json_t *id = json_object_get(n, "Id");
        char cid[32], role[32], raft[256], api[256];
        const char *row[5];

        row[0] = certctl_json_text(id, cid, sizeof(cid));
        row[1] = certctl_json_text(json_object_get(n, "Role"), role, sizeof(role));
        row[2] = (json_is_integer(id) && json_is_integer(leader) &&
                  json_integer_value(id) == json_integer_value(leader))
                     ? "*"
                     : "";
        row[3] = certctl_json_text(json_object_get(n, "RaftAddress"), raft, sizeof(raft));
        row[4] = certctl_json_text(json_object_get(n, "ApiUrl"), api, sizeof(api));
        if (certctl_table_add(&nodes, row) != 0) {
            goto oom;
        }
    }

    list = json_object_get(topo, "PendingNodes");
    json_array_foreach(list, i, n)
    {
        char cid[32], raft[256], api[256], thumb[160];
        const char *row[4];

        row[0] = certctl_json_text(json_object_get(n, "Id"), cid, sizeof(cid));
        row[1] = certctl_json_text(json_object_get(n, "RaftAddress"), raft, sizeof(raft));
        row[2] = certctl_json_text(json_object_get(n, "ApiUrl"), api, sizeof(api));
        row[3] = certctl_json_text(json_object_get(n, "JoinThumbprint"), thumb,
                                   sizeof(thumb));
        if (certctl_table_add(&pending, row) != 0) {
            goto oom;
        }
    }

    certctl_table_print(&summary, ctx->out);
    fputc('\n', ctx->out);
    certctl_table_print(&nodes, ctx->out);
    if (pending.nrows > 1) {
        fputs("\nPending nodes:\n", ctx->out);
        certctl_table_print(&pending, ctx->out);
    } else {
        fputs("\nPending nodes: none\n", ctx->out);
    }
    goto out;

oom:
    rc = certctl_fail("out of memory");
out:
    certctl_table_free(&summary);
    certctl_table_free(&nodes);
    certctl_table_free(&pending);
    return rc;
}

static int cmd_status(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_reply r;
    int rc;

    (void)args;
    rc = certctl_call(ctx, "GET", "/cluster/topology", NULL, &r);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_topology(ctx, r.json);
    certctl_reply_free(&r);
    return rc;
}

/* ---- cluster add-node -------------------------------------------------- */

static const struct certctl_opt add_node_opts[] = {
    {"id", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "N", "raft id of the new node", NULL,
     NULL, NULL},
    {"raft-address", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "HOST:PORT",
     "address the new node's raft transport listens on", NULL, NULL, NULL},
    {"api-url", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "URL",
     "the new node's API URL (https://HOST:PORT)", NULL, NULL, NULL},
    {"thumbprint", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "HEX",
     "SHA-256 thumbprint (64 hex digits) of the certificate the node joins with", NULL,
     NULL, NULL},
    {"no-wait", CERTCTL_OPT_FLAG, 0, NULL, "return once the node is pending", NULL, NULL,
     NULL},
    {"wait-timeout", CERTCTL_OPT_STRING, 0, "SECONDS",
     "how long to wait for the node to become a voter", NULL, "120", NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int check_raft_address(const char *s)
{
    const char *colon = strrchr(s, ':');
    uint64_t port;

    /* HOST:PORT or [V6]:PORT; the server resolves and dials it. */
    if (colon == NULL || colon == s || strchr(s, '/') != NULL || strchr(s, ' ') != NULL) {
        return -1;
    }
    if (s[0] == '[' && colon[-1] != ']') {
        return -1;
    }
    return certctl_parse_u64(colon + 1, 1, 65535, &port);
}

/* Copies a 64-hex-digit thumbprint in upper case, as thumbprints are
 * written everywhere else in the cluster. */
static int normalise_thumbprint(const char *s, char out[65])
{
    size_t i;

    if (strlen(s) != 64) {
        return -1;
    }
    for (i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            return -1;
        }
        out[i] = (char)toupper((unsigned char)s[i]);
    }
    out[64] = '\0';
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Where node `id` stands in a topology: 1 if it is a voter, else 0 with a
 * description of what it is for the timeout message. */
static int node_is_voter(const json_t *topo, json_int_t id, char *state, size_t n)
{
    const json_t *node;
    size_t i;

    json_array_foreach(json_object_get(topo, "Nodes"), i, node)
    {
        const json_t *nid = json_object_get(node, "Id");
        const char *role = json_string_value(json_object_get(node, "Role"));

        if (!json_is_integer(nid) || json_integer_value(nid) != id) {
            continue;
        }
        if (role != NULL && strcmp(role, "Voter") == 0) {
            return 1;
        }
        certctl_scrub(state, n, role != NULL ? role : "listed without a role");
        return 0;
    }
    json_array_foreach(json_object_get(topo, "PendingNodes"), i, node)
    {
        const json_t *nid = json_object_get(node, "Id");

        if (json_is_integer(nid) && json_integer_value(nid) == id) {
            snprintf(state, n, "pending");
            return 0;
        }
    }
    snprintf(state, n, "not listed");
    return 0;
}

static int wait_for_voter(struct certctl_ctx *ctx, json_int_t id, uint64_t wait_seconds)
{
    double deadline = now_seconds() + (double)wait_seconds;
    char last[1024] = "no answer yet";

    for (;;) {
        struct certctl_reply r;
        char err[1024];
        double left;

        if (certctl_client_read(ctx->client, "/cluster/topology", &r, err, sizeof(err)) != 0) {
            /* Nodes come and go while membership changes: keep asking. */
            snprintf(last, sizeof(last), "%s", err);
        } else if (r.status >= 200 && r.status <= 299 && json_is_object(r.json)) {
            int voter = node_is_voter(r.json, id, last, sizeof(last));

            certctl_reply_free(&r);
            if (voter) {
                fprintf(ctx->g->output == CERTCTL_OUTPUT_JSON ? stderr : ctx->out,
                        "node %" JSON_INTEGER_FORMAT " joined as voter\n", id);
                return CERTCTL_EXIT_OK;
            }
        } else {
            certctl_reply_error(&r, err, sizeof(err));
            if (r.status >= 400 && r.status <= 499 && r.status != 408 && r.status != 429) {
                /* Refused, not unavailable: waiting will not help. */
                certctl_reply_free(&r);
                return certctl_fail("%s", err);
            }
            snprintf(last, sizeof(last), "%s", err);
            certctl_reply_free(&r);
        }
        left = deadline - now_seconds();
        if (left <= 0) {
            return certctl_fail("node %" JSON_INTEGER_FORMAT
                                " did not join as voter within %" PRIu64 " s (last: %s)",
                                id, wait_seconds, last);
        }
        sleep_ms(left * 1000 < CERTCTL_JOIN_POLL_MS ? (long)(left * 1000) + 1
                                                    : CERTCTL_JOIN_POLL_MS);
    }
}

static int cmd_add_node(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    const char *raft = certctl_args_get(args, "raft-address");
    const char *api = certctl_args_get(args, "api-url");
    char **urls = NULL;
    size_t nurls = 0;
    char thumb[65], err[256];
    uint64_t id = 0, wait_seconds = 0;
    struct certctl_reply r;
    json_t *body;
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "id", 1, CERTCTL_MAX_NODE_ID, &id)) != 0 ||
        (rc = certctl_opt_u64(ctx, args, "wait-timeout", 1, 86400, &wait_seconds)) != 0) {
        return rc;
    }
    if (check_raft_address(raft) != 0) {
        return certctl_usage_fail(ctx, "invalid --raft-address '%.128s' (expected HOST:PORT)",
                                  raft);
    }
    if (strchr(api, ',') != NULL ||
        certctl_urls_split(api, &urls, &nurls, err, sizeof(err)) != 0 || nurls != 1) {
        certctl_urls_free(urls, nurls);
        return certctl_usage_fail(ctx, "invalid --api-url '%.128s' (expected https://HOST:PORT)",
                                  api);
    }
    if (normalise_thumbprint(certctl_args_get(args, "thumbprint"), thumb) != 0) {
        certctl_urls_free(urls, nurls);
        return certctl_usage_fail(ctx, "invalid --thumbprint (expected 64 hex digits)");
    }

    body = json_pack("{s:I, s:s, s:s, s:s}", "Id", (json_int_t)id, "RaftAddress", raft,
                     "ApiUrl", urls[0], "JoinThumbprint", thumb);
    certctl_urls_free(urls, nurls);
    if (body == NULL) {
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "PUT", "/admin/cluster/node", body, &r);
    json_decref(body);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        char status[64];

        fprintf(ctx->out, "node %" PRIu64 ": %s\n", id,
                certctl_json_text(json_object_get(r.json, "Status"), status, sizeof(status)));
    }
    certctl_reply_free(&r);
    if (rc != 0 || certctl_args_flag(args, "no-wait")) {
        return rc;
    }
    fflush(ctx->out); /* show "pending" before a wait of up to minutes */
    return wait_for_voter(ctx, (json_int_t)id, wait_seconds);
}

/* ---- cluster remove-node ----------------------------------------------- */

static const struct certctl_opt remove_node_opts[] = {
    {"id", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "N", "raft id of the node to remove",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_remove_node(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    uint64_t id = 0;
    char idtext[32], status[64];
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "id", 1, CERTCTL_MAX_NODE_ID, &id)) != 0) {
        return rc;
    }
    snprintf(idtext, sizeof(idtext), "%" PRIu64, id);
    certctl_buf_init(&path);
    if (certctl_buf_puts(&path, "/admin/cluster/node") != 0 ||
        certctl_query_add(&path, "id", idtext) != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "DELETE", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        fprintf(ctx->out, "node %s: %s\n", idtext,
                certctl_json_text(json_object_get(r.json, "Status"), status, sizeof(status)));
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- cluster transfer-leadership --------------------------------------- */

static const struct certctl_opt transfer_opts[] = {
    {"id", CERTCTL_OPT_STRING, 0, "N", "node to hand leadership to (default: the leader picks)",
     NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static int cmd_transfer(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    uint64_t id = 0;
    char text[32];
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "id", 1, CERTCTL_MAX_NODE_ID, &id)) != 0) {
        return rc;
    }
    certctl_buf_init(&path);
    rc = certctl_buf_puts(&path, "/admin/cluster/transfer-leadership");
    if (rc == 0 && id != 0) {
        snprintf(text, sizeof(text), "%" PRIu64, id);
        rc = certctl_query_add(&path, "id", text);
    }
    if (rc != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "POST", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    if (ctx->g->output == CERTCTL_OUTPUT_JSON) {
        rc = certctl_print_json(ctx, r.json);
    } else {
        fprintf(ctx->out, "leader is now node %s\n",
                certctl_json_text(json_object_get(r.json, "Leader"), text, sizeof(text)));
    }
    certctl_reply_free(&r);
    return rc;
}

/* ---- the group's table ------------------------------------------------- */

const struct certctl_command certctl_cluster_commands[] = {
    {"status", "show nodes, roles, leader and raft progress",
     "Shows the cluster as the first reachable node sees it: every node with its\n"
     "role (Voter, Standby, Spare) and the leader marked '*', the raft term,\n"
     "commit and applied index, and the nodes waiting to join.",
     "  certctl --url https://127.0.0.1:8001 cluster status\n", status_opts, cmd_status,
     NULL},
    {"add-node", "admit a new node and wait until it is a voter",
     "Registers a node as pending. The new node then fetches the cluster\n"
     "certificate, authenticating with the certificate whose thumbprint is\n"
     "given, and joins. Unless --no-wait is given, certctl then polls the\n"
     "topology every 500 ms until the node is a voter, and fails if it is not\n"
     "one within --wait-timeout.",
     "  certctl cluster add-node --id 4 --raft-address 127.0.0.1:7004 \\\n"
     "      --api-url https://127.0.0.1:8004 --thumbprint 9F86D081884C7D659A2FEAA0C55AD015"
     "A3BF4F1B2B0B822CD15D6C15B0F00A08\n",
     add_node_opts, cmd_add_node, NULL},
    {"remove-node", "remove a node from the cluster",
     "Removes a node (voter, standby, spare or pending) from the cluster.",
     "  certctl cluster remove-node --id 4\n", remove_node_opts, cmd_remove_node, NULL},
    {"transfer-leadership", "make another node the leader",
     "Asks the leader to hand leadership to node --id, or to a node of its\n"
     "choosing, and prints the new leader.",
     "  certctl cluster transfer-leadership --id 2\n", transfer_opts, cmd_transfer, NULL},
    /* Cluster certificate rotation: certctl_rotation.c. */
    {"renew-cert", "re-issue the cluster certificate with its key, and switch to it",
     "Asks the cluster to re-issue its certificate with the same key and a new\n"
     "validity (--days, or the server's default), then to rotate to it: the new\n"
     "certificate is trusted beside the old one, every node confirms it holds\n"
     "it, all switch without a restart (at once with --now), and the old one\n"
     "is forgotten. Clients that verify the nodes with the old certificate as\n"
     "their CA file must trust the new one too: once the rotation has started,\n"
     "--cacert-out saves --cacert's certificates and the new one (first), as the\n"
     "registry lists it. With --wait, certctl trusts the new certificate the\n"
     "same way and polls every 500 ms until the replacement is done.",
     "  certctl cluster renew-cert --days 365 --cacert-out cluster-ca-new.pem --wait\n",
     certctl_renew_cert_opts,
     certctl_cmd_renew_cert, NULL},
    {"replace-cert", "rotate the cluster to a new certificate of your own (PFX)",
     "Rotates the cluster to the certificate and private key of --file (a\n"
     "PKCS#12 file, with --password if it has one): trusted beside the old\n"
     "one first, confirmed by every node, then served by all without a restart\n"
     "(at once with --now), and the old one forgotten. Clients must trust the\n"
     "new certificate (or its CA) before the switch: --cacert-out saves\n"
     "--cacert's certificates and the new one. The file is sent to the cluster\n"
     "only. With --wait, certctl trusts the new certificate itself and polls\n"
     "every 500 ms until the replacement is done.",
     "  certctl cluster replace-cert --file new-cluster.pfx --password \"$PW\" --wait\n",
     certctl_replace_cert_opts, certctl_cmd_replace_cert, NULL},
    {"rotation-status", "show where a cluster certificate replacement stands",
     "Shows the replacement of the cluster certificate: its phase (None,\n"
     "Installed, Confirming, Switching, Done), the new and old thumbprints, and\n"
     "for every node whether it confirmed it holds the new certificate and\n"
     "whether it serves it.",
     "  certctl cluster rotation-status\n", certctl_rotation_status_opts,
     certctl_cmd_rotation_status, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};
