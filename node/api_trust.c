/*
 * api_trust.c - trust that is not a registered thumbprint: registering a
 * certificate accepted by implicit trust (pinning hash), and the client CA
 * bundles of CockroachDB's model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

#include "api.h"

static void implicit_done(struct cr_api_call *call,
                          const struct cr_apply_result *res)
{
    if (!cr_api_reply_if_refused(call, res)) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:s}", "Thumbprint",
                                    call->id.thumbprint, "Status",
                                    "Registered"));
    }
}

/* POST /cluster/implicit-trust: register the caller's certificate (sent
 * by a follower on its behalf, or by the caller itself), which
 * authenticated by pinning hash. */
void cr_api_implicit_trust(struct cr_api_call *call)
{
    struct cr_command cmd;

    if (call->id.kind == CR_IDENTITY_CERTIFICATE) {
        cr_api_reply_json(call, 200,
                          json_pack("{s:s, s:s}", "Thumbprint",
                                    call->id.thumbprint, "Status",
                                    "AlreadyRegistered"));
        return;
    }
    if (call->id.kind != CR_IDENTITY_IMPLICIT) {
        cr_api_reply_error(call, CR_EFORBIDDEN,
                           "only a certificate trusted by its pinning hash "
                           "is registered this way");
        return;
    }
    cr_api_command_init(call, &cmd, CR_CMD_CERT_IMPLICIT);
    cmd.caller_der.der = call->caller_der;
    cmd.caller_der.len = call->caller_der_len;
    cr_api_propose(call, &cmd, implicit_done);
}
