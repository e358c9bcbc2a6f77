/*
 * background.h - changes a node proposes on its own, not on behalf of a
 * waiting client: registering an implicitly trusted certificate, and the
 * steps of a cluster-certificate replacement.
 *
 * On the leader they go straight into the log; a follower sends them to
 * the leader over HTTPS, authenticated with its cluster certificate. They
 * are fire-and-forget: each is retried by whatever noticed the need (the
 * next request with that certificate, the next tick).
 */
#ifndef CERTNODE_BACKGROUND_H
#define CERTNODE_BACKGROUND_H

#include <stddef.h>

#include <certraft/command.h>

struct cr_node;

/* Append @cmd to the log if this node leads (0), else -1. */
int cr_background_propose(struct cr_node *node, const struct cr_command *cmd);

/* Ask the leader to POST @path with an optional JSON @body, presenting
 * this node's cluster certificate; @forwarded_der, when not NULL, is sent
 * as the original caller's certificate. */
void cr_background_to_leader(struct cr_node *node, const char *path,
                             const char *body,
                             const unsigned char *forwarded_der,
                             size_t forwarded_len);

/* Implicit trust: make sure the certificate @der (which authenticated by
 * pinning hash) gets registered, at most once every few seconds. */
void cr_background_register_implicit(struct cr_node *node,
                                     const unsigned char *der, size_t len);

#endif /* CERTNODE_BACKGROUND_H */
