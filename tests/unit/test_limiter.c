/* test_limiter.c: unit tests of the login limiter (src/server/limiter.c): token buckets on a
 * caller's clock, refill, the bounded table forgetting the least recently seen address, and the
 * client address taken from a socket or from X-Forwarded-For. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#define SEC 1000000000ULL

static void key_of(const char *ip, unsigned char key[LIMITER_KEY_BYTES])
{
    assert_int_equal(limiter_key_from_forwarded(ip, strlen(ip), key), 0);
}

static void test_bad_arguments(void **state)
{
    assert_null(limiter_new(0, 5, 10));
    assert_null(limiter_new(60, 0, 10));
    assert_null(limiter_new(60, 5, 0));
    limiter_free(NULL);
}

/* A full bucket allows burst logins at once, then refuses with the wait for one token; a token
 * comes back after 60 / per_minute seconds. */
static void test_burst_then_refill(void **state)
{
    static const struct {
        double per_minute, burst;
        unsigned retry; /* seconds a refused login is told to wait */
    } cases[] = {{60, 5, 1}, {6, 3, 10}, {1, 1, 60}, {120, 2, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        limiter *l = limiter_new(cases[c].per_minute, cases[c].burst, 16);
        unsigned char key[LIMITER_KEY_BYTES];
        unsigned retry = 0;
        assert_non_null(l);
        key_of("192.0.2.1", key);
        for (int i = 0; i < (int)cases[c].burst; i++)
            assert_int_equal(limiter_take(l, key, 5 * SEC, &retry), 1);
        assert_int_equal(limiter_take(l, key, 5 * SEC, &retry), 0);
        assert_int_equal(retry, cases[c].retry);
        uint64_t refill = (uint64_t)(60.0 / cases[c].per_minute * (double)SEC);
        assert_int_equal(limiter_take(l, key, 5 * SEC + refill - SEC / 100, NULL), 0);
        assert_int_equal(limiter_take(l, key, 5 * SEC + refill, NULL), 1);
        assert_int_equal(limiter_take(l, key, 5 * SEC + refill, NULL), 0);
        limiter_free(l);
    }
}

/* Buckets are per address; IPv6 addresses share their /64. */
static void test_addresses_are_separate(void **state)
{
    limiter *l = limiter_new(60, 1, 16);
    unsigned char a[LIMITER_KEY_BYTES], b[LIMITER_KEY_BYTES], c[LIMITER_KEY_BYTES],
        d[LIMITER_KEY_BYTES];
    key_of("192.0.2.1", a);
    key_of("192.0.2.2", b);
    key_of("2001:db8::1", c);
    key_of("2001:db8::2", d);
    assert_int_equal(limiter_take(l, a, SEC, NULL), 1);
    assert_int_equal(limiter_take(l, a, SEC, NULL), 0);
    assert_int_equal(limiter_take(l, b, SEC, NULL), 1);
    assert_int_equal(limiter_take(l, c, SEC, NULL), 1);
    assert_int_equal(limiter_take(l, d, SEC, NULL), 0); /* the same /64 as c */
    key_of("2001:db8:0:1::1", d);
    assert_int_equal(limiter_take(l, d, SEC, NULL), 1);
    limiter_free(l);
}

/* A full table forgets the address seen least recently: it comes back with a full bucket, the
 * others keep theirs. */
static void test_table_is_bounded(void **state)
{
    limiter *l = limiter_new(1, 1, 2);
    unsigned char a[LIMITER_KEY_BYTES], b[LIMITER_KEY_BYTES], c[LIMITER_KEY_BYTES];
    key_of("198.51.100.1", a);
    key_of("198.51.100.2", b);
    key_of("198.51.100.3", c);
    assert_int_equal(limiter_take(l, a, SEC, NULL), 1);
    assert_int_equal(limiter_take(l, b, 2 * SEC, NULL), 1);
    assert_int_equal(limiter_take(l, c, 3 * SEC, NULL), 1); /* a is forgotten */
    assert_int_equal(limiter_take(l, b, 4 * SEC, NULL), 0); /* b still remembered, empty */
    assert_int_equal(limiter_take(l, a, 5 * SEC, NULL), 1); /* a back with a full bucket */
    for (int i = 0; i < 100000; i++) {                      /* churn: memory stays the table's */
        unsigned char k[LIMITER_KEY_BYTES] = {0};
        memcpy(k, &i, sizeof i);
        limiter_take(l, k, 6 * SEC, NULL);
    }
    limiter_free(l);
}

/* The client address: X-Forwarded-For's last entry when it is a plain address, else nothing. */
static void test_forwarded_for(void **state)
{
    static const struct {
        const char *value;
        const char *want; /* the address whose key it gives, or NULL for -1 */
    } cases[] = {
        {"203.0.113.9", "203.0.113.9"},
        {"10.0.0.1, 203.0.113.9", "203.0.113.9"},
        {"10.0.0.1,203.0.113.9", "203.0.113.9"},
        {"  203.0.113.9  ", "203.0.113.9"},
        {"2001:db8::7", "2001:db8::7"},
        {"", NULL},
        {"   ", NULL},
        {"junk", NULL},
        {"203.0.113.9, junk", NULL},
        {"203.0.113.9,", NULL},
        {"203.0.113.9:443", NULL},
        {"203.0.113.999", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char got[LIMITER_KEY_BYTES], want[LIMITER_KEY_BYTES];
        int rc = limiter_key_from_forwarded(cases[i].value, strlen(cases[i].value), got);
        if (cases[i].want == NULL) {
            if (rc != -1)
                fail_msg("'%s' gave an address", cases[i].value);
            continue;
        }
        assert_int_equal(rc, 0);
        key_of(cases[i].want, want);
        assert_memory_equal(got, want, LIMITER_KEY_BYTES);
    }
}

/* A socket's peer gives the same key as the same address forwarded; other families give none. */
static void test_sockaddr(void **state)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    unsigned char got[LIMITER_KEY_BYTES], want[LIMITER_KEY_BYTES];
    inet_pton(AF_INET, "192.0.2.44", &v4.sin_addr);
    inet_pton(AF_INET6, "2001:db8::44", &v6.sin6_addr);
    assert_int_equal(limiter_key_from_sockaddr((struct sockaddr *)&v4, got), 0);
    key_of("192.0.2.44", want);
    assert_memory_equal(got, want, LIMITER_KEY_BYTES);
    assert_int_equal(limiter_key_from_sockaddr((struct sockaddr *)&v6, got), 0);
    key_of("2001:db8::44", want);
    assert_memory_equal(got, want, LIMITER_KEY_BYTES);
    assert_int_equal(limiter_key_from_sockaddr((struct sockaddr *)&un, got), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),          cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_addresses_are_separate), cmocka_unit_test(test_table_is_bounded),
        cmocka_unit_test(test_forwarded_for),          cmocka_unit_test(test_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
