/*
 * data_dir.h - the files of a node's data directory, written so that a
 * crash never leaves a half-written one and nobody but the owner can read
 * them: the directory is 0700, files are 0600, written to a temporary name,
 * fsync'ed and renamed.
 */
#ifndef CERTNODE_DATA_DIR_H
#define CERTNODE_DATA_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p with mode 0700 for the last component; an existing directory
 * is tightened to 0700. 0 or -1 with @err. */
int cr_dir_create_private(const char *path, char *err, size_t errlen);

int cr_file_write_private(const char *path, const void *data, size_t len,
                          char *err, size_t errlen);
/* Reads a whole file, NUL-terminated. NULL with @err on failure. */
char *cr_file_read(const char *path, size_t *len, char *err, size_t errlen);
bool cr_file_exists(const char *path);

/* "dir/name" into @out. */
void cr_path_join(char *out, size_t outlen, const char *dir,
                  const char *name);

#define CR_FILE_CONFIG "node.json"
#define CR_FILE_CLUSTER_CERT "cluster.crt"
#define CR_FILE_CLUSTER_KEY "cluster.key"
#define CR_FILE_JOIN_CERT "join.crt"
#define CR_FILE_JOIN_KEY "join.key"
#define CR_FILE_BOOTSTRAP "bootstrap.cmd"
#define CR_DIR_RAFT "raft"

#endif /* CERTNODE_DATA_DIR_H */
