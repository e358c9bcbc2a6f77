/*
 * tls_transport.h - a raft_uv_transport that carries raft's messages over
 * TLS 1.3 with mutual authentication.
 *
 * canonical raft reads and writes a plain uv_stream_t. This transport
 * terminates TLS itself and hands raft one end of a socketpair (as a
 * uv_pipe_t); a bridge on the same loop copies bytes between the other end
 * and the TLS session. A peer whose certificate the verify callback rejects
 * never reaches raft: its handshake fails and the connection is closed.
 *
 * Raft addresses have the form "host:port" or "host:port|api-url"; only
 * the part before '|' is dialled (the rest is for the HTTP layer).
 *
 * After TLS completes, the connecting side sends a preamble inside the TLS
 * session: 8-byte protocol magic, 8-byte server id, 8-byte address length,
 * the address padded to a multiple of 8 (all little endian), so the
 * accepting side can tell raft who called. The accepting side answers with
 * an 8-byte magic ack; only then does the dialler hand its stream to raft
 * (a TLS 1.3 client finishes its handshake before the server has judged
 * the client certificate, so without the ack a refused dialler would
 * report success).
 */
#ifndef CERTRAFT_TLS_TRANSPORT_H
#define CERTRAFT_TLS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>

#include <certraft/tls_stream.h>

/* @client_ctx presents this node's certificate when dialling; @server_ctx
 * when accepting. Both must have been made by cr_tls_ctx_new() with
 * require_peer_cert and tls13_only set and a verify callback that accepts
 * only cluster certificates. Neither is owned by the transport. */
int cr_tls_transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
                          SSL_CTX *client_ctx, SSL_CTX *server_ctx);

/* New connections use these contexts from now on (certificate rotation);
 * established connections keep theirs. */
void cr_tls_transport_set_ctx(struct raft_uv_transport *t,
                              SSL_CTX *client_ctx, SSL_CTX *server_ctx);

/* Release memory after the transport's close callback has fired. */
void cr_tls_transport_close(struct raft_uv_transport *t);

/* Number of inbound handshakes refused so far (for tests and metrics). */
unsigned long cr_tls_transport_refused(struct raft_uv_transport *t);

/* Split "host:port|rest" into host and port. Returns 0 or -1. */
int cr_raft_address_parse(const char *address, char *host, size_t hostlen,
                          int *port);

#endif /* CERTRAFT_TLS_TRANSPORT_H */
