/* sqlite_util.c: what the session and drawing stores share on SQLite: the connection set-up,
 * the schema migration and the per-file writer (one write connection, one thread, group
 * commit). */
#include "sqlite_util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITER_BUSY_TIMEOUT_MS 5000 /* the writer waits this long for another process's writer */
#define BATCH_MAX_JOBS 256          /* jobs per group commit */
#define CHECKPOINT_FRAMES 1000      /* checkpoint between batches once the WAL is this long */
#define WRITER_MAX_STMTS 64         /* statements a writer keeps prepared */
#define ERROR_LOG_INTERVAL_MS 10000

/* While the writer is failing, a probe write runs after this long without jobs (test hook). */
_Atomic unsigned wxs__sqlite_probe_interval_ms = 1000;

int wxs__sqlite_query_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
        rc = SQLITE_DONE;
    }
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
out:
    sqlite3_finalize(s);
    return rc;
}

static int fail(char *err, size_t errlen, const char *option, const char *what, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "option '%s': %s: %s", option, what, why);
    return WXS_ESTORE;
}

/* What to check when SQLite refuses a file with rc, or "" when there is nothing to add. */
static const char *file_hint(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
        return " (does the directory exist and is it writable?)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return " (are the file and its directory writable?)";
    case SQLITE_FULL:
        return " (is the disk full?)";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return " (is it an SQLite database?)";
    default:
        return "";
    }
}

/* "option '<option>': <what> '<path>': <SQLite's reason> (hint)"; returns WXS_ESTORE. */
static int fail_file(char *err, size_t errlen, const char *option, const char *what,
                     const char *path, int rc)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "option '%s': %s '%s': %s%s", option, what, path, sqlite3_errstr(rc),
                 file_hint(rc));
    return WXS_ESTORE;
}

/* The file name of db's main database ("" when unknown), for error messages. */
static const char *db_path(sqlite3 *db)
{
    const char *path = sqlite3_db_filename(db, "main");
    return path != NULL ? path : "";
}

int wxs__sqlite_open_wal(const char *path, int busy_ms, const char *option, sqlite3 **db, char *err,
                         size_t errlen)
{
    char mode[16];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK)
        return fail_file(err, errlen, option, "cannot open", path, rc);
    sqlite3_busy_timeout(*db, busy_ms);
    /* While another instance is creating the same file this pragma can fail with SQLITE_BUSY
     * without calling the busy handler, so retry it for up to the busy timeout. */
    rc = wxs__sqlite_query_text(*db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    for (int waited = 0; rc == SQLITE_BUSY && waited < busy_ms; waited += 10) {
        sqlite3_sleep(10);
        rc = wxs__sqlite_query_text(*db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    }
    if (rc == SQLITE_OK && strcmp(mode, "wal") != 0)
        rc = SQLITE_READONLY; /* SQLite keeps the old mode when it cannot write the file */
    if (rc != SQLITE_OK)
        return fail_file(err, errlen, option, "cannot enable WAL journal mode on", path, rc);
    rc = sqlite3_exec(*db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_file(err, errlen, option, "cannot set synchronous=NORMAL on", path, rc);
    return 0;
}

int wxs__sqlite_migrate(sqlite3 *db, const char *setup_sql, const char *version_sql, int version,
                        const char *schema_sql, const char *option, char *err, size_t errlen)
{
    char current[32] = "";
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && setup_sql != NULL)
        rc = sqlite3_exec(db, setup_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = wxs__sqlite_query_text(db, version_sql, current, sizeof current);
    if (rc == SQLITE_OK && atoi(current) > version) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        if (err != NULL && errlen > 0)
            snprintf(err, errlen,
                     "option '%s': cannot use '%s': its schema is newer than this version", option,
                     db_path(db));
        return WXS_ECONFIG;
    }
    if (rc == SQLITE_OK && atoi(current) < version)
        rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return fail_file(err, errlen, option, "cannot create the schema in", db_path(db), rc);
    }
    return 0;
}

/* ------------------------------------------------------------ the writer */

typedef struct cached_stmt {
    const char *sql;
    sqlite3_stmt *stmt;
} cached_stmt;

