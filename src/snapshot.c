/*
 * snapshot.c - the whole state as msgpack, and back.
 *
 * Format (version 3): a stream of msgpack objects rather than one huge
 * object, so that neither side ever holds a parsed tree of a million
 * certificates; each record is scanned and unpacked on its own.
 *
 *   header  {"v":2, "ai":applied index, "nc":certs, "cl":[cluster
 *            thumbprints, newest first], "pn":[[id, raft address, API URL,
 *            join thumbprint, added index]...], "ndb":databases,
 *            "na":audit records, "nca":client CAs, "rp":replacement}
 *            where "rp" is nil or [phase, new thumbprint, old thumbprint,
 *            sealed key, [chain der...], [confirmed id...], [switched
 *            id...], switch now, started ms, started index, finished ms,
 *            new not after, old not after]
 *   nc x    [thumbprint, der, name, clearance, [[db, access]...], disabled,
 *            primary, [secondary...], added index, added ms, subject,
 *            issuer, not before, not after, sha1, pin]    thumbprint order
 *   nca x   [name, [der...], clearance, [[db, access]...], status, added
 *            index, updated index, updated ms]             name order
 *   ndb x   [name, document count, tombstone count, ETL task count]
 *           then that many documents [id, json, change index, change ms]
 *           (id order), tombstones [id, change index, change ms] (id
 *           order) and tasks [name, [url...], destination db, script,
 *           [prefix...], created index, generation, updated ms,
 *           progress, progress ms] (name order)             name order
 *   na x    [index, time ms, caller, caller name, operation, target,
 *            status]                                           oldest first
 *
 * Version 2 has database records [name, document count] and documents
 * [id, json] only: no change indexes, tombstones or ETL tasks. It still
 * restores; each database's documents then get change indexes 1, 2, ...
 * in id order (deterministic, and before any later entry), with time 0.
 * The reader goes by each record's length rather than the header's
 * version, so either shape restores under any version.
 * Version 1 is version 2 without "nca" and "rp" (and no CA records); it
 * still restores, with no client CAs and no replacement.
 *
 * Everything is in sorted order, so equal states give equal bytes.
 * Restore checks every field and the links between collection members,
 * builds a fresh state, and swaps it in only when all of it was valid.
 * The pin index and the client CAs' verification stores are derived
 * data, rebuilt on restore.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mp.h"
#include "state_internal.h"

#define SNAPSHOT_VERSION 3
#define SNAPSHOT_VERSION_MIN 1
#define CERT_FIELDS 16
/* Bytes a certificate record holds at least: its three hex/base64 hashes. */
#define CERT_RECORD_MIN (CR_THUMBPRINT_LEN + CR_SHA1_LEN + CR_PIN_LEN)
#define CA_FIELDS 8
#define REPL_FIELDS 13
#define ETL_FIELDS 10
#define MAX_IDS 4096u
#define MAX_TEXT (64u * 1024)
#define MAX_JSON (64u * 1024 * 1024)

/* --- writing --------------------------------------------------------- */

static void pack_cert(msgpack_packer *pk, const struct cr_cert_entry *e)
{
    size_t i;

    msgpack_pack_array(pk, CERT_FIELDS);
    cr_mp_pack_str(pk, e->thumbprint);
    cr_mp_pack_bin(pk, e->der, e->der_len);
    cr_mp_pack_str(pk, e->name);
    msgpack_pack_uint64(pk, (uint64_t)e->clearance);
    msgpack_pack_array(pk, e->n_perms);
    for (i = 0; i < e->n_perms; i++) {
        msgpack_pack_array(pk, 2);
        cr_mp_pack_str(pk, e->perms[i].database);
        msgpack_pack_uint64(pk, (uint64_t)e->perms[i].access);
    }
    if (e->disabled) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    cr_mp_pack_str(pk, e->primary);
    msgpack_pack_array(pk, e->n_secondaries);
    for (i = 0; i < e->n_secondaries; i++) {
        cr_mp_pack_str(pk, e->secondaries[i]);
    }
    msgpack_pack_uint64(pk, e->added_index);
    msgpack_pack_int64(pk, e->added_ms);
    cr_mp_pack_str(pk, e->subject);
    cr_mp_pack_str(pk, e->issuer);
    msgpack_pack_int64(pk, e->not_before);
    msgpack_pack_int64(pk, e->not_after);
    cr_mp_pack_str(pk, e->sha1);
    cr_mp_pack_str(pk, e->pin);
}

static bool cert_write(const struct cr_cert_entry *e, void *arg)
{
    struct cr_mp_writer *w = arg;

    pack_cert(&w->pk, e);
    return !w->failed;
}

static bool doc_write(struct cr_omap_node *o, void *arg)
{
    struct cr_mp_writer *w = arg;
    struct cr_doc *d = CR_OMAP_ENTRY(o, struct cr_doc, node);

    msgpack_pack_array(&w->pk, 4);
    cr_mp_pack_str(&w->pk, d->id);
    cr_mp_pack_strn(&w->pk, d->json, d->len);
    msgpack_pack_uint64(&w->pk, d->change.index);
    msgpack_pack_int64(&w->pk, d->change.time_ms);
    return !w->failed;
}

static bool tombstone_write(struct cr_omap_node *o, void *arg)
{
    struct cr_mp_writer *w = arg;
    struct cr_tombstone *t = CR_OMAP_ENTRY(o, struct cr_tombstone, node);

    msgpack_pack_array(&w->pk, 3);
    cr_mp_pack_str(&w->pk, t->id);
    msgpack_pack_uint64(&w->pk, t->change.index);
    msgpack_pack_int64(&w->pk, t->change.time_ms);
    return !w->failed;
}

static void pack_strs(msgpack_packer *pk, char *const *v, size_t n)
{
    size_t i;

    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        cr_mp_pack_str(pk, v[i]);
    }
}

