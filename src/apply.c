/*
 * apply.c - the deterministic apply() of one committed log entry, and
 * RavenDB's rules for the registry, database and node commands.
 *
 * Everything here depends only on the state and the entry's bytes: the
 * command carries the leader's clock for validity checks, and nothing
 * reads the wall clock, randomness or pointer order. A refused command
 * changes nothing but the applied index and the audit trail. The later
 * command groups live in apply_trust.c, apply_client_ca.c,
 * apply_rotation.c and apply_etl.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"

/* --- helpers --------------------------------------------------------- */

static enum cr_status name_check(const char *name, struct cr_error *err)
{
    if (name == NULL || name[0] == '\0') {
        return cr_error_set(err, CR_EINVAL, "the certificate Name is empty");
    }
    if (strlen(name) > CR_CERT_NAME_MAX) {
        return cr_error_set(err, CR_EINVAL,
                            "the certificate Name is longer than %d bytes",
                            CR_CERT_NAME_MAX);
    }
    return CR_OK;
}

static bool in_collection(const struct cr_cert_entry *primary,
                          const char *thumb)
{
    size_t i;

    if (strcmp(primary->thumbprint, thumb) == 0) {
        return true;
    }
    for (i = 0; i < primary->n_secondaries; i++) {
        if (strcmp(primary->secondaries[i], thumb) == 0) {
            return true;
        }
    }
    return false;
}

/* The nodes of @primary's collection, primary first (malloc'ed). */
static struct cr_cert_node **collection_nodes(struct cr_registry *reg,
                                              struct cr_cert_node *primary,
                                              size_t *n)
{
    struct cr_cert_node **out =
        malloc((primary->e.n_secondaries + 1) * sizeof *out);
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    out[0] = primary;
    *n = 1;
    for (i = 0; i < primary->e.n_secondaries; i++) {
        struct cr_cert_node *s = cr_registry_find(reg, primary->e.secondaries[i]);
        if (s != NULL) {
            out[(*n)++] = s;
        }
    }
    return out;
}

static bool is_cluster_thumb(const struct cr_state *st, const char *thumb)
{
    return cr_registry_is_cluster(&st->reg, thumb) ||
           (cr_replacement_in_progress(&st->repl) &&
            strcmp(st->repl.new_thumbprint, thumb) == 0);
}

bool cr_apply_cluster_collection(const struct cr_state *st,
                                 const struct cr_cert_entry *primary)
{
    size_t i;

    if (is_cluster_thumb(st, primary->thumbprint)) {
        return true;
    }
    for (i = 0; i < primary->n_secondaries; i++) {
        if (is_cluster_thumb(st, primary->secondaries[i])) {
            return true;
        }
    }
    return false;
}

bool cr_apply_caller_owns(const struct apply_ctx *c,
                          const struct cr_cert_entry *primary)
{
    return in_collection(primary, c->cmd->caller) ||
           (c->id.kind == CR_IDENTITY_IMPLICIT && c->id.entry == primary);
}

/* Insert every node of @nodes; on failure nothing stays inserted. */
static enum cr_status insert_all(struct cr_registry *reg,
                                 struct cr_cert_node **nodes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (cr_registry_insert(reg, nodes[i]) != 0) {
            while (i-- > 0) {
                cr_registry_unlink(reg, nodes[i]);
            }
            return CR_ENOMEM;
        }
    }
    return CR_OK;
}

static void free_nodes(struct cr_cert_node **nodes, size_t n)
{
    size_t i;

    for (i = 0; nodes != NULL && i < n; i++) {
        cr_cert_node_free(nodes[i]);
    }
    free(nodes);
}

/* --- bootstrap ------------------------------------------------------- */

