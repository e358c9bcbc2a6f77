/*
 * test_core_apply.c - RavenDB's rules as apply() enforces them at each
 * log index, authentication, the audit trail, databases and documents.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <certraft/auth.h>
#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

/* A bootstrapped cluster: cluster cert, admin (ClusterAdmin), op
 * (Operator), user (ValidUser: Read on "ro", ReadWrite on "rw"). */
struct fixture {
    struct cr_state *st;
    struct tcert cl, admin, op, user;
};

static struct cr_permission user_perms[] = {
    {(char *)"rw", CR_ACCESS_READ_WRITE},
    {(char *)"ro", CR_ACCESS_READ},
};

static void fx_init(struct fixture *f)
{
    f->st = cr_state_new();
    f->cl = tcert_cluster("cluster");
    f->admin = tcert_client(&f->cl, "admin", 30);
    f->op = tcert_client(&f->cl, "op", 30);
    f->user = tcert_client(&f->cl, "user", 30);
    CHECK_INT(tbootstrap(f->st, &f->cl, &f->admin), CR_OK);
    CHECK_INT(tput1(f->st, &f->admin, &f->op, "op", CR_CLEARANCE_OPERATOR),
              CR_OK);
    CHECK_INT(tput(f->st, &f->admin, (const struct tcert *[]){&f->user}, 1,
                   "user", CR_CLEARANCE_VALID_USER, user_perms, 2, NULL),
              CR_OK);
}

static void fx_free(struct fixture *f)
{
    cr_state_free(f->st);
    tcert_free(&f->cl);
    tcert_free(&f->admin);
    tcert_free(&f->op);
    tcert_free(&f->user);
}

static enum cr_status tedit(struct cr_state *st, const struct tcert *caller,
                            const char *thumb, const char *name, int clearance,
                            int disabled, struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CERT_EDIT, caller);
    memcpy(cmd.u.cert_edit.thumbprint, thumb, CR_THUMBPRINT_LEN + 1);
    cmd.u.cert_edit.name = (char *)name;
    if (clearance > 0) {
        cmd.u.cert_edit.set_clearance = true;
        cmd.u.cert_edit.clearance = (enum cr_clearance)clearance;
    }
    cmd.u.cert_edit.disabled = disabled;
    return tapply(st, &cmd, res);
}

static const struct cr_audit_record *last_audit(const struct cr_state *st)
{
    size_t n = cr_state_audit_count(st);

    return n > 0 ? cr_state_audit_get(st, n - 1) : NULL;
}

/* Everything but the applied index and the audit trail: snapshot each
 * state, drop the audit from a restored copy, and compare the header's
 * content fields and all records after it. */
static struct cr_buf content_snap(const struct cr_state *st)
{
    struct cr_buf s = tsnap(st), out;
    struct cr_state *t = cr_state_new();

    CHECK_INT(cr_state_restore(t, s.data, s.len, NULL), CR_OK);
    cr_state_set_audit_capacity(t, 0);
    out = tsnap(t);
    cr_state_free(t);
    cr_buf_free(&s);
    return out;
}

static bool header_field(const msgpack_object *h, const char *k,
                         msgpack_object *out)
{
    uint32_t i;

    for (i = 0; i < h->via.map.size; i++) {
        const msgpack_object *key = &h->via.map.ptr[i].key;
        if (key->via.str.size == strlen(k) &&
            memcmp(key->via.str.ptr, k, strlen(k)) == 0) {
            *out = h->via.map.ptr[i].val;
            return true;
        }
    }
    return false;
}

static bool content_equal(const struct cr_state *a, const struct cr_state *b)
{
    struct cr_buf sa = content_snap(a), sb = content_snap(b);
    msgpack_unpacked ua, ub;
    size_t oa = 0, ob = 0;
    bool eq;
    static const char *const keys[] = {"nc", "cl", "pn", "ndb", "nca", "rp"};

    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ub);
    eq = msgpack_unpack_next(&ua, (char *)sa.data, sa.len, &oa) ==
             MSGPACK_UNPACK_SUCCESS &&
         msgpack_unpack_next(&ub, (char *)sb.data, sb.len, &ob) ==
             MSGPACK_UNPACK_SUCCESS;
    for (size_t i = 0; eq && i < sizeof keys / sizeof keys[0]; i++) {
        msgpack_object x, y;
        eq = header_field(&ua.data, keys[i], &x) &&
             header_field(&ub.data, keys[i], &y) && msgpack_object_equal(x, y);
    }
    eq = eq && sa.len - oa == sb.len - ob &&
         memcmp(sa.data + oa, sb.data + ob, sa.len - oa) == 0;
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ub);
    cr_buf_free(&sa);
    cr_buf_free(&sb);
    return eq;
}

/* Apply a command that must be refused with @want; check that only the
 * applied index and one audit record changed. */
static void expect_refused(struct cr_state *st, const struct cr_command *cmd,
                           enum cr_status want, const char *msg_part)
{
    struct cr_buf before = tsnap(st);
    struct cr_state *copy = cr_state_new();
    struct cr_apply_result res;
    size_t audits = cr_state_audit_count(st);
    uint64_t index = cr_state_applied_index(st);

    cr_state_restore(copy, before.data, before.len, NULL);
    CHECK_INT(tapply(st, cmd, &res), want);
    if (msg_part != NULL && strstr(res.message, msg_part) == NULL) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", res.message,
                msg_part);
        CHECK(0);
    }
    CHECK_INT(cr_state_applied_index(st), index + 1);
    if (cmd->type != CR_CMD_DOC_PUT && cmd->type != CR_CMD_DOC_DELETE) {
        CHECK_INT(cr_state_audit_count(st), audits + 1);
        CHECK_INT(last_audit(st)->status, want);
    }
    CHECK(content_equal(st, copy));
    cr_state_free(copy);
    cr_buf_free(&before);
}

