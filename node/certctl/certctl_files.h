/*
 * certctl_files.h - the files certctl reads and writes besides its
 * certificate: generated certificates and keys, the exported cluster
 * certificates and JSON documents.
 *
 * Everything written may hold a private key, so files are only ever
 * created fresh with mode 0600 (open(O_CREAT | O_EXCL, 0600)): an existing
 * file, or a symbolic link planted where one will go, is never written
 * through. Replacing a file, when asked for, writes a fresh 0600 file
 * beside it and renames it over the old one.
 *
 * Pure (libc only) so that unit tests can compile it in directly.
 */
#ifndef CERTCTL_FILES_H
#define CERTCTL_FILES_H

#include <stddef.h>

#include "certctl_str.h"

struct certctl_outfile
{
    const char *path;
    const void *data;
    size_t len;
};

/* Copies a name into a string usable as one file name: '/', '\\', the
 * characters Windows forbids (: * ? " < > |) and control characters
 * become '_', as the server does for the names inside its zip. An empty
 * name becomes "_". */
int certctl_safe_filename(struct certctl_buf *b, const char *name);

/* Appends "dir/file", without doubling a '/' that ends dir. */
int certctl_path_join(struct certctl_buf *b, const char *dir, const char *file);

/* Checks that dir is an existing directory. Returns 0 or -1 with err. */
int certctl_check_dir(const char *dir, const char *what, char *err, size_t errlen);

/* Returns 0 if nothing (not even a dangling symbolic link) is at path,
 * else -1 with err saying so, or why path cannot be checked. */
int certctl_check_absent(const char *path, char *err, size_t errlen);

/* Creates every file (O_CREAT | O_EXCL, mode 0600) before writing any, so
 * that either all of them are written and synced or, on any failure, the
 * ones this call created are removed again. Returns 0 or -1 with err. */
int certctl_write_new_files(const struct certctl_outfile *files, size_t n, char *err,
                            size_t errlen);

/* Writes data to a fresh 0600 file next to path and renames it to path,
 * replacing whatever was there (a symbolic link itself, not its target).
 * Returns 0 or -1 with err; on failure path is left as it was. */
int certctl_replace_file(const char *path, const void *data, size_t len, char *err,
                         size_t errlen);

/* Reads a whole file, or standard input when path is "-", of at most max
 * bytes into a NUL-terminated buffer the caller frees. `what` names the
 * option in messages ("--file"). Returns 0 or -1 with err. */
int certctl_read_input(const char *path, const char *what, size_t max, char **data,
                       size_t *len, char *err, size_t errlen);

#endif /* CERTCTL_FILES_H */
