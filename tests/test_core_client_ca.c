/*
 * test_core_client_ca.c - client CA bundles (CockroachDB's model): chain
 * validation (root, intermediate, partial chains, intermediates sent by
 * the peer), the bundle's rights for every authorization function,
 * APPEND/REPLACE rotation, validation of bundle members, expired and
 * forged leaves, deletion cutting certificates off at once, and the
 * order of authentication steps 3, 4 and 5.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/auth.h>
#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

#define DAY 86400LL

struct fixture {
    struct cr_state *st;
    struct tcert cl, admin, op;
    struct tcert root, inter, alice, bob; /* alice via inter, bob via root */
};

static struct cr_permission rw_perms[] = {
    {(char *)"rw", CR_ACCESS_READ_WRITE},
};

static void fx_init(struct fixture *f)
{
    int64_t now = (int64_t)time(NULL);

    f->st = cr_state_new();
    f->cl = tcert_cluster("cluster");
    f->admin = tcert_client(&f->cl, "admin", 30);
    f->op = tcert_client(&f->cl, "op", 30);
    CHECK_INT(tbootstrap(f->st, &f->cl, &f->admin), CR_OK);
    CHECK_INT(tput1(f->st, &f->admin, &f->op, "op", CR_CLEARANCE_OPERATOR),
              CR_OK);
    CHECK_INT(tdb(f->st, &f->op, CR_CMD_DB_PUT, "rw"), CR_OK);
    CHECK_INT(tdb(f->st, &f->op, CR_CMD_DB_PUT, "ro"), CR_OK);
    f->root = tcert_make(&(struct tcert_opts){
        .cn = "Partner Root CA", .ca = true, .not_after = now + 3650 * DAY});
    f->inter = tcert_make(&(struct tcert_opts){.cn = "Partner Issuing CA",
                                                .issuer = &f->root,
                                                .ca = true,
                                                .not_after = now + 365 * DAY});
    f->alice = tcert_make(&(struct tcert_opts){.cn = "alice",
                                                .issuer = &f->inter});
    f->bob = tcert_make(&(struct tcert_opts){.cn = "bob", .issuer = &f->root});
}

static void fx_free(struct fixture *f)
{
    cr_state_free(f->st);
    tcert_free(&f->cl);
    tcert_free(&f->admin);
    tcert_free(&f->op);
    tcert_free(&f->root);
    tcert_free(&f->inter);
    tcert_free(&f->alice);
    tcert_free(&f->bob);
}

static bool has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fprintf(stderr, "  \"%s\" lacks \"%s\"\n", hay, needle);
        return false;
    }
    return true;
}

static enum cr_status auth(const struct fixture *f, const struct tcert *c,
                           struct cr_identity *id, struct cr_error *err)
{
    return cr_auth_authenticate(f->st, c->der, c->len, tnow_ms(), id, err);
}

static enum cr_status auth_chain(const struct fixture *f,
                                 const struct tcert *c,
                                 const struct tcert *inter,
                                 struct cr_identity *id, struct cr_error *err)
{
    struct cr_der chain = {inter->der, inter->len};

    return cr_auth_authenticate_chain(f->st, c->der, c->len, &chain, 1,
                                      tnow_ms(), id, err);
}

static enum cr_status tca_delete(struct cr_state *st,
                                 const struct tcert *caller, bool with_der,
                                 const char *name,
                                 struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CLIENT_CA_DELETE, caller);
    if (with_der) {
        tcmd_with_der(&cmd, caller);
    }
    cmd.u.client_ca.name = (char *)name;
    return tapply(st, &cmd, res);
}

/* A document write as @caller, with its certificate (and @inter). */
static enum cr_status doc_as(struct cr_state *st, const struct tcert *caller,
                             const struct tcert *inter, const char *db,
                             struct cr_apply_result *res)
{
    struct cr_command cmd;
    struct cr_der chain;

