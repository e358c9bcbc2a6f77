/*
 * state.c - creating, freeing and swapping the whole state.
 */
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct cr_state *cr_state_new(void)
{
    struct cr_state *st = calloc(1, sizeof *st);

    if (st != NULL) {
        cr_audit_init(&st->audit, CR_AUDIT_DEFAULT_CAPACITY);
        cr_registry_seed(&st->reg);
    }
    return st;
}

void cr_state_free(struct cr_state *st)
{
    if (st == NULL) {
        return;
    }
    cr_registry_free(&st->reg);
    cr_pending_free_all(st);
    cr_dbs_free(&st->dbs);
    cr_audit_free(&st->audit);
    cr_cas_free(st);
    cr_replacement_free(&st->repl);
    free(st->purged.thumbs);
    free(st);
}

uint64_t cr_state_applied_index(const struct cr_state *st)
{
    return st->applied_index;
}

bool cr_state_bootstrapped(const struct cr_state *st)
{
    return st->reg.n_cluster > 0;
}

void cr_state_swap(struct cr_state *a, struct cr_state *b)
{
    struct cr_state tmp = *a;
    size_t cap_a = a->audit.capacity, cap_b = b->audit.capacity;

    *a = *b;
    *b = tmp;
    /* Neither uthash nor the tag indexes keep a back pointer to the
     * struct holding it, so moving them between structs is safe. The
     * purge report moves too: after a restore it is the fresh state's,
     * empty. */
    a->audit.capacity = cap_a;
    b->audit.capacity = cap_b;
}
