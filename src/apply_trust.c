/*
 * apply_trust.c - registry upkeep that follows from time passing:
 * purging expired certificates, and registering renewed ones by
 * implicit trust (RavenDB's rules).
 *
 * Purge removes the collections whose every member has expired at the
 * command's time, except the cluster certificate(s), the caller's own
 * collection, and those the caller may not manage (an Operator's purge
 * skips ClusterAdmin and ClusterNode entries; it does not fail).
 *
 * Implicit trust registers the caller's certificate (caller_der) as a new
 * primary entry with the Name, clearance and permissions of the
 * registered entry that has the same public key and issuer, decided again
 * here at this log index: the matched entry may have gone meanwhile. At
 * most CR_PIN_MAX_ENTRIES entries keep one key; past that the one that
 * expires soonest goes (never a cluster certificate, never the new one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "apply_internal.h"

/* RavenDB keeps at most this many certificates per pinning hash. */
#define CR_PIN_MAX_ENTRIES 5

/* --- purge ----------------------------------------------------------- */

struct purge_scan {
    struct apply_ctx *c;
    int64_t now_s;
    struct cr_cert_node **victims;
    size_t n, alloc;
    size_t n_thumbs; /* members of all victims */
    size_t skipped;  /* expired, but not the caller's to manage */
    bool oom;
};

/* Has every member of @p's collection expired? */
static bool collection_expired(const struct cr_registry *reg,
                               const struct cr_cert_entry *p, int64_t now_s)
{
    size_t i;

    if (p->not_after >= now_s) {
        return false;
    }
    for (i = 0; i < p->n_secondaries; i++) {
        const struct cr_cert_node *s = cr_registry_find(reg, p->secondaries[i]);
        if (s != NULL && s->e.not_after >= now_s) {
            return false;
        }
    }
    return true;
}

static bool purge_visit(struct cr_cert_node *n, void *arg)
{
    struct purge_scan *ps = arg;
    struct apply_ctx *c = ps->c;

    if (n->e.primary[0] != '\0' ||
        !collection_expired(&c->st->reg, &n->e, ps->now_s) ||
        cr_apply_cluster_collection(c->st, &n->e) ||
        cr_apply_caller_owns(c, &n->e)) {
        return true;
    }
    if (cr_authz_manage_cert(&c->id, n->e.clearance, NULL) != CR_OK) {
        ps->skipped++;
        return true;
    }
    if (ps->n == ps->alloc) {
        size_t want = ps->alloc < 16 ? 16 : ps->alloc * 2;
        struct cr_cert_node **v = realloc(ps->victims, want * sizeof *v);
        if (v == NULL) {
            ps->oom = true;
            return false;
        }
        ps->victims = v;
        ps->alloc = want;
    }
    ps->victims[ps->n++] = n;
    ps->n_thumbs += 1 + n->e.n_secondaries;
    return true;
}

static int thumb_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

enum cr_status cr_apply_cert_purge(struct apply_ctx *c)
{
    struct cr_registry *reg = &c->st->reg;
    struct purge_scan ps;
    char(*thumbs)[CR_THUMBPRINT_LEN + 1] = NULL;
    size_t i, j, k = 0;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "purging expired certificates", &c->err))) {
        return rv;
    }
    memset(&ps, 0, sizeof ps);
    ps.c = c;
    ps.now_s = cr_ms_to_s(c->cmd->time_ms);
    cr_tag_index_walk(&reg->by_digest, purge_visit, &ps);
    if (!ps.oom && ps.n_thumbs > 0 &&
        (thumbs = malloc(ps.n_thumbs * sizeof *thumbs)) == NULL) {
        ps.oom = true;
    }
    if (ps.oom) {
        free(ps.victims);
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    /* Everything allocated: from here on nothing can fail. */
    for (i = 0; i < ps.n; i++) {
        const struct cr_cert_entry *e = &ps.victims[i]->e;
        memcpy(thumbs[k++], e->thumbprint, CR_THUMBPRINT_LEN + 1);
        for (j = 0; j < e->n_secondaries; j++) {
            memcpy(thumbs[k++], e->secondaries[j], CR_THUMBPRINT_LEN + 1);
        }
        cr_registry_drop_collection(reg, ps.victims[i]);
    }
    if (k > 1) {
        qsort(thumbs, k, sizeof *thumbs, thumb_cmp);
    }
    free(c->st->purged.thumbs);
    c->st->purged.thumbs = thumbs;
    c->st->purged.n = k;
    c->st->purged.index = c->index;
    free(ps.victims);
    snprintf(c->target, sizeof c->target, "%zu certificates", k);
    if (ps.skipped > 0) {
        snprintf(c->info, sizeof c->info,
                 "purged %zu expired certificates; skipped %zu expired "
                 "ClusterAdmin or ClusterNode collections that only a "
                 "ClusterAdmin may remove",
                 k, ps.skipped);
    } else {
        snprintf(c->info, sizeof c->info, "purged %zu expired certificates",
                 k);
    }
    return CR_OK;
}

