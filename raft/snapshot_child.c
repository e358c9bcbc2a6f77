/*
 * snapshot_child.c - encoding a snapshot in a forked copy of the process
 * (see snapshot_child.h for why).
 *
 * The child runs only the core's encoder (pure code; glibc's fork leaves
 * malloc usable) and leaves with _exit(), so nothing the parent owns is
 * flushed or freed twice. It dies with its parent, and a parent that
 * stops reading kills it with SIGPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapshot_child.h"

#define CHILD_BUFFER ((size_t)1 << 20) /* bytes per write() to the pipe */

struct pipe_out {
    int fd;
    unsigned char *buf;
    size_t len;
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

static int pipe_out_write(void *arg, const void *data, size_t len)
{
    struct pipe_out *o = arg;
    const unsigned char *p = data;

    while (len > 0) {
        size_t k = CHILD_BUFFER - o->len < len ? CHILD_BUFFER - o->len : len;
        memcpy(o->buf + o->len, p, k);
        o->len += k;
        p += k;
        len -= k;
        if (o->len == CHILD_BUFFER) {
            if (write_all(o->fd, o->buf, o->len) != 0) {
                return -1;
            }
            o->len = 0;
        }
    }
    return 0;
}

static void child_main(int fd, const struct cr_state *st, pid_t parent)
{
    struct pipe_out o = {fd, malloc(CHILD_BUFFER), 0};

    /* The parent's handlers would report signals to its own loop. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(2); /* the parent died before the line above took effect */
    }
    if (o.buf == NULL ||
        cr_state_snapshot_write(st, pipe_out_write, &o, NULL) != CR_OK ||
        write_all(fd, o.buf, o.len) != 0) {
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
    return 0;
}

void cr_snapshot_chunks_free(struct raft_buffer *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        free(v[i].base);
    }
    free(v);
}

/* Appends an empty chunk of @size bytes; NULL when out of memory. */
static struct raft_buffer *chunk_add(struct raft_buffer **v, unsigned *n,
                                     unsigned *cap, size_t size)
{
    if (*n == *cap) {
        unsigned ncap = *cap != 0 ? 2 * *cap : 64;
        struct raft_buffer *nv = realloc(*v, ncap * sizeof *nv);
        if (nv == NULL) {
            return NULL;
        }
        *v = nv;
        *cap = ncap;
    }
    (*v)[*n].base = malloc(size);
    if ((*v)[*n].base == NULL) {
        return NULL;
    }
    (*v)[*n].len = 0;
    return &(*v)[(*n)++];
}

int cr_snapshot_child_collect(struct cr_snapshot_child *c, size_t chunk,
                              struct raft_buffer **bufs, unsigned *n_bufs)
{
    struct raft_buffer *v = NULL, *b = NULL;
    unsigned n = 0, cap = 0;
    bool failed = false;
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
    if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0) {
        cr_snapshot_chunks_free(v, n);
        return RAFT_IOERR;
    }
    *bufs = v;
    *n_bufs = n;
    return 0;
}
