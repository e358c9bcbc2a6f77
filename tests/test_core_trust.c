/*
 * test_core_trust.c - implicit trust by public key pinning hash (RavenDB's
 * renewal rule, authentication step 4), the pin index behind it, callers
 * that act before their registration, and purging expired certificates.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/auth.h>
#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

#define DAY 86400LL

/* cluster cert, admin (ClusterAdmin), op (Operator), user (ValidUser:
 * ReadWrite on "rw", Read on "ro"); all client certs valid 30 days. */
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
    CHECK_INT(tdb(f->st, &f->op, CR_CMD_DB_PUT, "rw"), CR_OK);
    CHECK_INT(tdb(f->st, &f->op, CR_CMD_DB_PUT, "ro"), CR_OK);
}

static void fx_free(struct fixture *f)
{
    cr_state_free(f->st);
    tcert_free(&f->cl);
    tcert_free(&f->admin);
    tcert_free(&f->op);
    tcert_free(&f->user);
}

static const struct cr_audit_record *last_audit(const struct cr_state *st)
{
    size_t n = cr_state_audit_count(st);

    return n > 0 ? cr_state_audit_get(st, n - 1) : NULL;
}

static bool has(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fprintf(stderr, "  \"%s\" lacks \"%s\"\n", hay, needle);
        return false;
    }
    return true;
}

static enum cr_status tdisable(struct cr_state *st, const struct tcert *caller,
                               const char *thumb, int disabled)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CERT_EDIT, caller);
    memcpy(cmd.u.cert_edit.thumbprint, thumb, CR_THUMBPRINT_LEN + 1);
    cmd.u.cert_edit.disabled = disabled;
    return tapply(st, &cmd, NULL);
}

static size_t pin_count(const struct cr_state *st, const struct tcert *c)
{
    const struct cr_cert_entry *e = cr_state_cert_find(st, c->thumb);

    return e != NULL ? cr_state_cert_by_pin(st, e->pin, NULL, 0) : 0;
}

TEST(test_pin_index)
{
    struct fixture f;
    const struct cr_cert_entry *out[4], *ue;
    struct tcert r;
    char pin[CR_PIN_LEN + 1];

    fx_init(&f);
    ue = cr_state_cert_find(f.st, f.user.thumb);
    memcpy(pin, ue->pin, sizeof pin);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, 4), 1);
    CHECK(out[0] == ue);
    CHECK_INT(cr_state_cert_by_pin(f.st, "nope", out, 4), 0);
    CHECK_INT(cr_state_cert_by_pin(f.st, "", out, 4), 0);

    r = tcert_renew(&f.user, &f.cl, "user", 60);
    CHECK_INT(timplicit(f.st, &r, NULL), CR_OK);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, 4), 2);
    /* Thumbprint order, whatever the insertion order. */
    CHECK(strcmp(out[0]->thumbprint, out[1]->thumbprint) < 0);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, 1), 2);
    CHECK_INT(tdelete(f.st, &f.admin, f.user.thumb, NULL), CR_OK);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, 4), 1);
    CHECK_STR(out[0]->thumbprint, r.thumb);
    CHECK_INT(tdelete(f.st, &f.admin, r.thumb, NULL), CR_OK);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, 4), 0);
    tcert_free(&r);
    fx_free(&f);
}

/* Hundreds of keys (the hash expands) and six entries sharing one key,
 * removed head first, tail first and from the middle. */
