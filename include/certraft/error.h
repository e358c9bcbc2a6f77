/*
 * error.h - the one error type of certraft.
 *
 * Every fallible core function takes a `struct cr_error *` (which may be
 * NULL) and returns a `enum cr_status`. The message is written for the user
 * who sent the request: it says what was wrong and, where possible, what to
 * do instead. Messages never contain secrets (passwords, private keys).
 */
#ifndef CERTRAFT_ERROR_H
#define CERTRAFT_ERROR_H

#include <stddef.h>

enum cr_status {
    CR_OK = 0,
    CR_EINVAL,       /* 400: malformed or invalid input */
    CR_EUNAUTH,      /* 401: no client certificate */
    CR_EFORBIDDEN,   /* 403: authenticated but not allowed, or unknown */
    CR_ENOTFOUND,    /* 404 */
    CR_ECONFLICT,    /* 409: exists already, or state forbids it now */
    CR_ETOOLARGE,    /* 413 */
    CR_EUNAVAILABLE, /* 503: no leader, no quorum, shutting down */
    CR_ENOMEM,       /* 500 */
    CR_EINTERNAL     /* 500 */
};

#define CR_ERROR_MSG_SIZE 256

struct cr_error {
    enum cr_status status;
    char msg[CR_ERROR_MSG_SIZE];
};

/* Record @status and a printf-style message in @err (if not NULL);
 * returns @status so that callers can `return cr_error_set(...)`. */
enum cr_status cr_error_set(struct cr_error *err, enum cr_status status,
                            const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void cr_error_clear(struct cr_error *err);

/* 400, 401, ... for the HTTP layer. */
int cr_status_http(enum cr_status status);

/* "BadRequest", "Unauthorized", ... the "Type" of a JSON error body. */
const char *cr_status_type(enum cr_status status);

#endif /* CERTRAFT_ERROR_H */