static enum cr_status apply_bootstrap(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_registry *reg = &c->st->reg;
    struct cr_cert_info ci, ai;
    struct cr_cert_node *nodes[2] = {NULL, NULL};
    enum cr_status rv;

    if (cr_state_bootstrapped(c->st)) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "the cluster is already bootstrapped");
    }
    if ((rv = name_check(cmd->u.bootstrap.admin_name, &c->err)) != CR_OK) {
        return rv;
    }
    rv = cr_cert_info_from_der(cmd->u.bootstrap.cluster_cert.der,
                               cmd->u.bootstrap.cluster_cert.len, &ci, &c->err);
    if (rv != CR_OK) {
        return rv;
    }
    rv = cr_cert_info_from_der(cmd->u.bootstrap.admin_cert.der,
                               cmd->u.bootstrap.admin_cert.len, &ai, &c->err);
    if (rv != CR_OK) {
        cr_cert_info_free(&ci);
        return rv;
    }
    if (strcmp(ci.thumbprint, ai.thumbprint) == 0) {
        rv = cr_error_set(&c->err, CR_EINVAL,
                          "the admin certificate must differ from the "
                          "cluster certificate");
    } else if (cr_registry_find(reg, ci.thumbprint) != NULL ||
               cr_registry_find(reg, ai.thumbprint) != NULL) {
        rv = cr_error_set(&c->err, CR_ECONFLICT,
                          "a bootstrap certificate is registered already");
    } else {
        nodes[0] = cr_cert_node_new(&ci, CR_CLUSTER_CERT_NAME,
                                    CR_CLEARANCE_CLUSTER_NODE, NULL, 0,
                                    c->index, cmd->time_ms);
        nodes[1] = cr_cert_node_new(&ai, cmd->u.bootstrap.admin_name,
                                    CR_CLEARANCE_CLUSTER_ADMIN, NULL, 0,
                                    c->index, cmd->time_ms);
        if (nodes[0] == NULL || nodes[1] == NULL ||
            insert_all(reg, nodes, 2) != CR_OK) {
            rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        } else if (cr_registry_cluster_add(reg, nodes[0]->e.thumbprint) != 0) {
            cr_registry_unlink(reg, nodes[0]);
            cr_registry_unlink(reg, nodes[1]);
            rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        }
        if (rv != CR_OK) {
            cr_cert_node_free(nodes[0]);
            cr_cert_node_free(nodes[1]);
        }
    }
    cr_cert_info_free(&ci);
    cr_cert_info_free(&ai);
    return rv;
}

/* --- CERT_PUT -------------------------------------------------------- */

/* Parsed members of an upload, duplicates dropped, primary first. */
struct members {
    struct cr_cert_info *info;
    size_t n;
};

static void members_free(struct members *m)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        cr_cert_info_free(&m->info[i]);
    }
    free(m->info);
}

static enum cr_status members_parse(const struct cr_command *cmd,
                                    struct members *m, struct cr_error *err)
{
    const struct cr_der_list *certs = &cmd->u.cert_put.certs;
    size_t i, j;

    m->n = 0;
    m->info = calloc(certs->n > 0 ? certs->n : 1, sizeof *m->info);
    if (m->info == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < certs->n; i++) {
        struct cr_cert_info *in = &m->info[m->n];
        bool dup = false;
        enum cr_status rv = cr_cert_put_member(cmd, i, in, err);
        if (rv != CR_OK) {
            return rv;
        }
        for (j = 0; j < m->n && !dup; j++) {
            dup = strcmp(m->info[j].thumbprint, in->thumbprint) == 0;
        }
        if (dup) {
            cr_cert_info_free(in);
        } else {
            m->n++;
        }
    }
    return CR_OK;
}

/* May the caller replace the collection @old (NULL: a new one)? */
static enum cr_status put_check_existing(struct apply_ctx *c,
                                         const struct cr_cert_node *old,
                                         const struct members *m)
{
    const struct cr_command *cmd = c->cmd;
    enum cr_status rv;
    size_t i;
    bool keeps_caller = false;

    if (old == NULL) {
        return CR_OK;
    }
    if (cr_apply_cluster_collection(c->st, &old->e)) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "certificate %s is the cluster certificate; it "
                            "cannot be replaced by an upload",
                            old->e.thumbprint);
    }
    if ((rv = cr_authz_manage_cert(&c->id, old->e.clearance, &c->err))) {
        return rv;
    }
    if (!cr_apply_caller_owns(c, &old->e)) {
        return CR_OK;
    }
    /* Replacing the caller's own collection must not change its rights or
     * drop the certificate it is connected with. */
    for (i = 0; i < m->n; i++) {
        keeps_caller |= strcmp(m->info[i].thumbprint, cmd->caller) == 0;
    }
    if (cmd->u.cert_put.clearance != old->e.clearance || !keeps_caller) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "you cannot change the clearance of, or remove, "
                            "the certificate you are connected with (%s)",
                            cmd->caller);
    }
    return CR_OK;
}

