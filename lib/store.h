/* store.h: the session store behind one ops table. Session logic (lib/session.c) talks to
 * stores only through this interface and never includes a driver header.
 *
 * Keys given to the ops are logical keys (a code, an openId, "exchange:<sha256hex>"); the store
 * prepends the configured prefix (config redis.prefix, "weapp-session:" by default), so the
 * Redis layout stays the one of the original weapp-session:
 *   <prefix><code>   -> user info JSON object (with openId), expiring after ttl seconds
 *   <prefix><openId> -> the user's current code as a JSON string ("\"<code>\"")
 *
 * Callback contract: an op that returns < 0 never calls its callback; an op that returns 0 calls
 * it exactly once on the loop thread, possibly before returning (SQLite answers reads inline).
 * Statuses given to callbacks: 0 (or a count) for success, WXS_ENOTFOUND for a missing or expired
 * key (get only), WXS_ESTORE when the backend is unreachable or failed, WXS_ECANCELED when the
 * store is closed with the op in flight. Values handed to callbacks are borrowed for the
 * duration of the callback.
 */
#ifndef WXS_STORE_H
#define WXS_STORE_H

#include "internal.h"

typedef struct wxs__store wxs__store; /* each backend defines its own struct, first member ops */

typedef void (*wxs__store_get_cb)(void *arg, int status, const char *val, size_t len);
typedef void (*wxs__store_done_cb)(void *arg, int status);

typedef struct wxs__store_ops {
    const char *name;
    /** Open a store instance bound to loop (one per worker). The connection may come up later
     *  (Redis reconnects by itself); ops fail with WXS_ESTORE while it is down. */
    int (*open)(wxs__store **out, uv_loop_t *loop, const wxs_config *cfg, char *err,
                size_t errlen);
    /** Start closing: pending ops get WXS_ECANCELED (or their real result); handles close on the
     *  loop; memory is released once they have. */
    void (*close)(wxs__store *st);
    /** 1 when the backend connection is up. */
    int (*ready)(const wxs__store *st);
    int (*get)(wxs__store *st, const char *key, size_t klen, wxs__store_get_cb cb, void *arg);
    int (*set_ex)(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                  long long ttl_s, wxs__store_done_cb cb, void *arg);
    /** Set only when the key is absent (or expired): status 1 when set, 0 when it existed. */
    int (*set_nx_ex)(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg);
    int (*del)(wxs__store *st, const char *key, size_t klen, wxs__store_done_cb cb, void *arg);
    /** The login write, atomically (Redis: one Lua script; SQLite: one transaction):
     *    prev = GET <prefix><openid>
     *    SET <prefix><code> user_json EX ttl
     *    SET <prefix><openid> "\"<code>\"" EX ttl     (code as a JSON string)
     *    if prev is a JSON string naming another code: DEL <prefix><that code>
     *  so one user has one live session. code and openid are NUL-free, at most 256 bytes. */
    int (*login)(wxs__store *st, const char *code, size_t code_len, const char *openid,
                 size_t openid_len, const char *user_json, size_t user_len, long long ttl_s,
                 wxs__store_done_cb cb, void *arg);
} wxs__store_ops;

struct wxs__store {
    const wxs__store_ops *ops;
};

extern const wxs__store_ops wxs__store_sqlite_ops;
extern const wxs__store_ops wxs__store_redis_ops;

/** The ops table named by cfg->store, or NULL. */
const wxs__store_ops *wxs__store_find(const char *name);

#endif /* WXS_STORE_H */