static bool etl_write(struct cr_omap_node *o, void *arg)
{
    struct cr_mp_writer *w = arg;
    const struct cr_etl_task *t =
        &CR_OMAP_ENTRY(o, struct cr_etl_node, node)->t;

    msgpack_pack_array(&w->pk, ETL_FIELDS);
    cr_mp_pack_str(&w->pk, t->name);
    pack_strs(&w->pk, t->urls, t->n_urls);
    cr_mp_pack_str(&w->pk, t->dest_db);
    cr_mp_pack_str(&w->pk, t->script);
    pack_strs(&w->pk, t->prefixes, t->n_prefixes);
    msgpack_pack_uint64(&w->pk, t->created_index);
    msgpack_pack_uint64(&w->pk, t->generation);
    msgpack_pack_int64(&w->pk, t->updated_ms);
    msgpack_pack_uint64(&w->pk, t->progress);
    msgpack_pack_int64(&w->pk, t->progress_ms);
    return !w->failed;
}

static bool db_write(struct cr_omap_node *o, void *arg)
{
    struct cr_mp_writer *w = arg;
    struct cr_database *db = CR_OMAP_ENTRY(o, struct cr_database, node);

    msgpack_pack_array(&w->pk, 4);
    cr_mp_pack_str(&w->pk, db->name);
    msgpack_pack_uint64(&w->pk, db->docs.count);
    msgpack_pack_uint64(&w->pk, db->tombstones.count);
    msgpack_pack_uint64(&w->pk, db->etl.count);
    cr_omap_walk(&db->docs, NULL, true, doc_write, w);
    cr_omap_walk(&db->tombstones, NULL, true, tombstone_write, w);
    cr_omap_walk(&db->etl, NULL, true, etl_write, w);
    return !w->failed;
}

static void pack_bool(msgpack_packer *pk, bool b)
{
    if (b) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
}

static void pack_ids(msgpack_packer *pk, const uint64_t *ids, size_t n)
{
    size_t i;

    msgpack_pack_array(pk, n);
    for (i = 0; i < n; i++) {
        msgpack_pack_uint64(pk, ids[i]);
    }
}

static void pack_ders(msgpack_packer *pk, const struct cr_der_list *l)
{
    size_t i;

    msgpack_pack_array(pk, l->n);
    for (i = 0; i < l->n; i++) {
        cr_mp_pack_bin(pk, l->items[i].der, l->items[i].len);
    }
}

static void pack_replacement(msgpack_packer *pk, const struct cr_replacement *r)
{
    if (r->phase == CR_REPLACEMENT_NONE) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, REPL_FIELDS);
    msgpack_pack_uint64(pk, (uint64_t)r->phase);
    cr_mp_pack_str(pk, r->new_thumbprint);
    cr_mp_pack_str(pk, r->old_thumbprint);
    cr_mp_pack_bin(pk, r->sealed_key.der, r->sealed_key.len);
    pack_ders(pk, &r->chain);
    pack_ids(pk, r->confirmed, r->n_confirmed);
    pack_ids(pk, r->switched, r->n_switched);
    pack_bool(pk, r->switch_now);
    msgpack_pack_int64(pk, r->started_ms);
    msgpack_pack_uint64(pk, r->started_index);
    msgpack_pack_int64(pk, r->finished_ms);
    msgpack_pack_int64(pk, r->new_not_after);
    msgpack_pack_int64(pk, r->old_not_after);
}

static void pack_ca(msgpack_packer *pk, const struct cr_client_ca *ca)
{
    size_t i;

    msgpack_pack_array(pk, CA_FIELDS);
    cr_mp_pack_str(pk, ca->name);
    pack_ders(pk, &ca->certs);
    msgpack_pack_uint64(pk, (uint64_t)ca->clearance);
    msgpack_pack_array(pk, ca->n_perms);
    for (i = 0; i < ca->n_perms; i++) {
        msgpack_pack_array(pk, 2);
        cr_mp_pack_str(pk, ca->perms[i].database);
        msgpack_pack_uint64(pk, (uint64_t)ca->perms[i].access);
    }
    msgpack_pack_uint64(pk, (uint64_t)ca->status);
    msgpack_pack_uint64(pk, ca->added_index);
    msgpack_pack_uint64(pk, ca->updated_index);
    msgpack_pack_int64(pk, ca->updated_ms);
}

static void pack_header(msgpack_packer *pk, const struct cr_state *st)
{
    size_t i;

    msgpack_pack_map(pk, 9);
    cr_mp_pack_str(pk, "v");
    msgpack_pack_uint64(pk, SNAPSHOT_VERSION);
    cr_mp_pack_str(pk, "ai");
    msgpack_pack_uint64(pk, st->applied_index);
    cr_mp_pack_str(pk, "nc");
    msgpack_pack_uint64(pk, st->reg.by_digest.count);
    cr_mp_pack_str(pk, "cl");
    msgpack_pack_array(pk, st->reg.n_cluster);
    for (i = 0; i < st->reg.n_cluster; i++) {
        cr_mp_pack_str(pk, st->reg.cluster[i]);
    }
    cr_mp_pack_str(pk, "pn");
    msgpack_pack_array(pk, st->n_pending);
    for (i = 0; i < st->n_pending; i++) {
        const struct cr_pending_node *p = &st->pending[i];
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint64(pk, p->id);
        cr_mp_pack_str(pk, p->raft_address);
        cr_mp_pack_str(pk, p->api_url);
        cr_mp_pack_str(pk, p->join_thumbprint);
        msgpack_pack_uint64(pk, p->added_index);
    }
    cr_mp_pack_str(pk, "ndb");
    msgpack_pack_uint64(pk, st->dbs.count);
    cr_mp_pack_str(pk, "na");
    msgpack_pack_uint64(pk, st->audit.count);
    cr_mp_pack_str(pk, "nca");
    msgpack_pack_uint64(pk, st->n_cas);
    cr_mp_pack_str(pk, "rp");
    pack_replacement(pk, &st->repl);
}