/* Every secondary must be new, or a member of the collection replaced. */
static enum cr_status put_check_members(struct apply_ctx *c,
                                        const char *primary,
                                        const struct members *m)
{
    size_t i;

    for (i = 1; i < m->n; i++) {
        const struct cr_cert_node *e =
            cr_registry_find(&c->st->reg, m->info[i].thumbprint);
        if (e != NULL && strcmp(e->e.thumbprint, primary) != 0 &&
            strcmp(e->e.primary, primary) != 0) {
            return cr_error_set(
                &c->err, CR_ECONFLICT,
                "certificate %s is already registered in collection %s; "
                "delete it there first",
                e->e.thumbprint,
                e->e.primary[0] != '\0' ? e->e.primary : e->e.thumbprint);
        }
    }
    return CR_OK;
}

static struct cr_cert_node **put_build(struct apply_ctx *c, struct members *m,
                                       const struct cr_permission *perms,
                                       size_t n_perms)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_cert_node **nodes = calloc(m->n, sizeof *nodes);
    struct cr_cert_node *p;
    size_t i;

    if (nodes == NULL) {
        return NULL;
    }
    for (i = 0; i < m->n; i++) {
        nodes[i] = cr_cert_node_new(&m->info[i], cmd->u.cert_put.name,
                                    cmd->u.cert_put.clearance, perms, n_perms,
                                    c->index, cmd->time_ms);
        if (nodes[i] == NULL) {
            free_nodes(nodes, i);
            return NULL;
        }
    }
    p = nodes[0];
    if (m->n > 1) {
        p->e.secondaries = malloc((m->n - 1) * sizeof *p->e.secondaries);
        if (p->e.secondaries == NULL) {
            free_nodes(nodes, m->n);
            return NULL;
        }
        p->e.n_secondaries = m->n - 1;
    }
    for (i = 1; i < m->n; i++) {
        memcpy(p->e.secondaries[i - 1], nodes[i]->e.thumbprint,
               CR_THUMBPRINT_LEN + 1);
        memcpy(nodes[i]->e.primary, p->e.thumbprint, CR_THUMBPRINT_LEN + 1);
    }
    return nodes;
}

static enum cr_status apply_cert_put(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_registry *reg = &c->st->reg;
    struct cr_permission *perms = NULL;
    struct cr_cert_node *old, **old_nodes = NULL, **nodes = NULL;
    struct members m = {NULL, 0};
    size_t n_perms = 0, n_old = 0, i;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "uploading a certificate", &c->err)) ||
        (rv = cr_authz_manage_cert(&c->id, cmd->u.cert_put.clearance,
                                   &c->err)) ||
        (rv = name_check(cmd->u.cert_put.name, &c->err)) ||
        (rv = cr_perms_normalize(cmd->u.cert_put.perms,
                                 cmd->u.cert_put.n_perms, &perms, &n_perms,
                                 &c->err)) ||
        (rv = members_parse(cmd, &m, &c->err))) {
        goto out;
    }
    old = cr_registry_find(reg, m.info[0].thumbprint);
    if (old != NULL && old->e.primary[0] != '\0') {
        rv = cr_error_set(&c->err, CR_ECONFLICT,
                          "certificate %s is a secondary certificate of "
                          "collection %s; replace or delete the primary",
                          old->e.thumbprint, old->e.primary);
        goto out;
    }
    if ((rv = put_check_existing(c, old, &m)) ||
        (rv = put_check_members(c, m.info[0].thumbprint, &m))) {
        goto out;
    }
    nodes = put_build(c, &m, perms, n_perms);
    if (nodes == NULL ||
        (old != NULL && (old_nodes = collection_nodes(reg, old, &n_old)) ==
                            NULL)) {
        rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n_old; i++) {
        cr_registry_unlink(reg, old_nodes[i]);
    }
    if (insert_all(reg, nodes, m.n) != CR_OK) {
        /* Put the old collection back; it fitted before. */
        insert_all(reg, old_nodes, n_old);
        rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        goto out;
    }
    free_nodes(old_nodes, n_old);
    old_nodes = NULL;
    free(nodes);
    nodes = NULL;
