/* test_store.c: the session stores (SQLite and Redis): the same behavioural cases against both
 * backends, then each backend's own cases (WAL, threads, kill -9; AUTH, SELECT, reconnect,
 * command timeout). Redis cases start and stop their own redis-server on a free loopback port;
 * the compare-then-delete cases also run on a two-primary Redis Cluster the group builds. */
#include "redis_cluster.h"
#include "sqlite_util.h"
#include "store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PREFIX "weapp-session:"
#define OP_WAIT_MS 5000

/* Test-only hook in store_sqlite.c: called on the writer thread before each write. */
extern void (*wxs__store_sqlite_write_hook)(void);

/* ------------------------------------------------------------ captured log */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[256 * 1024];
static size_t log_len;

static void capture_log(void *arg, wxs_log_level level, const char *line)
{
    size_t n = strlen(line);
    pthread_mutex_lock(&log_lock);
    if (n + 1 < sizeof log_text - log_len) {
        memcpy(log_text + log_len, line, n);
        log_text[log_len + n] = '\n';
        log_len += n + 1;
        log_text[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_lock);
    if (getenv("WXS_TEST_VERBOSE") != NULL)
        fprintf(stderr, "    log: %s\n", line);
}

static int log_contains(const char *s)
{
    pthread_mutex_lock(&log_lock);
    int hit = strstr(log_text, s) != NULL;
    pthread_mutex_unlock(&log_lock);
    return hit;
}

/* ------------------------------------------------------------ write-thread hook */

static _Thread_local int on_loop_thread; /* set by every thread that runs a loop */
static atomic_int hook_calls;
static atomic_int hook_calls_on_loop;

static void write_hook(void)
{
    atomic_fetch_add(&hook_calls, 1);
    if (on_loop_thread)
        atomic_fetch_add(&hook_calls_on_loop, 1);
}

/* ------------------------------------------------------------ redis-server processes */

typedef struct redis_server {
    pid_t pid;
    int port;
    char password[64];
    int bus_port;         /* > 0: a cluster node, its bus on this port */
    const char *data_dir; /* a cluster node's nodes-<port>.conf goes here */
} redis_server;

static pid_t started_pids[64];
static int n_started;

static void kill_all_servers(void)
{
    for (int i = 0; i < n_started; i++)
        if (started_pids[i] > 0)
            kill(started_pids[i], SIGKILL);
}

static int have_redis_server(void)
{
    const char *path = getenv("PATH");
    char buf[4096], dir[4096];
    snprintf(buf, sizeof buf, "%s", path != NULL ? path : "/usr/bin:/bin");
    for (char *save = NULL, *p = strtok_r(buf, ":", &save); p != NULL;
         p = strtok_r(NULL, ":", &save)) {
        snprintf(dir, sizeof dir, "%s/redis-server", p);
        if (access(dir, X_OK) == 0)
            return 1;
    }
    return 0;
}

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

/* A blocking connection to srv, authenticated, on database db; NULL when it does not answer. */
static redisContext *raw_connect(const redis_server *srv, int db)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv->port, tv);
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){2, 0});
    redisReply *r = NULL;
    if (srv->password[0] != '\0') {
        r = redisCommand(c, "AUTH %s", srv->password);
        freeReplyObject(r);
    }
    if (db != 0) {
        r = redisCommand(c, "SELECT %d", db);
        freeReplyObject(r);
    }
    return c;
}