struct wxs__sqlite_writer {
    wxs__sqlite_writer *next; /* in the registry */
    char *path;
    uv_pid_t pid; /* the process that started it: a forked child starts its own */
    int users;    /* registry_lock */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    wxs__sqlite_job *head; /* lock: the queue */
    wxs__sqlite_job *tail;
    int sleeping; /* lock: the thread waits on wake */
    int stopping; /* lock: no client left, exit once the queue is empty */
    /* the writer thread's alone once it runs */
    sqlite3 *db;
    cached_stmt stmts[WRITER_MAX_STMTS];
    int nstmts;
    int wal_frames;     /* the WAL's length after the last commit, from the WAL hook */
    int wrote;          /* the WAL hook ran: a commit reached the file */
    atomic_int failing; /* any thread: 0, or the storage error of the last write (see header) */
    unsigned long batches;
    int last_error;
    uint64_t last_error_ms;
};

struct wxs__sqlite_client {
    wxs__sqlite_writer *writer;
    uv_async_t async; /* the writer thread wakes the loop with it */
    uv_mutex_t lock;
    wxs__sqlite_job *done_head; /* lock: finished jobs waiting for the loop */
    wxs__sqlite_job *done_tail;
    unsigned inflight; /* loop thread: submitted, done not yet run */
    int detaching;
    int closing; /* the async handle is closing */
    void (*detached)(void *arg);
    void *detached_arg;
};

static uv_once_t registry_once = UV_ONCE_INIT;
static uv_mutex_t registry_lock;
static int registry_rc;
static wxs__sqlite_writer *registry;

static void registry_init(void)
{
    registry_rc = uv_mutex_init(&registry_lock);
}

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

sqlite3 *wxs__sqlite_writer_db(wxs__sqlite_writer *w)
{
    return w->db;
}

int wxs__sqlite_writer_stmt(wxs__sqlite_writer *w, const char *sql, sqlite3_stmt **out)
{
    for (int i = 0; i < w->nstmts; i++) {
        if (w->stmts[i].sql == sql || strcmp(w->stmts[i].sql, sql) == 0) {
            *out = w->stmts[i].stmt;
            return SQLITE_OK;
        }
    }
    *out = NULL;
    if (w->nstmts == WRITER_MAX_STMTS)
        return SQLITE_MISUSE;
    int rc = sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (rc != SQLITE_OK)
        return rc;
    w->stmts[w->nstmts++] = (cached_stmt){sql, *out};
    return SQLITE_OK;
}

/* Run one statement that returns no rows (transaction control). SQLITE_OK or the error. */
static int writer_exec(wxs__sqlite_writer *w, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int rc = wxs__sqlite_writer_stmt(w, sql, &s);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Log a failed batch or checkpoint by SQLite's error text (never data), once per distinct
 * error per 10 s. jobs < 0: a checkpoint. */
static void log_writer_error(wxs__sqlite_writer *w, const char *what, int rc, int jobs)
{
    uint64_t now = clock_ms();
    if (rc == w->last_error && now - w->last_error_ms < ERROR_LOG_INTERVAL_MS)
        return;
    w->last_error = rc;
    w->last_error_ms = now;
    if (jobs < 0)
        wxs__warn("sqlite: checkpoint failed: %s", sqlite3_errstr(rc));
    else
        wxs__warn("sqlite: %s of a batch of %d writes failed: %s", what, jobs, sqlite3_errstr(rc));
}

/* 1 when rc says the file cannot be written (full disk, I/O error, read-only, gone), as opposed
 * to an error of one write (a constraint, a busy lock, out of memory). */
static int is_storage_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
        return 1;
    default:
        return 0;
    }
}

/* After a batch (or a probe): failing while a write met a storage error, cleared once a commit
 * reached the file with none. */
static void update_failing(wxs__sqlite_writer *w, int storage_rc)
{
    if (storage_rc != SQLITE_OK)
        atomic_store(&w->failing, storage_rc);
    else if (w->wrote)
        atomic_store(&w->failing, 0);
}

/* Run j in a savepoint of its own. Returns the job's result; *batch_rc is set when the error
 * ended the whole transaction (SQLite rolls back on some I/O and memory errors) or the savepoint
 * could not be closed: the batch then fails. */
