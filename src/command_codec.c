/*
 * command_codec.c - the msgpack form of a command in the raft log.
 *
 * A command is a map with short string keys. Decoding is strict because
 * log entries outlive the code that wrote them and a node must never
 * crash on one: every field is type- and range-checked, a missing
 * required field or a stray byte is an error naming the field, and
 * unknown keys are ignored so newer fields can be added.
 */
#include <stdlib.h>
#include <string.h>

#include "mp.h"

/* Bounds that no legitimate command reaches; they keep one log entry
 * from costing unbounded memory on every node. */
#define MAX_DER (64u * 1024)
#define MAX_CERTS 64u
#define MAX_PERMS 4096u
#define MAX_NAME 1024u
#define MAX_DN (4 * MAX_DER) /* a DN from a certificate, RFC 2253 escaped */
#define PARSED_FIELDS 6      /* sha1, pin, subject, issuer, not before/after */
#define MAX_ADDRESS 512u
#define MAX_DOC_ID 1024u
#define MAX_JSON (64u * 1024 * 1024)
#define MAX_CHAIN 16u
#define MAX_VOTERS 1024u
#define MAX_ETL_STRS 64u   /* URLs or prefixes of one ETL task */
#define MAX_ETL_SCRIPT (64u * 1024)

static const char *const type_names[CR_CMD_TYPE_MAX] = {
    [CR_CMD_BOOTSTRAP] = "Bootstrap",
    [CR_CMD_CERT_PUT] = "CertPut",
    [CR_CMD_CERT_DELETE] = "CertDelete",
    [CR_CMD_CERT_EDIT] = "CertEdit",
    [CR_CMD_DB_PUT] = "DatabasePut",
    [CR_CMD_DB_DELETE] = "DatabaseDelete",
    [CR_CMD_DOC_PUT] = "DocumentPut",
    [CR_CMD_DOC_DELETE] = "DocumentDelete",
    [CR_CMD_NODE_PENDING] = "NodePending",
    [CR_CMD_NODE_JOINED] = "NodeJoined",
    [CR_CMD_NODE_REMOVED] = "NodeRemoved",
    [CR_CMD_CERT_PURGE] = "CertPurge",
    [CR_CMD_CERT_IMPLICIT] = "CertImplicitTrust",
    [CR_CMD_CLIENT_CA_PUT] = "ClientCaPut",
    [CR_CMD_CLIENT_CA_DELETE] = "ClientCaDelete",
    [CR_CMD_CLUSTER_CERT_INSTALL] = "ClusterCertInstall",
    [CR_CMD_CLUSTER_CERT_CONFIRM] = "ClusterCertConfirm",
    [CR_CMD_CLUSTER_CERT_SWITCHED] = "ClusterCertSwitched",
    [CR_CMD_CLUSTER_CERT_CLEANUP] = "ClusterCertCleanup",
    [CR_CMD_ETL_PUT] = "EtlPut",
    [CR_CMD_ETL_DELETE] = "EtlDelete",
    [CR_CMD_ETL_PROGRESS] = "EtlProgress",
};

const char *cr_command_type_name(enum cr_command_type type)
{
    if (type < CR_CMD_BOOTSTRAP || type >= CR_CMD_TYPE_MAX) {
        return "Unknown";
    }
    return type_names[type];
}

/* --- encoding -------------------------------------------------------- */

static void pack_key(msgpack_packer *pk, const char *k)
{
    cr_mp_pack_str(pk, k);
}

static void pack_perms(msgpack_packer *pk, const struct cr_permission *perms,
                       size_t n)
{
    size_t i;

    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        msgpack_pack_array(pk, 2);
        cr_mp_pack_str(pk, perms[i].database);
        msgpack_pack_uint64(pk, (uint64_t)perms[i].access);
    }
}

static void pack_strs(msgpack_packer *pk, char *const *v, size_t n)
{
    size_t i;

    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        cr_mp_pack_str(pk, v[i]);
    }
}

static void pack_der_list(msgpack_packer *pk, const struct cr_der_list *l)
{
    size_t i;

    msgpack_pack_array(pk, l->n);
    for (i = 0; i < l->n; i++) {
        cr_mp_pack_bin(pk, l->items[i].der, l->items[i].len);
    }
}

/* What the node that took an upload read from each of its certificates. */
static void pack_parsed(msgpack_packer *pk, const struct cr_cert_info *info,
                        size_t n)
{
    size_t i;

    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        msgpack_pack_array(pk, PARSED_FIELDS);
        cr_mp_pack_str(pk, info[i].sha1);
        cr_mp_pack_str(pk, info[i].pin);
        cr_mp_pack_str(pk, info[i].subject);
        cr_mp_pack_str(pk, info[i].issuer);
        msgpack_pack_int64(pk, info[i].not_before);
        msgpack_pack_int64(pk, info[i].not_after);
    }
}