/* Run one command on a fresh blocking connection; the reply is the caller's (freeReplyObject). */
static redisReply *raw_command(const redis_server *srv, int db, const char *fmt, ...)
{
    redisContext *c = raw_connect(srv, db);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

static int server_answers(const redis_server *srv)
{
    redisContext *c = raw_connect(srv, 0);
    if (c == NULL)
        return 0;
    redisReply *r = redisCommand(c, "PING");
    int ok = r != NULL;
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Start redis-server on srv->port (a free one when 0), with --requirepass when srv->password
 * is set; wait until it answers. The child dies with this process (PR_SET_PDEATHSIG). */
static void redis_start(redis_server *srv)
{
    char port[16];
    char bus_port[16], nodes_conf[32];
    const char *argv[24] = {"redis-server", "--port", port,           "--bind", "127.0.0.1",
                            "--save",       "",       "--appendonly", "no"};
    int argc = 9;
    if (srv->port == 0)
        srv->port = free_port();
    snprintf(port, sizeof port, "%d", srv->port);
    if (srv->password[0] != '\0') {
        argv[argc++] = "--requirepass";
        argv[argc++] = srv->password;
    }
    if (srv->bus_port > 0) {
        snprintf(bus_port, sizeof bus_port, "%d", srv->bus_port);
        snprintf(nodes_conf, sizeof nodes_conf, "nodes-%d.conf", srv->port);
        const char *cluster[] = {
            "--cluster-enabled",     "yes",     "--cluster-port", bus_port, "--dir", srv->data_dir,
            "--cluster-config-file", nodes_conf};
        for (size_t i = 0; i < sizeof cluster / sizeof cluster[0]; i++)
            argv[argc++] = cluster[i];
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    srv->pid = pid;
    if (n_started < 64)
        started_pids[n_started++] = pid;
    for (int i = 0; i < 500; i++) {
        if (server_answers(srv))
            return;
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid) {
            srv->pid = 0;
            fail_msg("redis-server exited at start-up (port %d)", srv->port);
        }
        usleep(10000);
    }
    fail_msg("redis-server on port %d did not answer PING", srv->port);
}

static void redis_stop(redis_server *srv)
{
    if (srv->pid <= 0)
        return;
    kill(srv->pid, SIGCONT);
    kill(srv->pid, SIGKILL);
    waitpid(srv->pid, NULL, 0);
    for (int i = 0; i < n_started; i++)
        if (started_pids[i] == srv->pid)
            started_pids[i] = 0;
    srv->pid = 0;
}

/* ------------------------------------------------------------ fixtures */

typedef struct env {
    const char *backend; /* "sqlite" or "redis" */
    int open_store;      /* the fixture opens f->st (the shared behavioural cases) */
    int cluster;         /* redis: srv and srv2 are the two primaries of a Redis Cluster */
    int skip;            /* redis-server not installed */
    redis_server srv;    /* the shared server of the redis behavioural group */
    redis_server srv2;   /* the cluster's second primary */
    char seeds[64];      /* the cluster's redis.cluster */
    char dir[64];        /* temp dir of the sqlite groups and of the cluster's nodes.conf */
    int files;           /* database files made in dir */
} env;

typedef struct fixture {
    env *env;
    int skip;
    uv_loop_t loop;
    uv_timer_t deadline;
    int timed_out;
    struct wxs_config cfg;
    char path[128];
    wxs__store *st;
    wxs__store *st2;
    redis_server srv; /* a server this test started itself */
} fixture;

static void on_deadline(uv_timer_t *t)
{
    fixture *f = t->data;
    f->timed_out = 1;
}

/* Run the loop until *flag is set or timeout_ms pass; returns *flag. */
static int run_until(fixture *f, const int *flag, int timeout_ms)
{
    f->timed_out = 0;
    uv_timer_start(&f->deadline, on_deadline, (uint64_t)timeout_ms, 0);
    while (!*flag && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->deadline);
    return *flag;
}

static void run_for(fixture *f, int ms)
{
    static const int never;
    run_until(f, &never, ms);
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Run the loop until nothing is left on it (stores closed), then close it. */
static void drain_and_close_loop(uv_loop_t *loop)
{
    for (int i = 0; i < 5000 && uv_loop_alive(loop); i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (uv_loop_alive(loop))
            usleep(1000);
    }
    assert_int_equal(uv_loop_alive(loop), 0);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* Drain and close the fixture's loop (every store on it must be closed), then start a fresh one:
 * checks that the closed stores left nothing behind. */
static void fresh_loop(fixture *f)
{
    uv_close((uv_handle_t *)&f->deadline, NULL);
    drain_and_close_loop(&f->loop);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
}

static const wxs__store_ops *backend_ops(const fixture *f)
{
    return wxs__store_find(f->env->backend);
}

static wxs__store *open_store(fixture *f)
{
    char err[256] = "";
    wxs__store *st = NULL;
    int rc = backend_ops(f)->open(&st, &f->loop, &f->cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", f->env->backend, wxs_err_name(rc), err);
    return st;
}

/* Wait until the store says ready (Redis connects asynchronously). */
static int wait_ready(fixture *f, wxs__store *st, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!wxs__store_ready(st) && now_ms() < end)
        run_for(f, 5);
    return wxs__store_ready(st);
}

static void redis_config(fixture *f, const redis_server *srv, const char *password, int db)
{
    f->cfg.redis_host = "127.0.0.1";
    f->cfg.redis_port = srv->port;
    f->cfg.redis_password = (char *)password;
    f->cfg.redis_db = db;
    f->cfg.redis_timeout_ms = 1000;
}

static int setup(void **state)
{
    env *e = *state;
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->env = e;
    on_loop_thread = 1;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    f->cfg.session_prefix = PREFIX;
    if (strcmp(e->backend, "sqlite") == 0) {
        snprintf(f->path, sizeof f->path, "%s/t%d.db", e->dir, ++e->files);
        f->cfg.sqlite_path = f->path;
    } else if (e->skip) {
        f->skip = 1;
    } else if (e->open_store) {
        redisReply *r = raw_command(&e->srv, 0, "FLUSHALL");
        freeReplyObject(r);
        redis_config(f, &e->srv, "", 0);
        if (e->cluster) {
            r = raw_command(&e->srv2, 0, "FLUSHALL");
            freeReplyObject(r);
            f->cfg.redis_cluster = e->seeds;
            f->cfg.redis_wait_replicas = 0; /* the test cluster has no replicas */
        }
    }
    *state = f;
    if (e->open_store && !f->skip) {
        f->st = open_store(f);
        assert_true(wait_ready(f, f->st, 3000));
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->st != NULL)
        wxs__store_close(f->st);
    if (f->st2 != NULL)
        wxs__store_close(f->st2);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    drain_and_close_loop(&f->loop);
    redis_stop(&f->srv);
    free(f);
    return 0;
}

#define SKIP_WITHOUT_REDIS(f)                                                                      \
    do {                                                                                           \
        if ((f)->skip) {                                                                           \
            printf("SKIP: redis-server not found\n");                                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------ op helpers */

typedef struct op {
    int done;
    int calls;
    int status;
    char val[200 * 1024];
    size_t len;
} op;

static void get_cb(void *arg, int status, const char *val, size_t len)
{
    op *o = arg;
    o->done = 1;
    o->calls++;
    o->status = status;
    o->len = len;
    if (val != NULL && len <= sizeof o->val)
        memcpy(o->val, val, len);
}

static void done_cb(void *arg, int status)
{
    op *o = arg;
    o->done = 1;
    o->calls++;
    o->status = status;
}

static op *op_new(void)
{
    op *o = calloc(1, sizeof *o);
    assert_non_null(o);
    return o;
}

static int wait_op(fixture *f, op *o)
{
    if (!run_until(f, &o->done, OP_WAIT_MS))
        fail_msg("no callback within %d ms", OP_WAIT_MS);
    assert_int_equal(o->calls, 1);
    return o->status;
}

/* Each helper runs one op to its callback and returns the callback's status. */
static int t_get_on(fixture *f, wxs__store *st, const char *key, op *o)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(wxs__store_get(st, key, strlen(key), get_cb, o), 0);
    return wait_op(f, o);
}

static int t_set_on(fixture *f, wxs__store *st, const char *key, const char *val, size_t vlen,
                    long long ttl)
{
    op o = {0};
    assert_int_equal(wxs__store_set_ex(st, key, strlen(key), val, vlen, ttl, done_cb, &o), 0);
    return wait_op(f, &o);
}

static int t_setnx(fixture *f, const char *key, const char *val, long long ttl)
{
    op o = {0};
    assert_int_equal(
        wxs__store_set_nx_ex(f->st, key, strlen(key), val, strlen(val), ttl, done_cb, &o), 0);
    return wait_op(f, &o);
}

static int t_del(fixture *f, const char *key)
{
    op o = {0};
    assert_int_equal(wxs__store_del(f->st, key, strlen(key), done_cb, &o), 0);
    return wait_op(f, &o);
}

/* Compare, then delete: the status; the callback must not have run when the op returned. */
static int t_del_eq_on(fixture *f, wxs__store *st, const char *key, const char *val, size_t vlen)
{
    op o = {0};
    assert_int_equal(wxs__store_del_eq(st, key, strlen(key), val, vlen, done_cb, &o), 0);
    assert_int_equal(o.calls, 0); /* never before the op returned */
    return wait_op(f, &o);
}

#define t_del_eq(f, key, val) t_del_eq_on((f), (f)->st, (key), (val), strlen(val))

static wxs__login login_args(const char *code, size_t code_len, const char *openid,
                             size_t openid_len, const char *user, long long ttl_s)
{
    wxs__login lw = {.code = code,
                     .code_len = code_len,
                     .openid = openid,
                     .openid_len = openid_len,
                     .user_json = user,
                     .user_len = strlen(user),
                     .ttl_s = ttl_s};
    return lw;
}

static int t_login_on(fixture *f, wxs__store *st, const char *code, const char *openid,
                      const char *user)
{
    op o = {0};
    wxs__login lw = login_args(code, strlen(code), openid, strlen(openid), user, 7200);
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), 0);
    return wait_op(f, &o);
}

#define t_get(f, key, o) t_get_on((f), (f)->st, (key), (o))
#define t_set(f, key, val, ttl) t_set_on((f), (f)->st, (key), (val), strlen(val), (ttl))
#define t_login(f, code, openid, user) t_login_on((f), (f)->st, (code), (openid), (user))

/* Assert that get(key) hits with exactly the string want. */
static void check_hit(fixture *f, const char *key, const char *want)
{
    op *o = op_new();
    int status = t_get(f, key, o);
    if (status != 0)
        fail_msg("get %s: %s, wanted \"%s\"", key, wxs_err_name(status), want);
    assert_int_equal(o->len, strlen(want));
    assert_memory_equal(o->val, want, o->len);
    free(o);
}

static void check_miss(fixture *f, const char *key)
{
    op *o = op_new();
    int status = t_get(f, key, o);
    if (status != WXS_ENOTFOUND)
        fail_msg("get %s: %s, wanted WXS_ENOTFOUND", key, wxs_err_name(status));
    free(o);
}

/* The raw stored value at full_key (prefix included), bypassing the store; 1 found, 0 not. */
static int raw_get(fixture *f, const char *full_key, char *out, size_t cap, size_t *len)
{
    int found = 0;
    if (strcmp(f->env->backend, "sqlite") == 0) {
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = ?", -1, &s, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(s, 1, full_key, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            found = 1;
            *len = (size_t)sqlite3_column_bytes(s, 0);
            assert_true(*len <= cap);
            memcpy(out, sqlite3_column_blob(s, 0), *len);
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
        return found;
    }
    redisReply *r = raw_command(&f->env->srv, (int)f->cfg.redis_db, "GET %s", full_key);
    if (r->type == REDIS_REPLY_STRING) {
        found = 1;
        *len = r->len;
        assert_true(*len <= cap);
        memcpy(out, r->str, *len);
    }
    freeReplyObject(r);
    return found;
}

/* ------------------------------------------------------------ behaviour, both backends */

static void test_get_miss(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_true(wxs__store_ready(f->st));
    check_miss(f, "no-such-code");
}

static void test_set_then_get(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_set(f, "code-1", "{\"openId\":\"o1\"}", 60), 0);
    check_hit(f, "code-1", "{\"openId\":\"o1\"}");
    assert_int_equal(t_set(f, "code-1", "{\"openId\":\"o2\"}", 60), 0);
    check_hit(f, "code-1", "{\"openId\":\"o2\"}");
}

static void test_set_nx(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_setnx(f, "claim", "first", 60), 1);
    assert_int_equal(t_setnx(f, "claim", "second", 60), 0);
    check_hit(f, "claim", "first");
}

static void test_del(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_set(f, "gone", "v", 60), 0);
    assert_int_equal(t_del(f, "gone"), 1);
    check_miss(f, "gone");
    assert_int_equal(t_del(f, "gone"), 0);
}

static void test_ttl_expiry(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_set(f, "short", "v", 1), 0);
    assert_int_equal(t_setnx(f, "short-nx", "a", 1), 1);
    assert_int_equal(t_set(f, "long", "v", 60), 0);
    check_hit(f, "short", "v");
    run_for(f, 1150);
    check_miss(f, "short");
    check_miss(f, "short-nx");
    assert_int_equal(t_setnx(f, "short-nx", "b", 60), 1); /* set again after expiry */
    check_hit(f, "short-nx", "b");
    check_hit(f, "long", "v");
    assert_int_equal(t_del(f, "short"), 0); /* an expired key does not count as deleted */
}

static void test_prefix_applied(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    char buf[256];
    size_t len = 0;
    assert_int_equal(t_set(f, "081abc", "{\"openId\":\"oX\"}", 60), 0);
    assert_true(raw_get(f, PREFIX "081abc", buf, sizeof buf, &len));
    assert_int_equal(len, strlen("{\"openId\":\"oX\"}"));
    assert_memory_equal(buf, "{\"openId\":\"oX\"}", len);
    assert_false(raw_get(f, "081abc", buf, sizeof buf, &len));
}

