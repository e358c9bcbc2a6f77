/*
 * cmd_init.c - `certnode init`: a new data directory and a new one-node
 * cluster.
 *
 * It makes (or imports) the cluster certificate, issues the first
 * ClusterAdmin client certificate into the operator's directory (its key
 * is written there and nowhere else), records both public certificates in
 * a BOOTSTRAP command, bootstraps raft, and runs the node just long enough
 * to commit that command.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <certraft/command.h>
#include <certraft/tls_transport.h>
#include <certraft/x509.h>

#include "commands.h"
#include "data_dir.h"
#include "node.h"

static const char init_usage[] =
    "usage: certnode init --data DIR --id N --raft-address HOST:PORT\n"
    "                     --api-address HOST:PORT --admin-out DIR [options]\n"
    "\n"
    "Create the data directory DIR (mode 0700) for the first node of a new\n"
    "cluster: the cluster certificate (a self-signed CA-capable server\n"
    "certificate, or your own PFX), a one-node raft configuration, and the\n"
    "first ClusterAdmin client certificate, written to the --admin-out\n"
    "directory as admin.crt, admin.key and admin.pfx (its private key is\n"
    "not kept anywhere else) with cluster-ca.crt to verify the nodes.\n"
    "\n"
    "options:\n"
    "  --data DIR                the new data directory (required)\n"
    "  --id N                    this node's id, >= 1 (default 1)\n"
    "  --raft-address HOST:PORT  where raft listens (required)\n"
    "  --api-address HOST:PORT   where the HTTPS API listens (required)\n"
    "  --api-url URL             how others reach the API\n"
    "                            (default https://API-ADDRESS)\n"
    "  --admin-out DIR           where to write the admin certificate\n"
    "                            (required; created 0700)\n"
    "  --admin-name NAME         the admin certificate's name (default\n"
    "                            \"Cluster Admin\")\n"
    "  --admin-password PW       protect admin.pfx and admin.key with PW\n"
    "  --server-cert FILE.pfx    use your own cluster certificate (PFX with\n"
    "                            its key) instead of generating one\n"
    "  --password PW             the password of --server-cert\n"
    "  --key-type TYPE           generated key: P-256 (default), P-384,\n"
    "                            RSA-2048, RSA-3072, RSA-4096\n"
    "  --san NAME                extra subjectAltName for the generated\n"
    "                            certificate, e.g. DNS:certraft.example or\n"
    "                            IP:10.0.0.5 (repeatable)\n"
    "  --days N                  validity of the generated cluster\n"
    "                            certificate (default 3650)\n" CR_TUNING_HELP
    "  -h, --help                this text\n"
    "\n"
    "example:\n"
    "  certnode init --data /var/lib/certraft/n1 --id 1 \\\n"
    "    --raft-address 127.0.0.1:7001 --api-address 127.0.0.1:8001 \\\n"
    "    --admin-out ~/.certraft\n";

struct init_opts {
    struct cr_node_config config;
    const char *admin_out;
    const char *admin_name;
    const char *admin_password;
    const char *server_cert;
    const char *password;
    const char *key_type;
    const char *sans[32];
    size_t n_sans;
    int days;
};

static void add_san_for_host(struct init_opts *o, char *buf, size_t buflen,
                             const char *hostport)
{
    char host[128];
    int port;
    unsigned char tmp[16];

    if (cr_raft_address_parse(hostport, host, sizeof host, &port) != 0 ||
        o->n_sans >= 30) {
        return;
    }
    if (inet_pton(AF_INET, host, tmp) == 1 ||
        inet_pton(AF_INET6, host, tmp) == 1) {
        snprintf(buf, buflen, "IP:%s", host);
    } else {
        snprintf(buf, buflen, "DNS:%s", host);
    }
    for (size_t i = 0; i < o->n_sans; i++) {
        if (strcmp(o->sans[i], buf) == 0) {
            return;
        }
    }
    o->sans[o->n_sans++] = buf;
}

static int write_pem_file(const char *dir, const char *name, const char *pem,
                          char *err, size_t errlen)
{
    char path[700];
    cr_path_join(path, sizeof path, dir, name);
    return cr_file_write_private(path, pem, strlen(pem), err, errlen);
}

/* The cluster certificate and key, generated or from the operator's PFX. */
static int make_cluster_cert(struct init_opts *o, EVP_PKEY **key, X509 **cert,
                             struct cr_der_list *chain, char *err,
                             size_t errlen)
{
    struct cr_error cerr;

    if (o->server_cert != NULL) {
        size_t len;
        char *data = cr_file_read(o->server_cert, &len, err, errlen);
        if (data == NULL) {
            return -1;
        }
        if (cr_pkcs12_read((unsigned char *)data, len, o->password, key, cert,
                           chain, &cerr) != CR_OK) {
            snprintf(err, errlen, "%s: %s", o->server_cert, cerr.msg);
            free(data);
            return -1;
        }
        free(data);
        if (*key == NULL) {
            snprintf(err, errlen, "%s holds no private key", o->server_cert);
            return -1;
        }
        return 0;
    }
    enum cr_key_type type = CR_KEY_EC_P256;
    char san_bufs[3][160];
    if (o->key_type != NULL &&
        cr_key_type_parse(o->key_type, &type, &cerr) != CR_OK) {
        snprintf(err, errlen, "%s", cerr.msg);
        return -1;
    }
    o->sans[o->n_sans++] = "DNS:localhost";
    o->sans[o->n_sans++] = "IP:127.0.0.1";
    add_san_for_host(o, san_bufs[0], sizeof san_bufs[0],
                     o->config.api_address);
    add_san_for_host(o, san_bufs[1], sizeof san_bufs[1],
                     o->config.raft_address);
    *key = cr_key_generate(type, &cerr);
    if (*key == NULL) {
        snprintf(err, errlen, "%s", cerr.msg);
        return -1;
    }
    *cert = cr_x509_make_cluster_cert(*key, "certraft cluster", o->sans,
                                      o->n_sans, o->days, &cerr);
    if (*cert == NULL) {
        snprintf(err, errlen, "%s", cerr.msg);
        return -1;
    }
    return 0;
}

