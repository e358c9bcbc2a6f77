/*
 * types.h - clearances and access levels, the vocabulary of authorization.
 *
 * Names are RavenDB's, so that its users and scripts feel at home:
 * SecurityClearance ClusterAdmin / Operator / ValidUser (and ClusterNode
 * for the nodes' own certificates), database access Admin / ReadWrite /
 * Read.
 */
#ifndef CERTRAFT_TYPES_H
#define CERTRAFT_TYPES_H

#include <stdbool.h>

#include <certraft/error.h>

/* Ordered: a higher value includes the rights of the lower ones. */
enum cr_clearance {
    CR_CLEARANCE_NONE = 0,
    CR_CLEARANCE_VALID_USER,
    CR_CLEARANCE_OPERATOR,
    CR_CLEARANCE_CLUSTER_ADMIN,
    CR_CLEARANCE_CLUSTER_NODE
};

/* Ordered likewise. */
enum cr_access {
    CR_ACCESS_NONE = 0,
    CR_ACCESS_READ,
    CR_ACCESS_READ_WRITE,
    CR_ACCESS_ADMIN
};

const char *cr_clearance_name(enum cr_clearance c); /* "ClusterAdmin" */
/* Case-sensitive as RavenDB; CR_EINVAL lists the accepted names. */
enum cr_status cr_clearance_parse(const char *s, enum cr_clearance *out,
                                  struct cr_error *err);

const char *cr_access_name(enum cr_access a); /* "ReadWrite" */
enum cr_status cr_access_parse(const char *s, enum cr_access *out,
                               struct cr_error *err);

/* Database names: 1..128 chars of [A-Za-z0-9_.-], not starting with '.'. */
bool cr_database_name_valid(const char *name);
/* Document ids: 1..512 bytes, no control characters. */
bool cr_document_id_valid(const char *id);

struct cr_permission {
    char *database;
    enum cr_access access;
};

#endif /* CERTRAFT_TYPES_H */
