/*
 * api_metrics.c - GET /metrics in Prometheus' text format: requests by
 * route and status, raft progress, and the registry's size and expiries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct text {
    char *data;
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
        if (t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *p = realloc(t->data, cap);
        if (p == NULL) {
            return;
        }
        t->data = p;
        t->cap = cap;
    }
}

void cr_api_metrics(struct cr_api_call *call)
{
    struct cr_node *node = call->node;
    struct raft *r = &node->raft;
    const struct cr_state *st = node->fsm.state;
    struct text t = {malloc(4096), 0, 4096};
    size_t expired, expiring;
    raft_id leader;
    const char *address;

    if (t.data == NULL) {
        cr_api_reply_error(call, CR_ENOMEM, "out of memory");
        return;
    }
    t.data[0] = '\0';
    text_printf(&t, "# HELP certraft_http_requests_total HTTPS requests "
                    "answered, by route and status.\n"
                    "# TYPE certraft_http_requests_total counter\n");
    for (size_t i = 0; i <= CR_METRICS_MAX_ROUTES; i++) {
        const struct cr_route_metrics *m = &node->route_metrics[i];
        const char *name = i < cr_api_route_count() ? cr_api_route(i)->name
                                                    : "unmatched";
        if (i >= cr_api_route_count() && i != CR_METRICS_MAX_ROUTES) {
            continue;
        }
        for (int j = 0; j < CR_METRICS_STATUS_SLOTS && m->status[j]; j++) {
            text_printf(&t,
                        "certraft_http_requests_total{route=\"%s\","
                        "status=\"%d\"} %lu\n",
                        name, m->status[j], m->count[j]);
        }
    }
    raft_leader(r, &leader, &address);
    text_printf(&t,
                "# HELP certraft_raft_term Current raft term.\n"
                "# TYPE certraft_raft_term gauge\n"
                "certraft_raft_term %llu\n"
                "# HELP certraft_raft_commit_index Highest committed index.\n"
                "# TYPE certraft_raft_commit_index gauge\n"
                "certraft_raft_commit_index %llu\n"
                "# HELP certraft_raft_applied_index Highest applied index.\n"
                "# TYPE certraft_raft_applied_index gauge\n"
                "certraft_raft_applied_index %llu\n"
                "# HELP certraft_raft_leader Id of the leader this node "
                "knows (0: none).\n"
                "# TYPE certraft_raft_leader gauge\n"
                "certraft_raft_leader %llu\n"
                "# HELP certraft_raft_is_leader 1 when this node leads.\n"
                "# TYPE certraft_raft_is_leader gauge\n"
                "certraft_raft_is_leader %d\n"
                "# HELP certraft_proposal_appends_total Batches of client "
                "writes appended to the log (one raft append each).\n"
                "# TYPE certraft_proposal_appends_total counter\n"
                "certraft_proposal_appends_total %llu\n"
                "# HELP certraft_proposals_total Client writes appended.\n"
                "# TYPE certraft_proposals_total counter\n"
                "certraft_proposals_total %llu\n"
                "# HELP certraft_loop_busy_max_seconds Longest the event "
                "loop worked between two polls since start.\n"
                "# TYPE certraft_loop_busy_max_seconds gauge\n"
                "certraft_loop_busy_max_seconds %.6f\n"
                "# HELP certraft_loop_slow_iterations_total Loop "
                "iterations that worked %d ms or more.\n"
                "# TYPE certraft_loop_slow_iterations_total counter\n"
                "certraft_loop_slow_iterations_total %llu\n",
                (unsigned long long)r->current_term,
                (unsigned long long)r->commit_index,
                (unsigned long long)raft_last_applied(r),
                (unsigned long long)leader, cr_node_is_leader(node) ? 1 : 0,
                node->proposals.appends, node->proposals.entries,
                (double)node->loop_watch.max_ns / 1e9, CR_LOOP_SLOW_MS,
                node->loop_watch.slow);
    cr_state_cert_expiry_counts(st, cr_now_ms() / 1000, 30 * 86400, &expired,
                                &expiring);
    text_printf(&t,
                "# HELP certraft_certificates Registered certificates "
                "(primaries and secondaries).\n"
                "# TYPE certraft_certificates gauge\n"
                "certraft_certificates %zu\n"
                "# HELP certraft_certificates_expiring_30d Certificates "
                "expiring within 30 days.\n"
                "# TYPE certraft_certificates_expiring_30d gauge\n"
                "certraft_certificates_expiring_30d %lu\n"
                "# HELP certraft_certificates_expired Registered "
                "certificates already expired.\n"
                "# TYPE certraft_certificates_expired gauge\n"
                "certraft_certificates_expired %lu\n",
                cr_state_cert_count(st), (unsigned long)expiring,
                (unsigned long)expired);
    {
        char *etl = cr_etl_metrics_text(node); /* ETL lag per task */
        if (etl != NULL) {
            text_printf(&t, "%s", etl);
            free(etl);
        }
    }
    cr_api_reply_raw(call, 200, "text/plain; version=0.0.4", NULL, t.data,
                     t.len);
    free(t.data);
}