static void test_login_semantics(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    /* first login writes code -> user and openId -> "code" */
    assert_int_equal(t_login(f, "codeA", "openid-1", "{\"openId\":\"openid-1\",\"n\":1}"), 0);
    check_hit(f, "codeA", "{\"openId\":\"openid-1\",\"n\":1}");
    check_hit(f, "openid-1", "\"codeA\"");
    /* a second login with a new code deletes the old code's session */
    assert_int_equal(t_login(f, "codeB", "openid-1", "{\"openId\":\"openid-1\",\"n\":2}"), 0);
    check_miss(f, "codeA");
    check_hit(f, "codeB", "{\"openId\":\"openid-1\",\"n\":2}");
    check_hit(f, "openid-1", "\"codeB\"");
    /* the same code twice keeps (and updates) its session */
    assert_int_equal(t_login(f, "codeB", "openid-1", "{\"openId\":\"openid-1\",\"n\":3}"), 0);
    check_hit(f, "codeB", "{\"openId\":\"openid-1\",\"n\":3}");
    /* another user's login leaves this one alone */
    assert_int_equal(t_login(f, "codeC", "openid-2", "{\"openId\":\"openid-2\"}"), 0);
    check_hit(f, "codeB", "{\"openId\":\"openid-1\",\"n\":3}");
    check_hit(f, "codeC", "{\"openId\":\"openid-2\"}");
}

/* The login write carries the code's remembered exchange, with its own ttl. */
static void test_login_remembered_exchange(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op o = {0};
    wxs__login lw = login_args("codeX1", 6, "openid-x1", 9, "{\"openId\":\"openid-x1\"}", 7200);
    lw.remember.key = "exchange:abc";
    lw.remember.key_len = strlen(lw.remember.key);
    lw.remember.value = "x{\"status\":0}";
    lw.remember.value_len = strlen(lw.remember.value);
    lw.remember.ttl_s = 1;
    assert_int_equal(wxs__store_login(f->st, &lw, done_cb, &o), 0);
    assert_true(wait_op(f, &o) >= 0);
    check_hit(f, "codeX1", "{\"openId\":\"openid-x1\"}");
    check_hit(f, "openid-x1", "\"codeX1\"");
    check_hit(f, "exchange:abc", "x{\"status\":0}");
    /* the remembered exchange expires by its own ttl, the session does not */
    run_for(f, 1150);
    check_miss(f, "exchange:abc");
    check_hit(f, "codeX1", "{\"openId\":\"openid-x1\"}");
}

static void test_login_previous_values(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    /* a previous value that is not a JSON string deletes nothing */
    assert_int_equal(t_set(f, "bystander", "keep", 60), 0);
    assert_int_equal(t_set(f, "openid-3", "bystander", 60), 0);
    assert_int_equal(t_login(f, "codeD", "openid-3", "{}"), 0);
    check_hit(f, "bystander", "keep");
    check_hit(f, "openid-3", "\"codeD\"");
    assert_int_equal(t_set(f, "openid-4", "{\"code\":\"bystander\"}", 60), 0);
    assert_int_equal(t_login(f, "codeE", "openid-4", "{}"), 0);
    check_hit(f, "bystander", "keep");
    /* a JSON string with escapes names the decoded code */
    assert_int_equal(t_set(f, "we\"ird/code", "old", 60), 0);
    assert_int_equal(t_set(f, "openid-5", "\"we\\\"ird\\/code\"", 60), 0);
    assert_int_equal(t_login(f, "codeF", "openid-5", "{}"), 0);
    check_miss(f, "we\"ird/code");
    /* a code needing escapes is stored as a proper JSON string */
    assert_int_equal(t_login(f, "co\"de", "openid-6", "{}"), 0);
    check_hit(f, "openid-6", "\"co\\\"de\"");
    assert_int_equal(t_login(f, "codeG", "openid-6", "{}"), 0);
    check_miss(f, "co\"de");
}

static void test_binary_values(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    static const char bin[] =
        "a\0b\xff\x01 \xe5\xbe\xae\xe4\xbf\xa1\xe7\x94\xa8\xe6\x88\xb7 \"\\\n";
    size_t blen = sizeof bin - 1;
    op *o = op_new();
    assert_int_equal(t_set_on(f, f->st, "bin", bin, blen, 60), 0);
    assert_int_equal(t_get(f, "bin", o), 0);
    assert_int_equal(o->len, blen);
    assert_memory_equal(o->val, bin, blen);
    assert_int_equal(t_set_on(f, f->st, "empty", "", 0, 60), 0);
    assert_int_equal(t_get(f, "empty", o), 0);
    assert_int_equal(o->len, 0);
    size_t big_len = 150 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7 + 3);
    assert_int_equal(t_set_on(f, f->st, "\xe5\xbe\xae-key", big, big_len, 60), 0);
    assert_int_equal(t_get(f, "\xe5\xbe\xae-key", o), 0);
    assert_int_equal(o->len, big_len);
    assert_memory_equal(o->val, big, big_len);
    free(big);
    free(o);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    wxs__store *st = f->st;
    op o = {0};
    static char huge_key[2000];
    memset(huge_key, 'k', sizeof huge_key);
    assert_int_equal(wxs__store_get(st, "", 0, get_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_get(st, huge_key, sizeof huge_key, get_cb, &o), WXS_ETOOBIG);
    assert_int_equal(wxs__store_set_ex(st, "k", 1, "v", 1, 0, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_set_ex(st, "k", 1, "v", 1, -5, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_set_ex(st, "k", 1, "v", (size_t)2 << 20, 60, done_cb, &o),
                     WXS_ETOOBIG);
    assert_int_equal(wxs__store_del(st, "k", 1, NULL, NULL), WXS_EINVAL);
    wxs__login lw = login_args("c", 1, "", 0, "{}", 60);
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), WXS_EINVAL);
    lw = login_args("c\0d", 3, "o", 1, "{}", 60);
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), WXS_EINVAL);
    lw = login_args(huge_key, 300, "o", 1, "{}", 60);
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), WXS_ETOOBIG);
    lw = login_args("c", 1, "o", 1, "{}", 60);
    lw.remember.key = "";
    lw.remember.value = "v";
    lw.remember.value_len = 1;
    lw.remember.ttl_s = 60;
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), WXS_EINVAL); /* empty key */
    lw.remember.key = "x";
    lw.remember.key_len = 1;
    lw.remember.ttl_s = 0;
    assert_int_equal(wxs__store_login(st, &lw, done_cb, &o), WXS_EINVAL); /* no ttl */
    assert_int_equal(wxs__store_login(st, NULL, done_cb, &o), WXS_EINVAL);
    run_for(f, 20);
    assert_int_equal(o.calls, 0); /* an op that returns < 0 never calls back */
}

static void test_close_with_ops_in_flight(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    wxs__store *st = f->st;
    op o[5];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "fly-%d", i);
        assert_int_equal(wxs__store_set_ex(st, key, strlen(key), "v", 1, 60, done_cb, &o[i]), 0);
    }
    wxs__store_close(st);
    f->st = NULL;
    for (int i = 0; i < 5; i++)
        assert_int_equal(o[i].calls, 0); /* close() itself calls no callback */
    op late = {0};
    assert_int_equal(wxs__store_get(st, "fly-0", 5, get_cb, &late), WXS_ECANCELED);
    fresh_loop(f);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_true(o[i].status == 0 || o[i].status == WXS_ECANCELED);
    }
    assert_int_equal(late.calls, 0);
}

/* State for callbacks that re-enter the store. */
typedef struct reenter {
    wxs__store *st;
    int outer_calls;
    int outer_intact; /* the outer value was still intact after the nested get */
    op *inner;
    int close_status;
} reenter;

static void nested_get_cb(void *arg, int status, const char *val, size_t len)
{
    reenter *r = arg;
    r->outer_calls++;
    if (wxs__store_get(r->st, "b", 1, get_cb, r->inner) != 0)
        return;
    r->outer_intact = status == 0 && len == 1 && val[0] == '1';
}

static void closing_cb(void *arg, int status)
{
    reenter *r = arg;
    r->close_status = status;
    wxs__store_close(r->st);
}

static void test_reentrant_callbacks(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    reenter r = {.st = f->st, .inner = op_new()};
    op later[2];
    memset(later, 0, sizeof later);
    assert_int_equal(t_set(f, "a", "1", 60), 0);
    assert_int_equal(t_set(f, "b", "2", 60), 0);
    /* a get from inside a get callback */
    assert_int_equal(wxs__store_get(f->st, "a", 1, nested_get_cb, &r), 0);
    assert_true(run_until(f, &r.inner->done, OP_WAIT_MS));
    assert_int_equal(r.outer_calls, 1);
    assert_true(r.outer_intact);
    assert_int_equal(r.inner->status, 0);
    assert_memory_equal(r.inner->val, "2", 1);
    /* close from inside a callback while later ops are still pending */
    wxs__store *st = f->st;
    f->st = NULL;
    r.close_status = 1;
    assert_int_equal(wxs__store_set_ex(st, "x", 1, "v", 1, 60, closing_cb, &r), 0);
    assert_int_equal(wxs__store_set_ex(st, "y", 1, "v", 1, 60, done_cb, &later[0]), 0);
    assert_int_equal(wxs__store_del(st, "b", 1, done_cb, &later[1]), 0);
    fresh_loop(f);
    assert_int_equal(r.close_status, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(later[i].calls, 1);
        assert_true(later[i].status >= 0 || later[i].status == WXS_ECANCELED);
    }
    free(r.inner);
}