size_t cr_state_last_purged(const struct cr_state *st, uint64_t *index,
                            const char (**thumbs)[CR_THUMBPRINT_LEN + 1])
{
    if (index != NULL) {
        *index = st->purged.index;
    }
    if (thumbs != NULL) {
        *thumbs = (const char(*)[CR_THUMBPRINT_LEN + 1])st->purged.thumbs;
    }
    return st->purged.n;
}

/* --- implicit trust -------------------------------------------------- */

/* Drop entries with @added's key, soonest expiry first, until at most
 * CR_PIN_MAX_ENTRIES remain. Each drop is audited; returns how many, and
 * the first one's thumbprint in @first. Allocates nothing. */
static size_t pin_cap(struct apply_ctx *c, const struct cr_cert_node *added,
                      char *first)
{
    struct cr_registry *reg = &c->st->reg;
    size_t dropped = 0, count;

    for (;;) {
        struct cr_cert_node *head = cr_pin_index_find(reg, added->e.pin), *n;
        struct cr_cert_node *victim = NULL;
        char thumb[CR_THUMBPRINT_LEN + 1];

        for (count = 0, n = head; n != NULL; n = n->pin_next) {
            count++;
        }
        if (count <= CR_PIN_MAX_ENTRIES) {
            break;
        }
        for (n = head; n != NULL; n = n->pin_next) {
            const struct cr_cert_node *p =
                n->e.primary[0] != '\0' ? cr_registry_find(reg, n->e.primary)
                                        : n;
            if (n == added || p == NULL ||
                cr_apply_cluster_collection(c->st, &p->e)) {
                continue;
            }
            /* The list's order differs between nodes: choose by a total
             * order. */
            if (victim == NULL || n->e.not_after < victim->e.not_after ||
                (n->e.not_after == victim->e.not_after &&
                 strcmp(n->e.thumbprint, victim->e.thumbprint) < 0)) {
                victim = n;
            }
        }
        if (victim == NULL) {
            break; /* only cluster certificates left to drop */
        }
        memcpy(thumb, victim->e.thumbprint, sizeof thumb);
        if (victim->e.primary[0] != '\0') {
            cr_registry_drop_secondary(reg, victim);
        } else {
            cr_registry_drop_collection(reg, victim);
        }
        if (dropped++ == 0) {
            memcpy(first, thumb, sizeof thumb);
        }
        cr_audit_append(&c->st->audit, c->index, c->cmd->time_ms,
                        c->cmd->caller, added->e.name,
                        "CertImplicitTrustDrop", thumb, CR_OK);
    }
    return dropped;
}

enum cr_status cr_apply_cert_implicit(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_registry *reg = &c->st->reg;
    const struct cr_cert_node *match = NULL;
    const struct cr_cert_entry *p;
    struct cr_cert_node *n;
    struct cr_cert_info info;
    char matched[CR_THUMBPRINT_LEN + 1], first[CR_THUMBPRINT_LEN + 1];
    const unsigned char *q = cmd->caller_der.der;
    bool final = false;
    size_t dropped;
    enum cr_status rv;
    X509 *x;

    if (cr_registry_find(reg, cmd->caller) != NULL) {
        /* Two nodes may race to register it: the second is a no-op. */
        snprintf(c->info, sizeof c->info,
                 "certificate %s is already registered", cmd->caller);
        c->no_op = true;
        return CR_OK;
    }
    if ((rv = cr_cert_info_from_der(cmd->caller_der.der, cmd->caller_der.len,
                                    &info, &c->err))) {
        return rv;
    }
    x = d2i_X509(NULL, &q, (long)cmd->caller_der.len);
    if (x == NULL) {
        ERR_clear_error();
        cr_cert_info_free(&info);
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    rv = cr_auth_validity_check(info.thumbprint, info.not_before,
                                info.not_after, cmd->time_ms, &c->err);
    if (rv == CR_OK) {
        rv = cr_implicit_match(c->st, &info, x, &match, &final, &c->err);
        if (rv == CR_ENOTFOUND) {
            rv = cr_error_set(&c->err, CR_EFORBIDDEN,
                              "unknown certificate %s: no registered "
                              "certificate has its public key (any that had "
                              "may have been deleted)",
                              info.thumbprint);
        }
    }
    X509_free(x);
    if (rv != CR_OK) {
        cr_cert_info_free(&info);
        return rv;
    }
    p = cr_state_cert_primary(c->st, &match->e);
    memcpy(matched, match->e.thumbprint, sizeof matched);
    n = p != NULL ? cr_cert_node_new(&info, p->name, p->clearance, p->perms,
                                     p->n_perms, c->index, cmd->time_ms)
                  : NULL;
    cr_cert_info_free(&info);
    if (n == NULL || cr_registry_insert(reg, n) != 0) {
        cr_cert_node_free(n);
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    dropped = pin_cap(c, n, first);
    if (dropped > 0) {
        snprintf(c->info, sizeof c->info,
                 "registered by implicit trust in %s; dropped %s%s (at "
                 "most %d certificates per public key)",
                 matched, first, dropped > 1 ? " and others" : "",
                 CR_PIN_MAX_ENTRIES);
    } else {
        snprintf(c->info, sizeof c->info,
                 "registered by implicit trust in %s", matched);
    }
    return CR_OK;
}
