/*
 * test_certctl_cli.c - unit tests of certctl's pure parts: the option
 * parser and its environment fallback, global option resolution, URL list
 * splitting, query encoding, text scrubbing, table formatting, date
 * checks, JSON re-indentation and the 0600 file writing.
 *
 * certctl is an executable, not a library, so its libc-only sources are
 * compiled in here directly; nothing from certraft_node is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#include "../node/certctl/certctl_args.c"
#include "../node/certctl/certctl_files.c"
#include "../node/certctl/certctl_global.c"
#include "../node/certctl/certctl_str.c"
#include "../node/certctl/certctl_table.c"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *fake_env(const char *name, void *ud)
{
    const char *const *kv = ud;

    for (; kv[0] != NULL; kv += 2) {
        if (strcmp(kv[0], name) == 0) {
            return kv[1];
        }
    }
    return NULL;
}

static const char *const colours[] = {"red", "green", NULL};

static const struct certctl_opt spec[] = {
    {"name", CERTCTL_OPT_STRING, CERTCTL_OPT_REQUIRED, "NAME", "a name", "T_NAME", NULL, NULL},
    {"colour", CERTCTL_OPT_STRING, 0, "C", "a colour", "T_COLOUR", "red", colours},
    {"tag", CERTCTL_OPT_LIST, 0, "TAG", "tags", "T_TAG", NULL, NULL},
    {"quiet", CERTCTL_OPT_FLAG, 0, NULL, "be quiet", "T_QUIET", NULL, NULL},
    {"secret", CERTCTL_OPT_STRING, CERTCTL_OPT_SECRET, "PW", "a secret", NULL, NULL, colours},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

/* Parses a NULL-terminated word list; returns the parser's result. */
static int parse(struct certctl_args *a, const struct certctl_opt *s, int stop,
                 char **words, char *err, size_t errlen)
{
    int argc = 0;

    while (words[argc] != NULL) {
        argc++;
    }
    certctl_args_init(a, s);
    err[0] = '\0';
    return certctl_args_parse(a, argc, words, stop, err, errlen);
}

TEST(args_forms)
{
    char *w[] = {"--name", "alpha", "--colour=green", "--tag", "x", "--tag=y", "--quiet", NULL};
    struct certctl_args a;
    const char *const *tags;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), 0);
    CHECK_STR(certctl_args_get(&a, "name"), "alpha");
    CHECK_STR(certctl_args_get(&a, "colour"), "green");
    CHECK_INT(certctl_args_list(&a, "tag", &tags), 2);
    CHECK_STR(tags[0], "x");
    CHECK_STR(tags[1], "y");
    CHECK_INT(certctl_args_flag(&a, "quiet"), 1);
    CHECK(certctl_args_get(&a, "secret") == NULL);
    CHECK_INT(certctl_args_check_required(&a, err, sizeof(err)), 0);
    certctl_args_free(&a);
}

TEST(args_defaults_and_required)
{
    char *w[] = {NULL};
    struct certctl_args a;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), 0);
    CHECK_STR(certctl_args_get(&a, "colour"), "red");
    CHECK_INT(certctl_args_given(&a, "colour"), 0);
    CHECK_INT(certctl_args_flag(&a, "quiet"), 0);
    CHECK_INT(certctl_args_check_required(&a, err, sizeof(err)), -1);
    CHECK_STR(err, "missing required option --name");
    certctl_args_free(&a);
}

TEST(args_errors)
{
    struct {
        char *w[4];
        const char *err;
    } cases[] = {
        {{"--nope", NULL}, "unknown option --nope"},
        {{"--nope=1", NULL}, "unknown option --nope"},
        {{"-x", NULL}, "unknown option -x"},
        {{"-p=hunter2", NULL}, "unknown option -p"},
        {{"--nam", "x", NULL}, "unknown option --nam"}, /* no prefix matching */
        {{"--name", NULL}, "--name needs a value (NAME)"},
        {{"--name=", NULL}, "--name needs a non-empty value"},
        {{"--quiet=1", NULL}, "--quiet takes no value"},
        {{"--name", "a", "--name", "b"}, "--name given more than once"},
        {{"--colour", "blue", NULL}, "invalid value 'blue' for --colour (allowed: red, green)"},
        {{"stray", NULL}, "unexpected argument 'stray'"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct certctl_args a;
        char err[256];

        CHECK_INT(parse(&a, spec, 0, cases[i].w, err, sizeof(err)), -1);
        CHECK_STR(err, cases[i].err);
        certctl_args_free(&a);
    }
}

TEST(args_unknown_word_is_reported)
{
    char *w[] = {"--name", "a", "--url=https://x", NULL};
    struct certctl_args a;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), -1);
    CHECK_STR(a.unknown, "--url=https://x");
    certctl_args_free(&a);
}

