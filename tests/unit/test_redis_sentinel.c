/* test_redis_sentinel.c: unit tests of the pure parts of lib/redis_sentinel.c: the replies to
 * SENTINEL get-master-addr-by-name and ROLE, and +switch-master messages, each reply given as the
 * RESP bytes a server sends (read with hiredis's own reader). The redis.sentinels list:
 * tests/unit/test_redis_addr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "redis_sentinel.h"

#include "redis_reply.h"

#include <stdio.h>
#include <string.h>

/* ---- replies */

typedef struct reply_case {
    const char *resp;
    int rc;
    const char *host;
    int port;
} reply_case;

static void test_parse_master(void **state)
{
    (void)state;
    static const reply_case cases[] = {
        {"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n", 0, "127.0.0.1", 6380},
        {"*2\r\n$11\r\nredis-a.lan\r\n$5\r\n65535\r\n", 0, "redis-a.lan", 65535},
        {"*-1\r\n", -1, NULL, 0},                                      /* unknown master name */
        {"$-1\r\n", -1, NULL, 0},                                      /* nil */
        {"-IDONTKNOW No such master with that name\r\n", -1, NULL, 0}, /* an error */
        {"*1\r\n$9\r\n127.0.0.1\r\n", -1, NULL, 0},                    /* one element */
        {"*2\r\n$9\r\n127.0.0.1\r\n:6380\r\n", -1, NULL, 0},           /* port as an integer */
        {"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", -1, NULL, 0},         /* port 0 */
        {"*2\r\n$0\r\n\r\n$4\r\n6380\r\n", -1, NULL, 0},               /* empty host */
        {"+OK\r\n", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redisReply *r = reply_of(cases[i].resp);
        wxs__redis_addr a = {"", 0};
        int rc = wxs__sentinel_parse_master(r, &a);
        print_message("case %zu -> %d\n", i, rc);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(a.host, cases[i].host);
            assert_int_equal(a.port, cases[i].port);
        }
        freeReplyObject(r);
    }
    assert_int_equal(wxs__sentinel_parse_master(NULL, NULL), -1);
}

/* A +switch-master message with payload as its third element, as RESP. */
static redisReply *switch_message(const char *payload)
{
    char resp[512];
    snprintf(resp, sizeof resp, "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$%zu\r\n%s\r\n",
             strlen(payload), payload);
    return reply_of(resp);
}

static void test_parse_switch(void **state)
{
    (void)state;
    /* payloads: "<name> <old-host> <old-port> <new-host> <new-port>" */
    static const reply_case messages[] = {
        {"mymaster 127.0.0.1 6379 127.0.0.1 6380", 0, "127.0.0.1", 6380},
        {"mymaster 10.0.0.1 6379 10.0.0.2 7", 0, "10.0.0.2", 7},
        {"other 127.0.0.1 6379 127.0.0.1 6380", 1, NULL, 0}, /* another master */
        {"mymaster2 127.0.0.1 6379 127.0.0.1 6380", 1, NULL, 0},
        {"mymaster 127.0.0.1 6379 a.b 0", -1, NULL, 0},   /* port 0 */
        {"mymaster 127.0.0.1 6379 a.b", -1, NULL, 0},     /* four fields */
        {"mymaster 127.0.0.1 6379 a.b 1 x", -1, NULL, 0}, /* six fields */
        {"", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++) {
        redisReply *r = switch_message(messages[i].resp);
        wxs__redis_addr a = {"", 0};
        int rc = wxs__sentinel_parse_switch(r, "mymaster", &a);
        print_message("message %zu -> %d\n", i, rc);
        assert_int_equal(rc, messages[i].rc);
        if (rc == 0) {
            assert_string_equal(a.host, messages[i].host);
            assert_int_equal(a.port, messages[i].port);
        }
        freeReplyObject(r);
    }
    /* other replies on the subscription */
    static const reply_case others[] = {
        {"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n", 1, NULL, 0},
        {"*3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n$5\r\nx y z\r\n", 1, NULL, 0},
        {"*3\r\n:1\r\n$14\r\n+switch-master\r\n$1\r\nx\r\n", -1, NULL, 0},
        {"*2\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n", -1, NULL, 0},
        {"-ERR nope\r\n", -1, NULL, 0},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        redisReply *r = reply_of(others[i].resp);
        wxs__redis_addr a = {"", 0};
        int rc = wxs__sentinel_parse_switch(r, "mymaster", &a);
        print_message("other %zu -> %d\n", i, rc);
        assert_int_equal(rc, others[i].rc);
        freeReplyObject(r);
    }
}

static void test_role(void **state)
{
    (void)state;
    static const struct {
        const char *resp;
        int rc;
    } cases[] = {
        /* what Redis 7 answers as a primary with one replica, and with none */
        {"*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n"
         "3129242\r\n",
         1},
        {"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n", 1},
        /* a replica (a demoted primary), a Sentinel */
        {"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n$9\r\nconnected\r\n:3167038\r\n", 0},
        {"*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n", 0},
        {"-NOPERM this user has no permissions to run the 'role' command\r\n", -1},
        {"*0\r\n", -1},
        {"+master\r\n", -1},
        {"*1\r\n:1\r\n", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redisReply *r = reply_of(cases[i].resp);
        int rc = wxs__redis_role_is_master(r);
        print_message("case %zu -> %d\n", i, rc);
        assert_int_equal(rc, cases[i].rc);
        freeReplyObject(r);
    }
    assert_int_equal(wxs__redis_role_is_master(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_master),
        cmocka_unit_test(test_parse_switch),
        cmocka_unit_test(test_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
