/*
 * pin_index.c - registered entries by public key pinning hash.
 *
 * Implicit trust (authentication step 4) asks, for every unregistered
 * certificate that connects, "is this key registered already?". With a
 * million entries that must be one hash probe, not a scan, so the
 * registry keeps this index beside its thumbprint hash; registry.c calls
 * in here on every insert and unlink, and snapshot restore rebuilds it
 * through the same inserts.
 *
 * The index is intrusive (cr_cert_node carries its hash handle and a
 * same-pin link), so it costs no allocation per entry: a million entries
 * add one pointer-sized list link and one hash handle each.
 */
#include <string.h>

#include "state_internal.h"

/* uthash reports a failed table allocation through this hook (we asked
 * for the non-fatal mode); the caller's local `oom` flag records it. */
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(obj) (oom = true)

struct cr_cert_node *cr_pin_index_find(const struct cr_registry *reg,
                                       const char *pin)
{
    struct cr_cert_node *head = NULL;
    size_t len = pin != NULL ? strlen(pin) : 0;

    if (len == 0 || len > CR_PIN_LEN) {
        return NULL;
    }
    HASH_FIND(hh_pin, reg->by_pin, pin, len, head);
    return head;
}

int cr_pin_index_add(struct cr_registry *reg, struct cr_cert_node *n)
{
    struct cr_cert_node *head = cr_pin_index_find(reg, n->e.pin);
    bool oom = false;

    if (head != NULL) {
        /* Not in the hash itself: linked after the one that is. */
        n->pin_next = head->pin_next;
        head->pin_next = n;
        return 0;
    }
    n->pin_next = NULL;
    HASH_ADD_KEYPTR(hh_pin, reg->by_pin, n->e.pin, strlen(n->e.pin), n);
    return oom ? -1 : 0;
}

void cr_pin_index_remove(struct cr_registry *reg, struct cr_cert_node *n)
{
    struct cr_cert_node *head = cr_pin_index_find(reg, n->e.pin), **pp;
    struct cr_cert_node *next;
    unsigned noexpand;
    bool oom = false;

    if (head == NULL) {
        return;
    }
    if (head != n) {
        for (pp = &head->pin_next; *pp != NULL; pp = &(*pp)->pin_next) {
            if (*pp == n) {
                *pp = n->pin_next;
                break;
            }
        }
        n->pin_next = NULL;
        return;
    }
    next = n->pin_next;
    if (next != NULL) {
        /* The next entry takes n's place in the hash. Adding to a table
         * that exists allocates only to expand it; with expansion held
         * off for this one add, it cannot fail (uthash's non-fatal mode
         * would otherwise roll the add back), and unlinking stays
         * infallible. The table expands on a later add. */
        noexpand = reg->by_pin->hh_pin.tbl->noexpand;
        reg->by_pin->hh_pin.tbl->noexpand = 1;
        HASH_ADD_KEYPTR(hh_pin, reg->by_pin, next->e.pin,
                        strlen(next->e.pin), next);
        reg->by_pin->hh_pin.tbl->noexpand = noexpand;
        (void)oom;
    }
    HASH_DELETE(hh_pin, reg->by_pin, n);
    n->pin_next = NULL;
}

void cr_pin_index_free(struct cr_registry *reg)
{
    /* The nodes belong to the registry; only the table goes. */
    HASH_CLEAR(hh_pin, reg->by_pin);
}

size_t cr_state_cert_by_pin(const struct cr_state *st, const char *pin,
                            const struct cr_cert_entry **out, size_t max)
{
    const struct cr_cert_node *head = cr_pin_index_find(&st->reg, pin), *n;
    const char *prev = NULL;
    size_t count = 0, k;

    for (n = head; n != NULL; n = n->pin_next) {
        count++;
    }
    /* Callers get thumbprint order, the same on every node. Selection
     * without allocating: lists are short (implicit trust keeps them at
     * five). */
    for (k = 0; out != NULL && k < max && k < count; k++) {
        const struct cr_cert_entry *best = NULL;
        for (n = head; n != NULL; n = n->pin_next) {
            if ((prev == NULL || strcmp(n->e.thumbprint, prev) > 0) &&
                (best == NULL || strcmp(n->e.thumbprint, best->thumbprint) < 0)) {
                best = &n->e;
            }
        }
        out[k] = best;
        prev = best->thumbprint;
    }
    return count;
}
