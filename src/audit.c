/*
 * audit.c - the audit trail: who did what at which log index.
 *
 * A bounded ring, because the trail is replicated state held in memory
 * on every node; the oldest records go first. Slots are allocated as the
 * ring fills, so a small cluster does not pay for the full capacity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

static void record_free(struct cr_audit_record *r)
{
    free(r->caller_name);
    free(r->operation);
    free(r->target);
    memset(r, 0, sizeof *r);
}

void cr_audit_init(struct cr_audit *a, size_t capacity)
{
    memset(a, 0, sizeof *a);
    a->capacity = capacity;
}

void cr_audit_free(struct cr_audit *a)
{
    size_t i;

    for (i = 0; i < a->count; i++) {
        record_free(&a->rec[(a->start + i) % a->alloc]);
    }
    free(a->rec);
    a->rec = NULL;
    a->alloc = a->count = a->start = 0;
}

const struct cr_audit_record *cr_audit_at(const struct cr_audit *a, size_t i)
{
    if (i >= a->count) {
        return NULL;
    }
    return &a->rec[(a->start + i) % a->alloc];
}

/* Room for one more record without wrapping; only while not full, when
 * start is still 0. */
static int audit_grow(struct cr_audit *a)
{
    size_t want = a->alloc < 16 ? 16 : a->alloc * 2;
    struct cr_audit_record *r;

    if (want > a->capacity) {
        want = a->capacity;
    }
    r = realloc(a->rec, want * sizeof *r);
    if (r == NULL) {
        return -1;
    }
    a->rec = r;
    a->alloc = want;
    return 0;
}

enum cr_status cr_audit_append(struct cr_audit *a, uint64_t index,
                               int64_t time_ms, const char *caller,
                               const char *caller_name, const char *operation,
                               const char *target, enum cr_status status)
{
    struct cr_audit_record r, *slot;

    if (a->capacity == 0) {
        return CR_OK;
    }
    memset(&r, 0, sizeof r);
    r.index = index;
    r.time_ms = time_ms;
    snprintf(r.caller, sizeof r.caller, "%s", caller != NULL ? caller : "");
    r.caller_name = strdup(caller_name != NULL ? caller_name : "");
    r.operation = strdup(operation != NULL ? operation : "");
    r.target = strdup(target != NULL ? target : "");
    r.status = status;
    if (r.caller_name == NULL || r.operation == NULL || r.target == NULL ||
        (a->count < a->capacity && a->count == a->alloc &&
         audit_grow(a) != 0)) {
        record_free(&r);
        return CR_ENOMEM;
    }
    if (a->count < a->capacity) {
        slot = &a->rec[(a->start + a->count) % a->alloc];
        a->count++;
    } else {
        slot = &a->rec[a->start];
        record_free(slot);
        a->start = (a->start + 1) % a->alloc;
    }
    *slot = r;
    return CR_OK;
}

void cr_state_set_audit_capacity(struct cr_state *st, size_t capacity)
{
    struct cr_audit *a = &st->audit;
    struct cr_audit fresh;
    size_t keep = a->count < capacity ? a->count : capacity;
    size_t drop = a->count - keep, i;

    cr_audit_init(&fresh, capacity);
    if (keep > 0) {
        fresh.rec = malloc(keep * sizeof *fresh.rec);
        if (fresh.rec == NULL) {
            return; /* keep the old ring; only a local setting */
        }
        fresh.alloc = keep;
    }
    for (i = 0; i < a->count; i++) {
        struct cr_audit_record *r = &a->rec[(a->start + i) % a->alloc];
        if (i < drop) {
            record_free(r);
        } else {
            fresh.rec[fresh.count++] = *r;
        }
    }
    free(a->rec);
    *a = fresh;
}

size_t cr_state_audit_count(const struct cr_state *st)
{
    return st->audit.count;
}

const struct cr_audit_record *cr_state_audit_get(const struct cr_state *st,
                                                 size_t i)
{
    return cr_audit_at(&st->audit, i);
}
