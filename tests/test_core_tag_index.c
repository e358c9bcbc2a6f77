/*
 * test_core_tag_index.c - the registry's tables of entries by 64-bit tag
 * (src/tag_index.c), the lookups through them by thumbprint and by DER
 * (src/registry.c, src/der_lookup.c), and the hex conversion.
 *
 * Real tags almost never share a home slot, so these tests craft them:
 * long runs of one home slot, runs that wrap around the end of the
 * table, equal tags on different entries, and random inserts and
 * removals checked against a plain list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/state_internal.h"
#include "harness.h"

#define N 600

static struct cr_cert_node nodes[N];
static uint64_t tags[N];

/* Node @i's tag is @tag (its top bits pick the home slot). */
static void set_tag(size_t i, uint64_t tag)
{
    tags[i] = tag;
}

static int add(struct cr_tag_index *t, size_t i)
{
    return cr_tag_index_add(t, tags[i], &nodes[i]);
}

static void del(struct cr_tag_index *t, size_t i)
{
    cr_tag_index_remove(t, tags[i], &nodes[i]);
}

/* Whether node @i is among the candidates for its tag. */
static bool found(const struct cr_tag_index *t, size_t i)
{
    size_t pos = cr_tag_index_home(t, tags[i]);
    const struct cr_cert_node *n;

    while ((n = cr_tag_index_next(t, tags[i], &pos)) != NULL) {
        if (n == &nodes[i]) {
            return true;
        }
    }
    return false;
}

TEST(test_empty)
{
    struct cr_tag_index t = {0};

    size_t pos;

    set_tag(0, 1);
    pos = cr_tag_index_home(&t, tags[0]);
    CHECK(cr_tag_index_next(&t, tags[0], &pos) == NULL);
    cr_tag_index_prefetch(&t, tags[0]);
    del(&t, 0);
    CHECK_INT(t.count, 0);
    cr_tag_index_free(&t);
}

TEST(test_one_home_slot)
{
    struct cr_tag_index t = {0};
    size_t i;

    /* Every tag has the same top bits: one run holding all of them. */
    for (i = 0; i < 40; i++) {
        set_tag(i, 0xA5ull << 56 | i);
        CHECK_INT(add(&t, i), 0);
    }
    for (i = 0; i < 40; i++) {
        CHECK(found(&t, i));
    }
    /* Remove from the middle, the head and the tail of the run. */
    del(&t, 20);
    del(&t, 0);
    del(&t, 39);
    CHECK_INT(t.count, 37);
    for (i = 0; i < 40; i++) {
        CHECK(found(&t, i) == (i != 0 && i != 20 && i != 39));
    }
    cr_tag_index_free(&t);
}

TEST(test_end_of_table)
{
    struct cr_tag_index t = {0};
    size_t i, size, total;

    CHECK_INT(cr_tag_index_reserve(&t, 8), 0);
    size = t.size;
    total = t.total;
    /* Runs that start in the last home slots continue into the slack
     * after them; one that reaches the slack's end makes it grow. */
    for (i = 0; i < 8; i++) {
        uint64_t home = i < 5 ? size - 1 - (i % 2) : 0;
        set_tag(i, home << (64 - t.bits) | (i + 1));
        CHECK_INT(add(&t, i), 0);
    }
    CHECK_INT(t.size, size); /* reserved: no growth */
    for (i = 0; i < 8; i++) {
        del(&t, i);
        for (size_t j = 0; j < 8; j++) {
            CHECK(found(&t, j) == (j > i));
        }
    }
    CHECK_INT(t.count, 0);
    /* More entries of the last home slot than the slack holds: the table
     * may grow, but their top bits keep them in one run at its end. */
    for (i = 0; i < total; i++) {
        set_tag(i, UINT64_MAX - i);
        CHECK_INT(add(&t, i), 0);
    }
    CHECK(t.total > t.size + (total - size));
    for (i = 0; i < total; i++) {
        CHECK(found(&t, i));
    }
    cr_tag_index_free(&t);
}

/* Tags seen by a walk, in order. */
struct walk_seen {
    uint64_t tag[N];
    const struct cr_cert_node *node[N];
    size_t n;
};

static bool walk_visit(struct cr_cert_node *n, void *arg)
{
    struct walk_seen *w = arg;

    w->node[w->n] = n;
    w->tag[w->n++] = tags[n - nodes];
    return w->n < N;
}

