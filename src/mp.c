/*
 * mp.c - a bounds-checking msgpack pre-scan, a cr_buf packer, and typed
 * field readers with messages that name the field.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mp.h"

static uint64_t be_read(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

int cr_mp_scan(const unsigned char *data, size_t len, size_t *objlen)
{
    size_t pos = 0;
    uint64_t pending = 1; /* objects still to read, all levels */
    uint64_t left[CR_MP_MAX_DEPTH + 1]; /* still to read, per level */
    int depth = 0;

    left[0] = 1;
    while (pending > 0) {
        uint64_t children = 0, payload = 0;
        size_t head = 1;
        unsigned char b;

        if (pos >= len) {
            return -1;
        }
        b = data[pos];
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            head = 1;
        } else if (b >= 0x80 && b <= 0x8f) {
            children = 2u * (b & 0x0f);
        } else if (b >= 0x90 && b <= 0x9f) {
            children = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            payload = b & 0x1f;
        } else {
            /* Sized headers: how many length bytes, and what follows. */
            size_t nlen = 0, fixed = 0;
            int kind = 0; /* 0 fixed, 1 payload, 2 ext, 3 array, 4 map */
            switch (b) {
            case 0xc4: case 0xd9: nlen = 1; kind = 1; break;
            case 0xc5: case 0xda: nlen = 2; kind = 1; break;
            case 0xc6: case 0xdb: nlen = 4; kind = 1; break;
            case 0xc7: nlen = 1; kind = 2; break;
            case 0xc8: nlen = 2; kind = 2; break;
            case 0xc9: nlen = 4; kind = 2; break;
            case 0xca: fixed = 4; break;
            case 0xcb: fixed = 8; break;
            case 0xcc: case 0xd0: fixed = 1; break;
            case 0xcd: case 0xd1: fixed = 2; break;
            case 0xce: case 0xd2: fixed = 4; break;
            case 0xcf: case 0xd3: fixed = 8; break;
            case 0xd4: fixed = 2; break;
            case 0xd5: fixed = 3; break;
            case 0xd6: fixed = 5; break;
            case 0xd7: fixed = 9; break;
            case 0xd8: fixed = 17; break;
            case 0xdc: nlen = 2; kind = 3; break;
            case 0xdd: nlen = 4; kind = 3; break;
            case 0xde: nlen = 2; kind = 4; break;
            case 0xdf: nlen = 4; kind = 4; break;
            default: return -1; /* 0xc1 is never used */
            }
            if (len - pos - 1 < nlen) {
                return -1;
            }
            uint64_t n = be_read(data + pos + 1, nlen);
            head = 1 + nlen;
            switch (kind) {
            case 0: payload = fixed; break;
            case 1: payload = n; break;
            case 2: payload = n + 1; break; /* type byte + data */
            case 3: children = n; break;
            case 4: children = 2 * n; break;
            }
        }
        if (len - pos < head || len - pos - head < payload) {
            return -1;
        }
        pos += head + (size_t)payload;
        pending = pending - 1 + children;
        left[depth]--;
        if (children > 0) {
            if (depth == CR_MP_MAX_DEPTH) {
                return -1;
            }
            left[++depth] = children;
        }
        while (depth > 0 && left[depth] == 0) {
            depth--;
        }
        /* Every pending object needs at least one more byte. */
        if (pending > len - pos) {
            return -1;
        }
    }
    *objlen = pos;
    return 0;
}

enum cr_status cr_mp_unpack_one(msgpack_unpacked *u, const unsigned char *data,
                                size_t len, const char *what,
                                struct cr_error *err)
{
    size_t objlen = 0, off = 0;

    if (data == NULL || len == 0) {
        return cr_error_set(err, CR_EINVAL, "%s is empty", what);
    }
    if (cr_mp_scan(data, len, &objlen) != 0) {
        return cr_error_set(err, CR_EINVAL,
                            "%s is truncated or not valid msgpack", what);
    }
    if (objlen != len) {
        return cr_error_set(err, CR_EINVAL,
                            "%s has %zu trailing bytes", what, len - objlen);
    }
    switch (msgpack_unpack_next(u, (const char *)data, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        if (off == len) {
            return CR_OK;
        }
        return cr_error_set(err, CR_EINVAL, "%s has trailing bytes", what);
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return cr_error_set(err, CR_ENOMEM, "out of memory decoding %s",
                            what);
    default:
        /* Nesting deeper than msgpack-c's stack, for instance. */
        return cr_error_set(err, CR_EINVAL, "%s is not valid msgpack", what);
    }
}

static int writer_write(void *data, const char *buf, size_t len)
{
    struct cr_mp_writer *w = data;

    if (w->failed || w->sink(w->arg, buf, len) != 0) {
        w->failed = true;
        return -1;
    }
    return 0;
}

void cr_mp_writer_init_sink(struct cr_mp_writer *w, cr_write_fn sink,
                            void *arg)
{
    w->sink = sink;
    w->arg = arg;
    w->failed = false;
    msgpack_packer_init(&w->pk, w, writer_write);
}

void cr_mp_writer_init(struct cr_mp_writer *w, struct cr_buf *buf)
{
    cr_mp_writer_init_sink(w, cr_buf_sink, buf);
}

void cr_mp_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void cr_mp_pack_str(msgpack_packer *pk, const char *s)
{
    if (s == NULL) {
        s = "";
    }
    cr_mp_pack_strn(pk, s, strlen(s));
}

void cr_mp_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

bool cr_mp_key_is(const msgpack_object *key, const char *name)
{
    size_t n = strlen(name);

    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n &&
           memcmp(key->via.str.ptr, name, n) == 0;
}

enum cr_status cr_mp_get_u64(const msgpack_object *o, const char *field,
                             uint64_t *out, struct cr_error *err)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must be a non-negative integer", field);
    }
    *out = o->via.u64;
    return CR_OK;
}