TEST(test_pin_index_many)
{
    struct fixture f;
    enum { N = 400, SAME = 6 };
    struct tcert *many = calloc(N, sizeof *many), same[SAME];
    const struct cr_cert_entry *out[SAME];
    char pin[CR_PIN_LEN + 1], name[16];
    static const int order[SAME] = {0, 5, 2, 1, 4, 3};
    size_t i;

    fx_init(&f);
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof name, "m%zu", i);
        many[i] = tcert_client(&f.cl, name, 30);
        CHECK_INT(tput1(f.st, &f.admin, &many[i], name,
                        CR_CLEARANCE_VALID_USER),
                  CR_OK);
    }
    /* Explicit uploads are not capped: six entries with one key. */
    for (i = 0; i < SAME; i++) {
        snprintf(name, sizeof name, "s%zu", i);
        same[i] = tcert_renew(&f.user, &f.cl, name, 30 + (int)i);
        CHECK_INT(tput1(f.st, &f.admin, &same[i], name,
                        CR_CLEARANCE_VALID_USER),
                  CR_OK);
    }
    memcpy(pin, cr_state_cert_find(f.st, f.user.thumb)->pin, sizeof pin);
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, SAME), SAME + 1);
    for (i = 0; i < N; i++) {
        const struct cr_cert_entry *e = cr_state_cert_find(f.st, many[i].thumb);
        CHECK_INT(cr_state_cert_by_pin(f.st, e->pin, out, 1), 1);
        CHECK(out[0] == e);
    }
    /* The original user entry was inserted first (the hashed one). */
    CHECK_INT(tdelete(f.st, &f.admin, f.user.thumb, NULL), CR_OK);
    for (i = 0; i < SAME; i++) {
        size_t left = SAME - i, k;
        CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, SAME), left);
        for (k = 0; k < left; k++) {
            CHECK(out[k] != NULL && strcmp(out[k]->pin, pin) == 0);
        }
        CHECK_INT(tdelete(f.st, &f.admin, same[order[i]].thumb, NULL), CR_OK);
    }
    CHECK_INT(cr_state_cert_by_pin(f.st, pin, out, SAME), 0);
    /* Half of the others go; the rest are still found; a snapshot
     * restore rebuilds the same index. */
    for (i = 0; i < N; i += 2) {
        CHECK_INT(tdelete(f.st, &f.admin, many[i].thumb, NULL), CR_OK);
    }
    {
        struct cr_state *b = cr_state_new();
        struct cr_buf snap = tsnap(f.st);
        CHECK_INT(cr_state_restore(b, snap.data, snap.len, NULL), CR_OK);
        for (i = 1; i < N; i += 2) {
            const struct cr_cert_entry *e =
                cr_state_cert_find(b, many[i].thumb);
            CHECK(e != NULL && cr_state_cert_by_pin(b, e->pin, NULL, 0) == 1);
            CHECK_INT(cr_state_cert_by_pin(f.st, e->pin, NULL, 0), 1);
        }
        cr_buf_free(&snap);
        cr_state_free(b);
    }
    for (i = 0; i < N; i++) {
        tcert_free(&many[i]);
    }
    for (i = 0; i < SAME; i++) {
        tcert_free(&same[i]);
    }
    free(many);
    fx_free(&f);
}

