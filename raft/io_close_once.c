/*
 * io_close_once.c - raft_io's close callback, delivered once (see
 * io_close_once.h for the raft_uv 0.15 race it guards against).
 *
 * io->data belongs to raft and io->impl to raft_uv, so what a close
 * needs is found by the io's address in a small table. An entry is freed
 * when its callback fires: a late second report then finds none and is
 * dropped.
 */
#include <stddef.h>

#include <certraft/io_close_once.h>

#define MAX_IOS 16 /* raft instances closing at once in one process */

struct closing {
    struct raft_io *io;
    raft_io_close_cb cb;
};

static struct closing closing[MAX_IOS];
static void (*uv_close_method)(struct raft_io *io, raft_io_close_cb cb);

static void closed_once(struct raft_io *io)
{
    for (size_t i = 0; i < MAX_IOS; i++) {
        if (closing[i].io == io) {
            raft_io_close_cb cb = closing[i].cb;
            closing[i].io = NULL;
            cb(io);
            return;
        }
    }
}

static void close_once(struct raft_io *io, raft_io_close_cb cb)
{
    if (cb == NULL) {
        /* raft_init() closes an io it could not finish setting up without
         * a callback: nothing to deliver, once or twice. */
        uv_close_method(io, NULL);
        return;
    }
    for (size_t i = 0; i < MAX_IOS; i++) {
        if (closing[i].io == NULL || closing[i].io == io) {
            closing[i].io = io;
            closing[i].cb = cb;
            uv_close_method(io, closed_once);
            return;
        }
    }
    uv_close_method(io, cb); /* unguarded rather than not closed */
}

void cr_io_close_once(struct raft_io *io)
{
    if (io->close != close_once) {
        uv_close_method = io->close; /* raft_uv's, the same for every io */
        io->close = close_once;
    }
}