TEST(test_bootstrap)
{
    struct fixture f;
    const struct cr_cert_entry *e;

    fx_init(&f);
    CHECK(cr_state_bootstrapped(f.st));
    CHECK_INT(cr_state_cluster_cert_count(f.st), 1);
    e = cr_state_cluster_cert(f.st, 0);
    CHECK(e != NULL);
    CHECK_STR(e->name, "Cluster Node Certificate");
    CHECK_INT(e->clearance, CR_CLEARANCE_CLUSTER_NODE);
    CHECK(cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(!cr_state_is_cluster_node(f.st, f.admin.thumb));
    e = cr_state_cert_find(f.st, f.admin.thumb);
    CHECK(e != NULL && e->clearance == CR_CLEARANCE_CLUSTER_ADMIN);
    CHECK_STR(e->name, "admin");
    CHECK_INT(e->added_index, 1);
    CHECK_INT(cr_state_cert_count(f.st), 4);
    {
        struct cr_command cmd;
        tcmd_init(&cmd, CR_CMD_BOOTSTRAP, NULL);
        cmd.u.bootstrap.cluster_cert.der = f.op.der;
        cmd.u.bootstrap.cluster_cert.len = f.op.len;
        cmd.u.bootstrap.admin_cert.der = f.user.der;
        cmd.u.bootstrap.admin_cert.len = f.user.len;
        cmd.u.bootstrap.admin_name = (char *)"again";
        expect_refused(f.st, &cmd, CR_ECONFLICT, "already bootstrapped");
    }
    fx_free(&f);

    /* Before bootstrap nobody is registered. */
    {
        struct cr_state *st = cr_state_new();
        struct tcert cl = tcert_cluster("c"), a = tcert_client(&cl, "a", 3);
        CHECK(!cr_state_bootstrapped(st));
        CHECK_INT(tdb(st, &a, CR_CMD_DB_PUT, "x"), CR_EFORBIDDEN);
        cr_state_free(st);
        tcert_free(&a);
        tcert_free(&cl);
    }
}

TEST(test_operator_versus_cluster_admin)
{
    struct fixture f;
    struct tcert x, y;
    struct cr_command cmd;
    struct cr_apply_result res;

    fx_init(&f);
    x = tcert_client(&f.cl, "x", 10);
    y = tcert_client(&f.cl, "y", 10);

    /* Operator uploads Operator and ValidUser, not ClusterAdmin/Node. */
    CHECK_INT(tput1(f.st, &f.op, &x, "x", CR_CLEARANCE_VALID_USER), CR_OK);
    tcmd_init(&cmd, CR_CMD_CERT_PUT, &f.op);
    cmd.u.cert_put.name = (char *)"y";
    cmd.u.cert_put.clearance = CR_CLEARANCE_CLUSTER_ADMIN;
    cmd.u.cert_put.certs.items = &(struct cr_der){y.der, y.len};
    cmd.u.cert_put.certs.n = 1;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "ClusterAdmin");
    cmd.u.cert_put.clearance = CR_CLEARANCE_CLUSTER_NODE;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, NULL);
    /* ValidUser cannot upload at all. */
    cmd.u.cert_put.clearance = CR_CLEARANCE_VALID_USER;
    memcpy(cmd.caller, f.user.thumb, 65);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "Operator");

    /* Operator cannot raise to ClusterAdmin, nor touch the admin. */
    CHECK_INT(tedit(f.st, &f.op, x.thumb, NULL, CR_CLEARANCE_CLUSTER_ADMIN, -1,
                    &res),
              CR_EFORBIDDEN);
    CHECK_INT(tedit(f.st, &f.op, x.thumb, NULL, CR_CLEARANCE_OPERATOR, -1,
                    &res),
              CR_OK);
    CHECK_INT(cr_state_cert_find(f.st, x.thumb)->clearance,
              CR_CLEARANCE_OPERATOR);
    CHECK_INT(tedit(f.st, &f.op, f.admin.thumb, "renamed", 0, -1, &res),
              CR_EFORBIDDEN);
    CHECK_INT(tdelete(f.st, &f.op, f.admin.thumb, &res), CR_EFORBIDDEN);
    CHECK(cr_state_cert_find(f.st, f.admin.thumb) != NULL);

    /* ClusterAdmin may. */
    CHECK_INT(tput1(f.st, &f.admin, &y, "y", CR_CLEARANCE_CLUSTER_ADMIN),
              CR_OK);
    CHECK_INT(tedit(f.st, &f.admin, x.thumb, NULL, CR_CLEARANCE_CLUSTER_ADMIN,
                    -1, &res),
              CR_OK);
    CHECK_INT(tdelete(f.st, &f.op, y.thumb, &res), CR_EFORBIDDEN);
    CHECK_INT(tdelete(f.st, &f.admin, y.thumb, &res), CR_OK);
    CHECK(cr_state_cert_find(f.st, y.thumb) == NULL);
    /* Replacing an existing ClusterAdmin entry also needs ClusterAdmin. */
    CHECK_INT(tput1(f.st, &f.op, &x, "x2", CR_CLEARANCE_VALID_USER),
              CR_EFORBIDDEN);

    tcert_free(&x);
    tcert_free(&y);
    fx_free(&f);
}

