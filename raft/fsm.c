/*
 * fsm.c - the raft_fsm callbacks over the core's deterministic state.
 *
 * raft 0.15's apply() does not pass the entry's index; entries are applied
 * strictly in order and raft updates last_applied after each one, so the
 * index being applied is always raft_last_applied() + 1.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <certraft/fsm.h>

#include "snapshot_child.h"
#include "snapshot_lz4.h"

int cr_fsm_frame(const void *data, size_t len, struct raft_buffer *out)
{
    size_t padded = 8 + ((len + 7) & ~(size_t)7);
    unsigned char *p = raft_malloc(padded);

    if (p == NULL) {
        return RAFT_NOMEM;
    }
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(p + 8, data, len);
    memset(p + 8 + len, 0, padded - 8 - len);
    out->base = p;
    out->len = padded;
    return 0;
}

/* The command inside a frame; a frame that lies about its length is
 * handed to apply() as empty, which rejects it like any malformed entry. */
static void fsm_unframe(const struct raft_buffer *buf, const void **data,
                        size_t *len)
{
    const unsigned char *p = buf->base;
    uint64_t n = 0;

    *data = NULL;
    *len = 0;
    if (buf->len < 8) {
        return;
    }
    for (int i = 0; i < 8; i++) {
        n |= (uint64_t)p[i] << (8 * i);
    }
    if (n > buf->len - 8) {
        return;
    }
    *data = p + 8;
    *len = (size_t)n;
}

static struct cr_fsm *fsm_of(struct raft_fsm *raft_fsm)
{
    return (struct cr_fsm *)raft_fsm->data;
}

static int fsm_apply(struct raft_fsm *raft_fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct cr_fsm *fsm = fsm_of(raft_fsm);
    uint64_t index = raft_last_applied(fsm->raft) + 1;
    struct cr_fsm_slot *slot = &fsm->slots[index % CR_FSM_RESULT_SLOTS];
    const void *data;
    size_t len;

    fsm_unframe(buf, &data, &len);
    slot->index = index;
    cr_state_apply(fsm->state, index, data, len, &slot->result);
    *result = &slot->result;
    if (fsm->applied_cb != NULL) {
        fsm->applied_cb(fsm, index, &slot->result);
    }
    /* Rejections are results, not errors: a non-zero return would stop
     * raft on every node for one bad request. */
    return 0;
}

/* The snapshot reaches raft as chunks of this size rather than as one
 * buffer the size of the state: each chunk is its own mapping (see
 * cr_fsm_tune_malloc), returned to the system when freed. */
#define SNAPSHOT_CHUNK ((size_t)4 << 20)

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* On the loop thread, which applies nothing meanwhile: only the fork
 * happens here (its duration is the stall a snapshot imposes on writes);
 * the child encodes the state as it was at this index. */
static int fsm_snapshot(struct raft_fsm *raft_fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct cr_fsm *fsm = fsm_of(raft_fsm);
    uint64_t t0 = now_us(), ms;
    int rv;

    *bufs = NULL;
    *n_bufs = 0;
    rv = cr_snapshot_child_start(&fsm->child, fsm->state);
    if (rv != 0) {
        return rv;
    }
    ms = (now_us() - t0) / 1000;
    if (ms > fsm->snapshot_max_ms) {
        fsm->snapshot_max_ms = ms;
    }
    return 0;
}

/* On raft's pool thread: the child's LZ4 frame. raft then writes it
 * there too, and calls finalize on the loop. */
static int fsm_snapshot_async(struct raft_fsm *raft_fsm,
                              struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct cr_fsm *fsm = fsm_of(raft_fsm);

    /* Nothing here touches what the loop thread reads (the counters are
     * updated in finalize, on the loop). */
    return cr_snapshot_child_collect(&fsm->child, SNAPSHOT_CHUNK, bufs,
                                     n_bufs);
}