/* Number of type-specific keys, so the map header is exact. */
static size_t body_fields(const struct cr_command *c)
{
    switch (c->type) {
    case CR_CMD_BOOTSTRAP: return 3;
    case CR_CMD_CERT_PUT: return 4 + (c->u.cert_put.parsed != NULL);
    case CR_CMD_CERT_DELETE: return 1;
    case CR_CMD_CERT_EDIT:
        return 2 + (c->u.cert_edit.name != NULL) +
               c->u.cert_edit.set_clearance + c->u.cert_edit.set_perms;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE: return 1;
    case CR_CMD_DOC_PUT: return 3;
    case CR_CMD_DOC_DELETE: return 2;
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        return 1 + (c->u.node.raft_address != NULL) +
               (c->u.node.api_url != NULL) +
               (c->u.node.join_thumbprint[0] != '\0');
    case CR_CMD_CERT_PURGE:
    case CR_CMD_CERT_IMPLICIT: return 0;
    case CR_CMD_CLIENT_CA_PUT: return 5;
    case CR_CMD_CLIENT_CA_DELETE: return 1;
    case CR_CMD_CLUSTER_CERT_INSTALL:
        return 3 + (c->u.cluster_install.chain.n > 0);
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED: return 1;
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        return c->u.cluster_cleanup.n_voters > 0;
    case CR_CMD_ETL_PUT: return 7;
    case CR_CMD_ETL_DELETE: return 2;
    case CR_CMD_ETL_PROGRESS: return 4;
    default: return 0;
    }
}

static void pack_body(msgpack_packer *pk, const struct cr_command *c)
{
    size_t i;

    switch (c->type) {
    case CR_CMD_BOOTSTRAP:
        pack_key(pk, "cc");
        cr_mp_pack_bin(pk, c->u.bootstrap.cluster_cert.der,
                       c->u.bootstrap.cluster_cert.len);
        pack_key(pk, "ac");
        cr_mp_pack_bin(pk, c->u.bootstrap.admin_cert.der,
                       c->u.bootstrap.admin_cert.len);
        pack_key(pk, "an");
        cr_mp_pack_str(pk, c->u.bootstrap.admin_name);
        break;
    case CR_CMD_CERT_PUT:
        pack_key(pk, "n");
        cr_mp_pack_str(pk, c->u.cert_put.name);
        pack_key(pk, "cl");
        msgpack_pack_uint64(pk, (uint64_t)c->u.cert_put.clearance);
        pack_key(pk, "p");
        pack_perms(pk, c->u.cert_put.perms, c->u.cert_put.n_perms);
        pack_key(pk, "certs");
        pack_der_list(pk, &c->u.cert_put.certs);
        if (c->u.cert_put.parsed != NULL) {
            pack_key(pk, "pf");
            pack_parsed(pk, c->u.cert_put.parsed, c->u.cert_put.certs.n);
        }
        break;
    case CR_CMD_CERT_DELETE:
        pack_key(pk, "th");
        cr_mp_pack_str(pk, c->u.cert_delete.thumbprint);
        break;
    case CR_CMD_CERT_EDIT:
        pack_key(pk, "th");
        cr_mp_pack_str(pk, c->u.cert_edit.thumbprint);
        pack_key(pk, "d");
        msgpack_pack_int64(pk, c->u.cert_edit.disabled);
        if (c->u.cert_edit.name != NULL) {
            pack_key(pk, "n");
            cr_mp_pack_str(pk, c->u.cert_edit.name);
        }
        if (c->u.cert_edit.set_clearance) {
            pack_key(pk, "cl");
            msgpack_pack_uint64(pk, (uint64_t)c->u.cert_edit.clearance);
        }
        if (c->u.cert_edit.set_perms) {
            pack_key(pk, "p");
            pack_perms(pk, c->u.cert_edit.perms, c->u.cert_edit.n_perms);
        }
        break;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        pack_key(pk, "db");
        cr_mp_pack_str(pk, c->u.db.name);
        break;
    case CR_CMD_DOC_PUT:
    case CR_CMD_DOC_DELETE:
        pack_key(pk, "db");
        cr_mp_pack_str(pk, c->u.doc.db);
        pack_key(pk, "id");
        cr_mp_pack_str(pk, c->u.doc.id);
        if (c->type == CR_CMD_DOC_PUT) {
            pack_key(pk, "j");
            cr_mp_pack_strn(pk, c->u.doc.json != NULL ? c->u.doc.json : "",
                            c->u.doc.json != NULL ? c->u.doc.json_len : 0);
        }
        break;
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        pack_key(pk, "id");
        msgpack_pack_uint64(pk, c->u.node.id);
        if (c->u.node.raft_address != NULL) {
            pack_key(pk, "ra");
            cr_mp_pack_str(pk, c->u.node.raft_address);
        }
        if (c->u.node.api_url != NULL) {
            pack_key(pk, "au");
            cr_mp_pack_str(pk, c->u.node.api_url);
        }
        if (c->u.node.join_thumbprint[0] != '\0') {
            pack_key(pk, "jt");
            cr_mp_pack_str(pk, c->u.node.join_thumbprint);
        }
        break;
    case CR_CMD_CLIENT_CA_PUT:
        pack_key(pk, "n");
        cr_mp_pack_str(pk, c->u.client_ca.name);
        pack_key(pk, "cl");
        msgpack_pack_uint64(pk, (uint64_t)c->u.client_ca.clearance);
        pack_key(pk, "p");
        pack_perms(pk, c->u.client_ca.perms, c->u.client_ca.n_perms);
        pack_key(pk, "certs");
        pack_der_list(pk, &c->u.client_ca.certs);
        pack_key(pk, "m");
        msgpack_pack_uint64(pk, (uint64_t)c->u.client_ca.mode);
        break;
    case CR_CMD_CLIENT_CA_DELETE:
        pack_key(pk, "n");
        cr_mp_pack_str(pk, c->u.client_ca.name);
        break;
    case CR_CMD_CLUSTER_CERT_INSTALL:
        pack_key(pk, "nc");
        cr_mp_pack_bin(pk, c->u.cluster_install.cert.der,
                       c->u.cluster_install.cert.len);
        pack_key(pk, "sk");
        cr_mp_pack_bin(pk, c->u.cluster_install.sealed_key.der,
                       c->u.cluster_install.sealed_key.len);
        pack_key(pk, "sn");
        if (c->u.cluster_install.switch_now) {
            msgpack_pack_true(pk);
        } else {
            msgpack_pack_false(pk);
        }
        if (c->u.cluster_install.chain.n > 0) {
            pack_key(pk, "ch");
            pack_der_list(pk, &c->u.cluster_install.chain);
        }
        break;
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED:
        pack_key(pk, "id");
        msgpack_pack_uint64(pk, c->u.cluster_node.node_id);
        break;
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        if (c->u.cluster_cleanup.n_voters > 0) {
            pack_key(pk, "vo");
            msgpack_pack_array(pk, c->u.cluster_cleanup.n_voters);
            for (i = 0; i < c->u.cluster_cleanup.n_voters; i++) {
                msgpack_pack_uint64(pk, c->u.cluster_cleanup.voters[i]);
            }
        }
        break;
    case CR_CMD_ETL_PUT:
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        pack_key(pk, "db");
        cr_mp_pack_str(pk, c->u.etl.db);
        pack_key(pk, "n");
        cr_mp_pack_str(pk, c->u.etl.name);
        if (c->type == CR_CMD_ETL_PUT) {
            pack_key(pk, "u");
            pack_strs(pk, c->u.etl.urls, c->u.etl.n_urls);
            pack_key(pk, "dd");
            cr_mp_pack_str(pk, c->u.etl.dest_db);
            pack_key(pk, "s");
            cr_mp_pack_str(pk, c->u.etl.script);
            pack_key(pk, "px");
            pack_strs(pk, c->u.etl.prefixes, c->u.etl.n_prefixes);
            pack_key(pk, "rs");
            if (c->u.etl.reset) {
                msgpack_pack_true(pk);
            } else {
                msgpack_pack_false(pk);
            }
        } else if (c->type == CR_CMD_ETL_PROGRESS) {
            pack_key(pk, "g");
            msgpack_pack_uint64(pk, c->u.etl.generation);
            pack_key(pk, "ix");
            msgpack_pack_uint64(pk, c->u.etl.index);
        }
        break;
    default:
        break;
    }
}