static int run_job(wxs__sqlite_writer *w, wxs__sqlite_job *j, int *batch_rc)
{
    int rc = writer_exec(w, "SAVEPOINT job");
    if (rc == SQLITE_OK)
        rc = j->run(j, w);
    if (sqlite3_get_autocommit(w->db)) {
        *batch_rc = rc != SQLITE_OK ? rc : SQLITE_ABORT;
        return *batch_rc;
    }
    int end = SQLITE_OK;
    if (rc != SQLITE_OK)
        end = writer_exec(w, "ROLLBACK TO job");
    if (end == SQLITE_OK)
        end = writer_exec(w, "RELEASE job");
    if (end != SQLITE_OK) {
        *batch_rc = end;
        rc = rc != SQLITE_OK ? rc : end;
    }
    return rc;
}

/* One group commit: BEGIN IMMEDIATE, every job in its savepoint, COMMIT. A job that failed
 * keeps its own error; when the transaction fails (BEGIN, COMMIT, or an error that ended it)
 * every other job of the batch gets that error, run or not: nothing committed. */
static void run_batch(wxs__sqlite_writer *w, wxs__sqlite_job *batch)
{
    unsigned long number = ++w->batches;
    int jobs = 0;
    int storage_rc = SQLITE_OK;
    w->wrote = 0;
    int rc = writer_exec(w, "BEGIN IMMEDIATE");
    const char *what = rc != SQLITE_OK ? "BEGIN" : "a write";
    for (wxs__sqlite_job *j = batch; j != NULL; j = j->next) {
        j->batch = number;
        j->rc = SQLITE_OK;
        if (rc == SQLITE_OK)
            j->rc = run_job(w, j, &rc);
        jobs++;
    }
    if (rc == SQLITE_OK) {
        what = "COMMIT";
        rc = writer_exec(w, "COMMIT");
    }
    for (wxs__sqlite_job *j = batch; j != NULL && storage_rc == SQLITE_OK; j = j->next)
        if (is_storage_error(j->rc))
            storage_rc = j->rc;
    if (is_storage_error(rc))
        storage_rc = rc;
    update_failing(w, storage_rc);
    if (rc == SQLITE_OK)
        return;
    log_writer_error(w, what, rc, jobs);
    if (!sqlite3_get_autocommit(w->db))
        writer_exec(w, "ROLLBACK");
    for (wxs__sqlite_job *j = batch; j != NULL; j = j->next)
        if (j->rc == SQLITE_OK)
            j->rc = rc;
}

/* While failing and idle: a write of one page (the header's user_version, set to the value it
 * has) tells whether the file can be written again, so the state recovers without traffic. */
static void run_probe(wxs__sqlite_writer *w)
{
    char version[32];
    char sql[64];
    w->wrote = 0;
    int rc = writer_exec(w, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = wxs__sqlite_query_text(w->db, "PRAGMA user_version", version, sizeof version);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", atoi(version));
        rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = writer_exec(w, "COMMIT");
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(w->db))
        writer_exec(w, "ROLLBACK");
    update_failing(w, is_storage_error(rc) ? rc : SQLITE_OK);
}

/* Hand each job of the batch to its client's done list and wake that client's loop. The job
 * belongs to the loop as soon as it is on the list: read nothing of it after. */
static void hand_back(wxs__sqlite_job *batch)
{
    wxs__sqlite_job *next;
    for (wxs__sqlite_job *j = batch; j != NULL; j = next) {
        wxs__sqlite_client *c = j->client;
        next = j->next;
        j->next = NULL;
        uv_mutex_lock(&c->lock);
        if (c->done_tail != NULL) {
            c->done_tail->next = j;
        } else {
            c->done_head = j;
            uv_async_send(&c->async); /* under the lock: the client outlives this call */
        }
        c->done_tail = j;
        uv_mutex_unlock(&c->lock);
    }
}

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    wxs__sqlite_writer *w = arg;
    (void)db;
    (void)name;
    w->wal_frames = frames;
    w->wrote = 1;
    return SQLITE_OK;
}

/* Between batches: once the WAL is CHECKPOINT_FRAMES long, copy it back into the database
 * (PASSIVE: never waits for readers), so the next writer can start the WAL over. */
static void maybe_checkpoint(wxs__sqlite_writer *w)
{
    if (w->wal_frames < CHECKPOINT_FRAMES)
        return;
    w->wal_frames = 0;
    int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_writer_error(w, "checkpoint", rc, -1);
}

/* Wait for jobs; take up to BATCH_MAX_JOBS of them. NULL once stopping with none left, or with
 * *probe set when the writer is failing and no job came for wxs__sqlite_probe_interval_ms. */
