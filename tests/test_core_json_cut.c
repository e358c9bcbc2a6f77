/*
 * test_core_json_cut.c - cr_json_cut_member finds a top-level string
 * member's value between its quotes in the plain case, and gives up
 * (so that the caller parses everything) whenever the text is unusual.
 */
#include <string.h>

#include <certraft/json_cut.h>

#include "harness.h"

/* The member's value as found, or "<none>" when the scanner gave up. */
static const char *cut(const char *json, const char *key)
{
    static char out[256];
    size_t start, end;

    if (!cr_json_cut_member(json, strlen(json), key, &start, &end)) {
        return "<none>";
    }
    memcpy(out, json + start, end - start);
    out[end - start] = '\0';
    return out;
}

TEST(test_plain_members)
{
    CHECK_STR(cut("{\"Certificate\":\"MIIB\"}", "Certificate"), "MIIB");
    CHECK_STR(cut(" {\n \"Name\" : \"a\\\"b\", \"Certificate\" : \"QUJD\" ,"
                  "\"Permissions\":{\"db\":\"Read\",\"x\":[1,{\"y\":\"}\"}]},"
                  "\"N\":-1.5e3,\"T\":true,\"Z\":null} \n",
                  "Certificate"),
              "QUJD");
    /* A key that only appears nested is not a top-level member. */
    CHECK_STR(cut("{\"P\":{\"Certificate\":\"x\"},\"Certificate\":\"y\"}",
                  "Certificate"),
              "y");
    CHECK_STR(cut("{\"Certificate\":\"\"}", "Certificate"), "");
}

TEST(test_unusual_texts_give_up)
{
    const char *cases[] = {
        "",                                        /* empty */
        "[\"Certificate\",\"x\"]",                 /* not an object */
        "{}",                                      /* no member */
        "{\"Name\":\"a\"}",                        /* absent */
        "{\"Certificate\":\"a\",\"Certificate\":\"b\"}", /* twice */
        "{\"Certific\\u0061te\":\"a\"}",           /* escaped key */
        "{\"N\\\"\":1,\"Certificate\":\"a\"}",     /* any escaped key */
        "{\"Certificate\":\"a\\/b\"}",             /* escape in the value */
        "{\"Certificate\":\"a\nb\"}",              /* control character */
        "{\"Certificate\":42}",                    /* not a string */
        "{\"Certificate\":\"abc",                  /* unterminated */
        "{\"Certificate\":\"abc\"",                /* no closing brace */
        "{\"Certificate\":\"abc\"} x",             /* trailing garbage */
        "{\"Certificate\" \"abc\"}",               /* no colon */
        "{\"P\":{\"a\":1,\"Certificate\":\"x\"}",   /* unbalanced */
        "{\"P\":]}",                                /* stray bracket */
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cut(cases[i], "Certificate"), "<none>") != 0) {
            fprintf(stderr, "  case %zu (%s) was cut\n", i, cases[i]);
            CHECK(false);
        }
    }
}

int main(void)
{
    RUN(test_plain_members);
    RUN(test_unusual_texts_give_up);
    return HARNESS_DONE();
}