enum cr_status cr_command_encode(const struct cr_command *cmd,
                                 struct cr_buf *out, struct cr_error *err)
{
    struct cr_mp_writer w;
    size_t start = out->len;
    bool has_der = cmd->caller_der.der != NULL && cmd->caller_der.len > 0;
    bool has_chain = cmd->caller_chain.n > 0;

    if (cmd->type < CR_CMD_BOOTSTRAP || cmd->type >= CR_CMD_TYPE_MAX) {
        return cr_error_set(err, CR_EINVAL, "unknown command type %d",
                            (int)cmd->type);
    }
    cr_mp_writer_init(&w, out);
    msgpack_pack_map(&w.pk, 3 + has_der + has_chain + body_fields(cmd));
    pack_key(&w.pk, "t");
    msgpack_pack_uint64(&w.pk, (uint64_t)cmd->type);
    pack_key(&w.pk, "c");
    cr_mp_pack_str(&w.pk, cmd->caller);
    pack_key(&w.pk, "ts");
    msgpack_pack_int64(&w.pk, cmd->time_ms);
    if (has_der) {
        pack_key(&w.pk, "cd");
        cr_mp_pack_bin(&w.pk, cmd->caller_der.der, cmd->caller_der.len);
    }
    if (has_chain) {
        pack_key(&w.pk, "cch");
        pack_der_list(&w.pk, &cmd->caller_chain);
    }
    pack_body(&w.pk, cmd);
    if (w.failed) {
        out->len = start;
        return cr_error_set(err, CR_ENOMEM, "out of memory encoding a command");
    }
    return CR_OK;
}

/* --- decoding -------------------------------------------------------- */

/* Every key the codec knows; one slot each, so duplicates are caught. */
enum field {
    F_T, F_C, F_CD, F_TS, F_CC, F_AC, F_AN, F_N, F_CL, F_P, F_CERTS, F_TH,
    F_D, F_DB, F_ID, F_J, F_RA, F_AU, F_JT, F_M, F_NC, F_CH, F_SK, F_SN,
    F_VO, F_CCH, F_U, F_DD, F_S, F_PX, F_RS, F_G, F_IX, F_PF, F_COUNT
};
static const char *const field_keys[F_COUNT] = {
    "t", "c", "cd", "ts", "cc", "ac", "an", "n", "cl", "p", "certs", "th",
    "d", "db", "id", "j", "ra", "au", "jt", "m", "nc", "ch", "sk", "sn",
    "vo", "cch", "u", "dd", "s", "px", "rs", "g", "ix", "pf",
};

