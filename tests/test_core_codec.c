/*
 * test_core_codec.c - the msgpack command codec: a round trip for every
 * command type, rejection of bad input with a message naming the field,
 * and a deterministic fuzz loop (mutations and truncations of valid
 * encodings) that must never crash or leak.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <certraft/command.h>

#include "harness.h"

#define T1 "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define T2 "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"

static unsigned char der1[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static unsigned char der2[] = {0x30, 0x03, 0x02, 0x01, 0x02, 0x00};
static struct cr_permission perms[] = {{(char *)"orders", CR_ACCESS_READ},
                                       {(char *)"users", CR_ACCESS_ADMIN}};
static struct cr_der certs[] = {{der1, sizeof der1}, {der2, sizeof der2}};
static unsigned char sealed[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
#define SHA1_A "00112233445566778899AABBCCDDEEFF00112233"
#define PIN_A "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
static struct cr_cert_info parsed[] = {
    {.sha1 = SHA1_A, .pin = PIN_A, .subject = (char *)"CN=alice,O=Acme",
     .issuer = (char *)"CN=Acme CA", .not_before = -5, .not_after = 1 << 30},
    {.sha1 = SHA1_A, .pin = PIN_A, .subject = (char *)"",
     .issuer = (char *)"CN=x\\,y", .not_before = 7, .not_after = 6},
};
static uint64_t voters[] = {1, 2, 5};
static char *etl_urls[] = {(char *)"https://b1:8443", (char *)"https://b2:8443",
                           (char *)"employees/"};

/* One example of every command type (pointers into static data). */
static void example(enum cr_command_type t, struct cr_command *c)
{
    memset(c, 0, sizeof *c);
    c->type = t;
    c->time_ms = 1700000000123;
    if (t != CR_CMD_BOOTSTRAP) {
        memcpy(c->caller, T1, sizeof c->caller);
    }
    switch (t) {
    case CR_CMD_BOOTSTRAP:
        c->u.bootstrap.cluster_cert = certs[0];
        c->u.bootstrap.admin_cert = certs[1];
        c->u.bootstrap.admin_name = (char *)"root";
        break;
    case CR_CMD_CERT_PUT:
        c->caller_der = certs[1];
        c->u.cert_put.name = (char *)"alice";
        c->u.cert_put.clearance = CR_CLEARANCE_VALID_USER;
        c->u.cert_put.perms = perms;
        c->u.cert_put.n_perms = 2;
        c->u.cert_put.certs.items = certs;
        c->u.cert_put.certs.n = 2;
        c->u.cert_put.parsed = parsed;
        break;
    case CR_CMD_CERT_DELETE:
        memcpy(c->u.cert_delete.thumbprint, T2, 65);
        break;
    case CR_CMD_CERT_EDIT:
        memcpy(c->u.cert_edit.thumbprint, T2, 65);
        c->u.cert_edit.name = (char *)"bob";
        c->u.cert_edit.set_clearance = true;
        c->u.cert_edit.clearance = CR_CLEARANCE_OPERATOR;
        c->u.cert_edit.set_perms = true;
        c->u.cert_edit.perms = perms;
        c->u.cert_edit.n_perms = 1;
        c->u.cert_edit.disabled = 1;
        break;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        c->u.db.name = (char *)"orders";
        break;
    case CR_CMD_DOC_PUT:
        c->u.doc.json = (char *)"{\"a\":1}";
        c->u.doc.json_len = 7;
        /* fallthrough */
    case CR_CMD_DOC_DELETE:
        c->u.doc.db = (char *)"orders";
        c->u.doc.id = (char *)"orders/1";
        break;
    case CR_CMD_NODE_PENDING:
        c->u.node.raft_address = (char *)"10.0.0.4:7000";
        c->u.node.api_url = (char *)"https://10.0.0.4:8443";
        memcpy(c->u.node.join_thumbprint, T2, 65);
        /* fallthrough */
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        c->u.node.id = 4;
        break;
    case CR_CMD_CERT_PURGE:
        break;
    case CR_CMD_CERT_IMPLICIT:
        c->caller_der = certs[0];
        c->caller_chain.items = certs + 1;
        c->caller_chain.n = 1;
        break;
    case CR_CMD_CLIENT_CA_PUT:
        c->u.client_ca.clearance = CR_CLEARANCE_OPERATOR;
        c->u.client_ca.perms = perms;
        c->u.client_ca.n_perms = 2;
        c->u.client_ca.certs.items = certs;
        c->u.client_ca.certs.n = 2;
        c->u.client_ca.mode = CR_CLIENT_CA_APPEND;
        /* fallthrough */
    case CR_CMD_CLIENT_CA_DELETE:
        c->u.client_ca.name = (char *)"partners";
        break;
    case CR_CMD_CLUSTER_CERT_INSTALL:
        c->u.cluster_install.cert = certs[0];
        c->u.cluster_install.chain.items = certs + 1;
        c->u.cluster_install.chain.n = 1;
        c->u.cluster_install.sealed_key.der = sealed;
        c->u.cluster_install.sealed_key.len = sizeof sealed;
        c->u.cluster_install.switch_now = true;
        break;
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED:
        c->u.cluster_node.node_id = 3;
        break;
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        c->u.cluster_cleanup.voters = voters;
        c->u.cluster_cleanup.n_voters = 3;
        break;
    case CR_CMD_ETL_PUT:
        c->u.etl.urls = etl_urls;
        c->u.etl.n_urls = 2;
        c->u.etl.dest_db = (char *)"public";
        c->u.etl.script = (char *)"loadTo(this);";
        c->u.etl.prefixes = etl_urls + 2;
        c->u.etl.n_prefixes = 1;
        c->u.etl.reset = true;
        /* fallthrough */
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        c->u.etl.db = (char *)"hr";
        c->u.etl.name = (char *)"to-public";
        c->u.etl.generation = c->type == CR_CMD_ETL_PROGRESS ? 17 : 0;
        c->u.etl.index = c->type == CR_CMD_ETL_PROGRESS ? 42 : 0;
        break;
    default:
        break;
    }
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

static bool der_eq(const struct cr_der *a, const struct cr_der *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->der, b->der, a->len) == 0);
}

