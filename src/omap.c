/*
 * omap.c - AVL tree behind struct cr_omap.
 *
 * Recursive with depth <= 1.44 log2(n) (about 30 for a million keys).
 */
#include <string.h>

#include "omap.h"

static int height(const struct cr_omap_node *n)
{
    return n != NULL ? n->height : 0;
}

static void fix_height(struct cr_omap_node *n)
{
    int l = height(n->left), r = height(n->right);

    n->height = (l > r ? l : r) + 1;
}

static struct cr_omap_node *rotate_right(struct cr_omap_node *n)
{
    struct cr_omap_node *l = n->left;

    n->left = l->right;
    l->right = n;
    fix_height(n);
    fix_height(l);
    return l;
}

static struct cr_omap_node *rotate_left(struct cr_omap_node *n)
{
    struct cr_omap_node *r = n->right;

    n->right = r->left;
    r->left = n;
    fix_height(n);
    fix_height(r);
    return r;
}

static struct cr_omap_node *balance(struct cr_omap_node *n)
{
    int bf;

    fix_height(n);
    bf = height(n->left) - height(n->right);
    if (bf > 1) {
        if (height(n->left->left) < height(n->left->right)) {
            n->left = rotate_left(n->left);
        }
        return rotate_right(n);
    }
    if (bf < -1) {
        if (height(n->right->right) < height(n->right->left)) {
            n->right = rotate_right(n->right);
        }
        return rotate_left(n);
    }
    return n;
}

struct cr_omap_node *cr_omap_find(const struct cr_omap *m, const char *key)
{
    struct cr_omap_node *n = m->root;

    while (n != NULL) {
        int c = strcmp(key, n->key);
        if (c == 0) {
            return n;
        }
        n = c < 0 ? n->left : n->right;
    }
    return NULL;
}

static struct cr_omap_node *insert_at(struct cr_omap_node *t,
                                      struct cr_omap_node *node,
                                      struct cr_omap_node **dup)
{
    int c;

    if (t == NULL) {
        node->left = node->right = NULL;
        node->height = 1;
        return node;
    }
    c = strcmp(node->key, t->key);
    if (c == 0) {
        *dup = t;
        return t;
    }
    if (c < 0) {
        t->left = insert_at(t->left, node, dup);
    } else {
        t->right = insert_at(t->right, node, dup);
    }
    return *dup != NULL ? t : balance(t);
}

struct cr_omap_node *cr_omap_insert(struct cr_omap *m,
                                    struct cr_omap_node *node)
{
    struct cr_omap_node *dup = NULL;

    m->root = insert_at(m->root, node, &dup);
    if (dup == NULL) {
        m->count++;
    }
    return dup;
}

/* Detach the smallest node of @t into *min; returns the rest. */
static struct cr_omap_node *detach_min(struct cr_omap_node *t,
                                       struct cr_omap_node **min)
{
    if (t->left == NULL) {
        *min = t;
        return t->right;
    }
    t->left = detach_min(t->left, min);
    return balance(t);
}

static struct cr_omap_node *remove_at(struct cr_omap_node *t, const char *key,
                                      struct cr_omap_node **removed)
{
    int c;

    if (t == NULL) {
        return NULL;
    }
    c = strcmp(key, t->key);
    if (c < 0) {
        t->left = remove_at(t->left, key, removed);
    } else if (c > 0) {
        t->right = remove_at(t->right, key, removed);
    } else {
        struct cr_omap_node *min, *rest;
        *removed = t;
        if (t->right == NULL) {
            return t->left;
        }
        rest = detach_min(t->right, &min);
        min->left = t->left;
        min->right = rest;
        return balance(min);
    }
    return *removed != NULL ? balance(t) : t;
}

struct cr_omap_node *cr_omap_remove(struct cr_omap *m, const char *key)
{
    struct cr_omap_node *removed = NULL;

    m->root = remove_at(m->root, key, &removed);
    if (removed != NULL) {
        m->count--;
        removed->left = removed->right = NULL;
    }
    return removed;
}

struct cr_omap_node *cr_omap_seek(const struct cr_omap *m, const char *key,
                                  bool inclusive)
{
    struct cr_omap_node *n = m->root, *best = NULL;

    while (n != NULL) {
        int c = key != NULL ? strcmp(n->key, key) : 1;
        if (c > 0 || (c == 0 && inclusive)) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

static bool walk_at(struct cr_omap_node *t, const char *key, bool inclusive,
                    cr_omap_visit_fn fn, void *arg)
{
    int c;

    if (t == NULL) {
        return true;
    }
    c = key != NULL ? strcmp(t->key, key) : 1;
    if (c > 0 || (c == 0 && inclusive)) {
        if (!walk_at(t->left, key, inclusive, fn, arg) || !fn(t, arg)) {
            return false;
        }
    }
    return walk_at(t->right, key, inclusive, fn, arg);
}

bool cr_omap_walk(const struct cr_omap *m, const char *key, bool inclusive,
                  cr_omap_visit_fn fn, void *arg)
{
    return walk_at(m->root, key, inclusive, fn, arg);
}

static void clear_at(struct cr_omap_node *t,
                     void (*release)(struct cr_omap_node *))
{
    struct cr_omap_node *l, *r;

    if (t == NULL) {
        return;
    }
    l = t->left;
    r = t->right;
    clear_at(l, release);
    clear_at(r, release);
    if (release != NULL) {
        release(t);
    }
}

void cr_omap_clear(struct cr_omap *m, void (*release)(struct cr_omap_node *))
{
    clear_at(m->root, release);
    m->root = NULL;
    m->count = 0;
}
