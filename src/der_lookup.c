/*
 * der_lookup.c - the registered entry for a presented certificate, found
 * while its SHA-256 is computed.
 *
 * Authentication needs both the SHA-256 of the presented DER (it names
 * the caller) and the entry registered under it. At a million entries
 * the entry is two dependent DRAM accesses, the index slot and then the
 * node (~160 and ~370 ns on the VM the benchmarks ran on, the second
 * with a TLB miss), against ~430 ns for the digest: taken one after the
 * other, a lookup cost 1.5x its time at 10k entries, where both are in
 * cache. Here the slot comes from a seeded XXH3 of the DER (~30 ns), not
 * from the digest, so both accesses overlap the digest: the home slot is
 * prefetched, the digest's first blocks computed while it arrives, the
 * candidate node prefetched, and the rest of the digest computed while
 * that arrives. The whole digest is compared before an entry is
 * returned, so a colliding hash costs a probe, never a wrong answer.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define XXH_INLINE_ALL /* header-only: nothing to load at run time */
#include <xxhash.h>

#include "state_internal.h"
#include "x509_internal.h"

/* The digest's first part: about what the slot's DRAM access takes at
 * ~0.6 ns a byte; the rest (a 700-byte certificate's ~440 bytes) covers
 * the node's, which is longer. */
#define FIRST_PART 256u

uint64_t cr_registry_der_tag(const struct cr_registry *reg,
                             const unsigned char *der, size_t len)
{
    return XXH3_64bits_withSeed(der, len, reg->der_seed);
}

void cr_registry_seed(struct cr_registry *reg)
{
    if (RAND_bytes((unsigned char *)&reg->der_seed, sizeof reg->der_seed) !=
        1) {
        reg->der_seed = 0; /* still correct; collisions become plannable */
    }
}

/* Ask for the cache lines of @n that authentication reads. */
static void prefetch_node(const struct cr_cert_node *n)
{
    __builtin_prefetch(n->digest);
    __builtin_prefetch(&n->e.clearance);
    __builtin_prefetch(&n->e.disabled);
    __builtin_prefetch(n->e.primary);
}

/* One digest context per thread, kept: a fresh one per call costs an
 * allocation and the provider's setup. */
static EVP_MD_CTX *digest_ctx(void)
{
    static _Thread_local EVP_MD_CTX *ctx;

    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
    }
    return ctx;
}

bool cr_registry_find_der(const struct cr_registry *reg,
                          const unsigned char *der, size_t len,
                          unsigned char *digest, struct cr_cert_node **out)
{
    uint64_t tag = cr_registry_der_tag(reg, der, len);
    size_t first = len < FIRST_PART ? len : FIRST_PART, pos;
    EVP_MD_CTX *ctx = digest_ctx();
    struct cr_cert_node *n;
    unsigned int dlen = 0;

    *out = NULL;
    cr_tag_index_prefetch(&reg->by_der, tag);
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, cr_md_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, der, first)) {
        return false;
    }
    pos = cr_tag_index_home(&reg->by_der, tag);
    n = cr_tag_index_next(&reg->by_der, tag, &pos);
    if (n != NULL) {
        prefetch_node(n);
    }
    if (!EVP_DigestUpdate(ctx, der + first, len - first) ||
        !EVP_DigestFinal_ex(ctx, digest, &dlen) || dlen != CR_DIGEST_LEN) {
        return false;
    }
    for (; n != NULL; n = cr_tag_index_next(&reg->by_der, tag, &pos)) {
        if (memcmp(n->digest, digest, CR_DIGEST_LEN) == 0) {
            *out = n;
            break;
        }
    }
    return true;
}
