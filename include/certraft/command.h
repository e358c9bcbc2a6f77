/*
 * command.h - the commands that travel through the raft log, and their
 * msgpack codec.
 *
 * A command is everything apply() needs to change the state
 * deterministically: what to do, who asked (the caller's thumbprint, and
 * the caller's certificate when it is not registered by thumbprint), and
 * the leader's clock at proposal time (so that validity checks give the
 * same answer on every node). Each command is a msgpack map keyed by short
 * strings, so fields can be added without breaking old logs; unknown keys
 * are ignored, missing required ones are an error.
 */
#ifndef CERTRAFT_COMMAND_H
#define CERTRAFT_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <certraft/error.h>
#include <certraft/types.h>
#include <certraft/x509.h>

enum cr_command_type {
    CR_CMD_BOOTSTRAP = 1, /* first entry: cluster certificate + first admin */
    CR_CMD_CERT_PUT,      /* upload or register a certificate (collection) */
    CR_CMD_CERT_DELETE,   /* delete an entry and its collection */
    CR_CMD_CERT_EDIT,     /* Name, clearance, permissions, Disabled */
    CR_CMD_DB_PUT,        /* create a database */
    CR_CMD_DB_DELETE,     /* delete a database and its documents */
    CR_CMD_DOC_PUT,       /* put a JSON document */
    CR_CMD_DOC_DELETE,    /* delete a document */
    CR_CMD_NODE_PENDING,  /* an admin allowed a node to join */
    CR_CMD_NODE_JOINED,   /* the node joined; its join certificate expires */
    CR_CMD_NODE_REMOVED,  /* a node left the configuration */
    /* Added later; values above never change, so old logs still decode. */
    CR_CMD_CERT_PURGE,            /* remove expired entries (no payload) */
    CR_CMD_CERT_IMPLICIT,         /* register caller_der by implicit trust */
    CR_CMD_CLIENT_CA_PUT,         /* create, replace or extend a CA bundle */
    CR_CMD_CLIENT_CA_DELETE,      /* remove a CA bundle */
    CR_CMD_CLUSTER_CERT_INSTALL,  /* start replacing the cluster cert */
    CR_CMD_CLUSTER_CERT_CONFIRM,  /* a node has the new cert ready */
    CR_CMD_CLUSTER_CERT_SWITCHED, /* a node serves the new cert */
    CR_CMD_CLUSTER_CERT_CLEANUP,  /* the new cert becomes the cluster cert */
    CR_CMD_ETL_PUT,               /* create or update an ETL task */
    CR_CMD_ETL_DELETE,            /* remove an ETL task */
    CR_CMD_ETL_PROGRESS,          /* a task delivered changes up to an index */
    CR_CMD_TYPE_MAX
};

/* How CR_CMD_CLIENT_CA_PUT treats an existing bundle of that name. */
enum cr_client_ca_mode {
    CR_CLIENT_CA_REPLACE = 1, /* the bundle becomes exactly the given certs */
    CR_CLIENT_CA_APPEND       /* the given certs are added (rotation) */
};

const char *cr_command_type_name(enum cr_command_type type); /* "CertPut" */

struct cr_command {
    enum cr_command_type type;
    char caller[CR_THUMBPRINT_LEN + 1]; /* "" for the system (bootstrap) */
    struct cr_der caller_der;           /* optional: caller's certificate */
    int64_t time_ms;                    /* leader's wall clock, unix ms */
    /* Optional: intermediates the caller's TLS peer sent after its
     * certificate, so apply() can re-check a client-CA chain (untrusted;
     * only the bundle's certificates are trust anchors). */
    struct cr_der_list caller_chain;

    union {
        struct {
            struct cr_der cluster_cert; /* public DER of the cluster cert */
            struct cr_der admin_cert;   /* first ClusterAdmin client cert */
            char *admin_name;
        } bootstrap;

        struct {
            char *name;
            enum cr_clearance clearance;
            struct cr_permission *perms;
            size_t n_perms;
            struct cr_der_list certs; /* [0] primary, then secondaries */
            /* What the leader read from each certificate when it took
             * the upload (cr_x509_decode_bundle), so that no node parses
             * it again: NULL in entries written before, or certs.n of them
             * with the fields a registry entry keeps (sha1, pin,
             * subject, issuer, validity). The thumbprint is not carried;
             * apply() hashes the DER for it. */
            struct cr_cert_info *parsed;
        } cert_put;