TEST(test_renewal_registered_once)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    const struct cr_cert_entry *e;
    const struct cr_audit_record *a;
    struct tcert r;
    size_t count;

    fx_init(&f);
    r = tcert_renew(&f.user, &f.cl, "user-renewed", 60);
    CHECK(cr_state_cert_find(f.st, r.thumb) == NULL);

    /* Any node lets it in with the registered entry's rights. */
    CHECK_INT(cr_auth_authenticate(f.st, r.der, r.len, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_IMPLICIT);
    CHECK_STR(id.thumbprint, r.thumb);
    CHECK_STR(id.matched_thumbprint, f.user.thumb);
    CHECK(id.needs_registration);
    CHECK(id.entry == cr_state_cert_find(f.st, f.user.thumb));
    CHECK_INT(id.clearance, CR_CLEARANCE_VALID_USER);
    CHECK_STR(id.name, "user");
    CHECK_INT(cr_authz_db_access(&id, "rw"), CR_ACCESS_READ_WRITE);
    CHECK_INT(cr_authz_db_access(&id, "ro"), CR_ACCESS_READ);
    CHECK_INT(cr_authz_db_access(&id, "other"), CR_ACCESS_NONE);
    CHECK_INT(cr_authz_require(&id, CR_CLEARANCE_OPERATOR, "x", &err),
              CR_EFORBIDDEN);

    /* The log registers it with the entry's Name, clearance, perms. */
    count = cr_state_cert_count(f.st);
    CHECK_INT(timplicit(f.st, &r, &res), CR_OK);
    CHECK(has(res.message, "implicit trust"));
    CHECK(has(res.message, f.user.thumb));
    CHECK_INT(cr_state_cert_count(f.st), count + 1);
    e = cr_state_cert_find(f.st, r.thumb);
    CHECK(e != NULL);
    CHECK_STR(e->name, "user");
    CHECK_INT(e->clearance, CR_CLEARANCE_VALID_USER);
    CHECK_INT(e->n_perms, 2);
    CHECK_STR(e->perms[0].database, "ro");
    CHECK_INT(e->perms[1].access, CR_ACCESS_READ_WRITE);
    CHECK_STR(e->primary, "");
    CHECK_INT(e->added_index, cr_state_applied_index(f.st));
    CHECK_INT(e->not_after, r.not_after);
    CHECK(cr_state_cert_find(f.st, f.user.thumb) != NULL); /* both stay */
    a = last_audit(f.st);
    CHECK_STR(a->operation, "CertImplicitTrust");
    CHECK_STR(a->target, r.thumb);
    CHECK_STR(a->caller, r.thumb);
    CHECK_STR(a->caller_name, "user");
    CHECK_INT(a->status, CR_OK);

    /* A second node raced to register it: a no-op success. */
    CHECK_INT(timplicit(f.st, &r, &res), CR_OK);
    CHECK(has(res.message, "already registered"));
    CHECK_INT(cr_state_cert_count(f.st), count + 1);
    CHECK_INT(cr_state_cert_find(f.st, r.thumb)->added_index,
              cr_state_applied_index(f.st) - 1);

    /* From now on it is found by thumbprint. */
    CHECK_INT(cr_auth_authenticate(f.st, r.der, r.len, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_CERTIFICATE);
    CHECK(!id.needs_registration);
    CHECK_INT(tdoc(f.st, &r, "rw", "a", "{}"), CR_OK);
    tcert_free(&r);
    fx_free(&f);
}

TEST(test_implicit_refusals)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    struct tcert other_ca, same_dn_ca, fresh, by_other, by_same_dn, forged,
        forged_aki, expired, early;
    int64_t now = (int64_t)time(NULL);
    size_t count;

    fx_init(&f);
    count = cr_state_cert_count(f.st);

    /* A new key: unknown, whatever its issuer. */
    fresh = tcert_client(&f.cl, "user", 30);
    CHECK_INT(cr_auth_authenticate(f.st, fresh.der, fresh.len, tnow_ms(), &id,
                                   &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "unknown certificate"));
    CHECK(has(err.msg, fresh.thumb));
    CHECK_INT(timplicit(f.st, &fresh, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "unknown certificate"));

    /* The same key, certified by an unrelated CA. */
    other_ca = tcert_cluster("other-ca");
    by_other = tcert_make(&(struct tcert_opts){.cn = "user",
                                                .issuer = &other_ca,
                                                .key = f.user.key});
    CHECK_INT(cr_auth_authenticate(f.st, by_other.der, by_other.len,
                                   tnow_ms(), &id, &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "issuer differs"));
    CHECK(has(err.msg, f.user.thumb));
    CHECK(has(err.msg, by_other.thumb));
    CHECK_INT(timplicit(f.st, &by_other, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "issuer differs"));
    CHECK(has(res.message, f.user.thumb));

    /* A CA with the same name but another key (AKI differs). */
    same_dn_ca = tcert_cluster("cluster");
    by_same_dn = tcert_make(&(struct tcert_opts){.cn = "user",
                                                  .issuer = &same_dn_ca,
                                                  .key = f.user.key});
    CHECK_INT(cr_auth_authenticate(f.st, by_same_dn.der, by_same_dn.len,
                                   tnow_ms(), &id, &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "issuer differs"));

    /* The key holder signing itself a "renewal" in the cluster's name,
     * with no AKI (so names alone would match) or the cluster's AKI: the
     * cluster certificate is known, and it did not sign these. */
    forged = tcert_make(&(struct tcert_opts){.cn = "user",
                                              .issuer = &f.cl,
                                              .key = f.user.key,
                                              .sign_key = f.user.key,
                                              .no_aki = true,
                                              .not_after = now + 3650 * DAY});
    forged_aki = tcert_make(&(struct tcert_opts){.cn = "user",
                                                  .issuer = &f.cl,
                                                  .key = f.user.key,
                                                  .sign_key = f.user.key});
    CHECK_INT(cr_auth_authenticate(f.st, forged.der, forged.len, tnow_ms(),
                                   &id, &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "issuer differs"));
    CHECK_INT(cr_auth_authenticate(f.st, forged_aki.der, forged_aki.len,
                                   tnow_ms(), &id, &err),
              CR_EFORBIDDEN);
    CHECK_INT(timplicit(f.st, &forged, &res), CR_EFORBIDDEN);

    /* Step 2 first: outside its validity. */
    expired = tcert_make(&(struct tcert_opts){.cn = "user",
                                               .issuer = &f.cl,
                                               .key = f.user.key,
                                               .not_before = now - 10 * DAY,
                                               .not_after = now - DAY});
    early = tcert_make(&(struct tcert_opts){.cn = "user",
                                             .issuer = &f.cl,
                                             .key = f.user.key,
                                             .not_before = now + DAY,
                                             .not_after = now + 10 * DAY});
    CHECK_INT(cr_auth_authenticate(f.st, expired.der, expired.len, tnow_ms(),
                                   &id, &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "expired"));
    CHECK_INT(timplicit(f.st, &expired, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "expired"));
    CHECK_INT(cr_auth_authenticate(f.st, early.der, early.len, tnow_ms(), &id,
                                   &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "not valid before"));

    /* A disabled entry lends nothing. */
    {
        struct tcert r = tcert_renew(&f.user, &f.cl, "user", 60);
        CHECK_INT(tdisable(f.st, &f.admin, f.user.thumb, 1), CR_OK);
        CHECK_INT(cr_auth_authenticate(f.st, r.der, r.len, tnow_ms(), &id,
                                       &err),
                  CR_EFORBIDDEN);
        CHECK(has(err.msg, "disabled"));
        CHECK_INT(timplicit(f.st, &r, &res), CR_EFORBIDDEN);
        CHECK_INT(tdisable(f.st, &f.admin, f.user.thumb, 0), CR_OK);
        CHECK_INT(timplicit(f.st, &r, &res), CR_OK);
        tcert_free(&r);
    }
    CHECK_INT(cr_state_cert_count(f.st), count + 1);

    tcert_free(&other_ca);
    tcert_free(&same_dn_ca);
    tcert_free(&fresh);
    tcert_free(&by_other);
    tcert_free(&by_same_dn);
    tcert_free(&forged);
    tcert_free(&forged_aki);
    tcert_free(&expired);
    tcert_free(&early);
    fx_free(&f);
}