enum cr_status cr_state_snapshot_write(const struct cr_state *st,
                                       cr_write_fn write, void *arg,
                                       struct cr_error *err)
{
    struct cr_mp_writer w;
    size_t i;

    cr_mp_writer_init_sink(&w, write, arg);
    pack_header(&w.pk, st);
    cr_state_cert_foreach(st, cert_write, &w);
    for (i = 0; i < st->n_cas && !w.failed; i++) {
        pack_ca(&w.pk, &st->cas[i]->ca);
    }
    cr_omap_walk(&st->dbs, NULL, true, db_write, &w);
    for (i = 0; i < st->audit.count && !w.failed; i++) {
        const struct cr_audit_record *r = cr_audit_at(&st->audit, i);
        msgpack_pack_array(&w.pk, 7);
        msgpack_pack_uint64(&w.pk, r->index);
        msgpack_pack_int64(&w.pk, r->time_ms);
        cr_mp_pack_str(&w.pk, r->caller);
        cr_mp_pack_str(&w.pk, r->caller_name);
        cr_mp_pack_str(&w.pk, r->operation);
        cr_mp_pack_str(&w.pk, r->target);
        msgpack_pack_uint64(&w.pk, (uint64_t)r->status);
    }
    if (w.failed) {
        return cr_error_set(err, CR_ENOMEM, "out of memory writing a snapshot");
    }
    return CR_OK;
}

enum cr_status cr_state_snapshot(const struct cr_state *st,
                                 struct cr_buf *out, struct cr_error *err)
{
    size_t start = out->len;
    enum cr_status rc = cr_state_snapshot_write(st, cr_buf_sink, out, err);

    if (rc != CR_OK) {
        out->len = start;
    }
    return rc;
}

/* --- reading --------------------------------------------------------- */

struct reader {
    const unsigned char *data;
    size_t len, pos;
    msgpack_unpacked u;
    struct cr_error *err;
};

/* The next record, unpacked into r->u. */
static enum cr_status reader_next(struct reader *r, const char *what)
{
    size_t objlen = 0, off = 0;

    if (r->pos >= r->len ||
        cr_mp_scan(r->data + r->pos, r->len - r->pos, &objlen) != 0) {
        return cr_error_set(r->err, CR_EINVAL,
                            "snapshot: %s is truncated or corrupt", what);
    }
    if (msgpack_unpack_next(&r->u, (const char *)r->data + r->pos, objlen,
                            &off) != MSGPACK_UNPACK_SUCCESS ||
        off != objlen) {
        return cr_error_set(r->err, CR_EINVAL, "snapshot: %s is corrupt",
                            what);
    }
    r->pos += objlen;
    return CR_OK;
}

static const msgpack_object *array_of(const msgpack_object *o, uint32_t n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) {
        return NULL;
    }
    return o->via.array.ptr;
}

static enum cr_status bad(struct reader *r, const char *what)
{
    return cr_error_set(r->err, CR_EINVAL, "snapshot: %s is invalid", what);
}

static enum cr_status read_perms(struct reader *r, const msgpack_object *o,
                                 struct cr_permission **out, size_t *n_out)
{
    struct cr_permission *tmp;
    enum cr_status rv = CR_OK;
    uint32_t i, n;

    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return bad(r, "a permission list");
    }
    n = o->via.array.size;
    tmp = calloc(n > 0 ? n : 1, sizeof *tmp);
    if (tmp == NULL) {
        return cr_error_set(r->err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < n && rv == CR_OK; i++) {
        const msgpack_object *p = array_of(&o->via.array.ptr[i], 2);
        uint64_t a;
        if (p == NULL ||
            cr_mp_get_str(&p[0], "database", 128, &tmp[i].database,
                          r->err) != CR_OK ||
            cr_mp_get_u64(&p[1], "access", &a, r->err) != CR_OK) {
            rv = bad(r, "a permission");
        } else {
            tmp[i].access = (enum cr_access)(a <= CR_ACCESS_ADMIN ? a : 0);
        }
    }
    /* Normalising again checks names, levels, order and duplicates. */
    if (rv == CR_OK &&
        cr_perms_normalize(tmp, n, out, n_out, r->err) != CR_OK) {
        rv = bad(r, "a permission list");
    }
    cr_perms_free(tmp, n);
    return rv;
}

static enum cr_status read_cert_fields(struct reader *r,
                                       const msgpack_object *f,
                                       struct cr_cert_node *n)
{
    struct cr_cert_entry *e = &n->e;
    unsigned char check[CR_DIGEST_LEN];
    uint64_t cl;
    uint32_t i;