    tcmd_init(&cmd, CR_CMD_DOC_PUT, caller);
    tcmd_with_der(&cmd, caller);
    if (inter != NULL) {
        chain.der = inter->der;
        chain.len = inter->len;
        cmd.caller_chain.items = &chain;
        cmd.caller_chain.n = 1;
    }
    cmd.u.doc.db = (char *)db;
    cmd.u.doc.id = (char *)"doc";
    cmd.u.doc.json = (char *)"{}";
    cmd.u.doc.json_len = 2;
    return tapply(st, &cmd, res);
}

TEST(test_chains_to_a_bundle)
{
    struct fixture f;
    struct cr_identity id, copy;
    struct cr_error err;
    struct cr_apply_result res;
    const struct cr_client_ca *ca;
    const struct cr_audit_record *a;

    fx_init(&f);
    CHECK_INT(tca_put(f.st, &f.admin, "partners",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, rw_perms, 1,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_OK);
    CHECK_INT(cr_state_client_ca_count(f.st), 1);
    ca = cr_state_client_ca_find(f.st, "partners");
    CHECK(ca != NULL && ca == cr_state_client_ca_get(f.st, 0));
    CHECK(cr_state_client_ca_get(f.st, 1) == NULL);
    CHECK(cr_state_client_ca_find(f.st, "nope") == NULL);
    CHECK_INT(ca->status, CR_CLIENT_CA_IS_SET);
    CHECK_STR(cr_client_ca_status_name(ca->status), "IS_SET");
    CHECK_STR(cr_client_ca_status_name(CR_CLIENT_CA_PENDING), "PENDING");
    CHECK_INT(ca->certs.n, 1);
    CHECK_INT(ca->added_index, cr_state_applied_index(f.st));
    CHECK_INT(ca->clearance, CR_CLEARANCE_VALID_USER);
    a = cr_state_audit_get(f.st, cr_state_audit_count(f.st) - 1);
    CHECK_STR(a->operation, "ClientCaPut");
    CHECK_STR(a->target, "client CA partners");

    /* Signed by the root: the bundle's rights, the CN as name. */
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CLIENT_CA);
    CHECK(id.client_ca == ca);
    CHECK(id.entry == NULL);
    CHECK_STR(id.name, "bob");
    CHECK_STR(id.thumbprint, f.bob.thumb);
    CHECK_INT(id.clearance, CR_CLEARANCE_VALID_USER);
    CHECK_INT(cr_authz_db_access(&id, "rw"), CR_ACCESS_READ_WRITE);
    CHECK_INT(cr_authz_db_access(&id, "ro"), CR_ACCESS_NONE);
    CHECK_INT(cr_authz_require_db(&id, "ro", CR_ACCESS_READ, &err),
              CR_EFORBIDDEN);
    CHECK_INT(cr_authz_manage_cert(&id, CR_CLEARANCE_VALID_USER, &err),
              CR_EFORBIDDEN);
    cr_identity_copy(&copy, &id);
    CHECK(copy.name == copy.cn);
    CHECK_STR(copy.name, "bob");

    /* Via the intermediate: only when the peer sends it. */
    CHECK_INT(auth(&f, &f.alice, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "unknown certificate"));
    CHECK_INT(auth_chain(&f, &f.alice, &f.inter, &id, &err), CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CLIENT_CA);
    CHECK_STR(id.name, "alice");

    /* Through apply, with the caller's certificate (and chain). */
    CHECK_INT(doc_as(f.st, &f.bob, NULL, "rw", &res), CR_OK);
    a = cr_state_audit_get(f.st, cr_state_audit_count(f.st) - 1);
    CHECK(strcmp(a->operation, "ClientCaPut") == 0); /* docs unaudited */
    CHECK_INT(doc_as(f.st, &f.bob, NULL, "ro", &res), CR_EFORBIDDEN);
    CHECK_INT(doc_as(f.st, &f.alice, NULL, "rw", &res), CR_EFORBIDDEN);
    CHECK_INT(doc_as(f.st, &f.alice, &f.inter, "rw", &res), CR_OK);
    CHECK_INT(tdb(f.st, &f.bob, CR_CMD_DB_PUT, "x"), CR_EFORBIDDEN);
    {
        struct cr_command cmd;
        tcmd_init(&cmd, CR_CMD_DB_PUT, &f.bob);
        tcmd_with_der(&cmd, &f.bob);
        cmd.u.db.name = (char *)"x";
        CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
        CHECK(has(res.message, "Operator"));
        a = cr_state_audit_get(f.st, cr_state_audit_count(f.st) - 1);
        CHECK_STR(a->caller_name, "bob");
        CHECK_STR(a->caller, f.bob.thumb);
    }

    /* A bundle holding only the intermediate: a partial chain. */
    CHECK_INT(tca_put(f.st, &f.admin, "issuing",
                      (const struct tcert *[]){&f.inter}, 1,
                      CR_CLEARANCE_OPERATOR, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_OK);
    CHECK_INT(auth(&f, &f.alice, &id, &err), CR_OK);
    CHECK_STR(id.client_ca->name, "issuing");
    CHECK_INT(id.clearance, CR_CLEARANCE_OPERATOR);
    CHECK_INT(cr_authz_db_access(&id, "anything"), CR_ACCESS_ADMIN);
    CHECK_STR(cr_state_client_ca_get(f.st, 0)->name, "issuing");

    /* Removing a bundle cuts its certificates off at once. */
    CHECK_INT(tca_delete(f.st, &f.admin, false, "partners", &res), CR_OK);
    a = cr_state_audit_get(f.st, cr_state_audit_count(f.st) - 1);
    CHECK_STR(a->operation, "ClientCaDelete");
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "unknown certificate"));
    CHECK_INT(doc_as(f.st, &f.bob, NULL, "rw", &res), CR_EFORBIDDEN);
    CHECK_INT(auth(&f, &f.alice, &id, &err), CR_OK); /* still "issuing" */
    CHECK_INT(tca_delete(f.st, &f.admin, false, "partners", &res),
              CR_ENOTFOUND);
    CHECK_INT(tca_delete(f.st, &f.op, false, "issuing", &res), CR_EFORBIDDEN);
    CHECK_INT(cr_state_client_ca_count(f.st), 1);
    fx_free(&f);
}