/* The walk is in (tag, digest) order and visits each entry once. */
static bool walk_sorted(const struct cr_tag_index *t)
{
    static struct walk_seen w;
    size_t i;

    w.n = 0;
    cr_tag_index_walk(t, walk_visit, &w);
    if (w.n != t->count) {
        return false;
    }
    for (i = 1; i < w.n; i++) {
        if (w.tag[i - 1] > w.tag[i] ||
            (w.tag[i - 1] == w.tag[i] &&
             memcmp(w.node[i - 1]->digest, w.node[i]->digest,
                    CR_DIGEST_LEN) >= 0)) {
            return false;
        }
    }
    return true;
}

TEST(test_walk_order)
{
    struct cr_tag_index t = {0};
    size_t i;

    /* Inserted backwards, with three entries sharing a tag: they come
     * out by their digests. */
    for (i = 0; i < 50; i++) {
        memset(nodes[i].digest, 0, CR_DIGEST_LEN);
        set_tag(i, (uint64_t)(50 - i) << 50);
    }
    for (i = 10; i < 13; i++) {
        set_tag(i, 7ull << 50);
        nodes[i].digest[31] = (unsigned char)(20 - i);
    }
    for (i = 0; i < 50; i++) {
        CHECK_INT(add(&t, i), 0);
        CHECK(walk_sorted(&t));
    }
    del(&t, 11);
    CHECK(walk_sorted(&t));
    CHECK(!found(&t, 11) && found(&t, 10) && found(&t, 12));
    cr_tag_index_free(&t);
    for (i = 10; i < 13; i++) {
        nodes[i].digest[31] = 0;
    }
}

TEST(test_same_tag)
{
    struct cr_tag_index t = {0};
    struct cr_cert_node *a, *b;
    size_t pos;

    set_tag(0, 77);
    set_tag(1, 77);
    set_tag(2, 78);
    CHECK_INT(add(&t, 0), 0);
    CHECK_INT(add(&t, 2), 0);
    CHECK_INT(add(&t, 1), 0);
    /* Both entries of tag 77 come out, each once, and nothing else. */
    pos = cr_tag_index_home(&t, 77);
    a = cr_tag_index_next(&t, 77, &pos);
    b = cr_tag_index_next(&t, 77, &pos);
    CHECK(cr_tag_index_next(&t, 77, &pos) == NULL);
    CHECK((a == &nodes[0] && b == &nodes[1]) ||
          (a == &nodes[1] && b == &nodes[0]));
    pos = cr_tag_index_home(&t, 79);
    CHECK(cr_tag_index_next(&t, 79, &pos) == NULL);
    cr_tag_index_free(&t);
}

/* Registry lookups by digest: the by_digest tag is the digest's first 8
 * bytes, big-endian; entries that share them differ further on, and only
 * the whole digest finds one. */
TEST(test_find_digest)
{
    struct cr_registry reg = {0};
    struct cr_cert_node x, y;
    unsigned char other[CR_DIGEST_LEN];
    uint64_t tag = 0;

    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    for (size_t i = 0; i < CR_DIGEST_LEN; i++) {
        x.digest[i] = y.digest[i] = (unsigned char)(0xA0 + i);
    }
    y.digest[CR_DIGEST_LEN - 1] ^= 1;
    for (size_t i = 0; i < 8; i++) {
        tag = tag << 8 | x.digest[i];
    }
    CHECK_INT(cr_tag_index_add(&reg.by_digest, tag, &x), 0);
    CHECK_INT(cr_tag_index_add(&reg.by_digest, tag, &y), 0);
    CHECK(cr_registry_find_digest(&reg, x.digest) == &x);
    CHECK(cr_registry_find_digest(&reg, y.digest) == &y);
    memcpy(other, x.digest, CR_DIGEST_LEN);
    other[20] ^= 0x10;
    CHECK(cr_registry_find_digest(&reg, other) == NULL);
    cr_tag_index_free(&reg.by_digest);
}

/* A node for a fake certificate: @der's digest and DER, as the registry
 * would hold them. */
static void der_node(struct cr_cert_node *n, unsigned char *der, size_t len)
{
    memset(n, 0, sizeof *n);
    n->e.der = der;
    n->e.der_len = len;
    CHECK(cr_thumb_digest(der, len, n->digest));
}

