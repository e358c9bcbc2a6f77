/*
 * async_work.h - raft_io's async_work for the libuv I/O of raft 0.15.
 *
 * raft runs an fsm's snapshot_async() through io->async_work, which
 * Debian's raft 0.15 declares but its raft_uv does not provide (its io is
 * version 1). This supplies it on libuv's thread pool, so that snapshots
 * are encoded off the loop (raft/snapshot_child.c).
 */
#ifndef CERTRAFT_ASYNC_WORK_H
#define CERTRAFT_ASYNC_WORK_H

#include <raft.h>
#include <uv.h>

/* Give @io (set up by raft_uv_init on @loop) an async_work method. */
void cr_async_work_enable(struct raft_io *io, uv_loop_t *loop);

/* From now on, work that finishes reports RAFT_CANCELED rather than its
 * result: raft is closing and must not start writing what it produced. */
void cr_async_work_cancel(struct raft_io *io);

#endif /* CERTRAFT_ASYNC_WORK_H */
