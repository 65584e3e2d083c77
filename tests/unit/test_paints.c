/* test_paints.c: the One Stroke drawing stores (src/onestroke/store*.c): SQLite on a real file,
 * MongoDB without a server (bad URI, server down), and the same behaviour on a real MongoDB
 * server when WXS_TEST_MONGODB_URI names one. */
#include "sqlite_util.h"
#include "store_mongo.h"

#include <errno.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "paints_test_config.h"
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <sqlite3.h>

/* test hooks of src/onestroke/store_sqlite.c */
extern int os_store_sqlite_test_query_only;
extern void (*os_store_sqlite_work_hook)(void);

#define T0 1700000000000LL /* a fixed "now" in ms; tests step it by hand */
#define MAX_ITEMS 1024
#define PAGE_BYTES (64 * 1024 * 1024) /* the page byte budget of lists that test other things */

/* ------------------------------------------------------------ environment */

typedef struct backend {
    const char *name;
    const os_store_ops *ops;
    int mongo;
} backend;

static const backend sqlite_backend = {"sqlite", &os_store_sqlite_ops, 0};
static const backend mongo_backend = {"mongodb", &os_store_mongo_ops, 1};

typedef struct env {
    const backend *be;
    uv_loop_t loop;
    test_cfg cfg;
    os_store *st;
    char dir[64];
    char path[128];
    char db_name[64];
    char *mongo_uri; /* malloc'd */
} env;

static void config_init(test_cfg *cfg)
{
    test_cfg_init(cfg, "sqlite");
}

static void store_open(env *e)
{
    char err[256] = "";
    int rc = e->be->ops->open(&e->st, &e->loop, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err);
    if (rc != 0)
        fail_msg("open %s: %s (%s)", e->be->name, wxs_err_name(rc), err);
    assert_non_null(e->st);
}

/* Close a store and run the loop until everything it queued has finished and its memory is
 * released. */
static void store_close(env *e, os_store *st)
{
    e->be->ops->close(st);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
}

/* The test's own MongoDB URI: WXS_TEST_MONGODB_URI with its database path replaced by db (the
 * store takes the URI's database before mongo.database); a database that held the credentials
 * is kept as authSource. NULL without the env. */
static char *mongo_test_uri(const char *db)
{
    const char *base = getenv("WXS_TEST_MONGODB_URI");
    bson_error_t err;
    if (base == NULL || base[0] == '\0')
        return NULL;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(base, &err);
    if (uri == NULL)
        fail_msg("WXS_TEST_MONGODB_URI is not a valid URI: %s", err.message);
    const char *orig = mongoc_uri_get_database(uri);
    int keep_auth = orig != NULL && mongoc_uri_get_username(uri) != NULL &&
                    mongoc_uri_get_auth_source(uri) == NULL;
    const char *hosts = strstr(base, "://") + 3;
    size_t authority = (size_t)(hosts - base) + strcspn(hosts, "/?");
    const char *query = strchr(base + authority, '?');
    size_t cap = strlen(base) + strlen(db) + (orig != NULL ? strlen(orig) : 0) + 32;
    char *s = malloc(cap);
    assert_non_null(s);
    int n = snprintf(s, cap, "%.*s/%s", (int)authority, base, db);
    if (query != NULL && query[1] != '\0')
        n += snprintf(s + n, cap - (size_t)n, "?%s", query + 1);
    if (keep_auth)
        snprintf(s + n, cap - (size_t)n, "%sauthSource=%s", query != NULL ? "&" : "?", orig);
    mongoc_uri_destroy(uri);
    return s;
}

static void mongo_drop_database(const char *uri_text, const char *db)
{
    bson_error_t err;
    mongoc_client_t *client = mongoc_client_new(uri_text);
    assert_non_null(client);
    mongoc_database_t *d = mongoc_client_get_database(client, db);
    if (!mongoc_database_drop(d, &err))
        print_message("warning: dropping test database %s: %s\n", db, err.message);
    mongoc_database_destroy(d);
    mongoc_client_destroy(client);
}

static void rm_rf_dir(const char *dir)
{
    static const char *const names[] = {"paints.db", "paints.db-wal", "paints.db-shm",
                                        "paints.db-journal"};
    char p[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int setup_env(void **state)
{
    const backend *be = *state;
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->be = be;
    config_init(&e->cfg);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    if (be->mongo) {
        snprintf(e->db_name, sizeof e->db_name, "wxs_test_%d_%ld", (int)getpid(), (long)random());
        e->mongo_uri = mongo_test_uri(e->db_name);
        e->cfg.o.store = "mongodb";
        e->cfg.o.mongo_uri = e->mongo_uri != NULL ? e->mongo_uri : "";
        e->cfg.o.mongo_database = e->db_name;
    } else {
        snprintf(e->dir, sizeof e->dir, "/tmp/wxs-paints-XXXXXX");
        assert_non_null(mkdtemp(e->dir));
        snprintf(e->path, sizeof e->path, "%s/paints.db", e->dir);
        e->cfg.sqlite_path = e->path;
    }
    *state = e;
    if (!be->mongo || e->mongo_uri != NULL)
        store_open(e);
    return 0;
}

static int teardown_env(void **state)
{
    env *e = *state;
    if (e->st != NULL)
        store_close(e, e->st);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    if (e->mongo_uri != NULL) {
        mongo_drop_database(e->mongo_uri, e->db_name);
        free(e->mongo_uri);
    }
    if (e->dir[0] != '\0')
        rm_rf_dir(e->dir);
    free(e);
    return 0;
}

/* The env of a behavioural test; skips (visibly) the MongoDB run without a server. */
static env *begin(void **state)
{
    env *e = *state;
    if (e->be->mongo && e->mongo_uri == NULL) {
        print_message("SKIP: MongoDB tests need WXS_TEST_MONGODB_URI (no MongoDB server is "
                      "installable from Debian/npm here)\n");
        skip();
    }
    return e;
}

/* ------------------------------------------------------------ synchronous wrappers */

typedef struct waiter {
    int returned; /* set once the op returned: the callback must come after */
    int calls;
    int status;
} waiter;

static void done_cb(void *arg, int status)
{
    waiter *w = arg;
    assert_int_equal(w->returned, 1);
    w->calls++;
    w->status = status;
}

typedef struct item {
    char id[OS_PAINT_ID_MAX + 1];
    char *actions;
    size_t actions_len;
    int64_t created, updated;
} item;

typedef struct page {
    waiter w;
    size_t n;
    int more;
    size_t page_bytes; /* the budget the next list asks for; 0: PAGE_BYTES */
    size_t answer_len; /* the last answer's length */
    item items[MAX_ITEMS];
} page;

static void page_free(page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].actions);
    p->n = 0;
}

