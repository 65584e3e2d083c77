/* sqlite_util.h: what the SQLite stores (sessions, drawings) share: opening a connection in WAL
 * mode, reading one text value, the schema migration, and the writer: the one write connection
 * and thread per database file per process that runs every store instance's writes. */
#ifndef WXS_SQLITE_UTIL_H
#define WXS_SQLITE_UTIL_H

#include "util.h"

#include <sqlite3.h>

/** Run sql (one statement) and copy the first column of its first row into out ("" when no
 *  row). Returns an SQLite result code (SQLITE_OK on success). */
int wxs__sqlite_query_text(sqlite3 *db, const char *sql, char *out, size_t cap);

/** Open path for writing (created when missing), with a busy timeout of busy_ms, in WAL mode
 *  with synchronous=NORMAL: a committed transaction survives kill -9 of the process; an OS crash
 *  may roll back the last few, never corrupt the file. option is the name of the option that
 *  gave path ("sqlite.path"). On failure *db may be set (the caller closes it) and err names the
 *  option, the path and SQLite's reason, with what to check: "option 'sqlite.path': cannot open
 *  '/no/dir/x.db': unable to open database file (does the directory exist and is it
 *  writable?)". Returns 0 or WXS_ESTORE. */
int wxs__sqlite_open_wal(const char *path, int busy_ms, const char *option, sqlite3 **db, char *err,
                         size_t errlen);

/** Bring a store's tables up to version, in one BEGIN IMMEDIATE transaction (racing instances
 *  are serialised): run setup_sql (may be NULL), read the current version with version_sql
 *  (one text value; "" or 0 when new), run schema_sql (idempotent) when it is older, refuse a
 *  newer one (WXS_ECONFIG). Returns 0, WXS_ECONFIG or WXS_ESTORE, with err as in open_wal. */
int wxs__sqlite_migrate(sqlite3 *db, const char *setup_sql, const char *version_sql, int version,
                        const char *schema_sql, const char *option, char *err, size_t errlen);

/* ---- the writer
 *
 * One per database file (by the path string given) per process: one write connection driven by
 * one dedicated thread, shared by every store instance (sessions and drawings, every worker
 * loop) opened on that path. Instances hand it jobs; the thread takes everything queued (up to
 * 256 jobs), runs it as one transaction (group commit: BEGIN IMMEDIATE, each job inside a
 * SAVEPOINT of its own, one COMMIT) and only then hands each job back to its instance's loop
 * with its result. Jobs run in the order they were submitted, across the whole process.
 * Checkpoints run on the writer thread between batches, never inside a commit. Another process
 * on the same file has its own writer; SQLite's lock with a busy timeout of 5 s serialises the
 * two. A child made by fork() never uses its parent's writers.
 *
 * The writer is failing while the file cannot be written: from a write (a job or the batch's
 * transaction) that met a storage error (SQLITE_FULL, IOERR, READONLY, CANTOPEN, CORRUPT,
 * NOTADB, PERM) until a commit reaches the file again. While failing and idle it probes every
 * second with a one-page write, so the state recovers without traffic. */

typedef struct wxs__sqlite_writer wxs__sqlite_writer; /* shared: the connection and thread */
typedef struct wxs__sqlite_client wxs__sqlite_client; /* one instance's use of a writer */
typedef struct wxs__sqlite_job wxs__sqlite_job;

/** A write. The store embeds it (first member) in its own job and sets run and done.
 *  run: on the writer thread, inside the batch's transaction and a savepoint of its own. It
 *  returns SQLITE_OK, or an SQLite error code: the job's changes are then rolled back, alone,
 *  and its batch-mates still commit. It must reset the statements it steps.
 *  done: on the submitting instance's loop thread, after the batch committed (rc SQLITE_OK) or
 *  failed (rc: the job's own error, or BEGIN's or COMMIT's). Nothing is reported SQLITE_OK that
 *  did not commit. done owns the job from then on. */
struct wxs__sqlite_job {
    wxs__sqlite_job *next;      /* the writer's */
    wxs__sqlite_client *client; /* the writer's */
    int (*run)(wxs__sqlite_job *job, wxs__sqlite_writer *w);
    void (*done)(wxs__sqlite_job *job, int rc);
    int rc;              /* the writer's, until done */
    unsigned long batch; /* the group commit that ran it, numbered 1, 2, ... per writer */
};

/** Attach an instance on loop to the writer of path, starting the writer (opening its
 *  connection in WAL mode, starting its thread) when this process has none for path yet. The
 *  file's schema must exist already (wxs__sqlite_migrate). Call on the loop thread. Returns 0,
 *  WXS_ESTORE (SQLite refused, or no thread; err as in open_wal) or WXS_ENOMEM. */
int wxs__sqlite_writer_attach(wxs__sqlite_client **out, uv_loop_t *loop, const char *path,
                              const char *option, char *err, size_t errlen);

/** 0 while the client's writer can write the file, else the SQLite code of the storage error
 *  that made it fail (see above). Any thread; cheap (one atomic load). */
int wxs__sqlite_writer_failing(const wxs__sqlite_client *c);

/** For tests: how long an idle failing writer waits before probing (default 1000 ms). */
extern _Atomic unsigned wxs__sqlite_probe_interval_ms;

/** Queue job (run and done set) behind every job already queued in the process. Call on the
 *  client's loop thread, never after detach. job->done will run exactly once. */
void wxs__sqlite_writer_submit(wxs__sqlite_client *c, wxs__sqlite_job *job);

/** Start detaching: jobs already submitted still run and their done still runs with their real
 *  result; once the last has, the client's handle closes, the writer is stopped (its thread
 *  joined, its connection closed) if this was its last client, and detached(arg) runs on the
 *  loop thread. The client is freed then. Calls nothing before returning. */
void wxs__sqlite_writer_detach(wxs__sqlite_client *c, void (*detached)(void *arg), void *arg);

/** The writer's connection, for a job's run (writer thread only). */
sqlite3 *wxs__sqlite_writer_db(wxs__sqlite_writer *w);

/** The statement for sql (a string that lives as long as the process, compared by address
 *  first) on the writer's connection, prepared on first use and kept until the writer stops.
 *  For a job's run (writer thread only); the job resets it after use. SQLITE_OK or the code of
 *  the refused prepare. */
int wxs__sqlite_writer_stmt(wxs__sqlite_writer *w, const char *sql, sqlite3_stmt **out);

/** For tests: how many instances of this process are attached to the writer of path (0 when
 *  it has none). */
int wxs__sqlite_writer_users(const char *path);

#endif /* WXS_SQLITE_UTIL_H */
