/*
 * proposals.c - client writes appended to the raft log in batches.
 *
 * Requests that arrive in one round of I/O are queued; a uv_check handle
 * (run right after the round) appends them as one raft_apply() of up to
 * BATCH_MAX entries. On a loaded leader that turns n log writes, n
 * AppendEntries per follower and their TLS records into one each.
 *
 * raft 0.15 completes a multi-entry raft_apply() when its *first* entry
 * is applied, so every proposal is answered from the state machine's
 * applied callback instead, synchronously after its own entry's apply()
 * (handlers read state that the next entry may change). The entry at
 * index i is the one this node appended if it is still the leader of the
 * term it appended it in: a leader never overwrites its own entries. If
 * it is not, the outcome is unknown and the client is told so, exactly
 * as when raft itself reports that leadership was lost.
 */
#include <stdlib.h>
#include <string.h>

#include "proposals.h"

#define BATCH_MAX 128                 /* entries per raft_apply() */
#define BATCH_MAX_BYTES (1024 * 1024) /* and bytes, beyond the first */

struct cr_proposal {
    struct cr_proposal *next;
    struct raft_buffer buf;
    cr_proposal_cb cb;
    void *data;
};

struct batch_item {
    cr_proposal_cb cb; /* NULL once answered */
    void *data;
};

struct cr_proposal_batch {
    struct raft_apply req; /* raft holds it until batch_appended_cb */
    struct cr_proposals *owner;
    struct cr_proposal_batch *next;
    raft_term term;
    uint64_t first; /* index of items[0] */
    unsigned n;
    unsigned unanswered;
    bool req_done;
    struct batch_item items[];
};

static void answer(struct cr_proposal_batch *b, unsigned i, int status,
                   const struct cr_apply_result *res)
{
    struct batch_item it = b->items[i];

    if (it.cb == NULL) {
        return;
    }
    b->items[i].cb = NULL;
    b->unanswered--;
    it.cb(it.data, status, b->first + i, res);
}

static void fail_batch(struct cr_proposal_batch *b, int status)
{
    for (unsigned i = 0; i < b->n; i++) {
        answer(b, i, status, NULL);
    }
}

/* Frees the finished batches at the head of the list (raft is done with
 * their request and every item is answered). */
static void sweep(struct cr_proposals *p)
{
    while (p->batches != NULL && p->batches->req_done &&
           p->batches->unanswered == 0) {
        struct cr_proposal_batch *b = p->batches;
        p->batches = b->next;
        if (p->batches == NULL) {
            p->batches_tail = NULL;
        }
        free(b);
    }
}

static bool still_leader_of(const struct cr_proposals *p, raft_term term)
{
    return raft_state(p->raft) == RAFT_LEADER &&
           p->raft->current_term == term;
}

static void batch_appended_cb(struct raft_apply *req, int status,
                              void *result)
{
    struct cr_proposal_batch *b = req->data;
    struct cr_proposals *p = b->owner;

    (void)result;
    b->req_done = true;
    if (status != 0) {
        fail_batch(b, status);
    }
    sweep(p);
}

/* A leader that lost its term answers whatever it still waits for: the
 * entries may be overwritten, and may never be applied here. */
static void fail_lost_batches(struct cr_proposals *p)
{
    struct cr_proposal_batch *b;

    for (b = p->batches; b != NULL; b = b->next) {
        if (b->unanswered > 0 && !still_leader_of(p, b->term)) {
            fail_batch(b, RAFT_LEADERSHIPLOST);
        }
    }
    sweep(p);
}

static struct cr_proposal *queue_pop(struct cr_proposals *p)
{
    struct cr_proposal *q = p->queue;

    p->queue = q->next;
    if (p->queue == NULL) {
        p->queue_tail = NULL;
    }
    p->queued--;
    return q;
}

