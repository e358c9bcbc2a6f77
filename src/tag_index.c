/*
 * tag_index.c - registered entries by a 64-bit tag: the registry keeps
 * two of these, by the first 8 bytes of the SHA-256 thumbprint and by a
 * seeded hash of the DER (registry.c, der_lookup.c).
 *
 * Every request's authentication looks its certificate up, so at a
 * million entries a lookup must cost as few cache misses as possible.
 * Tags are uniformly distributed already: their top bits pick the home
 * slot, without hashing. The table is open addressing with linear
 * probing over (tag, node) pairs, at most half full, so a lookup is one
 * cache line of the table plus the node, where the caller compares the
 * whole key. Deletion shifts the following run back (no tombstones), so
 * removing never allocates and cannot fail.
 *
 * Home slots by the top bits keep the digest table in thumbprint order,
 * apart from runs: a snapshot restore, which inserts in that order, and
 * a rehash walk the table front to back instead of at random.
 *
 * Nothing here influences any output: iteration order comes from the
 * registry's ordered map, never from this table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct cr_tag_slot {
    uint64_t tag;
    struct cr_cert_node *node; /* NULL: empty */
};

#define MIN_BITS 4u /* 16 slots */

static size_t home(const struct cr_tag_index *t, uint64_t tag)
{
    return (size_t)(tag >> (64 - t->bits));
}

static void place(struct cr_tag_index *t, uint64_t tag,
                  struct cr_cert_node *n)
{
    size_t i = home(t, tag);

    while (t->slots[i].node != NULL) {
        i = (i + 1) & t->mask;
    }
    t->slots[i].tag = tag;
    t->slots[i].node = n;
}

/* Move every entry into a table of 2^@bits slots. */
static int rehash(struct cr_tag_index *t, unsigned bits)
{
    struct cr_tag_index to = {
        .mask = ((size_t)1 << bits) - 1, .bits = bits, .count = t->count};
    size_t i;

    if ((to.slots = calloc(to.mask + 1, sizeof *to.slots)) == NULL) {
        return -1;
    }
    for (i = 0; t->slots != NULL && i <= t->mask; i++) {
        if (t->slots[i].node != NULL) {
            place(&to, t->slots[i].tag, t->slots[i].node);
        }
    }
    free(t->slots);
    *t = to;
    return 0;
}

int cr_tag_index_reserve(struct cr_tag_index *t, size_t n)
{
    size_t max = SIZE_MAX / 2 / sizeof(struct cr_tag_slot);
    unsigned bits = MIN_BITS;

    while (((size_t)1 << bits) / 2 < n) {
        if (((size_t)1 << bits) > max) {
            return -1;
        }
        bits++;
    }
    if (t->slots != NULL && bits <= t->bits) {
        return 0;
    }
    return rehash(t, bits);
}

int cr_tag_index_add(struct cr_tag_index *t, uint64_t tag,
                     struct cr_cert_node *n)
{
    if ((t->slots == NULL || t->count + 1 > (t->mask + 1) / 2) &&
        cr_tag_index_reserve(t, t->count + 1) != 0) {
        return -1;
    }
    place(t, tag, n);
    t->count++;
    return 0;
}

size_t cr_tag_index_home(const struct cr_tag_index *t, uint64_t tag)
{
    return t->slots != NULL ? home(t, tag) : 0;
}

void cr_tag_index_prefetch(const struct cr_tag_index *t, uint64_t tag)
{
    if (t->slots != NULL) {
        __builtin_prefetch(&t->slots[home(t, tag)]);
    }
}

struct cr_cert_node *cr_tag_index_next(const struct cr_tag_index *t,
                                       uint64_t tag, size_t *pos)
{
    size_t i;

    if (t->slots == NULL) {
        return NULL;
    }
    for (i = *pos; t->slots[i].node != NULL; i = (i + 1) & t->mask) {
        if (t->slots[i].tag == tag) {
            *pos = (i + 1) & t->mask;
            return t->slots[i].node;
        }
    }
    *pos = i;
    return NULL;
}

void cr_tag_index_remove(struct cr_tag_index *t, uint64_t tag,
                         const struct cr_cert_node *n)
{
    size_t mask = t->mask, i, j;

    if (t->slots == NULL) {
        return;
    }
    for (i = home(t, tag); t->slots[i].node != n; i = (i + 1) & mask) {
        if (t->slots[i].node == NULL) {
            return; /* not in the table */
        }
    }
    /* Backward shift: an entry later in the run moves into the hole
     * unless its home slot lies cyclically in (hole, its slot]. */
    for (j = (i + 1) & mask; t->slots[j].node != NULL; j = (j + 1) & mask) {
        if (((j - home(t, t->slots[j].tag)) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].node = NULL;
    t->count--;
}

void cr_tag_index_free(struct cr_tag_index *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}
