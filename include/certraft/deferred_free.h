/*
 * deferred_free.h - raft's heap, with the frees made on the event loop
 * spread over its iterations.
 *
 * When a snapshot completes, raft releases every log entry it covers at
 * once: tens of thousands of buffers, freed in one loop iteration. Each
 * lives on a page that the snapshot's fork left write-protected, so each
 * free also takes a page fault; at 100k+ certificates that iteration
 * held the loop for 80-130 ms (measured with perf: _int_free under
 * page faults), with nothing read, replicated or answered meanwhile.
 * Here a free on the loop thread only queues the pointer; a check handle
 * frees CR_DEFERRED_FREE_BUDGET of them, or a CR_DEFERRED_FREE_SHARE-th
 * of the queue when that is more, after each iteration's poll, and an
 * idle handle keeps the loop from sleeping while some remain. Frees
 * from other threads (raft's pool) happen at once.
 */
#ifndef CERTRAFT_DEFERRED_FREE_H
#define CERTRAFT_DEFERRED_FREE_H

#include <stddef.h>

#include <uv.h>

/* Buffers freed per loop iteration: ~1 ms even when each faults ... */
#define CR_DEFERRED_FREE_BUDGET 512u
/* ... or 1/16 of the queue when that is more (a snapshot at the largest
 * spacing releases ~128k entries: 8k in the first iteration). */
#define CR_DEFERRED_FREE_SHARE 16u

/* Install the heap for the calling thread's loop @loop (one per process:
 * raft's heap is global). 0, or a libuv error code (nothing installed). */
int cr_deferred_free_start(uv_loop_t *loop);

/* Free everything queued and close the handles (the loop must run once
 * more to finish closing them); from then on every free happens at once. */
void cr_deferred_free_stop(void);

/* Pointers queued and not yet freed. */
size_t cr_deferred_free_pending(void);

#endif
