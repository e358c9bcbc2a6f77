/*
 * certctl_main.c - certctl's entry point: global options, dispatch to a
 * command through the group/command tables, and the help texts.
 *
 *   certctl [global options] <group> <command> [options]
 *   certctl [global options] audit [options]   (a group that is a command)
 *
 * Exit codes: 0 success, 1 the server or network failed the request,
 * 2 usage error (unknown command or option, bad or missing value).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "certctl.h"
#include "certctl_clientca.h"
#include "certctl_etl.h"

static const struct certctl_group certctl_groups[] = {
    {"cluster", "Manage membership, leadership and the cluster certificate",
     certctl_cluster_commands, NULL},
    {"certs", "Manage client certificates and their permissions", certctl_certs_commands,
     NULL},
    {"db", "Create, delete and list databases", certctl_db_commands, NULL},
    {"docs", "Store, read, delete and list documents in a database", certctl_docs_commands,
     NULL},
    {"client-ca", "Manage client CA bundles whose certificates authenticate",
     certctl_clientca_commands, NULL},
    {"etl", "ETL tasks: one-way, transformed copies to another cluster",
     certctl_etl_commands, NULL},
    {"audit", "Show the audit log of requests", NULL, &certctl_audit_command},
    {NULL, NULL, NULL, NULL},
};

static const char certctl_main_example[] =
    "  export CERTCTL_URL=https://127.0.0.1:8001,https://127.0.0.1:8002\n"
    "  certctl --cert admin.pem --key admin.key --cacert cluster.pem cluster status\n";

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static int is_help_word(const char *s)
{
    return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0;
}

static void print_main_help(FILE *out)
{
    const struct certctl_group *g;
    const struct certctl_command *c;

    fputs("Usage: certctl [global options] <group> <command> [options]\n\n"
          "Administers a certraft cluster: its nodes and the client certificates it\n"
          "accepts. Every request is authenticated with your client certificate.\n\n"
          "Global options (each may also come from the environment; the option wins):\n",
          out);
    certctl_args_print_help(certctl_global_opts, out);
    fputs("\nCommands:\n", out);
    for (g = certctl_groups; g->name != NULL; g++) {
        if (g->direct != NULL) {
            fprintf(out, "  %-28s  %s\n", g->name, g->direct->summary);
            continue;
        }
        for (c = g->commands; c->name != NULL; c++) {
            char both[64];

            snprintf(both, sizeof(both), "%s %s", g->name, c->name);
            fprintf(out, "  %-28s  %s\n", both, c->summary);
        }
    }
    fputs("\nRun 'certctl <group> --help' or 'certctl <group> <command> --help' for more.\n"
          "Exit status: 0 success, 1 the request failed, 2 usage error.\n\nExample:\n",
          out);
    fputs(certctl_main_example, out);
}

static void print_group_help(const struct certctl_group *g, FILE *out)
{
    const struct certctl_command *c;

    fprintf(out, "Usage: certctl [global options] %s <command> [options]\n\n%s.\n\nCommands:\n",
            g->name, g->summary);
    for (c = g->commands; c->name != NULL; c++) {
        fprintf(out, "  %-22s  %s\n", c->name, c->summary);
    }
    fprintf(out, "\nRun 'certctl %s <command> --help' for a command's options.\n\nExamples:\n",
            g->name);
    for (c = g->commands; c->name != NULL; c++) {
        fputs(c->example, out);
    }
}

static void print_command_help(const struct certctl_group *g,
                               const struct certctl_command *c, FILE *out)
{
    const struct certctl_opt *o;
    char words[128];

    fprintf(out, "Usage: certctl [global options] %s",
            certctl_command_words(g, c, words, sizeof(words)));
    for (o = c->opts; o->name != NULL; o++) {
        if (c->positional != NULL && strcmp(o->name, c->positional) == 0) {
            fprintf(out, " %s", o->metavar != NULL ? o->metavar : "VALUE");
        } else if ((o->flags & CERTCTL_OPT_REQUIRED) != 0) {
            fprintf(out, " --%s %s", o->name, o->metavar != NULL ? o->metavar : "VALUE");
        }
    }
    fprintf(out, " [options]\n\n%s\n\nOptions:\n", c->description);
    certctl_args_print_help(c->opts, out);
    if (c->positional != NULL) {
        fprintf(out, "\nThe --%s value may also be given as the only argument.\n",
                c->positional);
    }
    fprintf(out, "\nGlobal options (--url, --cert, --key, --pfx, --password, --cacert,\n"
                 "--insecure, --output, --timeout) go before '%s'; see certctl --help.\n\n"
                 "Example:\n%s",
            g->name, c->example);
}

static const struct certctl_group *find_group(const char *name)
{
    const struct certctl_group *g;

    for (g = certctl_groups; g->name != NULL; g++) {
        if (strcmp(g->name, name) == 0) {
            return g;
        }
    }
    return NULL;
}

static const struct certctl_command *find_command(const struct certctl_group *g,
                                                  const char *name)
{
    const struct certctl_command *c;

    for (c = g->commands; c->name != NULL; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* Says so when a global option was put after the command: a common slip
 * that "unknown option" alone explains badly. */
