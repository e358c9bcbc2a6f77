/*
 * tag_index.c - registered entries by a 64-bit tag, kept in tag order:
 * the registry keeps two of these, by the first 8 bytes of the SHA-256
 * thumbprint (which is also its thumbprint order) and by a seeded hash
 * of the DER (registry.c, der_lookup.c).
 *
 * Every request's authentication looks its certificate up, so at a
 * million entries a lookup must cost as few cache misses as possible.
 * Tags are uniformly distributed already: their top bits pick the home
 * slot, without hashing. The table is open addressing with linear
 * probing over (tag, node) pairs, at most half full, so a lookup is one
 * cache line of the table plus the node, where the caller compares the
 * whole key.
 *
 * Home slots grow with the tag, and each run of occupied slots is kept
 * sorted (an insert shifts the rest of its run up by one; a removal
 * shifts back the entries that may move, which are a prefix of the
 * rest), so the table read front to back is in (tag, digest) order.
 * That is the registry's thumbprint order for listings and snapshots: an
 * insert costs a slot's cache line instead of the ~18 dependent misses
 * of a balanced tree at a million entries. Runs never wrap around: the
 * last ones continue into slack slots after the 2^bits home slots, and
 * the slack grows should a run reach its end (tags that share their top
 * bits make one run, whatever the table's size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct cr_tag_slot {
    uint64_t tag;
    struct cr_cert_node *node; /* NULL: empty */
};

#define MIN_BITS 4u   /* 16 home slots */
#define MIN_SLACK 32u /* past the last home slot, to begin with */

static size_t home(const struct cr_tag_index *t, uint64_t tag)
{
    return (size_t)(tag >> (64 - t->bits));
}

/* Whether (@tag, @n) goes before the entry in @s. Equal tags are rare
 * for digests and possible for DER hashes: the digest decides. */
static bool before(uint64_t tag, const struct cr_cert_node *n,
                   const struct cr_tag_slot *s)
{
    return tag < s->tag ||
           (tag == s->tag && memcmp(n->digest, s->node->digest,
                                    CR_DIGEST_LEN) < 0);
}

/* Twice the slack, the new slots empty. */
static int grow_slack(struct cr_tag_index *t)
{
    size_t slack = t->total - t->size, total = t->size + 2 * slack;
    struct cr_tag_slot *s;

    if (total > SIZE_MAX / sizeof *s ||
        (s = realloc(t->slots, total * sizeof *s)) == NULL) {
        return -1;
    }
    memset(s + t->total, 0, (total - t->total) * sizeof *s);
    t->slots = s;
    t->total = total;
    return 0;
}

/* Put (@tag, @n) in its place in its run. */
static int place(struct cr_tag_index *t, uint64_t tag, struct cr_cert_node *n)
{
    size_t i = home(t, tag), end;

    while (i < t->total && t->slots[i].node != NULL &&
           !before(tag, n, &t->slots[i])) {
        i++;
    }
    for (end = i; end < t->total && t->slots[end].node != NULL; end++) {
    }
    if (end == t->total && grow_slack(t) != 0) {
        return -1;
    }
    memmove(&t->slots[i + 1], &t->slots[i], (end - i) * sizeof *t->slots);
    t->slots[i].tag = tag;
    t->slots[i].node = n;
    return 0;
}

/* Move every entry into a table of 2^@bits home slots. They come in
 * order, so each goes at the end of its run. */
static int rehash(struct cr_tag_index *t, unsigned bits)
{
    struct cr_tag_index to = {.size = (size_t)1 << bits,
                              .total = ((size_t)1 << bits) + MIN_SLACK,
                              .bits = bits,
                              .count = t->count};
    size_t i;

    if ((to.slots = calloc(to.total, sizeof *to.slots)) == NULL) {
        return -1;
    }
    for (i = 0; t->slots != NULL && i < t->total; i++) {
        if (t->slots[i].node != NULL &&
            place(&to, t->slots[i].tag, t->slots[i].node) != 0) {
            free(to.slots);
            return -1;
        }
    }
    free(t->slots);
    *t = to;
    return 0;
}

int cr_tag_index_reserve(struct cr_tag_index *t, size_t n)
{
    size_t max = SIZE_MAX / 4 / sizeof(struct cr_tag_slot);
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
    if ((t->slots == NULL || t->count + 1 > t->size / 2) &&
        cr_tag_index_reserve(t, t->count + 1) != 0) {
        return -1;
    }
    if (place(t, tag, n) != 0) {
        return -1;
    }
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
    /* Runs are sorted: past a greater tag there is no equal one. */
    for (i = *pos; i < t->total && t->slots[i].node != NULL &&
                   t->slots[i].tag <= tag;
         i++) {
        if (t->slots[i].tag == tag) {
            *pos = i + 1;
            return t->slots[i].node;
        }
    }
    *pos = i;
    return NULL;
}

void cr_tag_index_remove(struct cr_tag_index *t, uint64_t tag,
                         const struct cr_cert_node *n)
{
    size_t i;

    if (t->slots == NULL) {
        return;
    }
    for (i = home(t, tag); t->slots[i].node != n; i++) {
        if (i + 1 == t->total || t->slots[i].node == NULL) {
            return; /* not in the table */
        }
    }
    /* Shift back each following entry whose home is before its slot;
     * the first one at its home ends it (the rest have later homes). */
    for (i++; i < t->total && t->slots[i].node != NULL &&
              home(t, t->slots[i].tag) < i;
         i++) {
        t->slots[i - 1] = t->slots[i];
    }
    t->slots[i - 1].node = NULL;
    t->count--;
}

bool cr_tag_index_walk(const struct cr_tag_index *t,
                       bool (*fn)(struct cr_cert_node *n, void *arg),
                       void *arg)
{
    size_t i;

    for (i = 0; t->slots != NULL && i < t->total; i++) {
        if (t->slots[i].node != NULL && !fn(t->slots[i].node, arg)) {
            return false;
        }
    }
    return true;
}

void cr_tag_index_free(struct cr_tag_index *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}