static wxs__sqlite_job *take_batch(wxs__sqlite_writer *w, int *probe)
{
    *probe = 0;
    uv_mutex_lock(&w->lock);
    while (w->head == NULL && !w->stopping && !*probe) {
        w->sleeping = 1;
        if (atomic_load(&w->failing) == 0)
            uv_cond_wait(&w->wake, &w->lock);
        else if (uv_cond_timedwait(&w->wake, &w->lock,
                                   (uint64_t)wxs__sqlite_probe_interval_ms * 1000000) != 0)
            *probe = 1;
        w->sleeping = 0;
    }
    wxs__sqlite_job *batch = w->head;
    wxs__sqlite_job *last = batch;
    for (int n = 1; last != NULL && n < BATCH_MAX_JOBS && last->next != NULL; n++)
        last = last->next;
    if (last != NULL) {
        w->head = last->next;
        last->next = NULL;
        if (w->head == NULL)
            w->tail = NULL;
    }
    uv_mutex_unlock(&w->lock);
    return batch;
}

static void close_db(wxs__sqlite_writer *w)
{
    for (int i = 0; i < w->nstmts; i++)
        sqlite3_finalize(w->stmts[i].stmt);
    w->nstmts = 0;
    sqlite3_close_v2(w->db); /* the last connection out checkpoints the WAL and removes it */
    w->db = NULL;
}

static void writer_main(void *arg)
{
    wxs__sqlite_writer *w = arg;
    wxs__sqlite_job *batch;
    int probe;
    while ((batch = take_batch(w, &probe)) != NULL || probe) {
        if (batch == NULL) {
            run_probe(w);
            continue;
        }
        run_batch(w, batch);
        hand_back(batch);
        maybe_checkpoint(w);
    }
    close_db(w);
}

static void writer_free(wxs__sqlite_writer *w)
{
    uv_cond_destroy(&w->wake);
    uv_mutex_destroy(&w->lock);
    wxs__free(w->path);
    wxs__free(w);
}