/* ------------------------------------------------------------ compare, then delete */

static void test_del_eq_deletes_when_equal(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_set(f, "lease", "owner-a", 60), 0);
    assert_int_equal(t_del_eq(f, "lease", "owner-a"), 1);
    check_miss(f, "lease");
    assert_int_equal(t_del_eq(f, "lease", "owner-a"), 0); /* done once only */
    /* an empty value compares as any other */
    assert_int_equal(t_set(f, "empty", "", 60), 0);
    assert_int_equal(t_del_eq(f, "empty", ""), 1);
    check_miss(f, "empty");
}

static void test_del_eq_keeps_another_value(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    static const char bin[] = "tok\0en\xff";
    assert_int_equal(t_set(f, "token", "token-2", 60), 0);
    assert_int_equal(t_del_eq(f, "token", "token-1"), 0);
    assert_int_equal(t_del_eq(f, "token", "token-"), 0);   /* a prefix of it */
    assert_int_equal(t_del_eq(f, "token", "token-22"), 0); /* it is a prefix of that */
    assert_int_equal(t_del_eq(f, "token", "TOKEN-2"), 0);
    assert_int_equal(t_del_eq(f, "token", ""), 0);
    check_hit(f, "token", "token-2");
    /* binary values compare byte for byte, past a NUL too */
    assert_int_equal(t_set_on(f, f->st, "bin", bin, sizeof bin - 1, 60), 0);
    assert_int_equal(t_del_eq_on(f, f->st, "bin", "tok", 3), 0);
    assert_int_equal(t_del_eq_on(f, f->st, "bin", "tok\0em\xff", sizeof bin - 1), 0);
    assert_int_equal(t_del_eq_on(f, f->st, "bin", bin, sizeof bin - 1), 1);
    check_miss(f, "bin");
    /* only the key named: the same value under another key stays */
    assert_int_equal(t_set(f, "twin-1", "same", 60), 0);
    assert_int_equal(t_set(f, "twin-2", "same", 60), 0);
    assert_int_equal(t_del_eq(f, "twin-1", "same"), 1);
    check_hit(f, "twin-2", "same");
}

static void test_del_eq_missing_or_expired(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    assert_int_equal(t_del_eq(f, "never-set", "v"), 0);
    assert_int_equal(t_set(f, "short", "v", 1), 0);
    assert_int_equal(t_set(f, "long", "v", 60), 0);
    run_for(f, 1150);                               /* past the 1 s ttl */
    assert_int_equal(t_del_eq(f, "short", "v"), 0); /* an expired key holds nothing */
    check_miss(f, "short");
    assert_int_equal(t_setnx(f, "short", "w", 60), 1);
    check_hit(f, "short", "w");
    assert_int_equal(t_del_eq(f, "long", "v"), 1);
}

