/* store_sqlite.c: the embedded session store: one SQLite file in WAL mode; reads run on the loop
 * thread right after its I/O callbacks (lib/defer.h), writes run in order on the file's writer
 * thread (util/sqlite_util.h). */
#include "defer.h"
#include "sqlite_util.h"
#include "store.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Durability. The file is in WAL mode with synchronous=NORMAL. A write is acknowledged (its
 * callback runs) only after the transaction that holds it committed, that is after its WAL
 * frames were handed to the kernel with write(2). A kill -9 of the process therefore never loses
 * an acknowledged write: the kernel holds the pages and the next opener replays the WAL. An OS
 * crash or a power loss may roll back the last few transactions (NORMAL does not fsync the WAL
 * on every commit), but never corrupts the file. Checkpoints run between commits, on the writer
 * thread, and when the last connection of the process closes.
 *
 * Threads. Each instance owns a read connection, which serves get() on the loop thread: a WAL
 * reader never waits for writers, so a get is answered on the loop's next pass (deferred, as the
 * callback rule of store.h wants: never before get() returns). Writes (set, set_nx, del, del_eq,
 * login and the periodic purge of expired rows) go to the one writer of the file in this
 * process (util/sqlite_util.h): one connection and one thread shared by every instance, sessions
 * and drawings, of every worker. It runs the writes queued by all of them in FIFO order as group
 * commits, each write in a savepoint of its own, so the writes of one instance apply in the order
 * they were issued, as on a Redis connection, and a failing write fails alone. Results come back
 * to the instance's loop through a uv_async_t. Another process on the same file has its own
 * writer; SQLite's locking with a busy timeout serialises the two. */

#define SCHEMA_VERSION 1
#define OPEN_BUSY_TIMEOUT_MS 5000 /* creating the schema waits this long for another writer */
#define READ_BUSY_TIMEOUT_MS 100  /* bounds a (rare) stall of the loop thread in get() */
#define PURGE_INTERVAL_MS 60000
#define PURGE_BACKLOG_MS 200 /* the next purge, when the last one stopped at its cap */
#define PURGE_BATCH_ROWS 500
#define PURGE_MAX_BATCHES 4 /* 2,000 rows per purge job: a short stall of the writer */
#define ERROR_LOG_INTERVAL_MS 10000
#define MAX_PREFIX WXS__STORE_MAX_PREFIX
#define MAX_KEY WXS__STORE_MAX_KEY
#define MAX_LOGIN_ID WXS__STORE_MAX_LOGIN_ID
#define SPARE_GETS_MAX 64         /* finished get ops kept for reuse: no allocation per read */
#define PATH_OPTION "sqlite.path" /* the option naming the file, in error messages */

/* Test hook: when set, called on the writer thread before each write. Not for production. */
void (*wxs__store_sqlite_write_hook)(void);

enum {
    ST_UPSERT,
    ST_SET_NX,
    ST_DELETE,
    ST_DELETE_EQ,
    ST_SELECT,
    ST_PURGE,
    ST_TOUCH,
    ST_SET_VALUE,
    ST_COUNT
};

#define UPSERT_SQL                                                                                 \
    "INSERT INTO kv(key, value, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET "   \
    "value = excluded.value, expires_at = excluded.expires_at"
#define SELECT_SQL "SELECT value FROM kv WHERE key = ?1 AND expires_at > ?2"

