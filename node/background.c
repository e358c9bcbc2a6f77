/*
 * background.c - proposals a node makes on its own account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

#include "background.h"
#include "forward.h"
#include "node.h"

static void background_apply_cb(struct raft_apply *req, int status,
                                void *result)
{
    (void)status;
    (void)result;
    free(req);
}

int cr_background_propose(struct cr_node *node, const struct cr_command *cmd)
{
    struct cr_buf out = {0};
    struct raft_buffer buf;
    struct raft_apply *req;

    if (!cr_node_is_leader(node)) {
        return -1;
    }
    if (cr_command_encode(cmd, &out, NULL) != CR_OK ||
        cr_fsm_frame(out.data, out.len, &buf) != 0) {
        cr_buf_free(&out);
        return -1;
    }
    cr_buf_free(&out);
    req = calloc(1, sizeof *req);
    if (req == NULL ||
        raft_apply(&node->raft, req, &buf, 1, background_apply_cb) != 0) {
        free(req);
        raft_free(buf.base);
        return -1;
    }
    return 0;
}

static void to_leader_done(struct cr_https_request *r)
{
    if (r->status != 200 && r->status != 201) {
        fprintf(stderr, "certnode: background request to the leader: %s\n",
                r->status ? "refused" : r->error);
    }
    cr_https_request_free(r);
}

void cr_background_to_leader(struct cr_node *node, const char *path,
                             const char *body,
                             const unsigned char *forwarded_der,
                             size_t forwarded_len)
{
    char leader[256];
    struct cr_https_request *r;

    cr_node_leader_url(node, leader, sizeof leader);
    if (leader[0] == '\0') {
        return; /* no leader now; whoever asked will ask again */
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        return;
    }
    r->pool = node->curl_pool;
    r->method = strdup("POST");
    r->url = malloc(strlen(leader) + strlen(path) + 1);
    if (r->url != NULL) {
        sprintf(r->url, "%s%s", leader, path);
    }
    r->body = strdup(body != NULL ? body : "{}");
    r->body_len = r->body != NULL ? strlen(r->body) : 0;
    r->content_type = strdup("application/json");
    if (forwarded_der != NULL) {
        char *b64 = cr_base64_encode(forwarded_der, forwarded_len);
        if (b64 != NULL) {
            size_t n = strlen(b64) + sizeof CR_HEADER_FORWARDED_CERT + 4;
            r->extra_header = malloc(n);
            if (r->extra_header != NULL) {
                snprintf(r->extra_header, n, "%s: %s",
                         CR_HEADER_FORWARDED_CERT, b64);
            }
            free(b64);
        }
    }
    r->timeout_ms = 10000;
    if (cr_https_request_set_tls(r, node->cert_pem, node->key_pem,
                                 cr_node_trusted_pem(node)) != 0 ||
        r->method == NULL || r->url == NULL || r->body == NULL ||
        r->content_type == NULL ||
        cr_https_request_start(node->loop, r, to_leader_done) != 0) {
        cr_https_request_free(r);
    }
}

void cr_background_register_implicit(struct cr_node *node,
                                     const unsigned char *der, size_t len)
{
    char thumb[CR_THUMBPRINT_LEN + 1];
    int64_t now = cr_now_ms();
    struct cr_implicit_slot *free_slot = NULL;
    struct cr_command cmd;

    cr_thumbprint(der, len, thumb);
    for (size_t i = 0; i < CR_IMPLICIT_SLOTS; i++) {
        struct cr_implicit_slot *s = &node->implicit[i];
        if (strcmp(s->thumbprint, thumb) == 0 && now - s->at_ms < 5000) {
            return; /* asked a moment ago */
        }
        if (free_slot == NULL || s->at_ms < free_slot->at_ms) {
            free_slot = s;
        }
    }
    memcpy(free_slot->thumbprint, thumb, sizeof thumb);
    free_slot->at_ms = now;

    memset(&cmd, 0, sizeof cmd);
    cmd.type = CR_CMD_CERT_IMPLICIT;
    memcpy(cmd.caller, thumb, sizeof thumb);
    cmd.caller_der.der = (unsigned char *)der;
    cmd.caller_der.len = len;
    cmd.time_ms = now;
    if (cr_background_propose(node, &cmd) != 0) {
        cr_background_to_leader(node, "/cluster/implicit-trust", NULL, der,
                                len);
    }
}