struct fields {
    const msgpack_object *v[F_COUNT];
};

static enum cr_status fields_collect(const msgpack_object *map,
                                     struct fields *f, struct cr_error *err)
{
    uint32_t i;
    int k;

    memset(f, 0, sizeof *f);
    if (map->type != MSGPACK_OBJECT_MAP) {
        return cr_error_set(err, CR_EINVAL, "a command must be a map");
    }
    for (i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            return cr_error_set(err, CR_EINVAL,
                                "command keys must be strings");
        }
        for (k = 0; k < F_COUNT; k++) {
            if (cr_mp_key_is(&kv->key, field_keys[k])) {
                if (f->v[k] != NULL) {
                    return cr_error_set(err, CR_EINVAL,
                                        "field '%s' is given twice",
                                        field_keys[k]);
                }
                f->v[k] = &kv->val;
                break;
            }
        }
    }
    return CR_OK;
}

static enum cr_status need(const struct fields *f, enum field k,
                           struct cr_error *err)
{
    if (f->v[k] == NULL) {
        return cr_error_set(err, CR_EINVAL, "required field '%s' is missing",
                            field_keys[k]);
    }
    return CR_OK;
}

static enum cr_status get_enum(const msgpack_object *o, const char *field,
                               uint64_t lo, uint64_t hi, unsigned *out,
                               struct cr_error *err)
{
    uint64_t v;
    enum cr_status rv = cr_mp_get_u64(o, field, &v, err);

    if (rv != CR_OK) {
        return rv;
    }
    if (v < lo || v > hi) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' is out of range (%llu, expected "
                            "%llu..%llu)",
                            field, (unsigned long long)v,
                            (unsigned long long)lo, (unsigned long long)hi);
    }
    *out = (unsigned)v;
    return CR_OK;
}

static void perms_free(struct cr_permission *perms, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(perms[i].database);
    }
    free(perms);
}

static enum cr_status get_perms(const msgpack_object *o,
                                struct cr_permission **out, size_t *n_out,
                                struct cr_error *err)
{
    struct cr_permission *perms;
    enum cr_status rv = CR_OK;
    uint32_t i, n;

    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'p' (permissions) must be an array");
    }
    n = o->via.array.size;
    if (n > MAX_PERMS) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'p' has too many permissions (%u, at most "
                            "%u)",
                            n, MAX_PERMS);
    }
    perms = calloc(n > 0 ? n : 1, sizeof *perms);
    if (perms == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < n && rv == CR_OK; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        unsigned access;
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2) {
            rv = cr_error_set(err, CR_EINVAL,
                              "field 'p' entries must be [database, access]");
            break;
        }
        rv = cr_mp_get_str(&e->via.array.ptr[0], "p.database", MAX_NAME,
                           &perms[i].database, err);
        if (rv == CR_OK) {
            rv = get_enum(&e->via.array.ptr[1], "p.access", CR_ACCESS_READ,
                          CR_ACCESS_ADMIN, &access, err);
            perms[i].access = (enum cr_access)access;
        }
    }
    if (rv != CR_OK) {
        perms_free(perms, n);
        return rv;
    }
    *out = perms;
    *n_out = n;
    return CR_OK;
}

static enum cr_status get_der(const msgpack_object *o, const char *field,
                              struct cr_der *out, struct cr_error *err)
{
    return cr_mp_get_bin(o, field, MAX_DER, &out->der, &out->len, err);
}

/* An array of @lo..@max DER certificates into @out. */
static enum cr_status get_der_list(const msgpack_object *o, const char *field,
                                   uint32_t lo, uint32_t max,
                                   struct cr_der_list *out,
                                   struct cr_error *err)
{
    uint32_t i;
    enum cr_status rv;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < lo ||
        o->via.array.size > max) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must be an array of %u to %u "
                            "certificates",
                            field, lo, max);
    }
    if (o->via.array.size == 0) {
        return CR_OK;
    }
    out->items = calloc(o->via.array.size, sizeof(struct cr_der));
    if (out->items == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < o->via.array.size; i++) {
        rv = get_der(&o->via.array.ptr[i], field, &out->items[i], err);
        if (rv != CR_OK) {
            return rv;
        }
        out->n++;
    }
    return CR_OK;
}

static bool all_of(const char *s, const char *set)
{
    return s[strspn(s, set)] == '\0';
}

/* One certificate's [sha1, pin, subject, issuer, not_before, not_after]. */
static enum cr_status get_parsed_one(const msgpack_object *o,
                                     struct cr_cert_info *out,
                                     struct cr_error *err)
{
    const msgpack_object *v = o->via.array.ptr;
    enum cr_status rv;