static const char *const write_sql[ST_COUNT] = {
    [ST_UPSERT] = UPSERT_SQL,
    [ST_SET_NX] = UPSERT_SQL " WHERE kv.expires_at <= ?4",
    [ST_DELETE] = "DELETE FROM kv WHERE key = ?1 RETURNING expires_at",
    [ST_DELETE_EQ] = "DELETE FROM kv WHERE key = ?1 AND value = ?2 AND expires_at > ?3",
    [ST_SELECT] = SELECT_SQL,
    [ST_PURGE] = "DELETE FROM kv WHERE key IN "
                 "(SELECT key FROM kv WHERE expires_at <= ?1 LIMIT ?2)",
    [ST_TOUCH] = "UPDATE kv SET value = ?2, expires_at = ?3 WHERE key = ?1 AND expires_at > ?4",
    [ST_SET_VALUE] = "UPDATE kv SET value = ?2 WHERE key = ?1",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
    "expires_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_expires_at ON kv(expires_at);"
    "PRAGMA user_version = 1;";

enum job_kind {
    JOB_SET,
    JOB_SET_NX,
    JOB_DEL,
    JOB_DEL_EQ,
    JOB_LOGIN,
    JOB_PURGE,
    JOB_TOKEN_PUT,
    JOB_TOKEN_TOUCH,
    JOB_TOKEN_DEL,
    JOB_TOKEN_DEL_USER
};

static const char *const job_name[] = {[JOB_SET] = "set",
                                       [JOB_SET_NX] = "set_nx",
                                       [JOB_DEL] = "del",
                                       [JOB_DEL_EQ] = "del_eq",
                                       [JOB_LOGIN] = "login",
                                       [JOB_PURGE] = "purge",
                                       [JOB_TOKEN_PUT] = "token_put",
                                       [JOB_TOKEN_TOUCH] = "token_touch",
                                       [JOB_TOKEN_DEL] = "token_del",
                                       [JOB_TOKEN_DEL_USER] = "token_del_user"};

typedef struct sqlite_store sqlite_store;

/* One queued write. The byte fields point into bytes[], allocated with the job. */
typedef struct job {
    wxs__sqlite_job base; /* first: the writer's part */
    sqlite_store *st;
    enum job_kind kind;
    long long ttl_s;
    const char *key; /* prefixed key (login: prefixed code) */
    size_t key_len;
    const char *val; /* value (login: user info JSON) */
    size_t val_len;
    const char *key2; /* login: prefixed openId */
    size_t key2_len;
    const char *val2; /* login: the code as a JSON string */
    size_t val2_len;
    const char *code; /* login: the bare code (inside key) */
    size_t code_len;
    const char *key3; /* login: the prefixed remembered exchange key, or NULL */
    size_t key3_len;
    const char *val3;
    size_t val3_len;
    long long ttl3_s;
    const char *hash; /* token ops: the token's hash (inside key) */
    long long ttl2_s; /* token_put: the index's life */
    long long cap;    /* token_put: sessions per user */
    int status;       /* the writer thread's, until done */
    wxs__store_done_cb cb;
    void *arg;
    char bytes[];
} job;

/* One read waiting for the loop's next pass: the prefixed key and whom to answer. */
typedef struct get_op {
    wxs__deferred later; /* queued on the instance's deferred calls */
    sqlite_store *st;
    wxs__store_get_cb cb;
    void *arg;
    size_t key_len;
    struct get_op *next_spare;
    char key[MAX_PREFIX + MAX_KEY];
} get_op;

/* Rate limit for error lines: one line per distinct error, repeated at most every 10 s. */
typedef struct error_log {
    int last_rc;
    uint64_t last_ms;
} error_log;

struct sqlite_store {
    wxs__store base;
    char *prefix;
    size_t prefix_len;
    /* loop thread */
    sqlite3 *rdb;
    sqlite3_stmt *get_stmt;
    wxs__defer reads;   /* gets waiting for the loop's next pass */
    get_op *spare_gets; /* finished get ops, for reuse */
    unsigned spare_count;
    error_log read_errors;
    wxs__sqlite_client *writes; /* this instance's use of the file's writer */
    int purge_queued;           /* a purge job is queued or running */
    int closing;
    int timer_closed;
    int reads_closed;
    int writes_detached;
    uv_timer_t purge_timer;
    /* the writer thread's */
    error_log write_errors;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *what, const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "sqlite: %s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* Log a failed SQLite call by its error text (never keys or values), rate-limited. */
static void log_sqlite_error(error_log *el, const char *what, int rc)
{
    uint64_t now = now_ms();
    if (rc == el->last_rc && now - el->last_ms < ERROR_LOG_INTERVAL_MS)
        return;
    el->last_rc = rc;
    el->last_ms = now;
    wxs__warn("sqlite: %s failed: %s", what, sqlite3_errstr(rc));
}

/* ------------------------------------------------------------ writer thread: one job */

/* Step a statement that returns no rows and reset it. SQLITE_OK or the error code. */
static int exec_stmt(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The write statement `which` on the writer's connection (prepared on first use). */
static int wstmt(wxs__sqlite_writer *w, int which, sqlite3_stmt **s)
{
    return wxs__sqlite_writer_stmt(w, write_sql[which], s);
}

/* INSERT or replace key (ST_UPSERT), or insert only over a missing or expired row (ST_SET_NX).
 * *changed (if not NULL) receives the number of rows written. */
static int write_upsert(wxs__sqlite_writer *w, int which, const char *key, size_t klen,
                        const char *val, size_t vlen, int64_t expires, int64_t now, int *changed)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, which, &s);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, val, (int)vlen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, expires);
    if (which == ST_SET_NX)
        sqlite3_bind_int64(s, 4, now);
    rc = exec_stmt(s);
    if (rc == SQLITE_OK && changed != NULL)
        *changed = sqlite3_changes(wxs__sqlite_writer_db(w));
    return rc;
}

/* Delete key; *count receives 1 when a live (unexpired) row was deleted, else 0. */
static int write_delete(wxs__sqlite_writer *w, const char *key, size_t klen, int64_t now,
                        int *count)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_DELETE, &s);
    *count = 0;
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    for (;;) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            break;
        if (sqlite3_column_int64(s, 0) > now)
            (*count)++;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Delete key only while it is live and holds exactly val (del_eq); *count receives 1 when it
 * was deleted, else 0. One statement: atomic as the writer runs it. */
static int write_delete_eq(wxs__sqlite_writer *w, const char *key, size_t klen, const char *val,
                           size_t vlen, int64_t now, int *count)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_DELETE_EQ, &s);
    *count = 0;
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, val, (int)vlen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now);
    rc = exec_stmt(s);
    if (rc == SQLITE_OK)
        *count = sqlite3_changes(wxs__sqlite_writer_db(w));
    return rc;
}

/* Read the live value at key (the openId entry) and decode it as a JSON string naming a code.
 * *found is 1 when it holds a non-empty code of at most MAX_LOGIN_ID bytes. */
static int read_prev_code(wxs__sqlite_writer *w, const char *key, size_t klen, int64_t now,
                          char *out, size_t *out_len, int *found)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_SELECT, &s);
    *found = 0;
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        size_t vlen = (size_t)sqlite3_column_bytes(s, 0);
        *found = wxs__store_code_parse(v, vlen, out, MAX_LOGIN_ID, out_len) == 0 && *out_len > 0;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The login write (store.h), atomic in the job's savepoint: remember the openId entry's code,
 * write both entries, delete the previous code's entry when it names another code, write the
 * code's remembered exchange. On an error the writer rolls the savepoint back. */
