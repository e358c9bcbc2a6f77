/*
 * nodes.c - nodes that an administrator allowed to join.
 *
 * A handful at most, so a sorted array: the order is by id, the same on
 * every node, and it is what snapshots and listings show.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state_internal.h"

struct cr_pending_node *cr_pending_find_id(const struct cr_state *st,
                                           uint64_t id)
{
    size_t i;

    for (i = 0; i < st->n_pending; i++) {
        if (st->pending[i].id == id) {
            return &st->pending[i];
        }
    }
    return NULL;
}

enum cr_status cr_pending_put(struct cr_state *st, uint64_t id,
                              const char *raft_address, const char *api_url,
                              const char *join_thumbprint, uint64_t index)
{
    struct cr_pending_node *p = cr_pending_find_id(st, id), *arr;
    char *ra = strdup(raft_address), *au = strdup(api_url);
    size_t at;

    if (ra == NULL || au == NULL) {
        free(ra);
        free(au);
        return CR_ENOMEM;
    }
    if (p == NULL) {
        arr = realloc(st->pending, (st->n_pending + 1) * sizeof *arr);
        if (arr == NULL) {
            free(ra);
            free(au);
            return CR_ENOMEM;
        }
        st->pending = arr;
        for (at = 0; at < st->n_pending && arr[at].id < id; at++) {
        }
        memmove(arr + at + 1, arr + at, (st->n_pending - at) * sizeof *arr);
        st->n_pending++;
        p = &arr[at];
        memset(p, 0, sizeof *p);
    }
    free(p->raft_address);
    free(p->api_url);
    p->id = id;
    p->raft_address = ra;
    p->api_url = au;
    memcpy(p->join_thumbprint, join_thumbprint, CR_THUMBPRINT_LEN + 1);
    p->added_index = index;
    return CR_OK;
}

void cr_pending_remove(struct cr_state *st, uint64_t id)
{
    struct cr_pending_node *p = cr_pending_find_id(st, id);
    size_t at;

    if (p == NULL) {
        return;
    }
    at = (size_t)(p - st->pending);
    free(p->raft_address);
    free(p->api_url);
    memmove(p, p + 1, (st->n_pending - at - 1) * sizeof *p);
    st->n_pending--;
}

void cr_pending_free_all(struct cr_state *st)
{
    size_t i;

    for (i = 0; i < st->n_pending; i++) {
        free(st->pending[i].raft_address);
        free(st->pending[i].api_url);
    }
    free(st->pending);
    st->pending = NULL;
    st->n_pending = 0;
}

size_t cr_state_pending_node_count(const struct cr_state *st)
{
    return st->n_pending;
}

const struct cr_pending_node *cr_state_pending_node(const struct cr_state *st,
                                                    size_t i)
{
    return i < st->n_pending ? &st->pending[i] : NULL;
}

const struct cr_pending_node *
cr_state_pending_node_by_thumbprint(const struct cr_state *st,
                                    const char *thumbprint)
{
    size_t i;

    if (!cr_thumbprint_valid(thumbprint)) {
        return NULL;
    }
    for (i = 0; i < st->n_pending; i++) {
        if (strcasecmp(st->pending[i].join_thumbprint, thumbprint) == 0) {
            return &st->pending[i];
        }
    }
    return NULL;
}