TEST(test_sixth_renewal_drops_soonest)
{
    struct fixture f;
    struct cr_apply_result res;
    struct tcert r[5];
    const int days[5] = {40, 50, 60, 70, 5}; /* the last expires soonest */
    const struct cr_audit_record *a;
    size_t i, n;

    fx_init(&f);
    for (i = 0; i < 5; i++) {
        r[i] = tcert_renew(&f.user, &f.cl, "user", days[i]);
    }
    for (i = 0; i < 4; i++) {
        CHECK_INT(timplicit(f.st, &r[i], &res), CR_OK);
    }
    CHECK_INT(pin_count(f.st, &f.user), 5);
    /* The sixth: the one just added expires soonest but stays; the
     * soonest of the others (the original, 30 days) goes. */
    n = cr_state_audit_count(f.st);
    CHECK_INT(timplicit(f.st, &r[4], &res), CR_OK);
    CHECK(has(res.message, "dropped"));
    CHECK(has(res.message, f.user.thumb));
    CHECK(cr_state_cert_find(f.st, f.user.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, r[4].thumb) != NULL);
    CHECK_INT(pin_count(f.st, &r[4]), 5);
    CHECK_INT(cr_state_audit_count(f.st), n + 2);
    a = cr_state_audit_get(f.st, n);
    CHECK_STR(a->operation, "CertImplicitTrustDrop");
    CHECK_STR(a->target, f.user.thumb);
    CHECK_STR(last_audit(f.st)->operation, "CertImplicitTrust");
    /* The renewals keep working; the next one drops r[4] (5 days). */
    {
        struct tcert r6 = tcert_renew(&f.user, &f.cl, "user", 80);
        CHECK_INT(timplicit(f.st, &r6, &res), CR_OK);
        CHECK(cr_state_cert_find(f.st, r[4].thumb) == NULL);
        CHECK(cr_state_cert_find(f.st, r[0].thumb) != NULL);
        CHECK_INT(pin_count(f.st, &r6), 5);
        tcert_free(&r6);
    }
    for (i = 0; i < 5; i++) {
        tcert_free(&r[i]);
    }
    fx_free(&f);
}

