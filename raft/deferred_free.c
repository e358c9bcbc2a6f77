/*
 * deferred_free.c - see deferred_free.h. The queue is a growable array
 * touched only by the loop thread; when it cannot grow, the free happens
 * at once (correct, only not spread out).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <raft.h>

#include <certraft/deferred_free.h>

static struct {
    bool active;
    pthread_t loop_thread;
    uv_check_t check;
    uv_idle_t idle;
    void **queue;
    size_t head, len, cap; /* queue[head..len) waits */
} df;

static bool on_loop_thread(void)
{
    return df.active && pthread_equal(pthread_self(), df.loop_thread);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only there so that poll does not block */
}

static bool enqueue(void *ptr)
{
    if (df.len == df.cap) {
        size_t live = df.len - df.head, cap;
        void **q;
        /* Compact first: room freed at the front is reused. */
        if (df.head > 0 && live < df.cap / 2) {
            for (size_t i = 0; i < live; i++) {
                df.queue[i] = df.queue[df.head + i];
            }
            df.head = 0;
            df.len = live;
        } else {
            cap = df.cap > 0 ? 2 * df.cap : 1024;
            if ((q = realloc(df.queue, cap * sizeof *q)) == NULL) {
                return false;
            }
            df.queue = q;
            df.cap = cap;
        }
    }
    df.queue[df.len++] = ptr;
    if (df.len - df.head == 1) {
        uv_idle_start(&df.idle, on_idle);
    }
    return true;
}

static void drain(size_t budget)
{
    while (df.head < df.len && budget-- > 0) {
        free(df.queue[df.head++]);
    }
    if (df.head == df.len) {
        df.head = df.len = 0;
        uv_idle_stop(&df.idle);
    }
}

static void on_check(uv_check_t *h)
{
    size_t pending = df.len - df.head;

    (void)h;
    /* A share of the backlog, not only a constant: should each
     * iteration queue more than the budget, the queue still cannot
     * grow without bound. */
    drain(pending / CR_DEFERRED_FREE_SHARE > CR_DEFERRED_FREE_BUDGET
              ? pending / CR_DEFERRED_FREE_SHARE
              : CR_DEFERRED_FREE_BUDGET);
}

static void *heap_malloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}

static void heap_free(void *data, void *ptr)
{
    (void)data;
    if (ptr != NULL && (!on_loop_thread() || !enqueue(ptr))) {
        free(ptr);
    }
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    return calloc(nmemb, size);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    return realloc(ptr, size);
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)alignment;
    heap_free(data, ptr);
}

static struct raft_heap heap = {
    .malloc = heap_malloc,
    .free = heap_free,
    .calloc = heap_calloc,
    .realloc = heap_realloc,
    .aligned_alloc = heap_aligned_alloc,
    .aligned_free = heap_aligned_free,
};

int cr_deferred_free_start(uv_loop_t *loop)
{
    int rv;

    if ((rv = uv_check_init(loop, &df.check)) != 0) {
        return rv;
    }
    if ((rv = uv_idle_init(loop, &df.idle)) != 0) {
        uv_close((uv_handle_t *)&df.check, NULL);
        return rv;
    }
    /* Neither keeps the loop alive: they only serve the handles that do. */
    uv_unref((uv_handle_t *)&df.check);
    uv_unref((uv_handle_t *)&df.idle);
    uv_check_start(&df.check, on_check);
    df.loop_thread = pthread_self();
    df.active = true;
    raft_heap_set(&heap);
    return 0;
}

void cr_deferred_free_stop(void)
{
    if (!df.active) {
        return;
    }
    df.active = false;
    drain(SIZE_MAX);
    free(df.queue);
    df.queue = NULL;
    df.head = df.len = df.cap = 0;
    /* Raft's heap stays ours (it frees at once now): buffers raft still
     * holds were allocated through it. */
    uv_close((uv_handle_t *)&df.check, NULL);
    uv_close((uv_handle_t *)&df.idle, NULL);
}

size_t cr_deferred_free_pending(void)
{
    return df.len - df.head;
}
