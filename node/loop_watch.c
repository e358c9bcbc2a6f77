/*
 * loop_watch.c - see loop_watch.h. One uv_prepare handle: between two of
 * its calls the loop waited in poll once (libuv counts that time as
 * idle) and ran every callback of one iteration; the rest is work.
 */
#include <stdio.h>

#include "loop_watch.h"

#define NS_PER_MS 1000000ull

static void on_prepare(uv_prepare_t *h)
{
    struct cr_loop_watch *w = h->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(h->loop);
    uint64_t span = now - w->last_ns, waited = idle - w->last_idle_ns;
    uint64_t busy = span > waited ? span - waited : 0;

    w->last_ns = now;
    w->last_idle_ns = idle;
    if (busy > w->max_ns) {
        w->max_ns = busy;
    }
    if (busy < CR_LOOP_SLOW_MS * NS_PER_MS) {
        return;
    }
    w->slow++;
    if (now - w->last_log_ns >= 1000 * NS_PER_MS) {
        w->last_log_ns = now;
        fprintf(stderr,
                "certnode: the event loop worked %llu ms without polling "
                "(%llu such iterations since start; nothing is read, "
                "replicated or answered meanwhile)\n",
                (unsigned long long)(busy / NS_PER_MS), w->slow);
    }
}

int cr_loop_watch_start(struct cr_loop_watch *w, uv_loop_t *loop)
{
    int rv = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);

    if (rv != 0 || (rv = uv_prepare_init(loop, &w->prepare)) != 0) {
        return rv;
    }
    w->prepare.data = w;
    w->last_ns = uv_hrtime();
    w->last_idle_ns = uv_metrics_idle_time(loop);
    w->last_log_ns = 0;
    w->max_ns = 0;
    w->slow = 0;
    rv = uv_prepare_start(&w->prepare, on_prepare);
    /* It alone must not keep the loop alive once everything else closed. */
    uv_unref((uv_handle_t *)&w->prepare);
    return rv;
}

void cr_loop_watch_close(struct cr_loop_watch *w, uv_close_cb cb, void *data)
{
    w->prepare.data = data;
    uv_close((uv_handle_t *)&w->prepare, cb);
}
