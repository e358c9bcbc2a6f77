/*
 * loop_watch.h - how long the event loop works between two waits.
 *
 * Everything a node does runs on its one loop thread: while a callback
 * runs, nothing is read, appended, applied or answered, and a stretch
 * longer than the election timeout costs the cluster its leader. The
 * watch measures each iteration's work (the time from one wait in poll
 * to the next, less the time libuv spent waiting) and keeps the longest
 * and a count of slow ones for /metrics; a slow one is also logged (at
 * most once a second), as etcd logs an apply that took too long.
 */
#ifndef CERTRAFT_NODE_LOOP_WATCH_H
#define CERTRAFT_NODE_LOOP_WATCH_H

#include <stdint.h>

#include <uv.h>

#define CR_LOOP_SLOW_MS 100 /* an iteration this long is counted, logged */

struct cr_loop_watch {
    uv_prepare_t prepare; /* runs right before the loop waits in poll */
    uint64_t last_ns;     /* uv_hrtime() at the previous prepare */
    uint64_t last_idle_ns; /* uv_metrics_idle_time() then */
    uint64_t last_log_ns;
    uint64_t max_ns;          /* longest iteration's work since start */
    unsigned long long slow;  /* iterations of CR_LOOP_SLOW_MS or more */
};

/* Starts watching @loop; call before uv_run() (idle time is measured
 * only when configured first). 0 or a libuv error. */
int cr_loop_watch_start(struct cr_loop_watch *w, uv_loop_t *loop);

/* Closes the watch's handle; @cb gets it with handle->data as given. */
void cr_loop_watch_close(struct cr_loop_watch *w, uv_close_cb cb, void *data);

#endif /* CERTRAFT_NODE_LOOP_WATCH_H */