static int run_login(wxs__sqlite_writer *w, const sqlite_store *st, const job *j, int64_t now)
{
    char prev[MAX_LOGIN_ID];
    char prev_key[MAX_PREFIX + MAX_LOGIN_ID];
    size_t prev_len = 0;
    int found = 0, deleted = 0;
    int64_t expires = now + j->ttl_s * 1000;
    int rc = read_prev_code(w, j->key2, j->key2_len, now, prev, &prev_len, &found);
    if (rc == SQLITE_OK)
        rc = write_upsert(w, ST_UPSERT, j->key, j->key_len, j->val, j->val_len, expires, now, NULL);
    if (rc == SQLITE_OK)
        rc = write_upsert(w, ST_UPSERT, j->key2, j->key2_len, j->val2, j->val2_len, expires, now,
                          NULL);
    if (rc == SQLITE_OK && found &&
        (prev_len != j->code_len || memcmp(prev, j->code, prev_len) != 0)) {
        memcpy(prev_key, st->prefix, st->prefix_len);
        memcpy(prev_key + st->prefix_len, prev, prev_len);
        rc = write_delete(w, prev_key, st->prefix_len + prev_len, now, &deleted);
    }
    if (rc == SQLITE_OK && j->key3 != NULL)
        rc = write_upsert(w, ST_UPSERT, j->key3, j->key3_len, j->val3, j->val3_len,
                          now + j->ttl3_s * 1000, now, NULL);
    return rc;
}

/* ---- token sessions (store.h token_*): the user index is a JSON array of hashes, oldest first */

#define INDEX_MAX 1024 /* hashes an index holds at most: the cap (<= 1000), and some dead ones */
#define TOKEN_KEY_MAX (MAX_PREFIX + sizeof WXS__TOKEN_KEY + WXS__TOKEN_HASH_LEN)

typedef struct token_index {
    char hash[INDEX_MAX][WXS__TOKEN_HASH_LEN + 1];
    int n;
} token_index;

/* Read the live index at key into *ix (an unreadable one reads as empty). */
static int index_read(wxs__sqlite_writer *w, const char *key, size_t klen, int64_t now,
                      token_index *ix)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_SELECT, &s);
    ix->n = 0;
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        /* ["<64 hex>","<64 hex>",...]: each entry 66 bytes and a separator */
        for (size_t at = 1; v != NULL && n >= 2 && v[0] == '[' && at + 66 <= n && ix->n < INDEX_MAX;
             at += 67) {
            if (v[at] != '"' || v[at + 65] != '"' || !wxs__store_token_hash_ok(v + at + 1))
                break;
            memcpy(ix->hash[ix->n], v + at + 1, WXS__TOKEN_HASH_LEN);
            ix->hash[ix->n++][WXS__TOKEN_HASH_LEN] = '\0';
        }
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Write *ix at key: with expires > 0 as a new value, else keeping the row's expiry; an empty
 * index is deleted. */
static int index_write(wxs__sqlite_writer *w, const char *key, size_t klen, const token_index *ix,
                       int64_t expires, int64_t now)
{
    int gone = 0;
    if (ix->n == 0)
        return write_delete(w, key, klen, now, &gone);
    size_t len = 0;
    char *v = wxs__malloc((size_t)ix->n * 67 + 2);
    if (v == NULL)
        return SQLITE_NOMEM;
    v[len++] = '[';
    for (int i = 0; i < ix->n; i++) {
        len += (size_t)sprintf(v + len, "%s\"%s\"", i > 0 ? "," : "", ix->hash[i]);
    }
    v[len++] = ']';
    int rc;
    if (expires > 0) {
        rc = write_upsert(w, ST_UPSERT, key, klen, v, len, expires, now, NULL);
    } else {
        sqlite3_stmt *s = NULL;
        rc = wstmt(w, ST_SET_VALUE, &s);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, v, (int)len, SQLITE_STATIC);
            rc = exec_stmt(s);
        }
    }
    wxs__free(v);
    return rc;
}

/* The key of hash's record: <prefix>token:<hash>, into out; its length. */
static size_t token_key(const sqlite_store *st, const char *hash, char *out)
{
    memcpy(out, st->prefix, st->prefix_len);
    memcpy(out + st->prefix_len, WXS__TOKEN_KEY, sizeof WXS__TOKEN_KEY - 1);
    memcpy(out + st->prefix_len + sizeof WXS__TOKEN_KEY - 1, hash, WXS__TOKEN_HASH_LEN);
    return st->prefix_len + sizeof WXS__TOKEN_KEY - 1 + WXS__TOKEN_HASH_LEN;
}

/* 1 when hash's record is live. */
static int token_live(wxs__sqlite_writer *w, const sqlite_store *st, const char *hash, int64_t now,
                      int *live)
{
    char key[TOKEN_KEY_MAX];
    size_t klen = token_key(st, hash, key);
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_SELECT, &s);
    *live = 0;
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    *live = rc == SQLITE_ROW;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Delete hash's record; *count grows by 1 when it was live. */
static int token_delete(wxs__sqlite_writer *w, const sqlite_store *st, const char *hash,
                        int64_t now, int *count)
{
    char key[TOKEN_KEY_MAX];
    int deleted = 0;
    int rc = write_delete(w, key, token_key(st, hash, key), now, &deleted);
    *count += deleted;
    return rc;
}

/* token_put (store.h), in the job's savepoint: prune the index of ended sessions, write the
 * record, add it to the index, end the oldest past the cap, carry the remembered exchange.
 * j->status: the sessions the cap ended. */
