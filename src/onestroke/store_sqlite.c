/* store_sqlite.c: the One Stroke drawing store on SQLite: its own tables in the session store's
 * file (the library's sqlite.path), WAL mode; saves and deletes run on the file's writer thread
 * (util/sqlite_util.h), lists on the libuv thread pool (jobs.h). */
#include "jobs.h"
#include "sqlite_util.h"
#include "store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Durability. The file is in WAL mode with synchronous=NORMAL (as the session store's). A save
 * or delete is acknowledged (its callback runs) only after the transaction that holds it
 * committed, that is after its WAL frames were handed to the kernel with write(2): a kill -9 of
 * the process never loses an acknowledged write, the next opener replays the WAL. An OS crash or
 * power loss may roll back the last few transactions (NORMAL does not fsync every commit) but
 * never corrupts the file. Nothing is acknowledged that did not commit: a failed write is rolled
 * back (its savepoint, or the whole batch when the commit fails) and reports WXS_ESTORE.
 *
 * Threads. Saves and deletes go to the one writer of the file in this process
 * (util/sqlite_util.h): one connection and one thread shared by every instance, drawings and
 * sessions, of every worker. It runs the writes queued by all of them in FIFO order as group
 * commits (BEGIN IMMEDIATE, each write in a savepoint of its own, one COMMIT), so the writes of
 * one instance apply in the order they were issued, a failing write fails alone, and the
 * per-user count check and the insert are one atomic step across every instance and process
 * (the write lock is held from BEGIN IMMEDIATE to COMMIT). Results come back to the instance's
 * loop through a uv_async_t. Lists run on the instance's read connection, driven by the job
 * runner (jobs.h) with one job at a time: FIFO order, one libuv pool work item at a time, so the
 * connection is used by one thread at a time (uv_queue_work orders the memory accesses; no
 * mutex). A list (pages can be
 * megabytes) never waits behind a write nor a write behind a list: a WAL reader does not block
 * the writer. Another process on the same file has its own writer; SQLite's locking with a busy
 * timeout serialises the two.
 *
 * Schema. Tables paints and paint_counts live beside the session store's kv table. The session
 * store owns PRAGMA user_version, so this store records its own version in the row
 * ('paints', version) of the shared table wxs_schema. */

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000 /* a reader waits this long for another instance's writer */
#define ERROR_LOG_INTERVAL_MS 10000

/* Test hooks, not for production. query_only: when set at open, the instance's writes are
 * refused by the write connection (PRAGMA query_only around each of them), as on a read-only
 * file even for root. work_hook: called before each job on the thread that runs it (the writer
 * thread for saves and deletes, a pool thread for lists). */
int os_store_sqlite_test_query_only;
void (*os_store_sqlite_work_hook)(void);

enum { W_UPDATE, W_COUNT, W_INSERT, W_COUNT_INC, W_DELETE, W_COUNT_DEC, W_COUNT_DROP, W_STMTS };

enum { R_FIRST, R_AFTER, R_STMTS };

static const char *const write_sql[W_STMTS] = {
    [W_UPDATE] = "UPDATE paints SET actions = ?3, updated_at = ?4 WHERE open_id = ?1 AND id = ?2",
    [W_COUNT] = "SELECT n FROM paint_counts WHERE open_id = ?1",
    [W_INSERT] = "INSERT INTO paints(open_id, id, actions, created_at, updated_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?4)",
    [W_COUNT_INC] = "INSERT INTO paint_counts(open_id, n) VALUES (?1, 1) "
                    "ON CONFLICT(open_id) DO UPDATE SET n = n + 1",
    [W_DELETE] = "DELETE FROM paints WHERE open_id = ?1 AND id = ?2",
    [W_COUNT_DEC] = "UPDATE paint_counts SET n = n - 1 WHERE open_id = ?1",
    [W_COUNT_DROP] = "DELETE FROM paint_counts WHERE open_id = ?1 AND n <= 0",
};

/* Keyset paging on the index paints_by_time: a seek to (open_id, cursor), then limit+1 rows in
 * index order (the extra row only tells whether more follow). */
