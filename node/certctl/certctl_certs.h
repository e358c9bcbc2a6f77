/*
 * certctl_certs.h - what the two files of the "certs" group share:
 * certctl_certs.c (the registry: upload, list, edit, delete, purge,
 * whoami) and certctl_certgen.c (the commands that write certificate
 * files: generate, export-server).
 */
#ifndef CERTCTL_CERTS_H
#define CERTCTL_CERTS_H

#include <jansson.h>

#include "certctl.h"
#include "certctl_str.h"

extern const char *const certctl_clearance_choices[];
extern const char *const certctl_level_choices[];

/* Builds {"db": "Level", ...} from the --perm values, or prints why not
 * (a usage error) and returns its exit code. */
int certctl_build_permissions(struct certctl_ctx *ctx, const struct certctl_args *args,
                              json_t **out);

/* "db1:Admin,db2:Read" from a Permissions object, databases sorted so that
 * the output does not depend on the server's ordering (certs and client-ca
 * tables). */
int certctl_format_permissions(const json_t *perms, struct certctl_buf *out);

extern const struct certctl_opt certctl_generate_opts[];
int certctl_cmd_generate(struct certctl_ctx *ctx, const struct certctl_args *args);

extern const struct certctl_opt certctl_export_server_opts[];
int certctl_cmd_export_server(struct certctl_ctx *ctx, const struct certctl_args *args);

#endif /* CERTCTL_CERTS_H */
