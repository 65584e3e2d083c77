/* store_mongo.c: the One Stroke drawing store on MongoDB (libmongoc 1.23): collection "paints",
 * one client pool per instance, every op a job on the libuv thread pool (jobs.h). Here:
 * open/close, the ops and libmongoc's process-wide set-up and logging. The parts that need no
 * server (URI building and redaction, error classes, BSON documents) are in store_mongo_doc.c,
 * declared in store_mongo.h. */
#include "store_mongo.h"
#include "jobs.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Threads. open() only parses the URI: nothing touches the network on the loop thread. Each op
 * is a job on the libuv pool; at most MAX_RUNNING jobs of an instance run at once (the pool has
 * few threads and the session store needs them too), the others wait in the runner's FIFO on the
 * loop. A
 * job pops a client from the instance's mongoc_client_pool_t, which is created on a pool thread
 * by the first job (a mongodb+srv URI resolves DNS there) under the instance's mutex; the first
 * job also creates the indexes, and every job retries both until they succeed, so a server that
 * was down at start-up is picked up without a restart. Every call is bounded by the URI's
 * serverSelectionTimeoutMS / connectTimeoutMS / socketTimeoutMS, which get defaults here when
 * the URI has none.
 *
 * The per-user limit. MongoDB has no cheap multi-document transaction here, so save updates an
 * existing drawing first; only a new id is counted (count_documents with limit max) and then
 * upserted (the steps and their decisions: store_mongo.h). Concurrent saves of new ids by one
 * user may all pass the count and leave the user over the limit by as many; the SQLite store has
 * no such window. Concurrent saves of one new id leave one drawing: the unique {openId, id}
 * index refuses the second insert (E11000), and that save then updates the drawing.
 *
 * Projections. The list asks for the fields it reads, but reads each by name from whatever
 * comes back (a wire-compatible test server ignores projections), so nothing depends on them.
 *
 * Process-wide libmongoc state. mongoc_init() runs once per process (pthread_once) and
 * mongoc_cleanup() is deliberately never called: another part of the process may still use
 * libmongoc, and the memory mongoc_init() holds stays reachable (LeakSanitizer and valgrind
 * count it as "still reachable", not leaked). libmongoc's own log lines go through wxs__log;
 * lines that could quote a URI or credentials are withheld. libbson and libmongoc allocate with
 * libbson's allocator (bson_mem_set_vtable is the embedding program's choice, not ours); what this
 * store keeps or hands to callbacks comes from wxs__malloc. */

#define MAX_RUNNING 2
#define ERROR_LOG_INTERVAL_MS 10000

enum job_kind { JOB_LIST, JOB_SAVE, JOB_DEL, JOB_CONNECT };

static const char *const job_name[] = {"list", "save", "delete", "connect"};

typedef struct paints_mongo paints_mongo;

/* One op, with its own work request (several run at once). Arguments are copied in; a list's
 * answer (page.h) is built on the pool thread, document by document. */
typedef struct job {
    os_job base; /* the runner's part */
    paints_mongo *st;
    enum job_kind kind;
    int status;
    char openid[OS_OPENID_MAX + 1];
    char id[OS_PAINT_ID_MAX + 1];
    os_paint_cursor cursor;
    unsigned limit;
    size_t page_bytes;
    int count_only;
    int64_t now_ms;
    long long max_per_user;
    os_page page;
    os_store_list_cb list_cb;
    os_store_done_cb done_cb;
    void *arg;
    size_t actions_len;
    char actions[];
} job;

struct paints_mongo {
    os_store base;
    uv_loop_t *loop;
    mongoc_uri_t *uri; /* with the timeouts applied */
    char *database;
    char *redacted; /* the URI for log lines */
    /* shared with the pool threads */
    pthread_mutex_t lock; /* guards pool creation and the error log */
    mongoc_client_pool_t *pool;
    atomic_int indexes_ready;
    atomic_int up; /* the last op reached the server */
    int last_log_class;
    uint64_t last_log_ms;
    os_jobs jobs; /* loop thread */
};

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

void (*os_store_mongo_save_hook)(os_mongo_save_step step, const char *openid, const char *id);

/* ------------------------------------------------------------ process-wide init, logging */

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* libmongoc's log lines, into the library's log. Warnings and errors only; a line that could
 * quote a URI or credentials is replaced by a notice. */
