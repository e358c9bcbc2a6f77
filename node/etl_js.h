/*
 * etl_js.h - running an ETL transform script (JavaScript, as RavenDB users
 * write them) on one document at a time, inside limits.
 *
 * The script is the body of a function whose `this` is the document; it
 * calls loadTo(obj) (or RavenDB's loadTo('Collection', obj)) zero or more
 * times, and id(this) gives the document's id. Every call to loadTo
 * becomes one output document, serialised as JSON when loadTo is called
 * (so later changes to the object do not leak into it).
 *
 * Each cr_etl_js is one Duktape heap with the compiled script. The heap's
 * allocator counts bytes and refuses beyond a cap, and Duktape's
 * execution-timeout hook (compiled in, see node/CMakeLists.txt) ends a run
 * that passes its deadline, so `while (true) {}` or a script that grows an
 * array forever ends in an error for that document, never in a stuck
 * thread or a dead node. A heap is used by one thread at a time; runners
 * make one per batch, on the thread pool.
 */
#ifndef CERTNODE_ETL_JS_H
#define CERTNODE_ETL_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CR_ETL_JS_TIME_MS 250               /* per document */
#define CR_ETL_JS_MEMORY (32u * 1024 * 1024) /* bytes per heap */
#define CR_ETL_JS_MAX_OUTPUTS 64            /* loadTo calls per document */
#define CR_ETL_JS_MAX_OUTPUT_BYTES (8u * 1024 * 1024)

struct cr_etl_js;

struct cr_etl_js_limits {
    int64_t time_ms;     /* per run; 0: CR_ETL_JS_TIME_MS */
    size_t memory_bytes; /* 0: CR_ETL_JS_MEMORY */
};

/* What one run produced: the JSON text of each loadTo, in call order. */
struct cr_etl_js_output {
    char **json;
    size_t *len;
    size_t n;
};
void cr_etl_js_output_free(struct cr_etl_js_output *out);

/* A heap with @script compiled, or NULL with the reason (a syntax error
 * names the line) in @err. @limits may be NULL. */
struct cr_etl_js *cr_etl_js_new(const char *script,
                                const struct cr_etl_js_limits *limits,
                                char *err, size_t errlen);
void cr_etl_js_free(struct cr_etl_js *js);

/* Run the script on document @id (@json, @len bytes). 0 and *out filled
 * (free with cr_etl_js_output_free), or -1 with the script's error, a
 * timeout or the memory cap in @err and nothing in *out. After -1 the heap
 * still works, but a caller that wants a clean slate makes a new one
 * (cr_etl_js_tainted says whether a limit was hit). */
int cr_etl_js_run(struct cr_etl_js *js, const char *id, const char *json,
                  size_t len, struct cr_etl_js_output *out, char *err,
                  size_t errlen);
bool cr_etl_js_tainted(const struct cr_etl_js *js);

/* Called by Duktape's interrupt (every ~256k instructions); true once the
 * running document's deadline has passed. */
int cr_etl_js_timed_out(void *udata);

#endif /* CERTNODE_ETL_JS_H */