static int is_global_option(const char *word)
{
    const struct certctl_opt *o;
    size_t len;

    if (word == NULL || strncmp(word, "--", 2) != 0) {
        return 0;
    }
    word += 2;
    len = strcspn(word, "=");
    for (o = certctl_global_opts; o->name != NULL; o++) {
        if (strlen(o->name) == len && strncmp(o->name, word, len) == 0) {
            return 1;
        }
    }
    return 0;
}

static int usage(const char *msg, const char *see)
{
    fprintf(stderr, "certctl: %s\nsee certctl %s--help\n", msg, see);
    return CERTCTL_EXIT_USAGE;
}

int certctl_connect(struct certctl_ctx *ctx)
{
    char err[512];

    if (ctx->client != NULL) {
        return CERTCTL_EXIT_OK;
    }
    if (ctx->g == NULL) {
        if (certctl_args_apply_env(ctx->gargs, env_lookup, NULL, err, sizeof(err)) != 0 ||
            certctl_global_resolve(ctx->gargs, &ctx->global, err, sizeof(err)) != 0) {
            return usage(err, "");
        }
        ctx->g = &ctx->global;
        if (ctx->g->insecure) {
            fputs("certctl: warning: --insecure: the nodes' certificates are not verified\n",
                  stderr);
        }
    }
    if (certctl_client_new(ctx->g, &ctx->client, err, sizeof(err)) != 0) {
        return certctl_fail("%s", err);
    }
    return CERTCTL_EXIT_OK;
}

/* Parses a command's words: options, and the one positional argument the
 * command may take, before or after them. Returns 0 or -1 with err. */
static int parse_command_words(struct certctl_args *cargs, const struct certctl_command *c,
                               int argc, char *const *argv, char *err, size_t errlen)
{
    char origin[64];
    const struct certctl_opt *o;

    if (c->positional == NULL) {
        return certctl_args_parse(cargs, argc, argv, 0, err, errlen);
    }
    if (certctl_args_parse(cargs, argc, argv, 1, err, errlen) != 0) {
        return -1;
    }
    if (cargs->help || cargs->nrest == 0) {
        return 0;
    }
    for (o = c->opts; strcmp(o->name, c->positional) != 0; o++) {
    }
    snprintf(origin, sizeof(origin), "%s", o->metavar != NULL ? o->metavar : "argument");
    if (certctl_args_set(cargs, c->positional, cargs->rest[0], origin, err, errlen) != 0) {
        return -1;
    }
    /* Options may follow it; a second positional word is an error. */
    return certctl_args_parse(cargs, cargs->nrest - 1, cargs->rest + 1, 0, err, errlen);
}

