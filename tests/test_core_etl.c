/*
 * test_core_etl.c - ETL in the core: task definitions (who may, what is
 * valid), the change order of documents and tombstones that a runner
 * reads, progress reports (ClusterNode only, generation-checked,
 * monotonic), lag, and snapshots of all of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/auth.h>
#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

/* cluster cert (ClusterNode), admin, op (Operator), user (ValidUser:
 * ReadWrite on hr), hradmin (ValidUser: Admin on hr); databases hr and
 * other. */
struct fixture {
    struct cr_state *st;
    struct tcert cl, admin, op, user, hradmin;
};

static struct cr_permission user_perms[] = {{(char *)"hr", CR_ACCESS_READ_WRITE}};
static struct cr_permission hradmin_perms[] = {{(char *)"hr", CR_ACCESS_ADMIN}};

static void fx_init(struct fixture *f)
{
    f->st = cr_state_new();
    f->cl = tcert_cluster("cluster");
    f->admin = tcert_client(&f->cl, "admin", 30);
    f->op = tcert_client(&f->cl, "op", 30);
    f->user = tcert_client(&f->cl, "user", 30);
    f->hradmin = tcert_client(&f->cl, "hradmin", 30);
    CHECK_INT(tbootstrap(f->st, &f->cl, &f->admin), CR_OK);
    CHECK_INT(tput1(f->st, &f->admin, &f->op, "op", CR_CLEARANCE_OPERATOR),
              CR_OK);
    CHECK_INT(tput(f->st, &f->admin, (const struct tcert *[]){&f->user}, 1,
                   "user", CR_CLEARANCE_VALID_USER, user_perms, 1, NULL),
              CR_OK);
    CHECK_INT(tput(f->st, &f->admin, (const struct tcert *[]){&f->hradmin}, 1,
                   "hradmin", CR_CLEARANCE_VALID_USER, hradmin_perms, 1,
                   NULL),
              CR_OK);
    CHECK_INT(tdb(f->st, &f->admin, CR_CMD_DB_PUT, "hr"), CR_OK);
    CHECK_INT(tdb(f->st, &f->admin, CR_CMD_DB_PUT, "other"), CR_OK);
}

static void fx_free(struct fixture *f)
{
    cr_state_free(f->st);
    tcert_free(&f->cl);
    tcert_free(&f->admin);
    tcert_free(&f->op);
    tcert_free(&f->user);
    tcert_free(&f->hradmin);
}

static char *urls_default[] = {(char *)"https://127.0.0.1:9001",
                               (char *)"https://127.0.0.1:9002"};

struct etl_def {
    const char *db, *name, *dest, *script;
    char **urls;
    size_t n_urls;
    char **prefixes;
    size_t n_prefixes;
    bool reset;
};

static struct etl_def def(const char *name)
{
    struct etl_def d = {"hr", name, "public", "loadTo(this);", urls_default,
                        2, NULL, 0, false};
    return d;
}

static enum cr_status etl_put(struct cr_state *st, const struct tcert *caller,
                              const struct etl_def *d,
                              struct cr_apply_result *res)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_ETL_PUT, caller);
    cmd.u.etl.db = (char *)d->db;
    cmd.u.etl.name = (char *)d->name;
    cmd.u.etl.urls = d->urls;
    cmd.u.etl.n_urls = d->n_urls;
    cmd.u.etl.dest_db = (char *)d->dest;
    cmd.u.etl.script = (char *)d->script;
    cmd.u.etl.prefixes = d->prefixes;
    cmd.u.etl.n_prefixes = d->n_prefixes;
    cmd.u.etl.reset = d->reset;
    return tapply(st, &cmd, res);
}

static enum cr_status etl_delete(struct cr_state *st,
                                 const struct tcert *caller, const char *db,
                                 const char *name)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_ETL_DELETE, caller);
    cmd.u.etl.db = (char *)db;
    cmd.u.etl.name = (char *)name;
    return tapply(st, &cmd, NULL);
}

static enum cr_status etl_progress(struct cr_state *st,
                                   const struct tcert *caller, const char *db,
                                   const char *name, uint64_t generation,
                                   uint64_t index)
{
    struct cr_command cmd;

    tcmd_init(&cmd, CR_CMD_ETL_PROGRESS, caller);
    cmd.u.etl.db = (char *)db;
    cmd.u.etl.name = (char *)name;
    cmd.u.etl.generation = generation;
    cmd.u.etl.index = index;
    return tapply(st, &cmd, NULL);
}

/* The changes after @after, as "id@index" or "-id@index" for deletions,
 * joined by spaces. */
struct changes_text {
    char buf[4096];
    size_t len;
};