#define LIST_COLUMNS "SELECT id, actions, created_at, updated_at FROM paints "
#define LIST_ORDER " ORDER BY created_at DESC, id DESC LIMIT ?4"
static const char *const read_sql[R_STMTS] = {
    [R_FIRST] = LIST_COLUMNS "WHERE open_id = ?1" LIST_ORDER,
    [R_AFTER] = LIST_COLUMNS "WHERE open_id = ?1 AND (created_at, id) < (?2, ?3)" LIST_ORDER,
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS paints (open_id TEXT NOT NULL, id TEXT NOT NULL, "
    "actions TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, "
    "PRIMARY KEY (open_id, id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS paints_by_time ON paints(open_id, created_at DESC, id DESC);"
    "CREATE TABLE IF NOT EXISTS paint_counts (open_id TEXT PRIMARY KEY, n INTEGER NOT NULL) "
    "WITHOUT ROWID;"
    "INSERT INTO wxs_schema(component, version) VALUES ('paints', 1) "
    "ON CONFLICT(component) DO UPDATE SET version = excluded.version;";

enum job_kind { JOB_LIST, JOB_SAVE, JOB_DEL };

static const char *const job_name[] = {"list", "save", "delete"};

typedef struct paints_sqlite paints_sqlite;

/* One op. Arguments are copied in; a list's answer (page.h) is built on the pool thread, row by
 * row straight from SQLite's column text, and freed after the callback. */
typedef struct job {
    wxs__sqlite_job base; /* first: the writer's part (saves and deletes) */
    os_job read;          /* lists: the job runner's part */
    paints_sqlite *st;
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
    char actions[]; /* save: the actions, NUL-terminated */
} job;

/* Rate limit for error lines: one line per distinct error, repeated at most every 10 s. */
typedef struct error_log {
    int last_rc;
    uint64_t last_ms;
} error_log;

/* The read connection. Lists run one at a time (a runner of one), so db, stmt and errors belong
 * to whichever pool thread runs the current list. */
typedef struct reader {
    sqlite3 *db;
    sqlite3_stmt *stmt[R_STMTS];
    int nstmts;
    error_log errors;
} reader;

struct paints_sqlite {
    os_store base;
    uv_loop_t *loop;
    reader reader;
    os_jobs lists;              /* the lists, one at a time on the pool */
    wxs__sqlite_client *writes; /* this instance's use of the file's writer */
    int refuse_writes;          /* the query_only test hook was set at open */
    error_log write_errors;     /* the writer thread's */
};

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *what, const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "paints sqlite: %s%s%s", what, detail ? ": " : "",
                 detail ? detail : "");
}

/* Log a failed job by its op, a tag of the user and SQLite's error text (never actions nor the
 * openid itself), at most once per 10 s for a repeated error. */
static void log_job_error(error_log *el, const job *j, int rc)
{
    char tag[9];
    uint64_t now = clock_ms();
    if (rc == el->last_rc && now - el->last_ms < ERROR_LOG_INTERVAL_MS)
        return;
    el->last_rc = rc;
    el->last_ms = now;
    wxs__log_tag(j->openid, strlen(j->openid), tag);
    wxs__warn("paints sqlite: %s for user %s failed: %s", job_name[j->kind], tag,
              sqlite3_errstr(rc));
}

/* ------------------------------------------------------------ writer thread: saves, deletes */

/* Step a statement that returns no rows and reset it. SQLITE_OK or the error code. */
static int exec_stmt(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_user(sqlite3_stmt *s, const job *j, int with_id)
{
    sqlite3_bind_text(s, 1, j->openid, -1, SQLITE_STATIC);
    if (with_id)
        sqlite3_bind_text(s, 2, j->id, -1, SQLITE_STATIC);
}

/* The write statement `which` on the writer's connection (prepared on first use). */
static int wstmt(wxs__sqlite_writer *w, int which, sqlite3_stmt **s)
{
    return wxs__sqlite_writer_stmt(w, write_sql[which], s);
}

/* Run the write statement `which` bound to the job's user (and id). */
static int exec_user(wxs__sqlite_writer *w, int which, const job *j, int with_id)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, which, &s);
    if (rc != SQLITE_OK)
        return rc;
    bind_user(s, j, with_id);
    return exec_stmt(s);
}

