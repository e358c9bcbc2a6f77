/*
 * test_core_expiry.c - the expiry counts /metrics reports
 * (cr_state_cert_expiry_counts, src/expiry_index.c), checked against a
 * visit of every entry: at instants on and around each certificate's not
 * after (the second before, of, after; day boundaries), after deletions,
 * and on a state restored from a snapshot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

#define DAY 86400LL
#define HORIZON (30 * DAY)
#define N_CERTS 12

struct brute {
    int64_t now, limit;
    size_t expired, expiring;
};

static bool brute_visit(const struct cr_cert_entry *e, void *arg)
{
    struct brute *b = arg;

    if (e->not_after < b->now) {
        b->expired++;
    } else if (e->not_after <= b->limit) {
        b->expiring++;
    }
    return true;
}

/* The index agrees with a visit of every entry at @now. */
static void check_at(const struct cr_state *st, int64_t now)
{
    struct brute b = {now, now + HORIZON, 0, 0};
    size_t expired, expiring;

    cr_state_cert_foreach(st, brute_visit, &b);
    cr_state_cert_expiry_counts(st, now, HORIZON, &expired, &expiring);
    if (expired != b.expired || expiring != b.expiring) {
        fprintf(stderr, "  at %lld: index %zu/%zu, visit %zu/%zu\n",
                (long long)now, expired, expiring, b.expired, b.expiring);
    }
    CHECK_INT(expired, b.expired);
    CHECK_INT(expiring, b.expiring);
}

/* Every instant a bound can fall on, for every not after in @st. */
static void check_everywhere(const struct cr_state *st,
                             const struct tcert *certs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t t = certs[i].not_after;
        int64_t day = t - t % DAY;
        const int64_t at[] = {t - 1, t, t + 1, t - HORIZON - 1, t - HORIZON,
                              t - HORIZON + 1, day, day - 1, day + DAY,
                              day - HORIZON, day + DAY - HORIZON - 1};
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
            check_at(st, at[k]);
        }
    }
    check_at(st, 0);
    check_at(st, (int64_t)time(NULL));
    check_at(st, INT64_C(253402300799) - HORIZON); /* 9999-12-31, less 30 days */
}

TEST(test_counts_match_a_visit)
{
    struct cr_state *st = cr_state_new(), *back = cr_state_new();
    struct tcert cl = tcert_cluster("cluster"), admin = tcert_client(&cl, "a", 9);
    struct tcert certs[N_CERTS];
    int64_t base = (int64_t)time(NULL) + 100 * DAY;
    /* Same day, adjacent seconds, a day apart, 30 days apart and more:
     * some days hold several certificates, some one. */
    const int64_t offsets[N_CERTS] = {0,       1,        DAY - 1, DAY,
                                      DAY + 7, 3 * DAY,  HORIZON, HORIZON + 1,
                                      31 * DAY, 200 * DAY, 2,       HORIZON - 1};
    struct cr_buf snap;
    struct cr_error err;
    size_t expired, expiring;

    CHECK_INT(tbootstrap(st, &cl, &admin), CR_OK);
    for (int i = 0; i < N_CERTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        certs[i] = tcert_make(&(struct tcert_opts){
            .cn = name, .issuer = &cl, .not_after = base + offsets[i]});
        CHECK_INT(tput1(st, &admin, &certs[i], name, CR_CLEARANCE_VALID_USER),
                  CR_OK);
    }
    check_everywhere(st, certs, N_CERTS);
    /* The admin and cluster certificates count too: far from base. */
    cr_state_cert_expiry_counts(st, base + 300 * DAY, HORIZON, &expired,
                                &expiring);
    CHECK_INT(expired, cr_state_cert_count(st));
    CHECK_INT(expiring, 0);

    /* Deleting empties days and shrinks others. */
    CHECK_INT(tdelete(st, &admin, certs[0].thumb, NULL), CR_OK);
    CHECK_INT(tdelete(st, &admin, certs[3].thumb, NULL), CR_OK);
    CHECK_INT(tdelete(st, &admin, certs[9].thumb, NULL), CR_OK);
    check_everywhere(st, certs, N_CERTS);

    /* A restored state rebuilds the index. */
    snap = tsnap(st);
    CHECK_INT(cr_state_restore(back, snap.data, snap.len, &err), CR_OK);
    check_everywhere(back, certs, N_CERTS);
    cr_buf_free(&snap);

    for (int i = 0; i < N_CERTS; i++) {
        tcert_free(&certs[i]);
    }
    tcert_free(&cl);
    tcert_free(&admin);
    cr_state_free(st);
    cr_state_free(back);
}

TEST(test_empty_registry)
{
    struct cr_state *st = cr_state_new();
    size_t expired = 7, expiring = 7;

    cr_state_cert_expiry_counts(st, (int64_t)time(NULL), HORIZON, &expired,
                                &expiring);
    CHECK_INT(expired, 0);
    CHECK_INT(expiring, 0);
    cr_state_free(st);
}

int main(void)
{
    RUN(test_counts_match_a_visit);
    RUN(test_empty_registry);
    return HARNESS_DONE();
}
