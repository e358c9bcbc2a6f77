/*
 * test_core_rotation.c - replacing the cluster certificate through the
 * log (RavenDB's flow): install, confirmations, the switch rule, switched
 * reports, cleanup; conflicts, permissions, protection of both
 * certificates meanwhile, and snapshots taken half-way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/auth.h>
#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

#define DAY 86400LL

static unsigned char sealed[] = "sealed:AES-GCM(new key)";

struct fixture {
    struct cr_state *st;
    struct tcert cl, admin, op, cl2;
};

static void fx_init(struct fixture *f)
{
    f->st = cr_state_new();
    f->cl = tcert_cluster("cluster");
    f->admin = tcert_client(&f->cl, "admin", 30);
    f->op = tcert_client(&f->cl, "op", 30);
    f->cl2 = tcert_cluster("cluster"); /* same name, new key */
    CHECK_INT(tbootstrap(f->st, &f->cl, &f->admin), CR_OK);
    CHECK_INT(tput1(f->st, &f->admin, &f->op, "op", CR_CLEARANCE_OPERATOR),
              CR_OK);
}

static void fx_free(struct fixture *f)
{
    cr_state_free(f->st);
    tcert_free(&f->cl);
    tcert_free(&f->admin);
    tcert_free(&f->op);
    tcert_free(&f->cl2);
}

static bool has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fprintf(stderr, "  \"%s\" lacks \"%s\"\n", hay, needle);
        return false;
    }
    return true;
}

static const struct cr_audit_record *last_audit(const struct cr_state *st)
{
    return cr_state_audit_get(st, cr_state_audit_count(st) - 1);
}

static enum cr_status tinstall(struct cr_state *st, const struct tcert *caller,
                               const struct tcert *cert,
                               const struct tcert *chain, bool switch_now,
                               struct cr_apply_result *res)
{
    struct cr_command cmd;
    struct cr_der ch;

    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_INSTALL, caller);
    cmd.u.cluster_install.cert.der = cert->der;
    cmd.u.cluster_install.cert.len = cert->len;
    cmd.u.cluster_install.sealed_key.der = sealed;
    cmd.u.cluster_install.sealed_key.len = sizeof sealed;
    cmd.u.cluster_install.switch_now = switch_now;
    if (chain != NULL) {
        ch.der = chain->der;
        ch.len = chain->len;
        cmd.u.cluster_install.chain.items = &ch;
        cmd.u.cluster_install.chain.n = 1;
    }
    return tapply(st, &cmd, res);
}

static enum cr_status treport(struct cr_state *st, const struct tcert *caller,
                              enum cr_command_type type, uint64_t node,
                              struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, type, caller);
    cmd.u.cluster_node.node_id = node;
    return tapply(st, &cmd, res);
}

static enum cr_status tcleanup(struct cr_state *st, const struct tcert *caller,
                               uint64_t *voters, size_t n,
                               struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_CLEANUP, caller);
    cmd.u.cluster_cleanup.voters = voters;
    cmd.u.cluster_cleanup.n_voters = n;
    return tapply(st, &cmd, res);
}

