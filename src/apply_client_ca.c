/*
 * apply_client_ca.c - CR_CMD_CLIENT_CA_PUT and CR_CMD_CLIENT_CA_DELETE.
 *
 * A bundle hands out rights to every certificate its CAs sign, so only a
 * ClusterAdmin manages bundles, a bundle never grants ClusterNode (nodes
 * are the cluster certificate's business), and every member must be a
 * CA certificate valid at the command's time. APPEND adds certificates to
 * a bundle (rotation without downtime: old and new CA are trusted
 * together), REPLACE makes the bundle exactly the given certificates;
 * either sets the clearance and permissions given. Deleting a bundle cuts
 * off its certificates at the next request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply_internal.h"

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

/* Member @i (0-based) must be a CA certificate valid at @now_s. */
static enum cr_status member_check(const struct cr_der *d, size_t i,
                                   int64_t now_s, struct cr_error *err)
{
    struct cr_cert_info info;
    struct cr_error perr;
    enum cr_status rv = CR_OK;
    char when[32];

    if (cr_cert_info_from_der(d->der, d->len, &info, &perr) != CR_OK) {
        return cr_error_set(err, perr.status == CR_ENOMEM ? CR_ENOMEM
                                                         : CR_EINVAL,
                            "certificate %zu of the client CA bundle: %s",
                            i + 1, perr.msg);
    }
    if (!info.is_ca || !info.key_cert_sign) {
        rv = cr_error_set(err, CR_EINVAL,
                          "certificate %zu of the client CA bundle (%.80s) "
                          "is not a CA certificate: it needs basicConstraints "
                          "CA:TRUE and keyUsage keyCertSign",
                          i + 1, info.subject);
    } else if (now_s < info.not_before) {
        rv = cr_error_set(err, CR_EINVAL,
                          "certificate %zu of the client CA bundle is not "
                          "valid before %s",
                          i + 1, iso_time(info.not_before, when, sizeof when));
    } else if (now_s > info.not_after) {
        rv = cr_error_set(err, CR_EINVAL,
                          "certificate %zu of the client CA bundle expired "
                          "at %s",
                          i + 1, iso_time(info.not_after, when, sizeof when));
    }
    cr_cert_info_free(&info);
    return rv;
}

static bool der_in(const struct cr_der_list *l, const struct cr_der *d)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (l->items[i].len == d->len &&
            memcmp(l->items[i].der, d->der, d->len) == 0) {
            return true;
        }
    }
    return false;
}

/* @out = (@old's certificates, when appending) then the new ones, each
 * once. Borrowed pointers: free only out->items. */
static enum cr_status merge(const struct cr_der_list *old,
                            const struct cr_der_list *add,
                            struct cr_der_list *out, struct cr_error *err)
{
    size_t total = (old != NULL ? old->n : 0) + add->n, i;

    out->n = 0;
    out->items = malloc((total > 0 ? total : 1) * sizeof *out->items);
    if (out->items == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; old != NULL && i < old->n; i++) {
        out->items[out->n++] = old->items[i];
    }
    for (i = 0; i < add->n; i++) {
        if (!der_in(out, &add->items[i])) {
            out->items[out->n++] = add->items[i];
        }
    }
    return CR_OK;
}

enum cr_status cr_apply_client_ca_put(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    const char *name = cmd->u.client_ca.name;
    struct cr_permission *perms = NULL;
    struct cr_der_list all = {NULL, 0};
    struct cr_ca_node *old, *n = NULL;
    size_t n_perms = 0, i;
    int64_t now_s = cr_ms_to_s(cmd->time_ms);
    bool append = cmd->u.client_ca.mode == CR_CLIENT_CA_APPEND;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_ADMIN,
                               "managing client CAs", &c->err))) {
        return rv;
    }
    if (!cr_client_ca_name_valid(name)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "invalid client CA name '%.128s': use 1..128 "
                            "characters of A-Z a-z 0-9 _ . - not starting "
                            "with '.'",
                            name != NULL ? name : "");
    }
    if (cmd->u.client_ca.clearance < CR_CLEARANCE_VALID_USER ||
        cmd->u.client_ca.clearance > CR_CLEARANCE_CLUSTER_ADMIN) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "a client CA grants ValidUser, Operator or "
                            "ClusterAdmin; nodes authenticate with the "
                            "cluster certificate");
    }
    if (cmd->u.client_ca.certs.n == 0) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "the client CA bundle has no certificate");
    }
    for (i = 0; i < cmd->u.client_ca.certs.n; i++) {
        if ((rv = member_check(&cmd->u.client_ca.certs.items[i], i, now_s,
                               &c->err))) {
            return rv;
        }
    }
    if ((rv = cr_perms_normalize(cmd->u.client_ca.perms,
                                 cmd->u.client_ca.n_perms, &perms, &n_perms,
                                 &c->err))) {
        return rv;
    }
    old = cr_ca_find(c->st, name);
    if ((rv = merge(append && old != NULL ? &old->ca.certs : NULL,
                    &cmd->u.client_ca.certs, &all, &c->err))) {
        goto out;
    }
    if (all.n > CR_CLIENT_CA_MAX_CERTS) {
        rv = cr_error_set(&c->err, CR_EINVAL,
                          "a client CA bundle holds at most %d certificates "
                          "(this one would hold %zu); use REPLACE to drop "
                          "old ones",
                          CR_CLIENT_CA_MAX_CERTS, all.n);
        goto out;
    }
    n = cr_ca_node_new(name, &all, cmd->u.client_ca.clearance, perms,
                       n_perms, old != NULL ? old->ca.added_index : c->index,
                       c->index, cmd->time_ms);
    if (n == NULL || cr_ca_put(c->st, n) != 0) {
        cr_ca_node_free(n);
        rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(c->info, sizeof c->info, "client CA '%s' holds %zu certificates",
             name, all.n);
out:
    free(all.items);
    cr_perms_free(perms, n_perms);
    return rv;
}

enum cr_status cr_apply_client_ca_delete(struct apply_ctx *c)
{
    const char *name = c->cmd->u.client_ca.name;
    struct cr_ca_node *n;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_ADMIN,
                               "managing client CAs", &c->err))) {
        return rv;
    }
    n = cr_ca_find(c->st, name);
    if (n == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "client CA '%.128s' does not exist",
                            name != NULL ? name : "");
    }
    if (c->id.kind == CR_IDENTITY_CLIENT_CA && c->id.client_ca == &n->ca) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "you cannot delete client CA '%s': the "
                            "certificate you are connected with chains to it",
                            name);
    }
    cr_ca_remove(c->st, n);
    return CR_OK;
}
