/* sqlite_util.h: what the SQLite stores (sessions, drawings) share: opening a connection in WAL
 * mode and reading one text value. */
#ifndef WXS_SQLITE_UTIL_H
#define WXS_SQLITE_UTIL_H

#include "internal.h"

#include <sqlite3.h>

/** Run sql (one statement) and copy the first column of its first row into out ("" when no
 *  row). Returns an SQLite result code (SQLITE_OK on success). */
int wxs__sqlite_query_text(sqlite3 *db, const char *sql, char *out, size_t cap);

/** Open path for writing (created when missing), with a busy timeout of busy_ms, in WAL mode
 *  with synchronous=NORMAL: a committed transaction survives kill -9 of the process; an OS crash
 *  may roll back the last few, never corrupt the file. On failure *db may be set (the caller
 *  closes it) and err says "<who>: <what>: <sqlite's reason>". Returns 0 or WXS_ESTORE. */
int wxs__sqlite_open_wal(const char *path, int busy_ms, const char *who, sqlite3 **db, char *err,
                         size_t errlen);

/** Bring a store's tables up to version, in one BEGIN IMMEDIATE transaction (racing instances
 *  are serialised): run setup_sql (may be NULL), read the current version with version_sql
 *  (one text value; "" or 0 when new), run schema_sql (idempotent) when it is older, refuse a
 *  newer one (WXS_ECONFIG). Returns 0, WXS_ECONFIG or WXS_ESTORE, with err as in open_wal. */
int wxs__sqlite_migrate(sqlite3 *db, const char *setup_sql, const char *version_sql, int version,
                        const char *schema_sql, const char *who, char *err, size_t errlen);

#endif /* WXS_SQLITE_UTIL_H */
