/*
 * certctl_global.h - certctl's global options (node URLs, client
 * certificate, server verification, output format, timeout): their option
 * table and their resolution into one checked struct.
 *
 * Pure (libc only) so that unit tests can compile it in directly.
 */
#ifndef CERTCTL_GLOBAL_H
#define CERTCTL_GLOBAL_H

#include <stddef.h>

#include "certctl_args.h"

enum certctl_output
{
    CERTCTL_OUTPUT_TABLE,
    CERTCTL_OUTPUT_JSON,
};

struct certctl_global
{
    char **urls; /* normalised (no trailing '/'), in the order to try */
    size_t nurls;
    /* Borrowed from argv/environ. cert+key or pfx; password is the key's
     * or the PFX's password and must never be printed. */
    const char *cert;
    const char *key;
    const char *pfx;
    const char *password;
    const char *cacert;
    int insecure;
    enum certctl_output output;
    long timeout; /* seconds, per request */
};

extern const struct certctl_opt certctl_global_opts[];

/* Appends the URLs in a comma-separated list to urls/nurls: blanks around
 * entries are trimmed, empty entries skipped, trailing '/' removed. Each
 * must be http:// or https:// with a host. Returns 0 or -1 with err. */
int certctl_urls_split(const char *csv, char ***urls, size_t *nurls, char *err,
                       size_t errlen);
void certctl_urls_free(char **urls, size_t nurls);

/* Checks parsed global options (environment already applied) and fills g.
 * Returns 0, or -1 with a one-line reason (a usage error). */
int certctl_global_resolve(const struct certctl_args *a, struct certctl_global *g,
                           char *err, size_t errlen);
void certctl_global_free(struct certctl_global *g);

#endif /* CERTCTL_GLOBAL_H */