TEST(test_find_der)
{
    struct cr_registry reg = {0};
    unsigned char a[700], b[700], c[20], digest[CR_DIGEST_LEN],
        want[CR_DIGEST_LEN];
    struct cr_cert_node na, nb, nc, *found_node;
    uint64_t tag_a;

    cr_registry_seed(&reg);
    for (size_t i = 0; i < sizeof a; i++) {
        a[i] = (unsigned char)i;
        b[i] = (unsigned char)(i * 7);
    }
    memset(c, 'c', sizeof c);
    der_node(&na, a, sizeof a);
    der_node(&nb, b, sizeof b);
    der_node(&nc, c, sizeof c);

    /* Empty: nothing found, the digest computed all the same. */
    CHECK(cr_registry_find_der(&reg, a, sizeof a, digest, &found_node));
    CHECK(found_node == NULL);
    CHECK(memcmp(digest, na.digest, CR_DIGEST_LEN) == 0);

    /* b goes in under a's hash, ahead of a: a hash collision. Looking a
     * up walks past b (its digest differs), and b is not found by a. */
    tag_a = cr_registry_der_tag(&reg, a, sizeof a);
    CHECK_INT(cr_tag_index_add(&reg.by_der, tag_a, &nb), 0);
    CHECK(cr_registry_find_der(&reg, a, sizeof a, digest, &found_node));
    CHECK(found_node == NULL);
    CHECK_INT(cr_tag_index_add(&reg.by_der, tag_a, &na), 0);
    CHECK(cr_registry_find_der(&reg, a, sizeof a, digest, &found_node));
    CHECK(found_node == &na);
    CHECK(memcmp(digest, na.digest, CR_DIGEST_LEN) == 0);

    /* Shorter than the digest's first part. */
    CHECK_INT(cr_tag_index_add(&reg.by_der,
                               cr_registry_der_tag(&reg, c, sizeof c), &nc),
              0);
    CHECK(cr_registry_find_der(&reg, c, sizeof c, digest, &found_node));
    CHECK(found_node == &nc);
    CHECK(cr_thumb_digest(c, sizeof c, want));
    CHECK(memcmp(digest, want, CR_DIGEST_LEN) == 0);
    cr_tag_index_free(&reg.by_der);
}

TEST(test_random_against_list)
{
    struct cr_tag_index t = {0};
    bool in[N] = {false};
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    size_t i, step, count = 0;

    /* 17 distinct top bits, 4 of them at the very end of the table: long
     * runs that merge, and run on into the slack. */
    for (i = 0; i < N; i++) {
        uint64_t top = (i * 7919) % 17;
        set_tag(i, (top < 13 ? top : 47 + top) << 58 | i);
    }
    for (step = 0; step < 20000; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        i = (size_t)(rng % N);
        if (in[i]) {
            del(&t, i);
            count--;
        } else {
            CHECK_INT(add(&t, i), 0);
            count++;
        }
        in[i] = !in[i];
        if (step % 997 == 0) {
            for (size_t j = 0; j < N; j++) {
                CHECK(found(&t, j) == in[j]);
            }
            CHECK(walk_sorted(&t));
        }
    }
    CHECK_INT(t.count, count);
    for (i = 0; i < N; i++) {
        CHECK(found(&t, i) == in[i]);
    }
    /* At most half full, whatever happened. */
    CHECK(t.count <= t.size / 2);
    CHECK(walk_sorted(&t));
    cr_tag_index_free(&t);
}

TEST(test_from_hex)
{
    const char *hex =
        "00FF102A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6";
    unsigned char d[CR_DIGEST_LEN];
    char buf[CR_THUMBPRINT_LEN + 1];

    CHECK(cr_thumb_from_hex(hex, d));
    CHECK_INT(d[0], 0x00);
    CHECK_INT(d[1], 0xFF);
    CHECK_INT(d[2], 0x10);
    CHECK_INT(d[3], 0x2A);
    CHECK_INT(d[31], 0xE6);
    /* Entries store upper case: anything else is no thumbprint. */
    memcpy(buf, hex, sizeof buf);
    buf[3] = 'f';
    CHECK(!cr_thumb_from_hex(buf, d));
    for (const char *c = "G@/:` \x80"; *c != '\0'; c++) {
        memcpy(buf, hex, sizeof buf);
        buf[40] = *c;
        CHECK(!cr_thumb_from_hex(buf, d));
    }
    CHECK(!cr_thumb_from_hex("", d));
    CHECK(!cr_thumb_from_hex("00FF", d));
}

int main(void)
{
    RUN(test_empty);
    RUN(test_one_home_slot);
    RUN(test_end_of_table);
    RUN(test_walk_order);
    RUN(test_same_tag);
    RUN(test_find_digest);
    RUN(test_find_der);
    RUN(test_random_against_list);
    RUN(test_from_hex);
    return HARNESS_DONE();
}
