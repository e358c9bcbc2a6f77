/*
 * test_fsm.c - the raft_fsm's snapshot and restore callbacks: snapshot()
 * forks a child that encodes the state as it was then, snapshot_async()
 * collects it as buffers of at most 4 MiB: an LZ4 frame whose header
 * gives its size, as raft's loader requires, and whose content is
 * exactly the core's snapshot bytes (whatever the loop applied
 * meanwhile); finalize releases them, and those bytes restore an equal
 * state through restore(), framed as raft stores and sends them or bare
 * as snapshots were before frames; a damaged frame changes nothing.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <lz4frame.h>

#include <certraft/fsm.h>

#include "core_test_certs.h"
#include "harness.h"

#define CHUNK ((size_t)4 << 20)

/* ~9 MiB of documents of random letters, which LZ4 cannot shrink:
 * three chunks. @admin_out, when not NULL, gets
 * the administrator's certificate (the caller frees it). */
static void fill(struct cr_state *st, struct tcert *admin_out)
{
    struct tcert cl = tcert_cluster("cluster"), admin = tcert_client(&cl, "a", 9);
    size_t n = 3u << 20;
    char *json = malloc(n + 3);

    tbootstrap(st, &cl, &admin);
    tdb(st, &admin, CR_CMD_DB_PUT, "big");
    json[0] = '"';
    srand(7);
    for (size_t i = 1; i <= n; i++) {
        json[i] = (char)('a' + rand() % 26);
    }
    json[n + 1] = '"';
    json[n + 2] = '\0';
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "d%d", i);
        json[1] = (char)('a' + i);
        CHECK_INT(tdoc(st, &admin, "big", id, json), CR_OK);
    }
    free(json);
    tcert_free(&cl);
    if (admin_out != NULL) {
        *admin_out = admin;
    } else {
        tcert_free(&admin);
    }
}

/* What raft's snapshot loader does with the frame: the content size
 * from the header, then the whole content, its checksum verified. */
static struct cr_buf unframe(struct cr_buf framed)
{
    LZ4F_dctx *d;
    LZ4F_frameInfo_t info;
    size_t hdr = framed.len, out_len, in_len;
    struct cr_buf out = {NULL, 0, 0};

    CHECK(framed.len > 4 && memcmp(framed.data, "\x04\x22\x4d\x18", 4) == 0);
    CHECK(!LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
    CHECK(!LZ4F_isError(LZ4F_getFrameInfo(d, &info, framed.data, &hdr)));
    CHECK(info.contentSize > 0);
    out.data = raft_malloc(info.contentSize); /* restore() takes raft's */
    out.cap = out.len = info.contentSize;
    out_len = out.len;
    in_len = framed.len - hdr;
    /* 0: the frame ended, its checksum matched, every byte was used */
    CHECK_INT(LZ4F_decompress(d, out.data, &out_len, framed.data + hdr,
                              &in_len, NULL),
              0);
    CHECK_INT(out_len, out.len);
    CHECK_INT(in_len, framed.len - hdr);
    LZ4F_freeDecompressionContext(d);
    raft_free(framed.data);
    return out;
}

static struct cr_buf concat(const struct raft_buffer *bufs, unsigned n)
{
    struct cr_buf out = {NULL, 0, 0};
    size_t len = 0;

