/*
 * certctl_args.c - table-driven option parsing, environment fallback and
 * option help for all certctl commands.
 */
#include "certctl_args.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int certctl_args_init(struct certctl_args *a, const struct certctl_opt *spec)
{
    size_t n = 0;

    while (spec[n].name != NULL) {
        n++;
    }
    memset(a, 0, sizeof(*a));
    a->spec = spec;
    a->nspec = n;
    /* calloc(0) may return NULL; keep one slot so NULL means failure. */
    a->vals = calloc(n + 1, sizeof(*a->vals));
    return a->vals != NULL ? 0 : -1;
}

void certctl_args_free(struct certctl_args *a)
{
    size_t i;

    if (a->vals != NULL) {
        for (i = 0; i < a->nspec; i++) {
            free(a->vals[i].list);
        }
    }
    free(a->vals);
    memset(a, 0, sizeof(*a));
}

static int find_opt(const struct certctl_args *a, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < a->nspec; i++) {
        if (strlen(a->spec[i].name) == len && strncmp(a->spec[i].name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

void certctl_choices_join(const char *const *choices, char *buf, size_t n)
{
    size_t o = 0;
    size_t i;

    if (n == 0) {
        return;
    }
    buf[0] = '\0';
    for (i = 0; choices[i] != NULL; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i > 0 ? ", " : "", choices[i]);

        if (w < 0 || (size_t)w >= n - o) {
            return;
        }
        o += (size_t)w;
    }
}

int certctl_choice_index(const char *const *choices, const char *s)
{
    int i;

    for (i = 0; choices[i] != NULL; i++) {
        if (strcmp(choices[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

/* Validates and stores one value for option i. `origin` names where it came
 * from ("--x" or "$CERTCTL_X") for messages. */
static int set_value(struct certctl_args *a, size_t i, const char *value,
                     const char *origin, char *err, size_t errlen)
{
    const struct certctl_opt *o = &a->spec[i];
    struct certctl_optval *v = &a->vals[i];
    int secret = (o->flags & CERTCTL_OPT_SECRET) != 0;

    if (value[0] == '\0') {
        snprintf(err, errlen, "%s needs a non-empty value", origin);
        return -1;
    }
    if (o->choices != NULL && certctl_choice_index(o->choices, value) < 0) {
        char allowed[256];

        certctl_choices_join(o->choices, allowed, sizeof(allowed));
        if (secret) {
            snprintf(err, errlen, "invalid value for %s (allowed: %s)", origin, allowed);
        } else {
            snprintf(err, errlen, "invalid value '%s' for %s (allowed: %s)", value,
                     origin, allowed);
        }
        return -1;
    }
    if (o->kind == CERTCTL_OPT_LIST) {
        const char **p = realloc(v->list, (v->nlist + 1) * sizeof(*p));

        if (p == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        v->list = p;
        v->list[v->nlist++] = value;
    } else {
        if (v->given && !v->from_env) {
            snprintf(err, errlen, "%s given more than once", origin);
            return -1;
        }
        v->value = value;
    }
    v->given = 1;
    return 0;
}

int certctl_args_parse(struct certctl_args *a, int argc, char *const *argv,
                       int stop_at_positional, char *err, size_t errlen)
{
    int i;

    a->rest = argv + argc;
    a->nrest = 0;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *name, *eq, *value;
        size_t namelen;
        int idx;
        char origin[128];

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = 1;
            return 0;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            break; /* a positional word ("-" alone counts as one) */
        }
        if (arg[1] != '-') {
            size_t shown = strcspn(arg, "="); /* what follows '=' may be a secret */

            a->unknown = arg;
            snprintf(err, errlen, "unknown option %.*s", (int)(shown > 64 ? 64 : shown), arg);
            return -1;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        idx = find_opt(a, name, namelen);
        if (idx < 0) {
            a->unknown = arg;
            snprintf(err, errlen, "unknown option --%.*s", (int)(namelen > 64 ? 64 : namelen),
                     name);
            return -1;
        }
        snprintf(origin, sizeof(origin), "--%s", a->spec[idx].name);
        if (a->spec[idx].kind == CERTCTL_OPT_FLAG) {
            if (eq != NULL) {
                snprintf(err, errlen, "%s takes no value", origin);
                return -1;
            }
            a->vals[idx].given = 1;
            a->vals[idx].from_env = 0;
            continue;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, errlen, "%s needs a value (%s)", origin,
                     a->spec[idx].metavar != NULL ? a->spec[idx].metavar : "VALUE");
            return -1;
        }
        if (set_value(a, (size_t)idx, value, origin, err, errlen) != 0) {
            return -1;
        }
    }
    if (i < argc) {
        if (!stop_at_positional) {
            snprintf(err, errlen, "unexpected argument '%.64s'", argv[i]);
            return -1;
        }
        a->rest = argv + i;
        a->nrest = argc - i;
    }
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", NULL};
    size_t i;

    for (i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    }
    for (i = 0; no[i] != NULL; i++) {
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int certctl_args_apply_env(struct certctl_args *a, certctl_env_fn lookup,
                           void *ud, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < a->nspec; i++) {
        const struct certctl_opt *o = &a->spec[i];
        const char *value;
        char origin[128];

        if (o->env == NULL || a->vals[i].given) {
            continue;
        }
        value = lookup(o->env, ud);
        if (value == NULL || value[0] == '\0') {
            continue;
        }
        snprintf(origin, sizeof(origin), "%s", o->env);
        if (o->kind == CERTCTL_OPT_FLAG) {
            int on;

            if (parse_bool(value, &on) != 0) {
                snprintf(err, errlen, "invalid value for %s (use 1 or 0)", origin);
                return -1;
            }
            a->vals[i].given = on;
            a->vals[i].from_env = on;
            continue;
        }
        a->vals[i].from_env = 1;
        if (set_value(a, i, value, origin, err, errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

int certctl_args_check_required(const struct certctl_args *a, char *err,
                                size_t errlen)
{
    size_t i;

    for (i = 0; i < a->nspec; i++) {
        if ((a->spec[i].flags & CERTCTL_OPT_REQUIRED) != 0 && !a->vals[i].given) {
            snprintf(err, errlen, "missing required option --%s", a->spec[i].name);
            return -1;
        }
    }
    return 0;
}

static int lookup_index(const struct certctl_args *a, const char *name);

int certctl_args_set(struct certctl_args *a, const char *name, const char *value,
                     const char *origin, char *err, size_t errlen)
{
    int i = lookup_index(a, name);

    if (i < 0 || a->spec[i].kind == CERTCTL_OPT_FLAG) {
        snprintf(err, errlen, "internal error: no option --%s takes a value", name);
        return -1;
    }
    /* set_value() only refuses a repeat from the command line; here the
     * other one may well be "--name", so say which two clash. */
    if (a->spec[i].kind == CERTCTL_OPT_STRING && a->vals[i].given && !a->vals[i].from_env) {
        snprintf(err, errlen, "%s and --%s both given: use one", origin, name);
        return -1;
    }
    a->vals[i].from_env = 0;
    a->vals[i].given = 0;
    return set_value(a, (size_t)i, value, origin, err, errlen);
}

static int lookup_index(const struct certctl_args *a, const char *name)
{
    int i = find_opt(a, name, strlen(name));

    /* A name not in the table is a typo in a command handler. */
    assert(i >= 0);
    return i;
}

const char *certctl_args_get(const struct certctl_args *a, const char *name)
{
    int i = lookup_index(a, name);

    if (i < 0) {
        return NULL;
    }
    if (a->vals[i].given && a->spec[i].kind == CERTCTL_OPT_STRING) {
        return a->vals[i].value;
    }
    if (a->vals[i].given && a->spec[i].kind == CERTCTL_OPT_LIST) {
        return a->vals[i].list[a->vals[i].nlist - 1];
    }
    return a->spec[i].defval;
}

int certctl_args_given(const struct certctl_args *a, const char *name)
{
    int i = lookup_index(a, name);

    return i >= 0 && a->vals[i].given;
}

int certctl_args_flag(const struct certctl_args *a, const char *name)
{
    return certctl_args_given(a, name);
}

size_t certctl_args_list(const struct certctl_args *a, const char *name,
                         const char *const **values)
{
    int i = lookup_index(a, name);

    if (i < 0 || !a->vals[i].given) {
        *values = NULL;
        return 0;
    }
    *values = a->vals[i].list;
    return a->vals[i].nlist;
}

void certctl_args_print_help(const struct certctl_opt *spec, FILE *out)
{
    size_t i, width = 0;

    for (i = 0; spec[i].name != NULL; i++) {
        size_t w = 2 + strlen(spec[i].name);

        if (spec[i].kind != CERTCTL_OPT_FLAG && spec[i].metavar != NULL) {
            w += 1 + strlen(spec[i].metavar);
        }
        if (w > width) {
            width = w;
        }
    }
    if (width < 10) {
        width = 10; /* "-h, --help" */
    }
    for (i = 0; spec[i].name != NULL; i++) {
        const struct certctl_opt *o = &spec[i];
        char left[128];
        char allowed[256];

        if (o->kind != CERTCTL_OPT_FLAG && o->metavar != NULL) {
            snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar);
        } else {
            snprintf(left, sizeof(left), "--%s", o->name);
        }
        fprintf(out, "  %-*s  %s%s", (int)width, left,
                (o->flags & CERTCTL_OPT_REQUIRED) != 0 ? "(required) " : "", o->help);
        if (o->kind == CERTCTL_OPT_LIST) {
            fputs(" (repeatable)", out);
        }
        if (o->choices != NULL) {
            certctl_choices_join(o->choices, allowed, sizeof(allowed));
            fprintf(out, "; one of %s", allowed);
        }
        if (o->defval != NULL) {
            fprintf(out, " (default: %s)", o->defval);
        }
        if (o->env != NULL) {
            fprintf(out, " [env %s]", o->env);
        }
        fputc('\n', out);
    }
    fprintf(out, "  %-*s  show this help\n", (int)width, "-h, --help");
}

int certctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (s == NULL || s[0] < '0' || s[0] > '9') {
        return -1; /* strtoull would accept blanks, signs and "-1" */
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int digits(const char *s, size_t n, unsigned *out)
{
    size_t i;

    *out = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *out = *out * 10 + (unsigned)(s[i] - '0');
    }
    return 0;
}

int certctl_check_date(const char *s)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, m, d, hh, mm, ss, last;
    size_t len = strlen(s);

    /* Fixed layouts only: the server parses exactly these two. */
    if ((len != 10 && len != 20) || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) != 0 ||
        digits(s + 5, 2, &m) != 0 || digits(s + 8, 2, &d) != 0) {
        return -1;
    }
    if (y < 1970 || m < 1 || m > 12) {
        return -1;
    }
    last = mdays[m - 1];
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        last = 29;
    }
    if (d < 1 || d > last) {
        return -1;
    }
    if (len == 10) {
        return 0;
    }
    if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        digits(s + 11, 2, &hh) != 0 || digits(s + 14, 2, &mm) != 0 ||
        digits(s + 17, 2, &ss) != 0 || hh > 23 || mm > 59 || ss > 59) {
        return -1;
    }
    return 0;
}