/* Start a writer for path: its connection (WAL, no automatic checkpoint) and its thread. */
static int writer_start(wxs__sqlite_writer **out, const char *path, const char *option, char *err,
                        size_t errlen)
{
    wxs__sqlite_writer *w = wxs__calloc(1, sizeof *w);
    int rc = 0;
    if (w == NULL)
        return WXS_ENOMEM;
    w->pid = uv_os_getpid();
    w->path = wxs__strdup(path);
    if (w->path == NULL || uv_mutex_init(&w->lock) != 0) {
        wxs__free(w->path);
        wxs__free(w);
        return WXS_ENOMEM;
    }
    if (uv_cond_init(&w->wake) != 0) {
        uv_mutex_destroy(&w->lock);
        wxs__free(w->path);
        wxs__free(w);
        return WXS_ENOMEM;
    }
    rc = wxs__sqlite_open_wal(path, WRITER_BUSY_TIMEOUT_MS, option, &w->db, err, errlen);
    if (rc == 0) {
        sqlite3_wal_autocheckpoint(w->db, 0);
        sqlite3_wal_hook(w->db, on_wal_commit, w);
        if (uv_thread_create(&w->thread, writer_main, w) != 0)
            rc = fail(err, errlen, option, "cannot start the writer thread", "out of resources");
    }
    if (rc < 0) {
        sqlite3_close_v2(w->db);
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* The running writer of path in this process, started if needed, with one more user. */
static int writer_acquire(wxs__sqlite_writer **out, const char *path, const char *option, char *err,
                          size_t errlen)
{
    wxs__sqlite_writer *w;
    int rc = 0;
    uv_once(&registry_once, registry_init);
    if (registry_rc != 0)
        return WXS_ENOMEM;
    uv_mutex_lock(&registry_lock);
    uv_pid_t pid = uv_os_getpid();
    for (w = registry; w != NULL; w = w->next)
        if (w->pid == pid && strcmp(w->path, path) == 0)
            break;
    if (w == NULL) {
        rc = writer_start(&w, path, option, err, errlen);
        if (rc == 0) {
            w->next = registry;
            registry = w;
        }
    }
    if (rc == 0) {
        w->users++;
        *out = w;
    }
    uv_mutex_unlock(&registry_lock);
    return rc;
}

/* One user less; the last one stops the thread (after the queue, empty by then) and joins it. */
static void writer_release(wxs__sqlite_writer *w)
{
    uv_mutex_lock(&registry_lock);
    int last = --w->users == 0;
    if (last) {
        wxs__sqlite_writer **p = &registry;
        while (*p != w)
            p = &(*p)->next;
        *p = w->next;
    }
    uv_mutex_unlock(&registry_lock);
    if (!last)
        return;
    uv_mutex_lock(&w->lock);
    w->stopping = 1;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->thread);
    writer_free(w);
}

int wxs__sqlite_writer_users(const char *path)
{
    int users = 0;
    uv_once(&registry_once, registry_init);
    if (registry_rc != 0)
        return 0;
    uv_mutex_lock(&registry_lock);
    uv_pid_t pid = uv_os_getpid();
    for (wxs__sqlite_writer *w = registry; w != NULL; w = w->next)
        if (w->pid == pid && strcmp(w->path, path) == 0)
            users += w->users;
    uv_mutex_unlock(&registry_lock);
    return users;
}

/* ------------------------------------------------------------ clients (loop side) */

static void on_client_closed(uv_handle_t *h)
{
    wxs__sqlite_client *c = h->data;
    void (*detached)(void *) = c->detached;
    void *arg = c->detached_arg;
    writer_release(c->writer);
    uv_mutex_destroy(&c->lock);
    wxs__free(c);
    detached(arg);
}

static void maybe_close(wxs__sqlite_client *c)
{
    if (!c->detaching || c->inflight > 0 || c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->async, on_client_closed);
}

/* On the loop: run the done of every job handed back, in order. A done may submit more jobs or
 * detach; the client is freed only by its close callback, on a later loop iteration. */
static void on_jobs_done(uv_async_t *a)
{
    wxs__sqlite_client *c = a->data;
    uv_mutex_lock(&c->lock);
    wxs__sqlite_job *list = c->done_head;
    c->done_head = NULL;
    c->done_tail = NULL;
    uv_mutex_unlock(&c->lock);
    while (list != NULL) {
        wxs__sqlite_job *j = list;
        list = j->next;
        if (--c->inflight == 0)
            uv_unref((uv_handle_t *)&c->async);
        j->done(j, j->rc);
    }
    maybe_close(c);
}

int wxs__sqlite_writer_attach(wxs__sqlite_client **out, uv_loop_t *loop, const char *path,
                              const char *option, char *err, size_t errlen)
{
    wxs__sqlite_client *c = wxs__calloc(1, sizeof *c);
    int rc = 0;
    *out = NULL;
    if (c == NULL)
        return WXS_ENOMEM;
    if (uv_mutex_init(&c->lock) != 0) {
        wxs__free(c);
        return WXS_ENOMEM;
    }
    rc = writer_acquire(&c->writer, path, option, err, errlen);
    if (rc == 0 && uv_async_init(loop, &c->async, on_jobs_done) != 0) {
        writer_release(c->writer);
        rc = fail(err, errlen, option, "cannot create the writer's wake-up handle",
                  "out of resources");
    }
    if (rc < 0) {
        uv_mutex_destroy(&c->lock);
        wxs__free(c);
        return rc;
    }
    c->async.data = c;
    uv_unref((uv_handle_t *)&c->async); /* only jobs in flight keep the loop alive */
    *out = c;
    return 0;
}

int wxs__sqlite_writer_failing(const wxs__sqlite_client *c)
{
    return atomic_load(&c->writer->failing);
}

void wxs__sqlite_writer_submit(wxs__sqlite_client *c, wxs__sqlite_job *job)
{
    wxs__sqlite_writer *w = c->writer;
    if (c->inflight++ == 0)
        uv_ref((uv_handle_t *)&c->async);
    job->client = c;
    job->next = NULL;
    job->rc = SQLITE_OK;
    uv_mutex_lock(&w->lock);
    if (w->tail != NULL)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    if (w->sleeping)
        uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
}

void wxs__sqlite_writer_detach(wxs__sqlite_client *c, void (*detached)(void *arg), void *arg)
{
    if (c == NULL || c->detaching)
        return;
    c->detaching = 1;
    c->detached = detached;
    c->detached_arg = arg;
    maybe_close(c);
}