/* Appends up to BATCH_MAX queued proposals as one batch. */
static void append_batch(struct cr_proposals *p)
{
    struct raft_buffer bufs[BATCH_MAX] = {{0}};
    struct cr_proposal *taken[BATCH_MAX];
    struct cr_proposal_batch *b;
    size_t bytes = 0;
    unsigned n = 0, i;
    int rv;

    while (p->queue != NULL && n < BATCH_MAX &&
           (n == 0 || bytes + p->queue->buf.len <= BATCH_MAX_BYTES)) {
        taken[n] = queue_pop(p);
        bufs[n] = taken[n]->buf;
        bytes += bufs[n].len;
        n++;
    }
    b = calloc(1, sizeof *b + n * sizeof b->items[0]);
    rv = b == NULL ? RAFT_NOMEM : 0;
    if (rv == 0) {
        b->owner = p;
        b->n = b->unanswered = n;
        b->term = p->raft->current_term;
        b->req.data = b;
        for (i = 0; i < n; i++) {
            b->items[i].cb = taken[i]->cb;
            b->items[i].data = taken[i]->data;
        }
        rv = raft_apply(p->raft, &b->req, bufs, n, batch_appended_cb);
    }
    if (rv != 0) {
        free(b);
        for (i = 0; i < n; i++) {
            raft_free(bufs[i].base);
            taken[i]->cb(taken[i]->data, rv, 0, NULL);
            free(taken[i]);
        }
        return;
    }
    b->first = b->req.index;
    p->appends++;
    p->entries += n;
    if (p->batches_tail != NULL) {
        p->batches_tail->next = b;
    } else {
        p->batches = b;
    }
    p->batches_tail = b;
    for (i = 0; i < n; i++) {
        free(taken[i]); /* raft owns the buffers now */
    }
}

static void flush_cb(uv_check_t *check)
{
    struct cr_proposals *p = check->data;

    fail_lost_batches(p);
    while (p->queue != NULL) {
        append_batch(p);
    }
    uv_idle_stop(&p->nowait);
}

static void nowait_cb(uv_idle_t *idle)
{
    (void)idle; /* only there so that the loop does not block */
}

int cr_proposals_init(struct cr_proposals *p, uv_loop_t *loop,
                      struct raft *raft)
{
    int rv;

    memset(p, 0, sizeof *p);
    p->raft = raft;
    rv = uv_check_init(loop, &p->flush);
    if (rv == 0) {
        rv = uv_idle_init(loop, &p->nowait);
    }
    if (rv == 0) {
        p->flush.data = p->nowait.data = p;
        rv = uv_check_start(&p->flush, flush_cb);
    }
    return rv;
}

int cr_proposals_submit(struct cr_proposals *p, struct raft_buffer buf,
                        cr_proposal_cb cb, void *data)
{
    struct cr_proposal *q;

    if (p->closed || raft_state(p->raft) != RAFT_LEADER) {
        return RAFT_NOTLEADER;
    }
    q = calloc(1, sizeof *q);
    if (q == NULL) {
        return RAFT_NOMEM;
    }
    q->buf = buf;
    q->cb = cb;
    q->data = data;
    if (p->queue_tail != NULL) {
        p->queue_tail->next = q;
    } else {
        p->queue = q;
    }
    p->queue_tail = q;
    p->queued++;
    uv_idle_start(&p->nowait, nowait_cb);
    return 0;
}

void cr_proposals_applied(struct cr_proposals *p, uint64_t index,
                          const struct cr_apply_result *res)
{
    struct cr_proposal_batch *b;

    for (b = p->batches; b != NULL && index >= b->first; b = b->next) {
        if (res == NULL) {
            /* A snapshot replaced the state up to @index: whatever was
             * waiting there was not applied by this node. */
            for (unsigned i = 0; i < b->n && b->first + i <= index; i++) {
                answer(b, i, RAFT_LEADERSHIPLOST, NULL);
            }
        } else if (index < b->first + b->n) {
            bool ours = still_leader_of(p, b->term);
            answer(b, (unsigned)(index - b->first),
                   ours ? 0 : RAFT_LEADERSHIPLOST, ours ? res : NULL);
            break;
        }
    }
    sweep(p);
}

void cr_proposals_close(struct cr_proposals *p, uv_close_cb close_cb,
                        void *close_data)
{
    struct cr_proposal_batch *b;

    p->closed = true;
    while (p->queue != NULL) {
        struct cr_proposal *q = queue_pop(p);
        raft_free(q->buf.base);
        q->cb(q->data, RAFT_CANCELED, 0, NULL);
        free(q);
    }
    for (b = p->batches; b != NULL; b = b->next) {
        fail_batch(b, RAFT_CANCELED);
    }
    sweep(p); /* the rest goes when raft cancels their requests */
    p->flush.data = p->nowait.data = close_data;
    uv_close((uv_handle_t *)&p->flush, close_cb);
    uv_close((uv_handle_t *)&p->nowait, close_cb);
}
