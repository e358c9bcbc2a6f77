/*
 * cmd_join.c - `certnode join`: make a data directory for a node that
 * joins an existing cluster, wait to be admitted, then run it.
 *
 * The node proves who it is with a one-time join certificate whose
 * thumbprint the administrator passes to `certctl cluster add-node`; only
 * then does the cluster hand over its certificate and key, inside mutual
 * TLS. Re-running the same command after an interruption resumes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certraft/x509.h>

#include "commands.h"
#include "data_dir.h"
#include "join.h"
#include "node.h"

static const char join_usage[] =
    "usage: certnode join --data DIR --id N --raft-address HOST:PORT\n"
    "                     --api-address HOST:PORT --cluster URL[,URL...]\n"
    "                     [options]\n"
    "\n"
    "Create the data directory DIR (mode 0700) for a new node, print the\n"
    "`certctl cluster add-node` command an administrator runs to admit it,\n"
    "wait until admitted, fetch the cluster certificate over mutual TLS,\n"
    "and run the node. Later starts use `certnode run --data DIR`.\n"
    "\n"
    "options:\n"
    "  --data DIR                the new data directory (required)\n"
    "  --id N                    this node's id, unique in the cluster\n"
    "  --raft-address HOST:PORT  where raft listens (required)\n"
    "  --api-address HOST:PORT   where the HTTPS API listens (required)\n"
    "  --api-url URL             how others reach the API\n"
    "                            (default https://API-ADDRESS)\n"
    "  --cluster URLS            API URL(s) of existing nodes (required)\n"
    "  --cacert FILE             the cluster certificate to verify the\n"
    "                            cluster with (cluster-ca.crt); without it\n"
    "                            the first answer is trusted\n"
    "  --wait SECONDS            how long to wait for admission (600)\n" CR_TUNING_HELP
    "  -h, --help                this text\n"
    "\n"
    "example:\n"
    "  certnode join --data /var/lib/certraft/n2 --id 2 \\\n"
    "    --raft-address 127.0.0.1:7002 --api-address 127.0.0.1:8002 \\\n"
    "    --cluster https://127.0.0.1:8001\n";

/* Reuse the join key of an interrupted attempt, else make a new one. */
static int load_or_make_join_cert(const char *dir, uint64_t id, char **cert_pem,
                                  char **key_pem, char *err, size_t errlen)
{
    char cpath[700], kpath[700], cn[64];
    struct cr_error cerr;
    EVP_PKEY *key;
    X509 *cert;

    cr_path_join(cpath, sizeof cpath, dir, CR_FILE_JOIN_CERT);
    cr_path_join(kpath, sizeof kpath, dir, CR_FILE_JOIN_KEY);
    if (cr_file_exists(cpath) && cr_file_exists(kpath)) {
        *cert_pem = cr_file_read(cpath, NULL, err, errlen);
        *key_pem = cr_file_read(kpath, NULL, err, errlen);
        return (*cert_pem && *key_pem) ? 0 : -1;
    }
    snprintf(cn, sizeof cn, "certraft join node %llu",
             (unsigned long long)id);
    key = cr_key_generate(CR_KEY_EC_P256, &cerr);
    cert = key ? cr_x509_make_cluster_cert(key, cn, NULL, 0, 2, &cerr) : NULL;
    if (cert == NULL) {
        snprintf(err, errlen, "join certificate: %s", cerr.msg);
        EVP_PKEY_free(key);
        return -1;
    }
    *cert_pem = cr_x509_to_pem(cert);
    *key_pem = cr_key_to_pem(key, NULL);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (*cert_pem == NULL || *key_pem == NULL) {
        snprintf(err, errlen, "cannot encode the join certificate");
        return -1;
    }
    if (cr_file_write_private(kpath, *key_pem, strlen(*key_pem), err,
                              errlen) != 0 ||
        cr_file_write_private(cpath, *cert_pem, strlen(*cert_pem), err,
                              errlen) != 0) {
        return -1;
    }
    return 0;
}

static int pem_thumbprint(const char *pem, char *out)
{
    struct cr_error cerr;
    X509 *cert = cr_x509_from_pem(pem, strlen(pem), &cerr);
    unsigned char *der = NULL;
    size_t len = 0;

    if (cert == NULL || cr_x509_to_der(cert, &der, &len) != CR_OK) {
        X509_free(cert);
        return -1;
    }
    cr_thumbprint(der, len, out);
    free(der);
    X509_free(cert);
    return 0;
}