/* A drawing of the answer into it. */
static void item_from_json(item *it, json_t *d)
{
    const char *id = json_string_value(json_object_get(d, "id"));
    json_t *actions = json_object_get(d, "actions");
    assert_non_null(id);
    assert_true(json_is_string(actions));
    assert_true(strlen(id) <= OS_PAINT_ID_MAX);
    strcpy(it->id, id);
    it->actions_len = json_string_length(actions);
    it->actions = malloc(it->actions_len + 1);
    assert_non_null(it->actions);
    memcpy(it->actions, json_string_value(actions), it->actions_len + 1);
    it->created = json_integer_value(json_object_get(d, "createdAt"));
    it->updated = json_integer_value(json_object_get(d, "updatedAt"));
}

/* The list answer (page.h), parsed into p: its drawings, and more = a next cursor that names
 * the last of them. The answer's length is checked against p->max_bytes when set. */
static void list_cb(void *arg, int status, const os_page *pg)
{
    page *p = arg;
    done_cb(&p->w, status);
    if (status < 0) {
        assert_null(pg);
        return;
    }
    assert_non_null(pg);
    assert_non_null(pg->body.data);
    assert_int_equal(pg->body.len, pg->len);
    p->answer_len = pg->len;
    json_error_t jerr;
    json_t *doc = json_loadb(pg->body.data, pg->len, 0, &jerr);
    if (doc == NULL)
        fail_msg("the answer is not JSON: %s", jerr.text);
    assert_int_equal(json_integer_value(json_object_get(doc, "code")), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "msg")), "success");
    json_t *data = json_object_get(doc, "data");
    assert_true(json_is_array(data));
    size_t n = json_array_size(data);
    assert_true(n <= MAX_ITEMS);
    assert_int_equal(n, pg->n);
    p->n = n;
    for (size_t i = 0; i < n; i++)
        item_from_json(&p->items[i], json_array_get(data, i));
    json_t *next = json_object_get(doc, "next");
    p->more = json_is_string(next);
    assert_int_equal(p->more, pg->more);
    if (p->more) {
        char want[OS_CURSOR_MAX];
        snprintf(want, sizeof want, "%lld.%s", (long long)p->items[n - 1].created,
                 p->items[n - 1].id);
        assert_string_equal(json_string_value(next), want);
    } else {
        assert_true(json_is_null(next));
    }
    json_decref(doc);
}

static void run_until(env *e, const waiter *w)
{
    while (w->calls == 0)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_int_equal(w->calls, 1);
}

static int save_n(env *e, os_store *st, const char *openid, const char *id, const char *actions,
                  size_t len, int64_t now, long long max)
{
    waiter w = {0};
    int rc = e->be->ops->save(st, openid, id, actions, len, now, max, done_cb, &w);
    if (rc < 0)
        return rc;
    w.returned = 1;
    run_until(e, &w);
    return w.status;
}

static int save(env *e, const char *openid, const char *id, const char *actions, int64_t now)
{
    return save_n(e, e->st, openid, id, actions, strlen(actions), now, 10000);
}

static int del_in(env *e, os_store *st, const char *openid, const char *id)
{
    waiter w = {0};
    int rc = e->be->ops->del(st, openid, id, done_cb, &w);
    if (rc < 0)
        return rc;
    w.returned = 1;
    run_until(e, &w);
    return w.status;
}

static int del(env *e, const char *openid, const char *id)
{
    return del_in(e, e->st, openid, id);
}

/* List into p (after p's last item when after != 0). Returns the op's or callback's status. */
static int list_in(env *e, os_store *st, const char *openid, page *p, unsigned limit, int after)
{
    os_paint_cursor c;
    memset(&c, 0, sizeof c);
    if (after) {
        assert_true(p->n > 0);
        c.created_at_ms = p->items[p->n - 1].created;
        strcpy(c.id, p->items[p->n - 1].id);
    }
    page_free(p);
    memset(&p->w, 0, sizeof p->w);
    p->more = -1;
    size_t budget = p->page_bytes ? p->page_bytes : PAGE_BYTES;
    int rc = e->be->ops->list(st, openid, after ? &c : NULL, limit, budget, 0, list_cb, p);
    if (rc < 0)
        return rc;
    p->w.returned = 1;
    run_until(e, &p->w);
    return p->w.status;
}

static int list(env *e, const char *openid, page *p, unsigned limit, int after)
{
    return list_in(e, e->st, openid, p, limit, after);
}

static page *page_new(void)
{
    page *p = calloc(1, sizeof *p);
    assert_non_null(p);
    return p;
}

static void page_destroy(page *p)
{
    page_free(p);
    free(p);
}

/* ------------------------------------------------------------ behaviour (both stores) */

static void test_round_trip(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    assert_int_equal(list(e, "userA", p, 20, 0), 0);
    assert_int_equal(p->n, 0);
    assert_int_equal(p->more, 0);
    assert_int_equal(save(e, "userA", "d1", "[{\"x\":1}]", T0), 0);
    assert_int_equal(list(e, "userA", p, 20, 0), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->more, 0);
    assert_string_equal(p->items[0].id, "d1");
    assert_string_equal(p->items[0].actions, "[{\"x\":1}]");
    assert_int_equal(p->items[0].created, T0);
    assert_int_equal(p->items[0].updated, T0);
    assert_int_equal(del(e, "userA", "d1"), 0);
    assert_int_equal(list(e, "userA", p, 20, 0), 0);
    assert_int_equal(p->n, 0);
    assert_int_equal(del(e, "userA", "d1"), WXS_ENOTFOUND);
    assert_true(e->be->ops->ready(e->st));
    page_destroy(p);
}