    if (cr_mp_get_thumb(&f[0], "thumbprint", false, e->thumbprint, r->err) ||
        cr_mp_get_bin(&f[1], "der", 1u << 20, &e->der, &e->der_len, r->err) ||
        cr_mp_get_str(&f[2], "name", CR_CERT_NAME_MAX, &e->name, r->err) ||
        cr_mp_get_u64(&f[3], "clearance", &cl, r->err) ||
        read_perms(r, &f[4], &e->perms, &e->n_perms) ||
        cr_mp_get_bool(&f[5], "disabled", &e->disabled, r->err) ||
        cr_mp_get_thumb(&f[6], "primary", true, e->primary, r->err) ||
        f[7].type != MSGPACK_OBJECT_ARRAY ||
        cr_mp_get_u64(&f[8], "added index", &e->added_index, r->err) ||
        cr_mp_get_i64(&f[9], "added ms", &e->added_ms, r->err) ||
        cr_mp_get_str(&f[10], "subject", MAX_TEXT, &e->subject, r->err) ||
        cr_mp_get_str(&f[11], "issuer", MAX_TEXT, &e->issuer, r->err) ||
        cr_mp_get_i64(&f[12], "not before", &e->not_before, r->err) ||
        cr_mp_get_i64(&f[13], "not after", &e->not_after, r->err) ||
        cr_mp_get_strbuf(&f[14], "sha1", e->sha1, sizeof e->sha1, r->err) ||
        cr_mp_get_strbuf(&f[15], "pin", e->pin, sizeof e->pin, r->err)) {
        return bad(r, "a certificate entry");
    }
    if (!cr_thumb_digest(e->der, e->der_len, check) ||
        !cr_thumb_from_hex(e->thumbprint, n->digest) ||
        memcmp(check, n->digest, CR_DIGEST_LEN) != 0 || e->name[0] == '\0' ||
        cl < CR_CLEARANCE_VALID_USER || cl > CR_CLEARANCE_CLUSTER_NODE ||
        strlen(e->sha1) != CR_SHA1_LEN || strlen(e->pin) != CR_PIN_LEN) {
        return bad(r, "a certificate entry");
    }
    e->clearance = (enum cr_clearance)cl;
    if (f[7].via.array.size > 0) {
        e->secondaries = calloc(f[7].via.array.size, sizeof *e->secondaries);
        if (e->secondaries == NULL) {
            return cr_error_set(r->err, CR_ENOMEM, "out of memory");
        }
    }
    for (i = 0; i < f[7].via.array.size; i++) {
        if (cr_mp_get_thumb(&f[7].via.array.ptr[i], "secondary", false,
                            e->secondaries[i], r->err) != CR_OK) {
            return bad(r, "a collection");
        }
        e->n_secondaries++;
    }
    return CR_OK;
}

static enum cr_status read_certs(struct reader *r, struct cr_state *st,
                                 uint64_t count)
{
    uint64_t i, room = (r->len - r->pos) / CERT_RECORD_MIN;

    /* The tag indexes sized once, not grown through every doubling. The
     * header's count is unchecked until the records are read: reserve no
     * more than the remaining bytes can hold; should even that fail, the
     * index grows as the entries go in. */
    (void)cr_registry_reserve(&st->reg, (size_t)(count < room ? count : room));
    for (i = 0; i < count; i++) {
        const msgpack_object *f;
        struct cr_cert_node *n;
        enum cr_status rv = reader_next(r, "a certificate entry");

        if (rv != CR_OK) {
            return rv;
        }
        if ((f = array_of(&r->u.data, CERT_FIELDS)) == NULL) {
            return bad(r, "a certificate entry");
        }
        if ((n = calloc(1, sizeof *n)) == NULL) {
            return cr_error_set(r->err, CR_ENOMEM, "out of memory");
        }
        rv = read_cert_fields(r, f, n);
        if (rv == CR_OK && cr_registry_find_digest(&st->reg, n->digest)) {
            rv = bad(r, "a certificate entry (duplicate)");
        }
        if (rv == CR_OK && cr_registry_insert(&st->reg, n) != 0) {
            rv = cr_error_set(r->err, CR_ENOMEM, "out of memory");
        }
        if (rv != CR_OK) {
            cr_cert_node_free(n);
            return rv;
        }
    }
    return CR_OK;
}

/* Every secondary names an existing primary that lists it, and every
 * listed secondary points back. */
struct link_check {
    const struct cr_state *st;
    bool ok;
};

static bool link_visit(const struct cr_cert_entry *e, void *arg)
{
    struct link_check *lc = arg;
    struct cr_cert_node *p;
    size_t i;
    bool listed = false;

    if (e->primary[0] != '\0') {
        p = cr_registry_find(&lc->st->reg, e->primary);
        if (p == NULL || p->e.primary[0] != '\0' || e->n_secondaries != 0) {
            lc->ok = false;
            return false;
        }
        for (i = 0; i < p->e.n_secondaries && !listed; i++) {
            listed = strcmp(p->e.secondaries[i], e->thumbprint) == 0;
        }
        lc->ok = listed;
        return listed;
    }
    for (i = 0; i < e->n_secondaries; i++) {
        struct cr_cert_node *s = cr_registry_find(&lc->st->reg, e->secondaries[i]);
        if (s == NULL || strcmp(s->e.primary, e->thumbprint) != 0) {
            lc->ok = false;
            return false;
        }
    }
    return true;
}

static enum cr_status read_ids(struct reader *r, const msgpack_object *o,
                               uint64_t **ids, size_t *n)
{
    uint32_t i;
    uint64_t v;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > MAX_IDS) {
        return bad(r, "the replacement's node ids");
    }
    for (i = 0; i < o->via.array.size; i++) {
        /* Ascending, no duplicates, no 0: what apply() keeps. */
        if (cr_mp_get_u64(&o->via.array.ptr[i], "node id", &v, r->err) ||
            v == 0 || (*n > 0 && (*ids)[*n - 1] >= v)) {
            return bad(r, "the replacement's node ids");
        }
        if (cr_id_set_add(ids, n, v) != 0) {
            return cr_error_set(r->err, CR_ENOMEM, "out of memory");
        }
    }
    return CR_OK;
}