static bool collect(const struct cr_doc_change *c, void *arg)
{
    struct changes_text *t = arg;

    t->len += (size_t)snprintf(t->buf + t->len, sizeof t->buf - t->len,
                               "%s%s%s@%llu", t->len ? " " : "",
                               c->json == NULL ? "-" : "", c->id,
                               (unsigned long long)c->index);
    return true;
}

static const char *changes(const struct cr_state *st, const char *db,
                           uint64_t after, struct changes_text *t)
{
    t->len = 0;
    t->buf[0] = '\0';
    cr_state_changes_foreach(st, db, after, collect, t);
    return t->buf;
}

static uint64_t idx(const struct cr_state *st)
{
    return cr_state_applied_index(st);
}

TEST(test_define_needs_db_admin_and_a_valid_definition)
{
    struct fixture f;
    struct cr_apply_result res;
    struct etl_def d;
    char *http[] = {(char *)"http://127.0.0.1:9001"};
    char *bad_prefix[] = {(char *)"ok/", (char *)""};
    char *big;
    const struct cr_etl_task *t;

    fx_init(&f);
    d = def("to-public");
    CHECK_INT(etl_put(f.st, &f.user, &d, &res), CR_EFORBIDDEN);
    CHECK(strstr(res.message, "hr") != NULL);
    CHECK(cr_state_etl_find(f.st, "hr", "to-public") == NULL);
    CHECK_INT(etl_put(f.st, &f.hradmin, &d, NULL), CR_OK);
    t = cr_state_etl_find(f.st, "hr", "to-public");
    CHECK(t != NULL && t->generation == idx(f.st) && t->progress == 0 &&
          t->n_urls == 2 && strcmp(t->dest_db, "public") == 0);
    /* Admin on hr is not Admin on other. */
    d.db = "other";
    CHECK_INT(etl_put(f.st, &f.hradmin, &d, NULL), CR_EFORBIDDEN);
    CHECK_INT(etl_put(f.st, &f.op, &d, NULL), CR_OK);
    d.db = "missing";
    CHECK_INT(etl_put(f.st, &f.admin, &d, &res), CR_ENOTFOUND);

    d = def("bad");
    d.urls = http;
    d.n_urls = 1;
    CHECK_INT(etl_put(f.st, &f.admin, &d, &res), CR_EINVAL);
    CHECK(strstr(res.message, "https") != NULL);
    d = def("bad");
    d.n_urls = 0;
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    d = def("bad");
    d.dest = "no/slash";
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    d = def("bad");
    d.script = "";
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    big = malloc(CR_ETL_SCRIPT_MAX + 2);
    memset(big, ' ', CR_ETL_SCRIPT_MAX + 1);
    big[CR_ETL_SCRIPT_MAX + 1] = '\0';
    d.script = big;
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    free(big);
    d = def("bad name");
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    d = def("bad");
    d.prefixes = bad_prefix;
    d.n_prefixes = 2;
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_EINVAL);
    CHECK(cr_state_etl_find(f.st, "hr", "bad") == NULL);
    CHECK_INT(cr_state_etl_count(f.st), 2);

    /* Deleting: db Admin too. */
    CHECK_INT(etl_delete(f.st, &f.user, "hr", "to-public"), CR_EFORBIDDEN);
    CHECK_INT(etl_delete(f.st, &f.hradmin, "hr", "nope"), CR_ENOTFOUND);
    CHECK_INT(etl_delete(f.st, &f.hradmin, "hr", "to-public"), CR_OK);
    CHECK(cr_state_etl_find(f.st, "hr", "to-public") == NULL);
    /* Deleting the database takes its tasks. */
    CHECK_INT(tdb(f.st, &f.admin, CR_CMD_DB_DELETE, "other"), CR_OK);
    CHECK_INT(cr_state_etl_count(f.st), 0);
    fx_free(&f);
}

TEST(test_changes_in_index_order_with_tombstones)
{
    struct fixture f;
    struct changes_text t;
    struct etl_def d = def("e");
    uint64_t a, b, c, del_b, a2;

    fx_init(&f);
    /* Without a task a deletion leaves nothing behind. */
    CHECK_INT(tdoc(f.st, &f.user, "hr", "x", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "x", NULL), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 0);
    CHECK_STR(changes(f.st, "hr", 0, &t), "");

    CHECK_INT(tdoc(f.st, &f.user, "hr", "a", "{\"n\":1}"), CR_OK);
    a = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", "{\"n\":2}"), CR_OK);
    b = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "c", "{\"n\":3}"), CR_OK);
    c = idx(f.st);
    CHECK_INT(cr_state_doc_change_index(f.st, "hr", "b"), b);
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", NULL), CR_OK);
    del_b = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a", "{\"n\":10}"), CR_OK);
    a2 = idx(f.st);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 1);
    {
        char want[256];
        snprintf(want, sizeof want, "c@%llu -b@%llu a@%llu",
                 (unsigned long long)c, (unsigned long long)del_b,
                 (unsigned long long)a2);
        CHECK_STR(changes(f.st, "hr", 0, &t), want);
        snprintf(want, sizeof want, "a@%llu", (unsigned long long)a2);
        CHECK_STR(changes(f.st, "hr", del_b, &t), want);
    }
    (void)a;
    /* Writing b again supersedes its tombstone. */
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", "{}"), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 0);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", NULL), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 1);
    /* Deleting the last task lets the tombstones go. */
    CHECK_INT(etl_delete(f.st, &f.admin, "hr", "e"), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 0);
    fx_free(&f);
}

