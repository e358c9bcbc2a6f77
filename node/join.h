/*
 * join.h - fetching the cluster certificate as a newly admitted node.
 */
#ifndef CERTNODE_JOIN_H
#define CERTNODE_JOIN_H

#include <stddef.h>

struct cr_join_options {
    const char *cluster_urls; /* comma-separated https:// URLs */
    const char *join_cert_pem;
    const char *join_key_pem;
    const char *ca_pem; /* verify the cluster with this; NULL: trust on
                           first use */
    unsigned wait_seconds;
};

/* Poll the cluster until the administrator admits this node, then return
 * the cluster certificate and key (malloc'ed PEM). */
int cr_join_fetch_cluster_cert(const struct cr_join_options *o,
                               char **cert_pem, char **key_pem, char *err,
                               size_t errlen);

#endif /* CERTNODE_JOIN_H */