/* Parses and runs one command; gargs holds the parsed global options. */
static int run_command(struct certctl_args *gargs, const struct certctl_group *g,
                       const struct certctl_command *c, int argc, char *const *argv)
{
    struct certctl_args cargs;
    struct certctl_ctx ctx;
    char err[512];
    char words[128];
    char see[136];
    int rc;

    snprintf(see, sizeof(see), "%s ", certctl_command_words(g, c, words, sizeof(words)));
    if (certctl_args_init(&cargs, c->opts) != 0) {
        return certctl_fail("out of memory");
    }
    if (parse_command_words(&cargs, c, argc, argv, err, sizeof(err)) != 0) {
        if (is_global_option(cargs.unknown)) {
            /* Name only: "--password=x" must not echo x. */
            int len = (int)strcspn(cargs.unknown, "=");

            snprintf(err, sizeof(err),
                     "%.*s is a global option: put it before '%s' "
                     "(certctl %.*s ... %s)",
                     len, cargs.unknown, g->name, len, cargs.unknown, words);
        }
        certctl_args_free(&cargs);
        return usage(err, see);
    }
    if (cargs.help) {
        print_command_help(g, c, stdout);
        certctl_args_free(&cargs);
        return CERTCTL_EXIT_OK;
    }
    if (c->positional != NULL && !certctl_args_given(&cargs, c->positional)) {
        /* Say it the way the help's usage line shows it. */
        const struct certctl_opt *o = c->opts;

        while (strcmp(o->name, c->positional) != 0) {
            o++;
        }
        snprintf(err, sizeof(err), "missing %s (give it as the argument or as --%s)",
                 o->metavar != NULL ? o->metavar : "argument", o->name);
        certctl_args_free(&cargs);
        return usage(err, see);
    }
    if (certctl_args_apply_env(&cargs, env_lookup, NULL, err, sizeof(err)) != 0 ||
        certctl_args_check_required(&cargs, err, sizeof(err)) != 0) {
        certctl_args_free(&cargs);
        return usage(err, see);
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.group = g;
    ctx.cmd = c;
    ctx.out = stdout;
    ctx.gargs = gargs;
    rc = c->run(&ctx, &cargs);
    if (rc == CERTCTL_EXIT_OK && fflush(stdout) != 0) {
        rc = certctl_fail("cannot write output");
    }
    certctl_client_free(ctx.client);
    if (ctx.g != NULL) {
        certctl_global_free(&ctx.global);
    }
    certctl_args_free(&cargs);
    return rc;
}

int main(int argc, char **argv)
{
    struct certctl_args gargs;
    const struct certctl_group *g;
    const struct certctl_command *c;
    char err[512];
    char see[64];
    int rc;

    if (certctl_args_init(&gargs, certctl_global_opts) != 0) {
        return certctl_fail("out of memory");
    }
    if (certctl_args_parse(&gargs, argc - 1, argv + 1, 1, err, sizeof(err)) != 0) {
        rc = usage(err, "");
        goto out;
    }
    if (gargs.help || (gargs.nrest > 0 && strcmp(gargs.rest[0], "help") == 0)) {
        print_main_help(stdout);
        rc = CERTCTL_EXIT_OK;
        goto out;
    }
    if (gargs.nrest == 0) {
        rc = usage("missing command group", "");
        goto out;
    }
    g = find_group(gargs.rest[0]);
    if (g == NULL) {
        snprintf(err, sizeof(err), "unknown command group '%.64s'", gargs.rest[0]);
        rc = usage(err, "");
        goto out;
    }
    snprintf(see, sizeof(see), "%s ", g->name);
    if (g->direct != NULL) {
        /* "certctl audit --help" is the command's own help. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            rc = certctl_fail("cannot initialise libcurl");
            goto out;
        }
        rc = run_command(&gargs, g, g->direct, gargs.nrest - 1, gargs.rest + 1);
        curl_global_cleanup();
        goto out;
    }
    if (gargs.nrest == 1) {
        snprintf(err, sizeof(err), "missing command after '%s'", g->name);
        rc = usage(err, see);
        goto out;
    }
    if (is_help_word(gargs.rest[1])) {
        print_group_help(g, stdout);
        rc = CERTCTL_EXIT_OK;
        goto out;
    }
    c = find_command(g, gargs.rest[1]);
    if (c == NULL) {
        snprintf(err, sizeof(err), "unknown command '%.64s' in group '%s'", gargs.rest[1],
                 g->name);
        rc = usage(err, see);
        goto out;
    }
    /* Once, before any thread could exist, as libcurl asks. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = certctl_fail("cannot initialise libcurl");
        goto out;
    }
    rc = run_command(&gargs, g, c, gargs.nrest - 2, gargs.rest + 2);
    curl_global_cleanup();

out:
    certctl_args_free(&gargs);
    return rc;
}
