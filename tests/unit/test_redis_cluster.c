/* test_redis_cluster.c: the Redis Cluster client's pure pieces (lib/redis_cluster.h): key slots
 * against the spec's vectors, the seed list's own rule, CLUSTER SLOTS parsing and the redirection
 * state machine, on replies parsed from RESP text by hiredis's reader (no sockets). The
 * host:port list itself: tests/unit/test_redis_addr.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "redis_cluster.h"

#include "redis_reply.h"

#include <stdio.h>
#include <string.h>

static unsigned slot_of(const char *key)
{
    return wxs__cluster_key_slot(key, strlen(key));
}

/* ------------------------------------------------------------ CRC16 and key slots */

static void test_crc16_vector(void **state)
{
    (void)state;
    /* the spec's reference: CRC16/XMODEM of "123456789" */
    assert_int_equal(wxs__cluster_crc16("123456789", 9), 0x31C3);
    assert_int_equal(wxs__cluster_crc16("", 0), 0);
}

static void test_key_slots(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        unsigned slot;
    } vectors[] = {
        {"foo", 12182},  {"bar", 5061}, {"hello", 866}, {"123456789", 0x31C3 & 16383},
        {"{bar}", 5061}, /* the tag alone */
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        assert_int_equal(slot_of(vectors[i].key), vectors[i].slot);
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* keys that share a tag share a slot */
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    /* an empty tag: the whole key is hashed */
    assert_int_equal(slot_of("foo{}{bar}"), wxs__cluster_crc16("foo{}{bar}", 10) & 16383);
    /* the tag runs from the first '{' to the first '}' after it */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), wxs__cluster_crc16("{bar", 4) & 16383);
    /* only the first tag counts */
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* no closing brace, or a '}' before the '{': the whole key */
    assert_int_equal(slot_of("foo{bar"), wxs__cluster_crc16("foo{bar", 7) & 16383);
    assert_int_equal(slot_of("}foo{"), wxs__cluster_crc16("}foo{", 5) & 16383);
    /* the store's keys: a prefix without braces hashes the whole key */
    assert_int_equal(slot_of("weapp-session:abc"),
                     wxs__cluster_crc16("weapp-session:abc", 17) & 16383);
}

/* ------------------------------------------------------------ seed lists */

/* A cluster needs a seed: an empty list (or spaces) is refused at open, before any I/O; so is a
 * list that does not parse (the reason is the list parser's). */
static void test_seed_list_required(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "   ", "host", "a:1,,b:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wxs__cluster *cl = NULL;
        char err[160] = "";
        wxs__cluster_opts opts = {.seeds = bad[i], .timeout_ms = 1000};
        assert_int_equal(wxs__cluster_open(&cl, NULL, &opts, err, sizeof err), WXS_ECONFIG);
        assert_null(cl);
        assert_true(strncmp(err, "redis.cluster: ", 15) == 0 && err[15] != '\0');
    }
    wxs__cluster *cl = NULL;
    char err[160] = "";
    wxs__cluster_opts opts = {.seeds = "  ", .timeout_ms = 1000};
    assert_int_equal(wxs__cluster_open(&cl, NULL, &opts, err, sizeof err), WXS_ECONFIG);
    assert_string_equal(err, "redis.cluster: no seed node given");
}

/* ------------------------------------------------------------ CLUSTER SLOTS */

/* What Redis 7.0 answers for 3 primaries with a replica each (ids shortened), ranges out of
 * order, the last primary given with an unknown endpoint ("?") */
static const char slots_reply[] = "*3\r\n"
                                  "*4\r\n:5461\r\n:10922\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nb1\r\n*0\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nb2\r\n*0\r\n"
                                  "*4\r\n:0\r\n:5460\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\na1\r\n*0\r\n"
                                  "*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\na2\r\n*0\r\n"
                                  "*3\r\n:10923\r\n:16383\r\n"
                                  "*3\r\n$1\r\n?\r\n:7002\r\n$2\r\nc1\r\n";

