/*
 * snapshot_child.c - encoding a snapshot in a forked copy of the process
 * (see snapshot_child.h for why).
 *
 * The child runs only the core's encoder and LZ4 (pure code; glibc's
 * fork leaves malloc usable) and leaves with _exit(), so nothing the
 * parent owns is flushed or freed twice. It dies with its parent, and a
 * parent that stops reading kills it with SIGPIPE.
 *
 * The child compresses, at a lower CPU priority: LZ4 was the largest part
 * of a snapshot's cost, and on raft's pool it ran at the priority of the
 * loops that serve requests, on the whole encoded state held in memory.
 * What crosses the pipe is an LZ4 frame (snapshot_lz4.h). Its header
 * carries the content size, which the child knows only at the end, so
 * the child sends the frame without its header and then the size (8
 * bytes, little-endian); the parent, which holds all of it before raft
 * sees any, puts the header in front.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot_child.h"
#include "snapshot_lz4.h"

#define CHILD_BUFFER ((size_t)1 << 20) /* encoded bytes per LZ4 update */
#define CHILD_NICE 10 /* snapshots yield the CPU to request handling */
#define TRAILER 8     /* the content size, after the frame */

/* --- the child ------------------------------------------------------ */

struct pipe_out {
    int fd;
    LZ4F_cctx *lz4;
    unsigned char *raw; /* up to CHILD_BUFFER encoded bytes */
    size_t len;
    unsigned char *packed; /* what LZ4 makes of them */
    size_t packed_cap;
    uint64_t total; /* encoded bytes: the frame's content size */
};

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pipe_out_flush(struct pipe_out *o)
{
    size_t n = LZ4F_compressUpdate(o->lz4, o->packed, o->packed_cap, o->raw,
                                   o->len, NULL);
    if (LZ4F_isError(n)) {
        return -1;
    }
    o->total += o->len;
    o->len = 0;
    return write_all(o->fd, o->packed, n);
}

static int pipe_out_write(void *arg, const void *data, size_t len)
{
    struct pipe_out *o = arg;
    const unsigned char *p = data;

    while (len > 0) {
        size_t k = CHILD_BUFFER - o->len < len ? CHILD_BUFFER - o->len : len;
        memcpy(o->raw + o->len, p, k);
        o->len += k;
        p += k;
        len -= k;
        if (o->len == CHILD_BUFFER && pipe_out_flush(o) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Ready @o to compress into @fd. The header LZ4 writes first is dropped:
 * it says the size is unknown; the parent writes the real one. */
static int pipe_out_init(struct pipe_out *o, int fd)
{
    LZ4F_preferences_t prefs;

    cr_snapshot_lz4_prefs(&prefs, 0);
    memset(o, 0, sizeof *o);
    o->fd = fd;
    o->packed_cap = LZ4F_compressBound(CHILD_BUFFER, &prefs);
    if (o->packed_cap < LZ4F_HEADER_SIZE_MAX) {
        o->packed_cap = LZ4F_HEADER_SIZE_MAX;
    }
    o->raw = malloc(CHILD_BUFFER);
    o->packed = malloc(o->packed_cap);
    return o->raw == NULL || o->packed == NULL ||
                   LZ4F_isError(LZ4F_createCompressionContext(
                       &o->lz4, LZ4F_VERSION)) ||
                   LZ4F_isError(LZ4F_compressBegin(o->lz4, o->packed,
                                                   o->packed_cap, &prefs))
               ? -1
               : 0;
}

/* The frame's end mark and checksum, then the content size. */
static int pipe_out_finish(struct pipe_out *o)
{
    unsigned char size[TRAILER];
    size_t n;

    if (o->len > 0 && pipe_out_flush(o) != 0) {
        return -1;
    }
    n = LZ4F_compressEnd(o->lz4, o->packed, o->packed_cap, NULL);
    if (LZ4F_isError(n) || write_all(o->fd, o->packed, n) != 0) {
        return -1;
    }
    for (int i = 0; i < TRAILER; i++) {
        size[i] = (unsigned char)(o->total >> (8 * i));
    }
    return write_all(o->fd, size, TRAILER);
}

static void child_main(int fd, const struct cr_state *st, pid_t parent)
{
    struct pipe_out o;

    /* The parent's handlers would report signals to its own loop. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(2); /* the parent died before the line above took effect */
    }
    /* Best effort: without it the snapshot only competes as before. */
    (void)setpriority(PRIO_PROCESS, 0, CHILD_NICE);
    if (pipe_out_init(&o, fd) != 0 ||
        cr_state_snapshot_write(st, pipe_out_write, &o, NULL) != CR_OK ||
        pipe_out_finish(&o) != 0) {
        _exit(1);
    }
    _exit(0);
}

int cr_snapshot_child_start(struct cr_snapshot_child *c,
                            const struct cr_state *st)
{
    pid_t parent = getpid(), pid;
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) != 0) {
        return RAFT_IOERR;
    }
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return RAFT_NOMEM;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], st, parent);
    }
    close(fds[1]);
    c->pid = pid;
    c->fd = fds[0];
    /* Without one (kernels before 5.3) a stop waits for the child. */
    cr_snapshot_child_release(c);
    c->pidfd = pidfd_open(pid, 0);
    return 0;
}