TEST(test_progress_from_cluster_nodes_only_monotonic_and_trims)
{
    struct fixture f;
    struct etl_def d = def("e"), d2 = def("f");
    const struct cr_etl_task *t;
    uint64_t gen, gen2, del1, del2, entries, last;
    int64_t oldest;

    fx_init(&f);
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_OK);
    gen = idx(f.st);
    CHECK_INT(etl_put(f.st, &f.admin, &d2, NULL), CR_OK);
    gen2 = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a", NULL), CR_OK);
    del1 = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "b", NULL), CR_OK);
    del2 = idx(f.st);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 2);

    t = cr_state_etl_find(f.st, "hr", "e");
    cr_state_etl_lag(f.st, t, &entries, &last, &oldest);
    CHECK_INT(entries, 2);
    CHECK_INT(last, del2);
    CHECK(oldest > 0);

    /* Not a cluster node: refused, even the admin. */
    CHECK_INT(etl_progress(f.st, &f.admin, "hr", "e", gen, del1), CR_EFORBIDDEN);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen + 100, del1),
              CR_ECONFLICT);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "nope", gen, del1), CR_ENOTFOUND);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen, idx(f.st) + 1),
              CR_EINVAL);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen, del1), CR_OK);
    t = cr_state_etl_find(f.st, "hr", "e");
    CHECK_INT(t->progress, del1);
    cr_state_etl_lag(f.st, t, &entries, &last, &oldest);
    CHECK_INT(entries, 1);
    /* Task f has not passed them: both tombstones stay. */
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 2);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "f", gen2, del2), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 1);
    /* A late, lower report changes nothing and is not an error. */
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "f", gen2, del1), CR_OK);
    CHECK_INT(cr_state_etl_find(f.st, "hr", "f")->progress, del2);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen, del2), CR_OK);
    CHECK_INT(cr_state_db_tombstone_count(f.st, "hr"), 0);
    cr_state_etl_lag(f.st, cr_state_etl_find(f.st, "hr", "e"), &entries,
                     &last, &oldest);
    CHECK_INT(entries, 0);
    CHECK_INT(oldest, 0);
    /* Progress reports are not audited (one per batch). */
    CHECK(strcmp(cr_state_audit_get(f.st, cr_state_audit_count(f.st) - 1)
                     ->operation,
                 "EtlProgress") != 0);
    fx_free(&f);
}

TEST(test_update_keeps_progress_reset_restarts_prefixes_filter)
{
    struct fixture f;
    struct etl_def d = def("e");
    char *prefixes[] = {(char *)"emp/", (char *)"dept/", (char *)"emp/"};
    const struct cr_etl_task *t;
    uint64_t gen, p, entries, last;
    int64_t oldest;

    fx_init(&f);
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_OK);
    gen = idx(f.st);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "emp/1", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "misc/1", "{}"), CR_OK);
    p = idx(f.st);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen, p), CR_OK);
    d.prefixes = prefixes;
    d.n_prefixes = 3;
    d.script = "if (this.Public) loadTo(this);";
    CHECK_INT(etl_put(f.st, &f.hradmin, &d, NULL), CR_OK);
    t = cr_state_etl_find(f.st, "hr", "e");
    CHECK_INT(t->progress, p);
    CHECK_INT(t->generation, idx(f.st));
    CHECK_INT(t->created_index, gen);
    CHECK_INT(t->n_prefixes, 2); /* sorted, duplicates dropped */
    CHECK_STR(t->prefixes[0], "dept/");
    CHECK(cr_etl_task_reads(t, "emp/7") && !cr_etl_task_reads(t, "misc/1"));
    /* The old generation's reports are refused now. */
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", gen, p), CR_ECONFLICT);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "misc/2", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "dept/1", "{}"), CR_OK);
    cr_state_etl_lag(f.st, t, &entries, &last, &oldest);
    CHECK_INT(entries, 1); /* misc/2 is not read */
    d.reset = true;
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_OK);
    t = cr_state_etl_find(f.st, "hr", "e");
    CHECK_INT(t->progress, 0);
    cr_state_etl_lag(f.st, t, &entries, &last, &oldest);
    CHECK_INT(entries, 2); /* emp/1, dept/1 */
    fx_free(&f);
}

