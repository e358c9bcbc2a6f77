/*
 * mp.h - msgpack helpers shared by the command codec and snapshots.
 *
 * msgpack-c allocates containers from their declared sizes before it
 * reads them, so a five-byte input declaring 2^32 elements would ask for
 * ~100 GB. cr_mp_scan() walks the bytes first, without allocating, and
 * rejects any container that declares more elements than bytes remain;
 * only input that passed the scan reaches msgpack_unpack_next().
 * The scan also bounds nesting depth.
 */
#ifndef CERTRAFT_SRC_MP_H
#define CERTRAFT_SRC_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <certraft/command.h>
#include <certraft/error.h>

/* Nesting allowed; commands and snapshot records need 3. msgpack-c's
 * own limit is 32 and it reports overflow as out-of-memory. */
#define CR_MP_MAX_DEPTH 16

/* Length of the one complete, plausible object at the start of @data;
 * -1 when it is truncated, malformed, or declares absurd sizes. */
int cr_mp_scan(const unsigned char *data, size_t len, size_t *objlen);

/* Unpack the single object that fills @data exactly (scan first).
 * On success @u holds it; the caller destroys @u either way. */
enum cr_status cr_mp_unpack_one(msgpack_unpacked *u, const unsigned char *data,
                                size_t len, const char *what,
                                struct cr_error *err);

/* A packer appending to a cr_buf, or handing its bytes to a sink;
 * `failed` records out-of-memory (or a sink that refused). */
struct cr_mp_writer {
    cr_write_fn sink;
    void *arg;
    bool failed;
    msgpack_packer pk;
};
void cr_mp_writer_init(struct cr_mp_writer *w, struct cr_buf *buf);
void cr_mp_writer_init_sink(struct cr_mp_writer *w, cr_write_fn sink,
                            void *arg);

void cr_mp_pack_str(msgpack_packer *pk, const char *s);      /* NULL -> "" */
void cr_mp_pack_strn(msgpack_packer *pk, const char *s, size_t n);
void cr_mp_pack_bin(msgpack_packer *pk, const void *p, size_t n);

/* Typed reads of an object with a field name for messages. */
enum cr_status cr_mp_get_u64(const msgpack_object *o, const char *field,
                             uint64_t *out, struct cr_error *err);
enum cr_status cr_mp_get_i64(const msgpack_object *o, const char *field,
                             int64_t *out, struct cr_error *err);
enum cr_status cr_mp_get_bool(const msgpack_object *o, const char *field,
                              bool *out, struct cr_error *err);
/* A string of at most @max bytes without NUL bytes, malloc'ed copy. */
enum cr_status cr_mp_get_str(const msgpack_object *o, const char *field,
                             size_t max, char **out, struct cr_error *err);
/* Same into a fixed buffer of @size bytes (max size - 1). */
enum cr_status cr_mp_get_strbuf(const msgpack_object *o, const char *field,
                                char *out, size_t size, struct cr_error *err);
/* A bin of 1..@max bytes, malloc'ed copy. */
enum cr_status cr_mp_get_bin(const msgpack_object *o, const char *field,
                             size_t max, unsigned char **out, size_t *len,
                             struct cr_error *err);
/* A thumbprint: 64 hex digits, normalised to upper case. "" allowed
 * when @allow_empty. */
enum cr_status cr_mp_get_thumb(const msgpack_object *o, const char *field,
                               bool allow_empty, char *out,
                               struct cr_error *err);

/* True when the str object @key equals @name. */
bool cr_mp_key_is(const msgpack_object *key, const char *name);

#endif /* CERTRAFT_SRC_MP_H */
