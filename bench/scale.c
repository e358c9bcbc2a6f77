/*
 * scale.c - how certraft's replicated state behaves with 10k .. 1M
 * registered certificates, measured on the real core: every certificate
 * goes in as a CERT_PUT command through cr_command_encode() and
 * cr_state_apply(), exactly what a node applies from its raft log.
 *
 * At each size it prints: apply cost per upload (the catch-up/replay
 * rate), authentication lookup time (cr_auth_authenticate: SHA-256 of
 * the presented DER with the probe for its entry overlapped, for
 * certificates picked at random across the whole registry, so cache
 * misses count), the bare probe
 * (cr_state_cert_find by thumbprint), resident memory per certificate
 * beyond its DER (RSS growth / certificates, minus the DER length; and
 * the same from malloc's own count of bytes in use), and
 * the snapshot: size, time to take it (cr_state_snapshot) and to restore
 * it into an empty state (cr_state_restore), and what /metrics pays to
 * count expired and expiring certificates: through the expiry index
 * (cr_state_cert_expiry_counts) and, for comparison, by visiting every
 * entry as it used to.
 *
 * Certificates are one template DER (--template, 16-byte serial marker
 * 11 12 .. 20) with a counter stamped into the serial: distinct
 * thumbprints and pins. Each is decoded and parsed first, as the leader
 * does when it takes an upload (cr_x509_decode_bundle, not timed), so
 * that apply() finds the parsed fields in the entry as on a real node.
 *
 *   scale --template t.der [--sizes 10000,100000,1000000]
 *         [--lookups 200000] [--json]
 */
#include <getopt.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <certraft/auth.h>
#include <certraft/command.h>
#include <certraft/state.h>
#include <certraft/x509.h>

static const unsigned char marker[16] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
                                         0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
                                         0x1d, 0x1e, 0x1f, 0x20};
static unsigned char *tmpl;
static size_t tmpl_len, serial_at;

struct expiry_visit {
    int64_t now, limit;
    size_t expired, expiring;
};