static void test_map_parse(void **state)
{
    (void)state;
    static wxs__cluster_map m;
    redisReply *r = reply_of(slots_reply);
    assert_int_equal(wxs__cluster_map_parse(&m, r, "10.0.0.9"), 0);
    freeReplyObject(r);
    assert_int_equal(m.nprimaries, 3);
    assert_string_equal(m.primaries[0].host, "127.0.0.1");
    assert_int_equal(m.primaries[0].port, 7001);
    assert_int_equal(m.primaries[1].port, 7000);
    assert_string_equal(m.primaries[2].host, "10.0.0.9"); /* "?": the node that answered */
    assert_int_equal(m.primaries[2].port, 7002);
    static const struct {
        unsigned slot;
        int port;
    } owners[] = {{0, 7000},     {5460, 7000},  {5461, 7001}, {10922, 7001},
                  {10923, 7002}, {16383, 7002}, {12182, 7002}};
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        int owner = m.owner[owners[i].slot];
        assert_true(owner > 0);
        assert_int_equal(m.primaries[owner - 1].port, owners[i].port);
    }
    /* a range no one owns stays without an owner */
    r = reply_of("*1\r\n*3\r\n:0\r\n:99\r\n*2\r\n$1\r\nh\r\n:1\r\n");
    assert_int_equal(wxs__cluster_map_parse(&m, r, "x"), 0);
    freeReplyObject(r);
    assert_int_equal(m.owner[99], 1);
    assert_int_equal(m.owner[100], 0);
}

static void test_map_parse_refuses(void **state)
{
    (void)state;
    static wxs__cluster_map m;
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "+OK\r\n",
        "*1\r\n:1\r\n",                                         /* entry not an array */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                             /* no node */
        "*1\r\n*3\r\n:5\r\n:4\r\n*2\r\n$1\r\nh\r\n:1\r\n",      /* end before start */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",  /* past the last slot */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",      /* port 0 */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:1\r\n",           /* host not a string */
        "*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", /* start not an integer */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redisReply *r = reply_of(bad[i]);
        assert_int_equal(wxs__cluster_map_parse(&m, r, "x"), -1);
        freeReplyObject(r);
    }
    assert_int_equal(wxs__cluster_map_parse(&m, NULL, "x"), -1);
}

static void test_map_node_table(void **state)
{
    (void)state;
    static wxs__cluster_map m;
    memset(&m, 0, sizeof m);
    char host[32];
    for (int i = 0; i < WXS__CLUSTER_MAX_PRIMARIES; i++) {
        snprintf(host, sizeof host, "10.0.0.%d", i);
        assert_int_equal(wxs__cluster_map_node(&m, host, 7000), i);
    }
    assert_int_equal(wxs__cluster_map_node(&m, "10.0.0.5", 7000), 5);  /* known: found */
    assert_int_equal(wxs__cluster_map_node(&m, "10.0.1.0", 7000), -1); /* full */
}

/* ------------------------------------------------------------ redirections */

typedef struct redirect_case {
    const char *reply; /* RESP text; NULL: the connection was lost */
    uint64_t now_ms;   /* the deadline is 1000 */
    int redirects;     /* already followed */
    wxs__cluster_action action;
    unsigned slot; /* MOVED / ASK: where to */
    const char *host;
    int port;
} redirect_case;

