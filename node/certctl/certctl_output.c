/*
 * certctl_output.c - what every command uses: error messages, the
 * request-and-check helper, option value checks and JSON output.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certctl.h"
#include "certctl_str.h"

int certctl_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "certctl: %s\n", msg);
    return CERTCTL_EXIT_FAIL;
}

int certctl_usage_fail(const struct certctl_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "certctl: %s\nsee certctl %s %s --help\n", msg, ctx->group->name,
            ctx->cmd->name);
    return CERTCTL_EXIT_USAGE;
}

static const char *status_name(long status)
{
    static const struct
    {
        long code;
        const char *name;
    } names[] = {
        {400, "Bad Request"},      {401, "Unauthorized"},
        {403, "Forbidden"},        {404, "Not Found"},
        {405, "Method Not Allowed"}, {408, "Request Timeout"},
        {409, "Conflict"},         {413, "Payload Too Large"},
        {421, "Misdirected Request"}, {429, "Too Many Requests"},
        {500, "Internal Server Error"}, {501, "Not Implemented"},
        {502, "Bad Gateway"},      {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].code == status) {
            return names[i].name;
        }
    }
    return "";
}

void certctl_reply_error(const struct certctl_reply *r, char *buf, size_t n)
{
    const char *reason = r->reason[0] != '\0' ? r->reason : status_name(r->status);
    const char *msg = NULL;
    char detail[512];
    char head[128];

    snprintf(head, sizeof(head), "%ld%s%s", r->status, reason[0] != '\0' ? " " : "", reason);
    if (json_is_object(r->json)) {
        msg = json_string_value(json_object_get(r->json, "Error"));
    }
    if (msg == NULL && r->status >= 200 && r->status <= 299) {
        /* A success whose body we cannot use. */
        snprintf(buf, n, "%s: the node's reply is not a JSON object", head);
        return;
    }
    if (msg == NULL && r->body != NULL && r->body[0] != '\0' && r->json == NULL) {
        msg = r->body; /* a plain-text error, e.g. from a proxy */
    }
    if (msg == NULL || msg[0] == '\0') {
        snprintf(buf, n, "%s", head);
        return;
    }
    certctl_scrub(detail, sizeof(detail), msg);
    snprintf(buf, n, "%s: %s", head, detail);
}

int certctl_call(struct certctl_ctx *ctx, const char *method, const char *path,
                 json_t *body, struct certctl_reply *r)
{
    char err[2048];
    char *text = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    rc = certctl_connect(ctx);
    if (rc != 0) {
        return rc;
    }
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            return certctl_fail("out of memory");
        }
    }
    if (strcmp(method, "GET") == 0) {
        rc = certctl_client_read(ctx->client, path, r, err, sizeof(err));
    } else {
        rc = certctl_client_write(ctx->client, method, path, text, r, err, sizeof(err));
    }
    if (text != NULL) {
        /* The body may carry a certificate password: wipe it. */
        memset(text, 0, strlen(text));
        free(text);
    }
    if (rc != 0) {
        return certctl_fail("%s", err);
    }
    if (r->status < 200 || r->status > 299 || !json_is_object(r->json)) {
        certctl_reply_error(r, err, sizeof(err));
        certctl_reply_free(r);
        return certctl_fail("%s", err);
    }
    return 0;
}

int certctl_opt_u64(const struct certctl_ctx *ctx, const struct certctl_args *args,
                    const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *s = certctl_args_get(args, name);

    if (s == NULL) {
        return 0;
    }
    if (certctl_parse_u64(s, min, max, out) != 0) {
        return certctl_usage_fail(ctx, "invalid --%s '%.32s' (a whole number from %" PRIu64
                                       " to %" PRIu64 ")",
                                  name, s, min, max);
    }
    return 0;
}

int certctl_print_json(struct certctl_ctx *ctx, const json_t *j)
{
    if (json_dumpf(j, ctx->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
        fputc('\n', ctx->out) == EOF) {
        return certctl_fail("cannot write output");
    }
    return CERTCTL_EXIT_OK;
}

const char *certctl_json_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v)) {
        snprintf(buf, n, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, n, "%g", json_real_value(v));
    } else if (json_is_true(v)) {
        snprintf(buf, n, "yes");
    } else if (json_is_false(v)) {
        snprintf(buf, n, "no");
    } else {
        snprintf(buf, n, "-");
    }
    return buf;
}
