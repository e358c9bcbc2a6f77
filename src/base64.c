/*
 * base64.c - standard base64 with padding (RFC 4648 section 4).
 *
 * Written out rather than through OpenSSL's EVP_Decode*, which accepts
 * some malformed input silently; uploads are user input and a precise
 * "not base64" is more helpful.
 */
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cr_base64_encode(const unsigned char *in, size_t len)
{
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    size_t i, o = 0;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
                     in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len) {
            v |= (unsigned)in[i + 1] << 8;
        }
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* Each byte's 6-bit value; 64 for everything outside the alphabet
 * (padding, whitespace and garbage alike, which the slow path sorts out). */
static const unsigned char b64_values[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

static int b64_value(unsigned char c)
{
    return b64_values[c] < 64 ? b64_values[c] : -1;
}

static int b64_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum cr_status cr_base64_decode(const char *in, size_t inlen,
                                unsigned char **out, size_t *outlen,
                                struct cr_error *err)
{
    unsigned char *buf = malloc(inlen / 4 * 3 + 3);
    size_t o = 0, pad = 0, quad = 0, i;
    unsigned v = 0;

    if (buf == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory decoding base64");
    }
    for (i = 0; i < inlen; i++) {
        unsigned char c;
        int d;
        /* Fast path: four alphabet characters at a quad boundary, before
         * any padding (all of an unwrapped upload but its last quad), are
         * three bytes. */
        while (quad == 0 && pad == 0 && inlen - i >= 4) {
            unsigned a = b64_values[(unsigned char)in[i]],
                     b = b64_values[(unsigned char)in[i + 1]],
                     x = b64_values[(unsigned char)in[i + 2]],
                     y = b64_values[(unsigned char)in[i + 3]], w;
            if ((a | b | x | y) >= 64) {
                break;
            }
            w = a << 18 | b << 12 | x << 6 | y;
            buf[o++] = (unsigned char)(w >> 16);
            buf[o++] = (unsigned char)(w >> 8);
            buf[o++] = (unsigned char)w;
            i += 4;
        }
        if (i >= inlen) {
            break;
        }
        c = (unsigned char)in[i];
        if (b64_is_space(c)) {
            continue;
        }
        if (c == '=') {
            /* Padding only in the last quad, at most two of them. */
            if (quad < 2 || ++pad > 2) {
                goto bad;
            }
            v <<= 6;
            if (++quad == 4) {
                buf[o++] = (unsigned char)(v >> 16);
                if (pad == 1) {
                    buf[o++] = (unsigned char)(v >> 8);
                }
                quad = 0;
                v = 0;
            }
            continue;
        }
        if (pad > 0 || (d = b64_value(c)) < 0) {
            goto bad;
        }
        v = v << 6 | (unsigned)d;
        if (++quad == 4) {
            buf[o++] = (unsigned char)(v >> 16);
            buf[o++] = (unsigned char)(v >> 8);
            buf[o++] = (unsigned char)v;
            quad = 0;
            v = 0;
        }
    }
    if (quad != 0) {
        goto bad;
    }
    *out = buf;
    *outlen = o;
    return CR_OK;
bad:
    free(buf);
    return cr_error_set(err, CR_EINVAL,
                        "not valid base64: use the standard alphabet "
                        "(A-Z a-z 0-9 + /) with '=' padding");
}
