/*
 * json_cut.h - taking one long string member out of a JSON object before
 * it is parsed.
 *
 * jansson lexes a string one character at a time (~8 ns each): the base64
 * certificate of an upload (2-3 KB) was a fifth of the leader's CPU per
 * write. The caller cuts that member's value out, lets jansson parse the
 * rest, and uses the value's bytes where they are.
 */
#ifndef CERTRAFT_JSON_CUT_H
#define CERTRAFT_JSON_CUT_H

#include <stdbool.h>
#include <stddef.h>

/* Where the value of top-level member @key of the JSON object @json
 * starts and ends ([*start, *end), between its quotes). Only for the
 * plain case: false when @json is not an object, the key appears twice,
 * any top-level key has an escape, the value is not a string or holds a
 * backslash or a control character, or anything else is unusual; the
 * caller then parses the whole text as usual. */
bool cr_json_cut_member(const char *json, size_t len, const char *key,
                        size_t *start, size_t *end);

#endif /* CERTRAFT_JSON_CUT_H */