static enum cr_status read_ders(struct reader *r, const msgpack_object *o,
                                uint32_t lo, uint32_t max,
                                struct cr_der_list *out, const char *what)
{
    struct cr_cert_info info;
    unsigned char *der;
    size_t len;
    uint32_t i;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < lo ||
        o->via.array.size > max) {
        return bad(r, what);
    }
    for (i = 0; i < o->via.array.size; i++) {
        if (cr_mp_get_bin(&o->via.array.ptr[i], what, 64u * 1024, &der, &len,
                          r->err) != CR_OK) {
            return bad(r, what);
        }
        if (cr_cert_info_from_der(der, len, &info, NULL) != CR_OK) {
            free(der);
            return bad(r, what);
        }
        cr_cert_info_free(&info);
        if (cr_der_list_append(out, der, len) != CR_OK) {
            free(der);
            return cr_error_set(r->err, CR_ENOMEM, "out of memory");
        }
        free(der);
    }
    return CR_OK;
}

static enum cr_status read_replacement(struct reader *r, struct cr_state *st,
                                       const msgpack_object *o)
{
    struct cr_replacement *rp = &st->repl;
    const msgpack_object *f;
    uint64_t phase;
    enum cr_status rv;

    if (o->type == MSGPACK_OBJECT_NIL) {
        return CR_OK;
    }
    if ((f = array_of(o, REPL_FIELDS)) == NULL ||
        cr_mp_get_u64(&f[0], "phase", &phase, r->err) ||
        phase < CR_REPLACEMENT_INSTALLED || phase > CR_REPLACEMENT_DONE ||
        cr_mp_get_thumb(&f[1], "new", false, rp->new_thumbprint, r->err) ||
        cr_mp_get_thumb(&f[2], "old", false, rp->old_thumbprint, r->err) ||
        cr_mp_get_bin(&f[3], "sealed key", 64u * 1024, &rp->sealed_key.der,
                      &rp->sealed_key.len, r->err) ||
        cr_mp_get_bool(&f[7], "switch now", &rp->switch_now, r->err) ||
        cr_mp_get_i64(&f[8], "started ms", &rp->started_ms, r->err) ||
        cr_mp_get_u64(&f[9], "started index", &rp->started_index, r->err) ||
        cr_mp_get_i64(&f[10], "finished ms", &rp->finished_ms, r->err) ||
        cr_mp_get_i64(&f[11], "new not after", &rp->new_not_after, r->err) ||
        cr_mp_get_i64(&f[12], "old not after", &rp->old_not_after, r->err)) {
        return bad(r, "the cluster certificate replacement");
    }
    rp->phase = (enum cr_replacement_phase)phase;
    if ((rv = read_ders(r, &f[4], 0, 16, &rp->chain,
                        "the replacement's chain")) ||
        (rv = read_ids(r, &f[5], &rp->confirmed, &rp->n_confirmed)) ||
        (rv = read_ids(r, &f[6], &rp->switched, &rp->n_switched))) {
        return rv;
    }
    /* The phase follows from the sets while in progress. */
    if ((phase == CR_REPLACEMENT_SWITCHING) != (rp->n_switched > 0) &&
        phase != CR_REPLACEMENT_DONE) {
        return bad(r, "the cluster certificate replacement (phase)");
    }
    return CR_OK;
}

static enum cr_status read_header(struct reader *r, struct cr_state *st,
                                  uint64_t *nc, uint64_t *ndb, uint64_t *na,
                                  uint64_t *nca)
{
    const msgpack_object *h = &r->u.data, *v = NULL, *ai = NULL, *c = NULL,
                         *cl = NULL, *pn = NULL, *d = NULL, *a = NULL,
                         *ca = NULL, *rp = NULL;
    uint64_t version;
    uint32_t i;
    enum cr_status rv;

    if (h->type != MSGPACK_OBJECT_MAP) {
        return bad(r, "the header");
    }
    for (i = 0; i < h->via.map.size; i++) {
        const msgpack_object_kv *kv = &h->via.map.ptr[i];
        if (cr_mp_key_is(&kv->key, "v")) v = &kv->val;
        else if (cr_mp_key_is(&kv->key, "ai")) ai = &kv->val;
        else if (cr_mp_key_is(&kv->key, "nc")) c = &kv->val;
        else if (cr_mp_key_is(&kv->key, "cl")) cl = &kv->val;
        else if (cr_mp_key_is(&kv->key, "pn")) pn = &kv->val;
        else if (cr_mp_key_is(&kv->key, "ndb")) d = &kv->val;
        else if (cr_mp_key_is(&kv->key, "na")) a = &kv->val;
        else if (cr_mp_key_is(&kv->key, "nca")) ca = &kv->val;
        else if (cr_mp_key_is(&kv->key, "rp")) rp = &kv->val;
    }
    if (v == NULL || cr_mp_get_u64(v, "v", &version, r->err) != CR_OK) {
        return bad(r, "the header (no version)");
    }
    if (version < SNAPSHOT_VERSION_MIN || version > SNAPSHOT_VERSION) {
        return cr_error_set(r->err, CR_EINVAL,
                            "snapshot version %llu is not supported (this "
                            "node reads versions %d to %d)",
                            (unsigned long long)version, SNAPSHOT_VERSION_MIN,
                            SNAPSHOT_VERSION);
    }
    *nca = 0;
    if (version >= 2) {
        if (ca == NULL || rp == NULL ||
            cr_mp_get_u64(ca, "nca", nca, r->err) != CR_OK) {
            return bad(r, "the header");
        }
        if ((rv = read_replacement(r, st, rp)) != CR_OK) {
            return rv;
        }
    }
    if (ai == NULL || c == NULL || cl == NULL || pn == NULL || d == NULL ||
        a == NULL || cr_mp_get_u64(ai, "ai", &st->applied_index, r->err) ||
        cr_mp_get_u64(c, "nc", nc, r->err) ||
        cr_mp_get_u64(d, "ndb", ndb, r->err) ||
        cr_mp_get_u64(a, "na", na, r->err) ||
        cl->type != MSGPACK_OBJECT_ARRAY || pn->type != MSGPACK_OBJECT_ARRAY) {
        return bad(r, "the header");
    }
    /* The cluster list is stored newest first; re-adding oldest first
     * keeps that order. */
    for (i = cl->via.array.size; i-- > 0;) {
        char t[CR_THUMBPRINT_LEN + 1];
        if (cr_mp_get_thumb(&cl->via.array.ptr[i], "cluster", false, t,
                            r->err) ||
            cr_registry_cluster_add(&st->reg, t) != 0) {
            return bad(r, "the cluster certificate list");
        }
    }
    for (i = 0; i < pn->via.array.size; i++) {
        const msgpack_object *p = array_of(&pn->via.array.ptr[i], 5);
        char *ra = NULL, *au = NULL, jt[CR_THUMBPRINT_LEN + 1];
        uint64_t id, idx;
        enum cr_status rv = CR_EINVAL;
        if (p != NULL && !cr_mp_get_u64(&p[0], "id", &id, r->err) &&
            !cr_mp_get_str(&p[1], "raft address", 512, &ra, r->err) &&
            !cr_mp_get_str(&p[2], "api url", 512, &au, r->err) &&
            !cr_mp_get_thumb(&p[3], "join", false, jt, r->err) &&
            !cr_mp_get_u64(&p[4], "added", &idx, r->err) && id > 0 &&
            (st->n_pending == 0 || st->pending[st->n_pending - 1].id < id)) {
            rv = cr_pending_put(st, id, ra, au, jt, idx);
        }
        free(ra);
        free(au);
        if (rv != CR_OK) {
            return bad(r, "a pending node");
        }
    }
    return CR_OK;
}

