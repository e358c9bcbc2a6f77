/*
 * test_core_snapshot.c - snapshots: round trip to an equal state, and
 * corrupt or truncated snapshots rejected with the state unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

/* Everything v2 added: a client CA bundle, an implicitly trusted
 * renewal, a replacement half-way, and a purge. */
static void add_v2_parts(struct cr_state *st, const struct tcert *cl,
                         const struct tcert *admin)
{
    static unsigned char sealed[] = {1, 2, 3, 4, 5};
    struct tcert ca = tcert_make(&(struct tcert_opts){.cn = "CA", .ca = true});
    struct tcert renewed = tcert_renew(admin, cl, "a", 20);
    struct tcert cl2 = tcert_cluster("cluster");
    struct cr_permission perms[] = {{(char *)"db1", CR_ACCESS_READ}};
    struct cr_command cmd;

    tca_put(st, admin, "partners", (const struct tcert *[]){&ca}, 1,
            CR_CLEARANCE_VALID_USER, perms, 1, CR_CLIENT_CA_REPLACE, NULL);
    timplicit(st, &renewed, NULL);
    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_INSTALL, admin);
    cmd.u.cluster_install.cert.der = cl2.der;
    cmd.u.cluster_install.cert.len = cl2.len;
    cmd.u.cluster_install.sealed_key.der = sealed;
    cmd.u.cluster_install.sealed_key.len = sizeof sealed;
    cmd.u.cluster_install.chain.items = &(struct cr_der){ca.der, ca.len};
    cmd.u.cluster_install.chain.n = 1;
    tapply(st, &cmd, NULL);
    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_CONFIRM, cl);
    cmd.u.cluster_node.node_id = 7;
    tapply(st, &cmd, NULL);
    tcmd_init(&cmd, CR_CMD_CERT_PURGE, admin);
    tapply(st, &cmd, NULL);
    tcert_free(&ca);
    tcert_free(&renewed);
    tcert_free(&cl2);
}

/* A state with something in every part: collections, a disabled entry,
 * permissions, pending node, databases, documents, audit, and the v2
 * parts when @v2. */
static struct cr_state *make_state(bool v2)
{
    struct cr_state *st = cr_state_new();
    struct tcert cl = tcert_cluster("cluster"), admin = tcert_client(&cl, "a", 9);
    struct tcert u = tcert_client(&cl, "u", 9), s = tcert_client(&cl, "s", 9);
    struct tcert j = tcert_client(&cl, "j", 1);
    struct cr_permission perms[] = {{(char *)"db1", CR_ACCESS_READ},
                                    {(char *)"db0", CR_ACCESS_ADMIN}};
    struct cr_command cmd;

    tbootstrap(st, &cl, &admin);
    tput(st, &admin, (const struct tcert *[]){&u, &s}, 2, "user",
         CR_CLEARANCE_VALID_USER, perms, 2, NULL);
    tcmd_init(&cmd, CR_CMD_CERT_EDIT, &admin);
    memcpy(cmd.u.cert_edit.thumbprint, u.thumb, 65);
    cmd.u.cert_edit.disabled = 1;
    tapply(st, &cmd, NULL);
    tdb(st, &admin, CR_CMD_DB_PUT, "db1");
    tdb(st, &admin, CR_CMD_DB_PUT, "db0");
    tdoc(st, &admin, "db1", "b", "{\"b\":true}");
    tdoc(st, &admin, "db1", "a", "[1,2,3]");
    tcmd_init(&cmd, CR_CMD_NODE_PENDING, &admin);
    cmd.u.node.id = 5;
    cmd.u.node.raft_address = (char *)"h:1";
    cmd.u.node.api_url = (char *)"https://h:2";
    memcpy(cmd.u.node.join_thumbprint, j.thumb, 65);
    tapply(st, &cmd, NULL);
    tdb(st, &u, CR_CMD_DB_PUT, "refused");
    if (v2) {
        add_v2_parts(st, &cl, &admin);
    }
    tcert_free(&cl);
    tcert_free(&admin);
    tcert_free(&u);
    tcert_free(&s);
    tcert_free(&j);
    return st;
}

static struct cr_state *rich_state(void)
{
    return make_state(true);
}