TEST(test_install)
{
    struct fixture f;
    struct cr_apply_result res;
    const struct cr_replacement *r;
    const struct cr_cert_entry *e;
    struct tcert cl3, other, expired;
    int64_t now = (int64_t)time(NULL);

    fx_init(&f);
    r = cr_state_replacement(f.st);
    CHECK(r != NULL && r->phase == CR_REPLACEMENT_NONE);
    CHECK_STR(cr_replacement_phase_name(r->phase), "None");

    CHECK_INT(tinstall(f.st, &f.op, &f.cl2, NULL, false, &res),
              CR_EFORBIDDEN);
    CHECK(has(res.message, "ClusterAdmin"));
    expired = tcert_make(&(struct tcert_opts){
        .cn = "cluster", .ca = true, .not_before = now - 10 * DAY,
        .not_after = now - DAY});
    CHECK_INT(tinstall(f.st, &f.admin, &expired, NULL, false, &res),
              CR_EINVAL);
    CHECK(has(res.message, "expired"));
    CHECK_INT(tinstall(f.st, &f.admin, &f.cl, NULL, false, &res),
              CR_ECONFLICT);
    CHECK(has(res.message, "already"));
    CHECK_INT(tinstall(f.st, &f.admin, &f.op, NULL, false, &res),
              CR_ECONFLICT);
    CHECK(has(res.message, "registered already"));

    other = tcert_cluster("chain-ca");
    CHECK_INT(tinstall(f.st, &f.admin, &f.cl2, &other, false, &res), CR_OK);
    CHECK_STR(last_audit(f.st)->operation, "ClusterCertInstall");
    CHECK_STR(last_audit(f.st)->target, f.cl2.thumb);
    e = cr_state_cert_find(f.st, f.cl2.thumb);
    CHECK(e != NULL);
    CHECK_STR(e->name, "Cluster Node Certificate (replacement)");
    CHECK_INT(e->clearance, CR_CLEARANCE_CLUSTER_NODE);
    /* Old and new are trusted together; the old is still "the" one. */
    CHECK(cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(cr_state_is_cluster_node(f.st, f.cl2.thumb));
    CHECK_INT(cr_state_cluster_cert_count(f.st), 1);
    CHECK_STR(cr_state_cluster_cert(f.st, 0)->thumbprint, f.cl.thumb);
    r = cr_state_replacement(f.st);
    CHECK_INT(r->phase, CR_REPLACEMENT_INSTALLED);
    CHECK_STR(r->new_thumbprint, f.cl2.thumb);
    CHECK_STR(r->old_thumbprint, f.cl.thumb);
    CHECK_INT(r->sealed_key.len, sizeof sealed);
    CHECK(memcmp(r->sealed_key.der, sealed, sizeof sealed) == 0);
    CHECK_INT(r->chain.n, 1);
    CHECK(r->chain.items[0].len == other.len &&
          memcmp(r->chain.items[0].der, other.der, other.len) == 0);
    CHECK_INT(r->n_confirmed, 0);
    CHECK_INT(r->n_switched, 0);
    CHECK(!r->switch_now);
    CHECK_INT(r->started_index, cr_state_applied_index(f.st));
    CHECK(r->started_ms > 0);
    CHECK_INT(r->new_not_after, f.cl2.not_after);
    CHECK_INT(r->old_not_after, f.cl.not_after);

    /* One at a time. */
    cl3 = tcert_cluster("cluster");
    CHECK_INT(tinstall(f.st, &f.admin, &cl3, NULL, true, &res), CR_ECONFLICT);
    CHECK(has(res.message, "in progress"));
    CHECK(has(res.message, f.cl2.thumb));
    CHECK(cr_state_cert_find(f.st, cl3.thumb) == NULL);

    /* Both certificates are protected meanwhile. */
    CHECK_INT(tdelete(f.st, &f.admin, f.cl2.thumb, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "cluster certificate"));
    {
        struct cr_command cmd;
        tcmd_init(&cmd, CR_CMD_CERT_EDIT, &f.admin);
        memcpy(cmd.u.cert_edit.thumbprint, f.cl2.thumb, 65);
        cmd.u.cert_edit.disabled = 1;
        CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
        struct tcert admin2 = tcert_client(&f.cl, "admin2", 800);
        CHECK_INT(tput1(f.st, &f.admin, &admin2, "admin2",
                        CR_CLEARANCE_CLUSTER_ADMIN),
                  CR_OK);
        tcmd_init(&cmd, CR_CMD_CERT_PURGE, &admin2);
        cmd.time_ms = (f.cl2.not_after + 10) * 1000; /* both expired */
        CHECK_INT(tapply(f.st, &cmd, &res), CR_OK);
        CHECK(cr_state_cert_find(f.st, f.admin.thumb) == NULL);
        tcert_free(&admin2);
    }
    CHECK(cr_state_cert_find(f.st, f.cl2.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, f.cl.thumb) != NULL);
    tcert_free(&cl3);
    tcert_free(&other);
    tcert_free(&expired);
    fx_free(&f);
}

TEST(test_confirm_switch_cleanup)
{
    struct fixture f;
    struct cr_apply_result res;
    const struct cr_replacement *r;
    uint64_t voters[] = {1, 2, 3};
    struct cr_identity id;
    struct cr_error err;
    struct tcert cl3;

    fx_init(&f);
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_ECONFLICT);
    CHECK(has(res.message, "no cluster certificate replacement"));
    CHECK_INT(tinstall(f.st, &f.admin, &f.cl2, NULL, false, &res), CR_OK);
    r = cr_state_replacement(f.st);

    /* Only cluster nodes report. */
    CHECK_INT(treport(f.st, &f.admin, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_EFORBIDDEN);
    CHECK(has(res.message, "cluster node"));
    CHECK_INT(treport(f.st, &f.op, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_EFORBIDDEN);
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_CONFIRM, 0, &res),
              CR_EINVAL);

    /* Confirmations, from the old certificate or the new one. */
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_CONFIRM, 2, &res),
              CR_OK);
    CHECK_INT(r->phase, CR_REPLACEMENT_CONFIRMING);
    CHECK_STR(cr_replacement_phase_name(r->phase), "Confirming");
    CHECK_STR(last_audit(f.st)->operation, "ClusterCertConfirm");
    CHECK_STR(last_audit(f.st)->target, "node 2");
    CHECK_INT(cr_auth_authenticate(f.st, f.cl2.der, f.cl2.len, tnow_ms(), &id,
                                   &err),
              CR_OK);
    CHECK_INT(id.clearance, CR_CLEARANCE_CLUSTER_NODE);
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_OK);
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_OK); /* idempotent */
    CHECK_INT(r->n_confirmed, 2);
    CHECK_INT(r->confirmed[0], 1);
    CHECK_INT(r->confirmed[1], 2);
    CHECK(!cr_replacement_should_switch(r, voters, 3, tnow_ms(),
                                        f.cl.not_after));
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_CONFIRM, 3, &res),
              CR_OK);
    CHECK(cr_replacement_should_switch(r, voters, 3, tnow_ms(),
                                       f.cl.not_after));

    /* Cleanup waits for a switch, then for every voter. */
    CHECK_INT(tcleanup(f.st, &f.admin, voters, 3, &res), CR_ECONFLICT);
    CHECK(has(res.message, "no node serves"));
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_SWITCHED, 1, &res),
              CR_OK);
    CHECK_INT(r->phase, CR_REPLACEMENT_SWITCHING);
    CHECK_INT(r->n_switched, 1);
    CHECK_STR(last_audit(f.st)->operation, "ClusterCertSwitched");
    CHECK_INT(tcleanup(f.st, &f.admin, voters, 3, &res), CR_ECONFLICT);
    CHECK(has(res.message, "node 2 has not switched"));
    CHECK_INT(tcleanup(f.st, &f.op, voters, 3, &res), CR_EFORBIDDEN);
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_SWITCHED, 2, &res),
              CR_OK);
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_SWITCHED, 3, &res),
              CR_OK);
    CHECK_INT(r->n_switched, 3);
    CHECK(cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(cr_state_is_cluster_node(f.st, f.cl2.thumb));

    /* The new certificate becomes the cluster's; the old one goes. */
    CHECK_INT(tcleanup(f.st, &f.cl2, voters, 3, &res), CR_OK);
    CHECK_STR(last_audit(f.st)->operation, "ClusterCertCleanup");
    CHECK_STR(last_audit(f.st)->target, f.cl2.thumb);
    CHECK_INT(r->phase, CR_REPLACEMENT_DONE);
    CHECK(r->finished_ms > 0);
    CHECK_STR(r->new_thumbprint, f.cl2.thumb);
    CHECK_INT(cr_state_cluster_cert_count(f.st), 1);
    CHECK_STR(cr_state_cluster_cert(f.st, 0)->thumbprint, f.cl2.thumb);
    CHECK_STR(cr_state_cluster_cert(f.st, 0)->name,
              "Cluster Node Certificate");
    CHECK(cr_state_cert_find(f.st, f.cl.thumb) == NULL);
    CHECK(!cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(cr_state_is_cluster_node(f.st, f.cl2.thumb));
    CHECK(cr_state_bootstrapped(f.st));
    CHECK(!cr_replacement_should_switch(r, voters, 3, tnow_ms(),
                                        f.cl.not_after));
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_CONFIRM, 1, &res),
              CR_ECONFLICT);
    CHECK_INT(tcleanup(f.st, &f.admin, NULL, 0, &res), CR_ECONFLICT);
    /* The old certificate can do nothing any more. */
    CHECK_INT(tdb(f.st, &f.cl, CR_CMD_DB_PUT, "x"), CR_EFORBIDDEN);
    CHECK_INT(tdb(f.st, &f.cl2, CR_CMD_DB_PUT, "x"), CR_OK);

    /* The next replacement may start; it replaces cl2. */
    cl3 = tcert_cluster("cluster");
    CHECK_INT(tinstall(f.st, &f.admin, &cl3, NULL, true, &res), CR_OK);
    CHECK_INT(r->phase, CR_REPLACEMENT_INSTALLED);
    CHECK_STR(r->old_thumbprint, f.cl2.thumb);
    CHECK(cr_replacement_should_switch(r, voters, 3, tnow_ms(),
                                       f.cl2.not_after)); /* switch_now */
    /* Without voters, cleanup only needs a switched node. */
    CHECK_INT(treport(f.st, &cl3, CR_CMD_CLUSTER_CERT_SWITCHED, 1, &res),
              CR_OK);
    CHECK_INT(tcleanup(f.st, &f.admin, NULL, 0, &res), CR_OK);
    CHECK_STR(cr_state_cluster_cert(f.st, 0)->thumbprint, cl3.thumb);
    CHECK(cr_state_cert_find(f.st, f.cl2.thumb) == NULL);
    tcert_free(&cl3);
    fx_free(&f);
}

