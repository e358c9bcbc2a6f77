/*
 * node_config.c - node.json: load over defaults, save atomically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data_dir.h"
#include "node_config.h"

void cr_node_config_defaults(struct cr_node_config *c)
{
    memset(c, 0, sizeof *c);
    c->snapshot_threshold = 1024;
    c->snapshot_trailing = 128;
    /* raft draws each timeout from [T, 2T): 500 ms keeps failover
     * under a second (bench/bench_failover.py). */
    c->election_timeout_ms = 500;
    c->heartbeat_timeout_ms = 100;
    c->max_body_bytes = 4 * 1024 * 1024;
    c->max_connections = 1024;
    c->idle_timeout_ms = 60000;
}

static void copy_str(json_t *obj, const char *key, char *dst, size_t dstlen)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s != NULL) {
        snprintf(dst, dstlen, "%s", s);
    }
}

static void copy_uint(json_t *obj, const char *key, unsigned *dst)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *dst = (unsigned)json_integer_value(v);
    }
}

int cr_node_config_load(struct cr_node_config *c, const char *data_dir,
                        char *err, size_t errlen)
{
    char path[600];
    json_error_t jerr;
    json_t *root;
    unsigned max_body;

    cr_node_config_defaults(c);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir);
    cr_path_join(path, sizeof path, data_dir, CR_FILE_CONFIG);
    root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        snprintf(err, errlen,
                 "cannot load %s: %s (is this a certnode data directory? "
                 "create one with `certnode init` or `certnode join`)",
                 path, jerr.text);
        return -1;
    }
    c->id = (uint64_t)json_integer_value(json_object_get(root, "Id"));
    copy_str(root, "RaftAddress", c->raft_address, sizeof c->raft_address);
    copy_str(root, "ApiAddress", c->api_address, sizeof c->api_address);
    copy_str(root, "ApiUrl", c->api_url, sizeof c->api_url);
    copy_uint(root, "SnapshotThreshold", &c->snapshot_threshold);
    copy_uint(root, "SnapshotTrailing", &c->snapshot_trailing);
    copy_uint(root, "ElectionTimeoutMs", &c->election_timeout_ms);
    copy_uint(root, "HeartbeatTimeoutMs", &c->heartbeat_timeout_ms);
    copy_uint(root, "MaxConnections", &c->max_connections);
    copy_uint(root, "IdleTimeoutMs", &c->idle_timeout_ms);
    copy_uint(root, "StaleAfterMs", &c->stale_after_ms);
    max_body = (unsigned)c->max_body_bytes;
    copy_uint(root, "MaxBodyBytes", &max_body);
    c->max_body_bytes = max_body;
    json_decref(root);
    if (c->id == 0 || c->raft_address[0] == '\0' ||
        c->api_address[0] == '\0') {
        snprintf(err, errlen, "%s lacks Id, RaftAddress or ApiAddress", path);
        return -1;
    }
    if (c->api_url[0] == '\0') {
        snprintf(c->api_url, sizeof c->api_url, "https://%s", c->api_address);
    }
    return 0;
}

int cr_node_config_save(const struct cr_node_config *c, char *err,
                        size_t errlen)
{
    char path[600];
    char *text;
    int rv;
    json_t *root = json_pack(
        "{s:I, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:i, s:i, s:i}", "Id",
        (json_int_t)c->id, "RaftAddress", c->raft_address, "ApiAddress",
        c->api_address, "ApiUrl", c->api_url, "SnapshotThreshold",
        (int)c->snapshot_threshold, "SnapshotTrailing",
        (int)c->snapshot_trailing, "ElectionTimeoutMs",
        (int)c->election_timeout_ms, "HeartbeatTimeoutMs",
        (int)c->heartbeat_timeout_ms, "MaxBodyBytes",
        (json_int_t)c->max_body_bytes, "MaxConnections",
        (int)c->max_connections, "IdleTimeoutMs", (int)c->idle_timeout_ms,
        "StaleAfterMs", (int)c->stale_after_ms);

    if (root == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cr_path_join(path, sizeof path, c->data_dir, CR_FILE_CONFIG);
    rv = cr_file_write_private(path, text, strlen(text), err, errlen);
    free(text);
    return rv;
}

void cr_node_config_raft_address(const struct cr_node_config *c, char *out,
                                 size_t outlen)
{
    snprintf(out, outlen, "%s|%s", c->raft_address, c->api_url);
}