TEST(test_validation)
{
    struct fixture f;
    struct tcert x;
    struct cr_apply_result res;
    struct cr_permission bad[] = {{(char *)".hidden", CR_ACCESS_READ}};
    struct cr_permission dup[] = {{(char *)"a", CR_ACCESS_READ},
                                  {(char *)"a", CR_ACCESS_ADMIN}};
    struct cr_permission later[] = {{(char *)"zeta", CR_ACCESS_ADMIN},
                                    {(char *)"alpha", CR_ACCESS_READ}};
    char longname[300];

    fx_init(&f);
    x = tcert_client(&f.cl, "x", 10);
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&x}, 1, "x",
                   CR_CLEARANCE_VALID_USER, bad, 1, &res),
              CR_EINVAL);
    CHECK(strstr(res.message, ".hidden") != NULL);
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&x}, 1, "x",
                   CR_CLEARANCE_VALID_USER, dup, 2, &res),
              CR_EINVAL);
    CHECK_INT(tput1(f.st, &f.admin, &x, "", CR_CLEARANCE_VALID_USER),
              CR_EINVAL);
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_INT(tput1(f.st, &f.admin, &x, longname, CR_CLEARANCE_VALID_USER),
              CR_EINVAL);
    /* A certificate that does not parse. */
    {
        struct tcert junk = x;
        unsigned char bytes[] = {0x30, 0x03, 0x02, 0x01, 0x01};
        junk.der = bytes;
        junk.len = sizeof bytes;
        CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&junk}, 1, "j",
                       CR_CLEARANCE_VALID_USER, NULL, 0, &res),
                  CR_EINVAL);
        CHECK(strstr(res.message, "certificate 1") != NULL);
    }
    /* Databases that do not exist yet are fine; perms come out sorted. */
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&x}, 1, "x",
                   CR_CLEARANCE_VALID_USER, later, 2, &res),
              CR_OK);
    {
        const struct cr_cert_entry *e = cr_state_cert_find(f.st, x.thumb);
        CHECK_INT(e->n_perms, 2);
        CHECK_STR(e->perms[0].database, "alpha");
        CHECK_STR(e->perms[1].database, "zeta");
    }
    CHECK_INT(tedit(f.st, &f.admin, x.thumb, "", 0, -1, &res), CR_EINVAL);
    CHECK_INT(tedit(f.st, &f.admin, f.user.thumb, NULL, 0, -1, &res), CR_OK);
    {
        char missing[65];
        memset(missing, 'A', 64);
        missing[64] = '\0';
        CHECK_INT(tedit(f.st, &f.admin, missing, "n", 0, -1, &res),
                  CR_ENOTFOUND);
        CHECK_INT(tdelete(f.st, &f.admin, missing, &res), CR_ENOTFOUND);
    }
    tcert_free(&x);
    fx_free(&f);
}

TEST(test_self_protection)
{
    struct fixture f;
    struct cr_apply_result res;
    struct cr_command cmd;

    fx_init(&f);
    tcmd_init(&cmd, CR_CMD_CERT_DELETE, &f.admin);
    memcpy(cmd.u.cert_delete.thumbprint, f.admin.thumb, 65);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "connected with");
    tcmd_init(&cmd, CR_CMD_CERT_DELETE, &f.op);
    memcpy(cmd.u.cert_delete.thumbprint, f.op.thumb, 65);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "connected with");
    /* Own clearance and Disabled are off limits; renaming is fine. */
    CHECK_INT(tedit(f.st, &f.op, f.op.thumb, NULL, CR_CLEARANCE_VALID_USER, -1,
                    &res),
              CR_EFORBIDDEN);
    CHECK_INT(tedit(f.st, &f.op, f.op.thumb, NULL, 0, 1, &res),
              CR_EFORBIDDEN);
    CHECK_INT(tedit(f.st, &f.op, f.op.thumb, "operator", CR_CLEARANCE_OPERATOR,
                    0, &res),
              CR_OK);
    CHECK_STR(cr_state_cert_find(f.st, f.op.thumb)->name, "operator");
    /* The cluster certificate cannot be deleted or demoted. */
    CHECK_INT(tdelete(f.st, &f.admin, f.cl.thumb, &res), CR_EFORBIDDEN);
    CHECK(strstr(res.message, "cluster certificate") != NULL);
    CHECK_INT(tedit(f.st, &f.admin, f.cl.thumb, NULL, CR_CLEARANCE_VALID_USER,
                    -1, &res),
              CR_EFORBIDDEN);
    CHECK_INT(tput1(f.st, &f.admin, &f.cl, "cl", CR_CLEARANCE_VALID_USER),
              CR_EFORBIDDEN);
    fx_free(&f);
}