static void test_del_eq_bad_arguments(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    wxs__store *st = f->st;
    op o = {0};
    static char huge_key[WXS__STORE_MAX_KEY + 1];
    memset(huge_key, 'k', sizeof huge_key);
    assert_int_equal(t_set(f, "k", "v", 60), 0);
    assert_int_equal(wxs__store_del_eq(st, "", 0, "v", 1, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_del_eq(st, NULL, 1, "v", 1, done_cb, &o), WXS_EINVAL);
    assert_int_equal(wxs__store_del_eq(st, huge_key, sizeof huge_key, "v", 1, done_cb, &o),
                     WXS_ETOOBIG);
    assert_int_equal(wxs__store_del_eq(st, "k", 1, NULL, 0, done_cb, &o), WXS_EINVAL);
    /* over the value limit: refused before a byte of it is read */
    assert_int_equal(
        wxs__store_del_eq(st, "k", 1, "v", (size_t)WXS__STORE_MAX_VALUE + 1, done_cb, &o),
        WXS_ETOOBIG);
    assert_int_equal(wxs__store_del_eq(st, "k", 1, "v", 1, NULL, NULL), WXS_EINVAL);
    run_for(f, 20);
    assert_int_equal(o.calls, 0); /* an op that returns < 0 never calls back */
    check_hit(f, "k", "v");
    /* the longest key is accepted */
    memset(&o, 0, sizeof o);
    assert_int_equal(wxs__store_set_ex(st, huge_key, WXS__STORE_MAX_KEY, "v", 1, 60, done_cb, &o),
                     0);
    assert_int_equal(wait_op(f, &o), 0);
    memset(&o, 0, sizeof o);
    assert_int_equal(wxs__store_del_eq(st, huge_key, WXS__STORE_MAX_KEY, "v", 1, done_cb, &o), 0);
    assert_int_equal(wait_op(f, &o), 1);
}

/* Closed with a del_eq in flight: it ends once, with its result or WXS_ECANCELED, after close()
 * returned; a del_eq after close() is refused. */
static void test_del_eq_close_in_flight(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op o = {0}, late = {0};
    wxs__store *st = f->st;
    assert_int_equal(t_set(f, "lease", "mine", 60), 0);
    assert_int_equal(wxs__store_del_eq(st, "lease", 5, "mine", 4, done_cb, &o), 0);
    wxs__store_close(st);
    f->st = NULL;
    assert_int_equal(o.calls, 0);
    assert_int_equal(wxs__store_del_eq(st, "lease", 5, "mine", 4, done_cb, &late), WXS_ECANCELED);
    fresh_loop(f);
    assert_int_equal(o.calls, 1);
    assert_true(o.status == 1 || o.status == WXS_ECANCELED);
    assert_int_equal(late.calls, 0);
}

#define DEL_EQ_TESTS                                                                               \
    cmocka_unit_test_setup_teardown(test_del_eq_deletes_when_equal, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_del_eq_keeps_another_value, setup, teardown),         \
        cmocka_unit_test_setup_teardown(test_del_eq_missing_or_expired, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_del_eq_bad_arguments, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_del_eq_close_in_flight, setup, teardown)

#define BEHAVIOUR_TESTS                                                                            \
    cmocka_unit_test_setup_teardown(test_get_miss, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(test_set_then_get, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_set_nx, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_del, setup, teardown),                                \
        cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_prefix_applied, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_login_semantics, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_login_previous_values, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_login_remembered_exchange, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_binary_values, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_close_with_ops_in_flight, setup, teardown),           \
        cmocka_unit_test_setup_teardown(test_reentrant_callbacks, setup, teardown), DEL_EQ_TESTS

/* ------------------------------------------------------------ SQLite only */

static void raw_query_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    int rc = sqlite3_step(s);
    assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
    snprintf(out, cap, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : "");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_sqlite_wal_and_schema(void **state)
{
    fixture *f = *state;
    char buf[64];
    f->st = open_store(f);
    assert_true(wxs__store_ready(f->st));
    raw_query_text(f->path, "PRAGMA journal_mode", buf, sizeof buf);
    assert_string_equal(buf, "wal");
    raw_query_text(f->path, "PRAGMA user_version", buf, sizeof buf);
    assert_string_equal(buf, "1");
}

static void test_sqlite_two_instances(void **state)
{
    fixture *f = *state;
    op *o = op_new();
    f->st = open_store(f);
    f->st2 = open_store(f);
    assert_int_equal(t_set_on(f, f->st, "shared", "from-a", 6, 60), 0);
    assert_int_equal(t_get_on(f, f->st2, "shared", o), 0);
    assert_int_equal(o->len, 6);
    assert_memory_equal(o->val, "from-a", 6);
    assert_int_equal(t_login_on(f, f->st2, "codeX", "openid-x", "{\"from\":\"b\"}"), 0);
    assert_int_equal(t_get_on(f, f->st, "codeX", o), 0);
    assert_int_equal(t_login_on(f, f->st, "codeY", "openid-x", "{\"from\":\"a\"}"), 0);
    assert_int_equal(t_get_on(f, f->st2, "codeX", o), WXS_ENOTFOUND);
    free(o);
}

typedef struct writer {
    const char *path;
    int id;
    int n;
    int failures;
    char err[256];
} writer;

static void writer_done(void *arg, int status)
{
    int *st = arg;
    *st = status == 0 ? 1 : -1;
}

/* A worker thread: its own loop and store instance on the shared file, n sequential writes. */
static void *writer_thread(void *p)
{
    writer *w = p;
    uv_loop_t loop;
    struct wxs_config cfg = {.session_prefix = PREFIX, .sqlite_path = (char *)w->path};
    wxs__store *st = NULL;
    on_loop_thread = 1;
    uv_loop_init(&loop);
    if (wxs__store_sqlite_ops.open(&st, &loop, &cfg, w->err, sizeof w->err) != 0) {
        w->failures = w->n;
        uv_loop_close(&loop);
        return NULL;
    }
    for (int i = 0; i < w->n; i++) {
        char key[32];
        int done = 0;
        snprintf(key, sizeof key, "t%d-%d", w->id, i);
        if (wxs__store_set_ex(st, key, strlen(key), key, strlen(key), 60, writer_done, &done) != 0)
            done = -1;
        while (done == 0)
            uv_run(&loop, UV_RUN_ONCE);
        w->failures += done < 0;
    }
    wxs__store_close(st);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        w->failures++;
    return NULL;
}

#ifndef WRITERS
#define WRITERS 3
#endif

static void test_sqlite_threads_and_pool(void **state)
{
    fixture *f = *state;
    writer w[WRITERS];
    pthread_t th[WRITERS];
    atomic_store(&hook_calls, 0);
    atomic_store(&hook_calls_on_loop, 0);
    wxs__store_sqlite_write_hook = write_hook;
    for (int i = 0; i < WRITERS; i++) { /* the threads race to create the file and its schema */
        w[i] = (writer){.path = f->path, .id = i, .n = 100};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < WRITERS; i++) {
        if (w[i].failures != 0)
            fail_msg("writer %d: %d failures (%s)", i, w[i].failures, w[i].err);
    }
    f->st = open_store(f);
    for (int i = 0; i < WRITERS; i++) { /* every instance sees every other's writes */
        char key[32];
        snprintf(key, sizeof key, "t%d-%d", i, i * 7 % 100);
        check_hit(f, key, key);
    }
    wxs__store_sqlite_write_hook = NULL;
    assert_true(atomic_load(&hook_calls) > 0);
    assert_int_equal(atomic_load(&hook_calls_on_loop), 0); /* no write ran on a loop thread */
}

static void test_sqlite_purge_at_open(void **state)
{
    fixture *f = *state;
    char buf[64];
    sqlite3 *db = NULL;
    f->st = open_store(f);
    assert_int_equal(t_set(f, "live", "v", 60), 0);
    wxs__store_close(f->st);
    f->st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO kv VALUES ('" PREFIX "old1', 'x', 1000),"
                                  "('" PREFIX "old2', 'x', 2000)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    f->st = open_store(f); /* queues a purge */
    wxs__store_close(f->st);
    f->st = NULL;
    fresh_loop(f);
    raw_query_text(f->path, "SELECT count(*) FROM kv", buf, sizeof buf);
    assert_string_equal(buf, "1");
}

/* More expired rows than one purge deletes (2,000): the purge goes on shortly instead of a
 * minute later, until none is left. */
static void test_sqlite_purge_backlog(void **state)
{
    fixture *f = *state;
    char buf[64] = "";
    sqlite3 *db = NULL;
    f->st = open_store(f);
    assert_int_equal(t_set(f, "live", "v", 60), 0);
    wxs__store_close(f->st);
    f->st = NULL;
    fresh_loop(f);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    assert_int_equal(sqlite3_exec(db,
                                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                  "WHERE i < 9000) INSERT INTO kv SELECT '" PREFIX
                                  "old' || i, 'x', 1000 + i FROM n",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    f->st = open_store(f); /* purges at once, then again every 200 ms while rows are left */
    for (int waited = 0; waited < 5000; waited += 100) {
        run_for(f, 100);
        raw_query_text(f->path, "SELECT count(*) FROM kv", buf, sizeof buf);
        if (strcmp(buf, "1") == 0)
            break;
    }
    assert_string_equal(buf, "1");
    check_hit(f, "live", "v");
}

static void test_sqlite_open_errors(void **state)
{
    fixture *f = *state;
    char err[256] = "";
    wxs__store *st = NULL;
    f->cfg.sqlite_path = "/nonexistent-dir/sub/x.db";
    assert_int_equal(wxs__store_sqlite_ops.open(&st, &f->loop, &f->cfg, err, sizeof err),
                     WXS_ESTORE);
    assert_null(st);
    assert_string_equal(err, "option 'sqlite.path': cannot open '/nonexistent-dir/sub/x.db': "
                             "unable to open database file (does the directory exist and is it "
                             "writable?)");
    f->cfg.sqlite_path = NULL;
    assert_int_equal(wxs__store_sqlite_ops.open(&st, &f->loop, &f->cfg, err, sizeof err),
                     WXS_ECONFIG);
    /* a file from a newer schema is refused */
    f->cfg.sqlite_path = f->path;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(wxs__store_sqlite_ops.open(&st, &f->loop, &f->cfg, err, sizeof err),
                     WXS_ECONFIG);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "option 'sqlite.path'"));
    assert_non_null(strstr(err, f->path));
}

/* ------------------------------------------------------------ SQLite: the shared writer */

/* A gate the writer thread waits at inside a job, so that the test can queue jobs behind it. */
static sem_t gate;
static atomic_int gate_armed;

/* The next write hook call (on the writer thread) waits until the gate is opened. */
static void arm_gate(void)
{
    assert_int_equal(sem_init(&gate, 0, 0), 0);
    atomic_store(&gate_armed, 1);
}

static void open_gate(void)
{
    assert_int_equal(sem_post(&gate), 0);
}

static void gated_hook(void)
{
    write_hook();
    if (atomic_exchange(&gate_armed, 0))
        sem_wait(&gate);
}

/* A raw job: runs sql on the writer's connection; records its result and order on done. */
typedef struct test_job {
    wxs__sqlite_job base;
    const char *sql;
    int gate; /* wait at the gate first */
    int rc;
    int done;
    int order;
} test_job;

static int done_count;

static int run_test_job(wxs__sqlite_job *base, wxs__sqlite_writer *w)
{
    test_job *j = (test_job *)base;
    if (j->gate)
        gated_hook();
    return sqlite3_exec(wxs__sqlite_writer_db(w), j->sql, NULL, NULL, NULL);
}

static void test_job_done(wxs__sqlite_job *base, int rc)
{
    test_job *j = (test_job *)base;
    assert_int_equal(on_loop_thread, 1);
    j->rc = rc;
    j->done++;
    j->order = ++done_count;
}

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

static int raw_count(const char *path, const char *where)
{
    char sql[256], buf[32];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM kv WHERE %s", where);
    raw_query_text(path, sql, buf, sizeof buf);
    return atoi(buf);
}

/* Jobs queued together run as one group commit, each in its own savepoint: a job that fails
 * (after a first statement that succeeded) is rolled back alone and reports its own error; its
 * batch-mates commit and report success; results come back in order on the loop thread. */
static void test_sqlite_group_commit_failure_alone(void **state)
{
    fixture *f = *state;
    wxs__sqlite_client *c = NULL;
    char err[256] = "";
    int detached = 0;
    f->st = open_store(f); /* creates the schema; the client below shares its writer */
    assert_int_equal(wxs__sqlite_writer_attach(&c, &f->loop, f->path, "test", err, sizeof err), 0);
    assert_int_equal(wxs__sqlite_writer_users(f->path), 2);
    test_job jobs[4] = {
        {.sql = "INSERT INTO kv VALUES ('g0', 'gate', 9e15)", .gate = 1},
        {.sql = "INSERT INTO kv VALUES ('ga', 'a', 9e15)"},
        {.sql = "INSERT INTO kv VALUES ('gb', 'partial', 9e15);"
                "INSERT INTO kv VALUES ('ga', 'duplicate', 9e15)"},
        {.sql = "INSERT INTO kv VALUES ('gc', 'c', 9e15)"},
    };
    done_count = 0;
    arm_gate();
    for (int i = 0; i < 4; i++) {
        jobs[i].base.run = run_test_job;
        jobs[i].base.done = test_job_done;
        wxs__sqlite_writer_submit(c, &jobs[i].base);
    }
    open_gate();
    assert_true(run_until(f, &jobs[3].done, OP_WAIT_MS));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[i].order, i + 1);
    }
    assert_int_equal(jobs[0].rc, SQLITE_OK);
    assert_int_equal(jobs[1].rc, SQLITE_OK);
    assert_int_equal(jobs[2].rc & 0xff, SQLITE_CONSTRAINT);
    assert_int_equal(jobs[3].rc, SQLITE_OK);
    /* the three queued behind the gate shared one transaction */
    assert_true(jobs[1].base.batch == jobs[2].base.batch);
    assert_true(jobs[2].base.batch == jobs[3].base.batch);
    assert_int_equal(raw_count(f->path, "key IN ('g0', 'ga', 'gc')"), 3);
    assert_int_equal(raw_count(f->path, "key = 'gb'"), 0);
    assert_int_equal(raw_count(f->path, "value = 'duplicate'"), 0);
    wxs__sqlite_writer_detach(c, set_flag, &detached);
    assert_int_equal(detached, 0); /* detach calls nothing before returning */
    assert_true(run_until(f, &detached, OP_WAIT_MS));
    assert_int_equal(wxs__sqlite_writer_users(f->path), 1);
}

/* Run sql as a job on the writer through client c; returns the job's result. */
static int writer_sql(fixture *f, wxs__sqlite_client *c, const char *sql)
{
    test_job j = {.sql = sql};
    j.base.run = run_test_job;
    j.base.done = test_job_done;
    wxs__sqlite_writer_submit(c, &j.base);
    assert_true(run_until(f, &j.done, OP_WAIT_MS));
    return j.rc;
}