out:
    free(old_nodes);
    free_nodes(nodes, m.n);
    members_free(&m);
    cr_perms_free(perms, n_perms);
    return rv;
}

/* --- CERT_DELETE ----------------------------------------------------- */

static enum cr_status find_primary(struct apply_ctx *c, const char *thumb,
                                   const char *verb, struct cr_cert_node **out)
{
    struct cr_cert_node *n = cr_registry_find(&c->st->reg, thumb);

    if (n == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "certificate %s is not registered", thumb);
    }
    if (n->e.primary[0] != '\0') {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "certificate %s is a secondary certificate of "
                            "collection %s; %s the primary",
                            thumb, n->e.primary, verb);
    }
    *out = n;
    return CR_OK;
}

static enum cr_status apply_cert_delete(struct apply_ctx *c)
{
    const char *thumb = c->cmd->u.cert_delete.thumbprint;
    struct cr_registry *reg = &c->st->reg;
    struct cr_cert_node *n = NULL, **nodes;
    size_t count, i;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "deleting a certificate", &c->err)) ||
        (rv = find_primary(c, thumb, "delete", &n)) ||
        (rv = cr_authz_manage_cert(&c->id, n->e.clearance, &c->err))) {
        return rv;
    }
    if (cr_apply_caller_owns(c, &n->e)) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "you cannot delete the certificate you are "
                            "connected with (%s)",
                            c->cmd->caller);
    }
    if (cr_apply_cluster_collection(c->st, &n->e)) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "certificate %s is the cluster certificate; "
                            "replace it instead of deleting it",
                            thumb);
    }
    nodes = collection_nodes(reg, n, &count);
    if (nodes == NULL) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < count; i++) {
        cr_registry_unlink(reg, nodes[i]);
    }
    free_nodes(nodes, count);
    return CR_OK;
}

/* --- CERT_EDIT ------------------------------------------------------- */

/* New values for every member, allocated before anything changes. */
struct edit_plan {
    char **names;
    struct cr_permission **perms;
    size_t n;
};

static void edit_plan_free(struct edit_plan *p, size_t n_perms)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->names != NULL) {
            free(p->names[i]);
        }
        if (p->perms != NULL) {
            cr_perms_free(p->perms[i], n_perms);
        }
    }
    free(p->names);
    free(p->perms);
}

static enum cr_status edit_check(struct apply_ctx *c,
                                 const struct cr_cert_node *n)
{
    const struct cr_command *cmd = c->cmd;
    bool clearance_changes = cmd->u.cert_edit.set_clearance &&
                             cmd->u.cert_edit.clearance != n->e.clearance;
    bool disabled_changes = cmd->u.cert_edit.disabled != -1 &&
                            (cmd->u.cert_edit.disabled == 1) != n->e.disabled;
    enum cr_status rv;

    if ((rv = cr_authz_manage_cert(&c->id, n->e.clearance, &c->err))) {
        return rv;
    }
    if (cmd->u.cert_edit.set_clearance &&
        (rv = cr_authz_manage_cert(&c->id, cmd->u.cert_edit.clearance,
                                   &c->err))) {
        return rv;
    }
    if (cmd->u.cert_edit.name != NULL &&
        (rv = name_check(cmd->u.cert_edit.name, &c->err))) {
        return rv;
    }
    /* RavenDB: nobody changes the clearance of, or disables, the
     * certificate they are connected with. Unchanged values pass, so
     * renaming one's own certificate still works. */
    if ((clearance_changes || disabled_changes) &&
        cr_apply_caller_owns(c, &n->e)) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "you cannot change the clearance of, or disable, "
                            "the certificate you are connected with (%s)",
                            cmd->caller);
    }
    if ((clearance_changes || disabled_changes) &&
        cr_apply_cluster_collection(c->st, &n->e)) {
        return cr_error_set(&c->err, CR_EFORBIDDEN,
                            "certificate %s is the cluster certificate; its "
                            "clearance cannot change and it cannot be "
                            "disabled",
                            n->e.thumbprint);
    }
    return CR_OK;
}