TEST(test_collections)
{
    struct fixture f;
    struct tcert p, s1, s2, s3, other;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    const struct cr_cert_entry *e;
    struct cr_permission perms[] = {{(char *)"orders", CR_ACCESS_ADMIN}};

    fx_init(&f);
    p = tcert_client(&f.cl, "p", 10);
    s1 = tcert_client(&f.cl, "s1", 10);
    s2 = tcert_client(&f.cl, "s2", 10);
    s3 = tcert_client(&f.cl, "s3", 10);
    other = tcert_client(&f.cl, "other", 10);

    CHECK_INT(tput(f.st, &f.op, (const struct tcert *[]){&p, &s1, &s2, &s1}, 4,
                   "coll", CR_CLEARANCE_VALID_USER, perms, 1, &res),
              CR_OK);
    CHECK_INT(cr_state_cert_count(f.st), 7);
    e = cr_state_cert_find(f.st, p.thumb);
    CHECK_INT(e->n_secondaries, 2);
    e = cr_state_cert_find(f.st, s2.thumb);
    CHECK_STR(e->primary, p.thumb);
    CHECK(cr_state_cert_primary(f.st, e) == cr_state_cert_find(f.st, p.thumb));

    /* Members authenticate with the primary's rights. */
    CHECK_INT(cr_auth_by_thumbprint(f.st, s2.thumb, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_STR(id.thumbprint, s2.thumb);
    CHECK_STR(id.entry->thumbprint, p.thumb);
    CHECK_STR(id.name, "coll");
    CHECK_INT(cr_authz_db_access(&id, "orders"), CR_ACCESS_ADMIN);
    CHECK_INT(cr_authz_db_access(&id, "other"), CR_ACCESS_NONE);
    CHECK_INT(cr_auth_authenticate(f.st, s1.der, s1.len, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_STR(id.entry->thumbprint, p.thumb);

    /* A secondary cannot be deleted, edited, or be a primary. */
    CHECK_INT(tdelete(f.st, &f.op, s1.thumb, &res), CR_ECONFLICT);
    CHECK(strstr(res.message, p.thumb) != NULL);
    CHECK_INT(tedit(f.st, &f.op, s1.thumb, "n", 0, -1, &res), CR_ECONFLICT);
    CHECK_INT(tput1(f.st, &f.op, &s1, "s1", CR_CLEARANCE_VALID_USER),
              CR_ECONFLICT);
    /* A member of another collection cannot join this one. */
    CHECK_INT(tput(f.st, &f.op, (const struct tcert *[]){&other, &s2}, 2, "o",
                   CR_CLEARANCE_VALID_USER, NULL, 0, &res),
              CR_ECONFLICT);
    CHECK(strstr(res.message, s2.thumb) != NULL);
    CHECK_INT(tput(f.st, &f.op, (const struct tcert *[]){&other, &f.user}, 2,
                   "o", CR_CLEARANCE_VALID_USER, NULL, 0, &res),
              CR_ECONFLICT);

    /* Edits reach every member; disabling the primary stops them all. */
    CHECK_INT(tedit(f.st, &f.op, p.thumb, "renamed", 0, 1, &res), CR_OK);
    CHECK_STR(cr_state_cert_find(f.st, s1.thumb)->name, "renamed");
    CHECK_INT(cr_auth_by_thumbprint(f.st, s1.thumb, tnow_ms(), &id, &err),
              CR_EFORBIDDEN);
    CHECK(strstr(err.msg, "disabled") != NULL);
    CHECK_INT(tedit(f.st, &f.op, p.thumb, NULL, 0, 0, &res), CR_OK);

    /* Replacing the collection: s1 and s2 go, s3 comes. */
    CHECK_INT(tput(f.st, &f.op, (const struct tcert *[]){&p, &s3}, 2, "new",
                   CR_CLEARANCE_VALID_USER, NULL, 0, &res),
              CR_OK);
    CHECK(cr_state_cert_find(f.st, s1.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, s2.thumb) == NULL);
    CHECK_STR(cr_state_cert_find(f.st, s3.thumb)->primary, p.thumb);
    CHECK_INT(cr_state_cert_count(f.st), 6);

    /* A member may not delete its own collection. */
    CHECK_INT(tput1(f.st, &f.admin, &other, "o", CR_CLEARANCE_OPERATOR),
              CR_OK);
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&p, &s3, &s1}, 3,
                   "new", CR_CLEARANCE_OPERATOR, NULL, 0, &res),
              CR_OK);
    CHECK_INT(tdelete(f.st, &s3, p.thumb, &res), CR_EFORBIDDEN);

    /* Deleting the primary removes every member. */
    CHECK_INT(tdelete(f.st, &other, p.thumb, &res), CR_OK);
    CHECK(cr_state_cert_find(f.st, p.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, s1.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, s3.thumb) == NULL);
    CHECK_INT(cr_auth_authenticate(f.st, s3.der, s3.len, tnow_ms(), &id, &err),
              CR_EFORBIDDEN);
    CHECK(strstr(err.msg, "unknown certificate") != NULL);

    tcert_free(&p);
    tcert_free(&s1);
    tcert_free(&s2);
    tcert_free(&s3);
    tcert_free(&other);
    fx_free(&f);
}

TEST(test_deleted_caller_refused_later)
{
    struct fixture f;
    struct cr_apply_result res;
    struct cr_command cmd;

    fx_init(&f);
    CHECK_INT(tdelete(f.st, &f.admin, f.op.thumb, &res), CR_OK);
    tcmd_init(&cmd, CR_CMD_DB_PUT, &f.op);
    cmd.u.db.name = (char *)"late";
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "is not registered");
    CHECK(!cr_state_db_exists(f.st, "late"));
    CHECK_STR(last_audit(f.st)->caller, f.op.thumb);
    CHECK_STR(last_audit(f.st)->caller_name, "");
    fx_free(&f);
}

TEST(test_validity_uses_command_time)
{
    struct fixture f;
    struct cr_command cmd;

    fx_init(&f);
    tcmd_init(&cmd, CR_CMD_DB_PUT, &f.op);
    cmd.u.db.name = (char *)"t";
    cmd.time_ms = (f.op.not_after + 10) * 1000;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "expired");
    cmd.time_ms = (f.op.not_before - 10) * 1000;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "not valid before");
    /* The last valid second still works. */
    cmd.time_ms = f.op.not_after * 1000 + 999;
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
    fx_free(&f);
}

TEST(test_disabled_caller)
{
    struct fixture f;
    struct cr_apply_result res;
    struct cr_command cmd;

    fx_init(&f);
    CHECK_INT(tedit(f.st, &f.admin, f.op.thumb, NULL, 0, 1, &res), CR_OK);
    CHECK(cr_state_cert_find(f.st, f.op.thumb)->disabled);
    tcmd_init(&cmd, CR_CMD_DB_PUT, &f.op);
    cmd.u.db.name = (char *)"d";
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "disabled");
    CHECK_INT(tedit(f.st, &f.admin, f.op.thumb, NULL, 0, 0, &res), CR_OK);
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
    fx_free(&f);
}