/* The store is ready while its file can be written: a write that meets SQLITE_FULL (the writer's
 * connection capped with PRAGMA max_page_count) makes it not ready, a commit that writes nothing
 * changes nothing, and a write that reaches the file makes it ready again; an idle failing
 * writer also finds out by itself with its probe write. */
static void test_sqlite_ready_follows_the_writer(void **state)
{
    fixture *f = *state;
    wxs__sqlite_client *c = NULL;
    char err[256] = "";
    int detached = 0;
    static char big[100 * 1024];
    unsigned probe_ms = wxs__sqlite_probe_interval_ms;
    memset(big, 'x', sizeof big);
    wxs__sqlite_probe_interval_ms = 3600 * 1000; /* no probe in the first part */
    f->st = open_store(f);
    assert_int_equal(wxs__sqlite_writer_attach(&c, &f->loop, f->path, "test", err, sizeof err), 0);
    assert_true(wxs__store_ready(f->st));
    assert_int_equal(t_set_on(f, f->st, "small", "v", 1, 60), 0);
    /* the file cannot grow: a write that needs more pages fails, the store is not ready */
    assert_int_equal(writer_sql(f, c, "PRAGMA max_page_count = 1"), SQLITE_OK);
    assert_int_equal(t_set_on(f, f->st, "big", big, sizeof big, 60), WXS_ESTORE);
    assert_false(wxs__store_ready(f->st));
    assert_false(wxs__store_ready(f->st)); /* stays so: nothing was written since */
    assert_int_equal(writer_sql(f, c, "PRAGMA max_page_count = 1000000"), SQLITE_OK);
    assert_false(wxs__store_ready(f->st)); /* that job committed no page */
    /* room again: the next write reaches the file, the store is ready */
    assert_int_equal(t_set_on(f, f->st, "big", big, sizeof big, 60), 0);
    assert_true(wxs__store_ready(f->st));
    /* failing again, then no traffic: the probe write finds the file writable */
    wxs__sqlite_probe_interval_ms = 10;
    assert_int_equal(writer_sql(f, c, "PRAGMA max_page_count = 1"), SQLITE_OK);
    assert_int_equal(t_set_on(f, f->st, "big2", big, sizeof big, 60), WXS_ESTORE);
    assert_false(wxs__store_ready(f->st));
    assert_int_equal(writer_sql(f, c, "PRAGMA max_page_count = 1000000"), SQLITE_OK);
    assert_true(wait_ready(f, f->st, OP_WAIT_MS)); /* a hang guard, not a timing assertion */
    wxs__sqlite_probe_interval_ms = probe_ms;
    check_hit(f, "small", "v");
    wxs__sqlite_writer_detach(c, set_flag, &detached);
    assert_true(run_until(f, &detached, OP_WAIT_MS));
}

/* Two instances on two loops (two workers) write through one writer: one thread, never a loop
 * thread, for both; the writer stops when the last of them closes. */
static pthread_t first_writer_thread;
static int writer_threads_seen; /* 0, 1, or 2 for "more than one" */
static pthread_mutex_t writer_threads_lock = PTHREAD_MUTEX_INITIALIZER;

static void thread_recording_hook(void)
{
    write_hook();
    pthread_mutex_lock(&writer_threads_lock);
    if (writer_threads_seen == 0) {
        first_writer_thread = pthread_self();
        writer_threads_seen = 1;
    } else if (!pthread_equal(first_writer_thread, pthread_self())) {
        writer_threads_seen = 2;
    }
    pthread_mutex_unlock(&writer_threads_lock);
}

static void test_sqlite_one_writer_for_two_loops(void **state)
{
    fixture *f = *state;
    uv_loop_t loop2;
    char err[256] = "";
    wxs__store *st2 = NULL;
    op *o = op_new();
    assert_int_equal(uv_loop_init(&loop2), 0);
    atomic_store(&hook_calls_on_loop, 0);
    writer_threads_seen = 0;
    wxs__store_sqlite_write_hook = thread_recording_hook;
    f->st = open_store(f);
    assert_int_equal(wxs__store_sqlite_ops.open(&st2, &loop2, &f->cfg, err, sizeof err), 0);
    assert_int_equal(wxs__sqlite_writer_users(f->path), 2);
    for (int i = 0; i < 20; i++) {
        char key[16];
        int done = 0;
        snprintf(key, sizeof key, "two-%d", i);
        assert_int_equal(t_set_on(f, f->st, key, "a", 1, 60), 0);
        assert_int_equal(wxs__store_set_ex(st2, key, strlen(key), "b", 1, 60, writer_done, &done),
                         0);
        while (done == 0)
            uv_run(&loop2, UV_RUN_ONCE);
        assert_int_equal(done, 1);
        assert_int_equal(t_get_on(f, f->st, key, o), 0);
        assert_memory_equal(o->val, "b", 1);
    }
    wxs__store_sqlite_write_hook = NULL;
    pthread_mutex_lock(&writer_threads_lock);
    assert_int_equal(writer_threads_seen, 1); /* one writer thread for both */
    pthread_mutex_unlock(&writer_threads_lock);
    assert_int_equal(atomic_load(&hook_calls_on_loop), 0);
    wxs__store_close(st2);
    drain_and_close_loop(&loop2);
    assert_int_equal(wxs__sqlite_writer_users(f->path), 1);
    wxs__store_close(f->st);
    f->st = NULL;
    fresh_loop(f);
    assert_int_equal(wxs__sqlite_writer_users(f->path), 0);
    /* the last connection of the process checkpointed the WAL into the file and removed it */
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_int_equal(access(wal, F_OK), -1);
    free(o);
}

/* close() with writes queued and one running (held at the gate): every write still commits and
 * calls back with its real result, after close() returned. */
static void test_sqlite_close_acknowledges_writes(void **state)
{
    fixture *f = *state;
    op *o = calloc(20, sizeof *o);
    assert_non_null(o);
    f->st = open_store(f);
    assert_int_equal(t_set(f, "before", "v", 60), 0);
    wxs__store *st = f->st;
    f->st = NULL;
    arm_gate();
    wxs__store_sqlite_write_hook = gated_hook;
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof key, "late-%d", i);
        assert_int_equal(wxs__store_set_ex(st, key, strlen(key), "acked", 5, 60, done_cb, &o[i]),
                         0);
    }
    wxs__store_close(st);
    run_for(f, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(o[i].calls, 0); /* held at the gate */
    open_gate();
    fresh_loop(f);
    wxs__store_sqlite_write_hook = NULL;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].status, 0);
    }
    assert_int_equal(raw_count(f->path, "value = 'acked'"), 20);
    assert_int_equal(wxs__sqlite_writer_users(f->path), 0);
    free(o);
}

#define DURABLE_KEYS 50

static char self_path[4096]; /* this test binary, for re-running it as a child */

/* Child mode (--sqlite-writer path fd): write DURABLE_KEYS keys, report each acknowledgement
 * on fd, then wait to be killed. */
static int sqlite_writer_child(const char *path, int fd)
{
    uv_loop_t loop;
    struct wxs_config cfg = {.session_prefix = PREFIX, .sqlite_path = (char *)path};
    wxs__store *st = NULL;
    char err[256];
    uv_loop_init(&loop);
    if (wxs__store_sqlite_ops.open(&st, &loop, &cfg, err, sizeof err) != 0)
        _exit(2);
    for (int i = 0; i < DURABLE_KEYS; i++) {
        char key[32];
        int done = 0;
        snprintf(key, sizeof key, "durable-%d", i);
        if (wxs__store_set_ex(st, key, strlen(key), "acked", 5, 3600, writer_done, &done) != 0)
            _exit(3);
        while (done == 0)
            uv_run(&loop, UV_RUN_ONCE);
        if (done < 0 || write(fd, "+", 1) != 1)
            _exit(4);
    }
    for (;;)
        pause();
}

