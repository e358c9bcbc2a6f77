/*
 * etl_js.c - the Duktape side of ETL transform scripts: a heap per
 * cr_etl_js with a byte-counting allocator, the compiled script kept in
 * the global stash, loadTo()/id() as C functions, and a run that is a
 * protected call with a deadline. See etl_js.h for the contract.
 *
 * Limits are enforced by Duktape itself, so they hold inside any script:
 * the allocator refuses past the cap (Duktape then collects garbage,
 * retries and finally throws a RangeError the run reports), and the
 * interrupt hook DUK_USE_EXEC_TIMEOUT_CHECK calls cr_etl_js_timed_out(),
 * which keeps answering "yes" until the run has unwound completely, so
 * even `try {} catch` around a busy loop cannot keep it alive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <duktape.h>

#include "etl_js.h"

/* Every block carries its size in front, for the accounting. */
#define HDR 16u

struct cr_etl_js {
    duk_context *ctx;
    size_t used, cap;
    bool oom;         /* an allocation was refused in this run */
    int64_t deadline; /* monotonic ns; 0 while not running */
    bool timed_out;
    bool tainted;
    int64_t time_ms;
    /* the run in progress */
    const char *id;
    struct cr_etl_js_output *out;
    size_t out_bytes;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cr_etl_js_timed_out(void *udata)
{
    struct cr_etl_js *js = udata;

    if (js == NULL || js->deadline == 0) {
        return 0;
    }
    if (js->timed_out || mono_ns() > js->deadline) {
        js->timed_out = true;
        return 1;
    }
    return 0;
}

/* --- the counting allocator ------------------------------------------ */

static void *js_alloc(void *udata, duk_size_t size)
{
    struct cr_etl_js *js = udata;
    unsigned char *p;

    if (size == 0) {
        size = 1;
    }
    if (size > js->cap || js->used + size > js->cap) {
        js->oom = true;
        return NULL;
    }
    if ((p = malloc(size + HDR)) == NULL) {
        js->oom = true;
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    js->used += size;
    return p + HDR;
}

static void js_free(void *udata, void *ptr)
{
    struct cr_etl_js *js = udata;
    unsigned char *p = ptr;
    size_t size;

    if (p == NULL) {
        return;
    }
    p -= HDR;
    memcpy(&size, p, sizeof size);
    js->used -= size;
    free(p);
}

static void *js_realloc(void *udata, void *ptr, duk_size_t size)
{
    struct cr_etl_js *js = udata;
    unsigned char *p = ptr, *q;
    size_t old;

    if (p == NULL) {
        return js_alloc(udata, size);
    }
    if (size == 0) {
        js_free(udata, ptr);
        return NULL;
    }
    p -= HDR;
    memcpy(&old, p, sizeof old);
    if (size > old && (size - old > js->cap || js->used + (size - old) >
                                                   js->cap)) {
        js->oom = true;
        return NULL;
    }
    if ((q = realloc(p, size + HDR)) == NULL) {
        js->oom = true;
        return NULL;
    }
    memcpy(q, &size, sizeof size);
    js->used = js->used - old + size;
    return q + HDR;
}

static void js_fatal(void *udata, const char *msg)
{
    (void)udata;
    /* Only reachable for an error outside every protected call; all of
     * ours are protected, so this is a bug, not a script's doing. */
    fprintf(stderr, "certnode: fatal JavaScript engine error: %s\n",
            msg != NULL ? msg : "?");
    abort();
}

/* --- loadTo() and id() ------------------------------------------------- */

static struct cr_etl_js *js_of(duk_context *ctx)
{
    duk_memory_functions f;

    duk_get_memory_functions(ctx, &f);
    return f.udata;
}

void cr_etl_js_output_free(struct cr_etl_js_output *out)
{
    for (size_t i = 0; out->json != NULL && i < out->n; i++) {
        free(out->json[i]);
    }
    free(out->json);
    free(out->len);
    memset(out, 0, sizeof *out);
}

static duk_ret_t js_load_to(duk_context *ctx)
{
    struct cr_etl_js *js = js_of(ctx);
    struct cr_etl_js_output *out = js->out;
    duk_idx_t n = duk_get_top(ctx);
    const char *text;
    duk_size_t len;
    char *copy;

    if (out == NULL) {
        return duk_error(ctx, DUK_ERR_ERROR, "loadTo() outside a transform");
    }
    /* loadTo(obj) or RavenDB's loadTo('Collection', obj): the object is
     * the last argument. */
    if (n == 0 || !duk_is_object(ctx, n - 1) || duk_is_array(ctx, n - 1) ||
        duk_is_function(ctx, n - 1)) {
        return duk_error(ctx, DUK_ERR_TYPE_ERROR,
                         "loadTo() expects an object to load");
    }
    if (out->n >= CR_ETL_JS_MAX_OUTPUTS) {
        return duk_error(ctx, DUK_ERR_RANGE_ERROR,
                         "more than %d loadTo() calls for one document",
                         CR_ETL_JS_MAX_OUTPUTS);
    }
    duk_dup(ctx, n - 1);
    text = duk_json_encode(ctx, -1);
    len = strlen(text);
    if (js->out_bytes + len > CR_ETL_JS_MAX_OUTPUT_BYTES) {
        return duk_error(ctx, DUK_ERR_RANGE_ERROR,
                         "the documents loaded exceed %u bytes",
                         CR_ETL_JS_MAX_OUTPUT_BYTES);
    }
    if ((copy = malloc(len + 1)) == NULL) {
        return duk_error(ctx, DUK_ERR_RANGE_ERROR, "out of memory");
    }
    memcpy(copy, text, len + 1);
    {
        char **j = realloc(out->json, (out->n + 1) * sizeof *j);
        size_t *l;
        if (j == NULL) {
            free(copy);
            return duk_error(ctx, DUK_ERR_RANGE_ERROR, "out of memory");
        }
        out->json = j;
        l = realloc(out->len, (out->n + 1) * sizeof *l);
        if (l == NULL) {
            free(copy);
            return duk_error(ctx, DUK_ERR_RANGE_ERROR, "out of memory");
        }
        out->len = l;
    }
    out->json[out->n] = copy;
    out->len[out->n] = len;
    out->n++;
    js->out_bytes += len;
    duk_pop(ctx);
    return 0;
}

static duk_ret_t js_id(duk_context *ctx)
{
    struct cr_etl_js *js = js_of(ctx);

    duk_push_string(ctx, js->id != NULL ? js->id : "");
    return 1;
}

/* --- compile and run --------------------------------------------------- */

struct source {
    const char *text;
    size_t len;
};

static duk_ret_t compile_safe(duk_context *ctx, void *udata)
{
    struct source *s = udata;

    duk_push_global_stash(ctx);
    duk_push_lstring(ctx, s->text, s->len);
    duk_push_string(ctx, "transform");
    duk_compile(ctx, DUK_COMPILE_FUNCTION);
    duk_put_prop_string(ctx, -2, "transform");
    duk_pop(ctx);
    duk_push_c_function(ctx, js_load_to, DUK_VARARGS);
    duk_put_global_string(ctx, "loadTo");
    duk_push_c_function(ctx, js_id, DUK_VARARGS);
    duk_put_global_string(ctx, "id");
    return 0;
}

struct run_args {
    const char *json;
    size_t len;
    bool bad_json;
};

static duk_ret_t run_safe(duk_context *ctx, void *udata)
{
    struct run_args *a = udata;

    duk_push_global_stash(ctx);
    duk_get_prop_string(ctx, -1, "transform");
    duk_push_lstring(ctx, a->json, a->len);
    a->bad_json = true;
    duk_json_decode(ctx, -1);
    a->bad_json = false;
    duk_call_method(ctx, 0);
    duk_pop_2(ctx);
    return 0;
}

/* The error at the top of the stack as "TypeError: ... (line N)". */
static void error_text(struct cr_etl_js *js, char *err, size_t errlen)
{
    duk_context *ctx = js->ctx;
    int line = 0;

    if (duk_is_error(ctx, -1)) {
        duk_get_prop_string(ctx, -1, "lineNumber");
        line = duk_is_number(ctx, -1) ? duk_get_int(ctx, -1) : 0;
        duk_pop(ctx);
    }
    if (line > 0) {
        snprintf(err, errlen, "%s (line %d)", duk_safe_to_string(ctx, -1),
                 line);
    } else {
        snprintf(err, errlen, "%s", duk_safe_to_string(ctx, -1));
    }
}

struct cr_etl_js *cr_etl_js_new(const char *script,
                                const struct cr_etl_js_limits *limits,
                                char *err, size_t errlen)
{
    struct cr_etl_js *js = calloc(1, sizeof *js);
    struct source s;
    char *text;
    size_t n;

    if (js == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    js->cap = limits != NULL && limits->memory_bytes ? limits->memory_bytes
                                                     : CR_ETL_JS_MEMORY;
    js->time_ms = limits != NULL && limits->time_ms ? limits->time_ms
                                                    : CR_ETL_JS_TIME_MS;
    js->ctx = duk_create_heap(js_alloc, js_realloc, js_free, js, js_fatal);
    if (js->ctx == NULL) {
        free(js);
        snprintf(err, errlen, "cannot create a JavaScript heap");
        return NULL;
    }
    /* The script is a function body; starting it on the wrapper's line
     * keeps the line numbers of errors the user's. */
    n = strlen(script);
    if ((text = malloc(n + 32)) == NULL) {
        cr_etl_js_free(js);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s.len = (size_t)sprintf(text, "function () {%s\n}", script);
    s.text = text;
    if (duk_safe_call(js->ctx, compile_safe, &s, 0, 1) != DUK_EXEC_SUCCESS) {
        char msg[400];
        error_text(js, msg, sizeof msg);
        snprintf(err, errlen, "the script does not compile: %s", msg);
        free(text);
        cr_etl_js_free(js);
        return NULL;
    }
    duk_pop(js->ctx);
    free(text);
    return js;
}

void cr_etl_js_free(struct cr_etl_js *js)
{
    if (js == NULL) {
        return;
    }
    if (js->ctx != NULL) {
        duk_destroy_heap(js->ctx);
    }
    free(js);
}

bool cr_etl_js_tainted(const struct cr_etl_js *js)
{
    return js->tainted;
}

int cr_etl_js_run(struct cr_etl_js *js, const char *id, const char *json,
                  size_t len, struct cr_etl_js_output *out, char *err,
                  size_t errlen)
{
    struct run_args a = {json, len, false};
    duk_int_t rc;

    memset(out, 0, sizeof *out);
    js->id = id;
    js->out = out;
    js->out_bytes = 0;
    js->oom = false;
    js->timed_out = false;
    js->deadline = mono_ns() + js->time_ms * 1000000;
    rc = duk_safe_call(js->ctx, run_safe, &a, 0, 1);
    js->deadline = 0;
    js->out = NULL;
    js->id = NULL;
    if (rc == DUK_EXEC_SUCCESS) {
        duk_pop(js->ctx);
        return 0;
    }
    if (js->timed_out) {
        js->tainted = true;
        snprintf(err, errlen,
                 "the script ran longer than %lld ms and was stopped",
                 (long long)js->time_ms);
    } else if (js->oom) {
        js->tainted = true;
        snprintf(err, errlen,
                 "the script needed more than %zu MiB of memory and was "
                 "stopped",
                 js->cap / (1024 * 1024));
    } else if (a.bad_json) {
        snprintf(err, errlen, "the document is not valid JSON");
    } else {
        error_text(js, err, errlen);
    }
    duk_pop(js->ctx);
    cr_etl_js_output_free(out);
    return -1;
}