static void mongoc_log_to_wxs(mongoc_log_level_t level, const char *domain, const char *message,
                              void *data)
{
    if (level > MONGOC_LOG_LEVEL_WARNING)
        return;
    int risky = strstr(message, "://") != NULL || strstr(message, "@") != NULL ||
                os_mongo_name_has_password(message, strlen(message));
    wxs__log(level == MONGOC_LOG_LEVEL_WARNING ? WXS_LOG_WARN : WXS_LOG_ERROR, "mongoc %s: %s",
             domain, risky ? "(message withheld: it may quote credentials)" : message);
}

static void init_mongoc_once(void)
{
    mongoc_init(); /* never paired with mongoc_cleanup(): see the comment at the top */
    mongoc_log_set_handler(mongoc_log_to_wxs, NULL);
}

/* Log a failed job: op, user tag, error class, and libmongoc's message only for errors that
 * cannot quote stored data (a server error may quote the document: openid, actions). Repeated
 * errors of one class at most every 10 s. */
static void log_job_error(paints_mongo *st, const job *j, const bson_error_t *e)
{
    os_mongo_error_class c = os_mongo_error_classify(e->domain, e->code);
    int show = c == OS_MONGO_UNREACHABLE || c == OS_MONGO_AUTH;
    uint64_t now = clock_ms();
    char tag[9] = "";
    pthread_mutex_lock(&st->lock);
    int quiet = (int)c == st->last_log_class && now - st->last_log_ms < ERROR_LOG_INTERVAL_MS;
    if (!quiet) {
        st->last_log_class = (int)c;
        st->last_log_ms = now;
    }
    pthread_mutex_unlock(&st->lock);
    if (quiet)
        return;
    if (j->openid[0] != '\0')
        wxs__log_tag(j->openid, strlen(j->openid), tag);
    wxs__warn("paints mongodb: %s%s%s failed (%s, domain %u code %u)%s%s; uri %s",
              job_name[j->kind], tag[0] ? " for user " : "", tag, os_mongo_error_class_name(c),
              e->domain, e->code, show ? ": " : "", show ? e->message : "", st->redacted);
}

/* ------------------------------------------------------------ pool side */

static void set_error(bson_error_t *e, uint32_t domain, uint32_t code, const char *msg)
{
    e->domain = domain;
    e->code = code;
    snprintf(e->message, sizeof e->message, "%s", msg);
}