/* Ops refuse bad arguments by their return value and never call back. */
static void test_bad_arguments(void **state)
{
    env *e = begin(state);
    const os_store_ops *ops = e->be->ops;
    waiter w = {0};
    char long_openid[OS_OPENID_MAX + 2];
    memset(long_openid, 'o', sizeof long_openid - 1);
    long_openid[sizeof long_openid - 1] = '\0';
    os_paint_cursor bad = {.created_at_ms = 1, .id = "no/slash"};
    assert_int_equal(ops->save(e->st, "u", "bad id", "1", 1, T0, 10, done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->save(e->st, "u", "", "1", 1, T0, 10, done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->save(e->st, "", "a", "1", 1, T0, 10, done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->save(e->st, long_openid, "a", "1", 1, T0, 10, done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->save(e->st, "u", "a", "1", 1, T0, 0, done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->save(e->st, "u", "a", "1", 1, T0, 10, NULL, &w), WXS_EINVAL);
    assert_int_equal(ops->del(e->st, "u", "a.b", done_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->list(e->st, "u", NULL, 0, PAGE_BYTES, 0, list_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->list(e->st, "u", NULL, 1001, PAGE_BYTES, 0, list_cb, &w), WXS_EINVAL);
    assert_int_equal(ops->list(e->st, "u", &bad, 10, PAGE_BYTES, 0, list_cb, &w), WXS_EINVAL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    assert_int_equal(w.calls, 0);
}

/* Save ids d0..d(n-1) for openid, d<i> at T0 + i * step (so equal times when step is 0). */
static void save_many(env *e, const char *openid, int n, int64_t step)
{
    char id[16], actions[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "d%d", i);
        snprintf(actions, sizeof actions, "[%d]", i);
        assert_int_equal(save(e, openid, id, actions, T0 + i * step), 0);
    }
}

/* Newest first by createdAt, ties broken by id descending; keyset pages of 3 over 9 drawings:
 * 3 pages, `more` exactly on the first two. */
static void test_order_and_paging(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    static const char *const want[] = {"d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1", "d0"};
    save_many(e, "pager", 9, 1000);
    for (int pg = 0; pg < 3; pg++) {
        assert_int_equal(list(e, "pager", p, 3, pg > 0), 0);
        assert_int_equal(p->n, 3);
        assert_int_equal(p->more, pg < 2);
        for (int i = 0; i < 3; i++) {
            assert_string_equal(p->items[i].id, want[pg * 3 + i]);
            assert_int_equal(p->items[i].created, T0 + (8 - (pg * 3 + i)) * 1000);
        }
    }
    /* one page holding all: no more */
    assert_int_equal(list(e, "pager", p, 9, 0), 0);
    assert_int_equal(p->n, 9);
    assert_int_equal(p->more, 0);
    assert_int_equal(list(e, "pager", p, 8, 0), 0);
    assert_int_equal(p->more, 1);
    /* equal createdAt: id order decides, and the cursor still splits exactly */
    save_many(e, "ties", 5, 0);
    assert_int_equal(list(e, "ties", p, 2, 0), 0);
    assert_string_equal(p->items[0].id, "d4");
    assert_string_equal(p->items[1].id, "d3");
    assert_int_equal(list(e, "ties", p, 2, 1), 0);
    assert_string_equal(p->items[0].id, "d2");
    assert_string_equal(p->items[1].id, "d1");
    assert_int_equal(p->more, 1);
    assert_int_equal(list(e, "ties", p, 2, 1), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->items[0].id, "d0");
    assert_int_equal(p->more, 0);
    page_destroy(p);
}

/* The original defect: save keyed by id alone. Every op is scoped to the openId. */
static void test_owner_scoping(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    assert_int_equal(save(e, "alice", "shared", "\"alice's\"", T0), 0);
    assert_int_equal(list(e, "bob", p, 20, 0), 0);
    assert_int_equal(p->n, 0);
    /* bob saving alice's id makes bob's own drawing */
    assert_int_equal(save(e, "bob", "shared", "\"bob's\"", T0 + 5), 0);
    assert_int_equal(list(e, "alice", p, 20, 0), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->items[0].actions, "\"alice's\"");
    assert_int_equal(p->items[0].updated, T0);
    assert_int_equal(list(e, "bob", p, 20, 0), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->items[0].actions, "\"bob's\"");
    /* bob deleting alice's (only) drawing: not found, alice's stays */
    assert_int_equal(del(e, "bob", "shared"), 0);
    assert_int_equal(del(e, "bob", "shared"), WXS_ENOTFOUND);
    assert_int_equal(list(e, "alice", p, 20, 0), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->items[0].actions, "\"alice's\"");
    /* openids that are prefixes of one another do not mix */
    assert_int_equal(list(e, "alic", p, 20, 0), 0);
    assert_int_equal(p->n, 0);
    page_destroy(p);
}

static void test_resave_keeps_created(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    assert_int_equal(save(e, "u", "x", "[1]", T0), 0);
    assert_int_equal(save(e, "u", "y", "[2]", T0 + 10), 0);
    assert_int_equal(save(e, "u", "x", "[1,1]", T0 + 99), 0);
    assert_int_equal(list(e, "u", p, 20, 0), 0);
    assert_int_equal(p->n, 2);
    /* x keeps its place (createdAt T0), y stays newest */
    assert_string_equal(p->items[0].id, "y");
    assert_string_equal(p->items[1].id, "x");
    assert_string_equal(p->items[1].actions, "[1,1]");
    assert_int_equal(p->items[1].created, T0);
    assert_int_equal(p->items[1].updated, T0 + 99);
    page_destroy(p);
}

static void test_max_per_user(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    const char *a = "[0]";
    assert_int_equal(save_n(e, e->st, "m", "a", a, 3, T0, 3), 0);
    assert_int_equal(save_n(e, e->st, "m", "b", a, 3, T0 + 1, 3), 0);
    assert_int_equal(save_n(e, e->st, "m", "c", a, 3, T0 + 2, 3), 0);
    assert_int_equal(save_n(e, e->st, "m", "d", a, 3, T0 + 3, 3), WXS_ETOOBIG);
    assert_int_equal(list(e, "m", p, 20, 0), 0);
    assert_int_equal(p->n, 3);
    assert_string_equal(p->items[0].id, "c");
    /* re-saving an existing id at the limit still works */
    assert_int_equal(save_n(e, e->st, "m", "b", "[9]", 3, T0 + 4, 3), 0);
    /* the limit is per user */
    assert_int_equal(save_n(e, e->st, "other", "d", a, 3, T0 + 5, 3), 0);
    /* a delete frees a slot */
    assert_int_equal(del(e, "m", "a"), 0);
    assert_int_equal(save_n(e, e->st, "m", "d", a, 3, T0 + 6, 3), 0);
    assert_int_equal(save_n(e, e->st, "m", "e", a, 3, T0 + 7, 3), WXS_ETOOBIG);
    assert_int_equal(list(e, "m", p, 20, 0), 0);
    assert_int_equal(p->n, 3);
    assert_string_equal(p->items[0].id, "d");
    assert_string_equal(p->items[1].id, "c");
    assert_string_equal(p->items[2].id, "b");
    assert_string_equal(p->items[2].actions, "[9]");
    page_destroy(p);
}

static void test_utf8_and_large_actions(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    static const char utf8[] =
        "[{\"t\":\"一笔到底 ✍️ 🎨\",\"q\":\"\\\"\\\\\\u0001\",\"n\":\"é\\n\"}]";
    assert_int_equal(save(e, "微信用户", "u8", utf8, T0), 0);
    assert_int_equal(list(e, "微信用户", p, 1, 0), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->items[0].actions_len, strlen(utf8));
    assert_memory_equal(p->items[0].actions, utf8, strlen(utf8));

    size_t big = 512 * 1024;
    char *actions = malloc(big + 1);
    assert_non_null(actions);
    actions[0] = '[';
    for (size_t i = 1; i < big - 1; i++)
        actions[i] = i % 2 ? '1' : ',';
    actions[big - 2] = '1';
    actions[big - 1] = ']';
    actions[big] = '\0';
    assert_int_equal(save_n(e, e->st, "big", "big", actions, big, T0, 10), 0);
    assert_int_equal(list(e, "big", p, 5, 0), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->items[0].actions_len, big);
    assert_memory_equal(p->items[0].actions, actions, big);
    free(actions);
    page_destroy(p);
}

/* Actions of n raw bytes that escape to about 2n: a JSON string of backslashes. */
static char *backslashes(size_t n)
{
    char *a = malloc(n + 1);
    assert_non_null(a);
    memset(a, '\\', n);
    memcpy(a, "[\"", 2);
    memcpy(a + n - 2, "\"]", 2);
    a[n] = '\0';
    return a;
}

static void count_cb(void *arg, int status, const os_page *pg)
{
    page *p = arg;
    done_cb(&p->w, status);
    assert_int_equal(status, 0);
    assert_null(pg->body.data);
    p->answer_len = pg->len;
    p->n = pg->n;
    p->more = pg->more;
}

/* A page has a byte budget counted on the escaped answer: a drawing that would take the answer
 * past it ends the page with a next cursor; a page always holds one drawing, however large;
 * following the cursors gives every drawing once, newest first; counting (HEAD) gives the same
 * length without an answer. */
static void test_page_byte_budget(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    char *actions = backslashes(1000); /* 996 backslashes: about 2,000 bytes escaped */
    char id[16];
    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof id, "b%02d", i);
        assert_int_equal(save_n(e, e->st, "budget", id, actions, 1000, T0 + i, 100), 0);
    }
    const size_t budget = 5000;
    int seen[12] = {0}, pages = 0, want = 11;
    p->page_bytes = budget;
    assert_int_equal(list(e, "budget", p, 100, 0), 0);
    for (;;) {
        pages++;
        assert_true(p->n >= 1);
        assert_true(p->answer_len <= budget);
        for (size_t k = 0; k < p->n; k++, want--) {
            snprintf(id, sizeof id, "b%02d", want);
            assert_string_equal(p->items[k].id, id);
            assert_int_equal(p->items[k].actions_len, 1000);
            assert_memory_equal(p->items[k].actions, actions, 1000);
            seen[want]++;
        }
        if (!p->more)
            break;
        assert_int_equal(list(e, "budget", p, 100, 1), 0);
    }
    assert_int_equal(want, -1);
    for (int i = 0; i < 12; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(pages, 6); /* two drawings (about 4,100 bytes) per 5,000-byte page */

    /* a budget below one drawing: one drawing per page, every page but the last says more */
    p->page_bytes = 1024;
    assert_int_equal(list(e, "budget", p, 100, 0), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->more, 1);
    assert_true(p->answer_len > 1024 && p->answer_len <= 2 * 1000 + OS_PAGE_OVERHEAD);

    /* counting only: the length of the same answer, nothing built */
    p->page_bytes = budget;
    assert_int_equal(list(e, "budget", p, 100, 0), 0);
    size_t full = p->answer_len;
    memset(&p->w, 0, sizeof p->w);
    page_free(p);
    assert_int_equal(e->be->ops->list(e->st, "budget", NULL, 100, budget, 1, count_cb, p), 0);
    p->w.returned = 1;
    run_until(e, &p->w);
    assert_int_equal(p->answer_len, full);
    assert_int_equal(p->n, 2);
    assert_int_equal(p->more, 1);
    p->n = 0;
    free(actions);
    page_destroy(p);
}

/* The page builder alone: escaped lengths and the answer it writes. */
static void test_page_builder(void **state)
{
    (void)state;
    assert_int_equal(os_json_escaped_len("ab", 2), 2);
    assert_int_equal(os_json_escaped_len("\"\\\n\t\r", 5), 10);
    assert_int_equal(os_json_escaped_len("\x01", 1), 6);
    assert_int_equal(os_json_escaped_len("\xe4\xb8\x80", 3), 3);
    os_page pg;
    os_paint d = {
        .id = "a", .actions = "[\"x\"]", .actions_len = 5, .created_at_ms = 7, .updated_at_ms = 8};
    assert_int_equal(os_page_init(&pg, 64, 0), 0);
    assert_int_equal(os_page_add(&pg, &d), 0); /* the first always fits */
    assert_int_equal(os_page_add(&pg, &d), OS_PAGE_FULL);
    assert_int_equal(os_page_finish(&pg, 1), 0);
    assert_string_equal(pg.body.data, "{\"code\":0,\"msg\":\"success\",\"data\":[{\"id\":\"a\","
                                      "\"actions\":\"[\\\"x\\\"]\",\"createdAt\":7,"
                                      "\"updatedAt\":8}],\"next\":\"7.a\"}");
    assert_int_equal(pg.len, strlen(pg.body.data));
    os_page_free(&pg);
    assert_int_equal(os_page_init(&pg, 64, 1), 0);
    assert_int_equal(os_page_finish(&pg, 1), 0); /* empty: no cursor to give */
    assert_int_equal(pg.len, strlen("{\"code\":0,\"msg\":\"success\",\"data\":[],\"next\":null}"));
    assert_null(pg.body.data);
    os_page_free(&pg);
}

/* Two instances (two workers, or two processes) on one store see each other's writes. */
static void test_two_instances(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    os_store *second = NULL;
    char err[256] = "";
    assert_int_equal(
        e->be->ops->open(&second, &e->loop, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err), 0);
    assert_int_equal(save(e, "two", "one", "[1]", T0), 0);
    assert_int_equal(list_in(e, second, "two", p, 10, 0), 0);
    assert_int_equal(p->n, 1);
    assert_int_equal(save_n(e, second, "two", "two", "[2]", 3, T0 + 1, 2), 0);
    assert_int_equal(save_n(e, second, "two", "three", "[3]", 3, T0 + 2, 2), WXS_ETOOBIG);
    assert_int_equal(list(e, "two", p, 10, 0), 0);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->items[0].id, "two");
    assert_int_equal(del_in(e, second, "two", "one"), 0);
    assert_int_equal(del(e, "two", "one"), WXS_ENOTFOUND);
    store_close(e, second);
    page_destroy(p);
}

typedef struct inflight {
    waiter w[40];
    page *pages[8];
} inflight;

/* Close with ops in flight: every callback runs exactly once, with its real result or
 * WXS_ECANCELED; a canceled save stored nothing and an acknowledged one is there. */
static void test_close_in_flight(void **state)
{
    env *e = begin(state);
    inflight *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "f%d", i);
        assert_int_equal(
            e->be->ops->save(e->st, "fly", id, "[1]", 3, T0 + i, 100, done_cb, &f->w[i]), 0);
        f->w[i].returned = 1;
    }
    for (int i = 0; i < 8; i++) {
        f->pages[i] = page_new();
        assert_int_equal(
            e->be->ops->list(e->st, "fly", NULL, 50, PAGE_BYTES, 0, list_cb, f->pages[i]), 0);
        f->pages[i]->w.returned = 1;
    }
    store_close(e, e->st);
    e->st = NULL;
    int acked = 0;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(f->w[i].calls, 1);
        assert_true(f->w[i].status == 0 || f->w[i].status == WXS_ECANCELED);
        acked += f->w[i].status == 0;
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(f->pages[i]->w.calls, 1);
        assert_true(f->pages[i]->w.status == 0 || f->pages[i]->w.status == WXS_ECANCELED);
        page_destroy(f->pages[i]);
    }
    /* after close: refused (the store is gone, so check on a fresh one that it kept exactly
     * the acknowledged saves) */
    store_open(e);
    page *p = page_new();
    assert_int_equal(list(e, "fly", p, 100, 0), 0);
    assert_int_equal((int)p->n, acked);
    for (size_t k = 0; k < p->n; k++) {
        int i = atoi(p->items[k].id + 1);
        assert_int_equal(f->w[i].status, 0);
    }
    print_message("close in flight (%s): %d of 40 saves acknowledged\n", e->be->name, acked);
    page_destroy(p);
    free(f);
}

static void test_ops_after_close(void **state)
{
    env *e = begin(state);
    waiter w = {0};
    os_store *st = e->st;
    e->be->ops->close(st);
    assert_false(e->be->ops->ready(st));
    assert_int_equal(e->be->ops->save(st, "u", "a", "1", 1, T0, 10, done_cb, &w), WXS_ECANCELED);
    assert_int_equal(e->be->ops->del(st, "u", "a", done_cb, &w), WXS_ECANCELED);
    assert_int_equal(e->be->ops->list(st, "u", NULL, 5, PAGE_BYTES, 0, list_cb, &w), WXS_ECANCELED);
    e->be->ops->close(st); /* twice is harmless */
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    e->st = NULL;
    assert_int_equal(w.calls, 0);
}

/* ------------------------------------------------------------ SQLite only */

static sqlite3 *raw_open(const env *e)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static const char *raw_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
}

/* The per-user counts always equal the rows, and the session store's user_version is left
 * alone. */
static void test_sqlite_schema_and_counts(void **state)
{
    env *e = begin(state);
    char mode[16];
    save_many(e, "c1", 4, 10);
    save_many(e, "c2", 2, 10);
    assert_int_equal(save(e, "c1", "d0", "[7]", T0 + 100), 0);
    assert_int_equal(del(e, "c1", "d1"), 0);
    assert_int_equal(del(e, "c2", "d0"), 0);
    assert_int_equal(del(e, "c2", "d1"), 0);
    sqlite3 *db = raw_open(e);
    assert_int_equal(raw_int(db, "SELECT n FROM paint_counts WHERE open_id = 'c1'"), 3);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM paints WHERE open_id = 'c1'"), 3);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM paint_counts WHERE open_id = 'c2'"), 0);
    assert_int_equal(raw_int(db, "SELECT version FROM wxs_schema WHERE component = 'paints'"), 1);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), 0);
    assert_string_equal(raw_text(db, "PRAGMA journal_mode", mode, sizeof mode), "wal");
    /* the session store's version marker survives a reopen of the paints store */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
    store_close(e, e->st);
    store_open(e);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
    /* a file from a newer version is refused */
    assert_int_equal(sqlite3_exec(db, "UPDATE wxs_schema SET version = 2", NULL, NULL, NULL),
                     SQLITE_OK);
    os_store *st = NULL;
    char err[256] = "";
    assert_int_equal(
        e->be->ops->open(&st, &e->loop, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err),
        WXS_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(sqlite3_exec(db, "UPDATE wxs_schema SET version = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

static void assert_plan_uses_index(sqlite3 *db, const char *sql)
{
    char q[512];
    sqlite3_stmt *s = NULL;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    int seek = 0, sorts = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        seek += strstr(detail, "SEARCH paints USING INDEX paints_by_time (open_id=?") != NULL;
        sorts += strstr(detail, "TEMP B-TREE") != NULL;
    }
    sqlite3_finalize(s);
    assert_int_equal(seek, 1);
    assert_int_equal(sorts, 0);
}

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* A user with 10,000 drawings: pages are index seeks (no scan, no sort), fast at any depth, and
 * the limit check does not count rows. */
static void test_sqlite_ten_thousand(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    sqlite3 *db = raw_open(e);
    sqlite3_stmt *ins = NULL;
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO paints VALUES ('heavy', ?1, "
                                        "'[1,2,3]', ?2, ?2)",
                                        -1, &ins, NULL),
                     SQLITE_OK);
    char id[16];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "p%05d", i);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, T0 + i);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO paint_counts VALUES ('heavy', 10000); COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_plan_uses_index(db, "SELECT id, actions, created_at, updated_at FROM paints WHERE "
                               "open_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?4");
    assert_plan_uses_index(db, "SELECT id, actions, created_at, updated_at FROM paints WHERE "
                               "open_id = ?1 AND (created_at, id) < (?2, ?3) ORDER BY "
                               "created_at DESC, id DESC LIMIT ?4");
    sqlite3_close(db);

    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    assert_int_equal(list(e, "heavy", p, 100, 0), 0);
    assert_string_equal(p->items[0].id, "p09999");
    int pages = 1;
    while (p->more) {
        assert_int_equal(list(e, "heavy", p, 100, 1), 0);
        pages++;
    }
    double ms = elapsed_ms(&t);
    assert_int_equal(pages, 100);
    assert_string_equal(p->items[p->n - 1].id, "p00000");
    print_message("10,000 drawings: 100 pages of 100 in %.1f ms\n", ms);
    assert_true(ms < 5000);
    assert_int_equal(save_n(e, e->st, "heavy", "new", "[]", 2, T0 + 20000, 10000), WXS_ETOOBIG);
    assert_int_equal(save_n(e, e->st, "heavy", "p00042", "[]", 2, T0 + 20000, 10000), 0);
    page_destroy(p);
}

