/*
 * snapshot_child.h - encoding a snapshot in a forked copy of the process.
 *
 * apply() changes the registry in place on the loop thread, so a
 * snapshot encoded by the loop stops every write for as long as encoding
 * takes (1.75 s at a million certificates: longer than an election
 * timeout). fork() gives a frozen, copy-on-write view of the state for
 * the price of copying page tables; the child encodes and compresses it
 * into a pipe and exits, and a pool thread collects the LZ4 frame as
 * chunks for raft.
 */
#ifndef CERTRAFT_RAFT_SNAPSHOT_CHILD_H
#define CERTRAFT_RAFT_SNAPSHOT_CHILD_H

#include <raft.h>

#include <certraft/fsm.h>
#include <certraft/state.h>

/* On the loop thread: fork a child that encodes @st. 0 or a RAFT_ code. */
int cr_snapshot_child_start(struct cr_snapshot_child *c,
                            const struct cr_state *st);

/* On any thread: read the child's LZ4 frame into chunks of at most
 * @chunk bytes (malloc'ed, and the array too; the first holds the frame
 * header) and reap it. 0, or RAFT_IOERR when the
 * child failed; nothing is returned then. */
int cr_snapshot_child_collect(struct cr_snapshot_child *c, size_t chunk,
                              struct raft_buffer **bufs, unsigned *n_bufs);

/* On the loop thread: kills the child if one runs (a collect under way
 * then sees the pipe end and fails). Safe whenever: the child is named
 * by a pidfd, which a reaped and recycled pid cannot fool. */
void cr_snapshot_child_abort(struct cr_snapshot_child *c);

/* On the loop thread, once no collect can be running (finalize, close):
 * closes the pidfd. */
void cr_snapshot_child_release(struct cr_snapshot_child *c);

/* Frees what collect returned. */
void cr_snapshot_chunks_free(struct raft_buffer *v, unsigned n);

#endif /* CERTRAFT_RAFT_SNAPSHOT_CHILD_H */
