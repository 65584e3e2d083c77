/* paints.h: the One Stroke (一笔到底) drawing store behind one ops table: `sqlite` (the embedded
 * default) and `mongodb` (libmongoc). Every call is scoped to one user's openId: a user can
 * never read, overwrite or delete another user's drawing, whatever id it names.
 *
 * A drawing: (openId, id) unique; id is 1..64 bytes of [A-Za-z0-9_-]; actions is an opaque
 * UTF-8 string (the client's serialized canvas actions), stored as given; createdAt is set by
 * the first save and kept by later saves of the same id; updatedAt by every save.
 * Lists are newest first: ordered by (createdAt DESC, id DESC), paged by a cursor that names
 * the last drawing of the previous page.
 *
 * Callback contract as in store.h: an op that returns < 0 never calls its callback; an op that
 * returns 0 calls it exactly once on the loop thread, never before returning. Every op runs off
 * the loop thread (libuv thread pool). Statuses: 0, WXS_ENOTFOUND (delete of a drawing the user
 * does not have), WXS_ETOOBIG (save of a new id past max_per_user), WXS_ESTORE (backend down or
 * failed), WXS_ECANCELED (closed with the op in flight). Data handed to callbacks is borrowed for
 * the duration of the callback.
 */
#ifndef WXS_PAINTS_H
#define WXS_PAINTS_H

#include "internal.h"

#define WXS__PAINT_ID_MAX 64
#define WXS__OPENID_MAX 128

typedef wxs_paint wxs__paint; /* the public struct: id, actions, actions_len, created/updated */

/* Where a page starts: after the drawing (created_at_ms, id) in list order. id[0] == '\0' means
 * the first page. */
typedef struct wxs__paint_cursor {
    int64_t created_at_ms;
    char id[WXS__PAINT_ID_MAX + 1];
} wxs__paint_cursor;

typedef struct wxs__paint_store wxs__paint_store;

/** items[0..n) in list order; more != 0 when drawings follow the last item. */
typedef void (*wxs__paint_list_cb)(void *arg, int status, const wxs__paint *items, size_t n,
                                   int more);
typedef void (*wxs__paint_done_cb)(void *arg, int status);

typedef struct wxs__paint_store_ops {
    const char *name;
    int (*open)(wxs__paint_store **out, uv_loop_t *loop, const wxs_config *cfg, char *err,
                size_t errlen);
    void (*close)(wxs__paint_store *st);
    int (*ready)(const wxs__paint_store *st);
    /** Up to limit (1..1000) drawings of openid after cursor (NULL or id "" = first page). */
    int (*list)(wxs__paint_store *st, const char *openid, const wxs__paint_cursor *cursor,
                unsigned limit, wxs__paint_list_cb cb, void *arg);
    /** Insert or replace (openid, id). A new id when the user already has max_per_user
     *  drawings: WXS_ETOOBIG, nothing stored. now_ms stamps createdAt/updatedAt. */
    int (*save)(wxs__paint_store *st, const char *openid, const char *id, const char *actions,
                size_t actions_len, int64_t now_ms, long long max_per_user,
                wxs__paint_done_cb cb, void *arg);
    /** Delete (openid, id); WXS_ENOTFOUND when the user has no such drawing. */
    int (*del)(wxs__paint_store *st, const char *openid, const char *id, wxs__paint_done_cb cb,
               void *arg);
} wxs__paint_store_ops;

struct wxs__paint_store {
    const wxs__paint_store_ops *ops;
};

extern const wxs__paint_store_ops wxs__paints_sqlite_ops;
extern const wxs__paint_store_ops wxs__paints_mongo_ops;

/** The ops table named `name` ("sqlite", "mongodb"), or NULL. */
const wxs__paint_store_ops *wxs__paint_store_find(const char *name);

/** 1 when id is 1..64 bytes of [A-Za-z0-9_-]. */
int wxs__paint_id_valid(const char *id, size_t len);

#define WXS__PAINT_LIST_MAX 1000                     /* the largest page a store serves */
#define WXS__PAINT_ACTIONS_MAX (16 * 1024 * 1024)    /* the largest paints.maxActionsBytes */

/* Argument checks every backend runs first (0, WXS_EINVAL, or WXS_ETOOBIG for actions over
 * WXS__PAINT_ACTIONS_MAX), so that the backends agree on what they refuse. */
int wxs__paint_check_list(const char *openid, const wxs__paint_cursor *cursor, unsigned limit,
                          int has_cb);
int wxs__paint_check_save(const char *openid, const char *id, const char *actions,
                          size_t actions_len, long long max_per_user, int has_cb);
int wxs__paint_check_del(const char *openid, const char *id, int has_cb);

/* ---- MongoDB pieces that need no server (lib/paints_mongo_doc.c), unit-tested */

/** The connection URI: cfg->mongo_uri when set, else built from mongo.username, password,
 *  host, port, query and database, user and password percent-encoded:
 *  mongodb://[user:pass@]host:port/database[?query]. *out freed with wxs__free. */
int wxs__mongo_uri(const wxs_config *cfg, char **out);
/** The same URI with any password replaced by "***", for logs. */
int wxs__mongo_uri_redacted(const wxs_config *cfg, char **out);

#endif /* WXS_PAINTS_H */
