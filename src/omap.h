/*
 * omap.h - an intrusive ordered map from C strings (AVL tree).
 *
 * Listings must come out in a stable, sorted order on every node
 * (documents by id prefix, databases, ETL tasks, snapshots), and 100k+
 * documents rule out sorted arrays. Nodes are embedded in the owning
 * struct, so insertion never allocates and cannot fail half-way; keys
 * point into the owner and compare with strcmp (byte order).
 */
#ifndef CERTRAFT_SRC_OMAP_H
#define CERTRAFT_SRC_OMAP_H

#include <stdbool.h>
#include <stddef.h>

struct cr_omap_node {
    const char *key;
    struct cr_omap_node *left, *right;
    int height;
};

struct cr_omap {
    struct cr_omap_node *root;
    size_t count;
};

#define CR_OMAP_ENTRY(node, type, member)                                  \
    ((type *)(void *)((char *)(node)-offsetof(type, member)))

struct cr_omap_node *cr_omap_find(const struct cr_omap *m, const char *key);
/* Inserts @node (its key set by the caller). If the key is present
 * already, nothing changes and the existing node is returned; else NULL. */
struct cr_omap_node *cr_omap_insert(struct cr_omap *m,
                                    struct cr_omap_node *node);
/* Unlinks and returns the node with @key, or NULL. */
struct cr_omap_node *cr_omap_remove(struct cr_omap *m, const char *key);

/* The first node with a key > @key (>= when @inclusive); @key NULL is
 * the first node. O(log n). */
struct cr_omap_node *cr_omap_seek(const struct cr_omap *m, const char *key,
                                  bool inclusive);

/* In-order walk from cr_omap_seek(@key, @inclusive); stops when @fn
 * returns false. Returns false when stopped early. */
typedef bool (*cr_omap_visit_fn)(struct cr_omap_node *node, void *arg);
bool cr_omap_walk(const struct cr_omap *m, const char *key, bool inclusive,
                  cr_omap_visit_fn fn, void *arg);

/* Removes every node, calling @release on each (post-order, so @release
 * may free the owner). */
void cr_omap_clear(struct cr_omap *m, void (*release)(struct cr_omap_node *));

#endif /* CERTRAFT_SRC_OMAP_H */
