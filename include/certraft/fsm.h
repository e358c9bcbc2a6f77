/*
 * fsm.h - canonical raft's state machine, backed by the core's cr_state.
 *
 * raft calls apply() for each committed entry on every node; the result a
 * leader's proposer needs is kept in a small ring keyed by log index, so it
 * survives until the proposer's callback reads it (raft only hands results
 * to requests made on this node, and frees nothing of ours). Snapshots are
 * the core's msgpack encoding of the whole state as an LZ4 frame, made by
 * a forked child and handed to raft in chunks of at most 4 MiB; restore
 * takes the frame (or, from before frames, the bare state). The free
 * memory they leave is trimmed after each snapshot and restore.
 */
#ifndef CERTRAFT_FSM_H
#define CERTRAFT_FSM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <raft.h>

#include <certraft/state.h>

#define CR_FSM_RESULT_SLOTS 4096

struct cr_fsm_slot {
    uint64_t index;
    struct cr_apply_result result;
};

/* The forked child encoding a snapshot (raft/snapshot_child.c). */
struct cr_snapshot_child {
    pid_t pid; /* 0: none running */
    int fd;    /* read end of its pipe */
    int pidfd; /* the child, safe to signal until closed; -1: none */
};

struct cr_fsm;
/* Called after every entry the state machine applies (and after a
 * snapshot restore, with index = the snapshot's index and res NULL). */
typedef void (*cr_fsm_applied_cb)(struct cr_fsm *fsm, uint64_t index,
                                  const struct cr_apply_result *res);

struct cr_fsm {
    struct raft_fsm raft_fsm; /* pass &fsm->raft_fsm to raft_init() */
    struct raft *raft;        /* set before raft_start(): gives the index */
    struct cr_state *state;   /* owned */
    cr_fsm_applied_cb applied_cb;
    void *data;
    bool starting; /* set around raft_start(): restores then are local */
    uint64_t snapshots_taken;
    uint64_t snapshots_restored;  /* loaded from disk at start */
    uint64_t snapshots_installed; /* sent by a leader to catch up */
    uint64_t snapshot_max_ms; /* longest a snapshot held the loop */
    struct cr_snapshot_child child;
    struct cr_fsm_slot slots[CR_FSM_RESULT_SLOTS];
};

/* Wrap an encoded command for raft_apply(): an 8-byte little-endian
 * length, the bytes, zero padding to a multiple of 8. raft 0.15's segment
 * loader assumes 8-byte-aligned entries (its writer pads, its reader does
 * not skip the padding), so every entry must be aligned already. @out's
 * base is raft_malloc'ed. Returns 0 or RAFT_NOMEM. */
int cr_fsm_frame(const void *data, size_t len, struct raft_buffer *out);

int cr_fsm_init(struct cr_fsm *fsm);
/* Process-wide malloc settings for snapshot-sized buffers; a daemon
 * calls it once at start. */
void cr_fsm_tune_malloc(void);
void cr_fsm_close(struct cr_fsm *fsm);

/* On the loop thread, when the node stops: kills a snapshot encoder
 * still running, so that neither raft's close (which waits for the
 * collecting pool thread) nor the process waits for it. The snapshot
 * then fails, as any snapshot interrupted by a stop. */
void cr_fsm_snapshot_abort(struct cr_fsm *fsm);

/* The result of applying the entry at @index, if still in the ring. */
const struct cr_apply_result *cr_fsm_result(const struct cr_fsm *fsm,
                                            uint64_t index);

#endif /* CERTRAFT_FSM_H */
