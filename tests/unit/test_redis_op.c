/* test_redis_op.c: what both Redis stores share about an op (lib/redis_op.c: statuses from
 * replies, the login's copied arguments) and the single Redis's login command (lib/redis_login.c:
 * EVALSHA or EVAL, with or without the remembered exchange). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "redis_login.h"
#include "redis_op.h"

#include <hiredis/read.h>
#include <string.h>

static void test_op_status(void **state)
{
    (void)state;
    static const struct {
        wxs__redis_op op;
        int type;
        long long integer;
        int status;
    } cases[] = {
        {WXS__REDIS_GET, REDIS_REPLY_STRING, 0, 0},
        {WXS__REDIS_GET, REDIS_REPLY_NIL, 0, WXS_ENOTFOUND},
        {WXS__REDIS_GET, REDIS_REPLY_INTEGER, 1, WXS_ESTORE},
        {WXS__REDIS_SET, REDIS_REPLY_STATUS, 0, 0},
        {WXS__REDIS_SET, REDIS_REPLY_NIL, 0, WXS_ESTORE},
        {WXS__REDIS_SET_NX, REDIS_REPLY_STATUS, 0, 1},
        {WXS__REDIS_SET_NX, REDIS_REPLY_NIL, 0, 0},
        {WXS__REDIS_SET_NX, REDIS_REPLY_STRING, 0, WXS_ESTORE},
        {WXS__REDIS_DEL, REDIS_REPLY_INTEGER, 0, 0},
        {WXS__REDIS_DEL, REDIS_REPLY_INTEGER, 1, 1},
        {WXS__REDIS_DEL, REDIS_REPLY_STATUS, 0, WXS_ESTORE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(wxs__redis_op_status(cases[i].op, cases[i].type, cases[i].integer),
                         cases[i].status);
}

static const wxs__login plain = {"code1", 5, "openid1", 7, "{\"u\":1}", 7, 7200, {0}};
static const wxs__login remembering = {
    "code1", 5, "openid1", 7, "{\"u\":1}", 7, 7200, {"exchange:ab", 11, "{\"x\":2}", 7, 300}};

/* The copy points only into its own bytes, and holds the same values. */
static void test_login_copy(void **state)
{
    (void)state;
    const wxs__login *in[] = {&plain, &remembering};
    for (size_t i = 0; i < 2; i++) {
        size_t size = wxs__redis_login_size(in[i], 7);
        char *bytes = test_malloc(size);
        wxs__login c;
        const char *json = wxs__redis_login_copy(&c, bytes, in[i], "\"code1\"", 7);
        assert_memory_equal(c.code, "code1", 5);
        assert_memory_equal(c.openid, "openid1", 7);
        assert_memory_equal(c.user_json, "{\"u\":1}", 7);
        assert_memory_equal(json, "\"code1\"", 7);
        assert_true(json + 7 == bytes + size && c.code >= bytes);
        assert_int_equal(c.ttl_s, 7200);
        if (in[i]->remember.key != NULL) {
            assert_memory_equal(c.remember.key, "exchange:ab", 11);
            assert_memory_equal(c.remember.value, "{\"x\":2}", 7);
            assert_true(c.remember.key >= bytes && c.remember.value < bytes + size);
            assert_int_equal(c.remember.ttl_s, 300);
        } else {
            assert_null(c.remember.key);
        }
        test_free(bytes);
    }
}

/* Argument i of cmd, joined, equals want. */
static void assert_arg(const wxs__redis_login_cmd *cmd, int i, const char *want)
{
    char got[256];
    const wxs__resp_arg *a = &cmd->argv[i];
    assert_true(a->alen + a->blen < sizeof got);
    memcpy(got, a->a, a->alen);
    if (a->blen > 0)
        memcpy(got + a->alen, a->b, a->blen);
    got[a->alen + a->blen] = '\0';
    assert_string_equal(got, want);
}

static void test_login_cmd(void **state)
{
    (void)state;
    char sha[41];
    wxs__redis_login_cmd cmd;
    wxs__redis_login_sha(sha);
    assert_int_equal(strlen(sha), 40);
    wxs__redis_login_cmd_init(&cmd, &plain, "\"code1\"", 7, "p:", 2, sha, 0);
    static const char *const plain_args[] = {"EVALSHA",   NULL,        "2",         "p:code1",
                                             "p:openid1", "{\"u\":1}", "\"code1\"", "7200",
                                             "code1",     "p:"};
    assert_int_equal(cmd.argc, 10);
    for (int i = 0; i < cmd.argc; i++)
        assert_arg(&cmd, i, plain_args[i] != NULL ? plain_args[i] : sha);
    wxs__redis_login_cmd_init(&cmd, &remembering, "\"code1\"", 7, "p:", 2, sha, 1);
    static const char *const remember_args[] = {
        "EVAL", NULL,    "3",  "p:code1",   "p:openid1", "p:exchange:ab", "{\"u\":1}", "\"code1\"",
        "7200", "code1", "p:", "{\"x\":2}", "300"};
    assert_int_equal(cmd.argc, 13);
    assert_true(strstr(cmd.argv[1].a, "redis.call") != NULL); /* the script's text */
    for (int i = 0; i < cmd.argc; i++)
        if (i != 1)
            assert_arg(&cmd, i, remember_args[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_status),
        cmocka_unit_test(test_login_copy),
        cmocka_unit_test(test_login_cmd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
