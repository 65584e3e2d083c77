/* test_paints_mongo_live.c: the MongoDB drawing store (src/onestroke/store_mongo.c) against the
 * server WXS_TEST_MONGODB_URI names: a save's duplicate-key path (E11000 on the upsert, then one
 * update), concurrent saves of one new id, and documents read whole where the server ignores the
 * list's projection. Run by tests/integration/run_mongodb.py, which starts a server; without
 * the URI it prints why and exits 77 (skipped). Prints what it measured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs */

#include "paints_test_config.h"

#include "store_mongo.h"

#include <jansson.h>
#include <mongoc/mongoc.h>

#define T0 1700000000000LL /* a fixed "now" in ms */
#define INSTANCES 4        /* store instances saving one id at once */
#define ROUNDS 50          /* new ids saved by all of them */

/* ------------------------------------------------------------ environment */

typedef struct env {
    uv_loop_t loop;
    test_cfg cfg;
    os_store *st;
    char db_name[64];
    char *uri;            /* the test's URI: WXS_TEST_MONGODB_URI on db_name; malloc'd */
    mongoc_client_t *raw; /* the test's own client (the hook uses it on a pool thread) */
    mongoc_collection_t *coll;
} env;

/* WXS_TEST_MONGODB_URI with its database replaced by db (the store takes the URI's database);
 * a database that held the credentials is kept as authSource. */
static char *test_uri(const char *base, const char *db)
{
    bson_error_t err;
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

static void store_open(env *e, os_store **st)
{
    char err[256] = "";
    int rc = os_store_mongo_ops.open(st, &e->loop, &e->cfg.o, "", err, sizeof err);
    if (rc != 0)
        fail_msg("open: %s (%s)", wxs_err_name(rc), err);
}

static void store_close(env *e, os_store *st)
{
    os_store_mongo_ops.close(st);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
}

static int setup_env(void **state)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->db_name, sizeof e->db_name, "wxs_live_%d_%ld", (int)getpid(), (long)random());
    e->uri = test_uri(getenv("WXS_TEST_MONGODB_URI"), e->db_name);
    test_cfg_init(&e->cfg, "mongodb");
    e->cfg.o.mongo_uri = e->uri;
    e->cfg.o.mongo_database = e->db_name;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->raw = mongoc_client_new(e->uri);
    assert_non_null(e->raw);
    mongoc_client_set_error_api(e->raw, MONGOC_ERROR_API_VERSION_2);
    e->coll = mongoc_client_get_collection(e->raw, e->db_name, OS_MONGO_COLLECTION);
    store_open(e, &e->st);
    *state = e;
    return 0;
}

/* Drop the test's database; on a server without dropDatabase (the wire-compatible test server
 * has neither it nor drop) delete the collection's documents instead. */
static void drop_test_data(env *e)
{
    bson_error_t err;
    bson_t all = BSON_INITIALIZER;
    mongoc_database_t *d = mongoc_client_get_database(e->raw, e->db_name);
    if (!mongoc_database_drop(d, &err) &&
        !mongoc_collection_delete_many(e->coll, &all, NULL, NULL, &err))
        print_message("note: could not remove the test data in %s: %s\n", e->db_name, err.message);
    mongoc_database_destroy(d);
    bson_destroy(&all);
}

static int teardown_env(void **state)
{
    env *e = *state;
    os_store_mongo_save_hook = NULL;
    if (e->st != NULL)
        store_close(e, e->st);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    drop_test_data(e);
    mongoc_collection_destroy(e->coll);
    mongoc_client_destroy(e->raw);
    free(e->uri);
    free(e);
    return 0;
}

/* ------------------------------------------------------------ the store, synchronously */

typedef struct waiter {
    int calls, status;
    size_t n;
    char ids[8][OS_PAINT_ID_MAX + 1];
    char actions[8][32];
    int64_t created[8], updated[8];
} waiter;

static void done_cb(void *arg, int status)
{
    waiter *w = arg;
    w->calls++;
    w->status = status;
}

