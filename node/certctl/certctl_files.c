/*
 * certctl_files.c - exclusive 0600 file creation, safe replacement, file
 * names from certificate names, and reading a file or standard input.
 */
#include "certctl_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int certctl_safe_filename(struct certctl_buf *b, const char *name)
{
    const unsigned char *p = (const unsigned char *)name;

    if (*p == '\0') {
        return certctl_buf_puts(b, "_");
    }
    for (; *p != '\0'; p++) {
        char c = (char)*p;

        if (*p < 0x20 || *p == 0x7f || strchr("/\\:*?\"<>|", c) != NULL) {
            c = '_';
        }
        if (certctl_buf_append(b, &c, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int certctl_path_join(struct certctl_buf *b, const char *dir, const char *file)
{
    size_t n = strlen(dir);

    if (certctl_buf_puts(b, dir) != 0) {
        return -1;
    }
    if (n > 0 && dir[n - 1] != '/' && certctl_buf_puts(b, "/") != 0) {
        return -1;
    }
    return certctl_buf_puts(b, file);
}

int certctl_check_dir(const char *dir, const char *what, char *err, size_t errlen)
{
    struct stat st;

    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) {
            /* Said plainly: a file name given here (x.pfx) is a common
             * slip, and "No such file or directory" reads as a bug. */
            snprintf(err, errlen,
                     "%s '%.200s': no such directory (give an existing "
                     "directory; the files are named after --name)",
                     what, dir);
        } else {
            snprintf(err, errlen, "%s '%.200s': %s", what, dir,
                     strerror(errno));
        }
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s '%.200s' is not a directory", what, dir);
        return -1;
    }
    return 0;
}

int certctl_check_absent(const char *path, char *err, size_t errlen)
{
    struct stat st;

    /* lstat: a dangling symbolic link counts as "something there". */
    if (lstat(path, &st) == 0) {
        snprintf(err, errlen, "'%.200s' already exists: not overwritten", path);
        return -1;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot check '%.200s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes all of data to fd, then syncs it: a key file that is lost in a
 * crash right after "wrote" was printed would be a nasty surprise. */
static int write_all(int fd, const void *data, size_t len, const char *path, char *err,
                     size_t errlen)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            snprintf(err, errlen, "cannot write '%.200s': %s", path,
                     w < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0 && errno != EINVAL) { /* EINVAL: a pipe or the like */
        snprintf(err, errlen, "cannot write '%.200s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int certctl_write_new_files(const struct certctl_outfile *files, size_t n, char *err,
                            size_t errlen)
{
    int *fds = calloc(n + 1, sizeof(*fds));
    size_t created = 0, i;
    int rc = -1;

    if (fds == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (; created < n; created++) {
        const char *path = files[created].path;

        /* O_EXCL never follows a symbolic link, dangling or not. */
        fds[created] = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fds[created] < 0) {
            if (errno == EEXIST) {
                snprintf(err, errlen, "'%.200s' already exists: not overwritten", path);
            } else {
                snprintf(err, errlen, "cannot create '%.200s': %s", path, strerror(errno));
            }
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        int fd = fds[i];

        if (write_all(fd, files[i].data, files[i].len, files[i].path, err, errlen) != 0) {
            goto out;
        }
        fds[i] = -1;
        if (close(fd) != 0) {
            snprintf(err, errlen, "cannot write '%.200s': %s", files[i].path, strerror(errno));
            goto out;
        }
    }
    rc = 0;

out:
    if (rc != 0) {
        /* Half a key pair is worse than none: take back what we made. */
        for (i = 0; i < created; i++) {
            if (fds[i] >= 0) {
                close(fds[i]);
            }
            unlink(files[i].path);
        }
    }
    free(fds);
    return rc;
}

int certctl_replace_file(const char *path, const void *data, size_t len, char *err,
                         size_t errlen)
{
    struct certctl_buf tmp;
    int fd;

    certctl_buf_init(&tmp);
    if (certctl_buf_printf(&tmp, "%s.XXXXXX", path) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* mkstemp() is open(O_CREAT | O_EXCL, 0600) under a fresh name. */
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file next to '%.200s': %s", path,
                 strerror(errno));
        certctl_buf_free(&tmp);
        return -1;
    }
    if (write_all(fd, data, len, path, err, errlen) != 0) {
        close(fd);
        goto fail;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "cannot write '%.200s': %s", path, strerror(errno));
        goto fail;
    }
    /* rename() replaces a symbolic link at path, never its target. */
    if (rename(tmp.data, path) != 0) {
        snprintf(err, errlen, "cannot replace '%.200s': %s", path, strerror(errno));
        goto fail;
    }
    certctl_buf_free(&tmp);
    return 0;

fail:
    unlink(tmp.data);
    certctl_buf_free(&tmp);
    return -1;
}

int certctl_read_input(const char *path, const char *what, size_t max, char **data,
                       size_t *len, char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    const char *name = is_stdin ? "standard input" : path;
    char *buf;
    size_t n = 0;

    *data = NULL;
    *len = 0;
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s '%.200s': %s", what, path, strerror(errno));
        return -1;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Read one byte past the limit to tell "exactly max" from "more". */
    while (n <= max) {
        ssize_t r = read(fd, buf + n, max + 1 - n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s '%.200s': %s", what, name, strerror(errno));
            goto fail;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    if (n > max) {
        snprintf(err, errlen, "%s '%.200s' is larger than %zu bytes", what, name, max);
        goto fail;
    }
    if (!is_stdin) {
        close(fd);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;

fail:
    free(buf);
    if (!is_stdin) {
        close(fd);
    }
    return -1;
}