TEST(test_snapshot_keeps_changes_tombstones_and_tasks)
{
    struct fixture f;
    struct etl_def d = def("e");
    char *prefixes[] = {(char *)"a"};
    struct cr_state *b = cr_state_new(), *replay;
    struct cr_buf snap;
    struct cr_error err;
    struct changes_text t1, t2;

    fx_init(&f);
    d.prefixes = prefixes;
    d.n_prefixes = 1;
    CHECK_INT(etl_put(f.st, &f.admin, &d, NULL), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a1", "{\"x\":1}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a2", "{\"x\":2}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a1", NULL), CR_OK);
    CHECK_INT(etl_progress(f.st, &f.cl, "hr", "e", idx(f.st) - 3,
                           idx(f.st) - 1),
              CR_OK);
    snap = tsnap(f.st);
    CHECK_INT(cr_state_restore(b, snap.data, snap.len, &err), CR_OK);
    CHECK(cr_state_equal(f.st, b));
    CHECK_STR(changes(b, "hr", 0, &t1), changes(f.st, "hr", 0, &t2));
    CHECK_INT(cr_state_db_tombstone_count(b, "hr"), 1);
    CHECK_INT(cr_state_etl_find(b, "hr", "e")->progress,
              cr_state_etl_find(f.st, "hr", "e")->progress);
    /* The restored state goes on exactly like the original. */
    CHECK_INT(tdoc(b, &f.user, "hr", "a3", "{}"), CR_OK);
    CHECK_INT(tdoc(f.st, &f.user, "hr", "a3", "{}"), CR_OK);
    CHECK(cr_state_equal(f.st, b));
    /* A changed progress is a different state. */
    replay = cr_state_new();
    CHECK_INT(cr_state_restore(replay, snap.data, snap.len, &err), CR_OK);
    CHECK_INT(tdoc(replay, &f.user, "hr", "a3", "{}"), CR_OK);
    CHECK(cr_state_equal(replay, b));
    CHECK_INT(etl_delete(replay, &f.admin, "hr", "e"), CR_OK);
    CHECK_INT(etl_delete(b, &f.admin, "hr", "e"), CR_OK);
    CHECK(cr_state_equal(replay, b));
    CHECK_INT(cr_state_db_tombstone_count(b, "hr"), 0);
    cr_buf_free(&snap);
    cr_state_free(replay);
    cr_state_free(b);
    fx_free(&f);
}

/* A mixed workload of puts, updates and deletes under a task restores
 * to an equal state. */
TEST(test_mixed_workload_restores_equal)
{
    struct fixture f, g;
    struct etl_def d = def("e");

    fx_init(&f);
    fx_init(&g);
    for (int round = 0; round < 2; round++) {
        struct cr_state *st = round == 0 ? f.st : g.st;
        struct fixture *x = round == 0 ? &f : &g;
        CHECK_INT(etl_put(st, &x->admin, &d, NULL), CR_OK);
        for (int i = 0; i < 50; i++) {
            char id[16], json[32];
            snprintf(id, sizeof id, "doc/%d", i % 7);
            snprintf(json, sizeof json, "{\"i\":%d}", i);
            enum cr_status want =
                i % 5 == 4 && cr_state_doc_get(st, "hr", id, NULL) == NULL
                    ? CR_ENOTFOUND
                    : CR_OK;
            CHECK_INT(tdoc(st, &x->user, "hr", id, i % 5 == 4 ? NULL : json),
                      want);
        }
        {
            struct cr_buf s = tsnap(st);
            struct cr_state *c = cr_state_new();
            CHECK_INT(cr_state_restore(c, s.data, s.len, NULL), CR_OK);
            CHECK(cr_state_equal(st, c));
            cr_state_free(c);
            cr_buf_free(&s);
        }
    }
    fx_free(&f);
    fx_free(&g);
}

int main(void)
{
    RUN(test_define_needs_db_admin_and_a_valid_definition);
    RUN(test_changes_in_index_order_with_tombstones);
    RUN(test_progress_from_cluster_nodes_only_monotonic_and_trims);
    RUN(test_update_keeps_progress_reset_restarts_prefixes_filter);
    RUN(test_snapshot_keeps_changes_tombstones_and_tasks);
    RUN(test_mixed_workload_restores_equal);
    return HARNESS_DONE();
}
