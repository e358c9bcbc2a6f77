/*
 * certctl_str.h - string helpers for certctl: a growable buffer, RFC 3986
 * percent-encoding of query values, scrubbing of server-supplied text
 * before it reaches a terminal, and JSON re-indentation.
 *
 * Pure (libc only) so that unit tests can compile it in directly.
 */
#ifndef CERTCTL_STR_H
#define CERTCTL_STR_H

#include <stddef.h>

struct certctl_buf
{
    char *data; /* always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
};

void certctl_buf_init(struct certctl_buf *b);
void certctl_buf_free(struct certctl_buf *b);
/* Each returns 0, or -1 when out of memory (the buffer is left as it was). */
int certctl_buf_append(struct certctl_buf *b, const char *s, size_t n);
int certctl_buf_puts(struct certctl_buf *b, const char *s);
int certctl_buf_printf(struct certctl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s with every byte outside RFC 3986 "unreserved" as %XX. */
int certctl_percent_encode(struct certctl_buf *b, const char *s);

/* Appends "?key=value" (or "&key=value" if b already holds a query) with
 * both parts percent-encoded. */
int certctl_query_add(struct certctl_buf *b, const char *key, const char *value);

/* Copies s into dst (size n, always terminated), replacing line breaks
 * and tabs with a space and other C0/C1 control characters with '?', so
 * that a hostile server cannot break our one-line messages or send
 * terminal escape sequences. Cut at a UTF-8 character boundary. */
void certctl_scrub(char *dst, size_t n, const char *s);

/* Appends JSON text s[0..len), which must already be known to be valid
 * JSON, re-indented by two spaces per level like jansson's JSON_INDENT(2)
 * output, but with every token copied as it was: numbers keep their exact
 * digits and objects their key order and duplicates. DEL and C1 control
 * characters inside strings are written as \u escapes (same meaning) so
 * that a document cannot send terminal escape sequences. No final
 * newline. Returns 0 or -1 when out of memory. */
int certctl_json_pretty(struct certctl_buf *b, const char *s, size_t len);

/* Number of terminal columns s takes, counting one per UTF-8 character. */
size_t certctl_display_width(const char *s);

#endif /* CERTCTL_STR_H */