TEST(args_secret_never_echoed)
{
    char *w[] = {"--secret", "hunter2", NULL};
    struct certctl_args a;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), -1);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, "--secret") != NULL);
    certctl_args_free(&a);
}

TEST(args_help_and_positionals)
{
    char *w1[] = {"--colour", "green", "--help", "--bogus", NULL};
    char *w2[] = {"--quiet", "cluster", "status", "--name", "x", NULL};
    char *w3[] = {"--quiet", "--", "--name", NULL};
    struct certctl_args a;
    char err[256];

    /* --help wins over anything after it, so help never fails. */
    CHECK_INT(parse(&a, spec, 0, w1, err, sizeof(err)), 0);
    CHECK_INT(a.help, 1);
    certctl_args_free(&a);

    CHECK_INT(parse(&a, spec, 1, w2, err, sizeof(err)), 0);
    CHECK_INT(a.nrest, 4);
    CHECK_STR(a.rest[0], "cluster");
    CHECK_STR(a.rest[3], "x");
    CHECK_INT(certctl_args_given(&a, "name"), 0);
    certctl_args_free(&a);

    CHECK_INT(parse(&a, spec, 1, w3, err, sizeof(err)), 0);
    CHECK_INT(a.nrest, 1);
    CHECK_STR(a.rest[0], "--name");
    certctl_args_free(&a);
}

TEST(env_fills_only_what_the_flags_left)
{
    const char *env[] = {"T_NAME",  "from-env", "T_COLOUR", "green", "T_TAG", "a,b",
                         "T_QUIET", "yes",      NULL,       NULL};
    char *w[] = {"--name", "from-flag", NULL};
    struct certctl_args a;
    const char *const *tags;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_apply_env(&a, fake_env, env, err, sizeof(err)), 0);
    CHECK_STR(certctl_args_get(&a, "name"), "from-flag");
    CHECK_STR(certctl_args_get(&a, "colour"), "green");
    CHECK_INT(certctl_args_list(&a, "tag", &tags), 1);
    CHECK_STR(tags[0], "a,b");
    CHECK_INT(certctl_args_flag(&a, "quiet"), 1);
    certctl_args_free(&a);
}

TEST(env_list_ignored_when_flag_given)
{
    const char *env[] = {"T_TAG", "env", NULL, NULL};
    char *w[] = {"--tag", "flag", NULL};
    struct certctl_args a;
    const char *const *tags;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_apply_env(&a, fake_env, env, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_list(&a, "tag", &tags), 1);
    CHECK_STR(tags[0], "flag");
    certctl_args_free(&a);
}