    if (o->type != MSGPACK_OBJECT_ARRAY ||
        o->via.array.size != PARSED_FIELDS) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'pf' entries must be [sha1, pin, subject, "
                            "issuer, not before, not after]");
    }
    if ((rv = cr_mp_get_strbuf(&v[0], "pf.sha1", out->sha1, sizeof out->sha1,
                               err)) ||
        (rv = cr_mp_get_strbuf(&v[1], "pf.pin", out->pin, sizeof out->pin,
                               err)) ||
        (rv = cr_mp_get_str(&v[2], "pf.subject", MAX_DN, &out->subject,
                            err)) ||
        (rv = cr_mp_get_str(&v[3], "pf.issuer", MAX_DN, &out->issuer, err)) ||
        (rv = cr_mp_get_i64(&v[4], "pf.not_before", &out->not_before, err)) ||
        (rv = cr_mp_get_i64(&v[5], "pf.not_after", &out->not_after, err))) {
        return rv;
    }
    if (strlen(out->sha1) != CR_SHA1_LEN ||
        !all_of(out->sha1, "0123456789ABCDEF") ||
        strlen(out->pin) != CR_PIN_LEN ||
        !all_of(out->pin, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/=")) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'pf' has a malformed SHA-1 or pin");
    }
    return CR_OK;
}

/* One entry per certificate of the upload, in its order. */
static enum cr_status get_parsed(const msgpack_object *o, size_t n,
                                 struct cr_cert_info **out,
                                 struct cr_error *err)
{
    enum cr_status rv = CR_OK;
    size_t i;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'pf' must have one entry per certificate "
                            "(%zu)",
                            n);
    }
    /* Owned by the command from here, so a failure frees what was read. */
    if ((*out = calloc(n, sizeof **out)) == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < n && rv == CR_OK; i++) {
        rv = get_parsed_one(&o->via.array.ptr[i], &(*out)[i], err);
    }
    return rv;
}

static enum cr_status decode_cert_put(const struct fields *f,
                                      struct cr_command *c,
                                      struct cr_error *err)
{
    enum cr_status rv;
    unsigned cl;

    if ((rv = need(f, F_N, err)) || (rv = need(f, F_CL, err)) ||
        (rv = need(f, F_CERTS, err)) ||
        (rv = cr_mp_get_str(f->v[F_N], "n", MAX_NAME, &c->u.cert_put.name,
                            err)) ||
        (rv = get_enum(f->v[F_CL], "cl", CR_CLEARANCE_VALID_USER,
                       CR_CLEARANCE_CLUSTER_NODE, &cl, err))) {
        return rv;
    }
    c->u.cert_put.clearance = (enum cr_clearance)cl;
    if (f->v[F_P] != NULL &&
        (rv = get_perms(f->v[F_P], &c->u.cert_put.perms,
                        &c->u.cert_put.n_perms, err)) != CR_OK) {
        return rv;
    }
    if ((rv = get_der_list(f->v[F_CERTS], "certs", 1, MAX_CERTS,
                           &c->u.cert_put.certs, err)) != CR_OK) {
        return rv;
    }
    if (f->v[F_PF] != NULL) {
        return get_parsed(f->v[F_PF], c->u.cert_put.certs.n,
                          &c->u.cert_put.parsed, err);
    }
    return CR_OK;
}

static enum cr_status decode_client_ca(const struct fields *f,
                                       struct cr_command *c,
                                       struct cr_error *err)
{
    enum cr_status rv;
    unsigned v;

    if ((rv = need(f, F_N, err)) ||
        (rv = cr_mp_get_str(f->v[F_N], "n", MAX_NAME, &c->u.client_ca.name,
                            err))) {
        return rv;
    }
    if (c->type == CR_CMD_CLIENT_CA_DELETE) {
        return CR_OK;
    }
    if ((rv = need(f, F_CL, err)) || (rv = need(f, F_CERTS, err)) ||
        (rv = need(f, F_M, err)) ||
        (rv = get_enum(f->v[F_CL], "cl", CR_CLEARANCE_VALID_USER,
                       CR_CLEARANCE_CLUSTER_NODE, &v, err))) {
        return rv;
    }
    c->u.client_ca.clearance = (enum cr_clearance)v;
    if ((rv = get_enum(f->v[F_M], "m", CR_CLIENT_CA_REPLACE,
                       CR_CLIENT_CA_APPEND, &v, err))) {
        return rv;
    }
    c->u.client_ca.mode = (enum cr_client_ca_mode)v;
    if (f->v[F_P] != NULL &&
        (rv = get_perms(f->v[F_P], &c->u.client_ca.perms,
                        &c->u.client_ca.n_perms, err)) != CR_OK) {
        return rv;
    }
    return get_der_list(f->v[F_CERTS], "certs", 1, MAX_CERTS,
                        &c->u.client_ca.certs, err);
}

static enum cr_status decode_cluster_install(const struct fields *f,
                                             struct cr_command *c,
                                             struct cr_error *err)
{
    enum cr_status rv;

    if ((rv = need(f, F_NC, err)) || (rv = need(f, F_SK, err)) ||
        (rv = get_der(f->v[F_NC], "nc", &c->u.cluster_install.cert, err)) ||
        (rv = get_der(f->v[F_SK], "sk", &c->u.cluster_install.sealed_key,
                      err))) {
        return rv;
    }
    if (f->v[F_SN] != NULL &&
        (rv = cr_mp_get_bool(f->v[F_SN], "sn",
                             &c->u.cluster_install.switch_now, err))) {
        return rv;
    }
    if (f->v[F_CH] != NULL) {
        return get_der_list(f->v[F_CH], "ch", 0, MAX_CHAIN,
                            &c->u.cluster_install.chain, err);
    }
    return CR_OK;
}

