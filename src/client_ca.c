/*
 * client_ca.c - named client CA bundles (CockroachDB's model), and
 * authentication step 5: a certificate that is not registered but chains
 * to a bundle gets that bundle's clearance and permissions.
 *
 * A bundle's certificates are its trust anchors. Each bundle keeps an
 * X509_STORE built once when it changes, so a handshake costs one
 * X509_verify_cert per bundle, not a parse of every CA. Verification is
 * full chain validation at the caller-supplied time (the command's
 * time_ms inside apply, so every node decides alike), strict X.509
 * checks, purpose SSL client, and partial chains so that a bundle may
 * hold an intermediate without its root. Bundles are few; they live in a
 * sorted array, and the first one (by name) that validates wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "state_internal.h"

static const char *const status_names[] = {
    [CR_CLIENT_CA_NOT_SET] = "NOT_SET",
    [CR_CLIENT_CA_PENDING] = "PENDING",
    [CR_CLIENT_CA_IS_SET] = "IS_SET",
    [CR_CLIENT_CA_FAILED] = "FAILED",
};

const char *cr_client_ca_status_name(enum cr_client_ca_status s)
{
    if ((unsigned)s > CR_CLIENT_CA_FAILED) {
        return "UNKNOWN";
    }
    return status_names[s];
}

bool cr_client_ca_name_valid(const char *name)
{
    /* The database name rule: URL- and file-safe, as names end up in
     * paths (/admin/client-ca?name=) and listings. */
    return cr_database_name_valid(name);
}

/* --- bundles --------------------------------------------------------- */

void cr_ca_node_free(struct cr_ca_node *n)
{
    if (n == NULL) {
        return;
    }
    free(n->ca.name);
    cr_der_list_free(&n->ca.certs);
    cr_perms_free(n->ca.perms, n->ca.n_perms);
    X509_STORE_free(n->store);
    free(n);
}

static X509_STORE *store_build(const struct cr_der_list *certs)
{
    X509_STORE *store = X509_STORE_new();
    size_t i;

    for (i = 0; store != NULL && i < certs->n; i++) {
        const unsigned char *p = certs->items[i].der;
        X509 *x = d2i_X509(NULL, &p, (long)certs->items[i].len);
        /* add_cert takes its own reference. */
        if (x == NULL || X509_STORE_add_cert(store, x) != 1) {
            X509_STORE_free(store);
            store = NULL;
        }
        X509_free(x);
    }
    ERR_clear_error();
    return store;
}

struct cr_ca_node *cr_ca_node_new(const char *name,
                                  const struct cr_der_list *certs,
                                  enum cr_clearance clearance,
                                  const struct cr_permission *perms,
                                  size_t n_perms, uint64_t added_index,
                                  uint64_t updated_index, int64_t updated_ms)
{
    struct cr_ca_node *n = calloc(1, sizeof *n);
    size_t i;

    if (n == NULL) {
        return NULL;
    }
    n->ca.name = strdup(name);
    if (n->ca.name == NULL ||
        cr_perms_copy(perms, n_perms, &n->ca.perms) != CR_OK) {
        cr_ca_node_free(n);
        return NULL;
    }
    n->ca.n_perms = n_perms;
    for (i = 0; i < certs->n; i++) {
        if (cr_der_list_append(&n->ca.certs, certs->items[i].der,
                               certs->items[i].len) != CR_OK) {
            cr_ca_node_free(n);
            return NULL;
        }
    }
    n->ca.clearance = clearance;
    n->ca.status = CR_CLIENT_CA_IS_SET;
    n->ca.added_index = added_index;
    n->ca.updated_index = updated_index;
    n->ca.updated_ms = updated_ms;
    n->store = store_build(&n->ca.certs);
    if (n->store == NULL) {
        cr_ca_node_free(n);
        return NULL;
    }
    return n;
}