static int fsm_snapshot_finalize(struct raft_fsm *raft_fsm,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct cr_fsm *fsm = fsm_of(raft_fsm);

    if (fsm->child.pid != 0) {
        /* raft gave up before collecting (it is closing): the encoder's
         * work is wasted, and waiting for it would hold the loop. */
        struct raft_buffer *v = NULL;
        unsigned n = 0;
        cr_snapshot_child_abort(&fsm->child);
        if (cr_snapshot_child_collect(&fsm->child, SNAPSHOT_CHUNK, &v, &n) ==
            0) {
            cr_snapshot_chunks_free(v, n);
        }
    }
    cr_snapshot_child_release(&fsm->child);
    if (*bufs != NULL) {
        fsm->snapshots_taken++; /* collected: raft had it to write */
        cr_snapshot_chunks_free(*bufs, *n_bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    /* The chunks were mappings, unmapped by free(). No malloc_trim()
     * here: on the loop it walked the whole heap (and, right after the
     * fork, took a write fault on every page it touched), 50-100 ms at
     * 100k+ certificates, once per snapshot. */
    return 0;
}

static int fsm_restore(struct raft_fsm *raft_fsm, struct raft_buffer *buf)
{
    struct cr_fsm *fsm = fsm_of(raft_fsm);
    struct cr_error err;
    void *plain = NULL;
    size_t plain_len = 0;
    enum cr_status rv;

    /* An LZ4 frame from the snapshot encoder, or (written before frames)
     * the bare state. */
    if (cr_snapshot_lz4_is_frame(buf->base, buf->len)) {
        if (cr_snapshot_lz4_decode(buf->base, buf->len, &plain,
                                   &plain_len) != 0) {
            return RAFT_CORRUPT; /* raft frees buf on failure */
        }
        rv = cr_state_restore(fsm->state, plain, plain_len, &err);
        free(plain);
    } else {
        rv = cr_state_restore(fsm->state, buf->base, buf->len, &err);
    }
    if (rv != CR_OK) {
        return RAFT_CORRUPT;
    }
    raft_free(buf->base); /* on success the buffer is ours */
    /* The replaced state (when installing) and restore's scratch. */
    malloc_trim(0);
    if (fsm->starting) {
        fsm->snapshots_restored++;
    } else {
        fsm->snapshots_installed++;
    }
    if (fsm->applied_cb != NULL) {
        fsm->applied_cb(fsm, cr_state_applied_index(fsm->state), NULL);
    }
    return 0;
}

void cr_fsm_tune_malloc(void)
{
    /* glibc raises its mmap threshold (to 32 MiB) and its trim threshold
     * (to twice that) each time a large mapped block is freed, after
     * which multi-megabyte snapshot, LZ4 and segment buffers come from
     * the heaps, and a pool thread's heap keeps tens of MiB it will not
     * trim. Fixed thresholds keep every buffer of 1 MiB or more in its
     * own mapping, returned to the system by free(). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
}

int cr_fsm_init(struct cr_fsm *fsm)
{
    memset(fsm, 0, sizeof *fsm);
    fsm->child.fd = -1;
    fsm->child.pidfd = -1;
    fsm->state = cr_state_new();
    if (fsm->state == NULL) {
        return RAFT_NOMEM;
    }
    fsm->raft_fsm.version = 3;
    fsm->raft_fsm.data = fsm;
    fsm->raft_fsm.apply = fsm_apply;
    fsm->raft_fsm.snapshot = fsm_snapshot;
    fsm->raft_fsm.snapshot_async = fsm_snapshot_async;
    fsm->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;
    fsm->raft_fsm.restore = fsm_restore;
    return 0;
}

void cr_fsm_snapshot_abort(struct cr_fsm *fsm)
{
    cr_snapshot_child_abort(&fsm->child);
}

void cr_fsm_close(struct cr_fsm *fsm)
{
    cr_snapshot_child_release(&fsm->child);
    cr_state_free(fsm->state);
    fsm->state = NULL;
}

const struct cr_apply_result *cr_fsm_result(const struct cr_fsm *fsm,
                                            uint64_t index)
{
    const struct cr_fsm_slot *slot = &fsm->slots[index % CR_FSM_RESULT_SLOTS];
    return slot->index == index ? &slot->result : NULL;
}