/* A list's answer (page.h) into w: up to 8 drawings. */
static void list_cb(void *arg, int status, const os_page *pg)
{
    waiter *w = arg;
    done_cb(w, status);
    if (status < 0)
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(pg->body.data, pg->len, 0, &jerr);
    assert_non_null(doc);
    json_t *data = json_object_get(doc, "data");
    w->n = json_array_size(data);
    for (size_t i = 0; i < w->n && i < 8; i++) {
        json_t *d = json_array_get(data, i);
        snprintf(w->ids[i], sizeof w->ids[i], "%s", json_string_value(json_object_get(d, "id")));
        snprintf(w->actions[i], sizeof w->actions[i], "%s",
                 json_string_value(json_object_get(d, "actions")));
        w->created[i] = json_integer_value(json_object_get(d, "createdAt"));
        w->updated[i] = json_integer_value(json_object_get(d, "updatedAt"));
    }
    json_decref(doc);
}

static void run_until(env *e, const waiter *w)
{
    while (w->calls == 0)
        uv_run(&e->loop, UV_RUN_ONCE);
}

static int save(env *e, const char *openid, const char *id, const char *actions, int64_t now)
{
    waiter w = {0};
    int rc = os_store_mongo_ops.save(e->st, openid, id, actions, strlen(actions), now, 10000,
                                     done_cb, &w);
    if (rc == 0)
        run_until(e, &w);
    return rc < 0 ? rc : w.status;
}

static void list(env *e, const char *openid, waiter *w)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(os_store_mongo_ops.list(e->st, openid, NULL, 8, 1 << 20, 0, list_cb, w), 0);
    run_until(e, w);
    assert_int_equal(w->status, 0);
}

/* Insert a drawing's document as another writer would (the test's own client). */
static int raw_insert(env *e, const char *openid, const char *id, const char *actions,
                      int64_t created, bson_error_t *err)
{
    os_paint p = {.id = id,
                  .actions = actions,
                  .actions_len = strlen(actions),
                  .created_at_ms = created,
                  .updated_at_ms = created};
    bson_t doc = BSON_INITIALIZER;
    assert_int_equal(os_mongo_paint_to_bson(&doc, openid, &p), 0);
    int ok = mongoc_collection_insert_one(e->coll, &doc, NULL, NULL, err);
    bson_destroy(&doc);
    return ok;
}

/* ------------------------------------------------------------ the hook */

static env *hook_env;
static char steps_seen[128];   /* "update,count,upsert," */
static char hook_failure[512]; /* the hook's insert failed: why (checked on the test's thread) */
static const char *insert_at_step_id;
static os_mongo_save_step insert_at_step;
static int64_t insert_created;
static atomic_int retries;

/* Record the step; at the chosen step of the chosen id, insert that id as a concurrent save
 * would ("[theirs]", createdAt insert_created). */
static void hook(os_mongo_save_step step, const char *openid, const char *id)
{
    size_t len = strlen(steps_seen);
    snprintf(steps_seen + len, sizeof steps_seen - len, "%s,", os_mongo_save_step_name(step));
    if (insert_at_step_id != NULL && step == insert_at_step && strcmp(id, insert_at_step_id) == 0) {
        bson_error_t err;
        if (!raw_insert(hook_env, openid, id, "[theirs]", insert_created, &err))
            snprintf(hook_failure, sizeof hook_failure, "%s", err.message);
    }
}

static void count_retries(os_mongo_save_step step, const char *openid, const char *id)
{
    (void)openid;
    (void)id;
    if (step == OS_MONGO_SAVE_RETRY)
        atomic_fetch_add(&retries, 1);
}

static void set_hook(env *e, const char *id, os_mongo_save_step step, int64_t created)
{
    hook_env = e;
    steps_seen[0] = '\0';
    hook_failure[0] = '\0';
    insert_at_step_id = id;
    insert_at_step = step;
    insert_created = created;
    os_store_mongo_save_hook = hook;
}

/* ------------------------------------------------------------ tests */

/* The server refuses a second {openId, id} with a duplicate key, and the store classes the error
 * libmongoc reports for it as one. */