/* How many drawings the user has, from paint_counts (0 without a row). */
static int read_count(wxs__sqlite_writer *w, const job *j, long long *n)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, W_COUNT, &s);
    *n = 0;
    if (rc != SQLITE_OK)
        return rc;
    bind_user(s, j, 0);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(s, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Bind the job's user, id, actions and time to s (W_UPDATE, W_INSERT) and run it. */
static int exec_actions(sqlite3_stmt *s, const job *j)
{
    bind_user(s, j, 1);
    sqlite3_bind_text(s, 3, j->actions, (int)j->actions_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, j->now_ms);
    return exec_stmt(s);
}

/* The save, atomic in the job's savepoint: an existing (openid, id) gets the new actions and
 * updated_at (created_at kept); a new id is inserted and counted when the user has fewer than
 * max_per_user drawings, else j->status = WXS_ETOOBIG and nothing changes. Returns SQLITE_OK or
 * the failing code (the writer then rolls the savepoint back). */
static int run_save(wxs__sqlite_writer *w, job *j)
{
    sqlite3_stmt *s = NULL;
    long long n = 0;
    int rc = wstmt(w, W_UPDATE, &s);
    if (rc == SQLITE_OK)
        rc = exec_actions(s, j);
    if (rc != SQLITE_OK || sqlite3_changes(wxs__sqlite_writer_db(w)) > 0)
        return rc;
    rc = read_count(w, j, &n);
    if (rc != SQLITE_OK)
        return rc;
    if (n >= j->max_per_user) {
        j->status = WXS_ETOOBIG;
        return SQLITE_OK;
    }
    rc = wstmt(w, W_INSERT, &s);
    if (rc == SQLITE_OK)
        rc = exec_actions(s, j);
    if (rc == SQLITE_OK)
        rc = exec_user(w, W_COUNT_INC, j, 0);
    return rc;
}

/* The delete, atomic in the job's savepoint: remove (openid, id) and uncount it; j->status =
 * WXS_ENOTFOUND when the user has no such drawing. */
static int run_del(wxs__sqlite_writer *w, job *j)
{
    int rc = exec_user(w, W_DELETE, j, 1);
    if (rc != SQLITE_OK)
        return rc;
    if (sqlite3_changes(wxs__sqlite_writer_db(w)) == 0) {
        j->status = WXS_ENOTFOUND;
        return SQLITE_OK;
    }
    rc = exec_user(w, W_COUNT_DEC, j, 0);
    if (rc == SQLITE_OK)
        rc = exec_user(w, W_COUNT_DROP, j, 0);
    return rc;
}

/* The job's run on the writer thread. */
static int run_write(wxs__sqlite_job *base, wxs__sqlite_writer *w)
{
    job *j = (job *)base;
    sqlite3 *db = wxs__sqlite_writer_db(w);
    int rc;
    if (os_store_sqlite_work_hook != NULL)
        os_store_sqlite_work_hook();
    if (j->st->refuse_writes)
        sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
    rc = j->kind == JOB_SAVE ? run_save(w, j) : run_del(w, j);
    if (j->st->refuse_writes)
        sqlite3_exec(db, "PRAGMA query_only=0", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        log_job_error(&j->st->write_errors, j, rc);
    return rc;
}

/* ------------------------------------------------------------ pool side: lists */

/* Add the current row to the job's page: OS_PAGE_FULL, or an SQLite code. */
static int add_row(sqlite3_stmt *s, job *j)
{
    os_paint p;
    p.id = (const char *)sqlite3_column_text(s, 0);
    size_t idlen = (size_t)sqlite3_column_bytes(s, 0);
    p.actions = (const char *)sqlite3_column_text(s, 1);
    p.actions_len = (size_t)sqlite3_column_bytes(s, 1);
    p.created_at_ms = sqlite3_column_int64(s, 2);
    p.updated_at_ms = sqlite3_column_int64(s, 3);
    if (p.id == NULL || p.actions == NULL || idlen > OS_PAINT_ID_MAX)
        return SQLITE_CORRUPT; /* NULL from a NOT NULL column: only out of memory or a bad row */
    int rc = os_page_add(&j->page, &p);
    if (rc == OS_PAGE_FULL)
        return rc;
    return rc == 0 ? SQLITE_OK : rc == WXS_ENOMEM ? SQLITE_NOMEM : SQLITE_TOOBIG;
}

/* One page: up to limit rows after the cursor, added to the answer as they are read; the page
 * also ends early (more follow) when the next row would take the answer past its byte budget
 * (page.h: it always holds at least one row). */
static int run_list(reader *rd, job *j)
{
    int after = j->cursor.id[0] != '\0';
    sqlite3_stmt *s = rd->stmt[after ? R_AFTER : R_FIRST];
    int more = 0;
    int rc = os_page_init(&j->page, j->page_bytes, j->count_only);
    if (rc < 0)
        return SQLITE_NOMEM;
    bind_user(s, j, 0);
    if (after) {
        sqlite3_bind_int64(s, 2, j->cursor.created_at_ms);
        sqlite3_bind_text(s, 3, j->cursor.id, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 4, (sqlite3_int64)j->limit + 1);
    for (;;) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        rc = j->page.n == j->limit ? OS_PAGE_FULL : add_row(s, j);
        if (rc == OS_PAGE_FULL) {
            more = 1;
            rc = SQLITE_DONE;
        }
        if (rc != SQLITE_OK)
            break;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE && os_page_finish(&j->page, more) < 0)
        rc = SQLITE_NOMEM;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A list's run on a pool thread. */
static void list_run(os_job *oj)
{
    job *j = wxs__list_entry(oj, job, read);
    reader *rd = &j->st->reader;
    if (os_store_sqlite_work_hook != NULL)
        os_store_sqlite_work_hook();
    int rc = run_list(rd, j);
    if (rc != SQLITE_OK) {
        log_job_error(&rd->errors, j, rc);
        os_page_free(&j->page);
        j->status = rc == SQLITE_NOMEM ? WXS_ENOMEM : WXS_ESTORE;
    }
}

/* ------------------------------------------------------------ loop side */

/* Call the job's callback with its result and free it. */
static void finish_job(job *j)
{
    if (j->kind == JOB_LIST) {
        if (j->status < 0)
            j->list_cb(j->arg, j->status, NULL);
        else
            j->list_cb(j->arg, 0, &j->page);
        os_page_free(&j->page);
    } else {
        j->done_cb(j->arg, j->status);
    }
    wxs__free(j);
}

/* A list is back on the loop (or never ran: the store closed first). */
static void list_done(os_job *oj, int canceled)
{
    job *j = wxs__list_entry(oj, job, read);
    if (canceled) {
        os_page_free(&j->page);
        j->status = WXS_ECANCELED;
    }
    finish_job(j);
}

/* The writer's done for a save or delete (loop thread, after its batch committed or failed). */
static void write_done(wxs__sqlite_job *base, int rc)
{
    job *j = (job *)base;
    if (rc != SQLITE_OK)
        j->status = rc == SQLITE_NOMEM ? WXS_ENOMEM : WXS_ESTORE;
    finish_job(j);
}

static void write_submit(paints_sqlite *st, job *j)
{
    j->base.run = run_write;
    j->base.done = write_done;
    wxs__sqlite_writer_submit(st->writes, &j->base);
}

static void finalize_reader(reader *rd)
{
    for (int i = 0; i < rd->nstmts; i++) {
        sqlite3_finalize(rd->stmt[i]);
        rd->stmt[i] = NULL;
    }
    sqlite3_close_v2(rd->db); /* the process's last connection out checkpoints the WAL */
    rd->db = NULL;
}

/* Closed and no list left (the runner's final work, on the pool): close the read connection (it
 * may block on the file lock). It closes before the writer's so that the writer's connection is
 * the last of the process to close, the one that checkpoints the WAL and removes it. */
static void final_work(void *arg)
{
    paints_sqlite *st = arg;
    finalize_reader(&st->reader);
}

static void on_writes_detached(void *arg)
{
    wxs__free(arg);
}

/* The read connection is closed: let go of the writer once the writes in flight are handed
 * back (the last instance of the file stops it), then free the instance. */
static void final_done(void *arg)
{
    paints_sqlite *st = arg;
    wxs__sqlite_writer_detach(st->writes, on_writes_detached, st);
}

/* ------------------------------------------------------------ ops */

static job *job_new(paints_sqlite *st, enum job_kind kind, const char *openid, const char *id,
                    size_t extra, void *arg)
{
    job *j = wxs__calloc(1, sizeof *j + extra);
    if (j == NULL)
        return NULL;
    j->st = st;
    j->kind = kind;
    j->arg = arg;
    memcpy(j->openid, openid, strlen(openid) + 1);
    if (id != NULL)
        memcpy(j->id, id, strlen(id) + 1);
    return j;
}

/* List up to limit (1..1000) of openid's drawings after cursor (NULL or id "" = first page) as
 * an answer within page_bytes (page.h). Returns 0 (cb will run once, on a later loop iteration),
 * WXS_EINVAL, WXS_ECANCELED (closing) or WXS_ENOMEM. */
static int ps_list(os_store *base, const char *openid, const os_paint_cursor *cursor,
                   unsigned limit, size_t page_bytes, int count_only, os_store_list_cb cb,
                   void *arg)
{
    paints_sqlite *st = (paints_sqlite *)base;
    int first = cursor == NULL || cursor->id[0] == '\0';
    int rc = os_paint_check_list(openid, cursor, limit, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->lists))
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
    j->read.run = list_run;
    j->read.done = list_done;
    os_jobs_submit(&st->lists, &j->read);
    return 0;
}

/* Save (insert or replace) openid's drawing id. Returns 0 (cb will run once with 0,
 * WXS_ETOOBIG or WXS_ESTORE), WXS_EINVAL, WXS_ETOOBIG (actions over 16 MiB), WXS_ECANCELED or
 * WXS_ENOMEM. The actions are copied. */
static int ps_save(os_store *base, const char *openid, const char *id, const char *actions,
                   size_t actions_len, int64_t now_ms, long long max_per_user, os_store_done_cb cb,
                   void *arg)
{
    paints_sqlite *st = (paints_sqlite *)base;
    int rc = os_paint_check_save(openid, id, actions, actions_len, max_per_user, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->lists))
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
    write_submit(st, j);
    return 0;
}

/* Delete openid's drawing id. Returns 0 (cb will run once with 0, WXS_ENOTFOUND or
 * WXS_ESTORE), WXS_EINVAL, WXS_ECANCELED or WXS_ENOMEM. */
static int ps_del(os_store *base, const char *openid, const char *id, os_store_done_cb cb,
                  void *arg)
{
    paints_sqlite *st = (paints_sqlite *)base;
    int rc = os_paint_check_del(openid, id, cb != NULL);
    if (rc == 0 && os_jobs_closing(&st->lists))
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = job_new(st, JOB_DEL, openid, id, 0, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    j->done_cb = cb;
    write_submit(st, j);
    return 0;
}

static int ps_ready(const os_store *base)
{
    const paints_sqlite *st = (const paints_sqlite *)base;
    return st != NULL && !os_jobs_closing(&st->lists);
}

/* Start closing. Saves and deletes already issued still complete and their callbacks get their
 * real results (an acknowledged write is never dropped). A list already running on the pool
 * completes; lists not yet started (queued in the runner, or waiting for a pool thread) get
 * WXS_ECANCELED. All callbacks run on later loop iterations: close() itself calls none. Then the
 * read connection closes on the pool, the instance lets go of the writer (the last instance of
 * the file stops it) and the memory is released. Ops issued after close() return
 * WXS_ECANCELED. NULL is a no-op. */
static void ps_close(os_store *base)
{
    paints_sqlite *st = (paints_sqlite *)base;
    if (st != NULL)
        os_jobs_close(&st->lists);
}

/* ------------------------------------------------------------ open */

/* Create this store's tables when missing; refuse a file whose paints schema is newer than this
 * code. Its version lives in wxs_schema, so the session store's user_version stays its own. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    return wxs__sqlite_migrate(db,
                               "CREATE TABLE IF NOT EXISTS wxs_schema (component TEXT PRIMARY "
                               "KEY, version INTEGER NOT NULL) WITHOUT ROWID",
                               "SELECT version FROM wxs_schema WHERE component = 'paints'",
                               SCHEMA_VERSION, schema_sql, "sqlite.path", err, errlen);
}

static int prepare_all(reader *rd, const char *const *sql, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        int rc =
            sqlite3_prepare_v3(rd->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &rd->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            set_err(err, errlen, "cannot prepare a statement", sqlite3_errstr(rc));
            return WXS_ESTORE;
        }
        rd->nstmts = i + 1;
    }
    return 0;
}

/* The read connection: opens (creating) the file in WAL mode and brings this store's tables up
 * to date on it, then becomes read-only (PRAGMA query_only). */
static int open_reader(reader *rd, const char *path, char *err, size_t errlen)
{
    int rc = wxs__sqlite_open_wal(path, BUSY_TIMEOUT_MS, "sqlite.path", &rd->db, err, errlen);
    if (rc < 0)
        return rc;
    rc = migrate(rd->db, err, errlen);
    if (rc < 0)
        return rc;
    rc = sqlite3_exec(rd->db, "PRAGMA query_only=1", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "cannot open the read connection", sqlite3_errstr(rc));
        return WXS_ESTORE;
    }
    return prepare_all(rd, read_sql, R_STMTS, err, errlen);
}

/* Open an instance on loop: opens (creating if needed) sqlite_path, switches it to WAL,
 * creates this store's tables, prepares the read statements and attaches to the file's writer
 * (starting it if this is the process's first instance on the file). Runs on the calling (loop)
 * thread and may block briefly on file I/O: call it at start-up. Returns 0, WXS_ECONFIG (no path,
 * newer schema), WXS_ESTORE (SQLite refused: unreadable file, missing directory...) or
 * WXS_ENOMEM, with a reason in err. */
static int ps_open(os_store **out, uv_loop_t *loop, const struct onestroke_options *opts,
                   const char *sqlite_path, char *err, size_t errlen)
{
    paints_sqlite *st = NULL;
    int rc = 0;
    *out = NULL;
    if (sqlite_path == NULL || sqlite_path[0] == '\0') {
        set_err(err, errlen, "no database path configured (sqlite.path)", NULL);
        return WXS_ECONFIG;
    }
    if (!sqlite3_threadsafe()) {
        set_err(err, errlen, "the SQLite library was built without thread safety", NULL);
        return WXS_ECONFIG;
    }
    st = wxs__calloc(1, sizeof *st);
    if (st == NULL)
        return WXS_ENOMEM;
    st->base.ops = &os_store_sqlite_ops;
    st->loop = loop;
    st->refuse_writes = os_store_sqlite_test_query_only;
    os_jobs_init(&st->lists, loop, 1, final_work, final_done, st);
    rc = open_reader(&st->reader, sqlite_path, err, errlen);
    if (rc == 0)
        rc = wxs__sqlite_writer_attach(&st->writes, loop, sqlite_path, "sqlite.path", err, errlen);
    if (rc < 0)
        goto out;
    wxs__debug("paints sqlite: opened %s", sqlite_path);
    *out = &st->base;
out:
    if (rc < 0) {
        finalize_reader(&st->reader);
        wxs__free(st);
    }
    return rc;
}

const os_store_ops os_store_sqlite_ops = {
    .name = "sqlite",
    .open = ps_open,
    .close = ps_close,
    .ready = ps_ready,
    .list = ps_list,
    .save = ps_save,
    .del = ps_del,
};