enum cr_status cr_mp_get_i64(const msgpack_object *o, const char *field,
                             int64_t *out, struct cr_error *err)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return CR_OK;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return CR_OK;
    }
    return cr_error_set(err, CR_EINVAL,
                        "field '%s' must be a 64-bit signed integer", field);
}

enum cr_status cr_mp_get_bool(const msgpack_object *o, const char *field,
                              bool *out, struct cr_error *err)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        return cr_error_set(err, CR_EINVAL, "field '%s' must be a boolean",
                            field);
    }
    *out = o->via.boolean;
    return CR_OK;
}

static enum cr_status str_check(const msgpack_object *o, const char *field,
                                size_t max, struct cr_error *err)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return cr_error_set(err, CR_EINVAL, "field '%s' must be a string",
                            field);
    }
    if (o->via.str.size > max) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' is too long (%u bytes, at most %zu)",
                            field, (unsigned)o->via.str.size, max);
    }
    if (o->via.str.size > 0 &&
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' contains a NUL byte", field);
    }
    return CR_OK;
}

enum cr_status cr_mp_get_str(const msgpack_object *o, const char *field,
                             size_t max, char **out, struct cr_error *err)
{
    enum cr_status rv = str_check(o, field, max, err);
    char *s;

    if (rv != CR_OK) {
        return rv;
    }
    s = malloc(o->via.str.size + 1);
    if (s == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory reading '%s'",
                            field);
    }
    if (o->via.str.size > 0) {
        memcpy(s, o->via.str.ptr, o->via.str.size);
    }
    s[o->via.str.size] = '\0';
    *out = s;
    return CR_OK;
}

enum cr_status cr_mp_get_strbuf(const msgpack_object *o, const char *field,
                                char *out, size_t size, struct cr_error *err)
{
    enum cr_status rv = str_check(o, field, size - 1, err);

    if (rv != CR_OK) {
        return rv;
    }
    if (o->via.str.size > 0) {
        memcpy(out, o->via.str.ptr, o->via.str.size);
    }
    out[o->via.str.size] = '\0';
    return CR_OK;
}

enum cr_status cr_mp_get_bin(const msgpack_object *o, const char *field,
                             size_t max, unsigned char **out, size_t *len,
                             struct cr_error *err)
{
    unsigned char *p;

    if (o->type != MSGPACK_OBJECT_BIN) {
        return cr_error_set(err, CR_EINVAL, "field '%s' must be binary",
                            field);
    }
    if (o->via.bin.size == 0 || o->via.bin.size > max) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must hold 1 to %zu bytes", field, max);
    }
    p = malloc(o->via.bin.size);
    if (p == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory reading '%s'",
                            field);
    }
    memcpy(p, o->via.bin.ptr, o->via.bin.size);
    *out = p;
    *len = o->via.bin.size;
    return CR_OK;
}

enum cr_status cr_mp_get_thumb(const msgpack_object *o, const char *field,
                               bool allow_empty, char *out,
                               struct cr_error *err)
{
    char tmp[CR_THUMBPRINT_LEN + 1];

    if (o->type != MSGPACK_OBJECT_STR ||
        o->via.str.size > CR_THUMBPRINT_LEN) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must be a thumbprint (64 hex digits)",
                            field);
    }
    memcpy(tmp, o->via.str.ptr, o->via.str.size);
    tmp[o->via.str.size] = '\0';
    if (o->via.str.size == 0 && allow_empty) {
        out[0] = '\0';
        return CR_OK;
    }
    if (!cr_thumbprint_valid(tmp)) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must be a thumbprint (64 hex digits)",
                            field);
    }
    cr_thumbprint_normalize(tmp);
    memcpy(out, tmp, sizeof tmp);
    return CR_OK;
}