static void test_duplicate_key_error(void **state)
{
    env *e = *state;
    bson_error_t err;
    assert_int_equal(save(e, "dup", "first", "[1]", T0), 0); /* the store made the indexes */
    memset(&err, 0, sizeof err);
    assert_false(raw_insert(e, "dup", "first", "[2]", T0 + 1, &err));
    print_message("duplicate {openId, id}: domain %u code %u (%s)\n", err.domain, err.code,
                  os_mongo_error_class_name(os_mongo_error_classify(err.domain, err.code)));
    assert_int_equal(os_mongo_error_classify(err.domain, err.code), OS_MONGO_DUPLICATE_KEY);
    assert_true(raw_insert(e, "dup2", "first", "[3]", T0 + 2, &err)); /* another user's */
}

/* Another writer inserts the id between the save's count and its upsert: the upsert updates that
 * drawing (its createdAt stays), the save is acknowledged, one drawing. */
static void test_insert_between_count_and_upsert(void **state)
{
    env *e = *state;
    waiter w;
    set_hook(e, "x", OS_MONGO_SAVE_UPSERT, T0 - 5);
    assert_int_equal(save(e, "race", "x", "[mine]", T0), 0);
    assert_string_equal(hook_failure, "");
    assert_string_equal(steps_seen, "update,count,upsert,");
    list(e, "race", &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.ids[0], "x");
    assert_string_equal(w.actions[0], "[mine]");
    assert_int_equal(w.created[0], T0 - 5);
    assert_int_equal(w.updated[0], T0);
}

/* The upsert fails with E11000 (here on a second unique index the test adds, which makes it
 * happen every time), then the retry: acknowledged when it updated the drawing another writer
 * inserted meanwhile; WXS_ESTORE, nothing stored, when there is none to update. */
static void test_duplicate_key_then_retry(void **state)
{
    env *e = *state;
    bson_error_t err;
    waiter w;
    assert_int_equal(save(e, "warm", "up", "[0]", T0), 0); /* the store made its indexes */
    bson_t *cmd =
        BCON_NEW("createIndexes", BCON_UTF8(OS_MONGO_COLLECTION), "indexes", "[", "{", "key", "{",
                 "openId", BCON_INT32(1), "createdAt", BCON_INT32(1), "}", "name",
                 BCON_UTF8("test_one_per_time"), "unique", BCON_BOOL(true), "}", "]");
    mongoc_database_t *db = mongoc_client_get_database(e->raw, e->db_name);
    if (!mongoc_database_write_command_with_opts(db, cmd, NULL, NULL, &err))
        fail_msg("createIndexes: %s", err.message);
    mongoc_database_destroy(db);
    bson_destroy(cmd);
    assert_true(raw_insert(e, "race", "other", "[0]", T0, &err));

    /* the retry finds the drawing another save inserted after the failed upsert */
    set_hook(e, "new", OS_MONGO_SAVE_RETRY, T0 - 1);
    assert_int_equal(save(e, "race", "new", "[mine]", T0), 0);
    assert_string_equal(hook_failure, "");
    assert_string_equal(steps_seen, "update,count,upsert,retry,");
    list(e, "race", &w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.ids[0], "other");
    assert_string_equal(w.ids[1], "new");
    assert_string_equal(w.actions[1], "[mine]");
    assert_int_equal(w.created[1], T0 - 1);
    assert_int_equal(w.updated[1], T0);

    /* no drawing to update: failed (503), never acknowledged */
    set_hook(e, NULL, OS_MONGO_SAVE_UPDATE, 0);
    assert_int_equal(save(e, "race", "gone", "[lost]", T0), WXS_ESTORE);
    assert_string_equal(steps_seen, "update,count,upsert,retry,");
    list(e, "race", &w);
    assert_int_equal(w.n, 2);
    assert_string_not_equal(w.ids[0], "gone");
    assert_string_not_equal(w.ids[1], "gone");
}

/* INSTANCES store instances (as many workers or processes) save the same new id at once, for
 * ROUNDS ids: every save is acknowledged and each id is one drawing. */