static enum cr_status apply_cert_edit(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_registry *reg = &c->st->reg;
    struct cr_cert_node *n = NULL, **nodes = NULL;
    struct cr_permission *perms = NULL;
    struct edit_plan plan = {NULL, NULL, 0};
    size_t n_perms = 0, count = 0, i;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "editing a certificate", &c->err)) ||
        (rv = find_primary(c, cmd->u.cert_edit.thumbprint, "edit", &n)) ||
        (rv = edit_check(c, n))) {
        return rv;
    }
    if (cmd->u.cert_edit.set_perms &&
        (rv = cr_perms_normalize(cmd->u.cert_edit.perms,
                                 cmd->u.cert_edit.n_perms, &perms, &n_perms,
                                 &c->err))) {
        return rv;
    }
    nodes = collection_nodes(reg, n, &count);
    plan.n = count;
    plan.names = calloc(count, sizeof *plan.names);
    plan.perms = calloc(count, sizeof *plan.perms);
    if (nodes == NULL || plan.names == NULL || plan.perms == NULL) {
        rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        if ((cmd->u.cert_edit.name != NULL &&
             (plan.names[i] = strdup(cmd->u.cert_edit.name)) == NULL) ||
            (cmd->u.cert_edit.set_perms &&
             cr_perms_copy(perms, n_perms, &plan.perms[i]) != CR_OK)) {
            rv = cr_error_set(&c->err, CR_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* Members mirror the primary so that listings agree with it. */
    for (i = 0; i < count; i++) {
        struct cr_cert_entry *e = &nodes[i]->e;
        if (cmd->u.cert_edit.name != NULL) {
            free(e->name);
            e->name = plan.names[i];
            plan.names[i] = NULL;
        }
        if (cmd->u.cert_edit.set_perms) {
            struct cr_permission *tmp = e->perms;
            size_t tmp_n = e->n_perms;
            e->perms = plan.perms[i];
            e->n_perms = n_perms;
            plan.perms[i] = NULL;
            cr_perms_free(tmp, tmp_n);
        }
        if (cmd->u.cert_edit.set_clearance) {
            e->clearance = cmd->u.cert_edit.clearance;
        }
        if (cmd->u.cert_edit.disabled != -1) {
            e->disabled = cmd->u.cert_edit.disabled == 1;
        }
    }
out:
    edit_plan_free(&plan, n_perms);
    free(nodes);
    cr_perms_free(perms, n_perms);
    return rv;
}

/* --- databases and documents ------------------------------------------ */

static enum cr_status apply_db_put(struct apply_ctx *c)
{
    const char *name = c->cmd->u.db.name;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "creating a database", &c->err))) {
        return rv;
    }
    if (!cr_database_name_valid(name)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "invalid database name '%.128s': use 1..128 "
                            "characters of A-Z a-z 0-9 _ . - not starting "
                            "with '.'",
                            name);
    }
    if (cr_db_find(c->st, name) != NULL) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "database '%s' exists already", name);
    }
    if (cr_db_create(c->st, name) != CR_OK) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    return CR_OK;
}

static enum cr_status db_missing(struct apply_ctx *c, const char *name)
{
    return cr_error_set(&c->err, CR_ENOTFOUND,
                        "database '%.128s' does not exist", name);
}

static enum cr_status apply_db_delete(struct apply_ctx *c)
{
    const char *name = c->cmd->u.db.name;
    struct cr_database *db;
    enum cr_status rv;

    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_OPERATOR,
                               "deleting a database", &c->err))) {
        return rv;
    }
    db = cr_db_find(c->st, name);
    if (db == NULL) {
        return db_missing(c, name);
    }
    /* Permissions naming the database stay, as in RavenDB: a database
     * created again under the same name is reachable again. */
    cr_db_drop(c->st, db);
    return CR_OK;
}