TEST(test_cluster_certificate_never_dropped)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct tcert r[5];
    int64_t now = (int64_t)time(NULL);
    size_t i;

    fx_init(&f);
    /* Self-signed renewals of the cluster certificate's key, all
     * outliving it: the cluster certificate expires soonest. */
    for (i = 0; i < 5; i++) {
        r[i] = tcert_make(&(struct tcert_opts){
            .cn = "cluster", .key = f.cl.key, .ca = true,
            .not_after = now + (400 + 100 * (int64_t)i) * DAY});
    }
    CHECK_INT(cr_auth_authenticate(f.st, r[0].der, r[0].len, tnow_ms(), &id,
                                   &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_IMPLICIT);
    CHECK_INT(id.clearance, CR_CLEARANCE_CLUSTER_NODE);
    for (i = 0; i < 5; i++) {
        CHECK_INT(timplicit(f.st, &r[i], NULL), CR_OK);
    }
    CHECK(cr_state_cert_find(f.st, f.cl.thumb) != NULL);
    CHECK(cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(cr_state_cert_find(f.st, r[0].thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, r[4].thumb) != NULL);
    CHECK_INT(pin_count(f.st, &f.cl), 5);
    CHECK_STR(cr_state_cert_find(f.st, r[4].thumb)->name,
              "Cluster Node Certificate");
    for (i = 0; i < 5; i++) {
        tcert_free(&r[i]);
    }
    fx_free(&f);
}

TEST(test_matched_entry_deleted_before_apply)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct cr_apply_result res;
    struct tcert r;

    fx_init(&f);
    r = tcert_renew(&f.user, &f.cl, "user", 60);
    CHECK_INT(cr_auth_authenticate(f.st, r.der, r.len, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_IMPLICIT);
    /* Committed before the node's CERT_IMPLICIT. */
    CHECK_INT(tdelete(f.st, &f.admin, f.user.thumb, NULL), CR_OK);
    CHECK_INT(timplicit(f.st, &r, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "unknown certificate"));
    CHECK(cr_state_cert_find(f.st, r.thumb) == NULL);
    CHECK_STR(last_audit(f.st)->operation, "CertImplicitTrust");
    CHECK_INT(last_audit(f.st)->status, CR_EFORBIDDEN);
    tcert_free(&r);
    fx_free(&f);
}

TEST(test_unregistered_caller_acts_with_its_der)
{
    struct fixture f;
    struct cr_command cmd;
    struct cr_apply_result res;
    struct tcert o2, u2;

    fx_init(&f);
    o2 = tcert_renew(&f.op, &f.cl, "op", 60);
    u2 = tcert_renew(&f.user, &f.cl, "user", 60);

    /* By thumbprint alone it is nobody... */
    tcmd_init(&cmd, CR_CMD_DB_PUT, &o2);
    cmd.u.db.name = (char *)"made-by-renewal";
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "is not registered"));
    /* ...with its certificate it passes step 4 at this index. */
    tcmd_with_der(&cmd, &o2);
    CHECK_INT(tapply(f.st, &cmd, &res), CR_OK);
    CHECK(cr_state_db_exists(f.st, "made-by-renewal"));
    CHECK(cr_state_cert_find(f.st, o2.thumb) == NULL); /* not registered */
    CHECK_STR(last_audit(f.st)->caller, o2.thumb);
    CHECK_STR(last_audit(f.st)->caller_name, "op");

    /* The certificate must be the caller's. */
    tcmd_init(&cmd, CR_CMD_DB_PUT, &o2);
    cmd.u.db.name = (char *)"x";
    cmd.caller_der.der = u2.der;
    cmd.caller_der.len = u2.len;
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EINVAL);
    CHECK(has(res.message, "thumbprint"));

    /* The renewal's predecessor counts as its own certificate. */
    tcmd_init(&cmd, CR_CMD_CERT_DELETE, &o2);
    tcmd_with_der(&cmd, &o2);
    memcpy(cmd.u.cert_delete.thumbprint, f.op.thumb, 65);
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "connected with"));

    /* A ValidUser renewal keeps exactly the user's permissions. */
    tcmd_init(&cmd, CR_CMD_DOC_PUT, &u2);
    tcmd_with_der(&cmd, &u2);
    cmd.u.doc.db = (char *)"rw";
    cmd.u.doc.id = (char *)"d";
    cmd.u.doc.json = (char *)"{}";
    cmd.u.doc.json_len = 2;
    CHECK_INT(tapply(f.st, &cmd, &res), CR_OK);
    cmd.u.doc.db = (char *)"ro";
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "Read access"));

    /* The command's time decides validity, not the node's clock. */
    tcmd_init(&cmd, CR_CMD_DB_PUT, &o2);
    tcmd_with_der(&cmd, &o2);
    cmd.u.db.name = (char *)"late";
    cmd.time_ms = (o2.not_after + 5) * 1000;
    CHECK_INT(tapply(f.st, &cmd, &res), CR_EFORBIDDEN);
    CHECK(has(res.message, "expired"));
    tcert_free(&o2);
    tcert_free(&u2);
    fx_free(&f);
}