/* A write the file refuses is WXS_ESTORE and nothing is acknowledged. Root ignores file
 * permissions, so the refusal comes from the test hook (PRAGMA query_only on the write
 * connection: SQLite answers SQLITE_READONLY as for a read-only file); the chmod variant runs
 * when not root. Reads still work. */
static void test_sqlite_write_refused(void **state)
{
    env *e = begin(state);
    page *p = page_new();
    assert_int_equal(save(e, "ro", "keep", "[1]", T0), 0);
    store_close(e, e->st);
    os_store_sqlite_test_query_only = 1;
    store_open(e);
    os_store_sqlite_test_query_only = 0;
    assert_int_equal(save(e, "ro", "new", "[2]", T0 + 1), WXS_ESTORE);
    assert_int_equal(save(e, "ro", "keep", "[3]", T0 + 1), WXS_ESTORE);
    assert_int_equal(del(e, "ro", "keep"), WXS_ESTORE);
    assert_int_equal(list(e, "ro", p, 10, 0), 0);
    assert_int_equal(p->n, 1);
    assert_string_equal(p->items[0].actions, "[1]");
    store_close(e, e->st);
    e->st = NULL;
    if (geteuid() == 0) {
        print_message("note: running as root, chmod 0444 cannot make the file read-only; "
                      "the query_only hook above covered the refused write\n");
    } else {
        chmod(e->path, 0444);
        chmod(e->dir, 0555);
        char err[256] = "";
        int rc = e->be->ops->open(&e->st, &e->loop, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err);
        if (rc == 0) {
            assert_int_equal(save(e, "ro", "new", "[2]", T0 + 1), WXS_ESTORE);
            store_close(e, e->st);
        } else {
            assert_int_equal(rc, WXS_ESTORE);
        }
        chmod(e->dir, 0700);
        chmod(e->path, 0644);
    }
    store_open(e);
    assert_int_equal(list(e, "ro", p, 10, 0), 0);
    assert_int_equal(p->n, 1);
    page_destroy(p);
}

