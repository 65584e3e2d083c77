/* test_redis_addr.c: the one parser of Redis host:port lists (lib/redis_addr.c), as
 * redis.sentinels and redis.cluster use it: entries, spaces, IPv6 in brackets, ports, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "redis_addr.h"

#include <stdio.h>
#include <string.h>

typedef struct list_case {
    const char *list;
    int rc;
    size_t n;
    const char *host0;
    int port0;
    const char *host_last;
    int port_last;
} list_case;

static void test_addr_list(void **state)
{
    (void)state;
    static const list_case cases[] = {
        /* empty: no entry (a caller that needs one says so: lib/redis_cluster.c) */
        {"", 0, 0, NULL, 0, NULL, 0},
        {"   ", 0, 0, NULL, 0, NULL, 0},
        {"127.0.0.1:26379", 0, 1, "127.0.0.1", 26379, "127.0.0.1", 26379},
        {"a:1,b:2, c.example:65535 ", 0, 3, "a", 1, "c.example", 65535},
        {"[::1]:26379,10.0.0.2:5000", 0, 2, "::1", 26379, "10.0.0.2", 5000},
        {"127.0.0.1:7000, redis-b:7001 ,[::1]:7002", 0, 3, "127.0.0.1", 7000, "::1", 7002},
        {" redis-b:7001 ", 0, 1, "redis-b", 7001, "redis-b", 7001},
        {"sentinel-1:26379", 0, 1, "sentinel-1", 26379, "sentinel-1", 26379},
        {"host", -1, 0, NULL, 0, NULL, 0},       /* no port */
        {"host:", -1, 0, NULL, 0, NULL, 0},      /* empty port */
        {":26379", -1, 0, NULL, 0, NULL, 0},     /* empty host */
        {"[]:7000", -1, 0, NULL, 0, NULL, 0},    /* empty host in brackets */
        {"host:0", -1, 0, NULL, 0, NULL, 0},     /* port out of range */
        {"host:65536", -1, 0, NULL, 0, NULL, 0}, /* port out of range */
        {"host:12a", -1, 0, NULL, 0, NULL, 0},   /* not a number */
        {"h:70x", -1, 0, NULL, 0, NULL, 0},      /* not a number */
        {"a:1,,b:2", -1, 0, NULL, 0, NULL, 0},   /* empty entry */
        {"a:1,", -1, 0, NULL, 0, NULL, 0},       /* trailing comma */
        {"::1:26379", -1, 0, NULL, 0, NULL, 0},  /* IPv6 without brackets */
        {"[::1]26379", -1, 0, NULL, 0, NULL, 0}, /* no colon after the bracket */
        {"a b:1", -1, 0, NULL, 0, NULL, 0},      /* space inside a host */
        {"a:1;b:2", -1, 0, NULL, 0, NULL, 0},    /* wrong separator */
        {"a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,a:15,a:16", 0, 16, "a", 1,
         "a", 16},
        {"a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,a:15,a:16,a:17", -1, 0, NULL,
         0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const list_case *t = &cases[i];
        wxs__redis_addr addrs[WXS__REDIS_ADDR_LIST_MAX];
        size_t n = 99;
        char why[96] = "";
        int rc = wxs__redis_addr_list_parse(t->list, addrs, WXS__REDIS_ADDR_LIST_MAX, &n, why,
                                            sizeof why);
        print_message("case %zu: \"%s\" -> %d (%s)\n", i, t->list, rc, why);
        assert_int_equal(rc, t->rc);
        assert_int_equal(n, t->n);
        if (rc < 0) {
            assert_true(why[0] != '\0');
            continue;
        }
        /* the check-only form agrees */
        assert_int_equal(wxs__redis_addr_list_parse(t->list, NULL, 0, NULL, NULL, 0), 0);
        if (n == 0)
            continue;
        assert_string_equal(addrs[0].host, t->host0);
        assert_int_equal(addrs[0].port, t->port0);
        assert_string_equal(addrs[n - 1].host, t->host_last);
        assert_int_equal(addrs[n - 1].port, t->port_last);
    }
}

static void test_addr_list_host_limit(void **state)
{
    (void)state;
    char list[300];
    wxs__redis_addr a;
    size_t n;
    memset(list, 'h', 255);
    strcpy(list + 255, ":1");
    assert_int_equal(wxs__redis_addr_list_parse(list, &a, 1, &n, NULL, 0), 0);
    assert_int_equal(strlen(a.host), 255);
    memset(list, 'h', 256);
    strcpy(list + 256, ":1");
    assert_int_equal(wxs__redis_addr_list_parse(list, &a, 1, &n, NULL, 0), -1);
}

/* More entries than WXS__REDIS_ADDR_LIST_MAX, or than the caller's room, are refused by name. */
static void test_addr_list_count_limit(void **state)
{
    (void)state;
    wxs__redis_addr a[WXS__REDIS_ADDR_LIST_MAX];
    size_t n = 99;
    char why[128] = "";
    char many[512] = "";
    for (int i = 0; i <= WXS__REDIS_ADDR_LIST_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh:%d", i ? "," : "", 7000 + i);
    assert_int_equal(
        wxs__redis_addr_list_parse(many, a, WXS__REDIS_ADDR_LIST_MAX, &n, why, sizeof why), -1);
    assert_int_equal(n, 0);
    assert_string_equal(why, "more than 16 entries");
    assert_int_equal(wxs__redis_addr_list_parse(many, NULL, 0, NULL, NULL, 0), -1);
    assert_int_equal(wxs__redis_addr_list_parse("a:1,b:2", a, 1, &n, why, sizeof why), -1);
}

static void test_port_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int port;
    } cases[] = {{"1", 1},      {"6379", 6379}, {"65535", 65535}, {"0", -1},
                 {"65536", -1}, {"", -1},       {"-1", -1},       {"+1", -1},
                 {" 1", -1},    {"000001", -1}, {"12a", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(wxs__redis_port_parse(cases[i].s, strlen(cases[i].s)), cases[i].port);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_list),
        cmocka_unit_test(test_addr_list_host_limit),
        cmocka_unit_test(test_addr_list_count_limit),
        cmocka_unit_test(test_port_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