/* Create the client pool on first use. 0 or -1 with e set. */
static int ensure_pool(paints_mongo *st, bson_error_t *e)
{
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    if (st->pool == NULL) {
        st->pool = mongoc_client_pool_new_with_error(st->uri, e);
        if (st->pool != NULL) {
            mongoc_client_pool_set_error_api(st->pool, MONGOC_ERROR_API_VERSION_2);
            mongoc_client_pool_set_appname(st->pool, "wxsession");
        }
    }
    if (st->pool == NULL) {
        if (e->domain == 0)
            set_error(e, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY,
                      "cannot create the client pool");
        rc = -1;
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Create the collection's indexes once (createIndexes is idempotent; a race runs it twice). */
static int ensure_indexes(paints_mongo *st, mongoc_client_t *client, bson_error_t *e)
{
    if (atomic_load(&st->indexes_ready))
        return 0;
    mongoc_database_t *db = mongoc_client_get_database(client, st->database);
    bson_t *cmd =
        BCON_NEW("createIndexes", BCON_UTF8(OS_MONGO_COLLECTION), "indexes", "[", "{", "key", "{",
                 OS_MONGO_FIELD_OPENID, BCON_INT32(1), OS_MONGO_FIELD_ID, BCON_INT32(1), "}",
                 "name", BCON_UTF8("openId_1_id_1"), "unique", BCON_BOOL(true), "}", "{", "key",
                 "{", OS_MONGO_FIELD_OPENID, BCON_INT32(1), OS_MONGO_FIELD_CREATED, BCON_INT32(-1),
                 OS_MONGO_FIELD_ID, BCON_INT32(-1), "}", "name",
                 BCON_UTF8("openId_1_createdAt_-1_id_-1"), "}", "]");
    bson_t reply;
    int ok = mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, e);
    bson_destroy(&reply);
    bson_destroy(cmd);
    mongoc_database_destroy(db);
    if (!ok)
        return -1;
    atomic_store(&st->indexes_ready, 1);
    return 0;
}

/* update_one(filter, update, opts); *matched receives matchedCount + upsertedCount. */
static int update(mongoc_collection_t *coll, const bson_t *filter, const bson_t *upd,
                  const bson_t *opts, int64_t *matched, bson_error_t *e)
{
    bson_t reply;
    int ok = mongoc_collection_update_one(coll, filter, upd, opts, &reply, e);
    *matched = os_mongo_reply_count(&reply, "matchedCount") +
               os_mongo_reply_count(&reply, "upsertedCount");
    bson_destroy(&reply);
    return ok ? 0 : -1;
}

/* Count the user's drawings, up to max. */
static int count_user(mongoc_collection_t *coll, const job *j, int64_t *n, bson_error_t *e)
{
    bson_t filter, opts;
    bson_init(&filter);
    bson_init(&opts);
    int ok = os_mongo_append_str(&filter, OS_MONGO_FIELD_OPENID, j->openid, strlen(j->openid)) &&
             BSON_APPEND_INT64(&opts, "limit", j->max_per_user);
    *n = ok ? mongoc_collection_count_documents(coll, &filter, &opts, NULL, NULL, e) : -1;
    if (!ok)
        set_error(e, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "cannot build the count");
    bson_destroy(&filter);
    bson_destroy(&opts);
    return *n < 0 ? -1 : 0;
}

/* Run one step of a save (store_mongo.h): n receives what its reply counted. 0, or -1 with e
 * set. */
static int run_save_step(mongoc_collection_t *coll, job *j, os_mongo_save_step step,
                         const bson_t *filter, const bson_t *upd, int64_t *n, bson_error_t *e)
{
    bson_t upsert = BSON_INITIALIZER;
    int rc;
    *n = 0;
    memset(e, 0, sizeof *e);
    if (os_store_mongo_save_hook != NULL)
        os_store_mongo_save_hook(step, j->openid, j->id);
    if (step == OS_MONGO_SAVE_COUNT) {
        rc = count_user(coll, j, n, e);
    } else {
        if (step == OS_MONGO_SAVE_UPSERT)
            BSON_APPEND_BOOL(&upsert, "upsert", true);
        rc = update(coll, filter, upd, step == OS_MONGO_SAVE_UPSERT ? &upsert : NULL, n, e);
    }
    bson_destroy(&upsert);
    return rc;
}

/* Save: the steps of store_mongo.h (update; for a new id count, then upsert; after a duplicate
 * key one more update), each decided by os_mongo_save_next. Sets j->status to 0 or
 * WXS_ETOOBIG; returns -1 with e set on a MongoDB error or a retry that matched nothing. */
static int run_save(mongoc_collection_t *coll, job *j, bson_error_t *e)
{
    bson_t filter, upd;
    os_mongo_save_step step = OS_MONGO_SAVE_UPDATE;
    int rc = -1;
    bson_init(&filter);
    bson_init(&upd);
    if (os_mongo_key_filter(&filter, j->openid, j->id) < 0 ||
        os_mongo_save_update(&upd, j->actions, j->actions_len, j->now_ms) < 0) {
        set_error(e, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "document too large");
        goto out;
    }
    while (step < OS_MONGO_SAVE_DONE) {
        int64_t n = 0;
        int ok = run_save_step(coll, j, step, &filter, &upd, &n, e) == 0;
        os_mongo_save_step next =
            os_mongo_save_next(step, ok, e->domain, e->code, n, j->max_per_user);
        if (ok && next == OS_MONGO_SAVE_FAILED)
            set_error(e, MONGOC_ERROR_COLLECTION, MONGOC_ERROR_COLLECTION_UPDATE_FAILED,
                      "a duplicate key, then no drawing to update");
        step = next;
    }
    rc = step == OS_MONGO_SAVE_FAILED ? -1 : 0;
    if (step == OS_MONGO_SAVE_FULL)
        j->status = WXS_ETOOBIG;
out:
    bson_destroy(&filter);
    bson_destroy(&upd);
    return rc;
}

static int run_del(mongoc_collection_t *coll, job *j, bson_error_t *e)
{
    bson_t filter, reply;
    bson_init(&filter);
    if (os_mongo_key_filter(&filter, j->openid, j->id) < 0) {
        bson_destroy(&filter);
        set_error(e, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "cannot build the filter");
        return -1;
    }
    int ok = mongoc_collection_delete_one(coll, &filter, NULL, &reply, e);
    if (ok && os_mongo_reply_count(&reply, "deletedCount") == 0)
        j->status = WXS_ENOTFOUND;
    bson_destroy(&reply);
    bson_destroy(&filter);
    return ok ? 0 : -1;
}

/* Read the page's documents from the cursor into the answer; a document this store could not
 * have written (no valid id, actions or createdAt) is skipped with a warning. The page ends
 * early (more follow) at limit or at its byte budget (page.h). */
static int read_page(mongoc_cursor_t *cur, job *j, bson_error_t *e)
{
    const bson_t *doc;
    int more = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        os_paint p;
        if (os_mongo_paint_from_bson(doc, &p) < 0) {
            wxs__warn("paints mongodb: skipped a malformed document in collection paints");
            continue;
        }
        int rc = j->page.n == j->limit ? OS_PAGE_FULL : os_page_add(&j->page, &p);
        if (rc == OS_PAGE_FULL) {
            more = 1;
            break;
        }
        if (rc < 0) {
            j->status = WXS_ENOMEM;
            return 0;
        }
    }
    if (!more && mongoc_cursor_error(cur, e))
        return -1;
    if (os_page_finish(&j->page, more) < 0)
        j->status = WXS_ENOMEM;
    return 0;
}

