/*
 * error.c - recording errors and mapping them to HTTP.
 *
 * Kept apart so that every module reports failures the same way and the
 * HTTP layer has one table for status codes and JSON "Type" names.
 */
#include <stdarg.h>
#include <stdio.h>

#include <certraft/error.h>

enum cr_status cr_error_set(struct cr_error *err, enum cr_status status,
                            const char *fmt, ...)
{
    va_list ap;

    if (err == NULL) {
        return status;
    }
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return status;
}

void cr_error_clear(struct cr_error *err)
{
    if (err != NULL) {
        err->status = CR_OK;
        err->msg[0] = '\0';
    }
}

int cr_status_http(enum cr_status status)
{
    switch (status) {
    case CR_OK: return 200;
    case CR_EINVAL: return 400;
    case CR_EUNAUTH: return 401;
    case CR_EFORBIDDEN: return 403;
    case CR_ENOTFOUND: return 404;
    case CR_ECONFLICT: return 409;
    case CR_ETOOLARGE: return 413;
    case CR_EUNAVAILABLE: return 503;
    case CR_ENOMEM:
    case CR_EINTERNAL: return 500;
    }
    return 500;
}

const char *cr_status_type(enum cr_status status)
{
    switch (status) {
    case CR_OK: return "OK";
    case CR_EINVAL: return "BadRequest";
    case CR_EUNAUTH: return "Unauthorized";
    case CR_EFORBIDDEN: return "Forbidden";
    case CR_ENOTFOUND: return "NotFound";
    case CR_ECONFLICT: return "Conflict";
    case CR_ETOOLARGE: return "PayloadTooLarge";
    case CR_EUNAVAILABLE: return "ServiceUnavailable";
    case CR_ENOMEM: return "OutOfMemory";
    case CR_EINTERNAL: return "InternalError";
    }
    return "InternalError";
}
