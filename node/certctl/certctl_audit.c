/*
 * certctl_audit.c - "certctl audit": a page of the cluster's audit log,
 * who did what to what and how it ended. A group that is a command by
 * itself: there is nothing else to do with the log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certctl.h"
#include "certctl_str.h"
#include "certctl_table.h"

/* Characters of a thumbprint shown for a caller without a name: enough to
 * tell certificates apart at a glance, and to grep "certs list" for. */
#define CERTCTL_SHORT_THUMBPRINT 12

static const struct certctl_opt audit_opts[] = {
    {"start", CERTCTL_OPT_STRING, 0, "N", "skip the first N entries (default: 0)", NULL,
     NULL, NULL},
    {"page-size", CERTCTL_OPT_STRING, 0, "N",
     "at most N entries, 1 to 10000 (default: the server's)", NULL, NULL, NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* The caller's certificate name, or its thumbprint cut short. */
static const char *caller_text(const json_t *e, char *buf, size_t n)
{
    const char *name = json_string_value(json_object_get(e, "CallerName"));
    const char *thumb = json_string_value(json_object_get(e, "Caller"));

    if (name != NULL && name[0] != '\0') {
        snprintf(buf, n, "%s", name);
    } else if (thumb != NULL && thumb[0] != '\0') {
        snprintf(buf, n, "%.*s%s", CERTCTL_SHORT_THUMBPRINT, thumb,
                 strlen(thumb) > CERTCTL_SHORT_THUMBPRINT ? "..." : "");
    } else {
        snprintf(buf, n, "-");
    }
    return buf;
}

static int print_audit(struct certctl_ctx *ctx, const json_t *reply, uint64_t start)
{
    static const char *const headers[] = {"INDEX", "TIME",   "CALLER",
                                          "OPERATION", "TARGET", "STATUS"};
    static const char *const keys[] = {"Index", "Time", NULL, "Operation", "Target", "Status"};
    const json_t *results = json_object_get(reply, "Results");
    const json_t *total = json_object_get(reply, "Total");
    struct certctl_table t;
    const json_t *e;
    size_t i, c, count = json_array_size(results);
    int rc = CERTCTL_EXIT_OK;

    if (count == 0) {
        /* stderr, so that stdout stays empty for scripts */
        fputs("certctl: no audit entries\n", stderr);
        return CERTCTL_EXIT_OK;
    }
    if (certctl_table_init(&t, 6, headers) != 0) {
        return certctl_fail("out of memory");
    }
    json_array_foreach(results, i, e)
    {
        char cells[6][512];
        const char *row[6];

        for (c = 0; c < 6; c++) {
            row[c] = keys[c] != NULL
                         ? certctl_json_text(json_object_get(e, keys[c]), cells[c],
                                             sizeof(cells[c]))
                         : caller_text(e, cells[c], sizeof(cells[c]));
            if (row[c][0] == '\0') {
                row[c] = "-"; /* e.g. no Target: keep the columns readable */
            }
        }
        if (certctl_table_add(&t, row) != 0) {
            rc = certctl_fail("out of memory");
            break;
        }
    }
    if (rc == 0) {
        certctl_table_print(&t, ctx->out);
        if (json_is_integer(total) && (json_int_t)(start + count) < json_integer_value(total)) {
            fprintf(stderr,
                    "certctl: entries %" PRIu64 " to %" PRIu64 " of %" JSON_INTEGER_FORMAT
                    "; next page: --start %" PRIu64 "\n",
                    start + 1, start + count, json_integer_value(total), start + count);
        }
    }
    certctl_table_free(&t);
    return rc;
}

static int cmd_audit(struct certctl_ctx *ctx, const struct certctl_args *args)
{
    struct certctl_buf path;
    struct certctl_reply r;
    uint64_t start = 0, page_size = 0;
    char text[32];
    int rc;

    if ((rc = certctl_opt_u64(ctx, args, "start", 0, INT64_MAX, &start)) != 0 ||
        (rc = certctl_opt_u64(ctx, args, "page-size", 1, 10000, &page_size)) != 0) {
        return rc;
    }
    certctl_buf_init(&path);
    rc = certctl_buf_puts(&path, "/admin/audit");
    if (rc == 0 && certctl_args_given(args, "start")) {
        snprintf(text, sizeof(text), "%" PRIu64, start);
        rc = certctl_query_add(&path, "start", text);
    }
    if (rc == 0 && page_size != 0) {
        snprintf(text, sizeof(text), "%" PRIu64, page_size);
        rc = certctl_query_add(&path, "pageSize", text);
    }
    if (rc != 0) {
        certctl_buf_free(&path);
        return certctl_fail("out of memory");
    }
    rc = certctl_call(ctx, "GET", path.data, NULL, &r);
    certctl_buf_free(&path);
    if (rc != 0) {
        return rc;
    }
    rc = ctx->g->output == CERTCTL_OUTPUT_JSON ? certctl_print_json(ctx, r.json)
                                               : print_audit(ctx, r.json, start);
    certctl_reply_free(&r);
    return rc;
}

const struct certctl_command certctl_audit_command = {
    "audit", "show the audit log: who did what, when, and how it ended",
    "Shows a page of the cluster's audit log: each request's log index, time\n"
    "(UTC), caller (its certificate's name, or the start of its thumbprint),\n"
    "operation, target and outcome (OK, Forbidden, ...). When there are more\n"
    "entries, certctl says on stderr which --start shows the next page.",
    "  certctl audit --start 100 --page-size 50\n", audit_opts, cmd_audit, NULL};