TEST(test_self_signed_renewal)
{
    struct fixture f;
    struct cr_identity id;
    struct cr_error err;
    struct tcert s, s2, other;

    fx_init(&f);
    s = tcert_make(&(struct tcert_opts){.cn = "selfie"});
    CHECK_INT(tput1(f.st, &f.admin, &s, "selfie", CR_CLEARANCE_OPERATOR),
              CR_OK);
    /* Self-signed again with the same key, even under another name. */
    s2 = tcert_make(&(struct tcert_opts){.cn = "selfie-2", .key = s.key});
    CHECK_INT(cr_auth_authenticate(f.st, s2.der, s2.len, tnow_ms(), &id, &err),
              CR_OK);
    CHECK_INT(id.kind, CR_IDENTITY_IMPLICIT);
    CHECK_STR(id.name, "selfie");
    CHECK_INT(timplicit(f.st, &s2, NULL), CR_OK);
    /* Same name, another key: unknown. */
    other = tcert_make(&(struct tcert_opts){.cn = "selfie"});
    CHECK_INT(cr_auth_authenticate(f.st, other.der, other.len, tnow_ms(), &id,
                                   &err),
              CR_EFORBIDDEN);
    CHECK(has(err.msg, "unknown certificate"));
    tcert_free(&s);
    tcert_free(&s2);
    tcert_free(&other);
    fx_free(&f);
}

