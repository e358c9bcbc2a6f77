/*
 * node_config.h - who a node is and where it listens, kept in node.json in
 * its data directory so that `certnode run --data DIR` needs nothing else.
 */
#ifndef CERTNODE_NODE_CONFIG_H
#define CERTNODE_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct cr_node_config {
    char data_dir[512];
    uint64_t id;
    char raft_address[128]; /* host:port the raft transport listens on */
    char api_address[128];  /* host:port the HTTPS API listens on */
    char api_url[256];      /* how others reach the API: https://host:port */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    size_t max_body_bytes;
    unsigned max_connections;
    unsigned idle_timeout_ms;
    unsigned stale_after_ms; /* 0: 3 election timeouts */
    /* Test-only fault: see cluster-tests. 0 in production. */
    int unsafe_ack_before_commit;
};

void cr_node_config_defaults(struct cr_node_config *c);
/* Read DIR/node.json over the defaults. 0 or -1 with @err filled. */
int cr_node_config_load(struct cr_node_config *c, const char *data_dir,
                        char *err, size_t errlen);
int cr_node_config_save(const struct cr_node_config *c, char *err,
                        size_t errlen);
/* The address raft stores for this node: "raft_address|api_url". */
void cr_node_config_raft_address(const struct cr_node_config *c, char *out,
                                 size_t outlen);

#endif /* CERTNODE_NODE_CONFIG_H */