/* Index of @name, or where it would go (with *found false). */
static size_t ca_search(const struct cr_state *st, const char *name,
                        bool *found)
{
    size_t lo = 0, hi = st->n_cas;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->cas[mid]->ca.name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

struct cr_ca_node *cr_ca_find(const struct cr_state *st, const char *name)
{
    bool found;
    size_t at;

    if (name == NULL) {
        return NULL;
    }
    at = ca_search(st, name, &found);
    return found ? st->cas[at] : NULL;
}

int cr_ca_put(struct cr_state *st, struct cr_ca_node *n)
{
    bool found;
    size_t at = ca_search(st, n->ca.name, &found);
    struct cr_ca_node **v;

    if (found) {
        cr_ca_node_free(st->cas[at]);
        st->cas[at] = n;
        return 0;
    }
    v = realloc(st->cas, (st->n_cas + 1) * sizeof *v);
    if (v == NULL) {
        return -1;
    }
    memmove(v + at + 1, v + at, (st->n_cas - at) * sizeof *v);
    v[at] = n;
    st->cas = v;
    st->n_cas++;
    return 0;
}

void cr_ca_remove(struct cr_state *st, struct cr_ca_node *n)
{
    bool found;
    size_t at = ca_search(st, n->ca.name, &found);

    if (!found || st->cas[at] != n) {
        return;
    }
    memmove(st->cas + at, st->cas + at + 1,
            (st->n_cas - at - 1) * sizeof *st->cas);
    st->n_cas--;
    cr_ca_node_free(n);
}

void cr_cas_free(struct cr_state *st)
{
    size_t i;

    for (i = 0; i < st->n_cas; i++) {
        cr_ca_node_free(st->cas[i]);
    }
    free(st->cas);
    st->cas = NULL;
    st->n_cas = 0;
}

/* --- step 5 ---------------------------------------------------------- */

/* Errors that only say "this bundle is not where the chain leads". */
static bool no_path(int e)
{
    return e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
           e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
           e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

/* X509_V_OK, or why @leaf does not chain to @n at @now_s. */
static int verify_in(const struct cr_ca_node *n, X509 *leaf,
                     STACK_OF(X509) *untrusted, int64_t now_s)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    int e = X509_V_ERR_OUT_OF_MEM;

    if (ctx != NULL && X509_STORE_CTX_init(ctx, n->store, leaf, untrusted)) {
        param = X509_STORE_CTX_get0_param(ctx);
        /* The check time makes the outcome independent of the wall
         * clock: apply() passes the command's time. */
        X509_VERIFY_PARAM_set_time(param, (time_t)now_s);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT |
                                               X509_V_FLAG_PARTIAL_CHAIN);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        if (X509_verify_cert(ctx) == 1) {
            e = X509_V_OK;
        } else {
            e = X509_STORE_CTX_get_error(ctx);
            if (e == X509_V_OK) { /* failed without saying why */
                e = X509_V_ERR_UNSPECIFIED;
            }
        }
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return e;
}

enum cr_status cr_ca_authenticate(const struct cr_state *st, X509 *leaf,
                                  STACK_OF(X509) *untrusted, int64_t now_s,
                                  const struct cr_ca_node **out,
                                  struct cr_error *err)
{
    const struct cr_ca_node *failed = NULL;
    int failed_e = X509_V_OK;
    size_t i;

    for (i = 0; i < st->n_cas; i++) {
        int e = verify_in(st->cas[i], leaf, untrusted, now_s);
        if (e == X509_V_OK) {
            *out = st->cas[i];
            return CR_OK;
        }
        if (e == X509_V_ERR_OUT_OF_MEM) {
            return cr_error_set(err, CR_ENOMEM, "out of memory");
        }
        if (failed == NULL && !no_path(e)) {
            failed = st->cas[i];
            failed_e = e;
        }
    }
    if (failed != NULL) {
        return cr_error_set(err, CR_EFORBIDDEN,
                            "does not chain to client CA '%.100s': %s",
                            failed->ca.name,
                            X509_verify_cert_error_string(failed_e));
    }
    return CR_ENOTFOUND;
}

/* --- queries --------------------------------------------------------- */

size_t cr_state_client_ca_count(const struct cr_state *st)
{
    return st->n_cas;
}

const struct cr_client_ca *cr_state_client_ca_get(const struct cr_state *st,
                                                  size_t i)
{
    return i < st->n_cas ? &st->cas[i]->ca : NULL;
}

const struct cr_client_ca *cr_state_client_ca_find(const struct cr_state *st,
                                                   const char *name)
{
    const struct cr_ca_node *n = cr_ca_find(st, name);

    return n != NULL ? &n->ca : NULL;
}