static const redirect_case redirect_cases[] = {
    {NULL, 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"+OK\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {"$-1\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {":1\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {"-MOVED 3999 127.0.0.1:6381\r\n", 0, 0, WXS__CLUSTER_MOVED, 3999, "127.0.0.1", 6381},
    {"-ASK 3999 127.0.0.1:6381\r\n", 0, 0, WXS__CLUSTER_ASK, 3999, "127.0.0.1", 6381},
    {"-MOVED 0 redis-b:7001\r\n", 999, 4, WXS__CLUSTER_MOVED, 0, "redis-b", 7001},
    {"-MOVED 16383 ::1:7001\r\n", 0, 0, WXS__CLUSTER_MOVED, 16383, "::1", 7001},
    {"-MOVED 12182 :7002\r\n", 0, 0, WXS__CLUSTER_MOVED, 12182, "", 7002}, /* same host */
    /* a redirection past the hop limit, or one that does not parse, gives up */
    {"-MOVED 3999 127.0.0.1:6381\r\n", 0, WXS__CLUSTER_MAX_REDIRECTS, WXS__CLUSTER_FAIL, 0, NULL,
     0},
    {"-ASK 3999 127.0.0.1:6381\r\n", 0, WXS__CLUSTER_MAX_REDIRECTS, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-MOVED 16384 127.0.0.1:6381\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-MOVED 3999\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-MOVED\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-MOVED x 127.0.0.1:6381\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-MOVED 3999 127.0.0.1:0\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-ASK 3999 127.0.0.1\r\n", 0, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    /* retried while a retry still fits before the deadline */
    {"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", 0, 0, WXS__CLUSTER_RETRY, 0,
     NULL, 0},
    {"-CLUSTERDOWN The cluster is down\r\n", 900, 0, WXS__CLUSTER_RETRY, 0, NULL, 0},
    {"-CLUSTERDOWN Hash slot not served\r\n", 949, 0, WXS__CLUSTER_RETRY, 0, NULL, 0},
    {"-CLUSTERDOWN The cluster is down\r\n", 950, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    {"-TRYAGAIN\r\n", 2000, 0, WXS__CLUSTER_FAIL, 0, NULL, 0},
    /* other errors are the command's answer; names match whole words only */
    {"-ERR unknown command\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", 0, 0,
     WXS__CLUSTER_DONE, 0, NULL, 0},
    {"-MOVEDX 1 h:1\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {"-ASKING\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL, 0},
    {"-CROSSSLOT Keys in request don't hash to the same slot\r\n", 0, 0, WXS__CLUSTER_DONE, 0, NULL,
     0},
};

static void test_redirections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof redirect_cases / sizeof redirect_cases[0]; i++) {
        const redirect_case *t = &redirect_cases[i];
        redisReply *r = t->reply != NULL ? reply_of(t->reply) : NULL;
        wxs__cluster_attempt a = {.deadline_ms = 1000, .redirects = t->redirects};
        wxs__cluster_redirect to;
        memset(&to, 0, sizeof to);
        wxs__cluster_action got = wxs__cluster_next(&a, r, t->now_ms, &to);
        if (got != t->action)
            fail_msg("case %zu (%s): action %d, want %d", i, t->reply ? t->reply : "lost", got,
                     t->action);
        int redirected = got == WXS__CLUSTER_MOVED || got == WXS__CLUSTER_ASK;
        assert_int_equal(a.redirects, t->redirects + redirected);
        if (redirected) {
            assert_int_equal(to.slot, t->slot);
            assert_string_equal(to.to.host, t->host);
            assert_int_equal(to.to.port, t->port);
        }
        if (r != NULL)
            freeReplyObject(r);
    }
}

/* A command bounced between two nodes stops after WXS__CLUSTER_MAX_REDIRECTS hops. */
static void test_redirect_loop_ends(void **state)
{
    (void)state;
    wxs__cluster_attempt a = {.deadline_ms = 1000};
    wxs__cluster_redirect to;
    redisReply *r = reply_of("-MOVED 1 127.0.0.1:7000\r\n");
    int hops = 0;
    while (wxs__cluster_next(&a, r, 0, &to) == WXS__CLUSTER_MOVED)
        hops++;
    freeReplyObject(r);
    assert_int_equal(hops, WXS__CLUSTER_MAX_REDIRECTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector),       cmocka_unit_test(test_key_slots),
        cmocka_unit_test(test_hash_tags),          cmocka_unit_test(test_seed_list_required),
        cmocka_unit_test(test_map_parse),          cmocka_unit_test(test_map_parse_refuses),
        cmocka_unit_test(test_map_node_table),     cmocka_unit_test(test_redirections),
        cmocka_unit_test(test_redirect_loop_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