        struct {
            char thumbprint[CR_THUMBPRINT_LEN + 1];
        } cert_delete;

        struct {
            char thumbprint[CR_THUMBPRINT_LEN + 1];
            char *name;                  /* NULL: unchanged */
            bool set_clearance;
            enum cr_clearance clearance;
            bool set_perms;
            struct cr_permission *perms;
            size_t n_perms;
            int disabled;                /* -1 unchanged, 0, 1 */
        } cert_edit;

        struct {
            char *name;
        } db;

        struct {
            char *db;
            char *id;
            char *json; /* NULL for CR_CMD_DOC_DELETE */
            size_t json_len;
        } doc;

        struct {
            uint64_t id;
            char *raft_address; /* "host:port" */
            char *api_url;      /* "https://host:port" */
            char join_thumbprint[CR_THUMBPRINT_LEN + 1];
        } node;

        /* CR_CMD_CERT_PURGE and CR_CMD_CERT_IMPLICIT have no payload:
         * purge uses time_ms, implicit registers caller_der (required;
         * caller is its thumbprint). */

        /* CR_CMD_CLIENT_CA_PUT; CR_CMD_CLIENT_CA_DELETE uses name only. */
        struct {
            char *name;               /* 1..128 of [A-Za-z0-9_.-] */
            enum cr_clearance clearance;
            struct cr_permission *perms;
            size_t n_perms;
            struct cr_der_list certs; /* CA certificates (DER) */
            enum cr_client_ca_mode mode;
        } client_ca;

        struct {
            struct cr_der cert;        /* the new cluster certificate */
            struct cr_der_list chain;  /* its chain, to serve with it */
            struct cr_der sealed_key;  /* new private key, sealed by nodes */
            bool switch_now;
        } cluster_install;

        /* CR_CMD_CLUSTER_CERT_CONFIRM and CR_CMD_CLUSTER_CERT_SWITCHED. */
        struct {
            uint64_t node_id;
        } cluster_node;

        /* CR_CMD_CLUSTER_CERT_CLEANUP: the voters in the proposer's raft
         * configuration. When given, apply() refuses the cleanup unless
         * every one of them has switched; always send them. */
        struct {
            uint64_t *voters;
            size_t n_voters;
        } cluster_cleanup;

        /* CR_CMD_ETL_PUT uses every field but generation and index;
         * CR_CMD_ETL_DELETE only db and name; CR_CMD_ETL_PROGRESS db,
         * name, generation and index. */
        struct {
            char *db;          /* the source database */
            char *name;        /* the task, unique within the database */
            char **urls;       /* destination cluster API URLs (https) */
            size_t n_urls;
            char *dest_db;     /* the destination database */
            char *script;      /* JavaScript transform */
            char **prefixes;   /* document id prefixes read; none: all */
            size_t n_prefixes;
            bool reset;        /* PUT: start again from the first change */
            uint64_t generation; /* PROGRESS: the task's generation */
            uint64_t index;    /* PROGRESS: last change index delivered */
        } etl;
    } u;
};

/* A growable byte buffer; encode appends to it. */
struct cr_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
};
void cr_buf_free(struct cr_buf *buf);
/* Where streamed encoder output goes: takes @len bytes, returns 0, or
 * non-zero to stop the encoder. */
typedef int (*cr_write_fn)(void *arg, const void *data, size_t len);

enum cr_status cr_command_encode(const struct cr_command *cmd,
                                 struct cr_buf *out, struct cr_error *err);

/* Decode @len bytes. On failure nothing needs freeing and @err says which
 * field was wrong. Truncated input, trailing garbage, wrong types, unknown
 * command types and out-of-range enums are all CR_EINVAL. */
enum cr_status cr_command_decode(const void *data, size_t len,
                                 struct cr_command *out,
                                 struct cr_error *err);

/* Frees what the command owns (not the struct itself). */
void cr_command_free(struct cr_command *cmd);

/* Frees and clears a CR_CMD_CERT_PUT's `parsed` array (certs.n of
 * them; cr_command_free does it too). */
void cr_cert_put_parsed_free(struct cr_command *cmd);

#endif /* CERTRAFT_COMMAND_H */