TEST(test_bundle_members_validated)
{
    struct fixture f;
    struct cr_apply_result res;
    struct tcert no_ku, expired_ca, future_ca, leaf;
    int64_t now = (int64_t)time(NULL);

    fx_init(&f);
    no_ku = tcert_make(&(struct tcert_opts){.cn = "no ku", .ca = true,
                                             .ca_no_key_usage = true});
    expired_ca = tcert_make(&(struct tcert_opts){
        .cn = "old", .ca = true, .not_before = now - 10 * DAY,
        .not_after = now - DAY});
    future_ca = tcert_make(&(struct tcert_opts){
        .cn = "soon", .ca = true, .not_before = now + DAY,
        .not_after = now + 10 * DAY});
    leaf = tcert_client(&f.cl, "leaf", 10);

    CHECK_INT(tca_put(f.st, &f.admin, "b", (const struct tcert *[]){&f.root,
                                                                   &leaf},
                      2, CR_CLEARANCE_VALID_USER, NULL, 0,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_EINVAL);
    CHECK(has(res.message, "certificate 2"));
    CHECK(has(res.message, "not a CA certificate"));
    CHECK_INT(tca_put(f.st, &f.admin, "b", (const struct tcert *[]){&no_ku}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_EINVAL);
    CHECK(has(res.message, "keyCertSign"));
    CHECK_INT(tca_put(f.st, &f.admin, "b",
                      (const struct tcert *[]){&expired_ca}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_EINVAL);
    CHECK(has(res.message, "expired"));
    CHECK_INT(tca_put(f.st, &f.admin, "b",
                      (const struct tcert *[]){&future_ca}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_EINVAL);
    CHECK(has(res.message, "not valid before"));
    CHECK_INT(tca_put(f.st, &f.admin, "b", (const struct tcert *[]){&f.root},
                      1, CR_CLEARANCE_CLUSTER_NODE, NULL, 0,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_EINVAL);
    CHECK(has(res.message, "cluster certificate"));
    CHECK_INT(tca_put(f.st, &f.admin, "../b",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_EINVAL);
    CHECK(has(res.message, "name"));
    CHECK_INT(tca_put(f.st, &f.op, "b", (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_EFORBIDDEN);
    CHECK(has(res.message, "ClusterAdmin"));
    {
        struct cr_permission bad[] = {{(char *)"no/pe", CR_ACCESS_READ}};
        CHECK_INT(tca_put(f.st, &f.admin, "b",
                          (const struct tcert *[]){&f.root}, 1,
                          CR_CLEARANCE_VALID_USER, bad, 1,
                          CR_CLIENT_CA_REPLACE, &res),
                  CR_EINVAL);
    }
    {
        struct tcert junk = f.root;
        unsigned char bytes[] = {0x30, 0x03, 0x02, 0x01, 0x01};
        junk.der = bytes;
        junk.len = sizeof bytes;
        CHECK_INT(tca_put(f.st, &f.admin, "b",
                          (const struct tcert *[]){&junk}, 1,
                          CR_CLEARANCE_VALID_USER, NULL, 0,
                          CR_CLIENT_CA_REPLACE, &res),
                  CR_EINVAL);
        CHECK(has(res.message, "certificate 1"));
    }
    CHECK_INT(cr_state_client_ca_count(f.st), 0);
    /* Duplicates collapse; the CA may be an intermediate. */
    CHECK_INT(tca_put(f.st, &f.admin, "b",
                      (const struct tcert *[]){&f.root, &f.inter, &f.root}, 3,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_OK);
    CHECK_INT(cr_state_client_ca_find(f.st, "b")->certs.n, 2);
    tcert_free(&no_ku);
    tcert_free(&expired_ca);
    tcert_free(&future_ca);
    tcert_free(&leaf);
    fx_free(&f);
}

TEST(test_append_then_replace_rotation)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    struct tcert root_b, leaf_b;
    const struct cr_client_ca *ca;
    uint64_t created;
    int64_t now = (int64_t)time(NULL);

    fx_init(&f);
    root_b = tcert_make(&(struct tcert_opts){
        .cn = "Partner Root CA 2", .ca = true, .not_after = now + 3650 * DAY});
    leaf_b = tcert_make(&(struct tcert_opts){.cn = "bob-2", .issuer = &root_b});

    CHECK_INT(tca_put(f.st, &f.admin, "rot", (const struct tcert *[]){&f.root},
                      1, CR_CLEARANCE_VALID_USER, rw_perms, 1,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_OK);
    created = cr_state_client_ca_find(f.st, "rot")->added_index;
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_OK);
    CHECK_INT(auth(&f, &leaf_b, &id, &err), CR_EFORBIDDEN);

    /* APPEND the new CA: old and new leaves both work meanwhile. */
    CHECK_INT(tca_put(f.st, &f.admin, "rot", (const struct tcert *[]){&root_b},
                      1, CR_CLEARANCE_VALID_USER, rw_perms, 1,
                      CR_CLIENT_CA_APPEND, &res),
              CR_OK);
    CHECK(has(res.message, "2 certificates"));
    ca = cr_state_client_ca_find(f.st, "rot");
    CHECK_INT(ca->certs.n, 2);
    CHECK_INT(ca->added_index, created);
    CHECK_INT(ca->updated_index, cr_state_applied_index(f.st));
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_OK);
    CHECK_INT(auth(&f, &leaf_b, &id, &err), CR_OK);
    CHECK_STR(id.name, "bob-2");

    /* REPLACE with the new one only: the old leaf stops. */
    CHECK_INT(tca_put(f.st, &f.admin, "rot", (const struct tcert *[]){&root_b},
                      1, CR_CLEARANCE_OPERATOR, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_OK);
    CHECK_INT(cr_state_client_ca_find(f.st, "rot")->certs.n, 1);
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_EFORBIDDEN);
    CHECK_INT(auth(&f, &leaf_b, &id, &err), CR_OK);
    CHECK_INT(id.clearance, CR_CLEARANCE_OPERATOR); /* PUT sets the rights */

    /* APPEND creates a bundle that does not exist. */
    CHECK_INT(tca_put(f.st, &f.admin, "fresh",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_APPEND,
                      &res),
              CR_OK);
    CHECK_INT(cr_state_client_ca_count(f.st), 2);
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_OK);
    CHECK_STR(id.client_ca->name, "fresh");
    tcert_free(&root_b);
    tcert_free(&leaf_b);
    fx_free(&f);
}

TEST(test_expired_and_forged_leaves)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_command cmd;
    struct cr_apply_result res;
    struct tcert expired, early, forged, forged_no_aki, rogue, by_rogue;
    EVP_PKEY *other = EVP_EC_gen("P-256");
    int64_t now = (int64_t)time(NULL);

    fx_init(&f);
    CHECK_INT(tca_put(f.st, &f.admin, "partners",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, rw_perms, 1,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_OK);
    expired = tcert_make(&(struct tcert_opts){
        .cn = "late", .issuer = &f.root, .not_before = now - 10 * DAY,
        .not_after = now - DAY});
    early = tcert_make(&(struct tcert_opts){
        .cn = "early", .issuer = &f.root, .not_before = now + DAY,
        .not_after = now + 10 * DAY});
    CHECK_INT(auth(&f, &expired, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "expired"));
    CHECK_INT(auth(&f, &early, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "not valid before"));

    /* The CA's name (and key id), someone else's signature. */
    forged = tcert_make(&(struct tcert_opts){.cn = "mallory",
                                              .issuer = &f.root,
                                              .sign_key = other});
    forged_no_aki = tcert_make(&(struct tcert_opts){.cn = "mallory",
                                                     .issuer = &f.root,
                                                     .sign_key = other,
                                                     .no_aki = true});
    CHECK_INT(auth(&f, &forged, &id, &err), CR_EFORBIDDEN);
    CHECK_INT(auth(&f, &forged_no_aki, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "client CA 'partners'"));
    CHECK_INT(doc_as(f.st, &forged, NULL, "rw", &res), CR_EFORBIDDEN);
    /* A look-alike CA (same name, its own key) and what it signs. */
    rogue = tcert_make(&(struct tcert_opts){.cn = "Partner Root CA",
                                             .ca = true});
    by_rogue = tcert_make(&(struct tcert_opts){.cn = "eve", .issuer = &rogue});
    CHECK_INT(auth(&f, &by_rogue, &id, &err), CR_EFORBIDDEN);

    /* apply() judges validity at the command's time. */
    tcmd_init(&cmd, CR_CMD_DOC_PUT, &f.bob);
    tcmd_with_der(&cmd, &f.bob);
    cmd.u.doc.db = (char *)"rw";
    cmd.u.doc.id = (char *)"x";
    cmd.u.doc.json = (char *)"{}";
    cmd.u.doc.json_len = 2;
    cmd.time_ms = (f.bob.not_after + 1) * 1000;
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "expired"));
    cmd.time_ms = tnow_ms();
    CHECK_INT(tapply(f.st, &cmd, &res), CR_OK);

    EVP_PKEY_free(other);
    tcert_free(&expired);
    tcert_free(&early);
    tcert_free(&forged);
    tcert_free(&forged_no_aki);
    tcert_free(&rogue);
    tcert_free(&by_rogue);
    fx_free(&f);
}

TEST(test_step_order_and_self_protection)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    struct tcert carol, bob2, user, user_by_root;

    fx_init(&f);
    CHECK_INT(tca_put(f.st, &f.admin, "admins",
                      (const struct tcert *[]){&f.inter}, 1,
                      CR_CLEARANCE_CLUSTER_ADMIN, NULL, 0,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_OK);
    CHECK_INT(tca_put(f.st, &f.admin, "partners",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_OK);
    carol = tcert_make(&(struct tcert_opts){.cn = "carol",
                                             .issuer = &f.inter});
    /* A ClusterAdmin by CA may manage bundles, not its own away. */
    CHECK_INT(tca_delete(f.st, &carol, true, "admins", &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "connected with"));
    CHECK_INT(tca_put(f.st, &carol, "more", (const struct tcert *[]){&f.root},
                      1, CR_CLEARANCE_VALID_USER, NULL, 0,
                      CR_CLIENT_CA_REPLACE, &res),
              CR_EFORBIDDEN); /* no caller_der: not registered */
    CHECK_INT(tca_delete(f.st, &carol, true, "partners", &res), CR_OK);

    /* Step 3 before step 5: bob registered explicitly wins over the CA. */
    CHECK_INT(tca_put(f.st, &f.admin, "partners",
                      (const struct tcert *[]){&f.root}, 1,
                      CR_CLEARANCE_VALID_USER, NULL, 0, CR_CLIENT_CA_REPLACE,
                      &res),
              CR_OK);
    CHECK_INT(tput1(f.st, &f.admin, &f.bob, "Bob", CR_CLEARANCE_OPERATOR),
              CR_OK);
    CHECK_INT(auth(&f, &f.bob, &id, &err), CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CERTIFICATE);
    CHECK_STR(id.name, "Bob");
    /* Step 4 before step 5: bob renewed by the same CA is implicitly
     * trusted (Operator), not a mere partner (ValidUser). */
    bob2 = tcert_make(&(struct tcert_opts){.cn = "bob", .issuer = &f.root,
                                            .key = f.bob.key});
    CHECK_INT(auth(&f, &bob2, &id, &err), CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_IMPLICIT);
    CHECK_INT(id.clearance, CR_CLEARANCE_OPERATOR);
    /* A registered key whose new issuer differs may still chain to a
     * bundle: step 5 takes it, with the bundle's rights. */
    user = tcert_client(&f.cl, "user", 30);
    CHECK_INT(tput1(f.st, &f.admin, &user, "user", CR_CLEARANCE_OPERATOR),
              CR_OK);
    user_by_root = tcert_make(&(struct tcert_opts){.cn = "user",
                                                    .issuer = &f.root,
                                                    .key = user.key});
    CHECK_INT(auth(&f, &user_by_root, &id, &err), CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CLIENT_CA);
    CHECK_INT(id.clearance, CR_CLEARANCE_VALID_USER);
    /* Step 4 on a disabled entry is final: its key gets nothing from a
     * bundle either (step 3 would refuse the entry itself). */
    {
        struct cr_command cmd;
        tcmd_init(&cmd, CR_CMD_CERT_EDIT, &f.admin);
        memcpy(cmd.u.cert_edit.thumbprint, f.bob.thumb, 65);
        cmd.u.cert_edit.disabled = 1;
        CHECK_INT(tapply(f.st, &cmd, &res), CR_OK);
        CHECK_INT(auth(&f, &bob2, &id, &err), CR_EFORBIDDEN);
        CHECK(has(err.msg, "disabled"));
        CHECK_INT(auth(&f, &f.bob, &id, &err), CR_EFORBIDDEN);
    }
    CHECK_INT(tca_delete(f.st, &f.admin, false, "partners", &res), CR_OK);
    CHECK_INT(auth(&f, &user_by_root, &id, &err), CR_EFORBIDDEN);
    CHECK(has(err.msg, "issuer differs")); /* step 4's reason */
    tcert_free(&carol);
    tcert_free(&bob2);
    tcert_free(&user);
    tcert_free(&user_by_root);
    fx_free(&f);
}

int main(void)
{
    RUN(test_chains_to_a_bundle);
    RUN(test_bundle_members_validated);
    RUN(test_append_then_replace_rotation);
    RUN(test_expired_and_forged_leaves);
    RUN(test_step_order_and_self_protection);
    return HARNESS_DONE();
}
