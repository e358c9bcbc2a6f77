/*
 * api_json.c - how registry entries look in JSON: RavenDB's field names,
 * every field DESIGN.md lists, ISO 8601 UTC times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <certraft/x509.h>

#include "api.h"

void cr_api_time_iso(int64_t unix_seconds, char *out, size_t outlen)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *cr_api_entry_json(const struct cr_state *st,
                          const struct cr_cert_entry *e)
{
    const struct cr_cert_entry *p = cr_state_cert_primary(st, e);
    json_t *perms = json_object();
    json_t *secondaries = json_array();
    char nb[32], na[32];
    char *b64 = cr_base64_encode(e->der, e->der_len);
    json_t *obj;

    if (p == NULL) {
        p = e;
    }
    for (size_t i = 0; i < p->n_perms; i++) {
        json_object_set_new(perms, p->perms[i].database,
                            json_string(cr_access_name(p->perms[i].access)));
    }
    for (size_t i = 0; i < e->n_secondaries; i++) {
        json_array_append_new(secondaries, json_string(e->secondaries[i]));
    }
    cr_api_time_iso(e->not_before, nb, sizeof nb);
    cr_api_time_iso(e->not_after, na, sizeof na);
    obj = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o, "
        "s:s, s:I}",
        "Thumbprint", e->thumbprint, "Sha1Thumbprint", e->sha1, "Name",
        p->name != NULL ? p->name : "", "SecurityClearance",
        cr_clearance_name(p->clearance), "Permissions", perms, "NotBefore",
        nb, "NotAfter", na, "PublicKeyPinningHash", e->pin, "Subject",
        e->subject != NULL ? e->subject : "", "Issuer",
        e->issuer != NULL ? e->issuer : "", "Disabled", (int)p->disabled,
        "CollectionPrimaryKey", e->primary, "CollectionSecondaryKeys",
        secondaries, "Certificate", b64 != NULL ? b64 : "", "AddedAtIndex",
        (json_int_t)e->added_index);
    free(b64);
    return obj;
}