static enum cr_status read_cas(struct reader *r, struct cr_state *st,
                               uint64_t count)
{
    uint64_t i;

    for (i = 0; i < count; i++) {
        const msgpack_object *f;
        struct cr_der_list certs = {NULL, 0};
        struct cr_permission *perms = NULL;
        struct cr_ca_node *n = NULL;
        char *name = NULL;
        uint64_t cl, status, added, updated;
        int64_t updated_ms;
        size_t n_perms = 0;
        enum cr_status rv = reader_next(r, "a client CA");

        if (rv != CR_OK) {
            return rv;
        }
        if ((f = array_of(&r->u.data, CA_FIELDS)) == NULL ||
            cr_mp_get_str(&f[0], "name", CR_CLIENT_CA_NAME_MAX, &name,
                          r->err) ||
            !cr_client_ca_name_valid(name) ||
            (st->n_cas > 0 &&
             strcmp(st->cas[st->n_cas - 1]->ca.name, name) >= 0) ||
            cr_mp_get_u64(&f[2], "clearance", &cl, r->err) ||
            cl < CR_CLEARANCE_VALID_USER || cl > CR_CLEARANCE_CLUSTER_ADMIN ||
            cr_mp_get_u64(&f[4], "status", &status, r->err) ||
            status != CR_CLIENT_CA_IS_SET ||
            cr_mp_get_u64(&f[5], "added index", &added, r->err) ||
            cr_mp_get_u64(&f[6], "updated index", &updated, r->err) ||
            cr_mp_get_i64(&f[7], "updated ms", &updated_ms, r->err)) {
            rv = bad(r, "a client CA");
        }
        if (rv == CR_OK &&
            (rv = read_ders(r, &f[1], 1, CR_CLIENT_CA_MAX_CERTS, &certs,
                            "a client CA's certificates")) == CR_OK &&
            (rv = read_perms(r, &f[3], &perms, &n_perms)) == CR_OK) {
            n = cr_ca_node_new(name, &certs, (enum cr_clearance)cl, perms,
                               n_perms, added, updated, updated_ms);
            if (n == NULL || cr_ca_put(st, n) != 0) {
                cr_ca_node_free(n);
                rv = cr_error_set(r->err, CR_ENOMEM, "out of memory");
            }
        }
        free(name);
        cr_der_list_free(&certs);
        cr_perms_free(perms, n_perms);
        if (rv != CR_OK) {
            return rv;
        }
    }
    return CR_OK;
}

/* A replacement in progress names a registered new certificate and the
 * cluster certificate it replaces. */
static enum cr_status check_replacement(struct reader *r,
                                        const struct cr_state *st)
{
    const struct cr_replacement *rp = &st->repl;

    if (cr_replacement_in_progress(rp) &&
        (cr_registry_find(&st->reg, rp->new_thumbprint) == NULL ||
         !cr_registry_is_cluster(&st->reg, rp->old_thumbprint))) {
        return bad(r, "the cluster certificate replacement (certificates)");
    }
    return CR_OK;
}

/* A document record: [id, json, change index, change ms] (version 3) or
 * [id, json] (older: change index @seq, time 0). */
static enum cr_status read_doc(struct reader *r, struct cr_state *st,
                               struct cr_database *db, uint64_t seq,
                               const char **prev_id)
{
    const msgpack_object *f = &r->u.data;
    uint32_t nf;
    uint64_t index = seq;
    int64_t ms = 0;
    char *id = NULL;
    enum cr_status rv;

    if ((rv = reader_next(r, "a document")) != CR_OK) {
        return rv;
    }
    /* The record's length tells its shape (see the header comment). */
    nf = f->type == MSGPACK_OBJECT_ARRAY && f->via.array.size == 4 ? 4 : 2;
    if ((f = array_of(&r->u.data, nf)) == NULL ||
        f[1].type != MSGPACK_OBJECT_STR || f[1].via.str.size > MAX_JSON ||
        cr_mp_get_str(&f[0], "id", 512, &id, r->err) ||
        !cr_document_id_valid(id) ||
        (*prev_id != NULL && strcmp(*prev_id, id) >= 0) ||
        (nf == 4 && (cr_mp_get_u64(&f[2], "change index", &index, r->err) ||
                     cr_mp_get_i64(&f[3], "change ms", &ms, r->err))) ||
        index == 0 || index > st->applied_index ||
        cr_doc_put(db, id, f[1].via.str.ptr, f[1].via.str.size, index, ms)) {
        free(id);
        return bad(r, "a document");
    }
    *prev_id = cr_doc_find(db, id)->id;
    free(id);
    return CR_OK;
}