static void test_sqlite_open_errors(void **state)
{
    env *e = begin(state);
    os_store *st = NULL;
    char err[256] = "";
    test_cfg cfg = e->cfg;
    cfg.sqlite_path = "/nonexistent-dir-wxs/paints.db";
    assert_int_equal(e->be->ops->open(&st, &e->loop, &cfg.o, cfg.sqlite_path, err, sizeof err),
                     WXS_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err, "cannot open"));
    cfg.sqlite_path = "";
    assert_int_equal(e->be->ops->open(&st, &e->loop, &cfg.o, cfg.sqlite_path, err, sizeof err),
                     WXS_ECONFIG);
    assert_non_null(strstr(err, "sqlite.path"));
}

/* An acknowledged save survives kill -9 of the process: a child saves, reports the callback
 * through a pipe and is killed; the parent finds the drawing. */
static void test_sqlite_kill9(void **state)
{
    env *e = begin(state);
    int fds[2];
    /* a write first, so that the writer thread (started by this process's open) waits idle when
     * fork() copies the process: a thread inside malloc at that moment would leave the child's
     * allocator locked (ASan's allocator is not fork-safe) */
    assert_int_equal(save(e, "before-fork", "w", "[0]", T0), 0);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uv_loop_t loop;
        os_store *st = NULL;
        char err[256];
        waiter w = {.returned = 1};
        close(fds[0]);
        uv_loop_init(&loop);
        if (os_store_sqlite_ops.open(&st, &loop, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err) !=
            0)
            _exit(2);
        for (int i = 0; i < 5; i++) {
            char id[8];
            snprintf(id, sizeof id, "k%d", i);
            w.calls = 0;
            if (os_store_sqlite_ops.save(st, "kill", id, "[\"durable\"]", 11, T0 + i, 100, done_cb,
                                         &w) != 0)
                _exit(3);
            while (w.calls == 0)
                uv_run(&loop, UV_RUN_ONCE);
            if (w.status != 0 || write(fds[1], "k", 1) != 1)
                _exit(4);
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    char buf[8];
    size_t got = 0;
    while (got < 5) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fds[0]);
    kill(pid, SIGKILL);
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    page *p = page_new();
    assert_int_equal(list(e, "kill", p, 10, 0), 0);
    assert_int_equal(p->n, 5);
    assert_string_equal(p->items[0].id, "k4");
    assert_string_equal(p->items[0].actions, "[\"durable\"]");
    page_destroy(p);
}

