/*
 * certctl.h - what certctl's command groups share: the command table
 * types, the per-invocation context, exit codes and output helpers.
 *
 * Adding a command: write a handler and an option table in the group's
 * file (certctl_cluster.c, certctl_certs.c, ...) and add one entry to that
 * group's command array. Adding a group: a new certctl_<group>.c with its
 * array, and one line in the group table in certctl_main.c; a group that
 * is a command by itself ("certctl audit") names it in `direct` instead.
 * Option parsing, --help, the environment fallback, required-option
 * checks and the one positional argument a command may take all come from
 * the command's entry and its option table.
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
    /* Name of the option a single positional argument stands for ("db
     * create hr" = "db create --name hr"), or NULL if it takes none. */
    const char *positional;
};

struct certctl_group
{
    const char *name;
    const char *summary;
    const struct certctl_command *commands; /* NULL when direct is set */
    const struct certctl_command *direct;   /* the group is this command */
};

extern const struct certctl_command certctl_cluster_commands[];
extern const struct certctl_command certctl_certs_commands[];
extern const struct certctl_command certctl_db_commands[];
extern const struct certctl_command certctl_docs_commands[];
extern const struct certctl_command certctl_audit_command;

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
 * a 2xx reply with a JSON object as its body. Returns 0 with r filled, or
 * prints the error ("certctl: 403 Forbidden: <Error>") and returns
 * CERTCTL_EXIT_FAIL with r empty. body may be NULL. */
int certctl_call(struct certctl_ctx *ctx, const char *method, const char *path,
                 json_t *body, struct certctl_reply *r);

/* What certctl_call_ex() insists a 2xx reply's body is. */
enum certctl_reply_kind
{
    CERTCTL_REPLY_OBJECT,   /* a JSON object, in r->json */
    CERTCTL_REPLY_ANY_JSON, /* any JSON value (a stored document) */
    CERTCTL_REPLY_BINARY,   /* anything non-empty (a zip, a PFX) */
};

/* certctl_call() with the body as JSON text (sent as is, so a document's
 * numbers keep their digits), the media type to Accept, and what the reply
 * must be. Errors (non-2xx) are reported from their JSON as usual. */
int certctl_call_ex(struct certctl_ctx *ctx, const char *method, const char *path,
                    const char *body, const char *accept, enum certctl_reply_kind kind,
                    struct certctl_reply *r);

/* "certs list", or "audit" for a group that is a command itself. */
const char *certctl_command_words(const struct certctl_group *g,
                                  const struct certctl_command *c, char *buf, size_t n);

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

/* Pretty-prints valid JSON text token for token (certctl_json_pretty())
 * and a newline: for documents, whose numbers must not be rewritten.
 * Returns an exit code. */
int certctl_print_json_text(struct certctl_ctx *ctx, const char *text, size_t len);

/* A JSON scalar as text: strings as is, numbers in decimal, booleans as
 * yes/no, missing or null as "-". Returns buf. */
const char *certctl_json_text(const json_t *v, char *buf, size_t n);

#endif /* CERTCTL_H */
