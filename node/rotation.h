/*
 * rotation.h - the node's part of replacing the cluster certificate.
 */
#ifndef CERTNODE_ROTATION_H
#define CERTNODE_ROTATION_H

#include <stdbool.h>
#include <stdint.h>

struct cr_node;

struct cr_rotation_state {
    char prepared_for[65]; /* thumbprint whose .new files are staged */
    bool unseal_failed;    /* said so once already */
    int64_t last_confirm_ms;
    int64_t last_switched_ms;
    int64_t last_cleanup_ms;
};

/* Advance this node's part of a replacement; called on every tick. */
void cr_rotation_tick(struct cr_node *node);

#endif /* CERTNODE_ROTATION_H */