static enum cr_status apply_doc(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    struct cr_database *db = cr_db_find(c->st, cmd->u.doc.db);
    struct cr_doc *doc;
    enum cr_status rv;

    if (db == NULL) {
        return db_missing(c, cmd->u.doc.db);
    }
    if ((rv = cr_authz_require_db(&c->id, cmd->u.doc.db,
                                  CR_ACCESS_READ_WRITE, &c->err))) {
        return rv;
    }
    if (!cr_document_id_valid(cmd->u.doc.id)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "invalid document id: use 1..512 bytes without "
                            "control characters");
    }
    if (cmd->type == CR_CMD_DOC_PUT) {
        if (cmd->u.doc.json == NULL) {
            return cr_error_set(&c->err, CR_EINVAL, "the document is empty");
        }
        if ((rv = cr_doc_put(db, cmd->u.doc.id, cmd->u.doc.json,
                             cmd->u.doc.json_len, c->index, cmd->time_ms))) {
            return cr_error_set(&c->err, rv,
                                rv == CR_ENOMEM ? "out of memory"
                                                : "log index already used");
        }
        return CR_OK;
    }
    doc = cr_doc_find(db, cmd->u.doc.id);
    if (doc == NULL) {
        return cr_error_set(&c->err, CR_ENOTFOUND,
                            "document '%.128s' does not exist in database "
                            "'%.128s'",
                            cmd->u.doc.id, cmd->u.doc.db);
    }
    if ((rv = cr_doc_drop(db, doc, c->index, cmd->time_ms)) != CR_OK) {
        return cr_error_set(&c->err, rv,
                            rv == CR_ENOMEM ? "out of memory"
                                            : "log index already used");
    }
    return CR_OK;
}

/* --- nodes ----------------------------------------------------------- */

static enum cr_status apply_node(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    const struct cr_pending_node *other;
    struct cr_pending_node *same;
    enum cr_status rv;

    /* ClusterNode ranks above ClusterAdmin, so nodes pass too. */
    if ((rv = cr_authz_require(&c->id, CR_CLEARANCE_CLUSTER_ADMIN,
                               "changing the cluster's nodes", &c->err))) {
        return rv;
    }
    if (cmd->u.node.id == 0) {
        return cr_error_set(&c->err, CR_EINVAL, "node ids start at 1");
    }
    if (cmd->type != CR_CMD_NODE_PENDING) {
        /* JOINED: the join certificate stops working. REMOVED: audit,
         * and forget an unfinished join. */
        cr_pending_remove(c->st, cmd->u.node.id);
        return CR_OK;
    }
    if (cmd->u.node.raft_address == NULL || !cmd->u.node.raft_address[0] ||
        cmd->u.node.api_url == NULL || !cmd->u.node.api_url[0] ||
        !cr_thumbprint_valid(cmd->u.node.join_thumbprint)) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "a pending node needs its raft address, API URL "
                            "and join certificate thumbprint");
    }
    same = cr_pending_find_id(c->st, cmd->u.node.id);
    if (same != NULL &&
        strcmp(same->join_thumbprint, cmd->u.node.join_thumbprint) != 0) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "node %llu is already pending with another join "
                            "certificate",
                            (unsigned long long)cmd->u.node.id);
    }
    other = cr_state_pending_node_by_thumbprint(c->st,
                                                cmd->u.node.join_thumbprint);
    if (other != NULL && other->id != cmd->u.node.id) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "the join certificate is already pending for node "
                            "%llu",
                            (unsigned long long)other->id);
    }
    if (cr_registry_find(&c->st->reg, cmd->u.node.join_thumbprint) != NULL) {
        return cr_error_set(&c->err, CR_ECONFLICT,
                            "the join certificate %s is a registered "
                            "certificate; use a fresh one",
                            cmd->u.node.join_thumbprint);
    }
    if (cr_pending_put(c->st, cmd->u.node.id, cmd->u.node.raft_address,
                       cmd->u.node.api_url, cmd->u.node.join_thumbprint,
                       c->index) != CR_OK) {
        return cr_error_set(&c->err, CR_ENOMEM, "out of memory");
    }
    return CR_OK;
}

/* --- apply ----------------------------------------------------------- */

