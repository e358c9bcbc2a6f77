/*
 * node.h - one certnode: the libuv loop, canonical raft over the TLS
 * transport, the state machine, and the HTTPS API.
 *
 * A node is built from its data directory (see data_dir.h): node.json says
 * who it is and where it listens, cluster.crt/cluster.key are the cluster
 * certificate it serves and dials with, raft/ holds the log and snapshots.
 */
#ifndef CERTNODE_NODE_H
#define CERTNODE_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <uv.h>

#include <certraft/fsm.h>
#include <certraft/http_server.h>

#include "etl.h"
#include "node_config.h"
#include "loop_watch.h"
#include "proposals.h"
#include "rotation.h"

struct cr_curl_pool;

/* Client CA proposals this node made: PENDING until applied, FAILED when
 * refused (CockroachDB's statuses that the replicated state cannot know). */
#define CR_CA_STATUS_SLOTS 16
#define CR_CA_NAME_MAX 129
struct cr_ca_status_slot {
    char name[CR_CA_NAME_MAX];
    const char *status; /* "PENDING", "FAILED" or NULL */
    int64_t at_ms;
};

/* Recently requested implicit-trust registrations (to ask only once). */
#define CR_IMPLICIT_SLOTS 16
struct cr_implicit_slot {
    char thumbprint[65];
    int64_t at_ms;
};

/* Requests answered, per route and status code (for GET /metrics). */
#define CR_METRICS_MAX_ROUTES 48
#define CR_METRICS_STATUS_SLOTS 12
struct cr_route_metrics {
    int status[CR_METRICS_STATUS_SLOTS];
    unsigned long count[CR_METRICS_STATUS_SLOTS];
};

struct cr_node {
    struct cr_node_config config;
    uv_loop_t *loop;

    /* The cluster certificate this node presents (PEM), and its identity. */
    char *cert_pem;
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    char cert_thumbprint[65];
    char cert_pin[45]; /* base64 SHA-256 of its public key */
    X509 *cluster_x509;     /* parsed, to sign generated certificates */
    EVP_PKEY *cluster_pkey;

    SSL_CTX *raft_server_ctx;
    SSL_CTX *raft_client_ctx;
    SSL_CTX *http_ctx;

    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft raft;
    struct cr_fsm fsm;
    struct cr_proposals proposals; /* client writes, batched */
    struct cr_loop_watch loop_watch; /* the loop's longest iteration */
    struct cr_http_server http;
    struct cr_curl_pool *curl_pool;

    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t tick; /* housekeeping: bootstrap proposal, join retries */

    bool bootstrap_only;  /* `certnode init`: commit BOOTSTRAP and stop */
    char *bootstrap_file; /* msgpack BOOTSTRAP command to propose */
    bool bootstrap_proposed;
    bool joining;         /* `certnode join`: announce readiness */
    char join_url[512];   /* cluster API URL(s), comma-separated */
    char *join_cert_pem;  /* one-time join certificate and key */
    char *join_key_pem;
    char *join_ca_pem;    /* --cacert, or NULL */
    unsigned join_url_next;
    unsigned join_ticks;
    bool join_announced;
    bool join_in_flight;
    bool stopping;
    int exit_code;
    unsigned pending_closes;
    unsigned long requests_total;
    uint64_t last_contact; /* raft io time of the last known contact */
    struct {
        bool latched;    /* not serving until caught up */
        bool known;      /* target below is the leader's answer */
        bool in_flight;  /* asking the leader */
        uint64_t target; /* leader's commit index when contact resumed */
        uint64_t term;   /* the term this node last became leader in */
        bool barrier_in_flight;
        struct raft_barrier barrier;
    } catchup;
    struct cr_implicit_slot implicit[CR_IMPLICIT_SLOTS];
    struct cr_ca_status_slot ca_status[CR_CA_STATUS_SLOTS];
    struct cr_rotation_state rotation;
    struct cr_etl_state etl; /* ETL tasks this node runs (etl_runner.c) */
    struct cr_route_metrics route_metrics[CR_METRICS_MAX_ROUTES + 1];
};

/* Load config and certificates from @data_dir and start serving. The loop
 * must then be run; it returns when the node stops. */
int cr_node_start(struct cr_node *node, uv_loop_t *loop,
                  const struct cr_node_config *config, bool bootstrap,
                  char *errmsg, size_t errlen);

/* Serve and dial with a new cluster certificate from now on, without a
 * restart. Takes ownership of both PEM strings. */
int cr_node_switch_certificate(struct cr_node *node, char *cert_pem,
                               char *key_pem, char *err, size_t errlen);

/* Begin an orderly shutdown (idempotent). */
void cr_node_stop(struct cr_node *node, int exit_code);

/* Release memory after the loop has finished. */
void cr_node_free(struct cr_node *node);

/* Leader's API URL ("https://host:port") into @out, or "" when unknown. */
void cr_node_leader_url(struct cr_node *node, char *out, size_t outlen);
bool cr_node_is_leader(struct cr_node *node);

/* Split a raft configuration address "host:port|https://api" into the raft
 * part and the API URL. Missing API part gives "". */
void cr_node_address_split(const char *address, char *raft_addr,
                           size_t raft_len, char *api_url, size_t api_len);

int64_t cr_now_ms(void);

/* How long ago this node last knew it was part of a working majority
 * (leading one, or hearing from its leader). A node past
 * config.stale_after_ms refuses authenticated requests: its copy of the
 * registry may miss deletions made by the majority. */
uint64_t cr_node_contact_age_ms(struct cr_node *node);

/* False while the node must not answer from its registry: cut off for
 * longer than stale_after_ms, or not yet caught up after contact came
 * back (or after a start). @age_ms receives the contact age. */
bool cr_node_serving(struct cr_node *node, uint64_t *age_ms);

#endif /* CERTNODE_NODE_H */
