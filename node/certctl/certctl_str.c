/*
 * certctl_str.c - growable buffer, percent-encoding, text scrubbing and
 * JSON re-indentation.
 */
#include "certctl_str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void certctl_buf_init(struct certctl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void certctl_buf_free(struct certctl_buf *b)
{
    free(b->data);
    certctl_buf_init(b);
}

static int buf_reserve(struct certctl_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > (size_t)-1 - b->len - 1) {
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    cap = b->cap != 0 ? b->cap : 64;
    while (cap < need) {
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int certctl_buf_append(struct certctl_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int certctl_buf_puts(struct certctl_buf *b, const char *s)
{
    return certctl_buf_append(b, s, strlen(s));
}

int certctl_buf_printf(struct certctl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int certctl_percent_encode(struct certctl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t start = b->len;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char enc[3];

        if (is_unreserved(c)) {
            enc[0] = (char)c;
            if (certctl_buf_append(b, enc, 1) != 0) {
                goto oom;
            }
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[c >> 4];
        enc[2] = hex[c & 0x0f];
        if (certctl_buf_append(b, enc, 3) != 0) {
            goto oom;
        }
    }
    return 0;

oom:
    /* Leave no half-encoded value behind. */
    b->len = start;
    if (b->data != NULL) {
        b->data[start] = '\0';
    }
    return -1;
}

int certctl_query_add(struct certctl_buf *b, const char *key, const char *value)
{
    size_t start = b->len;
    const char *sep = (b->data != NULL && strchr(b->data, '?') != NULL) ? "&" : "?";

    if (certctl_buf_puts(b, sep) != 0 || certctl_percent_encode(b, key) != 0 ||
        certctl_buf_puts(b, "=") != 0 || certctl_percent_encode(b, value) != 0) {
        b->len = start;
        if (b->data != NULL) {
            b->data[start] = '\0';
        }
        return -1;
    }
    return 0;
}

void certctl_scrub(char *dst, size_t n, const char *s)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;

    if (n == 0) {
        return;
    }
    while (*p != '\0' && o + 1 < n) {
        unsigned char c = *p;

        if (c == '\n' || c == '\r' || c == '\t') {
            dst[o++] = ' ';
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            dst[o++] = '?';
            p++;
        } else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* U+0080..U+009F: C1 controls, CSI among them. */
            dst[o++] = '?';
            p += 2;
        } else if (c < 0x80) {
            dst[o++] = (char)c;
            p++;
        } else {
            /* Copy a whole UTF-8 sequence or stop, never half of one. */
            size_t len = 1;

            while ((p[len] & 0xc0) == 0x80 && len < 4) {
                len++;
            }
            if (o + len >= n) {
                break;
            }
            memcpy(dst + o, p, len);
            o += len;
            p += len;
        }
    }
    dst[o] = '\0';
}

size_t certctl_display_width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            w++;
        }
    }
    return w;
}

static int pretty_newline(struct certctl_buf *b, size_t depth)
{
    if (certctl_buf_puts(b, "\n") != 0) {
        return -1;
    }
    while (depth-- > 0) {
        if (certctl_buf_puts(b, "  ") != 0) {
            return -1;
        }
    }
    return 0;
}

static int is_json_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies the string token starting at s[*i] (the opening quote). */
static int pretty_string(struct certctl_buf *b, const char *s, size_t len, size_t *i)
{
    size_t p = *i + 1;

    if (certctl_buf_append(b, "\"", 1) != 0) {
        return -1;
    }
    while (p < len && s[p] != '"') {
        unsigned char c = (unsigned char)s[p];
        int rc;

        if (c == '\\' && p + 1 < len) {
            rc = certctl_buf_append(b, s + p, 2); /* an escape, whatever it is */
            p += 2;
        } else if (c == 0x7f) {
            rc = certctl_buf_puts(b, "\\u007f");
            p++;
        } else if (c == 0xc2 && p + 1 < len && (unsigned char)s[p + 1] >= 0x80 &&
                   (unsigned char)s[p + 1] <= 0x9f) {
            rc = certctl_buf_printf(b, "\\u%04x", (unsigned)(unsigned char)s[p + 1]);
            p += 2;
        } else {
            rc = certctl_buf_append(b, s + p, 1);
            p++;
        }
        if (rc != 0) {
            return -1;
        }
    }
    *i = p < len ? p + 1 : p; /* past the closing quote */
    return certctl_buf_append(b, "\"", 1);
}

int certctl_json_pretty(struct certctl_buf *b, const char *s, size_t len)
{
    size_t i = 0, depth = 0;

    /* Empty containers stay "{}" and "[]", as jansson writes them. The
     * empty append makes b->data non-NULL even for empty input. */
    if (certctl_buf_append(b, "", 0) != 0) {
        return -1;
    }
    while (i < len) {
        char c = s[i];
        int rc = 0;

        if (is_json_blank(c)) {
            i++;
            continue;
        }
        if (c == '"') {
            if (pretty_string(b, s, len, &i) != 0) {
                return -1;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            size_t j = i + 1;

            while (j < len && is_json_blank(s[j])) {
                j++;
            }
            if (j < len && s[j] == (c == '{' ? '}' : ']')) {
                rc = certctl_buf_puts(b, c == '{' ? "{}" : "[]");
                i = j + 1;
            } else {
                rc = certctl_buf_append(b, &c, 1);
                if (rc == 0) {
                    rc = pretty_newline(b, ++depth);
                }
                i++;
            }
        } else if (c == '}' || c == ']') {
            depth = depth > 0 ? depth - 1 : 0;
            rc = pretty_newline(b, depth);
            if (rc == 0) {
                rc = certctl_buf_append(b, &c, 1);
            }
            i++;
        } else if (c == ',') {
            rc = certctl_buf_append(b, ",", 1);
            if (rc == 0) {
                rc = pretty_newline(b, depth);
            }
            i++;
        } else if (c == ':') {
            rc = certctl_buf_puts(b, ": ");
            i++;
        } else {
            /* number, true, false, null: up to the next delimiter */
            size_t j = i;

            while (j < len && !is_json_blank(s[j]) && s[j] != ',' && s[j] != ':' &&
                   s[j] != ']' && s[j] != '}') {
                j++;
            }
            if (j == i) {
                j++; /* not JSON after all: copy it rather than stall */
            }
            rc = certctl_buf_append(b, s + i, j - i);
            i = j;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}