static bool perms_eq(const struct cr_permission *a, size_t na,
                     const struct cr_permission *b, size_t nb)
{
    size_t i;

    if (na != nb) {
        return false;
    }
    for (i = 0; i < na; i++) {
        if (strcmp(a[i].database, b[i].database) || a[i].access != b[i].access) {
            return false;
        }
    }
    return true;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool ders_eq(const struct cr_der_list *a, const struct cr_der_list *b)
{
    size_t i;

    if (a->n != b->n) {
        return false;
    }
    for (i = 0; i < a->n; i++) {
        if (!der_eq(&a->items[i], &b->items[i])) {
            return false;
        }
    }
    return true;
}

static bool parsed_eq(const struct cr_cert_info *a,
                      const struct cr_cert_info *b, size_t n)
{
    size_t i;

    if (a == NULL || b == NULL) {
        return a == b;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(a[i].sha1, b[i].sha1) || strcmp(a[i].pin, b[i].pin) ||
            !str_eq(a[i].subject, b[i].subject) ||
            !str_eq(a[i].issuer, b[i].issuer) ||
            a[i].not_before != b[i].not_before ||
            a[i].not_after != b[i].not_after) {
            return false;
        }
    }
    return true;
}

static bool command_eq(const struct cr_command *a, const struct cr_command *b)
{
    size_t i;

    if (a->type != b->type || strcmp(a->caller, b->caller) ||
        a->time_ms != b->time_ms || !der_eq(&a->caller_der, &b->caller_der) ||
        !ders_eq(&a->caller_chain, &b->caller_chain)) {
        return false;
    }
    switch (a->type) {
    case CR_CMD_BOOTSTRAP:
        return der_eq(&a->u.bootstrap.cluster_cert,
                      &b->u.bootstrap.cluster_cert) &&
               der_eq(&a->u.bootstrap.admin_cert, &b->u.bootstrap.admin_cert) &&
               str_eq(a->u.bootstrap.admin_name, b->u.bootstrap.admin_name);
    case CR_CMD_CERT_PUT:
        if (a->u.cert_put.certs.n != b->u.cert_put.certs.n) {
            return false;
        }
        for (i = 0; i < a->u.cert_put.certs.n; i++) {
            if (!der_eq(&a->u.cert_put.certs.items[i],
                        &b->u.cert_put.certs.items[i])) {
                return false;
            }
        }
        return str_eq(a->u.cert_put.name, b->u.cert_put.name) &&
               parsed_eq(a->u.cert_put.parsed, b->u.cert_put.parsed,
                         a->u.cert_put.certs.n) &&
               a->u.cert_put.clearance == b->u.cert_put.clearance &&
               perms_eq(a->u.cert_put.perms, a->u.cert_put.n_perms,
                        b->u.cert_put.perms, b->u.cert_put.n_perms);
    case CR_CMD_CERT_DELETE:
        return strcmp(a->u.cert_delete.thumbprint,
                      b->u.cert_delete.thumbprint) == 0;
    case CR_CMD_CERT_EDIT:
        return strcmp(a->u.cert_edit.thumbprint, b->u.cert_edit.thumbprint) ==
                   0 &&
               str_eq(a->u.cert_edit.name, b->u.cert_edit.name) &&
               a->u.cert_edit.set_clearance == b->u.cert_edit.set_clearance &&
               a->u.cert_edit.clearance == b->u.cert_edit.clearance &&
               a->u.cert_edit.set_perms == b->u.cert_edit.set_perms &&
               perms_eq(a->u.cert_edit.perms, a->u.cert_edit.n_perms,
                        b->u.cert_edit.perms, b->u.cert_edit.n_perms) &&
               a->u.cert_edit.disabled == b->u.cert_edit.disabled;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        return str_eq(a->u.db.name, b->u.db.name);
    case CR_CMD_DOC_PUT:
    case CR_CMD_DOC_DELETE:
        return str_eq(a->u.doc.db, b->u.doc.db) &&
               str_eq(a->u.doc.id, b->u.doc.id) &&
               str_eq(a->u.doc.json, b->u.doc.json) &&
               a->u.doc.json_len == b->u.doc.json_len;
    case CR_CMD_CERT_PURGE:
    case CR_CMD_CERT_IMPLICIT:
        return true;
    case CR_CMD_CLIENT_CA_PUT:
        if (!ders_eq(&a->u.client_ca.certs, &b->u.client_ca.certs) ||
            a->u.client_ca.clearance != b->u.client_ca.clearance ||
            a->u.client_ca.mode != b->u.client_ca.mode ||
            !perms_eq(a->u.client_ca.perms, a->u.client_ca.n_perms,
                      b->u.client_ca.perms, b->u.client_ca.n_perms)) {
            return false;
        }
        /* fallthrough */
    case CR_CMD_CLIENT_CA_DELETE:
        return str_eq(a->u.client_ca.name, b->u.client_ca.name);
    case CR_CMD_CLUSTER_CERT_INSTALL:
        return der_eq(&a->u.cluster_install.cert, &b->u.cluster_install.cert) &&
               ders_eq(&a->u.cluster_install.chain,
                       &b->u.cluster_install.chain) &&
               der_eq(&a->u.cluster_install.sealed_key,
                      &b->u.cluster_install.sealed_key) &&
               a->u.cluster_install.switch_now ==
                   b->u.cluster_install.switch_now;
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED:
        return a->u.cluster_node.node_id == b->u.cluster_node.node_id;
    case CR_CMD_CLUSTER_CERT_CLEANUP:
        return a->u.cluster_cleanup.n_voters == b->u.cluster_cleanup.n_voters &&
               (a->u.cluster_cleanup.n_voters == 0 ||
                memcmp(a->u.cluster_cleanup.voters, b->u.cluster_cleanup.voters,
                       a->u.cluster_cleanup.n_voters * sizeof(uint64_t)) == 0);
    case CR_CMD_ETL_PUT:
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        return str_eq(a->u.etl.db, b->u.etl.db) &&
               str_eq(a->u.etl.name, b->u.etl.name) &&
               strv_eq(a->u.etl.urls, a->u.etl.n_urls, b->u.etl.urls,
                       b->u.etl.n_urls) &&
               str_eq(a->u.etl.dest_db, b->u.etl.dest_db) &&
               str_eq(a->u.etl.script, b->u.etl.script) &&
               strv_eq(a->u.etl.prefixes, a->u.etl.n_prefixes,
                       b->u.etl.prefixes, b->u.etl.n_prefixes) &&
               a->u.etl.reset == b->u.etl.reset &&
               a->u.etl.generation == b->u.etl.generation &&
               a->u.etl.index == b->u.etl.index;
    default:
        return a->u.node.id == b->u.node.id &&
               str_eq(a->u.node.raft_address, b->u.node.raft_address) &&
               str_eq(a->u.node.api_url, b->u.node.api_url) &&
               strcmp(a->u.node.join_thumbprint, b->u.node.join_thumbprint) ==
                   0;
    }
}