static enum cr_status tpurge(struct cr_state *st, const struct tcert *caller,
                             bool with_der, int64_t at_s,
                             struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_CERT_PURGE, caller);
    if (with_der) {
        tcmd_with_der(&cmd, caller);
    }
    cmd.time_ms = at_s * 1000;
    return tapply(st, &cmd, res);
}

TEST(test_purge)
{
    struct fixture f;
    struct cr_apply_result res;
    struct tcert e1, e2, p, s, q, t, keep, o2, admin2;
    int64_t now = (int64_t)time(NULL);
    const char(*thumbs)[CR_THUMBPRINT_LEN + 1];
    uint64_t index;
    size_t n;

    fx_init(&f);
    e1 = tcert_client(&f.cl, "e1", 10);
    e2 = tcert_client(&f.cl, "e2", 10);
    p = tcert_client(&f.cl, "p", 10);
    s = tcert_client(&f.cl, "s", 100);
    q = tcert_client(&f.cl, "q", 10);
    t = tcert_client(&f.cl, "t", 10);
    keep = tcert_client(&f.cl, "keep", 100);
    CHECK_INT(tput1(f.st, &f.admin, &e1, "e1", CR_CLEARANCE_VALID_USER), CR_OK);
    CHECK_INT(tput1(f.st, &f.admin, &e2, "e2", CR_CLEARANCE_CLUSTER_ADMIN),
              CR_OK);
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&p, &s}, 2, "ps",
                   CR_CLEARANCE_VALID_USER, NULL, 0, NULL),
              CR_OK);
    CHECK_INT(tput(f.st, &f.admin, (const struct tcert *[]){&q, &t}, 2, "qt",
                   CR_CLEARANCE_OPERATOR, NULL, 0, NULL),
              CR_OK);
    CHECK_INT(tput1(f.st, &f.admin, &keep, "keep", CR_CLEARANCE_VALID_USER),
              CR_OK);
    CHECK_INT(cr_state_last_purged(f.st, &index, &thumbs), 0);
    CHECK_INT(index, 0);

    /* ValidUsers do not purge. */
    CHECK_INT(tpurge(f.st, &f.user, false, now + 20 * DAY, &res),
              CR_EFORBIDDEN);
    CHECK(has(res.message, "Operator"));

    /* An Operator 20 days on: e1 and the q/t collection go; e2 is a
     * ClusterAdmin's (skipped, not a failure); p/s has a live member. */
    CHECK_INT(tpurge(f.st, &f.op, false, now + 20 * DAY, &res), CR_OK);
    CHECK(has(res.message, "purged 3"));
    CHECK(has(res.message, "skipped 1"));
    CHECK(cr_state_cert_find(f.st, e1.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, q.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, t.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, e2.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, p.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, s.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, keep.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, f.user.thumb) != NULL);
    n = cr_state_last_purged(f.st, &index, &thumbs);
    CHECK_INT(n, 3);
    CHECK_INT(index, cr_state_applied_index(f.st));
    CHECK(strcmp(thumbs[0], thumbs[1]) < 0 && strcmp(thumbs[1], thumbs[2]) < 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(thumbs[i], e1.thumb) == 0 ||
              strcmp(thumbs[i], q.thumb) == 0 ||
              strcmp(thumbs[i], t.thumb) == 0);
    }
    CHECK_STR(last_audit(f.st)->operation, "CertPurge");
    CHECK_STR(last_audit(f.st)->target, "3 certificates");

    /* A ClusterAdmin removes e2 too. */
    CHECK_INT(tpurge(f.st, &f.admin, false, now + 20 * DAY, &res), CR_OK);
    CHECK(has(res.message, "purged 1"));
    CHECK(cr_state_cert_find(f.st, e2.thumb) == NULL);
    CHECK_INT(cr_state_last_purged(f.st, NULL, &thumbs), 1);
    CHECK_STR(thumbs[0], e2.thumb);

    /* 40 days on, a renewed operator certificate (acting by implicit
     * trust) purges: its own expired predecessor stays, the expired
     * ClusterAdmin is skipped, the expired user goes. */
    o2 = tcert_renew(&f.op, &f.cl, "op", 60);
    CHECK_INT(tpurge(f.st, &o2, true, now + 40 * DAY, &res), CR_OK);
    CHECK(cr_state_cert_find(f.st, f.op.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, f.admin.thumb) != NULL);
    CHECK(cr_state_cert_find(f.st, f.user.thumb) == NULL);
    CHECK(has(res.message, "skipped 1"));

    /* Past the cluster certificate's end (365 days): it stays. */
    admin2 = tcert_client(&f.cl, "admin2", 800);
    CHECK_INT(tput1(f.st, &f.admin, &admin2, "admin2",
                    CR_CLEARANCE_CLUSTER_ADMIN),
              CR_OK);
    CHECK_INT(tpurge(f.st, &admin2, false, now + 400 * DAY, &res), CR_OK);
    CHECK(cr_state_cert_find(f.st, f.cl.thumb) != NULL);
    CHECK(cr_state_is_cluster_node(f.st, f.cl.thumb));
    CHECK(cr_state_cert_find(f.st, f.admin.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, f.op.thumb) == NULL);
    CHECK(cr_state_cert_find(f.st, keep.thumb) == NULL);
    CHECK_INT(cr_state_cert_count(f.st), 2);
    /* Nothing left to purge is fine. */
    CHECK_INT(tpurge(f.st, &admin2, false, now + 400 * DAY, &res), CR_OK);
    CHECK(has(res.message, "purged 0"));
    CHECK_INT(cr_state_last_purged(f.st, &index, NULL), 0);
    CHECK_INT(index, cr_state_applied_index(f.st));

    tcert_free(&e1);
    tcert_free(&e2);
    tcert_free(&p);
    tcert_free(&s);
    tcert_free(&q);
    tcert_free(&t);
    tcert_free(&keep);
    tcert_free(&o2);
    tcert_free(&admin2);
    fx_free(&f);
}

