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

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
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
        unsigned char c = (unsigned char)in[i];
        int d;
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
