/*
 * certctl_args.h - the one option parser every certctl command shares.
 *
 * A command describes its options as a table of struct certctl_opt; the
 * parser, the environment fallback, the required-option check and the
 * --help listing are all driven by that table, so adding an option is one
 * line. Accepted forms: "--name value", "--name=value", "--" (end of
 * options), "-h"/"--help". Only exact names are accepted: getopt_long's
 * unambiguous-prefix matching would let "--pass" mean "--password".
 *
 * Pure (libc only, no hidden state) so that unit tests can compile it in.
 */
#ifndef CERTCTL_ARGS_H
#define CERTCTL_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum certctl_opt_kind
{
    CERTCTL_OPT_FLAG,   /* no value */
    CERTCTL_OPT_STRING, /* one value; giving it twice is an error */
    CERTCTL_OPT_LIST,   /* repeatable; values kept in order */
};

#define CERTCTL_OPT_REQUIRED 0x1u
#define CERTCTL_OPT_SECRET 0x2u /* the value is never echoed in messages */

struct certctl_opt
{
    const char *name;    /* long name without "--"; NULL ends the table */
    enum certctl_opt_kind kind;
    unsigned flags;      /* CERTCTL_OPT_* */
    const char *metavar; /* shown in help, e.g. "FILE" */
    const char *help;    /* one line */
    const char *env;     /* environment fallback, or NULL */
    const char *defval;  /* returned by certctl_args_get() when unset */
    const char *const *choices; /* NULL-terminated allowed values, or NULL */
};

struct certctl_optval
{
    int given;           /* set on the command line or from the environment */
    int from_env;        /* ...and it was the environment */
    const char *value;   /* STRING: the value; points into argv or environ */
    const char **list;   /* LIST: values in order */
    size_t nlist;
};

struct certctl_args
{
    const struct certctl_opt *spec;
    size_t nspec;
    struct certctl_optval *vals; /* one per spec entry */
    int help;                    /* -h or --help was seen */
    const char *unknown;         /* the offending word after "unknown option" */
    char *const *rest;           /* positional arguments left over */
    int nrest;
};

/* Looks up an environment variable; getenv() fits. */
typedef const char *(*certctl_env_fn)(const char *name, void *ud);

int certctl_args_init(struct certctl_args *a, const struct certctl_opt *spec);
void certctl_args_free(struct certctl_args *a);

/* Parses argv[0..argc). With stop_at_positional the first non-option word
 * ends parsing and it and everything after it are left in rest/nrest;
 * otherwise a positional word is an error. Parsing stops early, without
 * error, at -h/--help. Returns 0, or -1 with a one-line reason in err. */
int certctl_args_parse(struct certctl_args *a, int argc, char *const *argv,
                       int stop_at_positional, char *err, size_t errlen);

/* Fills every option that was not given on the command line from its
 * environment variable, if set and non-empty: the flag always wins. A LIST
 * takes the variable as a single value (e.g. comma-separated URLs); a FLAG
 * takes 1/true/yes/on or 0/false/no/off. Returns 0 or -1 with err. */
int certctl_args_apply_env(struct certctl_args *a, certctl_env_fn lookup,
                           void *ud, char *err, size_t errlen);

/* Returns 0, or -1 naming the first missing CERTCTL_OPT_REQUIRED option. */
int certctl_args_check_required(const struct certctl_args *a, char *err,
                                size_t errlen);

/* Gives option `name` a value that came from elsewhere than "--name", e.g.
 * a positional argument; `origin` names it in messages ("NAME"). Checks
 * the value as the parser would; an option given twice is an error.
 * Returns 0 or -1 with err. */
int certctl_args_set(struct certctl_args *a, const char *name, const char *value,
                     const char *origin, char *err, size_t errlen);

/* The value of option `name` (or its default, or NULL). */
const char *certctl_args_get(const struct certctl_args *a, const char *name);
int certctl_args_given(const struct certctl_args *a, const char *name);
int certctl_args_flag(const struct certctl_args *a, const char *name);
size_t certctl_args_list(const struct certctl_args *a, const char *name,
                         const char *const **values);

/* Writes one line per option: "  --name METAVAR   help (default: x)". */
void certctl_args_print_help(const struct certctl_opt *spec, FILE *out);

/* Writes "A, B, C" for a choices list into buf. */
void certctl_choices_join(const char *const *choices, char *buf, size_t n);
/* Index of s in choices, or -1. */
int certctl_choice_index(const char *const *choices, const char *s);

/* Parses a whole decimal number in [min, max]: no sign, no blanks, no
 * trailing junk. Returns 0 or -1. */
int certctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Checks a calendar date "YYYY-MM-DD" or a UTC time "YYYY-MM-DDTHH:MM:SSZ"
 * (years 1970-9999; February 29 only in leap years). Returns 0 or -1. */
int certctl_check_date(const char *s);

#endif /* CERTCTL_ARGS_H */
