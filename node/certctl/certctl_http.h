/*
 * certctl_http.h - certctl's HTTPS client: mutual TLS with the configured
 * client certificate, node fail-over for reads and leader routing for
 * writes.
 *
 * Reads go to the "live" node: the first of the configured URLs that gives
 * any HTTP answer (an error status counts; a refused or timed-out
 * connection does not). Writes first ask the live node for
 * /cluster/topology and go to the LeaderApiUrl it names; if the request
 * could not even be sent there, they go to the live node, which forwards
 * to the leader itself. A write is never re-sent once it may have reached
 * a node, so it cannot be applied twice.
 */
#ifndef CERTCTL_HTTP_H
#define CERTCTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "certctl_global.h"

struct certctl_client;

struct certctl_reply
{
    long status;     /* HTTP status code */
    char reason[64]; /* reason phrase from the status line (may be empty) */
    char *body;      /* NUL-terminated; may be binary (a zip, a PFX) */
    size_t len;
    json_t *json;    /* the parsed body, or NULL if it was not JSON */
    /* X-Certraft-Thumbprint of a generated certificate, scrubbed of
     * control characters; empty when absent. */
    char thumbprint[160];
};

/* Creates a client; g must outlive it. Returns 0, or -1 with err. */
int certctl_client_new(const struct certctl_global *g, struct certctl_client **out,
                       char *err, size_t errlen);
void certctl_client_free(struct certctl_client *c);

/* Sends a GET to the live node, finding it first if need be. Returns 0
 * when a node answered (whatever the status), or -1 with err (one line). */
int certctl_client_read(struct certctl_client *c, const char *path,
                        struct certctl_reply *r, char *err, size_t errlen);

/* Sends a write (PUT/POST/DELETE; body may be NULL) to the leader as
 * described above. Same return convention as certctl_client_read(). */
int certctl_client_write(struct certctl_client *c, const char *method,
                         const char *path, const char *body,
                         struct certctl_reply *r, char *err, size_t errlen);

/* Either of the above (a GET is a read), asking for `accept` as the
 * reply's media type instead of application/json. body, if any, is JSON. */
int certctl_client_request(struct certctl_client *c, const char *method,
                           const char *path, const char *body, const char *accept,
                           struct certctl_reply *r, char *err, size_t errlen);

/* Frees a reply, first overwriting its body: a generated certificate's
 * reply holds its private key. */
void certctl_reply_free(struct certctl_reply *r);

#endif /* CERTCTL_HTTP_H */