int cr_cmd_join(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"id", required_argument, NULL, 'i'},
        {"raft-address", required_argument, NULL, 'r'},
        {"api-address", required_argument, NULL, 'a'},
        {"api-url", required_argument, NULL, 'u'},
        {"cluster", required_argument, NULL, 'c'},
        {"cacert", required_argument, NULL, 'C'},
        {"wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        CR_TUNING_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct cr_node_config c;
    struct cr_join_options jo = {.wait_seconds = 600};
    struct cr_node *node = NULL;
    char *join_cert = NULL, *join_key = NULL, *ca = NULL;
    char *cluster_cert = NULL, *cluster_key = NULL;
    char err[512], path[700], thumb[CR_THUMBPRINT_LEN + 1];
    const char *cacert = NULL;
    int opt, rv = 1;

    cr_node_config_defaults(&c);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            snprintf(c.data_dir, sizeof c.data_dir, "%s", optarg);
            break;
        case 'i':
            c.id = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            snprintf(c.raft_address, sizeof c.raft_address, "%s", optarg);
            break;
        case 'a':
            snprintf(c.api_address, sizeof c.api_address, "%s", optarg);
            break;
        case 'u':
            snprintf(c.api_url, sizeof c.api_url, "%s", optarg);
            break;
        case 'c':
            jo.cluster_urls = optarg;
            break;
        case 'C':
            cacert = optarg;
            break;
        case 'w':
            jo.wait_seconds = (unsigned)atoi(optarg);
            break;
        case 'h':
            fputs(join_usage, stdout);
            return 0;
        default:
            if (!cr_tuning_option(opt, optarg, &c)) {
                fprintf(stderr, "see `certnode join --help`\n");
                return 2;
            }
        }
    }
    if (c.data_dir[0] == '\0' || c.raft_address[0] == '\0' ||
        c.api_address[0] == '\0' || jo.cluster_urls == NULL || c.id == 0) {
        fprintf(stderr, "certnode join: --data, --id, --raft-address, "
                        "--api-address and --cluster are required; see "
                        "`certnode join --help`\n");
        return 2;
    }
    if (c.api_url[0] == '\0') {
        snprintf(c.api_url, sizeof c.api_url, "https://%s", c.api_address);
    }
    cr_path_join(path, sizeof path, c.data_dir, CR_FILE_JOIN_KEY);
    {
        char cfg[700];
        cr_path_join(cfg, sizeof cfg, c.data_dir, CR_FILE_CONFIG);
        if (cr_file_exists(cfg) && !cr_file_exists(path)) {
            fprintf(stderr, "certnode join: %s already holds a node that "
                            "joined; start it with `certnode run --data "
                            "%s`\n",
                    c.data_dir, c.data_dir);
            return 1;
        }
    }
    if (cr_dir_create_private(c.data_dir, err, sizeof err) != 0 ||
        load_or_make_join_cert(c.data_dir, c.id, &join_cert, &join_key, err,
                               sizeof err) != 0 ||
        pem_thumbprint(join_cert, thumb) != 0) {
        goto out;
    }
    if (cacert != NULL &&
        (ca = cr_file_read(cacert, NULL, err, sizeof err)) == NULL) {
        goto out;
    }
    printf("certnode: node %llu is waiting to be admitted. On the cluster, "
           "run:\n\n"
           "  certctl cluster add-node --id %llu --raft-address %s "
           "--api-url %s --thumbprint %s\n\n",
           (unsigned long long)c.id, (unsigned long long)c.id,
           c.raft_address, c.api_url, thumb);
    fflush(stdout);

    cr_path_join(path, sizeof path, c.data_dir, CR_FILE_CLUSTER_CERT);
    if (!cr_file_exists(path)) {
        jo.join_cert_pem = join_cert;
        jo.join_key_pem = join_key;
        jo.ca_pem = ca;
        if (cr_join_fetch_cluster_cert(&jo, &cluster_cert, &cluster_key, err,
                                       sizeof err) != 0) {
            goto out;
        }
        char kpath[700];
        cr_path_join(kpath, sizeof kpath, c.data_dir, CR_FILE_CLUSTER_KEY);
        if (cr_file_write_private(kpath, cluster_key, strlen(cluster_key),
                                  err, sizeof err) != 0 ||
            cr_file_write_private(path, cluster_cert, strlen(cluster_cert),
                                  err, sizeof err) != 0) {
            goto out;
        }
    }
    if (cr_node_config_save(&c, err, sizeof err) != 0) {
        goto out;
    }
    printf("certnode: admitted; starting node %llu\n",
           (unsigned long long)c.id);
    fflush(stdout);
    node = calloc(1, sizeof *node);
    if (node == NULL) {
        goto out;
    }
    node->joining = true;
    snprintf(node->join_url, sizeof node->join_url, "%s", jo.cluster_urls);
    node->join_cert_pem = join_cert;
    node->join_key_pem = join_key;
    join_cert = join_key = NULL; /* the node owns them now */
    rv = cr_node_run_loop(node, &c, false);
    free(node);
    node = NULL;
    err[0] = '\0';
out:
    if (rv != 0 && err[0] != '\0') {
        fprintf(stderr, "certnode join: %s\n", err);
    }
    if (cluster_key != NULL) {
        OPENSSL_cleanse(cluster_key, strlen(cluster_key));
    }
    if (join_key != NULL) {
        OPENSSL_cleanse(join_key, strlen(join_key));
    }
    free(cluster_key);
    free(cluster_cert);
    free(join_cert);
    free(join_key);
    free(ca);
    return rv;
}
