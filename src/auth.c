/*
 * auth.c - authentication (who is calling) and RavenDB's authorization
 * rules (what they may do).
 *
 * The same predicates serve the HTTP layer, which fails fast, and
 * apply(), which decides for real at the command's log index. A
 * registered certificate costs its SHA-256, with the probe for its
 * entry overlapped (der_lookup.c); only an unregistered one is parsed,
 * for the join, implicit trust (one probe of the pin index,
 * trust_implicit.c) and client CA (client_ca.c) steps.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include <certraft/auth.h>

#include "state_internal.h"
#include "x509_internal.h"

static const char *iso_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, size, "%lld", (long long)t);
    }
    return buf;
}

enum cr_status cr_auth_validity_check(const char *thumb, int64_t nb,
                                      int64_t na, int64_t now_ms,
                                      struct cr_error *err)
{
    int64_t now = cr_ms_to_s(now_ms);
    char when[32];

    if (now < nb) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s is not valid before %s", thumb,
                            iso_time(nb, when, sizeof when));
    }
    if (now > na) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s expired at %s; renew it and "
                            "register the new one",
                            thumb, iso_time(na, when, sizeof when));
    }
    return CR_OK;
}

/* Fill @out with the rights of primary entry @p. */
static void identity_entry(struct cr_identity *out, enum cr_identity_kind kind,
                           const struct cr_cert_entry *p)
{
    out->kind = kind;
    out->entry = p;
    out->clearance = p->clearance;
    out->name = p->name;
    out->perms = p->perms;
    out->n_perms = p->n_perms;
}

/* The presented certificate is registered as @n: check it and fill
 * @out with its primary's rights. */
static enum cr_status auth_entry(const struct cr_state *st,
                                 const struct cr_cert_node *n, int64_t now_ms,
                                 struct cr_identity *out,
                                 struct cr_error *err)
{
    const struct cr_cert_entry *p = cr_state_cert_primary(st, &n->e);
    enum cr_status rv;

    if (p == NULL) {
        return cr_error_set(err, CR_EINTERNAL,
                            "certificate %s belongs to a missing collection",
                            n->e.thumbprint);
    }
    rv = cr_auth_validity_check(n->e.thumbprint, n->e.not_before,
                                n->e.not_after, now_ms, err);
    if (rv != CR_OK) {
        return rv;
    }
    if (p->disabled) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s is disabled; an administrator can "
                            "enable it with POST /admin/certificates/edit",
                            n->e.thumbprint);
    }
    identity_entry(out, CR_IDENTITY_CERTIFICATE, p);
    return CR_OK;
}

static void identity_init(struct cr_identity *out, const char *thumb)
{
    memset(out, 0, sizeof *out);
    memcpy(out->thumbprint, thumb, CR_THUMBPRINT_LEN + 1);
    out->clearance = CR_CLEARANCE_NONE;
    out->name = "";
}

static void identity_joining(struct cr_identity *out,
                             const struct cr_pending_node *p)
{
    out->kind = CR_IDENTITY_JOINING_NODE;
    out->pending = p;
    out->clearance = CR_CLEARANCE_NONE;
    out->name = "";
}

void cr_identity_copy(struct cr_identity *dst, const struct cr_identity *src)
{
    if (dst == src) {
        return;
    }
    *dst = *src;
    if (src->name == src->cn) {
        dst->name = dst->cn;
    }
}

/* @chain as an OpenSSL stack (NULL when empty). */
static enum cr_status untrusted_stack(const struct cr_der *chain, size_t n,
                                      STACK_OF(X509) **out,
                                      struct cr_error *err)
{
    STACK_OF(X509) *sk;
    size_t i;

    *out = NULL;
    if (n == 0) {
        return CR_OK;
    }
    if ((sk = sk_X509_new_null()) == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        const unsigned char *p = chain[i].der;
        X509 *x = chain[i].len <= LONG_MAX
                      ? d2i_X509(NULL, &p, (long)chain[i].len)
                      : NULL;
        if (x == NULL || p != chain[i].der + chain[i].len) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            ERR_clear_error();
            return cr_error_set(err, CR_EINVAL,
                                "intermediate certificate %zu of the chain is "
                                "not a DER X.509 certificate",
                                i + 1);
        }
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            sk_X509_pop_free(sk, X509_free);
            return cr_error_set(err, CR_ENOMEM, "out of memory");
        }
    }
    *out = sk;
    return CR_OK;
}

/* Steps 4 and 5 for a certificate that is not registered by thumbprint
 * (@info parsed, @x its OpenSSL form); step 2 (validity) first. */