static enum cr_status read_tombstone(struct reader *r, struct cr_state *st,
                                     struct cr_database *db,
                                     const char **prev_id)
{
    const msgpack_object *f;
    uint64_t index;
    int64_t ms;
    char *id = NULL;
    enum cr_status rv;

    if ((rv = reader_next(r, "a tombstone")) != CR_OK) {
        return rv;
    }
    if ((f = array_of(&r->u.data, 3)) == NULL ||
        cr_mp_get_str(&f[0], "id", 512, &id, r->err) ||
        !cr_document_id_valid(id) ||
        (*prev_id != NULL && strcmp(*prev_id, id) >= 0) ||
        cr_mp_get_u64(&f[1], "change index", &index, r->err) ||
        cr_mp_get_i64(&f[2], "change ms", &ms, r->err) || index == 0 ||
        index > st->applied_index || cr_doc_find(db, id) != NULL ||
        cr_tombstone_put(db, id, index, ms) != CR_OK) {
        free(id);
        return bad(r, "a tombstone");
    }
    *prev_id = cr_tombstone_find(db, id)->id;
    free(id);
    return CR_OK;
}

static enum cr_status read_strs(struct reader *r, const msgpack_object *o,
                                uint32_t max, size_t len, char ***out,
                                size_t *n)
{
    uint32_t i;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > max) {
        return bad(r, "an ETL task");
    }
    if (o->via.array.size == 0) {
        return CR_OK;
    }
    if ((*out = calloc(o->via.array.size, sizeof **out)) == NULL) {
        return cr_error_set(r->err, CR_ENOMEM, "out of memory");
    }
    for (i = 0; i < o->via.array.size; i++) {
        if (cr_mp_get_str(&o->via.array.ptr[i], "string", len, &(*out)[i],
                          r->err) != CR_OK) {
            return bad(r, "an ETL task");
        }
        (*n)++;
    }
    return CR_OK;
}

/* Checks what apply() guarantees: valid names, https URLs, a bounded
 * script, sorted unique prefixes, progress before the snapshot. */
static bool etl_valid(const struct cr_etl_task *t, uint64_t applied)
{
    size_t i;

    if (!cr_etl_name_valid(t->name) || t->n_urls == 0 ||
        t->n_urls > CR_ETL_URLS_MAX || !cr_database_name_valid(t->dest_db) ||
        t->script[0] == '\0' || strlen(t->script) > CR_ETL_SCRIPT_MAX ||
        t->n_prefixes > CR_ETL_PREFIXES_MAX || t->generation == 0 ||
        t->generation > applied || t->created_index > t->generation ||
        t->progress >= applied) {
        return false;
    }
    for (i = 0; i < t->n_urls; i++) {
        if (!cr_etl_url_valid(t->urls[i])) {
            return false;
        }
    }
    for (i = 0; i < t->n_prefixes; i++) {
        if (!cr_document_id_valid(t->prefixes[i]) ||
            (i > 0 && strcmp(t->prefixes[i - 1], t->prefixes[i]) >= 0)) {
            return false;
        }
    }
    return true;
}

static enum cr_status read_etl(struct reader *r, struct cr_state *st,
                               struct cr_database *db, const char **prev)
{
    const msgpack_object *f;
    struct cr_etl_node *n;
    struct cr_etl_task *t;
    enum cr_status rv;

    if ((rv = reader_next(r, "an ETL task")) != CR_OK) {
        return rv;
    }
    if ((f = array_of(&r->u.data, ETL_FIELDS)) == NULL) {
        return bad(r, "an ETL task");
    }
    if ((n = calloc(1, sizeof *n)) == NULL) {
        return cr_error_set(r->err, CR_ENOMEM, "out of memory");
    }
    t = &n->t;
    if ((t->db = strdup(db->name)) == NULL) {
        rv = cr_error_set(r->err, CR_ENOMEM, "out of memory");
    } else if (cr_mp_get_str(&f[0], "name", 128, &t->name, r->err) ||
               cr_mp_get_str(&f[2], "destination", 128, &t->dest_db,
                             r->err) ||
               cr_mp_get_str(&f[3], "script", CR_ETL_SCRIPT_MAX, &t->script,
                             r->err) ||
               cr_mp_get_u64(&f[5], "created", &t->created_index, r->err) ||
               cr_mp_get_u64(&f[6], "generation", &t->generation, r->err) ||
               cr_mp_get_i64(&f[7], "updated ms", &t->updated_ms, r->err) ||
               cr_mp_get_u64(&f[8], "progress", &t->progress, r->err) ||
               cr_mp_get_i64(&f[9], "progress ms", &t->progress_ms, r->err)) {
        rv = bad(r, "an ETL task");
    } else if ((rv = read_strs(r, &f[1], CR_ETL_URLS_MAX, CR_ETL_URL_MAX,
                               &t->urls, &t->n_urls)) == CR_OK &&
               (rv = read_strs(r, &f[4], CR_ETL_PREFIXES_MAX, 512,
                               &t->prefixes, &t->n_prefixes)) == CR_OK &&
               (!etl_valid(t, st->applied_index) ||
                (*prev != NULL && strcmp(*prev, t->name) >= 0))) {
        rv = bad(r, "an ETL task");
    }
    if (rv != CR_OK) {
        cr_etl_node_free(n);
        return rv;
    }
    n->node.key = t->name;
    cr_omap_insert(&db->etl, &n->node);
    *prev = t->name;
    return CR_OK;
}