TEST(test_round_trip_every_type)
{
    int t;

    for (t = CR_CMD_BOOTSTRAP; t < CR_CMD_TYPE_MAX; t++) {
        struct cr_command in, out;
        struct cr_buf buf = {NULL, 0, 0};
        struct cr_error err;

        example((enum cr_command_type)t, &in);
        CHECK_INT(cr_command_encode(&in, &buf, &err), CR_OK);
        CHECK_INT(cr_command_decode(buf.data, buf.len, &out, &err), CR_OK);
        if (!command_eq(&in, &out)) {
            fprintf(stderr, "  round trip differs for %s\n",
                    cr_command_type_name((enum cr_command_type)t));
            CHECK(0);
        }
        cr_command_free(&out);
        cr_buf_free(&buf);
    }
    CHECK_STR(cr_command_type_name(CR_CMD_CERT_PUT), "CertPut");
    CHECK_STR(cr_command_type_name((enum cr_command_type)99), "Unknown");
}

TEST(test_lower_case_thumbprint_normalised)
{
    struct cr_command in, out;
    struct cr_buf buf = {NULL, 0, 0};
    struct cr_error err;
    size_t i;

    example(CR_CMD_CERT_DELETE, &in);
    for (i = 0; i < 64; i++) {
        in.u.cert_delete.thumbprint[i] =
            (char)tolower((unsigned char)in.u.cert_delete.thumbprint[i]);
    }
    cr_command_encode(&in, &buf, &err);
    CHECK_INT(cr_command_decode(buf.data, buf.len, &out, &err), CR_OK);
    CHECK_STR(out.u.cert_delete.thumbprint, T2);
    cr_command_free(&out);
    cr_buf_free(&buf);
}

