/*
 * replacement.c - the cluster certificate replacement record, and the
 * rule that says when nodes switch to the new certificate.
 *
 * RavenDB replaces the server certificate without downtime: the new one
 * is trusted next to the old one first, every node confirms it holds it,
 * nodes switch, and only then is the old one forgotten. The record of
 * where that stands is replicated state (apply_rotation.c changes it);
 * the decision to switch depends on the raft configuration and the
 * clock, which only the node knows, so it is a pure function here that
 * the node calls with both.
 */
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

/* RavenDB switches at the latest when the old certificate has this much
 * time left, whether every node confirmed or not. */
#define SWITCH_BEFORE_EXPIRY_S (3 * 86400LL)

static const char *const phase_names[] = {
    [CR_REPLACEMENT_NONE] = "None",
    [CR_REPLACEMENT_INSTALLED] = "Installed",
    [CR_REPLACEMENT_CONFIRMING] = "Confirming",
    [CR_REPLACEMENT_SWITCHING] = "Switching",
    [CR_REPLACEMENT_DONE] = "Done",
};

const char *cr_replacement_phase_name(enum cr_replacement_phase p)
{
    if ((unsigned)p > CR_REPLACEMENT_DONE) {
        return "Unknown";
    }
    return phase_names[p];
}

void cr_replacement_free(struct cr_replacement *r)
{
    cr_der_list_free(&r->chain);
    free(r->sealed_key.der);
    free(r->confirmed);
    free(r->switched);
    memset(r, 0, sizeof *r);
}

bool cr_replacement_in_progress(const struct cr_replacement *r)
{
    return r->phase == CR_REPLACEMENT_INSTALLED ||
           r->phase == CR_REPLACEMENT_CONFIRMING ||
           r->phase == CR_REPLACEMENT_SWITCHING;
}

bool cr_id_set_has(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id) {
            return true;
        }
        if (ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

int cr_id_set_add(uint64_t **ids, size_t *n, uint64_t id)
{
    uint64_t *v;
    size_t at;

    if (cr_id_set_has(*ids, *n, id)) {
        return 0;
    }
    v = realloc(*ids, (*n + 1) * sizeof *v);
    if (v == NULL) {
        return -1;
    }
    for (at = 0; at < *n && v[at] < id; at++) {
    }
    memmove(v + at + 1, v + at, (*n - at) * sizeof *v);
    v[at] = id;
    *ids = v;
    (*n)++;
    return 0;
}

const struct cr_replacement *cr_state_replacement(const struct cr_state *st)
{
    return &st->repl;
}

bool cr_replacement_should_switch(const struct cr_replacement *r,
                                  const uint64_t *voter_ids, size_t n,
                                  int64_t now_ms, int64_t old_not_after)
{
    size_t i;
    bool all = n > 0;

    if (r == NULL || !cr_replacement_in_progress(r)) {
        return false;
    }
    if (r->switch_now || r->n_switched > 0) {
        return true;
    }
    /* old_not_after - now <= 3 days, written so it cannot overflow. */
    if (old_not_after < INT64_MIN + SWITCH_BEFORE_EXPIRY_S ||
        cr_ms_to_s(now_ms) >= old_not_after - SWITCH_BEFORE_EXPIRY_S) {
        return true;
    }
    for (i = 0; all && i < n; i++) {
        all = cr_id_set_has(r->confirmed, r->n_confirmed, voter_ids[i]);
    }
    return all;
}