TEST(env_bad_values)
{
    const char *bad_choice[] = {"T_COLOUR", "blue", NULL, NULL};
    const char *bad_flag[] = {"T_QUIET", "maybe", NULL, NULL};
    const char *off_flag[] = {"T_QUIET", "0", "T_NAME", "", NULL, NULL};
    char *w[] = {NULL};
    struct certctl_args a;
    char err[256];

    parse(&a, spec, 0, w, err, sizeof(err));
    CHECK_INT(certctl_args_apply_env(&a, fake_env, bad_choice, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid value 'blue' for T_COLOUR (allowed: red, green)");
    certctl_args_free(&a);

    parse(&a, spec, 0, w, err, sizeof(err));
    CHECK_INT(certctl_args_apply_env(&a, fake_env, bad_flag, err, sizeof(err)), -1);
    certctl_args_free(&a);

    /* "0" turns a flag off; an empty variable counts as unset. */
    parse(&a, spec, 0, w, err, sizeof(err));
    CHECK_INT(certctl_args_apply_env(&a, fake_env, off_flag, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_flag(&a, "quiet"), 0);
    CHECK_INT(certctl_args_given(&a, "name"), 0);
    certctl_args_free(&a);
}

TEST(parse_u64)
{
    uint64_t v = 7;

    CHECK_INT(certctl_parse_u64("42", 1, 100, &v), 0);
    CHECK_INT(v, 42);
    CHECK_INT(certctl_parse_u64("0", 0, 1, &v), 0);
    CHECK_INT(certctl_parse_u64("0", 1, 100, &v), -1);
    CHECK_INT(certctl_parse_u64("101", 1, 100, &v), -1);
    CHECK_INT(certctl_parse_u64("", 0, 100, &v), -1);
    CHECK_INT(certctl_parse_u64("-1", 0, UINT64_MAX, &v), -1);
    CHECK_INT(certctl_parse_u64("+1", 0, 100, &v), -1);
    CHECK_INT(certctl_parse_u64(" 1", 0, 100, &v), -1);
    CHECK_INT(certctl_parse_u64("1x", 0, 100, &v), -1);
    CHECK_INT(certctl_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -1);
    CHECK_INT(certctl_parse_u64(NULL, 0, 100, &v), -1);
}

TEST(urls_split)
{
    char **u = NULL;
    size_t n = 0;
    char err[256];

    CHECK_INT(certctl_urls_split(" https://a:1/ ,,HTTP://b:2//,", &u, &n, err, sizeof(err)), 0);
    CHECK_INT(certctl_urls_split("https://c:3", &u, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(u[0], "https://a:1");
        CHECK_STR(u[1], "HTTP://b:2");
        CHECK_STR(u[2], "https://c:3");
    }
    certctl_urls_free(u, n);

    {
        const char *bad[] = {"ftp://a", "a:1", "https://", "https:///x", "https://a:1?x=1",
                             "https://a b", "https://a#f"};
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            u = NULL;
            n = 0;
            CHECK_INT(certctl_urls_split(bad[i], &u, &n, err, sizeof(err)), -1);
            CHECK(strstr(err, "invalid URL") != NULL);
            certctl_urls_free(u, n);
        }
    }
}

/* Resolves the global options from words and a fake environment. */
static int resolve(char **words, const char *const *env, struct certctl_global *g,
                   char *err, size_t errlen)
{
    struct certctl_args a;
    int rc;

    rc = parse(&a, certctl_global_opts, 1, words, err, errlen);
    if (rc == 0) {
        rc = certctl_args_apply_env(&a, fake_env, (void *)env, err, errlen);
    }
    if (rc == 0) {
        rc = certctl_global_resolve(&a, g, err, errlen);
    }
    certctl_args_free(&a);
    return rc;
}

TEST(global_flag_beats_env)
{
    const char *env[] = {"CERTCTL_URL", "https://env:1", "CERTCTL_CERT",   "env.pem",
                         "CERTCTL_OUTPUT", "json",       "CERTCTL_TIMEOUT", "5",
                         NULL,           NULL};
    char *w[] = {"--url", "https://a:1,https://b:2", "--url", "https://c:3", "--cert",
                 "flag.pem", "cluster", "status", NULL};
    struct certctl_global g;
    char err[256];

    CHECK_INT(resolve(w, env, &g, err, sizeof(err)), 0);
    CHECK_INT(g.nurls, 3);
    if (g.nurls == 3) {
        CHECK_STR(g.urls[0], "https://a:1");
        CHECK_STR(g.urls[2], "https://c:3");
    }
    CHECK_STR(g.cert, "flag.pem");
    CHECK_INT(g.output, CERTCTL_OUTPUT_JSON);
    CHECK_INT(g.timeout, 5);
    CHECK_INT(g.insecure, 0);
    certctl_global_free(&g);
}

TEST(global_env_only_and_defaults)
{
    const char *env[] = {"CERTCTL_URL", "https://x:1, https://y:2", "CERTCTL_PFX", "c.pfx",
                         "CERTCTL_PASSWORD", "pw", "CERTCTL_INSECURE", "1", NULL, NULL};
    char *w[] = {"certs", "whoami", NULL};
    struct certctl_global g;
    char err[256];

    CHECK_INT(resolve(w, env, &g, err, sizeof(err)), 0);
    CHECK_INT(g.nurls, 2);
    CHECK_STR(g.pfx, "c.pfx");
    CHECK_STR(g.password, "pw");
    CHECK_INT(g.insecure, 1);
    CHECK_INT(g.output, CERTCTL_OUTPUT_TABLE);
    CHECK_INT(g.timeout, 30);
    certctl_global_free(&g);
}

TEST(global_errors)
{
    const char *none[] = {NULL, NULL};
    struct {
        char *w[8];
        const char *err;
    } cases[] = {
        {{"--cert", "c", NULL}, "no node URL: give --url or set CERTCTL_URL"},
        {{"--url", "https://a", NULL}, "no client certificate"},
        {{"--url", "https://a", "--key", "k", NULL}, "--key needs --cert"},
        {{"--url", "https://a", "--cert", "c", "--pfx", "p", NULL}, "give either --pfx"},
        {{"--url", "https://a", "--cert", "c", "--timeout", "0", NULL}, "invalid --timeout"},
        {{"--url", "https://a", "--cert", "c", "--timeout", "1s", NULL}, "invalid --timeout"},
        {{"--url", "a:1", "--cert", "c", NULL}, "invalid URL 'a:1'"},
        {{"--output", "xml", NULL}, "invalid value 'xml' for --output"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct certctl_global g;
        char err[256] = "";

        CHECK_INT(resolve(cases[i].w, none, &g, err, sizeof(err)), -1);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0) {
            fprintf(stderr, "  case %zu: got \"%s\"\n", i, err);
            CHECK(0);
        }
    }
}

TEST(percent_encoding)
{
    struct certctl_buf b;

    certctl_buf_init(&b);
    CHECK_INT(certctl_percent_encode(&b, "AZaz09-._~ /?&=+%#\xc3\xa9"), 0);
    CHECK_STR(b.data, "AZaz09-._~%20%2F%3F%26%3D%2B%25%23%C3%A9");
    certctl_buf_free(&b);

    certctl_buf_init(&b);
    CHECK_INT(certctl_buf_puts(&b, "/admin/certificates"), 0);
    CHECK_INT(certctl_query_add(&b, "name", "a b&c"), 0);
    CHECK_INT(certctl_query_add(&b, "secondary", "true"), 0);
    CHECK_STR(b.data, "/admin/certificates?name=a%20b%26c&secondary=true");
    certctl_buf_free(&b);
}

TEST(scrub)
{
    char out[64];

    certctl_scrub(out, sizeof(out), "a\nb\tc\x1b[31md\x7f");
    CHECK_STR(out, "a b c?[31md?");
    certctl_scrub(out, sizeof(out), "x\xc2\x9by\xc3\xa9");
    CHECK_STR(out, "x?y\xc3\xa9");
    /* Never cut a UTF-8 character in two. */
    certctl_scrub(out, 3, "a\xc3\xa9");
    CHECK_STR(out, "a");
    certctl_scrub(out, 4, "a\xc3\xa9");
    CHECK_STR(out, "a\xc3\xa9");
}

static char *render(const struct certctl_table *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL) {
        return NULL;
    }
    certctl_table_print(t, f);
    fclose(f);
    return text;
}

TEST(table_alignment)
{
    static const char *const headers[] = {"ID", "NAME", "NOTE"};
    const char *r1[] = {"1", "caf\xc3\xa9", "x"};
    const char *r2[] = {"100", NULL, ""};
    const char *r3[] = {"2", "evil\n\x1b[2J", "y"};
    struct certctl_table t;
    char *text;

    CHECK_INT(certctl_table_init(&t, 3, headers), 0);
    CHECK_INT(certctl_table_add(&t, r1), 0);
    CHECK_INT(certctl_table_add(&t, r2), 0);
    CHECK_INT(certctl_table_add(&t, r3), 0);
    text = render(&t);
    /* Widths count characters, a NULL cell is "-", an empty last cell
     * leaves no trailing blanks, control characters are neutralised. */
    CHECK_STR(text, "ID   NAME       NOTE\n"
                    "1    caf\xc3\xa9       x\n"
                    "100  -\n"
                    "2    evil ?[2J  y\n");
    free(text);
    certctl_table_free(&t);
}

TEST(table_without_header)
{
    const char *r1[] = {"Term:", "3"};
    const char *r2[] = {"Commit index:", "10"};
    struct certctl_table t;
    char *text;

    CHECK_INT(certctl_table_init(&t, 2, NULL), 0);
    CHECK_INT(certctl_table_add(&t, r1), 0);
    CHECK_INT(certctl_table_add(&t, r2), 0);
    text = render(&t);
    CHECK_STR(text, "Term:          3\nCommit index:  10\n");
    free(text);
    certctl_table_free(&t);
}

TEST(help_lists_every_option)
{
    char *text = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&text, &len);

    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    certctl_args_print_help(certctl_global_opts, f);
    fclose(f);
    for (i = 0; certctl_global_opts[i].name != NULL; i++) {
        char want[64];

        snprintf(want, sizeof(want), "--%s", certctl_global_opts[i].name);
        CHECK(strstr(text, want) != NULL);
        if (certctl_global_opts[i].env != NULL) {
            CHECK(strstr(text, certctl_global_opts[i].env) != NULL);
        }
    }
    CHECK(strstr(text, "(default: 30)") != NULL);
    CHECK(strstr(text, "one of table, json") != NULL);
    free(text);
}

TEST(args_set_from_elsewhere)
{
    char *w1[] = {"--colour", "green", NULL};
    char *w2[] = {"--name", "a", NULL};
    struct certctl_args a;
    char err[256];

    CHECK_INT(parse(&a, spec, 0, w1, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_set(&a, "name", "db1", "NAME", err, sizeof(err)), 0);
    CHECK_STR(certctl_args_get(&a, "name"), "db1");
    CHECK_INT(certctl_args_check_required(&a, err, sizeof(err)), 0);
    /* checked like any value, and a secret is not echoed */
    CHECK_INT(certctl_args_set(&a, "secret", "blue", "SECRET", err, sizeof(err)), -1);
    CHECK(strstr(err, "blue") == NULL);
    certctl_args_free(&a);

    CHECK_INT(parse(&a, spec, 0, w2, err, sizeof(err)), 0);
    CHECK_INT(certctl_args_set(&a, "name", "b", "NAME", err, sizeof(err)), -1);
    CHECK_STR(err, "NAME and --name both given: use one");
    CHECK_INT(certctl_args_set(&a, "quiet", "x", "Q", err, sizeof(err)), -1);
    certctl_args_free(&a);
}

TEST(check_date)
{
    CHECK_INT(certctl_check_date("2030-01-31"), 0);
    CHECK_INT(certctl_check_date("2030-01-31T23:59:59Z"), 0);
    CHECK_INT(certctl_check_date("2028-02-29"), 0);
    CHECK_INT(certctl_check_date("2000-02-29"), 0);
    CHECK_INT(certctl_check_date("2100-02-29"), -1);
    CHECK_INT(certctl_check_date("2030-02-30"), -1);
    CHECK_INT(certctl_check_date("2030-04-31"), -1);
    CHECK_INT(certctl_check_date("2030-13-01"), -1);
    CHECK_INT(certctl_check_date("2030-00-01"), -1);
    CHECK_INT(certctl_check_date("1969-12-31"), -1);
    CHECK_INT(certctl_check_date("2030-1-31"), -1);
    CHECK_INT(certctl_check_date("2030-01-31T24:00:00Z"), -1);
    CHECK_INT(certctl_check_date("2030-01-31T00:00:00"), -1);
    CHECK_INT(certctl_check_date("2030-01-31 00:00:00Z"), -1);
    CHECK_INT(certctl_check_date("+030-01-31"), -1);
    CHECK_INT(certctl_check_date(""), -1);
}

static void check_pretty(const char *in, const char *want)
{
    struct certctl_buf b;

    certctl_buf_init(&b);
    CHECK_INT(certctl_json_pretty(&b, in, strlen(in)), 0);
    CHECK_STR(b.data, want);
    certctl_buf_free(&b);
}

TEST(json_pretty)
{
    check_pretty("{\"b\":1.50,\"a\" : [ 1, {} ,[ ],{\"x\":null}],\"n\":123456789012345678901234}",
                 "{\n"
                 "  \"b\": 1.50,\n"
                 "  \"a\": [\n"
                 "    1,\n"
                 "    {},\n"
                 "    [],\n"
                 "    {\n"
                 "      \"x\": null\n"
                 "    }\n"
                 "  ],\n"
                 "  \"n\": 123456789012345678901234\n"
                 "}");
    /* Structure characters inside strings are text; escapes are kept. */
    check_pretty("[\"a,b:{c}\\\"]\",\"\\\\\"]", "[\n  \"a,b:{c}\\\"]\",\n  \"\\\\\"\n]");
    check_pretty(" 42 ", "42");
    check_pretty("\"x\"", "\"x\"");
    check_pretty("", "");
    /* DEL and C1 controls become escapes; other UTF-8 stays. */
    check_pretty("\"a\x7f\xc2\x9b[2J\xc3\xa9\"", "\"a\\u007f\\u009b[2J\xc3\xa9\"");
}

TEST(safe_filename_and_join)
{
    struct certctl_buf b;

    certctl_buf_init(&b);
    CHECK_INT(certctl_safe_filename(&b, "a/b\\c:d*e?f\"g<h>i|j\x01k l\xc3\xa9"), 0);
    CHECK_STR(b.data, "a_b_c_d_e_f_g_h_i_j_k l\xc3\xa9");
    certctl_buf_free(&b);
    CHECK_INT(certctl_safe_filename(&b, ".."), 0);
    CHECK_STR(b.data, ".."); /* harmless: an extension always follows */
    certctl_buf_free(&b);
    CHECK_INT(certctl_safe_filename(&b, ""), 0);
    CHECK_STR(b.data, "_");
    certctl_buf_free(&b);

    CHECK_INT(certctl_path_join(&b, "dir", "f.key"), 0);
    CHECK_STR(b.data, "dir/f.key");
    certctl_buf_free(&b);
    CHECK_INT(certctl_path_join(&b, "dir/", "f.key"), 0);
    CHECK_STR(b.data, "dir/f.key");
    certctl_buf_free(&b);
}

/* A fresh directory for the file tests; the caller removes it. */
static char *temp_dir(void)
{
    static char dir[64];

    snprintf(dir, sizeof(dir), "/tmp/certctl-test-XXXXXX");
    return mkdtemp(dir);
}

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    char err[256];

    if (certctl_read_input(path, "--file", 1 << 20, &data, &len, err, sizeof(err)) != 0) {
        return NULL;
    }
    return data;
}

static unsigned mode_of(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

TEST(write_new_files)
{
    char *dir = temp_dir();
    char a[128], b[128], c[128], target[160], err[512], path_missing[160];
    char *text;
    mode_t old = umask(022);

    CHECK(dir != NULL);
    if (dir == NULL) {
        umask(old);
        return;
    }
    snprintf(a, sizeof(a), "%s/a.key", dir);
    snprintf(b, sizeof(b), "%s/b.crt", dir);
    snprintf(c, sizeof(c), "%s/c.pfx", dir);
    snprintf(target, sizeof(target), "%s/target", dir);
    {
        struct certctl_outfile files[] = {{a, "KEY", 3}, {b, "CRT", 3}};

        CHECK_INT(certctl_write_new_files(files, 2, err, sizeof(err)), 0);
        CHECK_INT(mode_of(a), 0600);
        CHECK_INT(mode_of(b), 0600);
        text = slurp(a);
        CHECK_STR(text, "KEY");
        free(text);
        CHECK_INT(certctl_check_absent(a, err, sizeof(err)), -1);
        CHECK(strstr(err, "already exists: not overwritten") != NULL);
        CHECK_INT(certctl_check_absent(c, err, sizeof(err)), 0);
    }
    {
        /* b exists: nothing is written, and c, created first, is removed. */
        struct certctl_outfile files[] = {{c, "PFX", 3}, {b, "NEW", 3}};

        CHECK_INT(certctl_write_new_files(files, 2, err, sizeof(err)), -1);
        CHECK(strstr(err, "b.crt' already exists: not overwritten") != NULL);
        CHECK_INT(certctl_check_absent(c, err, sizeof(err)), 0);
        text = slurp(b);
        CHECK_STR(text, "CRT");
        free(text);
    }
    {
        /* A dangling symbolic link is not followed. */
        struct certctl_outfile files[] = {{c, "PFX", 3}};

        CHECK_INT(symlink(target, c), 0);
        CHECK_INT(certctl_check_absent(c, err, sizeof(err)), -1);
        CHECK_INT(certctl_write_new_files(files, 1, err, sizeof(err)), -1);
        CHECK_INT(certctl_check_absent(target, err, sizeof(err)), 0);
        /* Replacing swaps the link itself for a 0600 file. */
        CHECK_INT(certctl_replace_file(c, "PFX2", 4, err, sizeof(err)), 0);
        CHECK_INT(mode_of(c), 0600);
        CHECK_INT(certctl_check_absent(target, err, sizeof(err)), 0);
        text = slurp(c);
        CHECK_STR(text, "PFX2");
        free(text);
    }
    CHECK_INT(chmod(b, 0644), 0);
    CHECK_INT(certctl_replace_file(b, "R", 1, err, sizeof(err)), 0);
    CHECK_INT(mode_of(b), 0600);
    CHECK_INT(certctl_check_dir(dir, "--out", err, sizeof(err)), 0);
    CHECK_INT(certctl_check_dir(b, "--out", err, sizeof(err)), -1);
    CHECK(strstr(err, "is not a directory") != NULL);
    snprintf(path_missing, sizeof path_missing, "%s/none.pfx", dir);
    CHECK_INT(certctl_check_dir(path_missing, "--out", err, sizeof(err)), -1);
    CHECK(strstr(err, "no such directory") != NULL);

    unlink(a);
    unlink(b);
    unlink(c);
    CHECK_INT(rmdir(dir), 0); /* no temporary file left behind */
    umask(old);
}

TEST(read_input_limits)
{
    char *dir = temp_dir();
    char path[128], err[512];
    char *data = NULL;
    size_t len = 0;
    struct certctl_outfile f;

    CHECK(dir != NULL);
    if (dir == NULL) {
        return;
    }
    snprintf(path, sizeof(path), "%s/doc.json", dir);
    f.path = path;
    f.data = "0123456789";
    f.len = 10;
    CHECK_INT(certctl_write_new_files(&f, 1, err, sizeof(err)), 0);
    CHECK_INT(certctl_read_input(path, "--file", 10, &data, &len, err, sizeof(err)), 0);
    CHECK_INT(len, 10);
    CHECK_STR(data, "0123456789");
    free(data);
    CHECK_INT(certctl_read_input(path, "--file", 9, &data, &len, err, sizeof(err)), -1);
    CHECK(strstr(err, "larger than 9 bytes") != NULL);
    CHECK(data == NULL);
    CHECK_INT(certctl_read_input(dir, "--file", 9, &data, &len, err, sizeof(err)), -1);
    CHECK(strstr(err, "cannot read --file") != NULL);
    unlink(path);
    CHECK_INT(certctl_read_input(path, "--file", 9, &data, &len, err, sizeof(err)), -1);
    CHECK(strstr(err, "No such file") != NULL);
    rmdir(dir);
}

int main(void)
{
    RUN(args_forms);
    RUN(args_defaults_and_required);
    RUN(args_errors);
    RUN(args_unknown_word_is_reported);
    RUN(args_secret_never_echoed);
    RUN(args_help_and_positionals);
    RUN(env_fills_only_what_the_flags_left);
    RUN(env_list_ignored_when_flag_given);
    RUN(env_bad_values);
    RUN(parse_u64);
    RUN(urls_split);
    RUN(global_flag_beats_env);
    RUN(global_env_only_and_defaults);
    RUN(global_errors);
    RUN(percent_encoding);
    RUN(scrub);
    RUN(table_alignment);
    RUN(table_without_header);
    RUN(help_lists_every_option);
    RUN(args_set_from_elsewhere);
    RUN(check_date);
    RUN(json_pretty);
    RUN(safe_filename_and_join);
    RUN(write_new_files);
    RUN(read_input_limits);
    return HARNESS_DONE();
}
