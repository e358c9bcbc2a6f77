/*
 * test_tls_io_close_once.c - raft_io's close callback reaches raft once,
 * however often the I/O backend reports its close (raft_uv 0.15 can do it
 * twice; see io_close_once.h), and each io gets its own callback.
 */
#include <certraft/io_close_once.h>

#include "harness.h"

/* A backend's close method that, like raft_uv's, keeps the callback it
 * is given and reports the close later. */
static raft_io_close_cb backend_cb[2];
static struct raft_io *backend_io[2];
static int backend_closes;

static void backend_close(struct raft_io *io, raft_io_close_cb cb)
{
    backend_io[backend_closes] = io;
    backend_cb[backend_closes] = cb;
    backend_closes++;
}

static int closed_a, closed_b;
static struct raft_io *closed_io;

static void raft_closed_a(struct raft_io *io)
{
    closed_a++;
    closed_io = io;
}

static void raft_closed_b(struct raft_io *io)
{
    (void)io;
    closed_b++;
}

/* A fresh test: counters cleared, @io on the backend and wrapped. */
static void setup(struct raft_io *io)
{
    backend_closes = closed_a = closed_b = 0;
    io->close = backend_close;
    cr_io_close_once(io);
}

TEST(a_close_reported_twice_reaches_raft_once)
{
    struct raft_io io = {0};

    setup(&io);
    io.close(&io, raft_closed_a);
    CHECK_INT(backend_closes, 1);
    CHECK_INT(closed_a, 0); /* not before the backend reports it */
    backend_cb[0](&io);
    backend_cb[0](&io); /* the race: the backend reports again */
    CHECK_INT(closed_a, 1);
    CHECK(closed_io == &io);
}

TEST(each_io_gets_its_own_callback)
{
    struct raft_io a = {0}, b = {0};

    setup(&a);
    setup(&b);
    cr_io_close_once(&b); /* wrapping twice changes nothing */
    a.close(&a, raft_closed_a);
    b.close(&b, raft_closed_b);
    CHECK_INT(backend_closes, 2);
    backend_cb[1](backend_io[1]); /* b first */
    CHECK_INT(closed_a, 0);
    CHECK_INT(closed_b, 1);
    backend_cb[0](backend_io[0]);
    backend_cb[1](backend_io[1]);
    CHECK_INT(closed_a, 1);
    CHECK_INT(closed_b, 1);
}

TEST(an_io_closed_again_after_a_restart_is_reported_again)
{
    struct raft_io io = {0};

    setup(&io);
    io.close(&io, raft_closed_a);
    backend_cb[0](&io);
    backend_closes = 0;
    io.close(&io, raft_closed_a); /* the same io, set up and closed anew */
    backend_cb[0](&io);
    backend_cb[0](&io);
    CHECK_INT(closed_a, 2);
}

TEST(a_close_without_callback_passes_none_on)
{
    struct raft_io io = {0};

    setup(&io);
    io.close(&io, NULL); /* what raft_init() does when it fails */
    CHECK_INT(backend_closes, 1);
    CHECK(backend_cb[0] == NULL);
}

int main(void)
{
    RUN(a_close_reported_twice_reaches_raft_once);
    RUN(each_io_gets_its_own_callback);
    RUN(an_io_closed_again_after_a_restart_is_reported_again);
    RUN(a_close_without_callback_passes_none_on);
    return HARNESS_DONE();
}
