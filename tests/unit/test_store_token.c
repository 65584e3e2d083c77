/* test_store_token.c: the token ops of the session stores (lib/store.h token_*): the same cases
 * against each backend (SQLite on a temp file; Redis on its own redis-server on a free loopback
 * port, skipped when redis-server is not installed; its layout too), and the Redis commands'
 * arguments and statuses (lib/redis_token.c). The other store cases are test_store.c's. */
#include "redis_token.h"
#include "store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PREFIX "weapp-session:"
#define OP_WAIT_MS 5000
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HASH_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define HASH_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

/* ------------------------------------------------------------ a redis-server of the group */

typedef struct group {
    const char *backend;
    int skip;
    pid_t redis_pid;
    int redis_port;
    char dir[256];
    int files;
} group;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A command on a fresh blocking connection to the group's server; the reply is the caller's. */
static redisReply *raw_command(const group *g, const char *fmt, ...)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g->redis_port, (struct timeval){1, 0});
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static int redis_start(group *g)
{
    char port[16];
    g->redis_port = free_port();
    snprintf(port, sizeof port, "%d", g->redis_port);
    const char *argv[] = {"redis-server", "--port", port,           "--bind", "127.0.0.1",
                          "--save",       "",       "--appendonly", "no",     NULL};
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    g->redis_pid = pid;
    for (int i = 0; i < 500; i++) {
        redisReply *r = raw_command(g, "PING");
        if (r != NULL) {
            freeReplyObject(r);
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(10000);
    }
    g->redis_pid = 0;
    return -1; /* not installed, or it did not start: the group is skipped */
}

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    group *g;
    uv_loop_t loop;
    uv_timer_t deadline;
    int timed_out;
    struct wxs_config cfg;
    char path[300];
    wxs__store *st;
} fixture;

typedef struct op {
    int done;
    int calls;
    int status;
    char val[4096];
    size_t len;
} op;

static void on_deadline(uv_timer_t *t)
{
    ((fixture *)t->data)->timed_out = 1;
}

static void get_cb(void *arg, int status, const char *val, size_t len)
{
    op *o = arg;
    o->done = 1;
    o->calls++;
    o->status = status;
    o->len = len < sizeof o->val ? len : 0;
    if (val != NULL && len < sizeof o->val)
        memcpy(o->val, val, len);
    o->val[o->len] = '\0';
}

static void done_cb(void *arg, int status)
{
    op *o = arg;
    o->done = 1;
    o->calls++;
    o->status = status;
}

/* Run the loop until o's callback ran (bounded); its status. */
static int wait_op(fixture *f, op *o, int rc)
{
    assert_int_equal(rc, 0);
    assert_int_equal(o->calls, 0); /* never before the op returned */
    f->timed_out = 0;
    uv_timer_start(&f->deadline, on_deadline, OP_WAIT_MS, 0);
    while (!o->done && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->deadline);
    assert_int_equal(o->calls, 1);
    return o->status;
}

static int setup(void **state)
{
    group *g = *state;
    fixture *f = calloc(1, sizeof *f);
    f->g = g;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    f->cfg.session_prefix = PREFIX;
    f->cfg.redis_host = "127.0.0.1";
    f->cfg.redis_port = g->redis_port;
    f->cfg.redis_password = "";
    f->cfg.redis_timeout_ms = 1000;
    f->cfg.redis_cluster = "";
    f->cfg.redis_sentinels = "";
    snprintf(f->path, sizeof f->path, "%s/t%d.db", g->dir, ++g->files);
    f->cfg.sqlite_path = f->path;
    *state = f;
    if (g->skip)
        return 0;
    if (g->redis_pid > 0) {
        redisReply *r = raw_command(g, "FLUSHALL");
        assert_non_null(r);
        freeReplyObject(r);
    }
    char err[256] = "";
    assert_int_equal(wxs__store_find(g->backend)->open(&f->st, &f->loop, &f->cfg, err, sizeof err),
                     0);
    for (int i = 0; i < 3000 && !wxs__store_ready(f->st); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT), usleep(1000);
    assert_true(wxs__store_ready(f->st));
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wxs__store_close(f->st);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    for (int i = 0; i < 5000 && uv_loop_alive(&f->loop); i++)
        uv_run(&f->loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->path[0] != '\0') {
        char p[320];
        unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        unlink(p);
    }
    free(f);
    return 0;
}