static enum cr_status read_dbs(struct reader *r, struct cr_state *st,
                               uint64_t count)
{
    const char *prev_db = NULL;
    uint64_t i, j, ndocs, ntombs = 0, ntasks = 0;

    for (i = 0; i < count; i++) {
        const msgpack_object *f;
        struct cr_database *db;
        char *name = NULL;
        const char *prev_id = NULL, *prev_task = NULL;
        uint32_t nf;
        enum cr_status rv = reader_next(r, "a database");

        if (rv != CR_OK) {
            return rv;
        }
        nf = r->u.data.type == MSGPACK_OBJECT_ARRAY &&
                     r->u.data.via.array.size == 4
                 ? 4
                 : 2;
        ntombs = ntasks = 0;
        if ((f = array_of(&r->u.data, nf)) == NULL ||
            cr_mp_get_str(&f[0], "database", 128, &name, r->err) ||
            cr_mp_get_u64(&f[1], "documents", &ndocs, r->err) ||
            (nf == 4 &&
             (cr_mp_get_u64(&f[2], "tombstones", &ntombs, r->err) ||
              cr_mp_get_u64(&f[3], "ETL tasks", &ntasks, r->err))) ||
            !cr_database_name_valid(name) ||
            (prev_db != NULL && strcmp(prev_db, name) >= 0) ||
            cr_db_create(st, name) != CR_OK) {
            free(name);
            return bad(r, "a database");
        }
        db = cr_db_find(st, name);
        free(name);
        prev_db = db->name;
        for (j = 0; j < ndocs; j++) {
            if ((rv = read_doc(r, st, db, j + 1, &prev_id)) != CR_OK) {
                return rv;
            }
        }
        prev_id = NULL;
        for (j = 0; j < ntombs; j++) {
            if ((rv = read_tombstone(r, st, db, &prev_id)) != CR_OK) {
                return rv;
            }
        }
        for (j = 0; j < ntasks; j++) {
            if ((rv = read_etl(r, st, db, &prev_task)) != CR_OK) {
                return rv;
            }
        }
        if (ntasks > CR_ETL_TASKS_MAX) {
            return bad(r, "a database (too many ETL tasks)");
        }
    }
    return CR_OK;
}

static enum cr_status read_audit(struct reader *r, struct cr_state *st,
                                 uint64_t count)
{
    uint64_t i;

    for (i = 0; i < count; i++) {
        const msgpack_object *f;
        char caller[CR_THUMBPRINT_LEN + 1], *name = NULL, *op = NULL,
                                            *target = NULL;
        uint64_t index, status;
        int64_t time_ms;
        enum cr_status rv = reader_next(r, "an audit record");

        if (rv != CR_OK) {
            return rv;
        }
        rv = CR_EINVAL;
        if ((f = array_of(&r->u.data, 7)) != NULL &&
            !cr_mp_get_u64(&f[0], "index", &index, r->err) &&
            !cr_mp_get_i64(&f[1], "time", &time_ms, r->err) &&
            !cr_mp_get_thumb(&f[2], "caller", true, caller, r->err) &&
            !cr_mp_get_str(&f[3], "caller name", MAX_TEXT, &name, r->err) &&
            !cr_mp_get_str(&f[4], "operation", 64, &op, r->err) &&
            !cr_mp_get_str(&f[5], "target", MAX_TEXT, &target, r->err) &&
            !cr_mp_get_u64(&f[6], "status", &status, r->err) &&
            status <= CR_EINTERNAL) {
            rv = cr_audit_append(&st->audit, index, time_ms, caller, name, op,
                                 target, (enum cr_status)status);
        }
        free(name);
        free(op);
        free(target);
        if (rv != CR_OK) {
            return bad(r, "an audit record");
        }
    }
    return CR_OK;
}

static enum cr_status restore_into(struct reader *r, struct cr_state *st)
{
    struct link_check lc = {st, true};
    uint64_t nc = 0, ndb = 0, na = 0, nca = 0;
    enum cr_status rv;
    size_t i;

    if ((rv = reader_next(r, "the header")) ||
        (rv = read_header(r, st, &nc, &ndb, &na, &nca)) ||
        (rv = read_certs(r, st, nc))) {
        return rv;
    }
    cr_state_cert_foreach(st, link_visit, &lc);
    if (!lc.ok) {
        return bad(r, "a collection (members do not match)");
    }
    for (i = 0; i < st->reg.n_cluster; i++) {
        if (cr_registry_find(&st->reg, st->reg.cluster[i]) == NULL) {
            return bad(r, "the cluster certificate list");
        }
    }
    if ((rv = check_replacement(r, st)) || (rv = read_cas(r, st, nca)) ||
        (rv = read_dbs(r, st, ndb)) || (rv = read_audit(r, st, na))) {
        return rv;
    }
    if (r->pos != r->len) {
        return cr_error_set(r->err, CR_EINVAL,
                            "snapshot: %zu trailing bytes", r->len - r->pos);
    }
    return CR_OK;
}

enum cr_status cr_state_restore(struct cr_state *st, const void *data,
                                size_t len, struct cr_error *err)
{
    struct cr_state *fresh = cr_state_new();
    struct reader r;
    enum cr_status rv;

    if (fresh == NULL) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    /* Records beyond this node's capacity drop out, oldest first. */
    fresh->audit.capacity = st->audit.capacity;
    r.data = data;
    r.len = data != NULL ? len : 0;
    r.pos = 0;
    r.err = err;
    msgpack_unpacked_init(&r.u);
    rv = restore_into(&r, fresh);
    msgpack_unpacked_destroy(&r.u);
    if (rv == CR_OK) {
        cr_state_swap(st, fresh);
    }
    cr_state_free(fresh);
    return rv;
}
