/*
 * certctl_rotation.h - the cluster certificate rotation commands of the
 * "cluster" group, written in certctl_rotation.c and listed in
 * certctl_cluster.c's table: renew-cert, replace-cert, rotation-status.
 */
#ifndef CERTCTL_ROTATION_H
#define CERTCTL_ROTATION_H

#include "certctl.h"

extern const struct certctl_opt certctl_renew_cert_opts[];
int certctl_cmd_renew_cert(struct certctl_ctx *ctx, const struct certctl_args *args);

extern const struct certctl_opt certctl_replace_cert_opts[];
int certctl_cmd_replace_cert(struct certctl_ctx *ctx, const struct certctl_args *args);

extern const struct certctl_opt certctl_rotation_status_opts[];
int certctl_cmd_rotation_status(struct certctl_ctx *ctx, const struct certctl_args *args);

#endif /* CERTCTL_ROTATION_H */