static enum cr_status decode_cluster_cleanup(const struct fields *f,
                                             struct cr_command *c,
                                             struct cr_error *err)
{
    const msgpack_object *vo = f->v[F_VO];
    enum cr_status rv;
    uint32_t i;

    if (vo == NULL) {
        return CR_OK;
    }
    if (vo->type != MSGPACK_OBJECT_ARRAY || vo->via.array.size > MAX_VOTERS) {
        return cr_error_set(err, CR_EINVAL,
                            "field 'vo' (voters) must be an array of at most "
                            "%u node ids",
                            MAX_VOTERS);
    }
    if (vo->via.array.size == 0) {
        return CR_OK;
    }
    c->u.cluster_cleanup.voters =
        calloc(vo->via.array.size, sizeof *c->u.cluster_cleanup.voters);
    if (c->u.cluster_cleanup.voters == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < vo->via.array.size; i++) {
        if ((rv = cr_mp_get_u64(&vo->via.array.ptr[i], "vo",
                                &c->u.cluster_cleanup.voters[i], err))) {
            return rv;
        }
        c->u.cluster_cleanup.n_voters++;
    }
    return CR_OK;
}

static void strs_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* An array of at most @max strings of at most @len bytes each. */
static enum cr_status get_strs(const msgpack_object *o, const char *field,
                               uint32_t max, size_t len, char ***out,
                               size_t *n_out, struct cr_error *err)
{
    enum cr_status rv;
    uint32_t i;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > max) {
        return cr_error_set(err, CR_EINVAL,
                            "field '%s' must be an array of at most %u "
                            "strings",
                            field, max);
    }
    if (o->via.array.size == 0) {
        return CR_OK;
    }
    *out = calloc(o->via.array.size, sizeof **out);
    if (*out == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < o->via.array.size; i++) {
        if ((rv = cr_mp_get_str(&o->via.array.ptr[i], field, len,
                                &(*out)[i], err)) != CR_OK) {
            return rv;
        }
        (*n_out)++;
    }
    return CR_OK;
}

static enum cr_status decode_etl(const struct fields *f, struct cr_command *c,
                                 struct cr_error *err)
{
    enum cr_status rv;

    if ((rv = need(f, F_DB, err)) || (rv = need(f, F_N, err)) ||
        (rv = cr_mp_get_str(f->v[F_DB], "db", MAX_NAME, &c->u.etl.db, err)) ||
        (rv = cr_mp_get_str(f->v[F_N], "n", MAX_NAME, &c->u.etl.name,
                            err))) {
        return rv;
    }
    if (c->type == CR_CMD_ETL_PROGRESS) {
        if ((rv = need(f, F_G, err)) || (rv = need(f, F_IX, err)) ||
            (rv = cr_mp_get_u64(f->v[F_G], "g", &c->u.etl.generation, err))) {
            return rv;
        }
        return cr_mp_get_u64(f->v[F_IX], "ix", &c->u.etl.index, err);
    }
    if (c->type == CR_CMD_ETL_DELETE) {
        return CR_OK;
    }
    if ((rv = need(f, F_U, err)) || (rv = need(f, F_DD, err)) ||
        (rv = need(f, F_S, err)) ||
        (rv = get_strs(f->v[F_U], "u", MAX_ETL_STRS, MAX_ADDRESS,
                       &c->u.etl.urls, &c->u.etl.n_urls, err)) ||
        (rv = cr_mp_get_str(f->v[F_DD], "dd", MAX_NAME, &c->u.etl.dest_db,
                            err)) ||
        (rv = cr_mp_get_str(f->v[F_S], "s", MAX_ETL_SCRIPT, &c->u.etl.script,
                            err))) {
        return rv;
    }
    if (f->v[F_PX] != NULL &&
        (rv = get_strs(f->v[F_PX], "px", MAX_ETL_STRS, MAX_DOC_ID,
                       &c->u.etl.prefixes, &c->u.etl.n_prefixes, err))) {
        return rv;
    }
    if (f->v[F_RS] != NULL) {
        return cr_mp_get_bool(f->v[F_RS], "rs", &c->u.etl.reset, err);
    }
    return CR_OK;
}

static enum cr_status decode_cert_edit(const struct fields *f,
                                       struct cr_command *c,
                                       struct cr_error *err)
{
    enum cr_status rv;
    int64_t d = -1;
    unsigned cl;

    if ((rv = need(f, F_TH, err)) ||
        (rv = cr_mp_get_thumb(f->v[F_TH], "th", false,
                              c->u.cert_edit.thumbprint, err))) {
        return rv;
    }
    if (f->v[F_D] != NULL) {
        if ((rv = cr_mp_get_i64(f->v[F_D], "d", &d, err)) != CR_OK) {
            return rv;
        }
        if (d < -1 || d > 1) {
            return cr_error_set(err, CR_EINVAL,
                                "field 'd' (disabled) must be -1, 0 or 1");
        }
    }
    c->u.cert_edit.disabled = (int)d;
    if (f->v[F_N] != NULL &&
        (rv = cr_mp_get_str(f->v[F_N], "n", MAX_NAME, &c->u.cert_edit.name,
                            err)) != CR_OK) {
        return rv;
    }
    if (f->v[F_CL] != NULL) {
        if ((rv = get_enum(f->v[F_CL], "cl", CR_CLEARANCE_VALID_USER,
                           CR_CLEARANCE_CLUSTER_NODE, &cl, err)) != CR_OK) {
            return rv;
        }
        c->u.cert_edit.set_clearance = true;
        c->u.cert_edit.clearance = (enum cr_clearance)cl;
    }
    if (f->v[F_P] != NULL) {
        if ((rv = get_perms(f->v[F_P], &c->u.cert_edit.perms,
                            &c->u.cert_edit.n_perms, err)) != CR_OK) {
            return rv;
        }
        c->u.cert_edit.set_perms = true;
    }
    return CR_OK;
}