static enum cr_status auth_unregistered(const struct cr_state *st,
                                        const struct cr_cert_info *info,
                                        X509 *x, const struct cr_der *chain,
                                        size_t n_chain, int64_t now_ms,
                                        struct cr_identity *out,
                                        struct cr_error *err)
{
    const struct cr_cert_node *match = NULL;
    const struct cr_ca_node *ca = NULL;
    struct cr_error implicit_err, ca_err;
    STACK_OF(X509) *untrusted = NULL;
    enum cr_status rv4, rv5;

    bool final = false;

    rv4 = cr_auth_validity_check(info->thumbprint, info->not_before,
                                 info->not_after, now_ms, err);
    if (rv4 != CR_OK) {
        return rv4;
    }
    cr_error_clear(&implicit_err);
    rv4 = cr_implicit_match(st, info, x, &match, &final, &implicit_err);
    if (rv4 == CR_OK) {
        identity_entry(out, CR_IDENTITY_IMPLICIT,
                       cr_state_cert_primary(st, &match->e));
        out->needs_registration = true;
        memcpy(out->matched_thumbprint, match->e.thumbprint,
               CR_THUMBPRINT_LEN + 1);
        return CR_OK;
    }
    /* A known key with another issuer may still chain to a client CA;
     * one whose match is disabled may not (as step 3 would refuse it). */
    if (st->n_cas > 0 && !final) {
        if ((rv5 = untrusted_stack(chain, n_chain, &untrusted, err))) {
            return rv5;
        }
        cr_error_clear(&ca_err);
        rv5 = cr_ca_authenticate(st, x, untrusted, cr_ms_to_s(now_ms), &ca,
                                 &ca_err);
        sk_X509_pop_free(untrusted, X509_free);
        if (rv5 == CR_OK) {
            out->kind = CR_IDENTITY_CLIENT_CA;
            out->client_ca = &ca->ca;
            out->clearance = ca->ca.clearance;
            out->perms = ca->ca.perms;
            out->n_perms = ca->ca.n_perms;
            snprintf(out->cn, sizeof out->cn, "%s", info->common_name);
            out->name = out->cn;
            return CR_OK;
        }
        if (rv5 != CR_ENOTFOUND && rv4 == CR_ENOTFOUND) {
            return cr_error_set(err, rv5, "certificate %s %s",
                                info->thumbprint, ca_err.msg);
        }
    }
    if (rv4 != CR_ENOTFOUND) {
        return cr_error_set(err, rv4, "%s", implicit_err.msg);
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "unknown certificate %s: register it with PUT "
                        "/admin/certificates (certctl certs upload)",
                        info->thumbprint);
}

enum cr_status cr_auth_authenticate_chain(const struct cr_state *st,
                                          const unsigned char *der,
                                          size_t len,
                                          const struct cr_der *chain,
                                          size_t n_chain, int64_t now_ms,
                                          struct cr_identity *out,
                                          struct cr_error *err)
{
    unsigned char digest[CR_DIGEST_LEN];
    char thumb[CR_THUMBPRINT_LEN + 1];
    const struct cr_pending_node *p;
    struct cr_cert_node *n;
    struct cr_cert_info info;
    const unsigned char *q = der;
    enum cr_status rv;
    X509 *x;