static int run_list(mongoc_collection_t *coll, job *j, bson_error_t *e)
{
    bson_t filter, opts;
    int rc = -1;
    bson_init(&filter);
    bson_init(&opts);
    if (os_page_init(&j->page, j->page_bytes, j->count_only) < 0) {
        j->status = WXS_ENOMEM;
        rc = 0;
        goto out;
    }
    if (os_mongo_list_filter(&filter, j->openid, &j->cursor) < 0 ||
        os_mongo_list_opts(&opts, j->limit) < 0) {
        set_error(e, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "cannot build the query");
        goto out;
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    rc = read_page(cur, j, e);
    mongoc_cursor_destroy(cur);
out:
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

/* Ping the server (the warm-up job at open): marks the store up or down early. */
static int run_ping(mongoc_client_t *client, paints_mongo *st, bson_error_t *e)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bson_t reply;
    int ok = mongoc_client_command_simple(client, st->database, cmd, NULL, &reply, e);
    bson_destroy(&reply);
    bson_destroy(cmd);
    return ok ? 0 : -1;
}

static int run_job(paints_mongo *st, mongoc_client_t *client, job *j, bson_error_t *e)
{
    if (ensure_indexes(st, client, e) < 0)
        return -1;
    if (j->kind == JOB_CONNECT)
        return run_ping(client, st, e);
    mongoc_collection_t *coll =
        mongoc_client_get_collection(client, st->database, OS_MONGO_COLLECTION);
    int rc = j->kind == JOB_SAVE  ? run_save(coll, j, e)
             : j->kind == JOB_DEL ? run_del(coll, j, e)
                                  : run_list(coll, j, e);
    mongoc_collection_destroy(coll);
    return rc;
}

/* A job's run on a pool thread. */
static void job_work(os_job *base)
{
    job *j = (job *)base;
    paints_mongo *st = j->st;
    bson_error_t e;
    memset(&e, 0, sizeof e);
    int rc = ensure_pool(st, &e);
    if (rc == 0) {
        mongoc_client_t *client = mongoc_client_pool_pop(st->pool);
        rc = run_job(st, client, j, &e);
        mongoc_client_pool_push(st->pool, client);
    }
    if (rc < 0) {
        log_job_error(st, j, &e);
        os_page_free(&j->page);
        j->status = os_mongo_error_status(e.domain, e.code);
        if (j->status == 0)
            j->status = WXS_ESTORE;
    }
    if (rc == 0 || os_mongo_error_classify(e.domain, e.code) == OS_MONGO_UNREACHABLE)
        atomic_store(&st->up, rc == 0);
}

/* ------------------------------------------------------------ loop side */

static void finish_job(job *j)
{
    if (j->kind == JOB_LIST) {
        if (j->status < 0)
            j->list_cb(j->arg, j->status, NULL);
        else
            j->list_cb(j->arg, 0, &j->page);
        os_page_free(&j->page);
    } else if (j->kind != JOB_CONNECT) {
        j->done_cb(j->arg, j->status);
    }
    wxs__free(j);
}

/* A job is back on the loop (or never ran: the store closed first). */
static void job_done(os_job *base, int canceled)
{
    job *j = (job *)base;
    if (canceled) {
        os_page_free(&j->page);
        j->status = WXS_ECANCELED;
    }
    finish_job(j);
}

/* Closed and no job left (the runner's final work, on the pool). */
static void final_work(void *arg)
{
    paints_mongo *st = arg;
    if (st->pool != NULL)
        mongoc_client_pool_destroy(st->pool); /* may talk to the server (endSessions) */
    st->pool = NULL;
}

static void destroy(paints_mongo *st)
{
    mongoc_uri_destroy(st->uri);
    wxs__free(st->database);
    wxs__free(st->redacted);
    pthread_mutex_destroy(&st->lock);
    wxs__free(st);
}

static void final_done(void *arg)
{
    destroy(arg);
}

static void submit(paints_mongo *st, job *j)
{
    j->base.run = job_work;
    j->base.done = job_done;
    os_jobs_submit(&st->jobs, &j->base);
}

static job *job_new(paints_mongo *st, enum job_kind kind, const char *openid, const char *id,
                    size_t extra, void *arg)
{
    job *j = wxs__calloc(1, sizeof *j + extra);
    if (j == NULL)
        return NULL;
    j->st = st;
    j->kind = kind;
    j->arg = arg;
    if (openid != NULL)
        memcpy(j->openid, openid, strlen(openid) + 1);
    if (id != NULL)
        memcpy(j->id, id, strlen(id) + 1);
    return j;
}

/* List (store.h). Returns 0 (cb runs once, later, with 0, WXS_ESTORE or WXS_ECANCELED),
 * WXS_EINVAL, WXS_ECANCELED or WXS_ENOMEM. */
static int pm_list(os_store *base, const char *openid, const os_paint_cursor *cursor,
                   unsigned limit, size_t page_bytes, int count_only, os_store_list_cb cb,
                   void *arg)
{
    paints_mongo *st = (paints_mongo *)base;
    int first = cursor == NULL || cursor->id[0] == '\0';
    int rc = os_paint_check_list(openid, cursor, limit, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->jobs))
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = job_new(st, JOB_LIST, openid, NULL, 0, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    if (!first)
        j->cursor = *cursor;
    j->limit = limit;
    j->page_bytes = page_bytes;
    j->count_only = count_only;
    j->list_cb = cb;
    submit(st, j);
    return 0;
}

/* Save (store.h). Returns 0 (cb runs once, later), WXS_EINVAL, WXS_ETOOBIG (actions over
 * 16 MiB), WXS_ECANCELED or WXS_ENOMEM. The actions are copied. */
static int pm_save(os_store *base, const char *openid, const char *id, const char *actions,
                   size_t actions_len, int64_t now_ms, long long max_per_user, os_store_done_cb cb,
                   void *arg)
{
    paints_mongo *st = (paints_mongo *)base;
    int rc = os_paint_check_save(openid, id, actions, actions_len, max_per_user, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->jobs))
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = job_new(st, JOB_SAVE, openid, id, actions_len + 1, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    memcpy(j->actions, actions, actions_len);
    j->actions[actions_len] = '\0';
    j->actions_len = actions_len;
    j->now_ms = now_ms;
    j->max_per_user = max_per_user;
    j->done_cb = cb;
    submit(st, j);
    return 0;
}

/* Delete (store.h). Returns 0 (cb runs once, later, with 0, WXS_ENOTFOUND, WXS_ESTORE or
 * WXS_ECANCELED), WXS_EINVAL, WXS_ECANCELED or WXS_ENOMEM. */
static int pm_del(os_store *base, const char *openid, const char *id, os_store_done_cb cb,
                  void *arg)
{
    paints_mongo *st = (paints_mongo *)base;
    int rc = os_paint_check_del(openid, id, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->jobs))
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = job_new(st, JOB_DEL, openid, id, 0, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    j->done_cb = cb;
    submit(st, j);
    return 0;
}

/* 1 when the last op (or the warm-up ping at open) reached the server. */
static int pm_ready(const os_store *base)
{
    paints_mongo *st = (paints_mongo *)base;
    return st != NULL && !os_jobs_closing(&st->jobs) && atomic_load(&st->up);
}

/* Start closing: jobs not yet running end with WXS_ECANCELED; running ones finish (bounded by
 * the URI's timeouts) with their real result; all callbacks run on later loop iterations. Then
 * the client pool is destroyed on the pool and the memory released. NULL is a no-op. */
static void pm_close(os_store *base)
{
    paints_mongo *st = (paints_mongo *)base;
    if (st != NULL)
        os_jobs_close(&st->jobs);
}

/* ------------------------------------------------------------ open */

static void set_err(char *err, size_t errlen, const char *what, const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "paints mongodb: %s%s%s", what, detail ? ": " : "",
                 detail ? detail : "");
}

