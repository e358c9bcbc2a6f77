/*
 * test_core_snapshot_stream.c - cr_state_snapshot_write(): the same bytes
 * as cr_state_snapshot(), in pieces, and a sink that refuses stops it.
 */
#include <stdlib.h>
#include <string.h>

#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

struct collect {
    struct cr_buf buf;
    size_t pieces;
    size_t limit; /* refuse once this many bytes were taken */
};

static int collect_write(void *arg, const void *data, size_t len)
{
    struct collect *c = arg;
    unsigned char *p;

    if (c->buf.len + len > c->limit) {
        return -1;
    }
    if ((p = realloc(c->buf.data, c->buf.len + len)) == NULL) {
        return -1;
    }
    memcpy(p + c->buf.len, data, len);
    c->buf.data = p;
    c->buf.len += len;
    c->pieces++;
    return 0;
}

static struct cr_state *some_state(void)
{
    struct cr_state *st = cr_state_new();
    struct tcert cl = tcert_cluster("cluster"), admin = tcert_client(&cl, "a", 9);
    struct tcert u = tcert_client(&cl, "u", 9);

    tbootstrap(st, &cl, &admin);
    tput(st, &admin, (const struct tcert *[]){&u}, 1, "user",
         CR_CLEARANCE_VALID_USER, NULL, 0, NULL);
    tdb(st, &admin, CR_CMD_DB_PUT, "db1");
    tdoc(st, &admin, "db1", "a", "[1,2,3]");
    tcert_free(&cl);
    tcert_free(&admin);
    tcert_free(&u);
    return st;
}

TEST(test_pieces_are_the_snapshot)
{
    struct cr_state *st = some_state(), *back = cr_state_new();
    struct cr_buf whole = tsnap(st);
    struct collect c = {{NULL, 0, 0}, 0, (size_t)-1};
    struct cr_error err;

    CHECK_INT(cr_state_snapshot_write(st, collect_write, &c, &err), CR_OK);
    CHECK(c.pieces > 1);
    CHECK(c.buf.len == whole.len &&
          memcmp(c.buf.data, whole.data, whole.len) == 0);
    CHECK_INT(cr_state_restore(back, c.buf.data, c.buf.len, &err), CR_OK);
    CHECK(cr_state_equal(st, back));
    free(c.buf.data);
    cr_buf_free(&whole);
    cr_state_free(back);
    cr_state_free(st);
}

TEST(test_refusing_sink_fails)
{
    struct cr_state *st = some_state();
    struct cr_buf whole = tsnap(st);
    struct cr_error err;

    /* Refused at the start, in the middle and on the very last byte. */
    size_t limits[] = {0, whole.len / 2, whole.len - 1};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct collect c = {{NULL, 0, 0}, 0, limits[i]};
        CHECK_INT(cr_state_snapshot_write(st, collect_write, &c, &err),
                  CR_ENOMEM);
        CHECK(c.buf.len <= limits[i]);
        free(c.buf.data);
    }
    /* cr_state_snapshot() leaves what its buffer held before. */
    {
        struct cr_buf b = {NULL, 0, 0};
        CHECK_INT(cr_state_snapshot(st, &b, NULL), CR_OK);
        CHECK_INT(cr_state_snapshot(st, &b, NULL), CR_OK);
        CHECK(b.len == 2 * whole.len &&
              memcmp(b.data + whole.len, whole.data, whole.len) == 0);
        cr_buf_free(&b);
    }
    cr_buf_free(&whole);
    cr_state_free(st);
}

int main(void)
{
    RUN(test_pieces_are_the_snapshot);
    RUN(test_refusing_sink_fails);
    return HARNESS_DONE();
}