    if (der == NULL || len == 0) {
        memset(out, 0, sizeof *out);
        return cr_error_set(err, CR_EUNAUTH,
                            "no client certificate was presented; connect "
                            "with a certificate registered in this cluster");
    }
    if (!cr_registry_find_der(&st->reg, der, len, digest, &n)) {
        memset(out, 0, sizeof *out);
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    cr_hex_upper(digest, CR_DIGEST_LEN, thumb);
    identity_init(out, thumb);
    if (n != NULL) {
        return auth_entry(st, n, now_ms, out, err); /* step 3: one probe */
    }
    rv = cr_cert_info_from_der(der, len, &info, err);
    if (rv != CR_OK) {
        return rv;
    }
    p = cr_state_pending_node_by_thumbprint(st, thumb);
    if (p != NULL) {
        rv = cr_auth_validity_check(thumb, info.not_before, info.not_after,
                                    now_ms, err);
        if (rv == CR_OK) {
            identity_joining(out, p);
        }
        cr_cert_info_free(&info);
        return rv;
    }
    x = d2i_X509(NULL, &q, (long)len); /* parsed fine just above */
    if (x == NULL) {
        ERR_clear_error();
        cr_cert_info_free(&info);
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    rv = auth_unregistered(st, &info, x, chain, n_chain, now_ms, out, err);
    X509_free(x);
    cr_cert_info_free(&info);
    return rv;
}

enum cr_status cr_auth_authenticate(const struct cr_state *st,
                                    const unsigned char *der, size_t len,
                                    int64_t now_ms, struct cr_identity *out,
                                    struct cr_error *err)
{
    return cr_auth_authenticate_chain(st, der, len, NULL, 0, now_ms, out,
                                      err);
}

enum cr_status cr_auth_by_thumbprint(const struct cr_state *st,
                                     const char *thumbprint, int64_t now_ms,
                                     struct cr_identity *out,
                                     struct cr_error *err)
{
    char thumb[CR_THUMBPRINT_LEN + 1];
    const struct cr_pending_node *p;
    struct cr_cert_node *n;

    if (thumbprint == NULL || thumbprint[0] == '\0') {
        memset(out, 0, sizeof *out);
        return cr_error_set(err, CR_EUNAUTH,
                            "no caller certificate was given");
    }
    if (!cr_thumbprint_valid(thumbprint)) {
        memset(out, 0, sizeof *out);
        return cr_error_set(err, CR_EFORBIDDEN,
                            "'%.70s' is not a certificate thumbprint",
                            thumbprint);
    }
    memcpy(thumb, thumbprint, sizeof thumb);
    cr_thumbprint_normalize(thumb);
    identity_init(out, thumb);
    n = cr_registry_find(&st->reg, thumb);
    if (n != NULL) {
        return auth_entry(st, n, now_ms, out, err);
    }
    p = cr_state_pending_node_by_thumbprint(st, thumb);
    if (p != NULL) {
        identity_joining(out, p);
        return CR_OK;
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "certificate %s is not registered (it may have been "
                        "deleted)",
                        thumb);
}

enum cr_status cr_authz_require(const struct cr_identity *id,
                                enum cr_clearance min, const char *what,
                                struct cr_error *err)
{
    if (id->clearance >= min) {
        return CR_OK;
    }
    if (id->kind == CR_IDENTITY_JOINING_NODE) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "%s needs the %s security clearance; a joining "
                            "node's certificate may only join",
                            what, cr_clearance_name(min));
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "%s needs the %s security clearance; certificate %s "
                        "has %s",
                        what, cr_clearance_name(min), id->thumbprint,
                        cr_clearance_name(id->clearance));
}

enum cr_access cr_authz_db_access(const struct cr_identity *id,
                                  const char *db)
{
    const struct cr_permission *perms = id->perms;
    size_t lo = 0, hi = id->n_perms;

    if (id->clearance >= CR_CLEARANCE_OPERATOR) {
        return CR_ACCESS_ADMIN;
    }
    if (id->kind == CR_IDENTITY_JOINING_NODE || db == NULL ||
        id->clearance < CR_CLEARANCE_VALID_USER) {
        return CR_ACCESS_NONE;
    }
    if (perms == NULL && id->entry != NULL) {
        /* An identity filled in by hand, before the perms view. */
        perms = id->entry->perms;
        hi = id->entry->n_perms;
    }
    /* Permissions are kept sorted by database name. */
    while (perms != NULL && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(db, perms[mid].database);
        if (c == 0) {
            return perms[mid].access;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return CR_ACCESS_NONE;
}

enum cr_status cr_authz_require_db(const struct cr_identity *id,
                                   const char *db, enum cr_access min,
                                   struct cr_error *err)
{
    enum cr_access have = cr_authz_db_access(id, db);

    if (have >= min) {
        return CR_OK;
    }
    if (have == CR_ACCESS_NONE) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s has no access to database "
                            "'%.128s'; this needs %s",
                            id->thumbprint, db != NULL ? db : "",
                            cr_access_name(min));
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "certificate %s has %s access to database '%.128s'; "
                        "this needs %s",
                        id->thumbprint, cr_access_name(have), db,
                        cr_access_name(min));
}

enum cr_status cr_authz_manage_cert(const struct cr_identity *id,
                                    enum cr_clearance target,
                                    struct cr_error *err)
{
    enum cr_status rv = cr_authz_require(id, CR_CLEARANCE_OPERATOR,
                                         "managing certificates", err);

    if (rv != CR_OK) {
        return rv;
    }
    if (target >= CR_CLEARANCE_CLUSTER_ADMIN &&
        id->clearance < CR_CLEARANCE_CLUSTER_ADMIN) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "only a ClusterAdmin may manage %s certificates; "
                            "certificate %s has %s",
                            cr_clearance_name(target), id->thumbprint,
                            cr_clearance_name(id->clearance));
    }
    return CR_OK;
}
