/*
 * proposals.h - client writes appended to the raft log in batches.
 *
 * A proposal is one framed command (cr_fsm_frame) and a callback. The
 * proposals made while the loop handles one round of I/O are appended
 * together when the round ends, as one raft_apply() of n entries: one
 * log write and one AppendEntries per follower for all of them, where
 * each used to cost its own.
 */
#ifndef CERTNODE_PROPOSALS_H
#define CERTNODE_PROPOSALS_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <uv.h>

#include <certraft/state.h>

/* @status 0: the entry at @index was applied, @res says how. Otherwise a
 * raft error code: with @index 0 the entry never reached the log; with
 * an index it may or may not be applied later. */
typedef void (*cr_proposal_cb)(void *data, int status, uint64_t index,
                               const struct cr_apply_result *res);

struct cr_proposal;
struct cr_proposal_batch;

struct cr_proposals {
    struct raft *raft;
    uv_check_t flush;  /* runs the queued proposals after each I/O round */
    uv_idle_t nowait;  /* keeps that round from blocking while queued */
    struct cr_proposal *queue, *queue_tail;
    unsigned queued;
    struct cr_proposal_batch *batches, *batches_tail; /* oldest first */
    bool closed;
    unsigned long long appends; /* raft_apply() calls made */
    unsigned long long entries; /* proposals they carried */
};

int cr_proposals_init(struct cr_proposals *p, uv_loop_t *loop,
                      struct raft *raft);

/* Queue @buf (taken over: raft_malloc'ed) for the next flush. Fails with
 * RAFT_NOTLEADER at once when this node cannot append. */
int cr_proposals_submit(struct cr_proposals *p, struct raft_buffer buf,
                        cr_proposal_cb cb, void *data);

/* To be called for every entry the state machine applies (the fsm's
 * applied callback), synchronously after apply(). */
void cr_proposals_applied(struct cr_proposals *p, uint64_t index,
                          const struct cr_apply_result *res);

/* Fails every proposal still waiting (RAFT_CANCELED) and closes the
 * handles; @close_cb runs once per handle closed (two), with the
 * handle's data set to @close_data. */
void cr_proposals_close(struct cr_proposals *p, uv_close_cb close_cb,
                        void *close_data);

#endif /* CERTNODE_PROPOSALS_H */
