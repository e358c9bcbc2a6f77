/*
 * etl.h - ETL links to other certraft clusters, the node's half: running
 * the tasks the log defines, their status, and the HTTPS endpoints.
 *
 * The core holds each task's definition and its progress (the last change
 * index of the source database that the destination acknowledged). The
 * leader runs every task (etl_runner.c): on each tick, for a task that is
 * not busy, it takes the next batch of changes after the progress it knows,
 * transforms them with the task's script on the thread pool (etl_js.h),
 * PUTs / DELETEs the results on the destination cluster with this
 * cluster's certificate (etl_http.c), and proposes ETL_PROGRESS. A new
 * leader starts from the progress in the log, so a failover repeats at
 * most one batch, and destination writes are idempotent by document id.
 * What the runner knows beyond the log (the last error, retries, script
 * errors, counters) lives here, in memory, and is served by the status
 * endpoint, which runs on the leader.
 */
#ifndef CERTNODE_ETL_H
#define CERTNODE_ETL_H

#include <stdbool.h>
#include <stdint.h>

struct cr_node;
struct cr_api_call;

/* Tasks one node runs at most (across databases); more are reported as
 * not running. */
#define CR_ETL_SLOTS 32

struct cr_etl_slot {
    bool used;
    char db[129];
    char name[129];
    uint64_t generation;  /* of the definition being run */
    uint64_t epoch;       /* tells a batch's result it is still wanted */
    bool busy;            /* a probe or batch is on the thread pool */
    unsigned proposing;   /* progress proposals not yet applied */
    uint64_t delivered;   /* highest index the destination acknowledged */
    int64_t proposed_ms;  /* when `delivered` was last proposed */
    int64_t next_ms;      /* no attempt before (backoff) */
    unsigned failures;    /* consecutive */
    unsigned url_next;    /* destination URL to try next */
    char pin[64];         /* destination's key pin, checked against the
                             registry; "" until a probe found it */
    char pin_url[520];    /* the URL the pin was found at */
    bool multi;           /* the script was seen to load several docs */
    /* status */
    char last_error[512];
    long last_http_status;
    int64_t last_error_ms;
    int64_t last_success_ms;
    char last_script_error[512];
    char last_script_error_id[520];
    int64_t last_script_error_ms;
    uint64_t script_errors;
    uint64_t loaded, deleted, batches;
};

struct cr_etl_state {
    struct cr_etl_slot slot[CR_ETL_SLOTS];
    uint64_t next_epoch;
};

/* The slot running task @db/@name on this node, or NULL. */
const struct cr_etl_slot *cr_etl_slot_find(struct cr_node *node,
                                           const char *db, const char *name);

/* Run the tasks (leader) or stand down (others); from the node's tick. */
void cr_etl_tick(struct cr_node *node);

/* Prometheus lines for every task (lag in entries and seconds, state),
 * malloc'ed; NULL when out of memory. */
char *cr_etl_metrics_text(struct cr_node *node);

/* HTTPS handlers (api_etl.c). */
void cr_api_etl_get(struct cr_api_call *call);
void cr_api_etl_put(struct cr_api_call *call);
void cr_api_etl_delete(struct cr_api_call *call);
void cr_api_etl_test(struct cr_api_call *call);
void cr_api_etl_status(struct cr_api_call *call);

#endif /* CERTNODE_ETL_H */
