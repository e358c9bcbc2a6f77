/*
 * etl_http.h - the HTTPS client an ETL batch uses to talk to the
 * destination cluster, on a thread-pool thread.
 *
 * It authenticates with this cluster's certificate (the one the
 * destination registered, RavenDB's export -> upload), and it trusts the
 * destination by public key pin: a probe (GET /certificates/whoami, no
 * data sent) reads the key of the certificate the destination serves, the
 * loop thread checks that key against this cluster's registry (the
 * destination's server certificate must have been uploaded here, as
 * RavenDB's ETL set-up asks), and every later request pins it, so a
 * renewed certificate with the same key keeps working and any other
 * server is refused before a document leaves. One handle per batch keeps
 * one TLS connection alive across its requests.
 */
#ifndef CERTNODE_ETL_HTTP_H
#define CERTNODE_ETL_HTTP_H

#include <stddef.h>

struct cr_etl_http;

/* @cert_pem/@key_pem are borrowed and must outlive the client. */
struct cr_etl_http *cr_etl_http_new(const char *cert_pem, const char *key_pem);
void cr_etl_http_free(struct cr_etl_http *c);

/* GET <url>/certificates/whoami without verifying the server; on a TLS
 * connection, *pin and *thumbprint are the served certificate's (empty if
 * unknown). Returns the HTTP status, or 0 with @err set when no answer
 * came. The body (the destination's view of us) goes to @body (malloc'ed,
 * may be NULL). */
long cr_etl_http_probe(struct cr_etl_http *c, const char *url, char *pin,
                       size_t pinlen, char *thumbprint, size_t thumblen,
                       char **body, char *err, size_t errlen);

/* One request pinned to @pin (base64 SHA-256 of the server's public key).
 * Returns the HTTP status, or 0 with @err set; the response body goes to
 * *resp (malloc'ed, may be NULL; pass NULL to drop it). */
long cr_etl_http_request(struct cr_etl_http *c, const char *method,
                         const char *url, const char *pin, const char *body,
                         size_t body_len, char **resp, char *err,
                         size_t errlen);

/* One of the independent requests cr_etl_http_parallel() runs. */
struct cr_etl_http_op {
    const char *method;
    char *url;          /* owned by the caller */
    const char *body;   /* NULL for none */
    size_t body_len;
    long ok1, ok2;      /* the statuses that mean success */
    /* out */
    bool started;
    long status;        /* 0: no answer (see err) */
    char *resp;         /* malloc'ed body, or NULL */
    char err[256];
};

/* Run @ops, at most @par at a time, each on its own kept-alive
 * connection, all pinned to @pin. Once one fails (no answer, or a status
 * other than ok1/ok2) no further op is started; those in flight finish.
 * Returns the number of ops started. */
size_t cr_etl_http_parallel(struct cr_etl_http *c, struct cr_etl_http_op *ops,
                            size_t n, unsigned par, const char *pin);

/* "%XX"-escape a document id for a query string (malloc'ed). */
char *cr_etl_http_escape(const char *s);

#endif /* CERTNODE_ETL_HTTP_H */