/* The first ClusterAdmin certificate goes to the operator's directory
 * only; the BOOTSTRAP command carries its public half. */
static int write_admin(struct init_opts *o, EVP_PKEY *ca_key, X509 *ca_cert,
                       const char *cluster_pem, unsigned char **admin_der,
                       size_t *admin_der_len, char *err, size_t errlen)
{
    struct cr_error cerr;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char *cert_pem = NULL, *key_pem = NULL;
    unsigned char *pfx = NULL;
    size_t pfx_len = 0;
    char path[700];
    int rv = -1;
    int64_t not_after = (int64_t)time(NULL) + 5LL * 365 * 86400;

    if (cr_dir_create_private(o->admin_out, err, errlen) != 0) {
        return -1;
    }
    key = cr_key_generate(CR_KEY_EC_P256, &cerr);
    if (key == NULL ||
        (cert = cr_x509_issue_client(key, o->admin_name, not_after, ca_cert,
                                     ca_key, &cerr)) == NULL) {
        snprintf(err, errlen, "admin certificate: %s", cerr.msg);
        goto out;
    }
    cert_pem = cr_x509_to_pem(cert);
    key_pem = cr_key_to_pem(key, o->admin_password);
    if (cert_pem == NULL || key_pem == NULL ||
        cr_pkcs12_write(key, cert, NULL, o->admin_password, &pfx, &pfx_len,
                        &cerr) != CR_OK ||
        cr_x509_to_der(cert, admin_der, admin_der_len) != CR_OK) {
        snprintf(err, errlen, "cannot encode the admin certificate");
        goto out;
    }
    if (write_pem_file(o->admin_out, "admin.crt", cert_pem, err, errlen) ||
        write_pem_file(o->admin_out, "admin.key", key_pem, err, errlen) ||
        write_pem_file(o->admin_out, "cluster-ca.crt", cluster_pem, err,
                       errlen)) {
        goto out;
    }
    cr_path_join(path, sizeof path, o->admin_out, "admin.pfx");
    if (cr_file_write_private(path, pfx, pfx_len, err, errlen) != 0) {
        goto out;
    }
    rv = 0;
out:
    if (key_pem != NULL) {
        OPENSSL_cleanse(key_pem, strlen(key_pem));
    }
    if (pfx != NULL) {
        OPENSSL_cleanse(pfx, pfx_len);
    }
    free(key_pem);
    free(cert_pem);
    free(pfx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rv;
}

static int write_bootstrap(struct init_opts *o, X509 *cluster_cert,
                           const unsigned char *admin_der, size_t admin_len,
                           char *err, size_t errlen)
{
    struct cr_command cmd;
    struct cr_buf out = {0};
    struct cr_error cerr;
    unsigned char *der = NULL;
    size_t der_len = 0;
    char path[700];
    int rv = -1;

    if (cr_x509_to_der(cluster_cert, &der, &der_len) != CR_OK) {
        snprintf(err, errlen, "cannot encode the cluster certificate");
        return -1;
    }
    memset(&cmd, 0, sizeof cmd);
    cmd.type = CR_CMD_BOOTSTRAP;
    cmd.time_ms = (int64_t)time(NULL) * 1000;
    cmd.u.bootstrap.cluster_cert.der = der;
    cmd.u.bootstrap.cluster_cert.len = der_len;
    cmd.u.bootstrap.admin_cert.der = (unsigned char *)admin_der;
    cmd.u.bootstrap.admin_cert.len = admin_len;
    cmd.u.bootstrap.admin_name = (char *)o->admin_name;
    if (cr_command_encode(&cmd, &out, &cerr) != CR_OK) {
        snprintf(err, errlen, "%s", cerr.msg);
    } else {
        cr_path_join(path, sizeof path, o->config.data_dir,
                     CR_FILE_BOOTSTRAP);
        rv = cr_file_write_private(path, out.data, out.len, err, errlen);
    }
    cr_buf_free(&out);
    free(der);
    return rv;
}

static int parse_init(int argc, char **argv, struct init_opts *o)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"id", required_argument, NULL, 'i'},
        {"raft-address", required_argument, NULL, 'r'},
        {"api-address", required_argument, NULL, 'a'},
        {"api-url", required_argument, NULL, 'u'},
        {"admin-out", required_argument, NULL, 'o'},
        {"admin-name", required_argument, NULL, 'n'},
        {"admin-password", required_argument, NULL, 'P'},
        {"server-cert", required_argument, NULL, 's'},
        {"password", required_argument, NULL, 'p'},
        {"key-type", required_argument, NULL, 'k'},
        {"san", required_argument, NULL, 'S'},
        {"days", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        CR_TUNING_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            snprintf(o->config.data_dir, sizeof o->config.data_dir, "%s",
                     optarg);
            break;
        case 'i':
            o->config.id = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            snprintf(o->config.raft_address, sizeof o->config.raft_address,
                     "%s", optarg);
            break;
        case 'a':
            snprintf(o->config.api_address, sizeof o->config.api_address,
                     "%s", optarg);
            break;
        case 'u':
            snprintf(o->config.api_url, sizeof o->config.api_url, "%s",
                     optarg);
            break;
        case 'o':
            o->admin_out = optarg;
            break;
        case 'n':
            o->admin_name = optarg;
            break;
        case 'P':
            o->admin_password = optarg;
            break;
        case 's':
            o->server_cert = optarg;
            break;
        case 'p':
            o->password = optarg;
            break;
        case 'k':
            o->key_type = optarg;
            break;
        case 'S':
            if (o->n_sans < 24) {
                o->sans[o->n_sans++] = optarg;
            }
            break;
        case 'D':
            o->days = atoi(optarg);
            break;
        case 'h':
            fputs(init_usage, stdout);
            return 0;
        default:
            if (!cr_tuning_option(opt, optarg, &o->config)) {
                fprintf(stderr, "see `certnode init --help`\n");
                return 2;
            }
        }
    }
    if (o->config.data_dir[0] == '\0' || o->config.raft_address[0] == '\0' ||
        o->config.api_address[0] == '\0' || o->admin_out == NULL) {
        fprintf(stderr, "certnode init: --data, --raft-address, "
                        "--api-address and --admin-out are required; see "
                        "`certnode init --help`\n");
        return 2;
    }
    if (o->config.id == 0) {
        fprintf(stderr, "certnode init: --id must be a positive integer\n");
        return 2;
    }
    if (o->days <= 0) {
        fprintf(stderr, "certnode init: --days must be positive\n");
        return 2;
    }
    if (o->config.api_url[0] == '\0') {
        snprintf(o->config.api_url, sizeof o->config.api_url, "https://%s",
                 o->config.api_address);
    }
    return -1; /* go on */
}