static enum cr_status dispatch(struct apply_ctx *c)
{
    switch (c->cmd->type) {
    case CR_CMD_BOOTSTRAP: return apply_bootstrap(c);
    case CR_CMD_CERT_PUT: return apply_cert_put(c);
    case CR_CMD_CERT_DELETE: return apply_cert_delete(c);
    case CR_CMD_CERT_EDIT: return apply_cert_edit(c);
    case CR_CMD_DB_PUT: return apply_db_put(c);
    case CR_CMD_DB_DELETE: return apply_db_delete(c);
    case CR_CMD_DOC_PUT:
    case CR_CMD_DOC_DELETE: return apply_doc(c);
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED: return apply_node(c);
    case CR_CMD_CERT_PURGE: return cr_apply_cert_purge(c);
    case CR_CMD_CERT_IMPLICIT: return cr_apply_cert_implicit(c);
    case CR_CMD_CLIENT_CA_PUT: return cr_apply_client_ca_put(c);
    case CR_CMD_CLIENT_CA_DELETE: return cr_apply_client_ca_delete(c);
    case CR_CMD_CLUSTER_CERT_INSTALL: return cr_apply_cluster_install(c);
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED: return cr_apply_cluster_node_report(c);
    case CR_CMD_CLUSTER_CERT_CLEANUP: return cr_apply_cluster_cleanup(c);
    case CR_CMD_ETL_PUT: return cr_apply_etl_put(c);
    case CR_CMD_ETL_DELETE: return cr_apply_etl_delete(c);
    case CR_CMD_ETL_PROGRESS: return cr_apply_etl_progress(c);
    default:
        return cr_error_set(&c->err, CR_EINVAL, "unknown command type");
    }
}

/* What the audit record names: a thumbprint, a database, a node. */
static void command_target(const struct cr_command *cmd, char *out,
                           size_t size)
{
    out[0] = '\0';
    switch (cmd->type) {
    case CR_CMD_BOOTSTRAP:
        cr_thumbprint(cmd->u.bootstrap.cluster_cert.der,
                      cmd->u.bootstrap.cluster_cert.len, out);
        break;
    case CR_CMD_CERT_PUT:
        cr_thumbprint(cmd->u.cert_put.certs.items[0].der,
                      cmd->u.cert_put.certs.items[0].len, out);
        break;
    case CR_CMD_CERT_DELETE:
        snprintf(out, size, "%s", cmd->u.cert_delete.thumbprint);
        break;
    case CR_CMD_CERT_EDIT:
        snprintf(out, size, "%s", cmd->u.cert_edit.thumbprint);
        break;
    case CR_CMD_DB_PUT:
    case CR_CMD_DB_DELETE:
        snprintf(out, size, "%s", cmd->u.db.name);
        break;
    case CR_CMD_NODE_PENDING:
    case CR_CMD_NODE_JOINED:
    case CR_CMD_NODE_REMOVED:
        snprintf(out, size, "node %llu", (unsigned long long)cmd->u.node.id);
        break;
    case CR_CMD_CERT_IMPLICIT:
        snprintf(out, size, "%s", cmd->caller);
        break;
    case CR_CMD_CLIENT_CA_PUT:
    case CR_CMD_CLIENT_CA_DELETE:
        snprintf(out, size, "client CA %s",
                 cmd->u.client_ca.name != NULL ? cmd->u.client_ca.name : "");
        break;
    case CR_CMD_CLUSTER_CERT_INSTALL:
        cr_thumbprint(cmd->u.cluster_install.cert.der,
                      cmd->u.cluster_install.cert.len, out);
        break;
    case CR_CMD_CLUSTER_CERT_CONFIRM:
    case CR_CMD_CLUSTER_CERT_SWITCHED:
        snprintf(out, size, "node %llu",
                 (unsigned long long)cmd->u.cluster_node.node_id);
        break;
    case CR_CMD_ETL_PUT:
    case CR_CMD_ETL_DELETE:
    case CR_CMD_ETL_PROGRESS:
        snprintf(out, size, "%.128s/%.128s",
                 cmd->u.etl.db != NULL ? cmd->u.etl.db : "",
                 cmd->u.etl.name != NULL ? cmd->u.etl.name : "");
        break;
    case CR_CMD_CERT_PURGE:       /* apply_trust.c says how many */
    case CR_CMD_CLUSTER_CERT_CLEANUP: /* apply_rotation.c names the cert */
    default:
        break; /* documents are not audited */
    }
}

static const char *caller_name(const struct cr_state *st, const char *thumb)
{
    const struct cr_cert_entry *p =
        cr_state_cert_primary(st, cr_state_cert_find(st, thumb));

    return p != NULL ? p->name : "";
}

/* On success the message is what the command wants to report (a count,
 * what was registered), usually nothing. */