/* Build a raw map with msgpack-c for hand-made bad commands. */
struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void raw_init(struct raw *r, size_t n_fields)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&r->pk, n_fields);
}

static void raw_key(struct raw *r, const char *k)
{
    msgpack_pack_str(&r->pk, strlen(k));
    msgpack_pack_str_body(&r->pk, k, strlen(k));
}

static void raw_str(struct raw *r, const char *k, const char *v)
{
    raw_key(r, k);
    msgpack_pack_str(&r->pk, strlen(v));
    msgpack_pack_str_body(&r->pk, v, strlen(v));
}

static void raw_uint(struct raw *r, const char *k, uint64_t v)
{
    raw_key(r, k);
    msgpack_pack_uint64(&r->pk, v);
}

static enum cr_status raw_decode(struct raw *r, struct cr_error *err)
{
    struct cr_command c;
    enum cr_status rv = cr_command_decode(r->sb.data, r->sb.size, &c, err);

    if (rv == CR_OK) {
        cr_command_free(&c);
    }
    msgpack_sbuffer_destroy(&r->sb);
    return rv;
}

TEST(test_rejections_name_the_field)
{
    struct raw r;
    struct cr_error err;

    /* Missing time. */
    raw_init(&r, 3);
    raw_uint(&r, "t", CR_CMD_DB_PUT);
    raw_str(&r, "c", T1);
    raw_str(&r, "db", "x");
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'ts'") != NULL);

    /* Unknown type. */
    raw_init(&r, 3);
    raw_uint(&r, "t", 77);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'t'") != NULL);

    /* Wrong type: db is a number. */
    raw_init(&r, 4);
    raw_uint(&r, "t", CR_CMD_DB_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_uint(&r, "db", 5);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'db'") != NULL);

    /* Invalid thumbprint. */
    raw_init(&r, 4);
    raw_uint(&r, "t", CR_CMD_CERT_DELETE);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "th", "ABCD");
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'th'") != NULL);

    /* Caller not a thumbprint. */
    raw_init(&r, 4);
    raw_uint(&r, "t", CR_CMD_DB_PUT);
    raw_str(&r, "c", "Z" T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "db", "x");
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'c'") != NULL);

    /* Clearance out of range. */
    raw_init(&r, 6);
    raw_uint(&r, "t", CR_CMD_CERT_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "n", "a");
    raw_uint(&r, "cl", 9);
    raw_key(&r, "certs");
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_bin(&r.pk, 1);
    msgpack_pack_bin_body(&r.pk, "x", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'cl'") != NULL);

    /* Duplicate key; unknown keys are fine. */
    raw_init(&r, 5);
    raw_uint(&r, "t", CR_CMD_DB_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "db", "x");
    raw_str(&r, "db", "y");
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "twice") != NULL);
    raw_init(&r, 5);
    raw_uint(&r, "t", CR_CMD_DB_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "db", "x");
    raw_str(&r, "future", "field");
    CHECK_INT(raw_decode(&r, &err), CR_OK);

    /* Bootstrap with a caller. */
    raw_init(&r, 6);
    raw_uint(&r, "t", CR_CMD_BOOTSTRAP);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "an", "a");
    raw_key(&r, "cc");
    msgpack_pack_bin(&r.pk, 1);
    msgpack_pack_bin_body(&r.pk, "x", 1);
    raw_key(&r, "ac");
    msgpack_pack_bin(&r.pk, 1);
    msgpack_pack_bin_body(&r.pk, "x", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);

    /* Not a map; an empty buffer. */
    CHECK_INT(cr_command_decode("\x93\x01\x02\x03", 4, &(struct cr_command){0},
                                &err),
              CR_EINVAL);
    CHECK_INT(cr_command_decode("", 0, &(struct cr_command){0}, &err),
              CR_EINVAL);
}

