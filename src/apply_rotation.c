/*
 * apply_rotation.c - replacing the cluster certificate through the log
 * (RavenDB's flow), the replicated half; replacement.c holds the record
 * and the switch rule, the node layer holds keys and TLS contexts.
 *
 *   INSTALL   (ClusterAdmin+) registers the new certificate as a
 *             ClusterNode entry beside the old one, so raft peers and
 *             clients trust both, and records the replacement with the
 *             new private key sealed by the node layer (opaque here).
 *   CONFIRM   (a cluster node) this node holds the new certificate.
 *   SWITCHED  (a cluster node) this node serves the new certificate.
 *   CLEANUP   (ClusterAdmin+, after every voter switched) the new
 *             certificate becomes the cluster certificate and the old
 *             one's entry goes.
 *
 * One replacement at a time: a second INSTALL while one is in progress is
 * a conflict. The record stays, phase DONE, after cleanup, so a node that
 * was away can still see what happened; the next INSTALL replaces it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"

static enum cr_status not_in_progress(struct apply_ctx *c)
{
    return cr_error_set(&c->err, CR_ECONFLICT,
                        "no cluster certificate replacement is in progress; "
                        "start one with POST "
                        "/admin/certificates/replace-cluster-cert");
}

/* The parts of a new record that need memory, made before anything
 * changes. */
static enum cr_status record_prepare(struct apply_ctx *c,
                                     struct cr_replacement *r)
{
    const struct cr_command *cmd = c->cmd;
    const struct cr_der *sk = &cmd->u.cluster_install.sealed_key;
    const struct cr_der_list *chain = &cmd->u.cluster_install.chain;
    size_t i;

    memset(r, 0, sizeof *r);
    r->sealed_key.der = malloc(sk->len);
    if (r->sealed_key.der == NULL) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    memcpy(r->sealed_key.der, sk->der, sk->len);
    r->sealed_key.len = sk->len;
    for (i = 0; i < chain->n; i++) {
        if (cr_der_list_append(&r->chain, chain->items[i].der,
                               chain->items[i].len) != CR_OK) {
            cr_replacement_free(r);
            return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        }
    }
    return CR_OK;
}

/* The new certificate and its chain parse; the certificate is valid at
 * the command's time and is not the cluster certificate already. */
static enum cr_status install_check(struct apply_ctx *c,
                                    struct cr_cert_info *info)
{
    const struct cr_command *cmd = c->cmd;
    const struct cr_der_list *chain = &cmd->u.cluster_install.chain;
    struct cr_cert_info ci;
    struct cr_error perr;
    enum cr_status rv;
    size_t i;

    if ((rv = cr_cert_info_from_der(cmd->u.cluster_install.cert.der,
                                    cmd->u.cluster_install.cert.len, info,
                                    &perr))) {
        return cr_error_set(&c->err, rv, "the new cluster certificate: %s",
                            perr.msg);
    }
    for (i = 0; i < chain->n; i++) {
        if ((rv = cr_cert_info_from_der(chain->items[i].der,
                                        chain->items[i].len, &ci, &perr))) {
            cr_cert_info_free(info);
            return cr_error_set(&c->err, rv,
                                "certificate %zu of the new cluster "
                                "certificate's chain: %s",
                                i + 1, perr.msg);
        }
        cr_cert_info_free(&ci);
    }
    if ((rv = cr_auth_validity_check(info->thumbprint, info->not_before,
                                     info->not_after, cmd->time_ms,
                                     &perr))) {
        cr_cert_info_free(info);
        return cr_error_set(&c->err, CR_EINVAL, "the new cluster %s",
                            perr.msg);
    }
    if (cr_registry_is_cluster(&c->st->reg, info->thumbprint)) {
        rv = cr_error_set(&c->err, CR_ECONFLICT,
                          "certificate %s is the cluster certificate already",
                          info->thumbprint);
        cr_cert_info_free(info);
    }
    return rv;
}

enum cr_status cr_apply_cluster_install(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_state *st = c->st;
    struct cr_cert_node *existing, *n = NULL, *old;
    struct cr_replacement r;
    struct cr_cert_info info;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_ADMIN,
                               "replacing the cluster certificate",
                               &c->err))) {
        return rv;
    }
    if (!cr_state_bootstrapped(st)) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "the cluster is not bootstrapped yet");
    }
    if (cr_replacement_in_progress(&st->repl)) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "a cluster certificate replacement is already in "
                            "progress (new certificate %s, phase %s); let it "
                            "finish first",
                            st->repl.new_thumbprint,
                            cr_replacement_phase_name(st->repl.phase));
    }
    if ((rv = install_check(c, &info))) {
        return rv;
    }
    existing = cr_registry_find(&st->reg, info.thumbprint);
    if (existing != NULL &&
        (existing->e.primary[0] != '\0' || existing->e.disabled ||
         existing->e.clearance != CR_CLEARANCE_CLUSTER_NODE)) {
        cr_cert_info_free(&info);
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "certificate %s is registered already, not as an "
                            "enabled ClusterNode certificate; delete it first",
                            existing->e.thumbprint);
    }
    if ((rv = record_prepare(c, &r))) {
        cr_cert_info_free(&info);
        return rv;
    }
    if (existing == NULL) {
        n = cr_cert_node_new(&info, CR_CLUSTER_CERT_REPLACEMENT_NAME,
                             CR_CLEARANCE_CLUSTER_NODE, NULL, 0, c->index,
                             cmd->time_ms);
        if (n == NULL || cr_registry_insert(&st->reg, n) != 0) {
            cr_cert_node_free(n);
            cr_cert_info_free(&info);
            cr_replacement_free(&r);
            return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        }
    }
    old = cr_registry_find(&st->reg, st->reg.cluster[0]);
    r.phase = CR_REPLACEMENT_INSTALLED;
    memcpy(r.new_thumbprint, info.thumbprint, CR_THUMBPRINT_LEN + 1);
    memcpy(r.old_thumbprint, st->reg.cluster[0], CR_THUMBPRINT_LEN + 1);
    r.switch_now = cmd->u.cluster_install.switch_now;
    r.started_ms = cmd->time_ms;
    r.started_index = c->index;
    r.new_not_after = info.not_after;
    r.old_not_after = old != NULL ? old->e.not_after : 0;
    cr_cert_info_free(&info);
    cr_replacement_free(&st->repl); /* a finished one, if any */
    st->repl = r;
    snprintf(c->info, sizeof c->info,
             "the new cluster certificate is trusted; nodes now confirm "
             "they hold it, then switch");
    return CR_OK;
}

