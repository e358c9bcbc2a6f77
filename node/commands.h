/*
 * commands.h - the certnode subcommands: init, join, run.
 * Each takes argc/argv after the subcommand name and returns an exit code.
 */
#ifndef CERTNODE_COMMANDS_H
#define CERTNODE_COMMANDS_H

#include <stdbool.h>

struct cr_node;
struct cr_node_config;

int cr_cmd_init(int argc, char **argv);
int cr_cmd_join(int argc, char **argv);
int cr_cmd_run(int argc, char **argv);

/* Shared: run a node on a fresh loop until it stops. Prepares @node's
 * mode flags before calling. Returns the exit code. */
int cr_node_run_loop(struct cr_node *node, const struct cr_node_config *c,
                     bool bootstrap);

/* Options every command that starts a node understands. Returns true when
 * @opt (a getopt_long value) was one of them. */
bool cr_tuning_option(int opt, const char *arg, struct cr_node_config *c);
#define CR_TUNING_LONG_OPTIONS                                             \
    {"snapshot-threshold", required_argument, NULL, 1001},                 \
        {"snapshot-trailing", required_argument, NULL, 1002},              \
        {"election-timeout", required_argument, NULL, 1003},               \
        {"heartbeat-timeout", required_argument, NULL, 1004},              \
        {"max-body", required_argument, NULL, 1005},                       \
        {"unsafe-ack-before-commit", no_argument, NULL, 1006},             \
        {"stale-after", required_argument, NULL, 1007}
#define CR_TUNING_HELP                                                     \
    "  --snapshot-threshold N  least log entries between snapshots (1024;\n" \
    "                          more with a large registry)\n"   \
    "  --snapshot-trailing N   entries kept after a snapshot (128)\n"       \
    "  --election-timeout MS   raft election timeout (500)\n"              \
    "  --heartbeat-timeout MS  raft heartbeat interval (100)\n"             \
    "  --max-body BYTES        largest request body accepted (4194304)\n"      \
    "  --stale-after MS        refuse requests (503) after this long without\n" \
    "                          contact with a majority (3 election timeouts)\n" \
    "  --unsafe-ack-before-commit\n"                                         \
    "                          TEST ONLY: acknowledge writes before they\n"   \
    "                          commit (loses data; for checking checkers)\n"

#endif /* CERTNODE_COMMANDS_H */