TEST(test_databases_and_documents)
{
    struct fixture f;
    struct cr_command cmd;
    size_t len;

    fx_init(&f);
    CHECK_INT(tdb(f.st, &f.user, CR_CMD_DB_PUT, "rw"), CR_EFORBIDDEN);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "rw"), CR_OK);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "ro"), CR_OK);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "rw"), CR_ECONFLICT);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "bad/name"), CR_EINVAL);

    /* Read cannot write, ReadWrite can, Operator can anywhere. */
    tcmd_init(&cmd, CR_CMD_DOC_PUT, &f.user);
    cmd.u.doc.db = (char *)"ro";
    cmd.u.doc.id = (char *)"a";
    cmd.u.doc.json = (char *)"{}";
    cmd.u.doc.json_len = 2;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "Read access");
    CHECK_INT(tdoc(f.st, &f.user, "rw", "users/1", "{\"n\":1}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.op, "ro", "x", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.admin, "ro", "y", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.cl, "ro", "z", "{}"), CR_OK);
    CHECK_STR(cr_state_doc_get(f.st, "rw", "users/1", &len), "{\"n\":1}");
    CHECK_INT(len, 7);
    CHECK_INT(tdoc(f.st, &f.user, "rw", "users/1", "{\"n\":2}"), CR_OK);
    CHECK_STR(cr_state_doc_get(f.st, "rw", "users/1", &len), "{\"n\":2}");

    /* Unknown database: 404 for everyone. */
    cmd.u.doc.db = (char *)"nope";
    expect_refused(f.st, &cmd, CR_ENOTFOUND, "does not exist");
    CHECK_INT(tdoc(f.st, &f.user, "rw", "bad\nid", "{}"), CR_EINVAL);
    CHECK_INT(tdoc(f.st, &f.user, "rw", "missing", NULL), CR_ENOTFOUND);
    CHECK_INT(tdoc(f.st, &f.user, "ro", "x", NULL), CR_EFORBIDDEN);
    CHECK_INT(tdoc(f.st, &f.user, "rw", "users/1", NULL), CR_OK);
    CHECK(cr_state_doc_get(f.st, "rw", "users/1", NULL) == NULL);

    /* Document writes are not audited; database ones are. */
    {
        size_t n = cr_state_audit_count(f.st);
        CHECK_INT(tdoc(f.st, &f.op, "rw", "k", "{}"), CR_OK);
        CHECK_INT(cr_state_audit_count(f.st), n);
        CHECK_INT(tdb(f.st, &f.user, CR_CMD_DB_DELETE, "ro"), CR_EFORBIDDEN);
        CHECK_INT(cr_state_audit_count(f.st), n + 1);
    }
    CHECK_INT(cr_state_db_doc_count(f.st, "ro"), 3);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_DELETE, "ro"), CR_OK);
    CHECK(!cr_state_db_exists(f.st, "ro"));
    CHECK_INT(cr_state_db_doc_count(f.st, "ro"), 0);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_DELETE, "ro"), CR_ENOTFOUND);
    /* Permissions naming it survive; recreated, it is empty. */
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "ro"), CR_OK);
    CHECK_INT(cr_state_db_doc_count(f.st, "ro"), 0);
    fx_free(&f);
}

struct listing {
    char ids[64][32];
    size_t n;
};

static bool list_visit(const char *id, const char *json, size_t len,
                       void *arg)
{
    struct listing *l = arg;

    (void)json;
    (void)len;
    snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", id);
    return l->n < 64;
}

static bool name_visit(const char *name, void *arg)
{
    struct listing *l = arg;

    snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", name);
    return true;
}

struct order_check {
    char prev[32];
    size_t n;
    bool sorted;
};

static bool order_visit(const char *id, const char *json, size_t len,
                        void *arg)
{
    struct order_check *o = arg;

    (void)json;
    (void)len;
    if (o->n > 0 && strcmp(o->prev, id) >= 0) {
        o->sorted = false;
    }
    snprintf(o->prev, sizeof o->prev, "%s", id);
    o->n++;
    return true;
}

TEST(test_document_listing)
{
    struct fixture f;
    struct listing l;
    char id[32];
    int i;

    fx_init(&f);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "rw"), CR_OK);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "a"), CR_OK);
    /* Inserted in a scrambled order. */
    for (i = 0; i < 2000; i++) {
        int k = (i * 7919) % 2000;
        snprintf(id, sizeof id, "%s/%04d", k % 2 ? "users" : "orders", k);
        CHECK_INT(tdoc(f.st, &f.op, "rw", id, "{}"), CR_OK);
    }
    CHECK_INT(tdoc(f.st, &f.op, "rw", "users", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.op, "rw", "usersz", "{}"), CR_OK);
    CHECK_INT(cr_state_db_doc_count(f.st, "rw"), 2002);

    memset(&l, 0, sizeof l);
    cr_state_doc_foreach(f.st, "rw", "users/", NULL, 3, list_visit, &l);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.ids[0], "users/0001");
    CHECK_STR(l.ids[2], "users/0005");
    memset(&l, 0, sizeof l);
    cr_state_doc_foreach(f.st, "rw", "users/", "users/1995", 10, list_visit,
                         &l);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.ids[0], "users/1997");
    CHECK_STR(l.ids[1], "users/1999");
    memset(&l, 0, sizeof l);
    cr_state_doc_foreach(f.st, "rw", "", "users/1999", 10, list_visit, &l);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.ids[0], "usersz");
    memset(&l, 0, sizeof l);
    cr_state_doc_foreach(f.st, "rw", "nothing", NULL, 10, list_visit, &l);
    CHECK_INT(l.n, 0);
    /* Deletions keep the tree ordered and balanced. */
    for (i = 0; i < 2000; i += 3) {
        snprintf(id, sizeof id, "%s/%04d", i % 2 ? "users" : "orders", i);
        CHECK_INT(tdoc(f.st, &f.op, "rw", id, NULL), CR_OK);
    }
    {
        struct order_check o = {"", 0, true};
        cr_state_doc_foreach(f.st, "rw", "", NULL, SIZE_MAX, order_visit, &o);
        CHECK_INT(o.n, 2002 - 667);
        CHECK(o.sorted);
        CHECK_INT(cr_state_db_doc_count(f.st, "rw"), 2002 - 667);
    }
    memset(&l, 0, sizeof l);
    cr_state_db_foreach(f.st, name_visit, &l);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.ids[0], "a");
    CHECK_STR(l.ids[1], "rw");
    fx_free(&f);
}