static void result_set(struct cr_apply_result *res, enum cr_status status,
                       const char *prefix, const char *msg, const char *info)
{
    res->status = status;
    if (status == CR_OK) {
        snprintf(res->message, sizeof res->message, "%s",
                 info != NULL ? info : "");
    } else {
        snprintf(res->message, sizeof res->message, "%s%s", prefix, msg);
    }
}

/* Who is calling, at this index. A command that carries the caller's
 * certificate may come from one that is not registered by thumbprint
 * (implicit trust, a client CA): authentication then runs every step on
 * it at the command's time, so a renewed certificate can act in the very
 * request that triggers its registration. */
static enum cr_status authenticate_caller(struct apply_ctx *c)
{
    const struct cr_command *cmd = c->cmd;
    char thumb[CR_THUMBPRINT_LEN + 1];

    if (cmd->caller_der.der == NULL || cmd->caller_der.len == 0) {
        if (cmd->type == CR_CMD_CERT_IMPLICIT) {
            return cr_error_set(&c->err, CR_EINVAL,
                                "implicit trust needs the caller's "
                                "certificate");
        }
        return cr_auth_by_thumbprint(c->st, cmd->caller, cmd->time_ms,
                                     &c->id, &c->err);
    }
    cr_thumbprint(cmd->caller_der.der, cmd->caller_der.len, thumb);
    if (strcmp(thumb, cmd->caller) != 0) {
        return cr_error_set(&c->err, CR_EINVAL,
                            "the caller's certificate has thumbprint %s, not "
                            "the caller's %s",
                            thumb, cmd->caller);
    }
    if (cmd->type == CR_CMD_CERT_IMPLICIT) {
        /* Step 4 only, and its own refusals: cr_apply_cert_implicit. */
        memset(&c->id, 0, sizeof c->id);
        memcpy(c->id.thumbprint, thumb, sizeof thumb);
        c->id.name = "";
        return CR_OK;
    }
    return cr_auth_authenticate_chain(
        c->st, cmd->caller_der.der, cmd->caller_der.len,
        cmd->caller_chain.items, cmd->caller_chain.n, cmd->time_ms, &c->id,
        &c->err);
}

void cr_state_apply(struct cr_state *st, uint64_t index, const void *data,
                    size_t len, struct cr_apply_result *res)
{
    struct cr_command cmd;
    struct apply_ctx c;
    enum cr_status rv;

    char id_name[CR_IDENTITY_CN_MAX + 1] = "";
    const char *name;

    memset(&c, 0, sizeof c);
    c.st = st;
    c.index = index;
    c.cmd = &cmd;
    st->applied_index = index;
    rv = cr_command_decode(data, len, &cmd, &c.err);
    if (rv != CR_OK) {
        rv = rv == CR_ENOMEM ? CR_ENOMEM : CR_EINVAL;
        result_set(res, rv, "malformed command: ", c.err.msg, NULL);
        cr_audit_append(&st->audit, index, 0, "", "", "Malformed", "", rv);
        return;
    }
    command_target(&cmd, c.target, sizeof c.target);
    if (cmd.type == CR_CMD_BOOTSTRAP) {
        rv = CR_OK; /* the system's own entry; decode made caller "" */
    } else {
        rv = authenticate_caller(&c);
    }
    if (rv == CR_OK) {
        /* The identity may point at entries the command removes. */
        snprintf(id_name, sizeof id_name, "%s",
                 c.id.name != NULL ? c.id.name : "");
        rv = dispatch(&c);
    }
    result_set(res, rv, "", c.err.msg, c.info);
    /* Document writes (and ETL progress reports, one per batch) are data
     * operations, not administration: auditing them would flood the
     * bounded trail and push out the records that matter (who changed
     * which certificate). */
    if (cmd.type != CR_CMD_DOC_PUT && cmd.type != CR_CMD_DOC_DELETE &&
        cmd.type != CR_CMD_ETL_PROGRESS && !(rv == CR_OK && c.no_op)) {
        /* The registered name after the change; else the name the caller
         * authenticated with (implicit trust, a client CA's CN). */
        name = caller_name(st, cmd.caller);
        cr_audit_append(&st->audit, index, cmd.time_ms, cmd.caller,
                        name[0] != '\0' ? name : id_name,
                        cr_command_type_name(cmd.type), c.target, rv);
    }
    cr_command_free(&cmd);
}
