/*
 * test_core_thumb_index.c - the registry's table of entries by binary
 * thumbprint (src/thumb_index.c) and the hex conversion it relies on.
 *
 * Real digests almost never share a home slot, so these tests craft
 * them: long runs of one home slot, runs that wrap around the end of the
 * table, equal tags with different digests, and random inserts and
 * removals checked against a plain list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/state_internal.h"
#include "harness.h"

#define N 600

static struct cr_cert_node nodes[N];

/* Digest whose first 8 bytes read big-endian (the tag; its top bits
 * pick the home slot) are @tag, and whose other bytes say @id. */
static void set_digest(struct cr_cert_node *n, uint64_t tag, uint32_t id)
{
    size_t i;

    memset(n->digest, 0, CR_DIGEST_LEN);
    for (i = 0; i < 8; i++) {
        n->digest[i] = (unsigned char)(tag >> (56 - 8 * i));
    }
    memcpy(n->digest + 8, &id, sizeof id);
}

static bool found(const struct cr_thumb_index *t, const struct cr_cert_node *n)
{
    return cr_thumb_index_find(t, n->digest) == n;
}

TEST(test_empty)
{
    struct cr_thumb_index t = {0};

    set_digest(&nodes[0], 1, 1);
    CHECK(cr_thumb_index_find(&t, nodes[0].digest) == NULL);
    cr_thumb_index_remove(&t, &nodes[0]);
    CHECK_INT(t.count, 0);
    cr_thumb_index_free(&t);
}

TEST(test_one_home_slot)
{
    struct cr_thumb_index t = {0};
    size_t i;

    /* Every tag has the same top bits: one run holding all of them. */
    for (i = 0; i < 40; i++) {
        set_digest(&nodes[i], 0xA5ull << 56 | i, (uint32_t)i);
        CHECK_INT(cr_thumb_index_add(&t, &nodes[i]), 0);
    }
    for (i = 0; i < 40; i++) {
        CHECK(found(&t, &nodes[i]));
    }
    /* Remove from the middle, the head and the tail of the run. */
    cr_thumb_index_remove(&t, &nodes[20]);
    cr_thumb_index_remove(&t, &nodes[0]);
    cr_thumb_index_remove(&t, &nodes[39]);
    CHECK_INT(t.count, 37);
    for (i = 0; i < 40; i++) {
        CHECK(found(&t, &nodes[i]) == (i != 0 && i != 20 && i != 39));
    }
    cr_thumb_index_free(&t);
}

TEST(test_wraparound)
{
    struct cr_thumb_index t = {0};
    size_t i, mask;

    CHECK_INT(cr_thumb_index_reserve(&t, 8), 0);
    mask = t.mask;
    /* Runs that start in the last slots continue at slot 0, where entries
     * whose home is slot 0 also live. */
    for (i = 0; i < 8; i++) {
        uint64_t home = i < 5 ? mask - (i % 2) : 0;
        set_digest(&nodes[i], home << (64 - t.bits) | (i + 1), (uint32_t)i);
        CHECK_INT(cr_thumb_index_add(&t, &nodes[i]), 0);
    }
    CHECK_INT(t.mask, mask); /* reserved: no growth */
    for (i = 0; i < 8; i++) {
        cr_thumb_index_remove(&t, &nodes[i]);
        for (size_t j = 0; j < 8; j++) {
            CHECK(found(&t, &nodes[j]) == (j > i));
        }
    }
    CHECK_INT(t.count, 0);
    cr_thumb_index_free(&t);
}

TEST(test_same_tag_other_digest)
{
    struct cr_thumb_index t = {0};
    struct cr_cert_node other;

    set_digest(&nodes[0], 77, 1);
    set_digest(&nodes[1], 77, 2);
    CHECK_INT(cr_thumb_index_add(&t, &nodes[0]), 0);
    CHECK_INT(cr_thumb_index_add(&t, &nodes[1]), 0);
    CHECK(found(&t, &nodes[0]));
    CHECK(found(&t, &nodes[1]));
    /* The tag alone never matches: the rest of the digest must too. */
    set_digest(&other, 77, 3);
    CHECK(cr_thumb_index_find(&t, other.digest) == NULL);
    other.digest[CR_DIGEST_LEN - 1] = 1;
    memcpy(other.digest, nodes[0].digest, CR_DIGEST_LEN - 1);
    CHECK(cr_thumb_index_find(&t, other.digest) == NULL);
    cr_thumb_index_free(&t);
}

TEST(test_random_against_list)
{
    struct cr_thumb_index t = {0};
    bool in[N] = {false};
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    size_t i, step, count = 0;

    /* 17 distinct top bits, 4 of them at the very end of the table: long
     * runs that merge, and wrap around into the first ones. */
    for (i = 0; i < N; i++) {
        uint64_t top = (i * 7919) % 17;
        set_digest(&nodes[i], (top < 13 ? top : 47 + top) << 58 | i,
                   (uint32_t)i);
    }
    for (step = 0; step < 20000; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        i = (size_t)(rng % N);
        if (in[i]) {
            cr_thumb_index_remove(&t, &nodes[i]);
            count--;
        } else {
            CHECK_INT(cr_thumb_index_add(&t, &nodes[i]), 0);
            count++;
        }
        in[i] = !in[i];
        if (step % 997 == 0) {
            for (size_t j = 0; j < N; j++) {
                CHECK(found(&t, &nodes[j]) == in[j]);
            }
        }
    }
    CHECK_INT(t.count, count);
    for (i = 0; i < N; i++) {
        CHECK(found(&t, &nodes[i]) == in[i]);
    }
    /* At most half full, whatever happened. */
    CHECK(t.count <= (t.mask + 1) / 2);
    cr_thumb_index_free(&t);
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
    RUN(test_wraparound);
    RUN(test_same_tag_other_digest);
    RUN(test_random_against_list);
    RUN(test_from_hex);
    return HARNESS_DONE();
}