/* Give the URI bounded timeouts where it sets none. */
static void apply_timeouts(mongoc_uri_t *uri)
{
    static const struct {
        const char *name;
        int32_t ms;
    } defaults[] = {
        {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, OS_MONGO_SELECTION_TIMEOUT_MS},
        {MONGOC_URI_CONNECTTIMEOUTMS, OS_MONGO_CONNECT_TIMEOUT_MS},
        {MONGOC_URI_SOCKETTIMEOUTMS, OS_MONGO_SOCKET_TIMEOUT_MS},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (!mongoc_uri_has_option(uri, defaults[i].name))
            mongoc_uri_set_option_as_int32(uri, defaults[i].name, defaults[i].ms);
    }
}

/* Parse the configured URI (never logging or reporting it unredacted) and pick the database:
 * the URI's, else mongo.database, else "weapp". */
static int parse_uri(paints_mongo *st, const struct onestroke_options *opts, char *err,
                     size_t errlen)
{
    char *text = NULL;
    bson_error_t e;
    int rc = os_mongo_uri(opts, &text);
    if (rc == 0)
        rc = os_mongo_uri_redacted(opts, &st->redacted);
    if (rc < 0) {
        set_err(err, errlen, "cannot build the connection URI", wxs_strerror(rc));
        goto out;
    }
    st->uri = mongoc_uri_new_with_error(text, &e);
    if (st->uri == NULL) {
        /* libmongoc's message may quote the URI: name only the redacted form */
        set_err(err, errlen, "invalid connection URI", st->redacted);
        rc = WXS_ECONFIG;
        goto out;
    }
    apply_timeouts(st->uri);
    const char *db = mongoc_uri_get_database(st->uri);
    if (db == NULL || db[0] == '\0')
        db = opts->mongo_database != NULL && opts->mongo_database[0] != '\0'
                 ? opts->mongo_database
                 : OS_MONGO_DEFAULT_DATABASE;
    st->database = wxs__strdup(db);
    rc = st->database != NULL ? 0 : WXS_ENOMEM;
out:
    if (text != NULL)
        memset(text, 0, strlen(text)); /* it may hold the password */
    wxs__free(text);
    return rc;
}