int cr_cmd_init(int argc, char **argv)
{
    struct init_opts o;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    struct cr_der_list chain = {0};
    char *cert_pem = NULL, *key_pem = NULL;
    unsigned char *admin_der = NULL;
    size_t admin_len = 0;
    char err[512], path[700];
    struct cr_node *node = NULL;
    int rv;

    memset(&o, 0, sizeof o);
    cr_node_config_defaults(&o.config);
    o.config.id = 1;
    o.admin_name = "Cluster Admin";
    o.days = 3650;
    rv = parse_init(argc, argv, &o);
    if (rv >= 0) {
        return rv;
    }
    cr_path_join(path, sizeof path, o.config.data_dir, CR_FILE_CONFIG);
    if (cr_file_exists(path)) {
        fprintf(stderr, "certnode init: %s already holds a node; start it "
                        "with `certnode run --data %s`\n",
                o.config.data_dir, o.config.data_dir);
        return 1;
    }
    rv = 1;
    if (cr_dir_create_private(o.config.data_dir, err, sizeof err) != 0 ||
        make_cluster_cert(&o, &key, &cert, &chain, err, sizeof err) != 0) {
        goto out;
    }
    cert_pem = cr_x509_to_pem(cert);
    for (size_t i = 0; cert_pem != NULL && i < chain.n; i++) {
        char *more = cr_der_to_pem(chain.items[i].der, chain.items[i].len);
        char *joined = more ? malloc(strlen(cert_pem) + strlen(more) + 1) : NULL;
        if (joined != NULL) {
            strcpy(joined, cert_pem);
            strcat(joined, more);
        }
        free(more);
        free(cert_pem);
        cert_pem = joined;
    }
    key_pem = cr_key_to_pem(key, NULL);
    if (cert_pem == NULL || key_pem == NULL) {
        snprintf(err, sizeof err, "cannot encode the cluster certificate");
        goto out;
    }
    if (write_pem_file(o.config.data_dir, CR_FILE_CLUSTER_CERT, cert_pem, err,
                       sizeof err) ||
        write_pem_file(o.config.data_dir, CR_FILE_CLUSTER_KEY, key_pem, err,
                       sizeof err) ||
        write_admin(&o, key, cert, cert_pem, &admin_der, &admin_len, err,
                    sizeof err) ||
        write_bootstrap(&o, cert, admin_der, admin_len, err, sizeof err) ||
        cr_node_config_save(&o.config, err, sizeof err)) {
        goto out;
    }
    node = calloc(1, sizeof *node);
    if (node == NULL) {
        goto out;
    }
    node->bootstrap_only = true;
    rv = cr_node_run_loop(node, &o.config, true);
    if (rv != 0) {
        snprintf(err, sizeof err, "bootstrapping the cluster failed");
        goto out;
    }
    printf("certnode: initialized node %llu of a new cluster in %s\n"
           "  admin certificate: %s/admin.crt, %s/admin.key, %s/admin.pfx\n"
           "  cluster CA for clients: %s/cluster-ca.crt\n"
           "  start it with: certnode run --data %s\n",
           (unsigned long long)o.config.id, o.config.data_dir, o.admin_out,
           o.admin_out, o.admin_out, o.admin_out, o.config.data_dir);
out:
    if (rv != 0) {
        fprintf(stderr, "certnode init: %s\n", err);
    }
    if (key_pem != NULL) {
        OPENSSL_cleanse(key_pem, strlen(key_pem));
    }
    free(node);
    free(key_pem);
    free(cert_pem);
    free(admin_der);
    cr_der_list_free(&chain);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rv;
}