TEST(test_should_switch_rule)
{
    struct cr_replacement r;
    uint64_t voters[] = {1, 2, 3}, confirmed[] = {1, 2, 3}, some[] = {1, 3},
             one = 2;
    int64_t now_ms = 1700000000000LL, now = now_ms / 1000;
    int64_t far = now + 30 * DAY;

    memset(&r, 0, sizeof r);
    CHECK(!cr_replacement_should_switch(NULL, voters, 3, now_ms, far));
    CHECK(!cr_replacement_should_switch(&r, voters, 3, now_ms, now)); /* NONE */
    r.phase = CR_REPLACEMENT_INSTALLED;
    CHECK(!cr_replacement_should_switch(&r, voters, 3, now_ms, far));
    /* Some confirmed: not yet. */
    r.phase = CR_REPLACEMENT_CONFIRMING;
    r.confirmed = some;
    r.n_confirmed = 2;
    CHECK(!cr_replacement_should_switch(&r, voters, 3, now_ms, far));
    CHECK(cr_replacement_should_switch(&r, some, 2, now_ms, far));
    /* All voters confirmed (extra confirmations do not matter). */
    r.confirmed = confirmed;
    r.n_confirmed = 3;
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, far));
    CHECK(cr_replacement_should_switch(&r, &one, 1, now_ms, far));
    /* An unknown configuration never counts as "all confirmed". */
    CHECK(!cr_replacement_should_switch(&r, NULL, 0, now_ms, far));
    /* The old certificate has 3 days or less left. */
    r.n_confirmed = 0;
    CHECK(!cr_replacement_should_switch(&r, voters, 3, now_ms,
                                        now + 3 * DAY + 1));
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, now + 3 * DAY));
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, now - 1));
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, INT64_MIN));
    CHECK(!cr_replacement_should_switch(&r, voters, 3, INT64_MIN, INT64_MAX));
    /* At once when asked. */
    r.switch_now = true;
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, far));
    /* Once a node switched, the others follow. */
    r.switch_now = false;
    r.phase = CR_REPLACEMENT_SWITCHING;
    r.switched = &one;
    r.n_switched = 1;
    CHECK(cr_replacement_should_switch(&r, voters, 3, now_ms, far));
    r.phase = CR_REPLACEMENT_DONE;
    CHECK(!cr_replacement_should_switch(&r, voters, 3, now_ms, now));
    CHECK_STR(cr_replacement_phase_name(CR_REPLACEMENT_SWITCHING),
              "Switching");
    CHECK_STR(cr_replacement_phase_name((enum cr_replacement_phase)42),
              "Unknown");
}