void cr_snapshot_child_abort(struct cr_snapshot_child *c)
{
    if (c->pidfd >= 0) {
        (void)pidfd_send_signal(c->pidfd, SIGKILL, NULL, 0);
    }
}

void cr_snapshot_child_release(struct cr_snapshot_child *c)
{
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
}

/* --- the parent ----------------------------------------------------- */

void cr_snapshot_chunks_free(struct raft_buffer *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        free(v[i].base);
    }
    free(v);
}

/* Makes room for one more buffer in @v; false when out of memory. */
static bool chunks_grow(struct raft_buffer **v, unsigned n, unsigned *cap)
{
    if (n == *cap) {
        unsigned ncap = *cap != 0 ? 2 * *cap : 64;
        struct raft_buffer *nv = realloc(*v, ncap * sizeof *nv);
        if (nv == NULL) {
            return false;
        }
        *v = nv;
        *cap = ncap;
    }
    return true;
}

/* Appends an empty chunk of @size bytes; NULL when out of memory. */
static struct raft_buffer *chunk_add(struct raft_buffer **v, unsigned *n,
                                     unsigned *cap, size_t size)
{
    if (!chunks_grow(v, *n, cap)) {
        return NULL;
    }
    (*v)[*n].base = malloc(size);
    if ((*v)[*n].base == NULL) {
        return NULL;
    }
    (*v)[*n].len = 0;
    return &(*v)[(*n)++];
}

/* Takes the child's trailer off the end of @v (it may straddle chunks)
 * and returns the content size it gives; false when there is none. */
static bool take_trailer(struct raft_buffer *v, unsigned *n, uint64_t *size)
{
    unsigned char t[TRAILER];
    size_t need = TRAILER;

    while (need > 0 && *n > 0) {
        struct raft_buffer *b = &v[*n - 1];
        size_t k = b->len < need ? b->len : need;
        memcpy(t + need - k, (unsigned char *)b->base + b->len - k, k);
        b->len -= k;
        need -= k;
        if (b->len == 0) {
            free(b->base);
            (*n)--;
        }
    }
    *size = 0;
    for (int i = TRAILER - 1; i >= 0; i--) {
        *size = *size << 8 | t[i];
    }
    return need == 0 && *n > 0;
}

/* Puts the frame header for @size content bytes in front of @v. */
static bool put_header(struct raft_buffer **v, unsigned *n, unsigned *cap,
                       uint64_t size)
{
    void *h;
    size_t len;

    if (!chunks_grow(v, *n, cap) || (h = malloc(LZ4F_HEADER_SIZE_MAX)) == NULL) {
        return false;
    }
    if ((len = cr_snapshot_lz4_header(size, h)) == 0) {
        free(h);
        return false;
    }
    memmove(*v + 1, *v, *n * sizeof **v);
    (*v)[0].base = h;
    (*v)[0].len = len;
    (*n)++;
    return true;
}

int cr_snapshot_child_collect(struct cr_snapshot_child *c, size_t chunk,
                              struct raft_buffer **bufs, unsigned *n_bufs)
{
    struct raft_buffer *v = NULL, *b = NULL;
    unsigned n = 0, cap = 0;
    bool failed = false;
    uint64_t size;
    int status = 0;

    for (;;) {
        ssize_t got;
        if (b == NULL || b->len == chunk) {
            b = chunk_add(&v, &n, &cap, chunk);
            if (b == NULL) {
                failed = true;
                break;
            }
        }
        got = read(c->fd, (unsigned char *)b->base + b->len, chunk - b->len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            failed = got < 0;
            break;
        }
        b->len += (size_t)got;
    }
    close(c->fd); /* a child still writing now gets SIGPIPE */
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
    c->pid = 0;
    c->fd = -1;
    if (n > 0 && v[n - 1].len == 0) {
        free(v[--n].base);
    }
    if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        !take_trailer(v, &n, &size) || !put_header(&v, &n, &cap, size)) {
        cr_snapshot_chunks_free(v, n);
        return RAFT_IOERR;
    }
    *bufs = v;
    *n_bufs = n;
    return 0;
}