    for (unsigned i = 0; i < n; i++) {
        len += bufs[i].len;
    }
    out.data = raft_malloc(len); /* restore() takes raft's buffers */
    for (unsigned i = 0; i < n; i++) {
        memcpy(out.data + out.len, bufs[i].base, bufs[i].len);
        out.len += bufs[i].len;
    }
    out.cap = len;
    return out;
}

TEST(test_snapshot_in_chunks_restores)
{
    struct cr_fsm *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    struct cr_buf want, got;
    struct tcert admin;

    CHECK_INT(cr_fsm_init(a), 0);
    CHECK_INT(cr_fsm_init(b), 0);
    fill(a->state, &admin);
    want = tsnap(a->state);
    CHECK(want.len > 2 * CHUNK && want.len < 3 * CHUNK);

    CHECK_INT(a->raft_fsm.snapshot(&a->raft_fsm, &bufs, &n), 0);
    CHECK(bufs == NULL && n == 0); /* the child is encoding */
    /* The loop goes on applying; the snapshot is of the state before. */
    CHECK_INT(tdb(a->state, &admin, CR_CMD_DB_PUT, "after-the-fork"), CR_OK);
    CHECK_INT(a->raft_fsm.snapshot_async(&a->raft_fsm, &bufs, &n), 0);
    CHECK_INT(n, 4); /* the header, then three chunks */
    CHECK(bufs[0].len < 32);
    CHECK_INT(bufs[1].len, CHUNK);
    CHECK_INT(bufs[2].len, CHUNK);
    got = unframe(concat(bufs, n));
    CHECK(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    CHECK_INT(a->snapshots_taken, 0); /* counted on the loop, at finalize */
    CHECK_INT(a->raft_fsm.snapshot_finalize(&a->raft_fsm, &bufs, &n), 0);
    CHECK(bufs == NULL && n == 0);
    CHECK_INT(a->snapshots_taken, 1);

    /* restore() frees raft's buffer when it succeeds. */
    {
        struct raft_buffer rb = {got.data, got.len};
        CHECK_INT(b->raft_fsm.restore(&b->raft_fsm, &rb), 0);
    }
    CHECK(!cr_state_equal(a->state, b->state)); /* a moved on */
    {
        struct raft_buffer rb = {raft_malloc(want.len), want.len};
        struct cr_fsm *c = malloc(sizeof *c);
        memcpy(rb.base, want.data, want.len);
        CHECK_INT(cr_fsm_init(c), 0);
        CHECK_INT(c->raft_fsm.restore(&c->raft_fsm, &rb), 0);
        CHECK(cr_state_equal(b->state, c->state));
        cr_fsm_close(c);
        free(c);
    }
    CHECK_INT(b->snapshots_installed, 1);

    cr_buf_free(&want);
    tcert_free(&admin);
    cr_fsm_close(a);
    cr_fsm_close(b);
    free(a);
    free(b);
}

TEST(test_small_state_one_chunk)
{
    struct cr_fsm *a = malloc(sizeof *a);
    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    struct cr_buf want, got;

    CHECK_INT(cr_fsm_init(a), 0);
    want = tsnap(a->state);
    CHECK_INT(a->raft_fsm.snapshot(&a->raft_fsm, &bufs, &n), 0);
    CHECK_INT(a->raft_fsm.snapshot_async(&a->raft_fsm, &bufs, &n), 0);
    CHECK_INT(n, 2); /* the header, then one chunk */
    got = unframe(concat(bufs, n));
    CHECK(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
    CHECK_INT(a->raft_fsm.snapshot_finalize(&a->raft_fsm, &bufs, &n), 0);
    raft_free(got.data);
    cr_buf_free(&want);
    cr_fsm_close(a);
    free(a);
}

TEST(test_restore_takes_the_frame)
{
    struct cr_fsm *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    struct raft_buffer *bufs = NULL, rb;
    unsigned n = 0;
    struct cr_buf framed, bad;

    CHECK_INT(cr_fsm_init(a), 0);
    CHECK_INT(cr_fsm_init(b), 0);
    fill(a->state, NULL);
    CHECK_INT(a->raft_fsm.snapshot(&a->raft_fsm, &bufs, &n), 0);
    CHECK_INT(a->raft_fsm.snapshot_async(&a->raft_fsm, &bufs, &n), 0);
    framed = concat(bufs, n);
    CHECK_INT(a->raft_fsm.snapshot_finalize(&a->raft_fsm, &bufs, &n), 0);

    /* One byte of the content changed: the checksum catches it. */
    bad.data = raft_malloc(framed.len);
    bad.len = framed.len;
    memcpy(bad.data, framed.data, framed.len);
    bad.data[framed.len / 2] ^= 0x20;
    rb = (struct raft_buffer){bad.data, bad.len};
    CHECK_INT(b->raft_fsm.restore(&b->raft_fsm, &rb), RAFT_CORRUPT);
    CHECK(!cr_state_equal(a->state, b->state));
    /* Cut short: no end mark. */
    rb = (struct raft_buffer){bad.data, framed.len - 9};
    memcpy(bad.data, framed.data, framed.len);
    CHECK_INT(b->raft_fsm.restore(&b->raft_fsm, &rb), RAFT_CORRUPT);
    raft_free(bad.data); /* on failure raft frees it */
    CHECK_INT(b->snapshots_installed, 0);

    rb = (struct raft_buffer){framed.data, framed.len};
    CHECK_INT(b->raft_fsm.restore(&b->raft_fsm, &rb), 0);
    CHECK(cr_state_equal(a->state, b->state));
    CHECK_INT(b->snapshots_installed, 1);
    cr_fsm_close(a);
    cr_fsm_close(b);
    free(a);
    free(b);
}

/* A stop while the encoder has not finished (on a loaded machine a
 * child at nice 10 gets little CPU): the stop kills it, and the
 * collection raft's close waits for ends at once, as a failure. */
TEST(test_abort_kills_a_stalled_encoder)
{
    struct cr_fsm *a = malloc(sizeof *a);
    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    int status = 0;

    CHECK_INT(cr_fsm_init(a), 0);
    fill(a->state, NULL);
    CHECK_INT(a->raft_fsm.snapshot(&a->raft_fsm, &bufs, &n), 0);
    /* Starved: it makes no progress until killed. */
    CHECK_INT(kill(a->child.pid, SIGSTOP), 0);
    CHECK_INT(waitpid(a->child.pid, &status, WUNTRACED), a->child.pid);
    CHECK(WIFSTOPPED(status));
    cr_fsm_snapshot_abort(a);
    CHECK_INT(a->raft_fsm.snapshot_async(&a->raft_fsm, &bufs, &n), RAFT_IOERR);
    CHECK(bufs == NULL);
    CHECK_INT(a->child.pid, 0); /* reaped */
    CHECK_INT(a->raft_fsm.snapshot_finalize(&a->raft_fsm, &bufs, &n), 0);
    CHECK_INT(a->snapshots_taken, 0);
    CHECK_INT(a->child.pidfd, -1);
    cr_fsm_close(a);
    free(a);
}

TEST(test_corrupt_restore_keeps_state)
{
    struct cr_fsm *a = malloc(sizeof *a);
    struct cr_state *before = cr_state_new();
    unsigned char *junk = raft_malloc(16);
    struct raft_buffer rb = {junk, 16};

    CHECK_INT(cr_fsm_init(a), 0);
    memset(junk, 0xc1, 16); /* 0xc1: never valid msgpack */
    CHECK_INT(a->raft_fsm.restore(&a->raft_fsm, &rb), RAFT_CORRUPT);
    CHECK(cr_state_equal(a->state, before));
    CHECK_INT(a->snapshots_installed, 0);
    raft_free(junk); /* on failure raft frees it */
    cr_state_free(before);
    cr_fsm_close(a);
    free(a);
}

int main(void)
{
    cr_fsm_tune_malloc();
    RUN(test_snapshot_in_chunks_restores);
    RUN(test_small_state_one_chunk);
    RUN(test_restore_takes_the_frame);
    RUN(test_abort_kills_a_stalled_encoder);
    RUN(test_corrupt_restore_keeps_state);
    return HARNESS_DONE();
}
