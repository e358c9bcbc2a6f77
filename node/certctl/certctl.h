/*
 * certctl.h - what certctl's command groups share: the command table
 * types, the per-invocation context, exit codes and output helpers.
 *
 * Adding a command: write a handler and an option table in the group's
 * file (certctl_cluster.c, certctl_certs.c) and add one entry to that
 * group's command array. Adding a group: a new certctl_<group>.c with its
 * array, and one line in the group table in certctl_main.c. Option
 * parsing, --help, the environment fallback and required-option checks
 * all come from the option table.
 */
#ifndef CERTCTL_H
#define CERTCTL_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "certctl_args.h"
#include "certctl_global.h"
#include "certctl_http.h"

#define CERTCTL_EXIT_OK 0
#define CERTCTL_EXIT_FAIL 1  /* the server or the network said no */
#define CERTCTL_EXIT_USAGE 2 /* we were called wrongly */

struct certctl_ctx;

/* Runs a command whose options are already parsed and checked. Returns an
 * exit code, having printed any error itself. */
typedef int (*certctl_handler)(struct certctl_ctx *ctx, const struct certctl_args *args);

struct certctl_command
{
    const char *name;        /* NULL ends a group's array */
    const char *summary;     /* one line, for the group's help */
    const char *description; /* for the command's help; may hold '\n' */
    const char *example;     /* one or more full command lines */
    const struct certctl_opt *opts;
    certctl_handler run;
};

struct certctl_group
{
    const char *name;
    const char *summary;
    const struct certctl_command *commands;
};

extern const struct certctl_command certctl_cluster_commands[];
extern const struct certctl_command certctl_certs_commands[];

struct certctl_ctx
{
    const struct certctl_group *group;
    const struct certctl_command *cmd;
    FILE *out;
    struct certctl_args *gargs; /* global options as parsed */
    /* Set by certctl_connect(), which certctl_call() runs first: a handler
     * checks its own options before the global ones are even looked at,
     * so the most specific usage error is the one reported. */
    const struct certctl_global *g;
    struct certctl_client *client;
    struct certctl_global global; /* storage behind g */
};

/* Resolves the global options (environment included) and creates the HTTP
 * client, once. Returns 0 or an exit code, having printed the error. */
int certctl_connect(struct certctl_ctx *ctx);

/* Prints "certctl: <message>" on stderr; returns CERTCTL_EXIT_FAIL. */
int certctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "certctl: <message>" and "see certctl GROUP COMMAND --help" on
 * stderr; returns CERTCTL_EXIT_USAGE. */
int certctl_usage_fail(const struct certctl_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends a request (GET as a read, anything else as a write) and insists on
 * a 2xx reply with a JSON body. Returns 0 with r filled, or prints the
 * error ("certctl: 403 Forbidden: <Error>") and returns CERTCTL_EXIT_FAIL
 * with r empty. body may be NULL. */
int certctl_call(struct certctl_ctx *ctx, const char *method, const char *path,
                 json_t *body, struct certctl_reply *r);

/* Formats a non-2xx or non-JSON reply as one line, e.g.
 * "403 Forbidden: unknown certificate ABC". */
void certctl_reply_error(const struct certctl_reply *r, char *buf, size_t n);

/* Reads option `name` as a whole number in [min, max] into out. Returns 0,
 * or prints a usage error and returns CERTCTL_EXIT_USAGE. An option that
 * is unset and has no default leaves out alone and returns 0. */
int certctl_opt_u64(const struct certctl_ctx *ctx, const struct certctl_args *args,
                    const char *name, uint64_t min, uint64_t max, uint64_t *out);

/* Pretty-prints a JSON value and a newline. Returns an exit code. */
int certctl_print_json(struct certctl_ctx *ctx, const json_t *j);

/* A JSON scalar as text: strings as is, numbers in decimal, booleans as
 * yes/no, missing or null as "-". Returns buf. */
const char *certctl_json_text(const json_t *v, char *buf, size_t n);

#endif /* CERTCTL_H */
