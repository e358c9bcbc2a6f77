/*
 * cmd_run.c - `certnode run`: start a node from its data directory, and the
 * loop runner the other subcommands share.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/deferred_free.h>

#include "commands.h"
#include "node.h"

bool cr_tuning_option(int opt, const char *arg, struct cr_node_config *c)
{
    unsigned long v = strtoul(arg != NULL ? arg : "0", NULL, 10);
    switch (opt) {
    case 1001:
        c->snapshot_threshold = (unsigned)v;
        return true;
    case 1002:
        c->snapshot_trailing = (unsigned)v;
        return true;
    case 1003:
        c->election_timeout_ms = (unsigned)v;
        return true;
    case 1004:
        c->heartbeat_timeout_ms = (unsigned)v;
        return true;
    case 1005:
        c->max_body_bytes = v;
        return true;
    case 1006:
        c->unsafe_ack_before_commit = 1;
        return true;
    case 1007:
        c->stale_after_ms = (unsigned)v;
        return true;
    default:
        return false;
    }
}

int cr_node_run_loop(struct cr_node *node, const struct cr_node_config *c,
                     bool bootstrap)
{
    uv_loop_t loop;
    char err[512];
    int rv;

    uv_loop_init(&loop);
    if ((rv = cr_deferred_free_start(&loop)) != 0) {
        fprintf(stderr, "certnode: event loop: %s\n", uv_strerror(rv));
        return 1;
    }
    if (cr_node_start(node, &loop, c, bootstrap, err, sizeof err) != 0) {
        fprintf(stderr, "certnode: %s\n", err);
        cr_deferred_free_stop();
        return 1;
    }
    if (c->unsafe_ack_before_commit) {
        fprintf(stderr, "certnode: WARNING: --unsafe-ack-before-commit is "
                        "set; acknowledged writes can be lost\n");
    }
    if (!node->bootstrap_only) {
        fprintf(stderr,
                "certnode: node %llu serving https://%s (raft %s), data %s\n",
                (unsigned long long)c->id, c->api_address, c->raft_address,
                c->data_dir);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    rv = node->exit_code;
    cr_deferred_free_stop();
    cr_node_free(node);
    if (uv_loop_close(&loop) != 0) {
        /* Drain handles closed by the frees above. */
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return rv;
}

static const char run_usage[] =
    "usage: certnode run --data DIR [options]\n"
    "\n"
    "Start the node whose data directory is DIR (made by `certnode init` or\n"
    "`certnode join`). Stops cleanly on SIGTERM or SIGINT.\n"
    "\n"
    "options:\n"
    "  --data DIR              the node's data directory (required)\n" CR_TUNING_HELP
    "  -h, --help              this text\n"
    "\n"
    "example:\n"
    "  certnode run --data /var/lib/certraft/node1\n";

int cr_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        CR_TUNING_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct cr_node_config config, overrides;
    struct cr_node *node;
    const char *data = NULL;
    char err[512];
    int opt, rv;

    cr_node_config_defaults(&overrides);
    memset(&overrides, 0, sizeof overrides);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (opt == 'd') {
            data = optarg;
        } else if (opt == 'h') {
            fputs(run_usage, stdout);
            return 0;
        } else if (!cr_tuning_option(opt, optarg, &overrides)) {
            fprintf(stderr, "see `certnode run --help`\n");
            return 2;
        }
    }
    if (data == NULL) {
        fprintf(stderr, "certnode run: --data is required; see `certnode run "
                        "--help`\n");
        return 2;
    }
    if (cr_node_config_load(&config, data, err, sizeof err) != 0) {
        fprintf(stderr, "certnode run: %s\n", err);
        return 1;
    }
#define OVERRIDE(f)                                                        \
    if (overrides.f) {                                                     \
        config.f = overrides.f;                                            \
    }
    OVERRIDE(snapshot_threshold)
    OVERRIDE(snapshot_trailing)
    OVERRIDE(election_timeout_ms)
    OVERRIDE(heartbeat_timeout_ms)
    OVERRIDE(max_body_bytes)
    OVERRIDE(unsafe_ack_before_commit)
    OVERRIDE(stale_after_ms)
#undef OVERRIDE
    node = calloc(1, sizeof *node);
    if (node == NULL) {
        return 1;
    }
    rv = cr_node_run_loop(node, &config, false);
    free(node);
    return rv;
}