static enum cr_status decode_doc(const struct fields *f, struct cr_command *c,
                                 struct cr_error *err)
{
    enum cr_status rv;

    if ((rv = need(f, F_DB, err)) || (rv = need(f, F_ID, err)) ||
        (rv = cr_mp_get_str(f->v[F_DB], "db", MAX_NAME, &c->u.doc.db, err)) ||
        (rv = cr_mp_get_str(f->v[F_ID], "id", MAX_DOC_ID, &c->u.doc.id,
                            err))) {
        return rv;
    }
    if (c->type == CR_CMD_DOC_PUT) {
        const msgpack_object *j = f->v[F_J];
        if ((rv = need(f, F_J, err)) != CR_OK) {
            return rv;
        }
        if (j->type != MSGPACK_OBJECT_STR || j->via.str.size > MAX_JSON) {
            return cr_error_set(err, CR_EINVAL,
                                "field 'j' (document JSON) must be a string "
                                "of at most %u bytes",
                                MAX_JSON);
        }
        /* JSON may not contain a raw NUL, so the same string check
         * applies. */
        if ((rv = cr_mp_get_str(j, "j", MAX_JSON, &c->u.doc.json, err))) {
            return rv;
        }
        c->u.doc.json_len = j->via.str.size;
    }
    return CR_OK;
}

static enum cr_status decode_node(const struct fields *f,
                                  struct cr_command *c, struct cr_error *err)
{
    bool pending = c->type == CR_CMD_NODE_PENDING;
    enum cr_status rv;

    if ((rv = need(f, F_ID, err)) ||
        (rv = cr_mp_get_u64(f->v[F_ID], "id", &c->u.node.id, err))) {
        return rv;
    }
    if (pending && ((rv = need(f, F_RA, err)) || (rv = need(f, F_AU, err)) ||
                    (rv = need(f, F_JT, err)))) {
        return rv;
    }
    if (f->v[F_RA] != NULL &&
        (rv = cr_mp_get_str(f->v[F_RA], "ra", MAX_ADDRESS,
                            &c->u.node.raft_address, err)) != CR_OK) {
        return rv;
    }
    if (f->v[F_AU] != NULL &&
        (rv = cr_mp_get_str(f->v[F_AU], "au", MAX_ADDRESS, &c->u.node.api_url,
                            err)) != CR_OK) {
        return rv;
    }
    if (f->v[F_JT] != NULL &&
        (rv = cr_mp_get_thumb(f->v[F_JT], "jt", false,
                              c->u.node.join_thumbprint, err)) != CR_OK) {
        return rv;
    }
    return CR_OK;
}

static enum cr_status decode_body(const struct fields *f, struct cr_command *c,
                                  struct cr_error *err)
{
    enum cr_status rv;

    switch (c->type) {
    case CR_CMD_BOOTSTRAP:
        if ((rv = need(f, F_CC, err)) || (rv = need(f, F_AC, err)) ||
            (rv = need(f, F_AN, err)) ||
            (rv = get_der(f->v[F_CC], "cc", &c->u.bootstrap.cluster_cert,
                          err)) ||
            (rv = get_der(f->v[F_AC], "ac", &c->u.bootstrap.admin_cert,
                          err))) {
            return rv;
        }
        return cr_mp_get_str(f->v[F_AN], "an", MAX_NAME,
                             &c->u.bootstrap.admin_name, err);
    case CR_CMD_CERT_PUT:
        return decode_cert_put(f, c, err);
    case CR_CMD_CERT_DELETE:
        if ((rv = need(f, F_TH, err)) != CR_OK) {
            return rv;
        }
        return cr_mp_get_thumb(f->v[F_TH], "th", false,
                               c->u.cert_delete.thumbprint, err);
    case CR_CMD_CERT_EDIT:
        return decode_cert_edit(f, c, err);
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        if ((rv = need(f, F_DB, err)) != CR_OK) {
            return rv;
        }
        return cr_mp_get_str(f->v[F_DB], "db", MAX_NAME, &c->u.db.name, err);
    case CR_CMD_DOC_PUT:
    case CR_CMD_DOC_DELETE:
        return decode_doc(f, c, err);
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        return decode_node(f, c, err);
    case CR_CMD_CERT_PURGE:
        return CR_OK;
    case CR_CMD_CERT_IMPLICIT:
        /* The certificate to register is the caller's. */
        return need(f, F_CD, err);
    case CR_CMD_CLIENT_CA_PUT:
    case CR_CMD_CLIENT_CA_DELETE:
        return decode_client_ca(f, c, err);
    case CR_CMD_CLUSTER_CERT_INSTALL:
        return decode_cluster_install(f, c, err);
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED:
        if ((rv = need(f, F_ID, err)) != CR_OK) {
            return rv;
        }
        return cr_mp_get_u64(f->v[F_ID], "id", &c->u.cluster_node.node_id,
                             err);
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        return decode_cluster_cleanup(f, c, err);
    case CR_CMD_ETL_PUT:
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        return decode_etl(f, c, err);
    default:
        return cr_error_set(err, CR_EINVAL, "unknown command type");
    }
}

