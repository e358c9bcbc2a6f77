/*
 * thumb_digest.c - binary thumbprints: the SHA-256 of a DER certificate,
 * and the conversion from the hex form that entries and users carry.
 *
 * The digest is on every request's path: it uses the SHA-256 fetched
 * once for the process (cr_md_sha256), not EVP_sha256(), which OpenSSL
 * 3.0 fetches again on every call.
 */
#include <openssl/evp.h>

#include "state_internal.h"
#include "x509_internal.h"

bool cr_thumb_digest(const unsigned char *der, size_t len,
                     unsigned char *digest)
{
    unsigned int n = 0;

    return EVP_Digest(der, len, digest, &n, cr_md_sha256(), NULL) == 1 &&
           n == CR_DIGEST_LEN;
}

/* Each upper-case hex digit's value plus one; 0 for any other byte,
 * '\0' included. A table rather than comparisons: the digits of a digest
 * are random, and a branch on each one's range would be mispredicted
 * half the time. */
static const unsigned char hex_plus1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

bool cr_thumb_from_hex(const char *hex, unsigned char *digest)
{
    size_t i;

    for (i = 0; i < CR_DIGEST_LEN; i++) {
        unsigned hi = hex_plus1[(unsigned char)hex[2 * i]], lo;
        /* Stops at the first non-digit, so never reads past a '\0'. */
        if (hi == 0 || (lo = hex_plus1[(unsigned char)hex[2 * i + 1]]) == 0) {
            return false;
        }
        digest[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return true;
}