static int run_token_put(wxs__sqlite_writer *w, job *j, int64_t now)
{
    const sqlite_store *st = j->st;
    token_index *ix = wxs__malloc(sizeof *ix);
    int rc = ix != NULL ? index_read(w, j->key2, j->key2_len, now, ix) : SQLITE_NOMEM;
    int kept = 0, ended = 0;
    for (int i = 0; rc == SQLITE_OK && i < ix->n; i++) {
        int live = 0;
        rc = token_live(w, st, ix->hash[i], now, &live);
        if (live && memcmp(ix->hash[i], j->hash, WXS__TOKEN_HASH_LEN) != 0 && kept < INDEX_MAX - 1)
            memcpy(ix->hash[kept++], ix->hash[i], WXS__TOKEN_HASH_LEN + 1);
    }
    if (rc == SQLITE_OK) {
        ix->n = kept;
        memcpy(ix->hash[ix->n], j->hash, WXS__TOKEN_HASH_LEN);
        ix->hash[ix->n++][WXS__TOKEN_HASH_LEN] = '\0';
        rc = write_upsert(w, ST_UPSERT, j->key, j->key_len, j->val, j->val_len,
                          now + j->ttl_s * 1000, now, NULL);
    }
    int drop = rc == SQLITE_OK && ix->n > j->cap ? ix->n - (int)j->cap : 0;
    for (int i = 0; rc == SQLITE_OK && i < drop; i++)
        rc = token_delete(w, st, ix->hash[i], now, &ended);
    if (rc == SQLITE_OK && drop > 0) {
        memmove(ix->hash[0], ix->hash[drop], (size_t)(ix->n - drop) * sizeof ix->hash[0]);
        ix->n -= drop;
    }
    if (rc == SQLITE_OK)
        rc = index_write(w, j->key2, j->key2_len, ix, now + j->ttl2_s * 1000, now);
    if (rc == SQLITE_OK && j->key3 != NULL)
        rc = write_upsert(w, ST_UPSERT, j->key3, j->key3_len, j->val3, j->val3_len,
                          now + j->ttl3_s * 1000, now, NULL);
    j->status = ended;
    wxs__free(ix);
    return rc;
}

/* token_touch: rewrite a live record with a new expiry; j->status 1, or 0 when it was gone. */
static int run_token_touch(wxs__sqlite_writer *w, job *j, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_TOUCH, &s);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, j->key, (int)j->key_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, j->val, (int)j->val_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now + j->ttl_s * 1000);
    sqlite3_bind_int64(s, 4, now);
    rc = exec_stmt(s);
    j->status = rc == SQLITE_OK ? sqlite3_changes(wxs__sqlite_writer_db(w)) : 0;
    return rc;
}

/* token_del (one session: the record, and its hash in the index) and token_del_user (every
 * session the index names, and the index). j->status: the live sessions ended. */
static int run_token_del(wxs__sqlite_writer *w, job *j, int64_t now)
{
    token_index *ix = wxs__malloc(sizeof *ix);
    int rc = ix != NULL ? index_read(w, j->key2, j->key2_len, now, ix) : SQLITE_NOMEM;
    int ended = 0, kept = 0;
    if (rc == SQLITE_OK && j->kind == JOB_TOKEN_DEL)
        rc = token_delete(w, j->st, j->hash, now, &ended);
    for (int i = 0; rc == SQLITE_OK && i < ix->n; i++) {
        if (j->kind == JOB_TOKEN_DEL_USER)
            rc = token_delete(w, j->st, ix->hash[i], now, &ended);
        else if (memcmp(ix->hash[i], j->hash, WXS__TOKEN_HASH_LEN) != 0)
            memcpy(ix->hash[kept++], ix->hash[i], WXS__TOKEN_HASH_LEN + 1);
    }
    if (rc == SQLITE_OK && ix->n > 0) {
        ix->n = kept;
        rc = index_write(w, j->key2, j->key2_len, ix, 0, now);
    }
    j->status = ended;
    wxs__free(ix);
    return rc;
}

/* Delete expired rows in bounded batches (at most PURGE_MAX_BATCHES * PURGE_BATCH_ROWS).
 * *backlog is 1 when it stopped at that cap: more expired rows may be waiting. */
static int run_purge(wxs__sqlite_writer *w, int64_t now, int *backlog)
{
    sqlite3_stmt *s = NULL;
    int rc = wstmt(w, ST_PURGE, &s);
    *backlog = 0;
    for (int i = 0; rc == SQLITE_OK && i < PURGE_MAX_BATCHES; i++) {
        sqlite3_bind_int64(s, 1, now);
        sqlite3_bind_int(s, 2, PURGE_BATCH_ROWS);
        rc = exec_stmt(s);
        if (rc == SQLITE_OK && sqlite3_changes(wxs__sqlite_writer_db(w)) < PURGE_BATCH_ROWS)
            return rc;
    }
    *backlog = rc == SQLITE_OK;
    return rc;
}

/* A token job's end on the writer thread: log a failure. */
static int finish_token(job *j, int rc)
{
    if (rc != SQLITE_OK)
        log_sqlite_error(&j->st->write_errors, job_name[j->kind], rc);
    return rc;
}

