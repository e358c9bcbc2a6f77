/*
 * certctl_table.h - aligned text columns for certctl's table output.
 *
 * Cells are copied and scrubbed of control characters when added, since
 * most of them come from the server. Columns are separated by two spaces;
 * the last column is not padded, so lines carry no trailing blanks.
 *
 * Pure (libc only) so that unit tests can compile it in directly.
 */
#ifndef CERTCTL_TABLE_H
#define CERTCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct certctl_table
{
    size_t ncols;
    size_t nrows; /* including the header row, if any */
    size_t cap;   /* rows allocated */
    char **cells; /* row-major, nrows * ncols */
};

/* headers: ncols strings, or NULL for a table without a header row
 * (key/value listings). Returns 0 or -1 when out of memory. */
int certctl_table_init(struct certctl_table *t, size_t ncols,
                       const char *const *headers);
/* cells: ncols strings; a NULL cell prints as "-". */
int certctl_table_add(struct certctl_table *t, const char *const *cells);
int certctl_table_print(const struct certctl_table *t, FILE *out);
void certctl_table_free(struct certctl_table *t);

#endif /* CERTCTL_TABLE_H */