static enum cr_status decode_object(const msgpack_object *o,
                                    struct cr_command *c, struct cr_error *err)
{
    struct fields f;
    enum cr_status rv;
    unsigned type;
    bool bootstrap;

    if ((rv = fields_collect(o, &f, err)) || (rv = need(&f, F_T, err)) ||
        (rv = need(&f, F_C, err)) || (rv = need(&f, F_TS, err))) {
        return rv;
    }
    if (f.v[F_T]->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f.v[F_T]->via.u64 < CR_CMD_BOOTSTRAP ||
        f.v[F_T]->via.u64 >= CR_CMD_TYPE_MAX) {
        return cr_error_set(err, CR_EINVAL,
                            "field 't' is not a known command type");
    }
    type = (unsigned)f.v[F_T]->via.u64;
    c->type = (enum cr_command_type)type;
    bootstrap = c->type == CR_CMD_BOOTSTRAP;
    if ((rv = cr_mp_get_thumb(f.v[F_C], "c", bootstrap, c->caller, err))) {
        return rv;
    }
    if (bootstrap && c->caller[0] != '\0') {
        return cr_error_set(err, CR_EINVAL,
                            "field 'c' must be empty for a bootstrap");
    }
    if ((rv = cr_mp_get_i64(f.v[F_TS], "ts", &c->time_ms, err))) {
        return rv;
    }
    if (f.v[F_CD] != NULL &&
        (rv = get_der(f.v[F_CD], "cd", &c->caller_der, err)) != CR_OK) {
        return rv;
    }
    if (f.v[F_CCH] != NULL &&
        (rv = get_der_list(f.v[F_CCH], "cch", 0, MAX_CHAIN,
                           &c->caller_chain, err)) != CR_OK) {
        return rv;
    }
    return decode_body(&f, c, err);
}

enum cr_status cr_command_decode(const void *data, size_t len,
                                 struct cr_command *out, struct cr_error *err)
{
    msgpack_unpacked u;
    enum cr_status rv;

    memset(out, 0, sizeof *out);
    msgpack_unpacked_init(&u);
    rv = cr_mp_unpack_one(&u, data, len, "the command", err);
    if (rv == CR_OK) {
        rv = decode_object(&u.data, out, err);
    }
    msgpack_unpacked_destroy(&u);
    if (rv != CR_OK) {
        cr_command_free(out);
        memset(out, 0, sizeof *out);
    }
    return rv;
}

void cr_command_free(struct cr_command *c)
{
    if (c == NULL) {
        return;
    }
    free(c->caller_der.der);
    c->caller_der.der = NULL;
    cr_der_list_free(&c->caller_chain);
    switch (c->type) {
    case CR_CMD_BOOTSTRAP:
        free(c->u.bootstrap.cluster_cert.der);
        free(c->u.bootstrap.admin_cert.der);
        free(c->u.bootstrap.admin_name);
        break;
    case CR_CMD_CERT_PUT:
        free(c->u.cert_put.name);
        perms_free(c->u.cert_put.perms, c->u.cert_put.n_perms);
        cr_cert_put_parsed_free(c);
        cr_der_list_free(&c->u.cert_put.certs);
        break;
    case CR_CMD_CERT_EDIT:
        free(c->u.cert_edit.name);
        perms_free(c->u.cert_edit.perms, c->u.cert_edit.n_perms);
        break;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        free(c->u.db.name);
        break;
    case CR_CMD_DOC_PUT:
    case CR_CMD_DOC_DELETE:
        free(c->u.doc.db);
        free(c->u.doc.id);
        free(c->u.doc.json);
        break;
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        free(c->u.node.raft_address);
        free(c->u.node.api_url);
        break;
    case CR_CMD_CLIENT_CA_PUT:
    case CR_CMD_CLIENT_CA_DELETE:
        free(c->u.client_ca.name);
        perms_free(c->u.client_ca.perms, c->u.client_ca.n_perms);
        cr_der_list_free(&c->u.client_ca.certs);
        break;
    case CR_CMD_CLUSTER_CERT_INSTALL:
        free(c->u.cluster_install.cert.der);
        free(c->u.cluster_install.sealed_key.der);
        cr_der_list_free(&c->u.cluster_install.chain);
        break;
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        free(c->u.cluster_cleanup.voters);
        break;
    case CR_CMD_ETL_PUT:
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        free(c->u.etl.db);
        free(c->u.etl.name);
        strs_free(c->u.etl.urls, c->u.etl.n_urls);
        free(c->u.etl.dest_db);
        free(c->u.etl.script);
        strs_free(c->u.etl.prefixes, c->u.etl.n_prefixes);
        break;
    default:
        break;
    }
    memset(&c->u, 0, sizeof c->u);
}