TEST(test_snapshot_half_way)
{
    struct fixture f;
    struct cr_state *b = cr_state_new();
    struct cr_buf s1, s2;
    struct cr_error err;
    const struct cr_replacement *r;

    fx_init(&f);
    CHECK_INT(tinstall(f.st, &f.admin, &f.cl2, &f.cl, false, NULL), CR_OK);
    CHECK_INT(treport(f.st, &f.cl, CR_CMD_CLUSTER_CERT_CONFIRM, 1, NULL),
              CR_OK);
    CHECK_INT(treport(f.st, &f.cl2, CR_CMD_CLUSTER_CERT_SWITCHED, 2, NULL),
              CR_OK);
    s1 = tsnap(f.st);
    CHECK_INT(cr_state_restore(b, s1.data, s1.len, &err), CR_OK);
    CHECK(cr_state_equal(f.st, b));
    s2 = tsnap(b);
    CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
    r = cr_state_replacement(b);
    CHECK_INT(r->phase, CR_REPLACEMENT_SWITCHING);
    CHECK_INT(r->n_confirmed, 2);
    CHECK_INT(r->n_switched, 1);
    CHECK_INT(r->chain.n, 1);
    CHECK(cr_state_is_cluster_node(b, f.cl.thumb));
    CHECK(cr_state_is_cluster_node(b, f.cl2.thumb));
    /* The restored replica goes on alike. */
    {
        uint64_t v[] = {2};
        struct cr_command cmd;
        tcmd_init(&cmd, CR_CMD_CLUSTER_CERT_CLEANUP, &f.admin);
        cmd.u.cluster_cleanup.voters = v;
        cmd.u.cluster_cleanup.n_voters = 1;
        CHECK_INT(tapply(f.st, &cmd, NULL), CR_OK);
        CHECK(!cr_state_equal(f.st, b));
        CHECK_INT(tapply(b, &cmd, NULL), CR_OK);
        CHECK(cr_state_equal(f.st, b));
    }
    cr_buf_free(&s1);
    cr_buf_free(&s2);
    cr_state_free(b);
    fx_free(&f);
}

int main(void)
{
    RUN(test_install);
    RUN(test_confirm_switch_cleanup);
    RUN(test_should_switch_rule);
    RUN(test_snapshot_half_way);
    return HARNESS_DONE();
}
