/*
 * certctl_clientca.h - the "client-ca" group (certctl_clientca.c): named
 * client CA bundles, CockroachDB's model, whose certificates authenticate
 * with the bundle's clearance and permissions.
 */
#ifndef CERTCTL_CLIENTCA_H
#define CERTCTL_CLIENTCA_H

#include "certctl.h"

extern const struct certctl_command certctl_clientca_commands[];

#endif /* CERTCTL_CLIENTCA_H */