/* A gate the writer thread waits at (the work hook, before a job), so that jobs queue behind. */
static sem_t gate;
static atomic_int gate_armed;

static void gate_hook(void)
{
    if (atomic_exchange(&gate_armed, 0))
        sem_wait(&gate);
}

static void arm_gate(void)
{
    assert_int_equal(sem_init(&gate, 0, 0), 0);
    atomic_store(&gate_armed, 1);
    os_store_sqlite_work_hook = gate_hook;
}

/* Issue a save whose callback the caller waits for later. */
static void save_async(env *e, os_store *st, const char *id, waiter *w)
{
    assert_int_equal(e->be->ops->save(st, "batch", id, "[1]", 3, T0, 100, done_cb, w), 0);
    w->returned = 1;
}

/* Two instances on two loops share the process's one writer of the file, and saves queued
 * together commit together: one refused by the file (the query_only hook on the second
 * instance) fails alone, its batch-mates from the other instance are stored. */
static void test_sqlite_shared_writer_failure_alone(void **state)
{
    env *e = begin(state);
    uv_loop_t loop2;
    os_store *refusing = NULL;
    char err[256] = "";
    waiter w[4];
    memset(w, 0, sizeof w);
    assert_int_equal(uv_loop_init(&loop2), 0);
    os_store_sqlite_test_query_only = 1;
    assert_int_equal(
        e->be->ops->open(&refusing, &loop2, &e->cfg.o, e->cfg.sqlite_path, err, sizeof err), 0);
    os_store_sqlite_test_query_only = 0;
    assert_int_equal(wxs__sqlite_writer_users(e->path), 2);
    arm_gate();
    save_async(e, e->st, "gate", &w[0]); /* holds the writer */
    save_async(e, e->st, "x1", &w[1]);
    save_async(e, refusing, "y", &w[2]);
    save_async(e, e->st, "x2", &w[3]);
    assert_int_equal(sem_post(&gate), 0);
    while (w[2].calls == 0)
        uv_run(&loop2, UV_RUN_ONCE);
    run_until(e, &w[3]);
    os_store_sqlite_work_hook = NULL;
    assert_int_equal(w[0].status, 0);
    assert_int_equal(w[1].status, 0);
    assert_int_equal(w[2].status, WXS_ESTORE);
    assert_int_equal(w[3].status, 0);
    page *p = page_new();
    assert_int_equal(list(e, "batch", p, 10, 0), 0);
    assert_int_equal(p->n, 3);
    for (size_t i = 0; i < p->n; i++)
        assert_string_not_equal(p->items[i].id, "y");
    e->be->ops->close(refusing);
    assert_int_equal(uv_run(&loop2, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop2), 0);
    assert_int_equal(wxs__sqlite_writer_users(e->path), 1);
    page_destroy(p);
}

