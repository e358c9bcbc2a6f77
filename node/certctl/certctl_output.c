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

const char *certctl_command_words(const struct certctl_group *g,
                                  const struct certctl_command *c, char *buf, size_t n)
{
    if (g->direct != NULL) {
        snprintf(buf, n, "%s", g->name);
    } else {
        snprintf(buf, n, "%s %s", g->name, c->name);
    }
    return buf;
}

int certctl_usage_fail(const struct certctl_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    char words[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "certctl: %s\nsee certctl %s --help\n", msg,
            certctl_command_words(ctx->group, ctx->cmd, words, sizeof(words)));
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

/* Whether a 2xx body is valid JSON even where jansson's default decoding
 * refused it: integers beyond 64 bits are fine in a stored document. */
static int is_json_text(const struct certctl_reply *r)
{
    json_t *j;

    if (r->json != NULL) {
        return 1;
    }
    j = json_loadb(r->body, r->len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    json_decref(j);
    return j != NULL;
}

int certctl_call_ex(struct certctl_ctx *ctx, const char *method, const char *path,
                    const char *body, const char *accept, enum certctl_reply_kind kind,
                    struct certctl_reply *r)
{
    char err[2048];
    int rc;

    memset(r, 0, sizeof(*r));
    rc = certctl_connect(ctx);
    if (rc != 0) {
        return rc;
    }
    if (certctl_client_request(ctx->client, method, path, body, accept, r, err,
                               sizeof(err)) != 0) {
        return certctl_fail("%s", err);
    }
    if (r->status < 200 || r->status > 299) {
        certctl_reply_error(r, err, sizeof(err));
        certctl_reply_free(r);
        return certctl_fail("%s", err);
    }
    switch (kind) {
    case CERTCTL_REPLY_OBJECT:
        if (json_is_object(r->json)) {
            return 0;
        }
        certctl_reply_error(r, err, sizeof(err));
        break;
    case CERTCTL_REPLY_ANY_JSON:
        if (r->len > 0 && is_json_text(r)) {
            return 0;
        }
        snprintf(err, sizeof(err), "%ld: the node's reply is not JSON", r->status);
        break;
    case CERTCTL_REPLY_BINARY:
        if (r->len > 0) {
            return 0;
        }
        snprintf(err, sizeof(err), "%ld: the node's reply is empty", r->status);
        break;
    }
    certctl_reply_free(r);
    return certctl_fail("%s", err);
}

int certctl_call(struct certctl_ctx *ctx, const char *method, const char *path,
                 json_t *body, struct certctl_reply *r)
{
    char *text = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            return certctl_fail("out of memory");
        }
    }
    rc = certctl_call_ex(ctx, method, path, text, "application/json", CERTCTL_REPLY_OBJECT,
                         r);
    if (text != NULL) {
        /* The body may carry a certificate password: wipe it. */
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return rc;
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
    if (json_dumpf(j, ctx->out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0 ||
        fputc('\n', ctx->out) == EOF) {
        return certctl_fail("cannot write output");
    }
    return CERTCTL_EXIT_OK;
}

int certctl_print_json_text(struct certctl_ctx *ctx, const char *text, size_t len)
{
    struct certctl_buf b;
    int rc = CERTCTL_EXIT_OK;

    certctl_buf_init(&b);
    if (certctl_json_pretty(&b, text, len) != 0) {
        rc = certctl_fail("out of memory");
    } else if (fwrite(b.data, 1, b.len, ctx->out) != b.len || fputc('\n', ctx->out) == EOF) {
        rc = certctl_fail("cannot write output");
    }
    certctl_buf_free(&b);
    return rc;
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
