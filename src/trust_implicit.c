/*
 * trust_implicit.c - authentication step 4, RavenDB's implicit trust by
 * public key pinning hash.
 *
 * A renewed certificate keeps its key and its issuer; RavenDB lets it in
 * with the rights of the registered certificate it renews, and registers
 * it. The pin index makes "is this key registered?" one hash probe. The
 * issuer must be shared too (same issuer DN, same AuthorityKeyIdentifier
 * when both have one; or both self-signed), otherwise anyone holding a
 * registered key could have it certified by any CA. Where the issuer is a
 * certificate the cluster knows (a cluster certificate, a client CA
 * member), the signature must verify with it as well: without that, the
 * key holder could sign itself a "renewal" that names the right issuer
 * and outlives the expiry an administrator chose.
 *
 * Used by cr_auth_authenticate() (any node, to let the request in) and by
 * apply() (CR_CMD_CERT_IMPLICIT and callers sent with caller_der), so it
 * must be deterministic: the same-pin list's order differs between nodes,
 * and the choice among matches is made by a total order of their own.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "state_internal.h"

enum issuer_check {
    ISSUER_UNKNOWN,  /* the cluster holds no certificate of that issuer */
    ISSUER_VERIFIED, /* it does, and the signature verifies with it */
    ISSUER_FORGED    /* it does, and the signature does not verify */
};

/* Might @der be @x's issuer, and does it sign @x? */
static void try_issuer(const unsigned char *der, size_t len, X509 *x,
                       bool *considered, bool *verified)
{
    const unsigned char *p = der;
    X509 *i = d2i_X509(NULL, &p, (long)len);
    const ASN1_OCTET_STRING *aki, *ski;

    if (i == NULL) {
        ERR_clear_error();
        return;
    }
    if (X509_NAME_cmp(X509_get_subject_name(i), X509_get_issuer_name(x)) ==
        0) {
        /* Same name but another key id: another CA, not a forgery. */
        aki = X509_get0_authority_key_id(x);
        ski = X509_get0_subject_key_id(i);
        if (aki == NULL || ski == NULL || ASN1_OCTET_STRING_cmp(aki, ski) == 0) {
            *considered = true;
            if (X509_verify(x, X509_get0_pubkey(i)) == 1) {
                *verified = true;
            }
        }
    }
    X509_free(i);
    ERR_clear_error();
}

static enum issuer_check known_issuer(const struct cr_state *st, X509 *x)
{
    bool considered = false, verified = false;
    size_t i, j;

    for (i = 0; i < st->reg.n_cluster && !verified; i++) {
        const struct cr_cert_node *n =
            cr_registry_find(&st->reg, st->reg.cluster[i]);
        if (n != NULL) {
            try_issuer(n->e.der, n->e.der_len, x, &considered, &verified);
        }
    }
    if (cr_replacement_in_progress(&st->repl) && !verified) {
        const struct cr_cert_node *n =
            cr_registry_find(&st->reg, st->repl.new_thumbprint);
        if (n != NULL) {
            try_issuer(n->e.der, n->e.der_len, x, &considered, &verified);
        }
    }
    for (i = 0; i < st->n_cas && !verified; i++) {
        const struct cr_der_list *l = &st->cas[i]->ca.certs;
        for (j = 0; j < l->n && !verified; j++) {
            try_issuer(l->items[j].der, l->items[j].len, x, &considered,
                       &verified);
        }
    }
    if (verified) {
        return ISSUER_VERIFIED;
    }
    return considered ? ISSUER_FORGED : ISSUER_UNKNOWN;
}

/* Does registered entry @e share its issuer with the presented @info
 * (parsed as @x, key included)? *known (an enum issuer_check, -1 until
 * needed) is computed once. */
static bool shares_issuer(const struct cr_state *st,
                         const struct cr_cert_info *info, X509 *x,
                         const struct cr_cert_entry *e, int *known)
{
    bool both_maybe_self = strcmp(e->subject, e->issuer) == 0 &&
                           strcmp(info->subject, info->issuer) == 0;
    struct cr_cert_info reg;
    bool shared;

    if (!both_maybe_self && strcmp(info->issuer, e->issuer) != 0) {
        return false; /* the common case, decided without parsing */
    }
    /* Registered entries keep no AKI; parsing is rare (unregistered
     * certificates with a known key only) and bounded by the bucket. */
    if (cr_cert_info_from_der(e->der, e->der_len, &reg, NULL) != CR_OK) {
        return false;
    }
    if (both_maybe_self && X509_self_signed(x, 1) == 1 &&
        cr_x509_self_signed(e->der, e->der_len)) {
        shared = true; /* the same key signed both */
    } else if (strcmp(info->issuer, reg.issuer) != 0) {
        shared = false;
    } else if (info->authority_key_id[0] != '\0' &&
               reg.authority_key_id[0] != '\0' &&
               strcmp(info->authority_key_id, reg.authority_key_id) != 0) {
        shared = false;
    } else {
        if (*known < 0) {
            *known = (int)known_issuer(st, x);
        }
        shared = *known != ISSUER_FORGED;
    }
    ERR_clear_error();
    cr_cert_info_free(&reg);
    return shared;
}

/* The total order among candidates: latest registered first, then by
 * thumbprint; the same on every node. */
static bool better(const struct cr_cert_entry *a, const struct cr_cert_entry *b)
{
    if (b == NULL) {
        return true;
    }
    if (a->added_index != b->added_index) {
        return a->added_index > b->added_index;
    }
    return strcmp(a->thumbprint, b->thumbprint) < 0;
}

enum cr_status cr_implicit_match(const struct cr_state *st,
                                 const struct cr_cert_info *info, X509 *x,
                                 const struct cr_cert_node **match,
                                 bool *final, struct cr_error *err)
{
    const struct cr_cert_node *head = cr_pin_index_find(&st->reg, info->pin);
    const struct cr_cert_entry *any = NULL, *disabled = NULL;
    const struct cr_cert_node *best = NULL, *n;
    int known = -1;

    if (head == NULL) {
        return CR_ENOTFOUND;
    }
    for (n = head; n != NULL; n = n->pin_next) {
        const struct cr_cert_node *p =
            n->e.primary[0] != '\0' ? cr_registry_find(&st->reg, n->e.primary)
                                    : n;
        if (better(&n->e, any)) {
            any = &n->e;
        }
        if (p == NULL || !shares_issuer(st, info, x, &n->e, &known)) {
            continue;
        }
        if (p->e.disabled) {
            if (better(&n->e, disabled)) {
                disabled = &n->e;
            }
        } else if (best == NULL || better(&n->e, &best->e)) {
            best = n;
        }
    }
    if (best != NULL) {
        *match = best;
        return CR_OK;
    }
    if (disabled != NULL) {
        *final = true;
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s is not registered; its key is "
                            "that of registered certificate %s, which is "
                            "disabled",
                            info->thumbprint, disabled->thumbprint);
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "unknown certificate %s: its public key is that of "
                        "registered certificate %s, but its issuer differs "
                        "from that certificate's",
                        info->thumbprint, any->thumbprint);
}
