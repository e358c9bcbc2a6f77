/*
 * test_loop_watch.c - the event loop's longest iteration (node/
 * loop_watch.c): work between two polls is counted, waiting in poll is
 * not, and only iterations of CR_LOOP_SLOW_MS or more count as slow.
 */
#include <stdint.h>

#include <uv.h>

#include "../node/loop_watch.h"
#include "harness.h"

struct step {
    uint64_t busy_ms; /* work done in this timer's callback */
    uint64_t next_ms; /* idle wait before the next step; 0: last */
};

static const struct step steps[] = {
    {120, 400}, /* slow, then a long wait that is not work */
    {50, 50},   /* work, not slow */
    {0, 0},
};

struct run {
    uv_timer_t timer;
    struct cr_loop_watch watch;
    size_t i;
};

static void spin(uint64_t ms)
{
    uint64_t end = uv_hrtime() + ms * 1000000ull;

    while (uv_hrtime() < end) {
    }
}

static void closed(uv_handle_t *h)
{
    (void)h;
}

static void on_timer(uv_timer_t *t)
{
    struct run *r = t->data;
    const struct step *s = &steps[r->i++];

    spin(s->busy_ms);
    if (s->next_ms > 0) {
        uv_timer_start(t, on_timer, s->next_ms, 0);
    } else {
        uv_close((uv_handle_t *)t, closed);
        cr_loop_watch_close(&r->watch, closed, NULL);
    }
}

TEST(test_work_counted_waits_not)
{
    uv_loop_t loop;
    struct run r = {.i = 0};

    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(cr_loop_watch_start(&r.watch, &loop), 0);
    CHECK_INT(uv_timer_init(&loop, &r.timer), 0);
    r.timer.data = &r;
    CHECK_INT(uv_timer_start(&r.timer, on_timer, 10, 0), 0);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_INT(r.i, 3);
    /* The 120 ms of work, not the 400 ms spent waiting after it. */
    CHECK(r.watch.max_ns >= 120 * 1000000ull);
    CHECK(r.watch.max_ns < 300 * 1000000ull);
    CHECK_INT(r.watch.slow, 1);
    CHECK_INT(uv_loop_close(&loop), 0);
}

/* The watch alone does not keep a loop running. */
TEST(test_does_not_hold_the_loop)
{
    uv_loop_t loop;
    struct cr_loop_watch w;

    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(cr_loop_watch_start(&w, &loop), 0);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_loop_watch_close(&w, closed, NULL);
    CHECK_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_work_counted_waits_not);
    RUN(test_does_not_hold_the_loop);
    return HARNESS_DONE();
}
