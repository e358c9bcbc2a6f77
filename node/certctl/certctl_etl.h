/*
 * certctl_etl.h - the "certctl etl" command group (certctl_etl.c): ETL
 * tasks to another certraft cluster.
 */
#ifndef CERTCTL_ETL_H
#define CERTCTL_ETL_H

#include "certctl.h"

extern const struct certctl_command certctl_etl_commands[];

#endif /* CERTCTL_ETL_H */
