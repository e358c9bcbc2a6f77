/*
 * certctl_table.c - aligned text columns.
 */
#include "certctl_table.h"

#include <stdlib.h>
#include <string.h>

#include "certctl_str.h"

#define CERTCTL_TABLE_GAP 2

int certctl_table_init(struct certctl_table *t, size_t ncols,
                       const char *const *headers)
{
    t->ncols = ncols;
    t->nrows = 0;
    t->cap = 0;
    t->cells = NULL;
    if (headers != NULL && certctl_table_add(t, headers) != 0) {
        return -1;
    }
    return 0;
}

int certctl_table_add(struct certctl_table *t, const char *const *cells)
{
    size_t i;
    char **row;

    if (t->nrows == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 8;
        char **p;

        if (cap > (size_t)-1 / sizeof(char *) / t->ncols) {
            return -1;
        }
        p = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (p == NULL) {
            return -1;
        }
        t->cells = p;
        t->cap = cap;
    }
    row = t->cells + t->nrows * t->ncols;
    for (i = 0; i < t->ncols; i++) {
        const char *s = cells[i] != NULL ? cells[i] : "-";
        size_t n = strlen(s) + 1; /* scrubbing never makes text longer */

        row[i] = malloc(n);
        if (row[i] == NULL) {
            while (i > 0) {
                free(row[--i]);
            }
            return -1;
        }
        certctl_scrub(row[i], n, s);
    }
    t->nrows++;
    return 0;
}

int certctl_table_print(const struct certctl_table *t, FILE *out)
{
    size_t *width;
    size_t r, c;

    if (t->ncols == 0) {
        return 0;
    }
    width = calloc(t->ncols, sizeof(*width));
    if (width == NULL) {
        return -1;
    }
    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols; c++) {
            size_t w = certctl_display_width(t->cells[r * t->ncols + c]);

            if (w > width[c]) {
                width[c] = w;
            }
        }
    }
    for (r = 0; r < t->nrows; r++) {
        /* Trailing empty cells would only produce trailing blanks. */
        size_t last = t->ncols;

        while (last > 1 && t->cells[r * t->ncols + last - 1][0] == '\0') {
            last--;
        }
        for (c = 0; c < last; c++) {
            const char *cell = t->cells[r * t->ncols + c];

            fputs(cell, out);
            if (c + 1 < last) {
                size_t pad = width[c] - certctl_display_width(cell) + CERTCTL_TABLE_GAP;

                while (pad-- > 0) {
                    fputc(' ', out);
                }
            }
        }
        fputc('\n', out);
    }
    free(width);
    return ferror(out) ? -1 : 0;
}

void certctl_table_free(struct certctl_table *t)
{
    size_t i;

    for (i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
    t->cap = 0;
}
