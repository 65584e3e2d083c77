/* store.h: the One Stroke drawing store behind one ops table: `sqlite` (the embedded default, in
 * the session store's file) and `mongodb` (libmongoc). Every call is scoped to one user's openId:
 * a user can never read, overwrite or delete another user's drawing, whatever id it names.
 *
 * Callback contract (the library's): an op that returns < 0 never calls its callback; an op that
 * returns 0 calls it exactly once on the loop thread, never before returning. Every op runs off
 * the loop thread (libuv thread pool, or the SQLite file's writer thread). Statuses: 0,
 * WXS_ENOTFOUND (delete of a drawing the user does not have), WXS_ETOOBIG (save of a new id past
 * max_per_user), WXS_ESTORE (backend down or failed), WXS_ECANCELED (closed with the op queued).
 * Data handed to callbacks is borrowed for the duration of the callback.
 *
 * Callers use the os_store_* wrappers below, never the ops table directly. */
#ifndef ONESTROKE_STORE_H
#define ONESTROKE_STORE_H

#include "options.h"
#include "page.h"
#include "paint.h"

#include <uv.h>

typedef struct os_store os_store;

/** page: the list answer (page.h), finished, built on the pool thread; NULL when status < 0.
 *  Borrowed for the callback: the store frees it afterwards. */
typedef void (*os_store_list_cb)(void *arg, int status, const os_page *page);
typedef void (*os_store_done_cb)(void *arg, int status);

typedef struct os_store_ops {
    const char *name;
    /** Open an instance on loop. opts (the mongo.* options) and sqlite_path are read during the
     *  call only. Returns 0 or a negative code with a reason in err. */
    int (*open)(os_store **out, uv_loop_t *loop, const struct onestroke_options *opts,
                const char *sqlite_path, char *err, size_t errlen);
    /** Start closing (ops issued before still call back); frees itself once drained. */
    void (*close)(os_store *st);
    int (*ready)(const os_store *st);
    /** Up to limit (1..1000) drawings of openid after cursor (NULL or id "" = first page), as
     *  the list answer built on the pool within page_bytes (page.h; count_only: its length
     *  only). Rows are read one at a time into the answer: nothing else holds a page. */
    int (*list)(os_store *st, const char *openid, const os_paint_cursor *cursor, unsigned limit,
                size_t page_bytes, int count_only, os_store_list_cb cb, void *arg);
    /** Insert or replace (openid, id). A new id when the user already has max_per_user
     *  drawings: WXS_ETOOBIG, nothing stored. now_ms stamps createdAt/updatedAt. */
    int (*save)(os_store *st, const char *openid, const char *id, const char *actions,
                size_t actions_len, int64_t now_ms, long long max_per_user, os_store_done_cb cb,
                void *arg);
    /** Delete (openid, id); WXS_ENOTFOUND when the user has no such drawing. */
    int (*del)(os_store *st, const char *openid, const char *id, os_store_done_cb cb, void *arg);
} os_store_ops;

struct os_store {
    const os_store_ops *ops;
};

extern const os_store_ops os_store_sqlite_ops;
extern const os_store_ops os_store_mongo_ops;

/** The ops table named `name` ("sqlite", "mongodb"), or NULL. */
const os_store_ops *os_store_find(const char *name);

/* ---- one wrapper per operation (see the ops table for each contract) */

static inline void os_store_close(os_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

static inline int os_store_ready(const os_store *st)
{
    return st != NULL && st->ops->ready(st);
}

static inline int os_store_list(os_store *st, const char *openid, const os_paint_cursor *cursor,
                                unsigned limit, size_t page_bytes, int count_only,
                                os_store_list_cb cb, void *arg)
{
    return st->ops->list(st, openid, cursor, limit, page_bytes, count_only, cb, arg);
}

static inline int os_store_save(os_store *st, const char *openid, const char *id,
                                const char *actions, size_t actions_len, int64_t now_ms,
                                long long max_per_user, os_store_done_cb cb, void *arg)
{
    return st->ops->save(st, openid, id, actions, actions_len, now_ms, max_per_user, cb, arg);
}

static inline int os_store_del(os_store *st, const char *openid, const char *id,
                               os_store_done_cb cb, void *arg)
{
    return st->ops->del(st, openid, id, cb, arg);
}

/* ---- MongoDB pieces that need no server (store_mongo_doc.c), unit-tested */

/** The connection URI: opts->mongo_uri when set, else built from mongo.username, password,
 *  host, port, query and database, user and password percent-encoded:
 *  mongodb://[user:pass@]host:port/database[?query]. Returns 0, WXS_EINVAL (no host),
 *  WXS_ETOOBIG or WXS_ENOMEM; *out freed with wxs__free. */
int os_mongo_uri(const struct onestroke_options *opts, char **out);
/** The same URI with any password replaced by "***", for logs. */
int os_mongo_uri_redacted(const struct onestroke_options *opts, char **out);

#endif /* ONESTROKE_STORE_H */
