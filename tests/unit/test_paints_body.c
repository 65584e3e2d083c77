/* test_paints_body.c: One Stroke's pure pieces (src/onestroke/body.c, paint.c): request bodies
 * (JSON and urlencoded), the JSON nesting check, drawing ids and list cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "body.h"
#include "paint.h"
#include "util.h"

static void paint_body_table(void **state)
{
    static const struct {
        const char *ctype;
        const char *body;
        int rc;
        const char *id;      /* NULL: absent */
        const char *actions; /* NULL: absent */
        const char *reason;
    } cases[] = {
        {"application/json", "{\"id\":\"a_1\",\"actions\":\"[1,2]\"}", 0, "a_1", "[1,2]", NULL},
        {NULL, " {\"id\":\"x\",\"actions\":[{\"t\":\"m\"}]}", 0, "x", "[{\"t\":\"m\"}]", NULL},
        {"application/json", "{\"id\":1700000000123}", 0, "1700000000123", NULL, NULL},
        {"application/json", "{\"id\":\"x\"}", 0, "x", NULL, NULL},
        {"application/x-www-form-urlencoded", "id=ab-C&actions=%5B1%2C%20%22%E5%BE%AE%22%5D", 0,
         "ab-C", "[1, \"\xe5\xbe\xae\"]", NULL},
        {"application/x-www-form-urlencoded", "actions=a+b&id=z&id=y&other=1", 0, "y", "a b", NULL},
        {NULL, "", 0, NULL, NULL, NULL},
        {"application/json", "[1]", WXS_EPARSE, NULL, NULL, "ERR_BAD_BODY"},
        {"application/json", "{\"id\":", WXS_EPARSE, NULL, NULL, "ERR_BAD_BODY"},
        {"application/json", "{\"id\":true}", WXS_EPARSE, NULL, NULL, "ERR_BAD_ID"},
        {"application/json", "{\"id\":\"x\",\"actions\":5}", WXS_EPARSE, NULL, NULL,
         "ERR_BAD_ACTIONS"},
        {"application/json", "{\"a\":[[[[[[[[1]]]]]]]]}", WXS_EPARSE, NULL, NULL, "ERR_BAD_BODY"},
        {"application/x-www-form-urlencoded", "id=%zz", WXS_EPARSE, NULL, NULL, "ERR_BAD_BODY"},
        {"application/x-www-form-urlencoded", "id=%C3%28", WXS_EPARSE, NULL, NULL, "ERR_BAD_BODY"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_body b;
        const char *reason = NULL;
        char err[128];
        int rc = os_body_parse(cases[i].ctype, cases[i].body, strlen(cases[i].body), 4, &b, &reason,
                               err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
        if (rc < 0) {
            assert_string_equal(reason, cases[i].reason);
            assert_null(b.id);
            continue;
        }
        if (cases[i].id == NULL)
            assert_null(b.id);
        else
            assert_string_equal(b.id, cases[i].id);
        if (cases[i].actions == NULL) {
            assert_null(b.actions);
        } else {
            assert_string_equal(b.actions, cases[i].actions);
            assert_int_equal(b.actions_len, strlen(cases[i].actions));
        }
        os_body_clear(&b);
    }
    /* a \u0000 is named as such, not "not a JSON object" */
    os_body b;
    const char *reason = NULL;
    char err[128];
    const char *nul = "{\"id\":\"a\\u0000b\"}";
    assert_int_equal(
        os_body_parse("application/json", nul, strlen(nul), 4, &b, &reason, err, sizeof err),
        WXS_EPARSE);
    assert_string_equal(reason, "ERR_BAD_BODY");
    assert_string_equal(err, "body holds a NUL character (\\u0000)");
}

static void json_depth(void **state)
{
    assert_true(wxs__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
    assert_false(wxs__json_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 2));
    /* brackets inside strings, escaped quotes included, do not count */
    assert_true(wxs__json_depth_ok("{\"a\":\"[[[[\\\"[[\"}", 16, 1));
    assert_true(wxs__json_depth_ok("", 0, 1));
}

static void ids_and_cursors(void **state)
{
    static const struct {
        const char *text;
        int ok;
        long long ms;
        const char *id;
    } cases[] = {
        {"1700000000000.d1", 1, 1700000000000LL, "d1"},
        {"0.aZ09_-", 1, 0, "aZ09_-"},
        {"9223372036854775807.x", 1, 9223372036854775807LL, "x"},
        {"9223372036854775808.x", 0, 0, NULL},  /* past int64 */
        {"12345678901234567890.x", 0, 0, NULL}, /* 20 digits */
        {".x", 0, 0, NULL},
        {"12.", 0, 0, NULL},
        {"12", 0, 0, NULL},
        {"-1.x", 0, 0, NULL},
        {"1.a.b", 0, 0, NULL},
        {"1.a b", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_paint_cursor c = {.created_at_ms = -7, .id = "keep"};
        int rc = os_cursor_decode(cases[i].text, &c);
        if ((rc == 0) != cases[i].ok)
            fail_msg("cursor '%s': rc %d, want %s", cases[i].text, rc,
                     cases[i].ok ? "valid" : "invalid");
        if (!cases[i].ok) {
            assert_int_equal(c.created_at_ms, -7); /* untouched */
            continue;
        }
        assert_int_equal(c.created_at_ms, cases[i].ms);
        assert_string_equal(c.id, cases[i].id);
        char text[OS_CURSOR_MAX];
        os_paint p = {.id = c.id, .created_at_ms = c.created_at_ms};
        os_cursor_encode(&p, text);
        assert_string_equal(text, cases[i].text);
    }
    assert_true(os_paint_id_valid("aZ09_-", 6));
    assert_false(os_paint_id_valid("", 0));
    assert_false(os_paint_id_valid(NULL, 0));
    assert_false(os_paint_id_valid("a.b", 3));
    assert_false(os_paint_id_valid("\xc3\xa9", 2));
    char id[OS_PAINT_ID_MAX + 2];
    memset(id, 'k', sizeof id);
    assert_true(os_paint_id_valid(id, OS_PAINT_ID_MAX));
    assert_false(os_paint_id_valid(id, OS_PAINT_ID_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paint_body_table),
        cmocka_unit_test(json_depth),
        cmocka_unit_test(ids_and_cursors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
