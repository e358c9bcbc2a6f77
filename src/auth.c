/*
 * auth.c - authentication (who is calling) and RavenDB's authorization
 * rules (what they may do).
 *
 * The same predicates serve the HTTP layer, which fails fast, and
 * apply(), which decides for real at the command's log index. Lookups
 * are one hash probe on the presented certificate's thumbprint; the
 * certificate is parsed only in the rare joining-node case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <certraft/auth.h>

#include "state_internal.h"

/* Unix seconds, rounding down also before 1970. */
static int64_t ms_to_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

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

static enum cr_status validity_check(const char *thumb, int64_t nb, int64_t na,
                                     int64_t now_ms, struct cr_error *err)
{
    int64_t now = ms_to_s(now_ms);
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
    rv = validity_check(n->e.thumbprint, n->e.not_before, n->e.not_after,
                        now_ms, err);
    if (rv != CR_OK) {
        return rv;
    }
    if (p->disabled) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "certificate %s is disabled; an administrator can "
                            "enable it with POST /admin/certificates/edit",
                            n->e.thumbprint);
    }
    out->kind = CR_IDENTITY_CERTIFICATE;
    out->entry = p;
    out->clearance = p->clearance;
    out->name = p->name;
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

enum cr_status cr_auth_authenticate(const struct cr_state *st,
                                    const unsigned char *der, size_t len,
                                    int64_t now_ms, struct cr_identity *out,
                                    struct cr_error *err)
{
    char thumb[CR_THUMBPRINT_LEN + 1];
    const struct cr_pending_node *p;
    struct cr_cert_node *n;

    if (der == NULL || len == 0) {
        memset(out, 0, sizeof *out);
        return cr_error_set(err, CR_EUNAUTH,
                            "no client certificate was presented; connect "
                            "with a certificate registered in this cluster");
    }
    cr_thumbprint(der, len, thumb);
    identity_init(out, thumb);
    n = cr_registry_find(&st->reg, thumb);
    if (n != NULL) {
        return auth_entry(st, n, now_ms, out, err);
    }
    p = cr_state_pending_node_by_thumbprint(st, thumb);
    if (p != NULL) {
        struct cr_cert_info info;
        enum cr_status rv = cr_cert_info_from_der(der, len, &info, err);
        if (rv != CR_OK) {
            return rv;
        }
        rv = validity_check(thumb, info.not_before, info.not_after, now_ms,
                            err);
        cr_cert_info_free(&info);
        if (rv == CR_OK) {
            identity_joining(out, p);
        }
        return rv;
    }
    return cr_error_set(err, CR_EFORBIDDEN,
                        "unknown certificate %s: register it with PUT "
                        "/admin/certificates (certctl certs upload)",
                        thumb);
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
    const struct cr_cert_entry *e = id->entry;
    size_t lo = 0, hi;

    if (id->clearance >= CR_CLEARANCE_OPERATOR) {
        return CR_ACCESS_ADMIN;
    }
    if (id->kind != CR_IDENTITY_CERTIFICATE || e == NULL || db == NULL ||
        id->clearance < CR_CLEARANCE_VALID_USER) {
        return CR_ACCESS_NONE;
    }
    /* Permissions are kept sorted by database name. */
    hi = e->n_perms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(db, e->perms[mid].database);
        if (c == 0) {
            return e->perms[mid].access;
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
