/*
 * buf.h - appending to a struct cr_buf (private to the core).
 *
 * The struct itself is public (command.h) because encoders hand buffers
 * to raft; the growth policy stays here.
 */
#ifndef CERTRAFT_SRC_BUF_H
#define CERTRAFT_SRC_BUF_H

#include <stddef.h>

#include <certraft/command.h>

/* Room for @extra more bytes; -1 on overflow or out of memory. */
int cr_buf_reserve(struct cr_buf *buf, size_t extra);
int cr_buf_append(struct cr_buf *buf, const void *data, size_t len);
/* cr_buf_append() as a cr_write_fn (@buf is the struct cr_buf). */
int cr_buf_sink(void *buf, const void *data, size_t len);

#endif /* CERTRAFT_SRC_BUF_H */
