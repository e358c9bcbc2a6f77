/*
 * expiry_index.c - registered certificates by the UTC day they expire.
 *
 * /metrics reports how many certificates have expired and how many expire
 * within 30 days. Counting them by visiting every entry held the loop for
 * a cache miss per certificate on every scrape (a million certificates:
 * a stall near an election timeout). Here each day a certificate expires
 * on keeps a count and a list of its certificates: a count costs one step
 * per distinct day, and only the two days a bound falls inside are
 * walked, so the answer stays exact to the second. (Certificates issued
 * in bulk on one day with one validity all expire on one day: on the two
 * days a bound crosses it, a scrape walks them all, as every scrape did
 * before.)
 *
 * Intrusive like the pin index: cr_cert_node carries its list links; a
 * day is one small allocation shared by all that expire on it.
 */
#include <stdlib.h>

#include "state_internal.h"

#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(obj) (oom = true)

#define DAY 86400

struct cr_expiry_day {
    int64_t day; /* floor(not_after / DAY) */
    size_t count;
    struct cr_cert_node *first;
    UT_hash_handle hh;
};

static int64_t day_of(int64_t t)
{
    return t >= 0 ? t / DAY : -((-t + DAY - 1) / DAY);
}

static struct cr_expiry_day *day_find(const struct cr_registry *reg,
                                      int64_t day)
{
    struct cr_expiry_day *d = NULL;

    HASH_FIND(hh, reg->by_expiry, &day, sizeof day, d);
    return d;
}

int cr_expiry_index_add(struct cr_registry *reg, struct cr_cert_node *n)
{
    int64_t day = day_of(n->e.not_after);
    struct cr_expiry_day *d = day_find(reg, day);
    bool oom = false;

    if (d == NULL) {
        if ((d = calloc(1, sizeof *d)) == NULL) {
            return -1;
        }
        d->day = day;
        HASH_ADD(hh, reg->by_expiry, day, sizeof d->day, d);
        if (oom) {
            free(d);
            return -1;
        }
    }
    n->exp_prev = NULL;
    n->exp_next = d->first;
    if (d->first != NULL) {
        d->first->exp_prev = n;
    }
    d->first = n;
    d->count++;
    return 0;
}

void cr_expiry_index_remove(struct cr_registry *reg, struct cr_cert_node *n)
{
    struct cr_expiry_day *d = day_find(reg, day_of(n->e.not_after));

    if (d == NULL) {
        return;
    }
    if (n->exp_prev != NULL) {
        n->exp_prev->exp_next = n->exp_next;
    } else if (d->first == n) {
        d->first = n->exp_next;
    } else {
        return; /* not in the index */
    }
    if (n->exp_next != NULL) {
        n->exp_next->exp_prev = n->exp_prev;
    }
    n->exp_prev = n->exp_next = NULL;
    if (--d->count == 0) {
        HASH_DELETE(hh, reg->by_expiry, d);
        free(d);
    }
}

void cr_expiry_index_free(struct cr_registry *reg)
{
    struct cr_expiry_day *d, *tmp;

    HASH_ITER(hh, reg->by_expiry, d, tmp)
    {
        HASH_DELETE(hh, reg->by_expiry, d);
        free(d);
    }
}

void cr_state_cert_expiry_counts(const struct cr_state *st, int64_t now,
                                 int64_t horizon, size_t *expired,
                                 size_t *expiring)
{
    const struct cr_expiry_day *d, *tmp;
    int64_t limit = now + horizon;

    *expired = *expiring = 0;
    HASH_ITER(hh, st->reg.by_expiry, d, tmp)
    {
        int64_t first = d->day * DAY, last = first + DAY - 1;
        if (last < now) {
            *expired += d->count;
        } else if (first >= now && last <= limit) {
            *expiring += d->count;
        } else if (first <= limit) {
            /* A bound falls inside this day: each certificate decides. */
            const struct cr_cert_node *n;
            for (n = d->first; n != NULL; n = n->exp_next) {
                if (n->e.not_after < now) {
                    (*expired)++;
                } else if (n->e.not_after <= limit) {
                    (*expiring)++;
                }
            }
        }
    }
}
