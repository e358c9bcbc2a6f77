/*
 * snapshot_lz4.h - the LZ4 frame snapshots travel in.
 *
 * The forked encoder (snapshot_child.c) compresses the state into an LZ4
 * frame whose header, written last, carries the content size. raft then
 * stores the frame in its snapshot file (its own LZ4 over it costs
 * little: the frame does not compress again), sends it to a node that
 * installs it, and hands it to restore(), which decodes it here. A
 * snapshot written before frames (the bare msgpack state) still
 * restores: restore() tells them apart by the frame's magic number.
 */
#ifndef CERTRAFT_RAFT_SNAPSHOT_LZ4_H
#define CERTRAFT_RAFT_SNAPSHOT_LZ4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lz4frame.h>

/* The frame parameters both sides use; @content_size 0: unknown. */
void cr_snapshot_lz4_prefs(LZ4F_preferences_t *prefs, uint64_t content_size);

/* Writes the header of a frame of @content_size bytes into @out (room
 * for LZ4F_HEADER_SIZE_MAX); its length, or 0 on failure. */
size_t cr_snapshot_lz4_header(uint64_t content_size, void *out);

/* Whether @data starts like an LZ4 frame. */
bool cr_snapshot_lz4_is_frame(const void *data, size_t len);

/* Decodes the whole frame @data into a malloc'ed buffer (*@out, *@out_len
 * bytes): the header must give the content size, the content checksum
 * must match and nothing may follow the frame. 0, or -1 (nothing
 * returned). */
int cr_snapshot_lz4_decode(const void *data, size_t len, void **out,
                           size_t *out_len);

#endif /* CERTRAFT_RAFT_SNAPSHOT_LZ4_H */
