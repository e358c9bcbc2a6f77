/*
 * test_core_omap.c - the ordered map behind every sorted listing
 * (src/omap.c): random inserts and removals checked against a plain
 * array sorted with strcmp, the AVL invariants after every step, and
 * keys chosen to stress the 8-byte prefix compare: shorter than 8 bytes,
 * equal first 8 bytes, prefixes of one another, bytes >= 0x80.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/omap.h"
#include "harness.h"

#define N 700

struct item {
    char key[24];
    struct cr_omap_node node;
    bool in;
};

static struct item items[N];

/* Deterministic keys: families that share long prefixes, short ones,
 * and high bytes, all distinct. */
static void make_keys(void)
{
    static const char *const stems[] = {"", "a", "ab", "abcdefg", "abcdefgh",
                                        "abcdefghi", "orders/", "\xff\x80",
                                        "z"};
    size_t n_stems = sizeof stems / sizeof stems[0];

    for (size_t i = 0; i < N; i++) {
        const char *stem = stems[i % n_stems];
        if (i < n_stems) {
            snprintf(items[i].key, sizeof items[i].key, "%s", stem);
            if (i == 0) {
                snprintf(items[i].key, sizeof items[i].key, "\x01");
            }
        } else {
            snprintf(items[i].key, sizeof items[i].key, "%s%zu", stem,
                     i / n_stems);
        }
        items[i].node.key = items[i].key;
        items[i].in = false;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Height of @t, checking the AVL invariants on the way; -1 if broken. */
static int check_avl(const struct cr_omap_node *t)
{
    int l, r;

    if (t == NULL) {
        return 0;
    }
    l = check_avl(t->left);
    r = check_avl(t->right);
    if (l < 0 || r < 0 || l - r > 1 || r - l > 1 ||
        t->height != (l > r ? l : r) + 1 ||
        (t->left != NULL && strcmp(t->left->key, t->key) >= 0) ||
        (t->right != NULL && strcmp(t->right->key, t->key) <= 0)) {
        return -1;
    }
    return t->height;
}

struct collect {
    const char *keys[N];
    size_t n;
};

static bool collect_visit(struct cr_omap_node *node, void *arg)
{
    struct collect *c = arg;

    c->keys[c->n++] = node->key;
    return true;
}

/* The map holds exactly the items marked in, in strcmp order; find and
 * seek agree with the sorted reference. */
static void check_against_reference(const struct cr_omap *m)
{
    const char *want[N];
    struct collect got = {.n = 0};
    size_t n = 0, i;

    for (i = 0; i < N; i++) {
        if (items[i].in) {
            want[n++] = items[i].key;
        }
    }
    qsort(want, n, sizeof want[0], cmp_str);
    CHECK_INT(m->count, n);
    CHECK(check_avl(m->root) >= 0);
    cr_omap_walk(m, NULL, true, collect_visit, &got);
    CHECK_INT(got.n, n);
    for (i = 0; i < n && i < got.n; i++) {
        CHECK_STR(got.keys[i], want[i]);
    }
    for (i = 0; i < N; i += 7) {
        const struct cr_omap_node *f = cr_omap_find(m, items[i].key);
        const struct cr_omap_node *s = cr_omap_seek(m, items[i].key, false);
        const char **next = NULL;
        CHECK(items[i].in ? f == &items[i].node : f == NULL);
        /* seek (exclusive): the first key > items[i].key */
        for (size_t k = 0; k < n && next == NULL; k++) {
            if (strcmp(want[k], items[i].key) > 0) {
                next = &want[k];
            }
        }
        CHECK(next == NULL ? s == NULL : s != NULL && s->key == *next);
    }
}

TEST(test_random_against_sorted_array)
{
    struct cr_omap m = {NULL, 0};
    uint64_t x = 0x9E3779B97F4A7C15ull;

    make_keys();
    for (int step = 0; step < 6000; step++) {
        size_t i;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        i = (size_t)(x % N);
        if (!items[i].in) {
            CHECK(cr_omap_insert(&m, &items[i].node) == NULL);
            items[i].in = true;
        } else if (x & 0x100) {
            CHECK(cr_omap_remove(&m, items[i].key) == &items[i].node);
            items[i].in = false;
        } else {
            /* The same key again, from another node: refused. */
            struct cr_omap_node twin = {.key = items[i].key};
            CHECK(cr_omap_insert(&m, &twin) == &items[i].node);
        }
        if (step % 97 == 0) {
            check_against_reference(&m);
        }
    }
    check_against_reference(&m);
    CHECK(cr_omap_remove(&m, "not there") == NULL);
    cr_omap_clear(&m, NULL);
    CHECK(m.root == NULL && m.count == 0);
}

/* Sorted insertion (a snapshot restore, a bulk load) keeps the tree
 * within the AVL height bound. */
TEST(test_sorted_insertion_stays_balanced)
{
    static struct item seq[4096];
    struct cr_omap m = {NULL, 0};

    for (size_t i = 0; i < 4096; i++) {
        snprintf(seq[i].key, sizeof seq[i].key, "%016zx", i);
        seq[i].node.key = seq[i].key;
        CHECK(cr_omap_insert(&m, &seq[i].node) == NULL);
    }
    CHECK(check_avl(m.root) > 0);
    CHECK(m.root->height <= 18); /* 1.44 log2(4096) = 17.3 */
    CHECK(cr_omap_seek(&m, NULL, true) == &seq[0].node);
    CHECK(cr_omap_seek(&m, "0000000000000ffe", false) == &seq[4095].node);
}

int main(void)
{
    RUN(test_random_against_sorted_array);
    RUN(test_sorted_insertion_stays_balanced);
    return HARNESS_DONE();
}