static void test_sqlite_kill9_durability(void **state)
{
    fixture *f = *state;
    int fds[2];
    char fdarg[16], buf[64];
    assert_int_equal(pipe(fds), 0);
    snprintf(fdarg, sizeof fdarg, "%d", fds[1]);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        execl(self_path, "test_store", "--sqlite-writer", f->path, fdarg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int acks = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (acks < DURABLE_KEYS && poll(&pfd, 1, 10000) == 1) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        acks += (int)n;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    assert_int_equal(acks, DURABLE_KEYS);
    raw_query_text(f->path, "SELECT count(*) FROM kv WHERE value = 'acked'", buf, sizeof buf);
    assert_string_equal(buf, "50");
    f->st = open_store(f);
    check_hit(f, "durable-49", "acked");
}

/* ------------------------------------------------------------ Redis only */

static void start_server(fixture *f, const char *password)
{
    snprintf(f->srv.password, sizeof f->srv.password, "%s", password);
    redis_start(&f->srv);
}

static void test_redis_no_password_sends_no_auth(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    assert_int_equal(t_set(f, "k", "v", 60), 0);
    check_hit(f, "k", "v");
    redisReply *r = raw_command(&f->srv, 0, "INFO commandstats");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_null(strstr(r->str, "cmdstat_auth"));
    assert_null(strstr(r->str, "cmdstat_select"));
    assert_non_null(strstr(r->str, "cmdstat_set"));
    freeReplyObject(r);
}

static void test_redis_password(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    start_server(f, "s3cret-Pa55word");
    redis_config(f, &f->srv, "s3cret-Pa55word", 0);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    assert_int_equal(t_set(f, "k", "v", 60), 0);
    check_hit(f, "k", "v");
    assert_false(log_contains("s3cret-Pa55word"));
}

static void test_redis_wrong_password(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op *o = op_new();
    start_server(f, "s3cret-Pa55word");
    redis_config(f, &f->srv, "wr0ng-Pa55word", 0);
    f->st = open_store(f);
    run_for(f, 400);
    assert_false(wxs__store_ready(f->st));
    assert_int_equal(t_get(f, "k", o), WXS_ESTORE);
    assert_true(log_contains("redis: AUTH failed"));
    assert_false(log_contains("wr0ng-Pa55word"));
    assert_false(log_contains("s3cret-Pa55word"));
    free(o);
}

static void test_redis_select_db(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    start_server(f, "");
    redis_config(f, &f->srv, "", 3);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    assert_int_equal(t_set(f, "in-db3", "yes", 60), 0);
    redisReply *r = raw_command(&f->srv, 3, "GET " PREFIX "in-db3");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "yes");
    freeReplyObject(r);
    r = raw_command(&f->srv, 0, "GET " PREFIX "in-db3");
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
}

/* Issue gets until one ends with a status other than WXS_ESTORE; returns the ms it took. */
static long long ms_until_store_answers(fixture *f, int limit_ms, int *status)
{
    op *o = op_new();
    uint64_t t0 = now_ms();
    *status = WXS_ESTORE;
    while (now_ms() - t0 < (uint64_t)limit_ms) {
        *status = t_get(f, "probe", o);
        if (*status != WXS_ESTORE)
            break;
        run_for(f, 10);
    }
    free(o);
    return (long long)(now_ms() - t0);
}

static void test_redis_restart_recovers(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op *o = op_new();
    int status;
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    assert_int_equal(t_set(f, "k", "v", 60), 0);
    redis_stop(&f->srv);
    uint64_t t0 = now_ms();
    while (t_get(f, "k", o) != WXS_ESTORE && now_ms() - t0 < 2000)
        run_for(f, 5);
    assert_int_equal(t_get(f, "k", o), WXS_ESTORE);
    assert_false(wxs__store_ready(f->st));
    run_for(f, 300); /* let a few reconnects fail */
    assert_int_equal(t_set(f, "k", "v", 60), WXS_ESTORE);
    redis_start(&f->srv); /* same port */
    long long ms = ms_until_store_answers(f, 5000, &status);
    printf("    redis restart: store answered again %lld ms after the server came back\n", ms);
    assert_int_equal(status, WXS_ENOTFOUND); /* no persistence: the key is gone */
    assert_true(ms < 3000);
    assert_int_equal(t_set(f, "k", "v2", 60), 0);
    check_hit(f, "k", "v2");
    free(o);
}

static void test_redis_hung_server_times_out(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op *o = op_new();
    int status;
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->cfg.redis_timeout_ms = 300;
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    kill(f->srv.pid, SIGSTOP);
    uint64_t t0 = now_ms();
    assert_int_equal(t_get(f, "k", o), WXS_ESTORE);
    long long waited = (long long)(now_ms() - t0);
    printf("    redis SIGSTOP: pending get failed after %lld ms (timeout 300 ms)\n", waited);
    assert_true(waited >= 250 && waited < 1500);
    assert_true(log_contains("no reply within the timeout"));
    kill(f->srv.pid, SIGCONT);
    long long ms = ms_until_store_answers(f, 5000, &status);
    printf("    redis SIGCONT: store answered again after %lld ms\n", ms);
    assert_int_equal(status, WXS_ENOTFOUND);
    free(o);
}

static void test_redis_down_at_open(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op o = {0};
    int status;
    f->srv.port = free_port();
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f); /* nothing listens yet: open still succeeds */
    assert_false(wxs__store_ready(f->st));
    assert_int_equal(wxs__store_get(f->st, "k", 1, get_cb, &o), 0);
    assert_int_equal(o.calls, 0); /* failed fast, but never before returning */
    run_for(f, 5);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.status, WXS_ESTORE);
    run_for(f, 200);
    redis_start(&f->srv);
    long long ms = ms_until_store_answers(f, 5000, &status);
    printf("    redis down at open: store answered %lld ms after the server started\n", ms);
    assert_int_equal(status, WXS_ENOTFOUND);
}

static void test_redis_noscript_fallback(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    assert_int_equal(t_login(f, "c1", "oid", "{\"n\":1}"), 0); /* NOSCRIPT, then EVAL */
    assert_int_equal(t_login(f, "c2", "oid", "{\"n\":2}"), 0); /* EVALSHA */
    redisReply *r = raw_command(&f->srv, 0, "SCRIPT FLUSH");
    freeReplyObject(r);
    assert_int_equal(t_login(f, "c3", "oid", "{\"n\":3}"), 0); /* NOSCRIPT again */
    check_miss(f, "c1");
    check_miss(f, "c2");
    check_hit(f, "c3", "{\"n\":3}");
    check_hit(f, "oid", "\"c3\"");
    r = raw_command(&f->srv, 0, "INFO commandstats");
    assert_non_null(strstr(r->str, "cmdstat_evalsha:calls=3"));
    assert_non_null(strstr(r->str, "cmdstat_eval:calls=2"));
    freeReplyObject(r);
}

static void test_redis_error_reply(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op *o = op_new();
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    redisReply *r = raw_command(&f->srv, 0, "LPUSH " PREFIX "a-list secret-item");
    freeReplyObject(r);
    assert_int_equal(t_get(f, "a-list", o), WXS_ESTORE);
    assert_true(log_contains("redis: GET failed (WRONGTYPE)"));
    assert_false(log_contains("secret-item"));
    assert_int_equal(t_login(f, "c1", "a-list", "{}"), WXS_ESTORE); /* GET in the script fails */
    assert_true(wxs__store_ready(f->st)); /* an error reply does not drop the connection */
    free(o);
}

/* The compare-then-delete script: EVALSHA, EVAL after NOSCRIPT (once, then EVALSHA again), an
 * error reply for a key of another type, and no WAIT after it even when session writes wait. */
static void test_redis_del_eq_script(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    start_server(f, "");
    redis_config(f, &f->srv, "", 0);
    f->cfg.redis_wait_replicas = 1; /* no replica: a session write would fail its WAIT */
    f->cfg.redis_wait_timeout_ms = 50;
    f->st = open_store(f);
    assert_true(wait_ready(f, f->st, 3000));
    for (int i = 0; i < 3; i++) {
        redisReply *r = raw_command(&f->srv, 0, "SET " PREFIX "lease-%d mine EX 60", i);
        freeReplyObject(r);
    }
    assert_int_equal(t_del_eq(f, "lease-0", "mine"), 1);   /* NOSCRIPT, then EVAL */
    assert_int_equal(t_del_eq(f, "lease-1", "theirs"), 0); /* EVALSHA */
    redisReply *r = raw_command(&f->srv, 0, "SCRIPT FLUSH");
    freeReplyObject(r);
    assert_int_equal(t_del_eq(f, "lease-1", "mine"), 1); /* NOSCRIPT again */
    check_miss(f, "lease-1");
    check_hit(f, "lease-2", "mine");
    r = raw_command(&f->srv, 0, "LPUSH " PREFIX "a-list secret-item");
    freeReplyObject(r);
    assert_int_equal(t_del_eq(f, "a-list", "secret-item"), WXS_ESTORE);
    assert_true(log_contains("redis: compare-then-delete failed"));
    assert_false(log_contains("secret-item"));
    assert_true(wxs__store_ready(f->st));
    r = raw_command(&f->srv, 0, "INFO commandstats");
    assert_non_null(strstr(r->str, "cmdstat_evalsha:calls=4"));
    assert_non_null(strstr(r->str, "cmdstat_eval:calls=2"));
    assert_null(strstr(r->str, "cmdstat_wait")); /* del_eq is not confirmed by WAIT */
    freeReplyObject(r);
    r = raw_command(&f->srv, 0, "EXISTS " PREFIX "a-list");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
}