/* close() with saves queued behind a running one: all of them still commit and call back with
 * their real result (none is canceled), after close() returned. */
static void test_sqlite_close_acknowledges_saves(void **state)
{
    env *e = begin(state);
    waiter w[10];
    char id[8];
    memset(w, 0, sizeof w);
    arm_gate();
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "c%d", i);
        save_async(e, e->st, id, &w[i]);
    }
    e->be->ops->close(e->st);
    e->st = NULL;
    for (int i = 0; i < 10; i++)
        assert_int_equal(w[i].calls, 0); /* close() calls nothing; the writer is held */
    assert_int_equal(sem_post(&gate), 0);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    os_store_sqlite_work_hook = NULL;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_int_equal(w[i].status, 0);
    }
    assert_int_equal(wxs__sqlite_writer_users(e->path), 0);
    store_open(e);
    page *p = page_new();
    assert_int_equal(list(e, "batch", p, 20, 0), 0);
    assert_int_equal(p->n, 10);
    page_destroy(p);
}

/* ------------------------------------------------------------ MongoDB without a server
 * (the pure document, URI and error mapping: test_paints_mongo_doc.c) */

static char log_lines[16384];
static size_t log_len;

static void capture_log(void *arg, wxs_log_level level, const char *line)
{
    size_t n = strlen(line);
    if (n + 2 < sizeof log_lines - log_len) {
        memcpy(log_lines + log_len, line, n);
        log_lines[log_len + n] = '\n';
        log_len += n + 1;
        log_lines[log_len] = '\0';
    }
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

/* MongoDB down (nothing listens on the port): every op ends with WXS_ESTORE within the
 * selection timeout, ready() is 0, close is clean, and the password is never logged. */
static void test_mongo_server_down(void **state)
{
    env e;
    memset(&e, 0, sizeof e);
    e.be = &mongo_backend;
    config_init(&e.cfg);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    e.cfg.o.store = "mongodb";
    e.cfg.o.mongo_username = "wx";
    e.cfg.o.mongo_password = "Sup3r-s3cret";
    e.cfg.o.mongo_port = free_port();
    e.cfg.o.mongo_query = "serverSelectionTimeoutMS=300&connectTimeoutMS=300";
    log_len = 0;
    log_lines[0] = '\0';
    wxs_set_log(capture_log, NULL, WXS_LOG_DEBUG, 0);
    store_open(&e);
    page *p = page_new();
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    assert_int_equal(save(&e, "u", "a", "[1]", T0), WXS_ESTORE);
    assert_int_equal(del(&e, "u", "a"), WXS_ESTORE);
    assert_int_equal(list(&e, "u", p, 10, 0), WXS_ESTORE);
    assert_true(elapsed_ms(&t) < 10000);
    assert_false(e.be->ops->ready(e.st));
    /* close with ops in flight against a dead server */
    waiter w[6] = {{0}};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(e.be->ops->save(e.st, "u", "b", "[1]", 3, T0, 10, done_cb, &w[i]), 0);
        w[i].returned = 1;
    }
    store_close(&e, e.st);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(w[i].calls, 1);
        assert_true(w[i].status == WXS_ESTORE || w[i].status == WXS_ECANCELED);
    }
    wxs_set_log(NULL, NULL, WXS_LOG_INFO, 0);
    assert_non_null(strstr(log_lines, "mongodb://wx:***@127.0.0.1:"));
    assert_non_null(strstr(log_lines, "server unreachable"));
    assert_null(strstr(log_lines, "Sup3r-s3cret"));
    assert_int_equal(uv_loop_close(&e.loop), 0);
    page_destroy(p);
}