static void test_concurrent_saves_of_one_new_id(void **state)
{
    env *e = *state;
    os_store *st[INSTANCES];
    static waiter w[ROUNDS][INSTANCES];
    char id[16], actions[16];
    memset(w, 0, sizeof w);
    atomic_store(&retries, 0);
    os_store_mongo_save_hook = count_retries;
    for (int i = 0; i < INSTANCES; i++)
        store_open(e, &st[i]);
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(id, sizeof id, "n%02d", r);
        for (int i = 0; i < INSTANCES; i++) {
            snprintf(actions, sizeof actions, "[%d]", i);
            assert_int_equal(os_store_mongo_ops.save(st[i], "conc", id, actions, strlen(actions),
                                                     T0 + r, 10000, done_cb, &w[r][i]),
                             0);
        }
    }
    int acked = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < INSTANCES; i++) {
            run_until(e, &w[r][i]);
            acked += w[r][i].status == 0;
        }
    }
    for (int i = 0; i < INSTANCES; i++)
        store_close(e, st[i]);
    os_store_mongo_save_hook = NULL;
    bson_error_t err;
    bson_t *filter = BCON_NEW("openId", BCON_UTF8("conc"));
    int64_t docs = mongoc_collection_count_documents(e->coll, filter, NULL, NULL, NULL, &err);
    bson_destroy(filter);
    print_message("concurrent saves of one new id: %d of %d acknowledged, %lld drawings for %d "
                  "ids, %d duplicate keys retried\n",
                  acked, ROUNDS * INSTANCES, (long long)docs, ROUNDS, atomic_load(&retries));
    assert_int_equal(acked, ROUNDS * INSTANCES);
    assert_int_equal(docs, ROUNDS);
}

/* A document with fields the list does not ask for (as a server that ignores the projection
 * sends it, or one written by a later version) reads as the drawing it holds. */
static void test_documents_read_whole(void **state)
{
    env *e = *state;
    bson_error_t err;
    waiter w;
    assert_int_equal(save(e, "whole", "mine", "[1]", T0), 0);
    bson_t *doc = BCON_NEW("tag", BCON_UTF8("written by someone else"), "openId",
                           BCON_UTF8("whole"), "extra", "{", "id", BCON_UTF8("nested"), "}", "id",
                           BCON_UTF8("theirs"), "createdAt", BCON_DATE_TIME(T0 + 1), "actions",
                           BCON_UTF8("[2]"), "updatedAt", BCON_DATE_TIME(T0 + 2));
    assert_true(mongoc_collection_insert_one(e->coll, doc, NULL, NULL, &err));
    bson_destroy(doc);
    list(e, "whole", &w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.ids[0], "theirs");
    assert_string_equal(w.actions[0], "[2]");
    assert_int_equal(w.created[0], T0 + 1);
    assert_int_equal(w.updated[0], T0 + 2);
    assert_string_equal(w.ids[1], "mine");

    /* what the server sends for the list's own query: a figure, not a requirement */
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    const bson_t *got;
    assert_int_equal(os_mongo_list_filter(&filter, "whole", NULL), 0);
    assert_int_equal(os_mongo_list_opts(&opts, 8), 0);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(e->coll, &filter, &opts, NULL);
    assert_true(mongoc_cursor_next(cur, &got));
    int applied = !bson_has_field(got, "_id") && !bson_has_field(got, "openId") &&
                  !bson_has_field(got, "tag");
    print_message("server applies the list's projection: %s\n", applied ? "yes" : "no");
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
}

int main(void)
{
    const char *uri = getenv("WXS_TEST_MONGODB_URI");
    if (uri == NULL || uri[0] == '\0') {
        printf("SKIP: needs WXS_TEST_MONGODB_URI (tests/integration/run_mongodb.py starts a "
               "server and sets it)\n");
        return 77;
    }
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    mongoc_init(); /* never paired with mongoc_cleanup(), as in the store */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_duplicate_key_error, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_insert_between_count_and_upsert, setup_env,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(test_duplicate_key_then_retry, setup_env, teardown_env),
        cmocka_unit_test_setup_teardown(test_concurrent_saves_of_one_new_id, setup_env,
                                        teardown_env),
        cmocka_unit_test_setup_teardown(test_documents_read_whole, setup_env, teardown_env),
    };
    return cmocka_run_group_tests_name("paints_mongo_live", tests, NULL, NULL) == 0 ? 0 : 1;
}