static bool expiry_visit_one(const struct cr_cert_entry *e, void *arg)
{
    struct expiry_visit *v = arg;

    if (e->not_after < v->now) {
        v->expired++;
    } else if (e->not_after <= v->limit) {
        v->expiring++;
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &rss) != 2) {
        rss = 0;
    }
    if (f != NULL) {
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* Certificate number @n of the series, into @out (tmpl_len bytes). */
static void stamp(uint64_t n, unsigned char *out)
{
    memcpy(out, tmpl, tmpl_len);
    unsigned char *s = out + serial_at;
    s[0] = 0x11;
    memset(s + 1, 0, 7);
    for (int i = 0; i < 8; i++) {
        s[8 + i] = (unsigned char)(n >> (56 - 8 * i));
    }
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "scale: %s: %s\n", what, why);
    exit(1);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void apply_cmd(struct cr_state *st, uint64_t index,
                      const struct cr_command *cmd)
{
    struct cr_buf out = {0};
    struct cr_error err;
    struct cr_apply_result res;

    if (cr_command_encode(cmd, &out, &err) != CR_OK) {
        die("encode", err.msg);
    }
    cr_state_apply(st, index, out.data, out.len, &res);
    cr_buf_free(&out);
    if (res.status != CR_OK) {
        die("apply", res.message);
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"template", 1, 0, 't'},
                                       {"sizes", 1, 0, 's'},
                                       {"lookups", 1, 0, 'l'},
                                       {"json", 0, 0, 'j'},
                                       {0, 0, 0, 0}};
    const char *tpath = NULL, *sizes = "10000,100000,1000000";
    long lookups = 200000;
    int json = 0, o;

    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 't': tpath = optarg; break;
        case 's': sizes = optarg; break;
        case 'l': lookups = atol(optarg); break;
        case 'j': json = 1; break;
        default:
            fprintf(stderr, "usage: scale --template DER [--sizes a,b,c] "
                            "[--lookups N] [--json]\n");
            return 2;
        }
    }
    if (tpath == NULL) {
        die("usage", "--template is required");
    }
    FILE *f = fopen(tpath, "rb");
    if (f == NULL) {
        die(tpath, "cannot open");
    }
    tmpl = malloc(65536);
    tmpl_len = fread(tmpl, 1, 65536, f);
    fclose(f);
    unsigned char *m = memmem(tmpl, tmpl_len, marker, 16);
    if (m == NULL) {
        die(tpath, "no 11 12 .. 20 serial marker");
    }
    serial_at = (size_t)(m - tmpl);

    long rss0 = rss_bytes();
    struct mallinfo2 mi0 = mallinfo2();
    size_t heap0 = mi0.uordblks + mi0.hblkhd;
    struct cr_state *st = cr_state_new();
    uint64_t index = 1;
    unsigned char *der = malloc(tmpl_len), *der2 = malloc(tmpl_len);
    char admin_thumb[CR_THUMBPRINT_LEN + 1];

    /* Bootstrap: the cluster certificate and the first admin, both from
     * the template with serials outside the series. */
    {
        struct cr_command cmd;
        memset(&cmd, 0, sizeof cmd);
        stamp(UINT64_MAX, der);
        stamp(UINT64_MAX - 1, der2);
        cr_thumbprint(der2, tmpl_len, admin_thumb);
        cmd.type = CR_CMD_BOOTSTRAP;
        cmd.time_ms = wall_ms();
        cmd.u.bootstrap.cluster_cert = (struct cr_der){der, tmpl_len};
        cmd.u.bootstrap.admin_cert = (struct cr_der){der2, tmpl_len};
        cmd.u.bootstrap.admin_name = "admin";
        apply_cmd(st, index++, &cmd);
    }

    if (!json) {
        printf("certraft core at scale: DER %zu bytes per certificate, "
               "lookups over %ld random registered certificates\n",
               tmpl_len, lookups);
        printf("| certs | apply us/upload | auth lookup ns | probe ns | "
               "RSS MiB | RSS/cert beyond DER (B) | snapshot MiB | "
               "snapshot s | restore s | heap/cert beyond DER (B) | "
               "expiry count us | expiry by visit us |\n");
        printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
               "---: | ---: | ---: | ---: |\n");
    } else {
        printf("[");
    }
    fflush(stdout);

    uint64_t have = 0;
    int first = 1;
    for (const char *p = sizes; *p != '\0';) {
        uint64_t target = strtoull(p, (char **)&p, 10);
        if (*p == ',') {
            p++;
        }
        if (target <= have) {
            continue;
        }
        /* grow to the target through apply() */
        struct cr_command cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = CR_CMD_CERT_PUT;
        memcpy(cmd.caller, admin_thumb, sizeof admin_thumb);
        cmd.u.cert_put.name = "bench";
        cmd.u.cert_put.clearance = CR_CLEARANCE_VALID_USER;
        uint64_t grown = target - have;
        double applying = 0, t0;
        for (; have < target; have++) {
            struct cr_error perr;
            stamp(have, der);
            cmd.time_ms = wall_ms();
            if (cr_x509_decode_bundle(der, tmpl_len, NULL,
                                      &cmd.u.cert_put.certs,
                                      &cmd.u.cert_put.parsed,
                                      &perr) != CR_OK) {
                die("parse", perr.msg);
            }
            t0 = now_s();
            apply_cmd(st, index++, &cmd);
            applying += now_s() - t0;
            cr_cert_put_parsed_free(&cmd);
            cr_der_list_free(&cmd.u.cert_put.certs);
        }
        double apply_us = applying / (double)grown * 1e6;
        if (cr_state_cert_count(st) != have + 2) {
            die("count", "registry does not hold every upload");
        }

        /* authentication: SHA-256 + probe, random registered certs. The
         * machine may be shared: the best of 5 rounds is reported. */
        struct cr_identity id;
        struct cr_error err;
        int64_t wnow = wall_ms();
        double auth_ns = 1e18, probe_ns = 1e18;
        long per_round = lookups / 5 > 0 ? lookups / 5 : 1;
        long np = per_round;
        char(*thumbs)[CR_THUMBPRINT_LEN + 1] =
            malloc((size_t)np * sizeof *thumbs);
        for (int round = 0; round < 5; round++) {
            double stamp_cost, t;
            t0 = now_s();
            for (long i = 0; i < per_round; i++) {
                stamp(next_rand() % have, der2);
            }
            stamp_cost = now_s() - t0;
            t0 = now_s();
            for (long i = 0; i < per_round; i++) {
                stamp(next_rand() % have, der2);
                if (cr_auth_authenticate(st, der2, tmpl_len, wnow, &id,
                                         &err) != CR_OK) {
                    die("authenticate", err.msg);
                }
            }
            t = (now_s() - t0 - stamp_cost) / (double)per_round * 1e9;
            auth_ns = t < auth_ns ? t : auth_ns;
            /* the bare probe, thumbprints precomputed */
            for (long i = 0; i < np; i++) {
                stamp(next_rand() % have, der2);
                cr_thumbprint(der2, tmpl_len, thumbs[i]);
            }
            t0 = now_s();
            for (long i = 0; i < np; i++) {
                if (cr_state_cert_find(st, thumbs[i]) == NULL) {
                    die("probe", "missing");
                }
            }
            t = (now_s() - t0) / (double)np * 1e9;
            probe_ns = t < probe_ns ? t : probe_ns;
        }
        free(thumbs);

        long rss = rss_bytes();
        double per_cert = (double)(rss - rss0) / (double)have - (double)tmpl_len;
        struct mallinfo2 mi = mallinfo2();
        double heap_per_cert =
            (double)(mi.uordblks + mi.hblkhd - heap0) / (double)have -
            (double)tmpl_len;

        /* snapshot and restore */
        struct cr_buf snap = {0};
        t0 = now_s();
        if (cr_state_snapshot(st, &snap, &err) != CR_OK) {
            die("snapshot", err.msg);
        }
        double snap_s = now_s() - t0;
        struct cr_state *st2 = cr_state_new();
        t0 = now_s();
        if (cr_state_restore(st2, snap.data, snap.len, &err) != CR_OK) {
            die("restore", err.msg);
        }
        double restore_s = now_s() - t0;
        if (cr_state_cert_count(st2) != have + 2) {
            die("restore", "count differs");
        }
        size_t snap_len = snap.len;
        cr_state_free(st2);
        cr_buf_free(&snap);

        /* /metrics' expiry counts: the index vs a visit of every entry */
        size_t expired, expiring;
        struct expiry_visit ev = {wnow / 1000, wnow / 1000 + 30 * 86400, 0, 0};
        t0 = now_s();
        cr_state_cert_expiry_counts(st, ev.now, 30 * 86400, &expired,
                                    &expiring);
        double expiry_us = (now_s() - t0) * 1e6;
        t0 = now_s();
        cr_state_cert_foreach(st, expiry_visit_one, &ev);
        double visit_us = (now_s() - t0) * 1e6;
        if (expired != ev.expired || expiring != ev.expiring) {
            die("expiry counts", "the index and the visit disagree");
        }

        if (json) {
            printf("%s{\"certs\":%llu,\"der_bytes\":%zu,\"apply_us\":%.2f,"
                   "\"auth_ns\":%.1f,\"probe_ns\":%.1f,\"rss_mib\":%.1f,"
                   "\"rss_per_cert_beyond_der\":%.0f,\"snapshot_mib\":%.2f,"
                   "\"snapshot_s\":%.3f,\"restore_s\":%.3f,"
                   "\"heap_per_cert_beyond_der\":%.0f,\"expiry_us\":%.1f,"
                   "\"expiry_visit_us\":%.1f}",
                   first ? "" : ",", (unsigned long long)have, tmpl_len,
                   apply_us, auth_ns, probe_ns, (double)rss / 1048576.0,
                   per_cert, (double)snap_len / 1048576.0, snap_s, restore_s,
                   heap_per_cert, expiry_us, visit_us);
        } else {
            printf("| %llu | %.1f | %.0f | %.0f | %.0f | %.0f | %.1f | %.3f | "
                   "%.3f | %.0f | %.1f | %.0f |\n",
                   (unsigned long long)have, apply_us, auth_ns, probe_ns,
                   (double)rss / 1048576.0, per_cert,
                   (double)snap_len / 1048576.0, snap_s, restore_s,
                   heap_per_cert, expiry_us, visit_us);
        }
        first = 0;
        fflush(stdout);
    }
    if (json) {
        printf("]\n");
    }
    cr_state_free(st);
    free(der);
    free(der2);
    free(tmpl);
    return 0;
}