TEST(test_authenticate)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct tcert stranger;

    fx_init(&f);
    CHECK_INT(cr_auth_authenticate(f.st, NULL, 0, tnow_ms(), &id, &err),
              CR_EUNAUTH);
    CHECK(strstr(err.msg, "no client certificate") != NULL);
    CHECK_INT(cr_auth_authenticate(f.st, f.user.der, f.user.len, tnow_ms(),
                                   &id, &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CERTIFICATE);
    CHECK_INT(id.clearance, CR_CLEARANCE_VALID_USER);
    CHECK_STR(id.name, "user");
    CHECK_INT(cr_authz_db_access(&id, "rw"), CR_ACCESS_READ_WRITE);
    CHECK_INT(cr_authz_db_access(&id, "ro"), CR_ACCESS_READ);
    CHECK_INT(cr_authz_db_access(&id, "zz"), CR_ACCESS_NONE);
    CHECK_INT(cr_authz_require_db(&id, "ro", CR_ACCESS_READ, &err), CR_OK);
    CHECK_INT(cr_authz_require(&id, CR_CLEARANCE_OPERATOR, "listing", &err),
              CR_EFORBIDDEN);
    CHECK(strstr(err.msg, "Operator") != NULL);
    CHECK_INT(cr_auth_authenticate(f.st, f.user.der, f.user.len,
                                   (f.user.not_after + 1) * 1000, &id, &err),
              CR_EFORBIDDEN);
    stranger = tcert_client(&f.cl, "stranger", 10);
    CHECK_INT(cr_auth_authenticate(f.st, stranger.der, stranger.len, tnow_ms(),
                                   &id, &err),
              CR_EFORBIDDEN);
    CHECK(strstr(err.msg, stranger.thumb) != NULL);
    CHECK(strstr(err.msg, "PUT /admin/certificates") != NULL);
    CHECK_INT(cr_auth_authenticate(f.st, f.op.der, f.op.len, tnow_ms(), &id,
                                   &err),
              CR_OK);
    CHECK_INT(cr_authz_db_access(&id, "anything"), CR_ACCESS_ADMIN);
    CHECK_INT(cr_authz_manage_cert(&id, CR_CLEARANCE_OPERATOR, &err), CR_OK);
    CHECK_INT(cr_authz_manage_cert(&id, CR_CLEARANCE_CLUSTER_ADMIN, &err),
              CR_EFORBIDDEN);
    /* Lower-case lookups work too. */
    {
        char lower[65];
        for (int i = 0; i < 65; i++) {
            lower[i] = (char)tolower((unsigned char)f.op.thumb[i]);
        }
        CHECK(cr_state_cert_find(f.st, lower) != NULL);
    }
    tcert_free(&stranger);
    fx_free(&f);
}

TEST(test_nodes)
{
    struct fixture f;
    struct tcert join;
    struct cr_command cmd;
    struct cr_identity id;
    struct cr_error err;

    fx_init(&f);
    join = tcert_client(&f.cl, "join", 1);
    tcmd_init(&cmd, CR_CMD_NODE_PENDING, &f.op);
    cmd.u.node.id = 2;
    cmd.u.node.raft_address = (char *)"10.0.0.2:7000";
    cmd.u.node.api_url = (char *)"https://10.0.0.2:8443";
    memcpy(cmd.u.node.join_thumbprint, join.thumb, 65);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "ClusterAdmin");
    memcpy(cmd.caller, f.admin.thumb, 65);
    cmd.u.node.id = 0;
    expect_refused(f.st, &cmd, CR_EINVAL, NULL);
    cmd.u.node.id = 2;
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK); /* idempotent */
    CHECK_INT(cr_state_pending_node_count(f.st), 1);
    CHECK_STR(cr_state_pending_node(f.st, 0)->raft_address, "10.0.0.2:7000");
    cmd.u.node.id = 3;
    expect_refused(f.st, &cmd, CR_ECONFLICT, "node 2");
    memcpy(cmd.u.node.join_thumbprint, f.user.thumb, 65);
    expect_refused(f.st, &cmd, CR_ECONFLICT, "registered");
    cmd.u.node.id = 2;
    expect_refused(f.st, &cmd, CR_ECONFLICT, "another join");

    /* The join certificate authenticates as a joining node only. */
    CHECK_INT(cr_auth_authenticate(f.st, join.der, join.len, tnow_ms(), &id,
                                   &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_JOINING_NODE);
    CHECK_INT(id.clearance, CR_CLEARANCE_NONE);
    CHECK(id.pending != NULL && id.pending->id == 2);
    CHECK_INT(tdb(f.st, &join, CR_CMD_DB_PUT, "j"), CR_EFORBIDDEN);

    /* The node itself (cluster certificate) reports the join. */
    tcmd_init(&cmd, CR_CMD_NODE_JOINED, &f.cl);
    cmd.u.node.id = 2;
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
    CHECK_INT(cr_state_pending_node_count(f.st), 0);
    CHECK_INT(cr_auth_authenticate(f.st, join.der, join.len, tnow_ms(), &id,
                                   &err),
              CR_EFORBIDDEN);
    tcmd_init(&cmd, CR_CMD_NODE_REMOVED, &f.admin);
    cmd.u.node.id = 2;
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
    CHECK_STR(last_audit(f.st)->operation, "NodeRemoved");
    CHECK_STR(last_audit(f.st)->target, "node 2");
    tcmd_init(&cmd, CR_CMD_NODE_REMOVED, &f.user);
    cmd.u.node.id = 2;
    CHECK_INT(tapply(f.st, &cmd, NULL), CR_EFORBIDDEN);
    tcert_free(&join);
    fx_free(&f);
}

