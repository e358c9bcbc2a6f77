/*
 * test_forward_request.c - a request to another node (node/forward.c)
 * owns the certificate, key and trusted certificates it runs with: a
 * rotation may free the node's while the request is on the thread pool
 * (ASan caught exactly that in a cluster test).
 */
#include <stdlib.h>
#include <string.h>

#include "../node/forward.h"
#include "harness.h"

TEST(test_tls_material_is_copied)
{
    struct cr_https_request *r = calloc(1, sizeof *r);
    char *cert = strdup("-----BEGIN CERTIFICATE-----\ncert\n");
    char *key = strdup("-----BEGIN PRIVATE KEY-----\nkey\n");
    char *ca = strdup("-----BEGIN CERTIFICATE-----\nca\n");

    CHECK(r != NULL && cert != NULL && key != NULL && ca != NULL);
    CHECK_INT(cr_https_request_set_tls(r, cert, key, ca), 0);
    CHECK(r->cert_pem != cert && r->key_pem != key);
    CHECK(r->ca_pem == ca); /* taken, not copied */
    /* The node replaces its identity while the request is in flight. */
    memset(cert, 'x', strlen(cert));
    memset(key, 'x', strlen(key));
    free(cert);
    free(key);
    CHECK_STR(r->cert_pem, "-----BEGIN CERTIFICATE-----\ncert\n");
    CHECK_STR(r->key_pem, "-----BEGIN PRIVATE KEY-----\nkey\n");
    cr_https_request_free(r); /* frees the copies and the CA */
}

TEST(test_no_client_certificate)
{
    struct cr_https_request *r = calloc(1, sizeof *r);

    CHECK(r != NULL);
    CHECK_INT(cr_https_request_set_tls(r, NULL, NULL, NULL), 0);
    CHECK(r->cert_pem == NULL && r->key_pem == NULL && r->ca_pem == NULL);
    cr_https_request_free(r);
}

int main(void)
{
    RUN(test_tls_material_is_copied);
    RUN(test_no_client_certificate);
    return HARNESS_DONE();
}
