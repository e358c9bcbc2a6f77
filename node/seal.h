/*
 * seal.h - encrypting a new cluster private key for its trip through the
 * raft log.
 *
 * Every node holds the current cluster key, so a key derived from it
 * (HKDF-SHA256 over its PKCS#8 encoding) can seal the replacement key with
 * AES-256-GCM: the log, snapshots and data directories then carry only
 * ciphertext, which only holders of the current cluster key can open.
 * Layout: 12-byte nonce | ciphertext | 16-byte tag.
 */
#ifndef CERTNODE_SEAL_H
#define CERTNODE_SEAL_H

#include <stddef.h>

#include <openssl/evp.h>

/* @context binds the ciphertext to its purpose (the new thumbprint). */
int cr_seal(EVP_PKEY *sealing_key, const char *context,
            const unsigned char *plain, size_t len, unsigned char **out,
            size_t *outlen);
/* Returns 0 and a malloc'ed plaintext (wipe it after use), or -1 when the
 * key is not the one that sealed it or the data was altered. */
int cr_unseal(EVP_PKEY *sealing_key, const char *context,
              const unsigned char *sealed, size_t len, unsigned char **out,
              size_t *outlen);

#endif /* CERTNODE_SEAL_H */