TEST(test_audit_and_malformed)
{
    struct fixture f;
    struct cr_apply_result res;
    const struct cr_audit_record *r;
    uint64_t index;
    int i;

    fx_init(&f);
    CHECK_INT(cr_state_audit_count(f.st), 3);
    r = cr_state_audit_get(f.st, 1);
    CHECK_INT(r->index, 2);
    CHECK_STR(r->operation, "CertPut");
    CHECK_STR(r->caller, f.admin.thumb);
    CHECK_STR(r->caller_name, "admin");
    CHECK_STR(r->target, f.op.thumb);
    CHECK_INT(r->status, CR_OK);
    r = cr_state_audit_get(f.st, 0);
    CHECK_STR(r->operation, "Bootstrap");
    CHECK_STR(r->target, f.cl.thumb);

    CHECK_INT(tdb(f.st, &f.user, CR_CMD_DB_PUT, "x"), CR_EFORBIDDEN);
    r = last_audit(f.st);
    CHECK_STR(r->operation, "DatabasePut");
    CHECK_STR(r->caller_name, "user");
    CHECK_STR(r->target, "x");
    CHECK_INT(r->status, CR_EFORBIDDEN);

    index = cr_state_applied_index(f.st);
    cr_state_apply(f.st, index + 1, "\x81\xa1t\x05", 4, &res);
    CHECK_INT(res.status, CR_EINVAL);
    CHECK(strncmp(res.message, "malformed command: ", 19) == 0);
    CHECK_INT(cr_state_applied_index(f.st), index + 1);
    CHECK_STR(last_audit(f.st)->operation, "Malformed");

    /* The ring keeps the newest records. */
    cr_state_set_audit_capacity(f.st, 3);
    CHECK_INT(cr_state_audit_count(f.st), 3);
    for (i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "db%d", i);
        CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, name), CR_OK);
    }
    CHECK_INT(cr_state_audit_count(f.st), 3);
    CHECK_STR(cr_state_audit_get(f.st, 0)->target, "db2");
    CHECK_STR(cr_state_audit_get(f.st, 2)->target, "db4");
    CHECK(cr_state_audit_get(f.st, 3) == NULL);
    cr_state_set_audit_capacity(f.st, 10);
    CHECK_INT(tdb(f.st, &f.op, CR_CMD_DB_PUT, "db5"), CR_OK);
    CHECK_INT(cr_state_audit_count(f.st), 4);
    CHECK_STR(cr_state_audit_get(f.st, 3)->target, "db5");
    fx_free(&f);
}

/* Two nodes applying the same log agree, whatever the insertion order
 * of their hash tables. */
TEST(test_determinism)
{
    struct fixture f;
    struct cr_state *b = cr_state_new();
    struct cr_buf log[64];
    size_t n = 0, i;
    struct tcert certs[20];
    struct cr_command cmd;
    struct cr_error err;

    fx_init(&f);
    /* Rebuild the fixture's log, then more, recording every entry. */
    for (i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%zu", i);
        certs[i] = tcert_client(&f.cl, name, 5);
        tcmd_init(&cmd, CR_CMD_CERT_PUT, i % 2 ? &f.op : &f.admin);
        cmd.u.cert_put.name = name;
        cmd.u.cert_put.clearance = CR_CLEARANCE_VALID_USER;
        cmd.u.cert_put.certs.items = &(struct cr_der){certs[i].der,
                                                      certs[i].len};
        cmd.u.cert_put.certs.n = 1;
        log[n] = (struct cr_buf){NULL, 0, 0};
        cr_command_encode(&cmd, &log[n++], &err);
    }
    for (i = 0; i < 20; i += 3) {
        tcmd_init(&cmd, CR_CMD_CERT_DELETE, &f.admin);
        memcpy(cmd.u.cert_delete.thumbprint, certs[i].thumb, 65);
        log[n] = (struct cr_buf){NULL, 0, 0};
        cr_command_encode(&cmd, &log[n++], &err);
    }
    {
        struct cr_buf s = tsnap(f.st);
        CHECK_INT(cr_state_restore(b, s.data, s.len, &err), CR_OK);
        cr_buf_free(&s);
    }
    for (i = 0; i < n; i++) {
        struct cr_apply_result r1, r2;
        uint64_t idx = cr_state_applied_index(f.st) + 1;
        cr_state_apply(f.st, idx, log[i].data, log[i].len, &r1);
        cr_state_apply(b, idx, log[i].data, log[i].len, &r2);
        CHECK_INT(r1.status, r2.status);
        CHECK_STR(r1.message, r2.message);
        cr_buf_free(&log[i]);
    }
    CHECK(cr_state_equal(f.st, b));
    CHECK_INT(cr_state_cert_count(f.st), 4 + 20 - 7);
    for (i = 0; i < 20; i++) {
        tcert_free(&certs[i]);
    }
    cr_state_free(b);
    fx_free(&f);
}

/* Applies @cmd encoded and decoded, as a log entry would be. */
static enum cr_status apply_encoded(struct cr_state *st,
                                    const struct cr_command *cmd)
{
    struct cr_buf buf = {NULL, 0, 0};
    struct cr_apply_result res;
    struct cr_error err;

    CHECK_INT(cr_command_encode(cmd, &buf, &err), CR_OK);
    cr_state_apply(st, cr_state_applied_index(st) + 1, buf.data, buf.len,
                   &res);
    cr_buf_free(&buf);
    return res.status;
}

/* An upload parsed by the leader (the entry carries the fields) and the
 * same upload in an entry written before leaders parsed give the same
 * registry; the carried fields are what the entry keeps, the thumbprint
 * is always the DER's hash. */