/* Two replicas, one restored from a snapshot (so its pin buckets are in
 * another order), apply the same implicit-trust entries alike. */
TEST(test_implicit_deterministic_across_replicas)
{
    struct fixture f;
    struct cr_state *b = cr_state_new();
    struct tcert r[7];
    struct cr_buf snap;
    size_t i;

    fx_init(&f);
    for (i = 0; i < 3; i++) {
        r[i] = tcert_renew(&f.user, &f.cl, "user", 40 + (int)i);
        CHECK_INT(timplicit(f.st, &r[i], NULL), CR_OK);
    }
    snap = tsnap(f.st);
    CHECK_INT(cr_state_restore(b, snap.data, snap.len, NULL), CR_OK);
    cr_buf_free(&snap);
    for (i = 3; i < 7; i++) {
        struct cr_apply_result ra, rb;
        r[i] = tcert_renew(&f.user, &f.cl, "user", 35 + (int)i);
        timplicit(f.st, &r[i], &ra);
        timplicit(b, &r[i], &rb);
        CHECK_INT(ra.status, rb.status);
        CHECK_STR(ra.message, rb.message);
    }
    CHECK(cr_state_equal(f.st, b));
    for (i = 0; i < 7; i++) {
        tcert_free(&r[i]);
    }
    cr_state_free(b);
    fx_free(&f);
}

int main(void)
{
    RUN(test_pin_index);
    RUN(test_pin_index_many);
    RUN(test_renewal_registered_once);
    RUN(test_implicit_refusals);
    RUN(test_sixth_renewal_drops_soonest);
    RUN(test_cluster_certificate_never_dropped);
    RUN(test_matched_entry_deleted_before_apply);
    RUN(test_unregistered_caller_acts_with_its_der);
    RUN(test_self_signed_renewal);
    RUN(test_purge);
    RUN(test_implicit_deterministic_across_replicas);
    return HARNESS_DONE();
}
