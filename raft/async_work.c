/*
 * async_work.c - raft_io's async_work on libuv's thread pool (see
 * async_work.h).
 *
 * io->data belongs to raft (raft_init points it at the struct raft) and
 * io->impl to raft_uv, so the loop and the closing flag are file state:
 * a process runs one raft instance.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <certraft/async_work.h>

static struct async_ctx {
    uv_loop_t *loop;
    bool canceled;
} ctx;

struct work {
    uv_work_t uv;
    struct raft_io_async_work *req;
    int status;
};

static void work_run(uv_work_t *uv)
{
    struct work *w = uv->data;
    w->status = w->req->work(w->req);
}

static void work_done(uv_work_t *uv, int status)
{
    struct work *w = uv->data;
    struct raft_io_async_work *req = w->req;
    int rv = w->status;

    if (status != 0 || ctx.canceled) {
        rv = RAFT_CANCELED;
    }
    free(w);
    req->cb(req, rv);
}

static int async_work(struct raft_io *io, struct raft_io_async_work *req,
                      raft_io_async_work_cb cb)
{
    struct work *w;
    int rv;

    (void)io;
    if (ctx.canceled) {
        return RAFT_CANCELED;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        return RAFT_NOMEM;
    }
    req->cb = cb;
    w->req = req;
    w->uv.data = w;
    rv = uv_queue_work(ctx.loop, &w->uv, work_run, work_done);
    if (rv != 0) {
        free(w);
        return RAFT_IOERR;
    }
    return 0;
}

void cr_async_work_enable(struct raft_io *io, uv_loop_t *loop)
{
    ctx.loop = loop;
    ctx.canceled = false;
    io->version = 2;
    io->async_work = async_work;
}

void cr_async_work_cancel(struct raft_io *io)
{
    (void)io;
    ctx.canceled = true;
}