static void test_mongo_bad_uri(void **state)
{
    uv_loop_t loop;
    test_cfg cfg;
    os_store *st = NULL;
    char err[256] = "";
    uv_loop_init(&loop);
    config_init(&cfg);
    cfg.o.mongo_uri = "mongodb://user:Hunter2@@@/?=&";
    log_len = 0;
    log_lines[0] = '\0';
    wxs_set_log(capture_log, NULL, WXS_LOG_DEBUG, 0);
    assert_int_equal(os_store_mongo_ops.open(&st, &loop, &cfg.o, cfg.sqlite_path, err, sizeof err),
                     WXS_ECONFIG);
    wxs_set_log(NULL, NULL, WXS_LOG_INFO, 0);
    assert_null(st);
    assert_non_null(strstr(err, "invalid connection URI"));
    assert_null(strstr(err, "Hunter2"));
    assert_null(strstr(log_lines, "Hunter2"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_registry(void **state)
{
    assert_ptr_equal(os_store_find("sqlite"), &os_store_sqlite_ops);
    assert_ptr_equal(os_store_find("mongodb"), &os_store_mongo_ops);
    assert_null(os_store_find("redis"));
    assert_null(os_store_find(NULL));
    assert_true(os_paint_id_valid("aZ09_-", 6));
    assert_false(os_paint_id_valid("", 0));
    assert_false(os_paint_id_valid("a.b", 3));
    assert_false(os_paint_id_valid("a b", 3));
    assert_false(os_paint_id_valid("é", 2));
    char id[OS_PAINT_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    assert_true(os_paint_id_valid(id, OS_PAINT_ID_MAX));
    assert_false(os_paint_id_valid(id, OS_PAINT_ID_MAX + 1));
}

/* ------------------------------------------------------------ main */

#define BEHAVIOUR(be)                                                                              \
    cmocka_unit_test_prestate_setup_teardown(test_round_trip, setup_env, teardown_env, be),        \
        cmocka_unit_test_prestate_setup_teardown(test_bad_arguments, setup_env, teardown_env, be), \
        cmocka_unit_test_prestate_setup_teardown(test_order_and_paging, setup_env, teardown_env,   \
                                                 be),                                              \
        cmocka_unit_test_prestate_setup_teardown(test_owner_scoping, setup_env, teardown_env, be), \
        cmocka_unit_test_prestate_setup_teardown(test_resave_keeps_created, setup_env,             \
                                                 teardown_env, be),                                \
        cmocka_unit_test_prestate_setup_teardown(test_max_per_user, setup_env, teardown_env, be),  \
        cmocka_unit_test_prestate_setup_teardown(test_utf8_and_large_actions, setup_env,           \
                                                 teardown_env, be),                                \
        cmocka_unit_test_prestate_setup_teardown(test_page_byte_budget, setup_env, teardown_env,   \
                                                 be),                                              \
        cmocka_unit_test_prestate_setup_teardown(test_two_instances, setup_env, teardown_env, be), \
        cmocka_unit_test_prestate_setup_teardown(test_close_in_flight, setup_env, teardown_env,    \
                                                 be),                                              \
        cmocka_unit_test_prestate_setup_teardown(test_ops_after_close, setup_env, teardown_env,    \
                                                 be)

#define SQLITE_ONLY(test)                                                                          \
    cmocka_unit_test_prestate_setup_teardown(test, setup_env, teardown_env, (void *)&sqlite_backend)

int main(void)
{
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_page_builder),
    };
    const struct CMUnitTest sqlite_tests[] = {
        BEHAVIOUR((void *)&sqlite_backend),
        SQLITE_ONLY(test_sqlite_schema_and_counts),
        SQLITE_ONLY(test_sqlite_ten_thousand),
        SQLITE_ONLY(test_sqlite_write_refused),
        SQLITE_ONLY(test_sqlite_open_errors),
        SQLITE_ONLY(test_sqlite_kill9),
        SQLITE_ONLY(test_sqlite_shared_writer_failure_alone),
        SQLITE_ONLY(test_sqlite_close_acknowledges_saves),
    };
    const struct CMUnitTest mongo_offline[] = {
        cmocka_unit_test(test_mongo_bad_uri),
        cmocka_unit_test(test_mongo_server_down),
    };
    const struct CMUnitTest mongo_server[] = {
        BEHAVIOUR((void *)&mongo_backend),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("paints", common, NULL, NULL);
    failed += cmocka_run_group_tests_name("paints_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("paints_mongo_offline", mongo_offline, NULL, NULL);
    failed += cmocka_run_group_tests_name("paints_mongo_server", mongo_server, NULL, NULL);
    return failed == 0 ? 0 : 1;
}