TEST(test_new_commands_rejections)
{
    struct raw r;
    struct cr_error err;
    struct cr_command in, out;
    struct cr_buf buf = {NULL, 0, 0};

    /* Implicit trust without the caller's certificate. */
    raw_init(&r, 3);
    raw_uint(&r, "t", CR_CMD_CERT_IMPLICIT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'cd'") != NULL);

    /* Client CA: mode out of range, no certificates. */
    raw_init(&r, 7);
    raw_uint(&r, "t", CR_CMD_CLIENT_CA_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "n", "x");
    raw_uint(&r, "cl", CR_CLEARANCE_VALID_USER);
    raw_uint(&r, "m", 3);
    raw_key(&r, "certs");
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_bin(&r.pk, 1);
    msgpack_pack_bin_body(&r.pk, "x", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'m'") != NULL);
    raw_init(&r, 7);
    raw_uint(&r, "t", CR_CMD_CLIENT_CA_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "n", "x");
    raw_uint(&r, "cl", CR_CLEARANCE_VALID_USER);
    raw_uint(&r, "m", CR_CLIENT_CA_REPLACE);
    raw_key(&r, "certs");
    msgpack_pack_array(&r.pk, 0);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'certs'") != NULL);

    /* Install without a sealed key; confirm without a node id; voters
     * that are not numbers. */
    raw_init(&r, 4);
    raw_uint(&r, "t", CR_CMD_CLUSTER_CERT_INSTALL);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_key(&r, "nc");
    msgpack_pack_bin(&r.pk, 1);
    msgpack_pack_bin_body(&r.pk, "x", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'sk'") != NULL);
    raw_init(&r, 3);
    raw_uint(&r, "t", CR_CMD_CLUSTER_CERT_CONFIRM);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'id'") != NULL);
    raw_init(&r, 4);
    raw_uint(&r, "t", CR_CMD_CLUSTER_CERT_CLEANUP);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_key(&r, "vo");
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_str(&r.pk, 1);
    msgpack_pack_str_body(&r.pk, "1", 1);
    CHECK_INT(raw_decode(&r, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'vo'") != NULL);

    /* Optional parts may be left out: no chain, no voters. */
    example(CR_CMD_CLUSTER_CERT_INSTALL, &in);
    in.u.cluster_install.chain.n = 0;
    in.u.cluster_install.switch_now = false;
    CHECK_INT(cr_command_encode(&in, &buf, &err), CR_OK);
    CHECK_INT(cr_command_decode(buf.data, buf.len, &out, &err), CR_OK);
    CHECK(command_eq(&in, &out));
    cr_command_free(&out);
    cr_buf_free(&buf);
    example(CR_CMD_CLUSTER_CERT_CLEANUP, &in);
    in.u.cluster_cleanup.n_voters = 0;
    CHECK_INT(cr_command_encode(&in, &buf, &err), CR_OK);
    CHECK_INT(cr_command_decode(buf.data, buf.len, &out, &err), CR_OK);
    CHECK_INT(out.u.cluster_cleanup.n_voters, 0);
    CHECK(command_eq(&in, &out));
    cr_command_free(&out);
    cr_buf_free(&buf);
    CHECK_STR(cr_command_type_name(CR_CMD_CERT_IMPLICIT), "CertImplicitTrust");
    CHECK_STR(cr_command_type_name(CR_CMD_CLUSTER_CERT_CLEANUP),
              "ClusterCertCleanup");
}

/* A CERT_PUT of one certificate whose 'pf' holds @n entries of @fields
 * values: [sha1, pin, "CN=a", "CN=b", 1, 2] and, past six, extra nils. */
static enum cr_status put_with_parsed(unsigned n, unsigned fields,
                                      const char *sha1, const char *pin,
                                      struct cr_error *err)
{
    struct raw r;

    raw_init(&r, 7);
    raw_uint(&r, "t", CR_CMD_CERT_PUT);
    raw_str(&r, "c", T1);
    raw_uint(&r, "ts", 1);
    raw_str(&r, "n", "a");
    raw_uint(&r, "cl", CR_CLEARANCE_VALID_USER);
    raw_key(&r, "certs");
    msgpack_pack_array(&r.pk, 1);
    msgpack_pack_bin(&r.pk, sizeof der1);
    msgpack_pack_bin_body(&r.pk, der1, sizeof der1);
    raw_key(&r, "pf");
    msgpack_pack_array(&r.pk, n);
    for (unsigned i = 0; i < n; i++) {
        const char *strs[] = {sha1, pin, "CN=a", "CN=b"};
        msgpack_pack_array(&r.pk, fields);
        for (unsigned k = 0; k < fields; k++) {
            if (k < 4) {
                msgpack_pack_str(&r.pk, strlen(strs[k]));
                msgpack_pack_str_body(&r.pk, strs[k], strlen(strs[k]));
            } else if (k < 6) {
                msgpack_pack_int64(&r.pk, k - 3);
            } else {
                msgpack_pack_nil(&r.pk);
            }
        }
    }
    return raw_decode(&r, err);
}

/* The fields the leader parsed travel with the upload; a node must not
 * take a malformed set (one per certificate, each exactly six fields, a
 * SHA-1 of 40 upper-case hex digits, a base64 pin of 44 characters). */
TEST(test_parsed_fields_checked)
{
    struct cr_error err;

    CHECK_INT(put_with_parsed(1, 6, SHA1_A, PIN_A, &err), CR_OK);
    CHECK_INT(put_with_parsed(2, 6, SHA1_A, PIN_A, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'pf' must have one entry per certificate") != NULL);
    CHECK_INT(put_with_parsed(0, 6, SHA1_A, PIN_A, &err), CR_EINVAL);
    CHECK_INT(put_with_parsed(1, 5, SHA1_A, PIN_A, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "'pf' entries must be") != NULL);
    CHECK_INT(put_with_parsed(1, 7, SHA1_A, PIN_A, &err), CR_EINVAL);
    CHECK_INT(put_with_parsed(1, 6, "00112233", PIN_A, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "malformed SHA-1 or pin") != NULL);
    CHECK_INT(put_with_parsed(1, 6, "g0112233445566778899AABBCCDDEEFF00112233",
                              PIN_A, &err),
              CR_EINVAL);
    CHECK_INT(put_with_parsed(1, 6, SHA1_A, "short=", &err), CR_EINVAL);
    CHECK_INT(put_with_parsed(1, 6, SHA1_A,
                              "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA!",
                              &err),
              CR_EINVAL);
    CHECK_INT(put_with_parsed(1, 6, SHA1_A, PIN_A "AAAA", &err), CR_EINVAL);
    CHECK(strstr(err.msg, "pf.pin") != NULL);
}

/* Entries written before uploads were parsed by the leader carry no
 * 'pf': they decode with no parsed fields (apply() parses the DER). */
TEST(test_cert_put_without_parsed_fields)
{
    struct cr_command in, out;
    struct cr_buf buf = {NULL, 0, 0};
    struct cr_error err;

    example(CR_CMD_CERT_PUT, &in);
    in.u.cert_put.parsed = NULL;
    CHECK_INT(cr_command_encode(&in, &buf, &err), CR_OK);
    CHECK_INT(cr_command_decode(buf.data, buf.len, &out, &err), CR_OK);
    CHECK(out.u.cert_put.parsed == NULL);
    CHECK(command_eq(&in, &out));
    cr_command_free(&out);
    cr_buf_free(&buf);
}

TEST(test_truncated_trailing_absurd)
{
    struct cr_command in, out;
    struct cr_buf buf = {NULL, 0, 0};
    struct cr_error err;
    size_t n;

    example(CR_CMD_CERT_PUT, &in);
    cr_command_encode(&in, &buf, &err);
    for (n = 0; n < buf.len; n++) {
        CHECK_INT(cr_command_decode(buf.data, n, &out, &err), CR_EINVAL);
    }
    buf.data[buf.len] = 0; /* cap > len after encode */
    CHECK_INT(cr_command_decode(buf.data, buf.len + 1, &out, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "trailing") != NULL);
    cr_buf_free(&buf);

    /* Containers that claim billions of elements in a few bytes. */
    CHECK_INT(cr_command_decode("\xdd\xff\xff\xff\xff", 5, &out, &err),
              CR_EINVAL);
    CHECK_INT(cr_command_decode("\xdf\x7f\xff\xff\xff\x00", 6, &out, &err),
              CR_EINVAL);
    CHECK_INT(cr_command_decode("\xc6\xff\xff\xff\xf0\x00", 6, &out, &err),
              CR_EINVAL);
    CHECK_INT(cr_command_decode("\xc1", 1, &out, &err), CR_EINVAL);
    /* Deep nesting. */
    {
        unsigned char deep[200];
        memset(deep, 0x91, sizeof deep);
        deep[sizeof deep - 1] = 0x01;
        CHECK_INT(cr_command_decode(deep, sizeof deep, &out, &err), CR_EINVAL);
    }
}

/* xorshift: the same sequence on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

TEST(test_fuzz)
{
    int t, iter, accepted = 0;

    for (t = CR_CMD_BOOTSTRAP; t < CR_CMD_TYPE_MAX; t++) {
        struct cr_command in;
        struct cr_buf buf = {NULL, 0, 0};
        struct cr_error err;

        example((enum cr_command_type)t, &in);
        cr_command_encode(&in, &buf, &err);
        for (iter = 0; iter < 3000; iter++) {
            unsigned char *m = malloc(buf.len + 16);
            size_t len = buf.len, k, edits = 1 + rng() % 4;
            struct cr_command out;

            memcpy(m, buf.data, buf.len);
            for (k = 0; k < edits; k++) {
                switch (rng() % 5) {
                case 0: m[rng() % len] = (unsigned char)rng(); break;
                case 1: m[rng() % len] ^= (unsigned char)(1u << (rng() % 8));
                        break;
                case 2: len = 1 + rng() % len; break;
                case 3: if (len < buf.len + 16) m[len++] = (unsigned char)rng();
                        break;
                default: m[rng() % len] = (unsigned char[]){
                             0xdd, 0xdf, 0xc6, 0xdb, 0xc1, 0xcf, 0xd3,
                             0x00, 0xff}[rng() % 9];
                }
            }
            if (cr_command_decode(m, len, &out, &err) == CR_OK) {
                accepted++;
                cr_command_free(&out);
            } else {
                CHECK(err.msg[0] != '\0');
            }
            free(m);
        }
        cr_buf_free(&buf);
    }
    printf("  fuzz: %d of %d mutations still decoded\n", accepted,
           3000 * (CR_CMD_TYPE_MAX - 1));
}

int main(void)
{
    RUN(test_round_trip_every_type);
    RUN(test_lower_case_thumbprint_normalised);
    RUN(test_rejections_name_the_field);
    RUN(test_new_commands_rejections);
    RUN(test_parsed_fields_checked);
    RUN(test_cert_put_without_parsed_fields);
    RUN(test_truncated_trailing_absurd);
    RUN(test_fuzz);
    return HARNESS_DONE();
}
