/* sqlite_util.c: the SQLite connection set-up the session and drawing stores share. */
#include "sqlite_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int fail(char *err, size_t errlen, const char *who, const char *what, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s: %s", who, what, why);
    return WXS_ESTORE;
}

int wxs__sqlite_open_wal(const char *path, int busy_ms, const char *who, sqlite3 **db, char *err,
                         size_t errlen)
{
    char mode[16];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK)
        return fail(err, errlen, who, "cannot open the database file", sqlite3_errstr(rc));
    sqlite3_busy_timeout(*db, busy_ms);
    /* While another instance is creating the same file this pragma can fail with SQLITE_BUSY
     * without calling the busy handler, so retry it for up to the busy timeout. */
    rc = wxs__sqlite_query_text(*db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    for (int waited = 0; rc == SQLITE_BUSY && waited < busy_ms; waited += 10) {
        sqlite3_sleep(10);
        rc = wxs__sqlite_query_text(*db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
    }
    if (rc != SQLITE_OK || strcmp(mode, "wal") != 0)
        return fail(err, errlen, who, "cannot enable WAL journal mode",
                    rc != SQLITE_OK ? sqlite3_errstr(rc) : mode);
    rc = sqlite3_exec(*db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(err, errlen, who, "cannot set synchronous=NORMAL", sqlite3_errstr(rc));
    return 0;
}

int wxs__sqlite_migrate(sqlite3 *db, const char *setup_sql, const char *version_sql, int version,
                        const char *schema_sql, const char *who, char *err, size_t errlen)
{
    char current[32] = "";
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK && setup_sql != NULL)
        rc = sqlite3_exec(db, setup_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = wxs__sqlite_query_text(db, version_sql, current, sizeof current);
    if (rc == SQLITE_OK && atoi(current) > version) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        fail(err, errlen, who, "cannot use the database file",
             "its schema is newer than this version");
        return WXS_ECONFIG;
    }
    if (rc == SQLITE_OK && atoi(current) < version)
        rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return fail(err, errlen, who, "cannot create the schema", sqlite3_errstr(rc));
    }
    return 0;
}
