/*
 * io_close_once.h - raft_io's close callback, delivered once.
 *
 * Debian's raft_uv 0.15 can report its close twice: it counts an open
 * segment as closed once it hands it to the finalizer, while the
 * segment's writer is still closing its handles, so the transport's close
 * completing in between fires raft's callback, and the writer's own close
 * fires it again (a double free inside raft; `certnode init` aborted on
 * about one run in fifty). This lets only the first one through. Nothing
 * is freed early by that: certnode releases raft_uv only after its loop
 * has run dry, when the writer is closed too.
 */
#ifndef CERTRAFT_IO_CLOSE_ONCE_H
#define CERTRAFT_IO_CLOSE_ONCE_H

#include <raft.h>

/* Wrap @io->close (set up by raft_uv_init) so that the callback raft
 * passes it runs at most once per close. */
void cr_io_close_once(struct raft_io *io);

#endif /* CERTRAFT_IO_CLOSE_ONCE_H */
