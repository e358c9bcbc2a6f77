/*
 * certnode_main.c - the certnode daemon's entry point: dispatch to init,
 * join or run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "commands.h"

static const char usage[] =
    "usage: certnode <command> [options]\n"
    "\n"
    "A node of a certraft cluster: a Raft-replicated registry of client\n"
    "certificates and their permissions, served over mutual TLS.\n"
    "\n"
    "commands:\n"
    "  init   create a data directory and bootstrap a new one-node cluster,\n"
    "         writing the first ClusterAdmin client certificate\n"
    "  join   create a data directory for a node that joins an existing\n"
    "         cluster, then run it\n"
    "  run    start a node from its data directory\n"
    "\n"
    "`certnode <command> --help` describes each command.\n";

int main(int argc, char **argv)
{
    int rv;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* A peer that resets a TLS connection must not kill the node; write
     * errors are handled where they happen. */
    signal(SIGPIPE, SIG_IGN);
    /* Forwarded requests run on libuv's thread pool; the default of 4
     * would queue them behind each other under load. */
    setenv("UV_THREADPOOL_SIZE", "32", 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "init") == 0) {
        rv = cr_cmd_init(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "join") == 0) {
        rv = cr_cmd_join(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "run") == 0) {
        rv = cr_cmd_run(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "certnode: unknown command '%s'; see `certnode "
                        "--help`\n",
                argv[1]);
        rv = 2;
    }
    curl_global_cleanup();
    return rv;
}
