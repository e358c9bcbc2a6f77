/*
 * test_deferred_free.c - raft's heap that spreads the loop thread's
 * frees over loop iterations (raft/deferred_free.c): at most the budget
 * per iteration, the loop kept from sleeping while frees wait, other
 * threads' frees done at once, and everything freed at stop (the ASan
 * build reports any buffer left behind).
 */
#include <pthread.h>

#include <raft.h>
#include <uv.h>

#include <certraft/deferred_free.h>

#include "harness.h"

#define N 2000u

static void *free_one(void *p)
{
    raft_free(p); /* not the loop thread: freed at once */
    return NULL;
}

static void on_never(uv_timer_t *t)
{
    (void)t;
}

TEST(test_spread_over_iterations)
{
    uv_loop_t loop;
    uv_timer_t far;
    pthread_t th;
    void *p;
    size_t before, iterations = 0;
    uint64_t t0;

    CHECK_INT(uv_loop_init(&loop), 0);
    CHECK_INT(cr_deferred_free_start(&loop), 0);
    for (unsigned i = 0; i < N; i++) {
        raft_free(raft_malloc(64 + i));
    }
    CHECK_INT(cr_deferred_free_pending(), N);

    p = raft_malloc(100);
    CHECK_INT(pthread_create(&th, NULL, free_one, p), 0);
    pthread_join(th, NULL);
    CHECK_INT(cr_deferred_free_pending(), N);

    /* A timer 60 s away: were the loop allowed to sleep, UV_RUN_ONCE
     * would wait for it instead of returning. */
    uv_timer_init(&loop, &far);
    uv_timer_start(&far, on_never, 60000, 0);
    t0 = uv_hrtime();
    while (cr_deferred_free_pending() > 0 && iterations < N) {
        before = cr_deferred_free_pending();
        uv_run(&loop, UV_RUN_ONCE);
        iterations++;
        CHECK(before - cr_deferred_free_pending() <= CR_DEFERRED_FREE_BUDGET);
    }
    CHECK_INT(cr_deferred_free_pending(), 0);
    CHECK_INT(iterations, (N + CR_DEFERRED_FREE_BUDGET - 1) /
                              CR_DEFERRED_FREE_BUDGET);
    CHECK(uv_hrtime() - t0 < 30000000000ull); /* never slept until the timer */

    /* A long queue drains by a share of it per iteration. */
    for (unsigned i = 0; i < 16 * N; i++) {
        raft_free(raft_malloc(16));
    }
    uv_run(&loop, UV_RUN_ONCE);
    CHECK_INT(cr_deferred_free_pending(),
              16 * N - 16 * N / CR_DEFERRED_FREE_SHARE);
    while (cr_deferred_free_pending() > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }

    /* Queued at stop: freed there. */
    for (unsigned i = 0; i < 10; i++) {
        raft_free(raft_malloc(32));
    }
    CHECK_INT(cr_deferred_free_pending(), 10);
    cr_deferred_free_stop();
    CHECK_INT(cr_deferred_free_pending(), 0);
    /* After stop, frees on the loop thread happen at once too. */
    raft_free(raft_malloc(16));
    CHECK_INT(cr_deferred_free_pending(), 0);

    uv_close((uv_handle_t *)&far, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    RUN(test_spread_over_iterations);
    return HARNESS_DONE();
}