#define SKIP_IF_NO_BACKEND(f)                                                                      \
    do {                                                                                           \
        if ((f)->g->skip) {                                                                        \
            printf("SKIP: redis-server not found\n");                                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------ ops */

static int put(fixture *f, const char *hash, const char *openid, const char *record, long long cap)
{
    op o = {0};
    wxs__token_put tp = {.hash = hash,
                         .openid = openid,
                         .openid_len = strlen(openid),
                         .record = record,
                         .record_len = strlen(record),
                         .ttl_s = 600,
                         .index_ttl_s = 3600,
                         .created_ms = 0,
                         .cap = cap};
    static long long created = 1700000000000;
    tp.created_ms = created++;
    return wait_op(f, &o, wxs__store_token_put(f->st, &tp, done_cb, &o));
}

/* The record of hash into o; the get's status. */
static int get(fixture *f, const char *hash, op *o)
{
    memset(o, 0, sizeof *o);
    return wait_op(f, o, wxs__store_token_get(f->st, hash, get_cb, o));
}

static int touch(fixture *f, const char *hash, const char *record)
{
    op o = {0};
    return wait_op(f, &o,
                   wxs__store_token_touch(f->st, hash, record, strlen(record), 60, done_cb, &o));
}

static int del(fixture *f, const char *hash, const char *openid)
{
    op o = {0};
    return wait_op(f, &o, wxs__store_token_del(f->st, hash, openid, strlen(openid), done_cb, &o));
}

static int del_user(fixture *f, const char *openid)
{
    op o = {0};
    return wait_op(f, &o, wxs__store_token_del_user(f->st, openid, strlen(openid), done_cb, &o));
}

static void check_record(fixture *f, const char *hash, const char *want)
{
    op o;
    int status = get(f, hash, &o);
    if (want == NULL) {
        assert_int_equal(status, WXS_ENOTFOUND);
        return;
    }
    assert_int_equal(status, 0);
    assert_string_equal(o.val, want);
}

/* ------------------------------------------------------------ cases, every backend */

static void test_put_get_touch(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    assert_int_equal(put(f, HASH_A, "o1", "{\"n\":1}", 10), 0);
    check_record(f, HASH_A, "{\"n\":1}");
    assert_int_equal(touch(f, HASH_A, "{\"n\":2}"), 1);
    check_record(f, HASH_A, "{\"n\":2}");
    assert_int_equal(touch(f, HASH_B, "{\"n\":3}"), 0); /* never written: stays absent */
    check_record(f, HASH_B, NULL);
}

static void test_cap_ends_the_oldest(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    assert_int_equal(put(f, HASH_A, "o1", "{\"a\":1}", 2), 0);
    assert_int_equal(put(f, HASH_B, "o1", "{\"b\":1}", 2), 0);
    assert_int_equal(put(f, HASH_D, "o2", "{\"d\":1}", 2), 0); /* another user */
    assert_int_equal(put(f, HASH_C, "o1", "{\"c\":1}", 2), 1);
    check_record(f, HASH_A, NULL);
    check_record(f, HASH_B, "{\"b\":1}");
    check_record(f, HASH_C, "{\"c\":1}");
    check_record(f, HASH_D, "{\"d\":1}");
    /* the same hash again replaces its record and keeps its one place */
    assert_int_equal(put(f, HASH_C, "o1", "{\"c\":2}", 2), 0);
    check_record(f, HASH_B, "{\"b\":1}");
}

static void test_ended_sessions_leave_the_index(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    assert_int_equal(put(f, HASH_A, "o1", "{}", 2), 0);
    assert_int_equal(put(f, HASH_B, "o1", "{}", 2), 0);
    assert_int_equal(del(f, HASH_A, "o1"), 1);
    assert_int_equal(del(f, HASH_A, "o1"), 0);
    check_record(f, HASH_A, NULL);
    assert_int_equal(put(f, HASH_C, "o1", "{}", 2), 0); /* A's place was free: nobody ends */
    check_record(f, HASH_B, "{}");
    check_record(f, HASH_C, "{}");
}

static void test_del_user(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    assert_int_equal(put(f, HASH_A, "o1", "{}", 10), 0);
    assert_int_equal(put(f, HASH_B, "o1", "{}", 10), 0);
    assert_int_equal(put(f, HASH_C, "o1", "{}", 10), 0);
    assert_int_equal(put(f, HASH_D, "o2", "{}", 10), 0);
    assert_int_equal(del(f, HASH_B, "o1"), 1);
    assert_int_equal(del_user(f, "o1"), 2);
    check_record(f, HASH_A, NULL);
    check_record(f, HASH_C, NULL);
    check_record(f, HASH_D, "{}");
    assert_int_equal(del_user(f, "o1"), 0);
    assert_int_equal(put(f, HASH_A, "o1", "{}", 1), 0); /* a fresh index */
}

static void test_put_carries_the_remembered_exchange(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    op o = {0};
    wxs__token_put tp = {.hash = HASH_A,
                         .openid = "o1",
                         .openid_len = 2,
                         .record = "{}",
                         .record_len = 2,
                         .ttl_s = 60,
                         .index_ttl_s = 60,
                         .created_ms = 1,
                         .cap = 10,
                         .remember = {.key = "exchange:abc",
                                      .key_len = 12,
                                      .value = "x{\"status\":0}",
                                      .value_len = 13,
                                      .ttl_s = 300}};
    assert_int_equal(wait_op(f, &o, wxs__store_token_put(f->st, &tp, done_cb, &o)), 0);
    memset(&o, 0, sizeof o);
    assert_int_equal(wait_op(f, &o, wxs__store_get(f->st, "exchange:abc", 12, get_cb, &o)), 0);
    assert_string_equal(o.val, "x{\"status\":0}");
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    op o = {0};
    wxs__token_put tp = {.hash = "ABC",
                         .openid = "o1",
                         .openid_len = 2,
                         .record = "{}",
                         .record_len = 2,
                         .ttl_s = 60,
                         .index_ttl_s = 60,
                         .cap = 10};
    assert_int_equal(wxs__store_token_put(f->st, &tp, done_cb, &o), WXS_EINVAL);
    tp.hash = HASH_A;
    tp.cap = 0;
    assert_int_equal(wxs__store_token_put(f->st, &tp, done_cb, &o), WXS_EINVAL);
    tp.cap = 1;
    tp.openid_len = 0;
    assert_int_equal(wxs__store_token_put(f->st, &tp, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_token_put(f->st, NULL, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_token_touch(f->st, HASH_B "x", "{}", 2, 0, done_cb, &o),
                     WXS_EINVAL);
    assert_int_equal(wxs__store_token_del(f->st, "nothex", "o1", 2, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_token_del_user(f->st, "", 0, done_cb, &o), WXS_EINVAL);
    assert_int_equal(o.calls, 0);
}

/* ------------------------------------------------------------ cases, Redis only */

/* The layout docs/protocol.md gives (a record with its TTL; the index a sorted set scored by
 * creation ms, with its own TTL), and the scripts sent again by body after SCRIPT FLUSH. */
static void test_redis_layout_and_noscript(void **state)
{
    fixture *f = *state;
    SKIP_IF_NO_BACKEND(f);
    assert_int_equal(put(f, HASH_A, "o1", "{\"a\":1}", 10), 0);
    redisReply *r = raw_command(f->g, "ZRANGE " PREFIX "tokens:o1 0 -1 WITHSCORES");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, HASH_A);
    assert_true(atoll(r->element[1]->str) >= 1700000000000LL); /* put()'s created_ms */
    freeReplyObject(r);
    const char *ttl_of[] = {"TTL " PREFIX "token:" HASH_A, "TTL " PREFIX "tokens:o1"};
    const long long max[] = {600, 3600};
    for (int i = 0; i < 2; i++) {
        r = raw_command(f->g, ttl_of[i]);
        assert_non_null(r);
        assert_true(r->integer > 0 && r->integer <= max[i]);
        freeReplyObject(r);
    }
    r = raw_command(f->g, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(put(f, HASH_B, "o1", "{}", 1), 1); /* EVALSHA, NOSCRIPT, then EVAL */
    check_record(f, HASH_A, NULL);
    r = raw_command(f->g, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(del(f, HASH_B, "o1"), 1);
    r = raw_command(f->g, "EXISTS " PREFIX "tokens:o1");
    assert_non_null(r);
    assert_int_equal(r->integer, 0); /* its last hash dropped: the sorted set is gone */
    freeReplyObject(r);
}

/* ------------------------------------------------------------ the commands (lib/redis_token.c) */

/* An argument's bytes as a string (both halves), into out. */
static const char *arg_str(const wxs__resp_arg *a, char *out, size_t cap)
{
    assert_true(a->alen + a->blen < cap);
    memcpy(out, a->a, a->alen);
    if (a->blen > 0)
        memcpy(out + a->alen, a->b, a->blen);
    out[a->alen + a->blen] = '\0';
    return out;
}

static void test_redis_token_commands(void **state)
{
    (void)state;
    char buf[2][128], sha[41];
    wxs__redis_token_cmd cmd;
    wxs__token_put tp = {HASH_A, "o1", 2,    "{}", 2,
                         600,    3600, 1234, 10,   {"exchange:x", 10, "v", 1, 300}};
    wxs__redis_token_sha(WXS__REDIS_TOKEN_PUT, sha);
    wxs__redis_token_cmd_init(&cmd, WXS__REDIS_TOKEN_PUT, &tp, "p:", 2, sha, 0);
    const char *want[] = {"EVALSHA",     sha,
                          "3",           "p:token:" HASH_A,
                          "p:tokens:o1", "p:exchange:x",
                          "{}",          "600",
                          "3600",        "1234",
                          HASH_A,        "10",
                          "p:token:",    "v",
                          "300"};
    assert_int_equal(cmd.argc, 15);
    for (int i = 0; i < cmd.argc; i++)
        assert_string_equal(arg_str(&cmd.argv[i], buf[0], sizeof buf[0]), want[i]);
    wxs__redis_token_cmd_init(&cmd, WXS__REDIS_TOKEN_TOUCH, &tp, "p:", 2, "", 0);
    const char *touch[] = {"SET", "p:token:" HASH_A, "{}", "XX", "EX", "600"};
    assert_int_equal(cmd.argc, 6);
    for (int i = 0; i < cmd.argc; i++)
        assert_string_equal(arg_str(&cmd.argv[i], buf[1], sizeof buf[1]), touch[i]);
    wxs__redis_token_cmd_init(&cmd, WXS__REDIS_TOKEN_INDEX_LIST, &tp, "p:", 2, NULL, 1);
    assert_int_equal(cmd.argc, 4); /* EVAL <body> 1 <index> */
    assert_string_equal(arg_str(&cmd.argv[0], buf[0], sizeof buf[0]), "EVAL");
    assert_string_equal(arg_str(&cmd.argv[3], buf[0], sizeof buf[0]), "p:tokens:o1");
    /* the statuses */
    assert_int_equal(wxs__redis_token_status(WXS__REDIS_TOKEN_PUT, REDIS_REPLY_INTEGER, 2), 2);
    assert_int_equal(wxs__redis_token_status(WXS__REDIS_TOKEN_DEL, REDIS_REPLY_NIL, 0), WXS_ESTORE);
    assert_int_equal(wxs__redis_token_status(WXS__REDIS_TOKEN_TOUCH, REDIS_REPLY_STATUS, 0), 1);
    assert_int_equal(wxs__redis_token_status(WXS__REDIS_TOKEN_TOUCH, REDIS_REPLY_NIL, 0), 0);
    assert_int_equal(wxs__redis_token_status(WXS__REDIS_TOKEN_INDEX_LIST, REDIS_REPLY_STRING, 0),
                     0);
    /* an index's listing */
    assert_int_equal(wxs__redis_token_list_count("", 0), 0);
    assert_int_equal(wxs__redis_token_list_count(HASH_A HASH_B, 128), 2);
    assert_int_equal(wxs__redis_token_list_count(HASH_A "b", 65), -1);
    assert_int_equal(wxs__redis_token_list_count("A" HASH_A, 64), -1); /* not lowercase hex */
    /* the copy points into its own bytes only */
    char bytes[128];
    wxs__token_put copy;
    assert_int_equal(wxs__redis_token_size(&tp), 64 + 2 + 2 + 10 + 1);
    wxs__redis_token_copy(&copy, bytes, &tp);
    assert_ptr_equal(copy.hash, bytes);
    assert_memory_equal(copy.remember.value, "v", 1);
    assert_int_equal(copy.cap, 10);
}

/* ------------------------------------------------------------ groups */

#define CASES                                                                                      \
    cmocka_unit_test_setup_teardown(test_put_get_touch, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_cap_ends_the_oldest, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_ended_sessions_leave_the_index, setup, teardown),     \
        cmocka_unit_test_setup_teardown(test_del_user, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_put_carries_the_remembered_exchange, setup,           \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown)

static group sqlite_group = {.backend = "sqlite"};
static group redis_group = {.backend = "redis"};

/* The group state is the group, handed to each case's setup(). */
static int group_setup(void **state, group *g)
{
    *state = g;
    const char *tmp = getenv("TMPDIR");
    snprintf(g->dir, sizeof g->dir, "%s/wxs-test-token-XXXXXX", tmp != NULL ? tmp : P_tmpdir);
    if (mkdtemp(g->dir) == NULL)
        return -1;
    if (strcmp(g->backend, "redis") == 0) {
        g->skip = redis_start(g) < 0;
        if (g->skip)
            printf("SKIP: redis-server not found or did not start (the Redis cases)\n");
    }
    return 0;
}

static int group_setup_sqlite(void **state)
{
    return group_setup(state, &sqlite_group);
}

static int group_setup_redis(void **state)
{
    return group_setup(state, &redis_group);
}

static int group_teardown(void **state)
{
    group *g = *state;
    if (g->redis_pid > 0) {
        kill(g->redis_pid, SIGKILL);
        waitpid(g->redis_pid, NULL, 0);
    }
    rmdir(g->dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest sqlite_cases[] = {CASES};
    const struct CMUnitTest redis_cases[] = {
        CASES, cmocka_unit_test_setup_teardown(test_redis_layout_and_noscript, setup, teardown)};
    int failed = 0;
    const struct CMUnitTest command_cases[] = {cmocka_unit_test(test_redis_token_commands)};
    signal(SIGPIPE, SIG_IGN);
    failed += cmocka_run_group_tests_name("store_token.redis_commands", command_cases, NULL, NULL);
    failed += cmocka_run_group_tests_name("store_token.sqlite", sqlite_cases, group_setup_sqlite,
                                          group_teardown);
    failed += cmocka_run_group_tests_name("store_token.redis", redis_cases, group_setup_redis,
                                          group_teardown);
    return failed;
}
