/*
 * buf.c - a growable byte buffer, doubling so appends are amortised O(1)
 * even for multi-gigabyte snapshots.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int cr_buf_reserve(struct cr_buf *buf, size_t extra)
{
    size_t want, cap;
    unsigned char *p;

    if (extra > SIZE_MAX - buf->len) {
        return -1;
    }
    want = buf->len + extra;
    if (want <= buf->cap) {
        return 0;
    }
    cap = buf->cap != 0 ? buf->cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2) {
            cap = want;
            break;
        }
        cap *= 2;
    }
    p = realloc(buf->data, cap);
    if (p == NULL) {
        return -1;
    }
    buf->data = p;
    buf->cap = cap;
    return 0;
}

int cr_buf_append(struct cr_buf *buf, const void *data, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (cr_buf_reserve(buf, len) != 0) {
        return -1;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

int cr_buf_sink(void *buf, const void *data, size_t len)
{
    return cr_buf_append(buf, data, len);
}

void cr_buf_free(struct cr_buf *buf)
{
    if (buf == NULL) {
        return;
    }
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}