/* The job's run (writer thread): one write; j->status gets its count. */
static int run_write(wxs__sqlite_job *base, wxs__sqlite_writer *w)
{
    job *j = (job *)base;
    int64_t now = (int64_t)now_ms();
    int64_t expires = now + j->ttl_s * 1000;
    int changed = 0;
    int rc = SQLITE_OK;
    if (wxs__store_sqlite_write_hook != NULL)
        wxs__store_sqlite_write_hook();
    switch (j->kind) {
    case JOB_SET:
        rc = write_upsert(w, ST_UPSERT, j->key, j->key_len, j->val, j->val_len, expires, now, NULL);
        break;
    case JOB_SET_NX:
        rc = write_upsert(w, ST_SET_NX, j->key, j->key_len, j->val, j->val_len, expires, now,
                          &changed);
        break;
    case JOB_DEL:
        rc = write_delete(w, j->key, j->key_len, now, &changed);
        break;
    case JOB_DEL_EQ:
        rc = write_delete_eq(w, j->key, j->key_len, j->val, j->val_len, now, &changed);
        break;
    case JOB_LOGIN:
        rc = run_login(w, j->st, j, now);
        break;
    case JOB_PURGE:
        rc = run_purge(w, now, &changed);
        break;
    case JOB_TOKEN_PUT:
        return finish_token(j, run_token_put(w, j, now));
    case JOB_TOKEN_TOUCH:
        return finish_token(j, run_token_touch(w, j, now));
    case JOB_TOKEN_DEL:
    case JOB_TOKEN_DEL_USER:
        return finish_token(j, run_token_del(w, j, now));
    }
    j->status = changed;
    if (rc != SQLITE_OK)
        log_sqlite_error(&j->st->write_errors, job_name[j->kind], rc);
    return rc;
}

/* ------------------------------------------------------------ loop side: results */

static void on_purge_timer(uv_timer_t *t);

/* The job's done (loop thread, after its batch committed or failed): call back, free. The
 * callback may issue ops or close the store; the instance outlives this function either way
 * (it is freed once the writer has handed back every job of it). */
static void write_done(wxs__sqlite_job *base, int rc)
{
    job *j = (job *)base;
    sqlite_store *st = j->st;
    if (j->kind == JOB_PURGE) {
        st->purge_queued = 0;
        /* expired rows come faster than one purge a minute deletes: go on shortly */
        if (rc == SQLITE_OK && j->status == 1 && !st->closing)
            uv_timer_start(&st->purge_timer, on_purge_timer, PURGE_BACKLOG_MS, PURGE_INTERVAL_MS);
    } else
        j->cb(j->arg, rc == SQLITE_OK ? j->status : WXS_ESTORE);
    wxs__free(j);
}

static void submit(sqlite_store *st, job *j)
{
    j->st = st;
    j->base.run = run_write;
    j->base.done = write_done;
    wxs__sqlite_writer_submit(st->writes, &j->base);
}

/* ------------------------------------------------------------ ops */

/* Allocate a job with room for extra bytes; fields are zero. NULL when out of memory. */
static job *job_new(enum job_kind kind, size_t extra, long long ttl_s, wxs__store_done_cb cb,
                    void *arg)
{
    job *j = wxs__calloc(1, sizeof *j + extra);
    if (j == NULL)
        return NULL;
    j->kind = kind;
    j->ttl_s = ttl_s;
    j->cb = cb;
    j->arg = arg;
    return j;
}

/* Copy a then b to *w, advance *w, return where the copy starts. */
static const char *put2(char **w, const char *a, size_t alen, const char *b, size_t blen)
{
    char *start = *w;
    memcpy(start, a, alen);
    if (blen > 0)
        memcpy(start + alen, b, blen);
    *w = start + alen + blen;
    return start;
}

/* Check and queue a plain write (set, set_nx, del, del_eq) of prefix+key = val. Returns 0 (the
 * callback will run) or a negative code (it will not). */