TEST(test_round_trip)
{
    struct cr_state *a = rich_state(), *b = cr_state_new(), *e = cr_state_new();
    struct cr_buf s1 = tsnap(a), s2, s3;
    struct cr_error err;

    CHECK(!cr_state_equal(a, b));
    CHECK_INT(cr_state_restore(b, s1.data, s1.len, &err), CR_OK);
    CHECK(cr_state_equal(a, b));
    s2 = tsnap(b);
    CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
    CHECK_INT(cr_state_cert_count(b), 6); /* + renewal + new cluster */
    CHECK_INT(cr_state_pending_node_count(b), 1);
    CHECK_INT(cr_state_client_ca_count(b), 1);
    CHECK_STR(cr_state_client_ca_get(b, 0)->name, "partners");
    CHECK_INT(cr_state_client_ca_get(b, 0)->n_perms, 1);
    CHECK_INT(cr_state_replacement(b)->phase, CR_REPLACEMENT_CONFIRMING);
    CHECK_INT(cr_state_replacement(b)->n_confirmed, 1);
    CHECK_INT(cr_state_replacement(b)->sealed_key.len, 5);
    /* The purge report is local, not replicated. */
    CHECK_INT(cr_state_last_purged(b, NULL, NULL), 0);
    {
        uint64_t idx = 0;
        cr_state_last_purged(a, &idx, NULL);
        CHECK(idx > 0);
        cr_state_last_purged(b, &idx, NULL);
        CHECK_INT(idx, 0);
    }
    CHECK_STR(cr_state_doc_get(b, "db1", "a", NULL), "[1,2,3]");
    CHECK_INT(cr_state_audit_count(b), cr_state_audit_count(a));
    CHECK_INT(cr_state_applied_index(b), cr_state_applied_index(a));

    /* An empty state round-trips too, and restoring replaces content. */
    s3 = tsnap(e);
    CHECK_INT(cr_state_restore(b, s3.data, s3.len, &err), CR_OK);
    CHECK(cr_state_equal(b, e));
    CHECK_INT(cr_state_cert_count(b), 0);

    /* A smaller audit capacity keeps the newest records. */
    cr_state_set_audit_capacity(e, 2);
    CHECK_INT(cr_state_restore(e, s1.data, s1.len, &err), CR_OK);
    CHECK_INT(cr_state_audit_count(e), 2);
    CHECK_INT(cr_state_audit_get(e, 1)->index, cr_state_applied_index(a));

    /* The restored client CA verifies (its store was rebuilt). */
    {
        const struct cr_client_ca *ca = cr_state_client_ca_get(a, 0);
        struct cr_cert_info info;
        CHECK_INT(cr_cert_info_from_der(ca->certs.items[0].der,
                                        ca->certs.items[0].len, &info, NULL),
                  CR_OK);
        CHECK(info.is_ca && info.key_cert_sign);
        cr_cert_info_free(&info);
    }

    /* Equality notices a difference anywhere. */
    CHECK_INT(cr_state_restore(b, s1.data, s1.len, &err), CR_OK);
    tdb(b, NULL, CR_CMD_DB_PUT, "x"); /* refused, but audited */
    CHECK(!cr_state_equal(a, b));
    cr_buf_free(&s1);
    cr_buf_free(&s2);
    cr_buf_free(&s3);
    cr_state_free(a);
    cr_state_free(b);
    cr_state_free(e);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

TEST(test_corrupt_rejected_state_unchanged)
{
    struct cr_state *a = rich_state(), *victim = rich_state();
    struct cr_buf good = tsnap(a), before = tsnap(victim);
    struct cr_error err;
    size_t n;
    int i, accepted = 0;

    /* Every truncation fails. */
    for (n = 0; n < good.len; n += (n < 200 ? 1 : 37)) {
        CHECK_INT(cr_state_restore(victim, good.data, n, &err), CR_EINVAL);
    }
    /* Trailing bytes fail. */
    {
        unsigned char *x = malloc(good.len + 1);
        memcpy(x, good.data, good.len);
        x[good.len] = 0xc0;
        CHECK_INT(cr_state_restore(victim, x, good.len + 1, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "trailing") != NULL);
        free(x);
    }
    /* A wrong version fails with a message saying so. */
    {
        unsigned char *x = malloc(good.len);
        memcpy(x, good.data, good.len);
        /* header: map, "v" (0xa1 'v'), then the version fixint */
        CHECK(x[1] == 0xa1 && x[2] == 'v');
        x[3] = 9; /* versions 1 and 2 are read */
        CHECK_INT(cr_state_restore(victim, x, good.len, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "version") != NULL);
        free(x);
    }
    /* Random corruption: rejected, or (rarely, e.g. in a JSON body)
     * accepted as a valid state; never a crash or a leak. */
    for (i = 0; i < 3000; i++) {
        unsigned char *x = malloc(good.len);
        struct cr_state *t = cr_state_new();
        int k, edits = 1 + (int)(rng() % 3);
        memcpy(x, good.data, good.len);
        for (k = 0; k < edits; k++) {
            x[rng() % good.len] = (unsigned char)rng();
        }
        if (cr_state_restore(t, x, good.len, &err) == CR_OK) {
            accepted++;
        }
        free(x);
        cr_state_free(t);
    }
    printf("  %d of 3000 corrupted snapshots still restored\n", accepted);
    {
        struct cr_buf after = tsnap(victim);
        CHECK(after.len == before.len &&
              memcmp(after.data, before.data, after.len) == 0);
        cr_buf_free(&after);
    }
    /* A collection whose secondary vanished is refused. */
    {
        struct cr_state *t = cr_state_new();
        unsigned char *x = malloc(good.len);
        CHECK_INT(cr_state_restore(t, good.data, good.len, &err), CR_OK);
        memcpy(x, good.data, good.len);
        /* Corrupt one character of the primary's secondary reference:
         * primary "" (0xa0), then [ (0x91) str8 of 64 (0xd9 0x40). */
        for (n = 0; n + 67 < good.len; n++) {
            if (x[n] == 0xa0 && x[n + 1] == 0x91 && x[n + 2] == 0xd9 &&
                x[n + 3] == 0x40) {
                x[n + 4] = x[n + 4] == 'A' ? 'B' : 'A';
                break;
            }
        }
        CHECK(n + 67 < good.len);
        CHECK_INT(cr_state_restore(t, x, good.len, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "collection") != NULL);
        free(x);
        cr_state_free(t);
    }
    cr_buf_free(&good);
    cr_buf_free(&before);
    cr_state_free(a);
    cr_state_free(victim);
}

/* A version 1 snapshot (before client CAs and replacements): the same
 * records under a header with "v":1 and without "nca"/"rp". */
static struct cr_buf as_v1(const struct cr_buf *v2)
{
    msgpack_unpacked u;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct cr_buf out = {NULL, 0, 0};
    size_t off = 0;
    uint32_t i, n = 0;

    msgpack_unpacked_init(&u);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(msgpack_unpack_next(&u, (const char *)v2->data, v2->len, &off) ==
          MSGPACK_UNPACK_SUCCESS);
    for (i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key;
        n += !(k->via.str.size == 3 && memcmp(k->via.str.ptr, "nca", 3) == 0) &&
             !(k->via.str.size == 2 && memcmp(k->via.str.ptr, "rp", 2) == 0);
    }
    msgpack_pack_map(&pk, n);
    for (i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        if ((kv->key.via.str.size == 3 &&
             memcmp(kv->key.via.str.ptr, "nca", 3) == 0) ||
            (kv->key.via.str.size == 2 &&
             memcmp(kv->key.via.str.ptr, "rp", 2) == 0)) {
            continue;
        }
        msgpack_pack_object(&pk, kv->key);
        if (kv->key.via.str.size == 1 && kv->key.via.str.ptr[0] == 'v') {
            msgpack_pack_uint64(&pk, 1);
        } else {
            msgpack_pack_object(&pk, kv->val);
        }
    }
    out.data = malloc(sb.size + (v2->len - off));
    memcpy(out.data, sb.data, sb.size);
    memcpy(out.data + sb.size, v2->data + off, v2->len - off);
    out.len = out.cap = sb.size + (v2->len - off);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&u);
    return out;
}

