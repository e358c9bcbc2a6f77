/*
 * test_etl_js.c - ETL transform scripts in the embedded engine: loadTo()
 * outputs, redaction, filtering, errors with line numbers, and the limits
 * that stop a runaway script (time, memory) without harming the heap's
 * owner.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etl_js.h"
#include "harness.h"

static const char *redact =
    "if (this.Public === true) {\n"
    "  delete this.salary;\n"
    "  this.Source = id(this);\n"
    "  loadTo(this);\n"
    "}\n";

TEST(test_load_to_redacts_and_filters)
{
    char err[512] = "";
    struct cr_etl_js *js = cr_etl_js_new(redact, NULL, err, sizeof err);
    struct cr_etl_js_output out;

    CHECK(js != NULL);
    if (js == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    const char *ann = "{\"Name\":\"Ann\",\"Public\":true,\"salary\":5}";
    const char *bob = "{\"Public\":false,\"salary\":9}";

    CHECK_INT(cr_etl_js_run(js, "emp/1", ann, strlen(ann), &out, err,
                            sizeof err),
              0);
    CHECK_INT(out.n, 1);
    if (out.n == 1) {
        CHECK_STR(out.json[0],
                  "{\"Name\":\"Ann\",\"Public\":true,\"Source\":\"emp/1\"}");
    }
    cr_etl_js_output_free(&out);
    CHECK_INT(cr_etl_js_run(js, "emp/2", bob, strlen(bob), &out, err,
                            sizeof err),
              0);
    CHECK_INT(out.n, 0);
    cr_etl_js_output_free(&out);
    cr_etl_js_free(js);
}

TEST(test_several_outputs_and_ravendb_form)
{
    char err[512] = "";
    struct cr_etl_js *js = cr_etl_js_new(
        "for (var i = 0; i < this.n; i++) loadTo('Items', {i: i});", NULL,
        err, sizeof err);
    struct cr_etl_js_output out;

    CHECK(js != NULL);
    CHECK_INT(cr_etl_js_run(js, "x", "{\"n\":3}", 7, &out, err, sizeof err), 0);
    CHECK_INT(out.n, 3);
    if (out.n == 3) {
        CHECK_STR(out.json[2], "{\"i\":2}");
    }
    cr_etl_js_output_free(&out);
    cr_etl_js_free(js);
}

TEST(test_errors_are_reported_with_lines)
{
    char err[512] = "";
    struct cr_etl_js *js;
    struct cr_etl_js_output out;

    CHECK(cr_etl_js_new("loadTo(this;", NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "SyntaxError") != NULL);
    js = cr_etl_js_new("\n\nthrow new Error('no ' + id(this));", NULL, err,
                       sizeof err);
    CHECK(js != NULL);
    CHECK_INT(cr_etl_js_run(js, "d/1", "{}", 2, &out, err, sizeof err), -1);
    CHECK(strstr(err, "Error: no d/1") != NULL);
    CHECK(strstr(err, "line 3") != NULL);
    CHECK_INT(out.n, 0);
    CHECK(!cr_etl_js_tainted(js));
    CHECK_INT(cr_etl_js_run(js, "d/1", "{not json", 9, &out, err, sizeof err),
              -1);
    CHECK(strstr(err, "not valid JSON") != NULL);
    cr_etl_js_free(js);
    js = cr_etl_js_new("loadTo(42);", NULL, err, sizeof err);
    CHECK_INT(cr_etl_js_run(js, "d", "{}", 2, &out, err, sizeof err), -1);
    CHECK(strstr(err, "TypeError") != NULL);
    cr_etl_js_free(js);
}

TEST(test_infinite_loop_is_stopped)
{
    struct cr_etl_js_limits lim = {100, 0};
    char err[512] = "";
    struct cr_etl_js *js = cr_etl_js_new(
        "while (true) { try { for (;;) {} } catch (e) {} }", &lim, err,
        sizeof err);
    struct cr_etl_js_output out;
    struct timespec a, b;
    double ms;

    CHECK(js != NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_INT(cr_etl_js_run(js, "d", "{}", 2, &out, err, sizeof err), -1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK(strstr(err, "longer than 100 ms") != NULL);
    CHECK(ms >= 90 && ms < 5000);
    CHECK(cr_etl_js_tainted(js));
    cr_etl_js_free(js);
}

TEST(test_memory_cap_is_enforced)
{
    struct cr_etl_js_limits lim = {5000, 4u * 1024 * 1024};
    char err[512] = "";
    struct cr_etl_js *js = cr_etl_js_new(
        "var a = []; while (true) a.push('x' + a.length);", &lim, err,
        sizeof err);
    struct cr_etl_js_output out;

    CHECK(js != NULL);
    CHECK_INT(cr_etl_js_run(js, "d", "{}", 2, &out, err, sizeof err), -1);
    CHECK(strstr(err, "memory") != NULL);
    cr_etl_js_free(js);
}

int main(void)
{
    RUN(test_load_to_redacts_and_filters);
    RUN(test_several_outputs_and_ravendb_form);
    RUN(test_errors_are_reported_with_lines);
    RUN(test_infinite_loop_is_stopped);
    RUN(test_memory_cap_is_enforced);
    return HARNESS_DONE();
}