static void id_set_remove(uint64_t *ids, size_t *n, uint64_t id)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        if (ids[i] == id) {
            memmove(ids + i, ids + i + 1, (*n - i - 1) * sizeof *ids);
            (*n)--;
            return;
        }
    }
}

/* CONFIRM and SWITCHED. */
enum cr_status cr_apply_cluster_node_report(struct apply_ctx *c)
{
    struct cr_replacement *r = &c->st->repl;
    uint64_t id = c->cmd->u.cluster_node.node_id;
    bool switched = c->cmd->type == CR_CMD_CLUSTER_CERT_SWITCHED;
    bool had;

    if (c->id.kind != CR_IDENTITY_CERTIFICATE ||
        c->id.clearance != CR_CLEARANCE_CLUSTER_NODE) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "only a cluster node (with the cluster "
                            "certificate, old or new) reports on a "
                            "certificate replacement; certificate %s has %s",
                            c->id.thumbprint,
                            cr_clearance_name(c->id.clearance));
    }
    if (!cr_replacement_in_progress(r)) {
        return not_in_progress(c);
    }
    if (id == 0) {
        return cr_error_set(&c->err, CR_EINVAL, "node ids start at 1");
    }
    if (!switched) {
        if (cr_id_set_add(&r->confirmed, &r->n_confirmed, id) != 0) {
            return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        }
        if (r->phase == CR_REPLACEMENT_INSTALLED) {
            r->phase = CR_REPLACEMENT_CONFIRMING;
        }
        return CR_OK;
    }
    /* A node that serves the new certificate holds it, too. */
    had = cr_id_set_has(r->switched, r->n_switched, id);
    if (cr_id_set_add(&r->switched, &r->n_switched, id) != 0) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    if (cr_id_set_add(&r->confirmed, &r->n_confirmed, id) != 0) {
        if (!had) {
            id_set_remove(r->switched, &r->n_switched, id);
        }
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    r->phase = CR_REPLACEMENT_SWITCHING;
    return CR_OK;
}

enum cr_status cr_apply_cluster_cleanup(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_state *st = c->st;
    struct cr_replacement *r = &st->repl;
    struct cr_cert_node *nn, *old;
    char *name;
    size_t i;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_ADMIN,
                               "finishing a cluster certificate replacement",
                               &c->err))) {
        return rv;
    }
    if (!cr_replacement_in_progress(r)) {
        return not_in_progress(c);
    }
    snprintf(c->target, sizeof c->target, "%s", r->new_thumbprint);
    if (r->n_switched == 0) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "no node serves the new cluster certificate yet; "
                            "clean up once every voter has switched");
    }
    for (i = 0; i < cmd->u.cluster_cleanup.n_voters; i++) {
        uint64_t v = cmd->u.cluster_cleanup.voters[i];
        if (!cr_id_set_has(r->switched, r->n_switched, v)) {
            return cr_error_set(&c->err, CR_ECONFLICT,
                                "node %llu has not switched to the new "
                                "cluster certificate yet; removing the old "
                                "one now would cut it off",
                                (unsigned long long)v);
        }
    }
    nn = cr_registry_find(&st->reg, r->new_thumbprint);
    if (nn == NULL) {
        return cr_error_set(&c->err, CR_EINTERNAL,
                            "the new cluster certificate %s is missing from "
                            "the registry",
                            r->new_thumbprint);
    }
    name = strdup(CR_CLUSTER_CERT_NAME);
    if (name == NULL || cr_registry_cluster_add(&st->reg, nn->e.thumbprint)) {
        free(name);
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    /* Nothing below allocates. */
    free(nn->e.name);
    nn->e.name = name;
    for (i = 1; i < st->reg.n_cluster; i++) {
        if (strcmp(st->reg.cluster[i], r->old_thumbprint) == 0) {
            memmove(&st->reg.cluster[i], &st->reg.cluster[i + 1],
                    (st->reg.n_cluster - i - 1) * sizeof *st->reg.cluster);
            st->reg.n_cluster--;
            break;
        }
    }
    old = cr_registry_find(&st->reg, r->old_thumbprint);
    if (old != NULL) {
        if (old->e.primary[0] != '\0') {
            cr_registry_drop_secondary(&st->reg, old);
        } else {
            cr_registry_drop_collection(&st->reg, old);
        }
    }
    free(r->confirmed);
    free(r->switched);
    r->confirmed = r->switched = NULL;
    r->n_confirmed = r->n_switched = 0;
    r->phase = CR_REPLACEMENT_DONE;
    r->finished_ms = cmd->time_ms;
    return CR_OK;
}