TEST(test_version_1_restores)
{
    struct cr_state *old = make_state(false), *b = rich_state();
    struct cr_buf v2 = tsnap(old), v1 = as_v1(&v2);
    struct cr_error err;

    CHECK(v1.len < v2.len);
    CHECK_INT(cr_state_restore(b, v1.data, v1.len, &err), CR_OK);
    CHECK(cr_state_equal(old, b));
    CHECK_INT(cr_state_client_ca_count(b), 0);
    CHECK_INT(cr_state_replacement(b)->phase, CR_REPLACEMENT_NONE);
    /* The pin index was rebuilt: implicit trust works after restore. */
    {
        const struct cr_cert_entry *e = cr_state_cluster_cert(b, 0);
        CHECK(e != NULL && cr_state_cert_by_pin(b, e->pin, NULL, 0) == 1);
    }
    /* A v1 header that is otherwise broken still fails. */
    v1.data[3] = 0; /* version 0 */
    CHECK_INT(cr_state_restore(b, v1.data, v1.len, &err), CR_EINVAL);
    CHECK(strstr(err.msg, "version") != NULL);
    cr_buf_free(&v1);
    cr_buf_free(&v2);
    cr_state_free(old);
    cr_state_free(b);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_version_1_restores);
    RUN(test_corrupt_rejected_state_unchanged);
    return HARNESS_DONE();
}
