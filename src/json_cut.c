/*
 * json_cut.c - finding one top-level string member of a JSON object
 * without parsing it (see json_cut.h).
 *
 * This is only a scanner: jansson still parses and validates everything
 * else, and the caller checks that jansson saw the cut value where this
 * found it. Whenever the text is not the plain case, it gives up.
 */
#include <string.h>

#include <certraft/json_cut.h>

struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

/* A string starting at s->p (on its quote); *plain says it had no escape
 * and no control character. False when unterminated. */
static bool skip_string(struct scan *s, bool *plain)
{
    *plain = true;
    for (s->p++; s->p < s->end; s->p++) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c == '\\') {
            *plain = false;
            s->p++; /* the escaped character is never the closing quote */
        } else if (c < 0x20) {
            *plain = false;
        }
    }
    return false;
}

/* Any value: strings, nested objects and arrays, or a scalar token. */
static bool skip_value(struct scan *s)
{
    bool plain;
    int depth = 0;

    do {
        if (s->p >= s->end) {
            return false;
        }
        switch (*s->p) {
        case '"':
            if (!skip_string(s, &plain)) {
                return false;
            }
            continue;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (--depth < 0) {
                return false;
            }
            break;
        default:
            if (depth == 0) {
                /* A number or a literal: up to the next delimiter. */
                while (s->p < s->end && strchr(",}] \t\r\n", *s->p) == NULL) {
                    s->p++;
                }
                return true;
            }
        }
        s->p++;
    } while (depth > 0);
    return true;
}

bool cr_json_cut_member(const char *json, size_t len, const char *key,
                        size_t *start, size_t *end)
{
    struct scan s = {json, json + len};
    size_t klen = strlen(key);
    bool found = false, plain;

    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        return false;
    }
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        return false;
    }
    for (;;) {
        const char *k;
        bool match;

        skip_ws(&s);
        if (s.p >= s.end || *s.p != '"') {
            return false;
        }
        k = s.p + 1;
        if (!skip_string(&s, &plain) || !plain) {
            return false;
        }
        match = (size_t)(s.p - 1 - k) == klen && memcmp(k, key, klen) == 0;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':') {
            return false;
        }
        s.p++;
        skip_ws(&s);
        if (match) {
            const char *v = s.p + 1;
            if (found || s.p >= s.end || *s.p != '"' ||
                !skip_string(&s, &plain) || !plain) {
                return false;
            }
            found = true;
            *start = (size_t)(v - json);
            *end = (size_t)(s.p - 1 - json);
        } else if (!skip_value(&s)) {
            return false;
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        return false;
    }
    skip_ws(&s);
    return found && s.p == s.end;
}
