/*
 * cert_put_parse.c - an upload's certificates are parsed once, by the
 * node that takes the upload (cr_x509_decode_bundle(), or the generator
 * for a certificate it made), and the log entry carries what it read;
 * here apply() turns that back into what a registry entry keeps.
 *
 * Parsing a certificate (d2i, names, validity, hashes) costs ~12 us;
 * done in apply() it was paid on every node for every upload, and again
 * for every replayed entry, and it was the largest item on a follower's
 * loop under write load. A CERT_PUT now carries, per certificate, the
 * fields a registry entry keeps. apply() takes them as given (the leader
 * is trusted with the whole command in raft), except the thumbprint: it
 * is the registry's key and what authentication looks up, so every node
 * hashes the DER for it (~1 us) rather than trust a field that could
 * disagree with the bytes. Entries written before the leader parsed
 * carry no such fields and are parsed here as before.
 */
#include <stdlib.h>
#include <string.h>

#include "apply_internal.h"
#include "x509_internal.h"

void cr_cert_put_parsed_free(struct cr_command *cmd)
{
    size_t i;

    if (cmd->u.cert_put.parsed == NULL) {
        return;
    }
    for (i = 0; i < cmd->u.cert_put.certs.n; i++) {
        cr_cert_info_free(&cmd->u.cert_put.parsed[i]);
    }
    free(cmd->u.cert_put.parsed);
    cmd->u.cert_put.parsed = NULL;
}

/* @out from the fields the leader parsed for certificate @i. */
static enum cr_status member_from_parsed(const struct cr_command *cmd,
                                         size_t i, struct cr_cert_info *out)
{
    const struct cr_cert_info *in = &cmd->u.cert_put.parsed[i];
    const struct cr_der *der = &cmd->u.cert_put.certs.items[i];

    memset(out, 0, sizeof *out);
    cr_thumbprint(der->der, der->len, out->thumbprint);
    memcpy(out->sha1, in->sha1, sizeof out->sha1);
    memcpy(out->pin, in->pin, sizeof out->pin);
    out->not_before = in->not_before;
    out->not_after = in->not_after;
    out->subject = strdup(in->subject);
    out->issuer = strdup(in->issuer);
    out->der = malloc(der->len);
    if (out->subject == NULL || out->issuer == NULL || out->der == NULL) {
        cr_cert_info_free(out);
        return CR_ENOMEM;
    }
    memcpy(out->der, der->der, der->len);
    out->der_len = der->len;
    return CR_OK;
}

enum cr_status cr_cert_put_member(const struct cr_command *cmd, size_t i,
                                  struct cr_cert_info *out,
                                  struct cr_error *err)
{
    const struct cr_der *der = &cmd->u.cert_put.certs.items[i];
    struct cr_error why;

    if (cmd->u.cert_put.parsed == NULL) {
        if (cr_cert_info_from_der(der->der, der->len, out, &why) != CR_OK) {
            return cr_upload_member_error(err, i, &why);
        }
        return CR_OK;
    }
    if (member_from_parsed(cmd, i, out) != CR_OK) {
        return cr_error_set(err, CR_ENOMEM, "out of memory");
    }
    return CR_OK;
}
