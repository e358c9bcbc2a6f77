/*
 * test_core_snapshot.c - snapshots: round trip to an equal state, and
 * corrupt or truncated snapshots rejected with the state unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include <certraft/state.h>

#include "core_test_certs.h"
#include "harness.h"

/* A state with something in every part: collections, a disabled entry,
 * permissions, pending node, databases, documents, audit. */
static struct cr_state *rich_state(void)
{
    struct cr_state *st = cr_state_new();
    struct tcert cl = tcert_cluster("cluster"), admin = tcert_client(&cl, "a", 9);
    struct tcert u = tcert_client(&cl, "u", 9), s = tcert_client(&cl, "s", 9);
    struct tcert j = tcert_client(&cl, "j", 1);
    struct cr_permission perms[] = {{(char *)"db1", CR_ACCESS_READ},
                                    {(char *)"db0", CR_ACCESS_ADMIN}};
    struct cr_command cmd;

    tbootstrap(st, &cl, &admin);
    tput(st, &admin, (const struct tcert *[]){&u, &s}, 2, "user",
         CR_CLEARANCE_VALID_USER, perms, 2, NULL);
    tcmd_init(&cmd, CR_CMD_CERT_EDIT, &admin);
    memcpy(cmd.u.cert_edit.thumbprint, u.thumb, 65);
    cmd.u.cert_edit.disabled = 1;
    tapply(st, &cmd, NULL);
    tdb(st, &admin, CR_CMD_DB_PUT, "db1");
    tdb(st, &admin, CR_CMD_DB_PUT, "db0");
    tdoc(st, &admin, "db1", "b", "{\"b\":true}");
    tdoc(st, &admin, "db1", "a", "[1,2,3]");
    tcmd_init(&cmd, CR_CMD_NODE_PENDING, &admin);
    cmd.u.node.id = 5;
    cmd.u.node.raft_address = (char *)"h:1";
    cmd.u.node.api_url = (char *)"https://h:2";
    memcpy(cmd.u.node.join_thumbprint, j.thumb, 65);
    tapply(st, &cmd, NULL);
    tdb(st, &u, CR_CMD_DB_PUT, "refused");
    tcert_free(&cl);
    tcert_free(&admin);
    tcert_free(&u);
    tcert_free(&s);
    tcert_free(&j);
    return st;
}

TEST(test_round_trip)
{
    struct cr_state *a = rich_state(), *b = cr_state_new(), *e = cr_state_new();
    struct cr_buf s1 = tsnap(a), s2, s3;
    struct cr_error err;

    CHECK(!cr_state_equal(a, b));
    CHECK_INT(cr_state_restore(b, s1.data, s1.len, &err), CR_OK);
    CHECK(cr_state_equal(a, b));
    s2 = tsnap(b);
    CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
    CHECK_INT(cr_state_cert_count(b), 4);
    CHECK_INT(cr_state_pending_node_count(b), 1);
    CHECK_STR(cr_state_doc_get(b, "db1", "a", NULL), "[1,2,3]");
    CHECK_INT(cr_state_audit_count(b), cr_state_audit_count(a));
    CHECK_INT(cr_state_applied_index(b), cr_state_applied_index(a));

    /* An empty state round-trips too, and restoring replaces content. */
    s3 = tsnap(e);
    CHECK_INT(cr_state_restore(b, s3.data, s3.len, &err), CR_OK);
    CHECK(cr_state_equal(b, e));
    CHECK_INT(cr_state_cert_count(b), 0);

    /* A smaller audit capacity keeps the newest records. */
    cr_state_set_audit_capacity(e, 2);
    CHECK_INT(cr_state_restore(e, s1.data, s1.len, &err), CR_OK);
    CHECK_INT(cr_state_audit_count(e), 2);
    CHECK_INT(cr_state_audit_get(e, 1)->index, cr_state_applied_index(a));

    /* Equality notices a difference anywhere. */
    CHECK_INT(cr_state_restore(b, s1.data, s1.len, &err), CR_OK);
    tdb(b, NULL, CR_CMD_DB_PUT, "x"); /* refused, but audited */
    CHECK(!cr_state_equal(a, b));
    cr_buf_free(&s1);
    cr_buf_free(&s2);
    cr_buf_free(&s3);
    cr_state_free(a);
    cr_state_free(b);
    cr_state_free(e);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

TEST(test_corrupt_rejected_state_unchanged)
{
    struct cr_state *a = rich_state(), *victim = rich_state();
    struct cr_buf good = tsnap(a), before = tsnap(victim);
    struct cr_error err;
    size_t n;
    int i, accepted = 0;

    /* Every truncation fails. */
    for (n = 0; n < good.len; n += (n < 200 ? 1 : 37)) {
        CHECK_INT(cr_state_restore(victim, good.data, n, &err), CR_EINVAL);
    }
    /* Trailing bytes fail. */
    {
        unsigned char *x = malloc(good.len + 1);
        memcpy(x, good.data, good.len);
        x[good.len] = 0xc0;
        CHECK_INT(cr_state_restore(victim, x, good.len + 1, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "trailing") != NULL);
        free(x);
    }
    /* A wrong version fails with a message saying so. */
    {
        unsigned char *x = malloc(good.len);
        memcpy(x, good.data, good.len);
        /* header: map, "v" (0xa1 'v'), then the version fixint */
        CHECK(x[1] == 0xa1 && x[2] == 'v');
        x[3] = 2;
        CHECK_INT(cr_state_restore(victim, x, good.len, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "version") != NULL);
        free(x);
    }
    /* Random corruption: rejected, or (rarely, e.g. in a JSON body)
     * accepted as a valid state; never a crash or a leak. */
    for (i = 0; i < 3000; i++) {
        unsigned char *x = malloc(good.len);
        struct cr_state *t = cr_state_new();
        int k, edits = 1 + (int)(rng() % 3);
        memcpy(x, good.data, good.len);
        for (k = 0; k < edits; k++) {
            x[rng() % good.len] = (unsigned char)rng();
        }
        if (cr_state_restore(t, x, good.len, &err) == CR_OK) {
            accepted++;
        }
        free(x);
        cr_state_free(t);
    }
    printf("  %d of 3000 corrupted snapshots still restored\n", accepted);
    {
        struct cr_buf after = tsnap(victim);
        CHECK(after.len == before.len &&
              memcmp(after.data, before.data, after.len) == 0);
        cr_buf_free(&after);
    }
    /* A collection whose secondary vanished is refused. */
    {
        struct cr_state *t = cr_state_new();
        unsigned char *x = malloc(good.len);
        CHECK_INT(cr_state_restore(t, good.data, good.len, &err), CR_OK);
        memcpy(x, good.data, good.len);
        /* Corrupt one character of the primary's secondary reference:
         * primary "" (0xa0), then [ (0x91) str8 of 64 (0xd9 0x40). */
        for (n = 0; n + 67 < good.len; n++) {
            if (x[n] == 0xa0 && x[n + 1] == 0x91 && x[n + 2] == 0xd9 &&
                x[n + 3] == 0x40) {
                x[n + 4] = x[n + 4] == 'A' ? 'B' : 'A';
                break;
            }
        }
        CHECK(n + 67 < good.len);
        CHECK_INT(cr_state_restore(t, x, good.len, &err), CR_EINVAL);
        CHECK(strstr(err.msg, "collection") != NULL);
        free(x);
        cr_state_free(t);
    }
    cr_buf_free(&good);
    cr_buf_free(&before);
    cr_state_free(a);
    cr_state_free(victim);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_corrupt_rejected_state_unchanged);
    return HARNESS_DONE();
}