/* A store that is down answers del_eq WXS_ESTORE on a later pass of the loop, never at once. */
static void test_redis_del_eq_down(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    op o = {0};
    f->srv.port = free_port();
    redis_config(f, &f->srv, "", 0);
    f->st = open_store(f);
    assert_false(wxs__store_ready(f->st));
    assert_int_equal(wxs__store_del_eq(f->st, "k", 1, "v", 1, done_cb, &o), 0);
    assert_int_equal(o.calls, 0);
    assert_int_equal(wait_op(f, &o), WXS_ESTORE);
}

/* ------------------------------------------------------------ Redis Cluster */

/* Two keys whose <prefix><key> live on different primaries (slots 0-8191 and 8192-16383). */
static void keys_on_both_halves(char low[32], char high[32])
{
    low[0] = high[0] = '\0';
    for (int i = 0; i < 1000 && (low[0] == '\0' || high[0] == '\0'); i++) {
        char key[32], full[64];
        snprintf(key, sizeof key, "lease-%d", i);
        snprintf(full, sizeof full, PREFIX "%s", key);
        unsigned slot = wxs__cluster_key_slot(full, strlen(full));
        snprintf(slot < 8192 ? low : high, 32, "%s", key);
    }
    assert_true(low[0] != '\0' && high[0] != '\0');
}

/* del_eq on keys of both primaries, each checked on the node that holds it. */
static void test_cluster_del_eq_routed_by_key(void **state)
{
    fixture *f = *state;
    SKIP_WITHOUT_REDIS(f);
    char low[32], high[32];
    redis_server *node[2] = {&f->env->srv, &f->env->srv2};
    keys_on_both_halves(low, high);
    const char *keys[2] = {low, high};
    for (int i = 0; i < 2; i++) {
        redisReply *r = raw_command(node[i], 0, "CONFIG RESETSTAT");
        freeReplyObject(r);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(t_set(f, keys[i], "ours", 60), 0);
        redisReply *r = raw_command(node[i], 0, "GET " PREFIX "%s", keys[i]);
        assert_int_equal(r->type, REDIS_REPLY_STRING); /* the key lives on this node */
        freeReplyObject(r);
        assert_int_equal(t_del_eq(f, keys[i], "theirs"), 0);
        assert_int_equal(t_del_eq(f, keys[i], "ours"), 1);
        r = raw_command(node[i], 0, "EXISTS " PREFIX "%s", keys[i]);
        assert_int_equal(r->integer, 0);
        freeReplyObject(r);
    }
    /* a script by its body (a node may not have it loaded): EVAL, never EVALSHA */
    for (int i = 0; i < 2; i++) {
        redisReply *r = raw_command(node[i], 0, "INFO commandstats");
        assert_non_null(strstr(r->str, "cmdstat_eval:calls=2"));
        assert_null(strstr(r->str, "cmdstat_evalsha"));
        assert_null(strstr(r->str, "cmdstat_wait"));
        freeReplyObject(r);
    }
}

/* ------------------------------------------------------------ groups */

static env sqlite_env = {.backend = "sqlite", .open_store = 1};
static env sqlite_own_env = {.backend = "sqlite"};
static env redis_env = {.backend = "redis", .open_store = 1};
static env redis_own_env = {.backend = "redis"};
static env cluster_env = {.backend = "redis", .open_store = 1, .cluster = 1};

/* Group setups: the group state is the group's env, handed to each test's setup(). */
static int sqlite_group_setup(void **state, env *e)
{
    *state = e;
    snprintf(e->dir, sizeof e->dir, "/tmp/wxs-test-store-XXXXXX");
    return mkdtemp(e->dir) != NULL ? 0 : -1;
}

static int group_setup_sqlite(void **state)
{
    return sqlite_group_setup(state, &sqlite_env);
}

static int group_setup_sqlite_own(void **state)
{
    return sqlite_group_setup(state, &sqlite_own_env);
}

static int group_teardown_sqlite(void **state)
{
    env *e = *state;
    DIR *d = opendir(e->dir);
    struct dirent *de;
    char path[512];
    if (d == NULL)
        return 0;
    for (de = readdir(d); de != NULL; de = readdir(d)) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", e->dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(e->dir);
    return 0;
}

static int redis_group_setup(void **state, env *e)
{
    *state = e;
    e->skip = !have_redis_server();
    if (e->skip)
        printf("SKIP: redis-server not found (the Redis cases are skipped)\n");
    else if (e->open_store)
        redis_start(&e->srv);
    return 0;
}

static int group_setup_redis(void **state)
{
    return redis_group_setup(state, &redis_env);
}

static int group_setup_redis_own(void **state)
{
    return redis_group_setup(state, &redis_own_env);
}

static int group_teardown_redis(void **state)
{
    env *e = *state;
    redis_stop(&e->srv);
    return 0;
}

/* 1 when node says cluster_state:ok and knows both nodes. */
static int cluster_node_ok(const redis_server *node)
{
    redisReply *r = raw_command(node, 0, "CLUSTER INFO");
    int ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") != NULL &&
             strstr(r->str, "cluster_known_nodes:2") != NULL;
    freeReplyObject(r);
    return ok;
}

/* A Redis Cluster of two primaries without replicas: srv serves slots 0-8191, srv2 the rest.
 * Made with CLUSTER ADDSLOTSRANGE and MEET (no redis-cli needed); ready once both say ok. */
static int group_setup_cluster(void **state)
{
    env *e = &cluster_env;
    redis_server *node[2] = {&e->srv, &e->srv2};
    static const int first_slot[2] = {0, 8192};
    *state = e;
    e->skip = !have_redis_server();
    if (e->skip) {
        printf("SKIP: redis-server not found (the Redis Cluster cases are skipped)\n");
        return 0;
    }
    snprintf(e->dir, sizeof e->dir, "/tmp/wxs-test-cluster-XXXXXX");
    if (mkdtemp(e->dir) == NULL)
        return -1;
    for (int i = 0; i < 2; i++) {
        node[i]->bus_port = free_port();
        node[i]->data_dir = e->dir;
        redis_start(node[i]);
        redisReply *r = raw_command(node[i], 0, "CLUSTER ADDSLOTSRANGE %d %d", first_slot[i],
                                    first_slot[i] + 8191);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    redisReply *r =
        raw_command(&e->srv, 0, "CLUSTER MEET 127.0.0.1 %d %d", e->srv2.port, e->srv2.bus_port);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    for (int i = 0; i < 600 && !(cluster_node_ok(&e->srv) && cluster_node_ok(&e->srv2)); i++)
        usleep(50000); /* a hang guard: the nodes agree within a few seconds */
    assert_true(cluster_node_ok(&e->srv) && cluster_node_ok(&e->srv2));
    snprintf(e->seeds, sizeof e->seeds, "127.0.0.1:%d,127.0.0.1:%d", e->srv.port, e->srv2.port);
    return 0;
}

static int group_teardown_cluster(void **state)
{
    env *e = *state;
    redis_stop(&e->srv);
    redis_stop(&e->srv2);
    if (e->dir[0] != '\0')
        group_teardown_sqlite(state); /* removes the nodes' files and the folder */
    return 0;
}

static int run_groups(void)
{
    const struct CMUnitTest sqlite_tests[] = {BEHAVIOUR_TESTS};
    const struct CMUnitTest redis_tests[] = {BEHAVIOUR_TESTS};
    const struct CMUnitTest sqlite_own[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_wal_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_two_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_threads_and_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_purge_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_purge_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_kill9_durability, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_group_commit_failure_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_one_writer_for_two_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_close_acknowledges_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_ready_follows_the_writer, setup, teardown),
    };
    const struct CMUnitTest redis_own[] = {
        cmocka_unit_test_setup_teardown(test_redis_no_password_sends_no_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_select_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_restart_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_hung_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_noscript_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_del_eq_script, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_del_eq_down, setup, teardown),
    };
    const struct CMUnitTest cluster_tests[] = {
        cmocka_unit_test_setup_teardown(test_get_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_then_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_del, setup, teardown),
        DEL_EQ_TESTS,
        cmocka_unit_test_setup_teardown(test_cluster_del_eq_routed_by_key, setup, teardown),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("store.sqlite", sqlite_tests, group_setup_sqlite,
                                          group_teardown_sqlite);
    failed += cmocka_run_group_tests_name("store.sqlite.own", sqlite_own, group_setup_sqlite_own,
                                          group_teardown_sqlite);
    failed += cmocka_run_group_tests_name("store.redis", redis_tests, group_setup_redis,
                                          group_teardown_redis);
    failed += cmocka_run_group_tests_name("store.redis.own", redis_own, group_setup_redis_own,
                                          group_teardown_redis);
    failed += cmocka_run_group_tests_name("store.redis.cluster", cluster_tests, group_setup_cluster,
                                          group_teardown_cluster);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--sqlite-writer") == 0)
        return sqlite_writer_child(argv[2], atoi(argv[3]));
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_all_servers);
    wxs_set_log(capture_log, NULL, WXS_LOG_DEBUG, 0);
    assert_true(wxs__store_find("sqlite") == &wxs__store_sqlite_ops);
    assert_true(wxs__store_find("redis") == &wxs__store_redis_ops);
    return run_groups();
}
