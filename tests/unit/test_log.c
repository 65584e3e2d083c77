/* test_log.c: the log sink's structured lines (wxs_log_event): text and JSON, quoting, fields
 * left out, the level filter and the length limit. */
#include "wxsession.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

static char last[4096];
static int lines;

static void sink(void *arg, wxs_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    snprintf(last, sizeof last, "%s", line);
    lines++;
}

static const wxs_log_field fields[] = {
    {"result", "ok", 0},  {NULL, "left out", 0}, {"path", "/a b=\"c\"", 0},
    {"status", "200", 1}, {"empty", "", 0},
};

static void test_text(void **state)
{
    wxs_set_log(sink, NULL, WXS_LOG_INFO, 0);
    wxs_log_event(WXS_LOG_INFO, "access", fields, sizeof fields / sizeof fields[0]);
    /* "<time> info  access result=ok path=... status=200 empty=\"\"" */
    const char *p = strstr(last, " info  access ");
    assert_non_null(p);
    assert_string_equal(p, " info  access result=ok path=\"/a b=\\\"c\\\"\" status=200 empty=\"\"");
    assert_null(strstr(last, "left out"));
    (void)state;
}

static void test_json(void **state)
{
    json_error_t err;
    wxs_set_log(sink, NULL, WXS_LOG_INFO, 1);
    wxs_log_event(WXS_LOG_WARN, "login", fields, sizeof fields / sizeof fields[0]);
    json_t *o = json_loads(last, 0, &err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "login");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/a b=\"c\"");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(o, "empty")), "");
    assert_int_equal(json_object_size(o), 7); /* time, level, msg + 4 fields */
    json_decref(o);
    (void)state;
}

static void test_level_and_limit(void **state)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    wxs_log_field f = {"big", big, 0};
    wxs_set_log(sink, NULL, WXS_LOG_WARN, 0);
    lines = 0;
    wxs_log_event(WXS_LOG_INFO, "access", fields, 1);
    assert_int_equal(lines, 0); /* below the level */
    wxs_log_event(WXS_LOG_ERROR, "big", &f, 1);
    assert_int_equal(lines, 1);
    assert_string_equal(last, "log line too long");
    wxs_set_log(NULL, NULL, WXS_LOG_INFO, 0);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_level_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