/* Open an instance on loop: parses the URI (no network I/O on the loop thread) and queues a
 * warm-up job that creates the client pool and the indexes and pings the server on the pool.
 * Returns 0, WXS_ECONFIG (bad URI), WXS_EINVAL (no host) or WXS_ENOMEM, with a reason in err.
 * A server that is down is not an open error: ops fail with WXS_ESTORE until it is up. */
static int pm_open(os_store **out, uv_loop_t *loop, const struct onestroke_options *opts,
                   const char *sqlite_path, char *err, size_t errlen)
{
    *out = NULL;
    pthread_once(&mongoc_once, init_mongoc_once);
    paints_mongo *st = wxs__calloc(1, sizeof *st);
    if (st == NULL)
        return WXS_ENOMEM;
    st->base.ops = &os_store_mongo_ops;
    st->loop = loop;
    os_jobs_init(&st->jobs, loop, MAX_RUNNING, final_work, final_done, st);
    st->last_log_class = -1;
    atomic_init(&st->indexes_ready, 0);
    atomic_init(&st->up, 0);
    pthread_mutex_init(&st->lock, NULL);
    int rc = parse_uri(st, opts, err, errlen);
    job *warm = rc == 0 ? job_new(st, JOB_CONNECT, NULL, NULL, 0, NULL) : NULL;
    if (rc == 0 && warm == NULL)
        rc = WXS_ENOMEM;
    if (rc < 0) {
        destroy(st);
        return rc;
    }
    wxs__info("paints mongodb: using %s, database %s", st->redacted, st->database);
    submit(st, warm);
    *out = &st->base;
    return 0;
}

const os_store_ops os_store_mongo_ops = {
    .name = "mongodb",
    .open = pm_open,
    .close = pm_close,
    .ready = pm_ready,
    .list = pm_list,
    .save = pm_save,
    .del = pm_del,
};