TEST(test_cert_put_parsed_by_leader)
{
    struct fixture f;
    struct cr_state *old_style = cr_state_new();
    struct tcert x, y;
    struct cr_der members[2];
    struct cr_command cmd;
    struct cr_error err;

    fx_init(&f);
    x = tcert_client(&f.cl, "x", 10);
    y = tcert_client(&f.cl, "y", 10);
    {
        struct cr_buf s = tsnap(f.st);
        CHECK_INT(cr_state_restore(old_style, s.data, s.len, &err), CR_OK);
        cr_buf_free(&s);
    }
    members[0] = (struct cr_der){x.der, x.len};
    members[1] = (struct cr_der){y.der, y.len};
    tcmd_init(&cmd, CR_CMD_CERT_PUT, &f.admin);
    cmd.u.cert_put.name = (char *)"xy";
    cmd.u.cert_put.clearance = CR_CLEARANCE_OPERATOR;
    cmd.u.cert_put.certs.items = members;
    cmd.u.cert_put.certs.n = 2;
    CHECK_INT(apply_encoded(old_style, &cmd), CR_OK);
    /* As the node that takes the upload fills it. */
    cmd.u.cert_put.parsed = calloc(2, sizeof *cmd.u.cert_put.parsed);
    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(cr_cert_info_from_der(members[i].der, members[i].len,
                                        &cmd.u.cert_put.parsed[i], &err),
                  CR_OK);
    }
    CHECK_INT(apply_encoded(f.st, &cmd), CR_OK);
    CHECK(cr_state_equal(f.st, old_style));

    /* What the entry carries is what the registry keeps. */
    free(cmd.u.cert_put.parsed[0].subject);
    cmd.u.cert_put.parsed[0].subject = strdup("CN=as the leader read it");
    cmd.u.cert_put.name = (char *)"xy2";
    CHECK_INT(apply_encoded(f.st, &cmd), CR_OK);
    CHECK_STR(cr_state_cert_find(f.st, x.thumb)->subject,
              "CN=as the leader read it");
    CHECK_STR(cr_state_cert_find(f.st, x.thumb)->name, "xy2");
    cr_cert_put_parsed_free(&cmd);
    CHECK(cmd.u.cert_put.parsed == NULL);

    /* An entry without parsed fields whose certificate does not parse
     * is refused by every node alike. */
    members[1] = (struct cr_der){(unsigned char *)"\x30\x03\x02\x01\x01", 5};
    expect_refused(f.st, &cmd, CR_EINVAL,
                   "certificate 2 of the upload: not a DER X.509");

    tcert_free(&x);
    tcert_free(&y);
    cr_state_free(old_style);
    fx_free(&f);
}

/* Every later command, refused, changes nothing but the index and the
 * audit trail. */
TEST(test_new_commands_refused_atomically)
{
    struct fixture f;
    struct cr_command cmd;
    struct tcert fresh, cl2, leaf;
    struct cr_der d;
    static unsigned char sealed[] = {9, 9, 9};

    fx_init(&f);
    fresh = tcert_client(&f.cl, "fresh", 10);
    cl2 = tcert_cluster("cluster");
    leaf = tcert_client(&f.cl, "leaf", 10);

    tcmd_init(&cmd, CR_CMD_CERT_PURGE, &f.user);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "Operator");

    tcmd_init(&cmd, CR_CMD_CERT_IMPLICIT, &fresh);
    tcmd_with_der(&cmd, &fresh);
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "unknown certificate");

    tcmd_init(&cmd, CR_CMD_CLIENT_CA_PUT, &f.admin);
    d.der = leaf.der;
    d.len = leaf.len;
    cmd.u.client_ca.name = (char *)"b";
    cmd.u.client_ca.clearance = CR_CLEARANCE_VALID_USER;
    cmd.u.client_ca.certs.items = &d;
    cmd.u.client_ca.certs.n = 1;
    cmd.u.client_ca.mode = CR_CLIENT_CA_REPLACE;
    expect_refused(f.st, &cmd, CR_EINVAL, "not a CA certificate");

    tcmd_init(&cmd, CR_CMD_CLIENT_CA_DELETE, &f.admin);
    cmd.u.client_ca.name = (char *)"b";
    expect_refused(f.st, &cmd, CR_ENOTFOUND, "does not exist");

    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_INSTALL, &f.op);
    cmd.u.cluster_install.cert.der = cl2.der;
    cmd.u.cluster_install.cert.len = cl2.len;
    cmd.u.cluster_install.sealed_key.der = sealed;
    cmd.u.cluster_install.sealed_key.len = sizeof sealed;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "ClusterAdmin");

    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_CONFIRM, &f.cl);
    cmd.u.cluster_node.node_id = 1;
    expect_refused(f.st, &cmd, CR_ECONFLICT, "no cluster certificate");
    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_SWITCHED, &f.admin);
    cmd.u.cluster_node.node_id = 1;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "cluster node");
    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_CLEANUP, &f.admin);
    expect_refused(f.st, &cmd, CR_ECONFLICT, "no cluster certificate");

    /* Any time a log entry may carry is handled (no overflow). */
    tcmd_init(&cmd, CR_CMD_DB_PUT, &f.op);
    cmd.u.db.name = (char *)"x";
    cmd.time_ms = INT64_MIN;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "not valid before");
    cmd.time_ms = INT64_MAX;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "expired");
    tcmd_init(&cmd, CR_CMD_DB_PUT, &fresh);
    tcmd_with_der(&cmd, &fresh);
    cmd.u.db.name = (char *)"x";
    cmd.time_ms = INT64_MIN;
    expect_refused(f.st, &cmd, CR_EFORBIDDEN, "not valid before");

    /* A caller certificate that is not the caller's. */
    tcmd_init(&cmd, CR_CMD_DB_PUT, &f.op);
    cmd.caller_der.der = fresh.der;
    cmd.caller_der.len = fresh.len;
    cmd.u.db.name = (char *)"x";
    expect_refused(f.st, &cmd, CR_EINVAL, "thumbprint");

    tcert_free(&fresh);
    tcert_free(&cl2);
    tcert_free(&leaf);
    fx_free(&f);
}

int main(void)
{
    RUN(test_bootstrap);
    RUN(test_operator_versus_cluster_admin);
    RUN(test_validation);
    RUN(test_self_protection);
    RUN(test_collections);
    RUN(test_deleted_caller_refused_later);
    RUN(test_validity_uses_command_time);
    RUN(test_disabled_caller);
    RUN(test_databases_and_documents);
    RUN(test_document_listing);
    RUN(test_authenticate);
    RUN(test_nodes);
    RUN(test_audit_and_malformed);
    RUN(test_determinism);
    RUN(test_cert_put_parsed_by_leader);
    RUN(test_new_commands_refused_atomically);
    return HARNESS_DONE();
}
