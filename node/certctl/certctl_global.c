/*
 * certctl_global.c - global option table and its resolution.
 */
#include "certctl_global.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const output_choices[] = {"table", "json", NULL};

const struct certctl_opt certctl_global_opts[] = {
    {"url", CERTCTL_OPT_LIST, 0, "URL",
     "node API URL; several (repeated or comma-separated) are tried in order",
     "CERTCTL_URL", NULL, NULL},
    {"cert", CERTCTL_OPT_STRING, 0, "FILE", "client certificate (PEM)", "CERTCTL_CERT",
     NULL, NULL},
    {"key", CERTCTL_OPT_STRING, 0, "FILE",
     "client private key (PEM; omit if it is in the --cert file)", "CERTCTL_KEY", NULL,
     NULL},
    {"pfx", CERTCTL_OPT_STRING, 0, "FILE",
     "client certificate and key as PKCS#12 instead of --cert/--key", "CERTCTL_PFX",
     NULL, NULL},
    {"password", CERTCTL_OPT_STRING, CERTCTL_OPT_SECRET, "PW",
     "password of the --pfx file (or of an encrypted --key)", "CERTCTL_PASSWORD", NULL,
     NULL},
    {"cacert", CERTCTL_OPT_STRING, 0, "FILE",
     "cluster certificate to verify nodes with (default: system CAs)", "CERTCTL_CACERT",
     NULL, NULL},
    {"insecure", CERTCTL_OPT_FLAG, 0, NULL, "do not verify the nodes' certificate",
     "CERTCTL_INSECURE", NULL, NULL},
    {"output", CERTCTL_OPT_STRING, 0, "FORMAT", "output format", "CERTCTL_OUTPUT",
     "table", output_choices},
    {"timeout", CERTCTL_OPT_STRING, 0, "SECONDS", "time limit of each request",
     "CERTCTL_TIMEOUT", "30", NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

void certctl_urls_free(char **urls, size_t nurls)
{
    size_t i;

    for (i = 0; i < nurls; i++) {
        free(urls[i]);
    }
    free(urls);
}

static int check_url(const char *u, size_t len, char *err, size_t errlen)
{
    size_t skip, i;

    if (len >= 8 && strncasecmp(u, "https://", 8) == 0) {
        skip = 8;
    } else if (len >= 7 && strncasecmp(u, "http://", 7) == 0) {
        skip = 7;
    } else {
        snprintf(err, errlen, "invalid URL '%.*s' (expected https://HOST:PORT)",
                 (int)(len > 128 ? 128 : len), u);
        return -1;
    }
    if (len == skip || u[skip] == '/') {
        snprintf(err, errlen, "invalid URL '%.*s' (no host)", (int)(len > 128 ? 128 : len), u);
        return -1;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)u[i];

        /* We append paths and queries ourselves. */
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#') {
            snprintf(err, errlen, "invalid URL '%.*s' (no spaces, query or fragment allowed)",
                     (int)(len > 128 ? 128 : len), u);
            return -1;
        }
    }
    return 0;
}

int certctl_urls_split(const char *csv, char ***urls, size_t *nurls, char *err,
                       size_t errlen)
{
    const char *p = csv;

    while (*p != '\0') {
        const char *start = p, *end;
        char *copy, **grown;
        size_t len;

        while (*p != '\0' && *p != ',') {
            p++;
        }
        end = p;
        if (*p == ',') {
            p++;
        }
        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        while (end > start && end[-1] == '/') {
            end--;
        }
        len = (size_t)(end - start);
        if (len == 0) {
            continue;
        }
        if (check_url(start, len, err, errlen) != 0) {
            return -1;
        }
        copy = strndup(start, len);
        grown = copy != NULL ? realloc(*urls, (*nurls + 1) * sizeof(**urls)) : NULL;
        if (grown == NULL) {
            free(copy);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *urls = grown;
        (*urls)[(*nurls)++] = copy;
    }
    return 0;
}

int certctl_global_resolve(const struct certctl_args *a, struct certctl_global *g,
                           char *err, size_t errlen)
{
    const char *const *list;
    size_t n, i;
    uint64_t timeout;

    memset(g, 0, sizeof(*g));
    n = certctl_args_list(a, "url", &list);
    for (i = 0; i < n; i++) {
        if (certctl_urls_split(list[i], &g->urls, &g->nurls, err, errlen) != 0) {
            goto fail;
        }
    }
    if (g->nurls == 0) {
        snprintf(err, errlen, "no node URL: give --url or set CERTCTL_URL");
        goto fail;
    }

    g->cert = certctl_args_get(a, "cert");
    g->key = certctl_args_get(a, "key");
    g->pfx = certctl_args_get(a, "pfx");
    g->password = certctl_args_get(a, "password");
    g->cacert = certctl_args_get(a, "cacert");
    g->insecure = certctl_args_flag(a, "insecure");
    if (g->pfx != NULL && (g->cert != NULL || g->key != NULL)) {
        snprintf(err, errlen, "give either --pfx or --cert/--key, not both");
        goto fail;
    }
    if (g->key != NULL && g->cert == NULL) {
        snprintf(err, errlen, "--key needs --cert");
        goto fail;
    }
    if (g->pfx == NULL && g->cert == NULL) {
        /* Every node demands a client certificate; fail before connecting. */
        snprintf(err, errlen,
                 "no client certificate: give --cert/--key or --pfx "
                 "(or set CERTCTL_CERT/CERTCTL_KEY or CERTCTL_PFX)");
        goto fail;
    }

    g->output = strcmp(certctl_args_get(a, "output"), "json") == 0 ? CERTCTL_OUTPUT_JSON
                                                                  : CERTCTL_OUTPUT_TABLE;
    if (certctl_parse_u64(certctl_args_get(a, "timeout"), 1, 86400, &timeout) != 0) {
        snprintf(err, errlen, "invalid --timeout '%.32s' (whole seconds, 1 to 86400)",
                 certctl_args_get(a, "timeout"));
        goto fail;
    }
    g->timeout = (long)timeout;
    return 0;

fail:
    certctl_global_free(g);
    return -1;
}

void certctl_global_free(struct certctl_global *g)
{
    certctl_urls_free(g->urls, g->nurls);
    memset(g, 0, sizeof(*g));
}