static int queue_write(wxs__store *base, enum job_kind kind, const char *key, size_t klen,
                       const char *val, size_t vlen, long long ttl_s, wxs__store_done_cb cb,
                       void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_key(key, klen);
    if (rc == 0 && kind == JOB_DEL_EQ)
        rc = wxs__store_check_del_eq(key, klen, val, vlen);
    else if (rc == 0 && kind != JOB_DEL)
        rc = wxs__store_check_value(val, vlen, ttl_s);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = job_new(kind, st->prefix_len + klen + vlen, ttl_s, cb, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    char *w = j->bytes;
    j->key = put2(&w, st->prefix, st->prefix_len, key, klen);
    j->key_len = st->prefix_len + klen;
    j->val = put2(&w, val != NULL ? val : "", vlen, NULL, 0);
    j->val_len = vlen;
    submit(st, j);
    return 0;
}

static int sq_set_ex(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return queue_write(base, JOB_SET, key, klen, val, vlen, ttl_s, cb, arg);
}

static int sq_set_nx_ex(wxs__store *base, const char *key, size_t klen, const char *val,
                        size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return queue_write(base, JOB_SET_NX, key, klen, val, vlen, ttl_s, cb, arg);
}

static int sq_del(wxs__store *base, const char *key, size_t klen, wxs__store_done_cb cb, void *arg)
{
    return queue_write(base, JOB_DEL, key, klen, NULL, 0, 0, cb, arg);
}

static int sq_del_eq(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     wxs__store_done_cb cb, void *arg)
{
    return queue_write(base, JOB_DEL_EQ, key, klen, val, vlen, 0, cb, arg);
}

static int sq_login(wxs__store *base, const wxs__login *lw, wxs__store_done_cb cb, void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    wxs__buf code_json;
    job *j = NULL;
    char *w;
    int rc = wxs__store_check_login(lw);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc == 0 && cb == NULL)
        rc = WXS_EINVAL;
    if (rc < 0)
        return rc;
    wxs__buf_init(&code_json, 6 * MAX_LOGIN_ID + 2);
    rc = wxs__store_code_json(&code_json, lw->code, lw->code_len);
    if (rc < 0)
        goto out;
    const wxs__remember *rem = &lw->remember;
    size_t extra = rem->key != NULL ? st->prefix_len + rem->key_len + rem->value_len : 0;
    j = job_new(JOB_LOGIN,
                2 * st->prefix_len + lw->code_len + lw->openid_len + lw->user_len + code_json.len +
                    extra,
                lw->ttl_s, cb, arg);
    if (j == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    w = j->bytes;
    j->key = put2(&w, st->prefix, st->prefix_len, lw->code, lw->code_len);
    j->key_len = st->prefix_len + lw->code_len;
    j->code = j->key + st->prefix_len;
    j->code_len = lw->code_len;
    j->key2 = put2(&w, st->prefix, st->prefix_len, lw->openid, lw->openid_len);
    j->key2_len = st->prefix_len + lw->openid_len;
    j->val = put2(&w, lw->user_json, lw->user_len, NULL, 0);
    j->val_len = lw->user_len;
    j->val2 = put2(&w, code_json.data, code_json.len, NULL, 0);
    j->val2_len = code_json.len;
    if (rem->key != NULL) {
        j->key3 = put2(&w, st->prefix, st->prefix_len, rem->key, rem->key_len);
        j->key3_len = st->prefix_len + rem->key_len;
        j->val3 = put2(&w, rem->value, rem->value_len, NULL, 0);
        j->val3_len = rem->value_len;
        j->ttl3_s = rem->ttl_s;
    }
    submit(st, j);
out:
    wxs__buf_free(&code_json);
    return rc;
}

/* ---- token ops */

/* A token job: key = <prefix>token:<hash> (+ val), key2 = <prefix>tokens:<openid> when openid
 * is given, and extra bytes at the end for the caller. NULL when out of memory. */
static job *token_job(sqlite_store *st, enum job_kind kind, const char *hash, const char *openid,
                      size_t openid_len, const char *val, size_t vlen, size_t extra,
                      wxs__store_done_cb cb, void *arg)
{
    size_t klen = st->prefix_len + sizeof WXS__TOKEN_KEY - 1 + (hash != NULL ? 64 : 0);
    size_t k2len = st->prefix_len + sizeof WXS__TOKENS_KEY - 1 + openid_len;
    job *j = job_new(kind, klen + vlen + k2len + extra, 0, cb, arg);
    if (j == NULL)
        return NULL;
    char *w = j->bytes;
    if (hash != NULL) {
        j->key = w;
        j->key_len = token_key(st, hash, w);
        j->hash = j->key + j->key_len - WXS__TOKEN_HASH_LEN;
        w += j->key_len;
    }
    j->val = put2(&w, val != NULL ? val : "", vlen, NULL, 0);
    j->val_len = vlen;
    if (openid != NULL) {
        j->key2 = put2(&w, st->prefix, st->prefix_len, WXS__TOKENS_KEY, sizeof WXS__TOKENS_KEY - 1);
        put2(&w, openid, openid_len, NULL, 0);
        j->key2_len = k2len;
    }
    return j;
}

static int sq_token_put(wxs__store *base, const wxs__token_put *tp, wxs__store_done_cb cb,
                        void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_token_put(tp);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    const wxs__remember *rem = &tp->remember;
    size_t extra = rem->key != NULL ? st->prefix_len + rem->key_len + rem->value_len : 0;
    job *j = token_job(st, JOB_TOKEN_PUT, tp->hash, tp->openid, tp->openid_len, tp->record,
                       tp->record_len, extra, cb, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    j->ttl_s = tp->ttl_s;
    j->ttl2_s = tp->index_ttl_s;
    j->cap = tp->cap;
    if (rem->key != NULL) {
        char *w = j->bytes + j->key_len + j->val_len + j->key2_len;
        j->key3 = put2(&w, st->prefix, st->prefix_len, rem->key, rem->key_len);
        j->key3_len = st->prefix_len + rem->key_len;
        j->val3 = put2(&w, rem->value, rem->value_len, NULL, 0);
        j->val3_len = rem->value_len;
        j->ttl3_s = rem->ttl_s;
    }
    submit(st, j);
    return 0;
}

static int sq_token_touch(wxs__store *base, const char *hash, const char *record, size_t record_len,
                          long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    int rc = cb == NULL || hash == NULL ? WXS_EINVAL : wxs__store_check_token(hash, NULL, 0);
    if (rc == 0)
        rc = wxs__store_check_value(record, record_len, ttl_s);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = token_job(st, JOB_TOKEN_TOUCH, hash, NULL, 0, record, record_len, 0, cb, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    j->ttl_s = ttl_s;
    submit(st, j);
    return 0;
}

/* token_del (hash given) and token_del_user (hash NULL). */
static int queue_token_del(wxs__store *base, const char *hash, const char *openid,
                           size_t openid_len, wxs__store_done_cb cb, void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    int rc = cb == NULL || openid == NULL ? WXS_EINVAL
                                          : wxs__store_check_token(hash, openid, openid_len);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        return rc;
    job *j = token_job(st, hash != NULL ? JOB_TOKEN_DEL : JOB_TOKEN_DEL_USER, hash, openid,
                       openid_len, NULL, 0, 0, cb, arg);
    if (j == NULL)
        return WXS_ENOMEM;
    submit(st, j);
    return 0;
}

static int sq_token_del(wxs__store *base, const char *hash, const char *openid, size_t openid_len,
                        wxs__store_done_cb cb, void *arg)
{
    return hash == NULL ? WXS_EINVAL : queue_token_del(base, hash, openid, openid_len, cb, arg);
}

static int sq_token_del_user(wxs__store *base, const char *openid, size_t openid_len,
                             wxs__store_done_cb cb, void *arg)
{
    return queue_token_del(base, NULL, openid, openid_len, cb, arg);
}

/* Return a finished get op to the spares (or free it past SPARE_GETS_MAX). */
static void get_op_put(sqlite_store *st, get_op *g)
{
    if (st->spare_count >= SPARE_GETS_MAX || st->closing) {
        wxs__free(g);
        return;
    }
    g->next_spare = st->spare_gets;
    st->spare_gets = g;
    st->spare_count++;
}

/* The deferred step of a get: run the SELECT on the read connection (a WAL reader never waits
 * for writers) and hand the value to the callback straight from the row, without a copy: it is
 * valid until the statement is reset after the callback. A get issued from the callback waits
 * for the next pass, so the statement is never in use twice. */
static void get_run(wxs__deferred *d)
{
    get_op *g = WXS__CONTAINER_OF(d, get_op, later);
    sqlite_store *st = g->st;
    sqlite3_stmt *s = st->get_stmt;
    if (st->closing) {
        g->cb(g->arg, WXS_ECANCELED, NULL, 0);
        get_op_put(st, g);
        return;
    }
    sqlite3_bind_text(s, 1, g->key, (int)g->key_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)now_ms());
    int src = sqlite3_step(s);
    int status = WXS_ENOTFOUND;
    const char *val = NULL;
    size_t len = 0;
    if (src == SQLITE_ROW) {
        val = (const char *)sqlite3_column_text(s, 0);
        len = (size_t)sqlite3_column_bytes(s, 0);
        status = val != NULL ? 0 : WXS_ESTORE; /* NULL: out of memory */
    } else if (src != SQLITE_DONE) {
        log_sqlite_error(&st->read_errors, "get", src);
        status = WXS_ESTORE;
    }
    g->cb(g->arg, status, status == 0 ? val : NULL, status == 0 ? len : 0);
    if (st->get_stmt != NULL) /* the callback may have closed the store */
        sqlite3_reset(s);
    get_op_put(st, g);
}

/* Queue a look-up of key for the loop's next pass (get_run). */
static int sq_get(wxs__store *base, const char *key, size_t klen, wxs__store_get_cb cb, void *arg)
{
    sqlite_store *st = (sqlite_store *)base;
    int rc = wxs__store_check_key(key, klen);
    if (rc == 0 && st->closing)
        rc = WXS_ECANCELED;
    if (rc == 0 && cb == NULL)
        rc = WXS_EINVAL;
    if (rc < 0)
        return rc;
    get_op *g = st->spare_gets;
    if (g != NULL) {
        st->spare_gets = g->next_spare;
        st->spare_count--;
    } else {
        g = wxs__malloc(sizeof *g);
        if (g == NULL)
            return WXS_ENOMEM;
    }
    g->st = st;
    g->cb = cb;
    g->arg = arg;
    memcpy(g->key, st->prefix, st->prefix_len);
    memcpy(g->key + st->prefix_len, key, klen);
    g->key_len = st->prefix_len + klen;
    wxs__defer_call(&st->reads, &g->later, get_run);
    return 0;
}

/* Ready unless closing or the file's writer is failing (util/sqlite_util.h): a full disk, an
 * I/O error or a read-only file makes every write fail until a write reaches the file again. */
static int sq_ready(const wxs__store *base)
{
    const sqlite_store *st = (const sqlite_store *)base;
    return st != NULL && !st->closing && wxs__sqlite_writer_failing(st->writes) == 0;
}

/* ------------------------------------------------------------ open and close */

static void on_purge_timer(uv_timer_t *t)
{
    sqlite_store *st = t->data;
    if (st->purge_queued || st->closing)
        return;
    job *j = job_new(JOB_PURGE, 0, 0, NULL, NULL);
    if (j == NULL)
        return;
    st->purge_queued = 1;
    submit(st, j);
}

static void free_spare_gets(sqlite_store *st)
{
    while (st->spare_gets != NULL) {
        get_op *g = st->spare_gets;
        st->spare_gets = g->next_spare;
        wxs__free(g);
    }
    st->spare_count = 0;
}

/* Once closing, with the timer closed and every write handed back: release the memory. */
static void maybe_free(sqlite_store *st)
{
    if (!st->timer_closed || !st->writes_detached || !st->reads_closed)
        return;
    free_spare_gets(st);
    wxs__free(st->prefix);
    wxs__free(st);
}

static void on_reads_closed(void *arg)
{
    sqlite_store *st = arg;
    st->reads_closed = 1;
    maybe_free(st);
}

static void on_timer_closed(uv_handle_t *h)
{
    sqlite_store *st = h->data;
    st->timer_closed = 1;
    maybe_free(st);
}

static void on_writes_detached(void *arg)
{
    sqlite_store *st = arg;
    st->writes_detached = 1;
    maybe_free(st);
}

/* Start closing. Queued and running writes still complete and their callbacks run with their
 * real results on later loop iterations (an acknowledged write is never silently dropped);
 * queued reads end with WXS_ECANCELED on the next pass; then the instance lets go of the writer
 * (the last instance of the file stops it) and the memory is released. close() itself calls no
 * callback. Ops issued after close() return WXS_ECANCELED. */
static void sq_close(wxs__store *base)
{
    sqlite_store *st = (sqlite_store *)base;
    if (st == NULL || st->closing)
        return;
    st->closing = 1;
    uv_timer_stop(&st->purge_timer);
    uv_close((uv_handle_t *)&st->purge_timer, on_timer_closed);
    sqlite3_finalize(st->get_stmt);
    st->get_stmt = NULL;
    sqlite3_close_v2(st->rdb);
    st->rdb = NULL;
    wxs__defer_close(&st->reads, on_reads_closed, st);
    wxs__sqlite_writer_detach(st->writes, on_writes_detached, st);
}

/* Free an instance that failed to open (no handle yet, not attached to the writer). */
static void destroy_now(sqlite_store *st)
{
    sqlite3_finalize(st->get_stmt);
    sqlite3_close_v2(st->rdb);
    wxs__free(st->prefix);
    wxs__free(st);
}

/* Create the schema when the file is new; refuse a file from a newer version. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    return wxs__sqlite_migrate(db, NULL, "PRAGMA user_version", SCHEMA_VERSION, schema_sql,
                               PATH_OPTION, err, errlen);
}

/* The read connection: opens (creating) the file in WAL mode and brings the schema up to date
 * on it, then becomes read-only (PRAGMA query_only) with a short busy timeout. */
static int open_read_conn(sqlite_store *st, const char *path, char *err, size_t errlen)
{
    int rc = wxs__sqlite_open_wal(path, OPEN_BUSY_TIMEOUT_MS, PATH_OPTION, &st->rdb, err, errlen);
    if (rc < 0)
        return rc;
    rc = migrate(st->rdb, err, errlen);
    if (rc < 0)
        return rc;
    sqlite3_busy_timeout(st->rdb, READ_BUSY_TIMEOUT_MS);
    rc = sqlite3_exec(st->rdb, "PRAGMA query_only=1", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(st->rdb, SELECT_SQL, -1, SQLITE_PREPARE_PERSISTENT, &st->get_stmt,
                                NULL);
    if (rc != SQLITE_OK) {
        set_err(err, errlen, "cannot open the read connection", sqlite3_errstr(rc));
        return WXS_ESTORE;
    }
    return 0;
}

/* Open an instance on loop: opens (creating if needed) cfg->sqlite_path, switches it to WAL,
 * creates the schema, attaches to the file's writer (starting it if this is the process's first
 * instance on the file) and queues a first purge of expired rows. Runs on the calling (loop)
 * thread and may block briefly on file I/O: call it at start-up. Returns
 * 0, WXS_ECONFIG (no path, prefix too long, newer schema), WXS_ESTORE (SQLite refused) or
 * WXS_ENOMEM, with a reason in err. */
static int sq_open(wxs__store **out, uv_loop_t *loop, const wxs_config *cfg, char *err,
                   size_t errlen)
{
    const char *prefix = cfg->session_prefix != NULL ? cfg->session_prefix : "";
    sqlite_store *st = NULL;
    int rc = 0;
    *out = NULL;
    if (cfg->sqlite_path == NULL || cfg->sqlite_path[0] == '\0' || strlen(prefix) > MAX_PREFIX) {
        set_err(err, errlen,
                cfg->sqlite_path == NULL || cfg->sqlite_path[0] == '\0'
                    ? "no database path configured (option 'sqlite.path')"
                    : "the session prefix is longer than 256 bytes",
                NULL);
        return WXS_ECONFIG;
    }
    if (!sqlite3_threadsafe()) {
        set_err(err, errlen, "the SQLite library was built without thread safety", NULL);
        return WXS_ECONFIG;
    }
    st = wxs__calloc(1, sizeof *st);
    if (st == NULL)
        return WXS_ENOMEM;
    st->base.ops = &wxs__store_sqlite_ops;
    st->prefix_len = strlen(prefix);
    st->prefix = wxs__strdup(prefix);
    if (st->prefix == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    rc = open_read_conn(st, cfg->sqlite_path, err, errlen);
    if (rc == 0)
        rc = wxs__sqlite_writer_attach(&st->writes, loop, cfg->sqlite_path, PATH_OPTION, err,
                                       errlen);
    if (rc < 0)
        goto out;
    (void)wxs__defer_init(&st->reads, loop); /* cannot fail on a live loop */
    uv_timer_init(loop, &st->purge_timer);
    st->purge_timer.data = st;
    uv_timer_start(&st->purge_timer, on_purge_timer, PURGE_INTERVAL_MS, PURGE_INTERVAL_MS);
    uv_unref((uv_handle_t *)&st->purge_timer);
    on_purge_timer(&st->purge_timer);
    *out = &st->base;
out:
    if (rc < 0)
        destroy_now(st);
    return rc;
}

const wxs__store_ops wxs__store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .ready = sq_ready,
    .get = sq_get,
    .set_ex = sq_set_ex,
    .set_nx_ex = sq_set_nx_ex,
    .del = sq_del,
    .del_eq = sq_del_eq,
    .login = sq_login,
    .token_put = sq_token_put,
    .token_touch = sq_token_touch,
    .token_del = sq_token_del,
    .token_del_user = sq_token_del_user,
};
