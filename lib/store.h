/* store.h: the session store behind one ops table. Session logic (lib/weapp.c, lib/exchange.c)
 * talks to stores only through the wxs__store_* wrappers below and never includes a driver
 * header.
 *
 * Keys given to the ops are logical keys (a code, an openId, "exchange:<sha256hex>"); the store
 * prepends the configured prefix (config redis.prefix, "weapp-session:" by default), so the
 * Redis layout stays the one of the original weapp-session:
 *   <prefix><code>   -> user info JSON object (with openId), expiring after ttl seconds
 *   <prefix><openId> -> the user's current code as a JSON string ("\"<code>\"")
 * and the token sessions' (lib/token.c, docs/protocol.md "Token sessions"):
 *   <prefix>token:<sha256hex of the token> -> the session record (a JSON object), expiring
 *                                             after the idle time (never past its absolute end)
 *   <prefix>tokens:<openId>                -> the user's index of token hashes, oldest first
 *                                             (Redis: a sorted set scored by creation time;
 *                                             SQLite: a JSON array of the hashes)
 * and the access_token's and its refresh lease's (lib/access_token.c: get, set_ex, set_nx_ex,
 * del_eq).
 *
 * Callback contract (the library's one rule, libuv's): an op that returns < 0 never calls its
 * callback; an op that returns 0 calls it exactly once on the loop thread, and never before the
 * op has returned (a read SQLite answers at once and a store that is down are both answered on
 * a later pass of the loop, lib/defer.h). Statuses given to callbacks: 0 (or a count) for
 * success, WXS_ENOTFOUND for a missing or expired key (get only), WXS_ESTORE when the backend
 * is unreachable or failed, WXS_ECANCELED when the store is closed with the op in flight.
 * Values handed to callbacks are borrowed for the duration of the callback.
 *
 * Replicas (Redis with Sentinel or Cluster, redis.waitReplicas > 0): the writes login, set_ex,
 * token_put and token_touch are acknowledged only once WAIT counts enough replicas; set_nx_ex,
 * del, del_eq, token_del and token_del_user are not waited for (lib/store_redis.c says why;
 * del_eq: a lease release lost in a failover just waits out the lease, and a token drop lost is
 * made again by the next call that the stale token fails).
 */
#ifndef WXS_STORE_H
#define WXS_STORE_H

#include "internal.h"

#include <string.h>

typedef struct wxs__store wxs__store; /* each backend defines its own struct, first member ops */

/** The code's remembered exchange (lib/exchange.h): SET <prefix><key> value EX ttl_s. Carried
 *  by the login write so that it costs no round trip of its own; key NULL: nothing to carry. */
typedef struct wxs__remember {
    const char *key; /* "exchange:<sha256hex of the code>" */
    size_t key_len;
    const char *value;
    size_t value_len;
    long long ttl_s;
} wxs__remember;

/** The login write's arguments. code and openid are NUL-free, 1 to 256 bytes. */
typedef struct wxs__login {
    const char *code;
    size_t code_len;
    const char *openid;
    size_t openid_len;
    const char *user_json;
    size_t user_len;
    long long ttl_s;
    wxs__remember remember; /* optional (key NULL: none): written in the same atomic step */
} wxs__login;

/** A token session write's arguments (wxs__store_token_put). hash is the token's SHA-256 in
 *  lowercase hex (64 bytes); openid is NUL-free, 1 to 256 bytes. */
typedef struct wxs__token_put {
    const char *hash;
    const char *openid;
    size_t openid_len;
    const char *record; /* the session record (JSON object) */
    size_t record_len;
    long long ttl_s;        /* the record's life: the idle time, never past the absolute end */
    long long index_ttl_s;  /* the user index's life: the absolute lifetime (of this, the
                             * newest of the user's sessions) */
    long long created_ms;   /* unix milliseconds: the order of the index (oldest ends first) */
    long long cap;          /* at most this many live sessions per user, this one included */
    wxs__remember remember; /* optional (key NULL: none): written in the same step */
} wxs__token_put;

#define WXS__TOKEN_HASH_LEN 64
#define WXS__TOKEN_KEY "token:"   /* + hash: a session record */
#define WXS__TOKENS_KEY "tokens:" /* + openId: the user's index */

typedef void (*wxs__store_get_cb)(void *arg, int status, const char *val, size_t len);
typedef void (*wxs__store_done_cb)(void *arg, int status);

typedef struct wxs__store_ops {
    const char *name;
    /** Open a store instance bound to loop (one per worker). The connection may come up later
     *  (Redis reconnects by itself); ops fail with WXS_ESTORE while it is down. */
    int (*open)(wxs__store **out, uv_loop_t *loop, const wxs_config *cfg, char *err, size_t errlen);
    /** Start closing: pending ops get WXS_ECANCELED (or their real result); handles close on the
     *  loop; memory is released once they have. */
    void (*close)(wxs__store *st);
    /** 1 when ops can succeed: the backend connection is up (Redis), the file's writer is not
     *  failing (SQLite: util/sqlite_util.h). Cheap: called after every turn of the loop. */
    int (*ready)(const wxs__store *st);
    int (*get)(wxs__store *st, const char *key, size_t klen, wxs__store_get_cb cb, void *arg);
    int (*set_ex)(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                  long long ttl_s, wxs__store_done_cb cb, void *arg);
    /** Set only when the key is absent (or expired): status 1 when set, 0 when it existed. */
    int (*set_nx_ex)(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg);
    int (*del)(wxs__store *st, const char *key, size_t klen, wxs__store_done_cb cb, void *arg);
    /** Compare, then delete: DEL <prefix>key only when it holds exactly val (and has not
     *  expired), atomically (Redis: one Lua script, GET == ARGV[1] then DEL; Redis Cluster: the
     *  same one-key script on the key's node; SQLite: one DELETE ... WHERE key = ? AND value = ?
     *  AND not expired). Status 1 when it deleted, 0 when the key held another value or
     *  nothing. Used to drop a stored access_token only while it is still the one that failed,
     *  and to release a lease only while it is still ours. Not confirmed by WAIT (see
     *  "Replicas" above). A Redis key of another type fails with WXS_ESTORE. The store copies
     *  what it needs before returning. */
    int (*del_eq)(wxs__store *st, const char *key, size_t klen, const char *val, size_t vlen,
                  wxs__store_done_cb cb, void *arg);
    /** The login write, atomically (Redis: one Lua script; SQLite: one transaction):
     *    prev = GET <prefix><openid>
     *    SET <prefix><code> user_json EX ttl
     *    SET <prefix><openid> "\"<code>\"" EX ttl     (code as a JSON string)
     *    if prev is a JSON string naming another code: DEL <prefix><that code>
     *    if remember.key: SET <prefix><remember.key> remember.value EX remember.ttl_s
     *  so one user has one live session; the code's remembered exchange (lib/exchange.h)
     *  costs no round trip of its own. The store copies what it needs before returning. */
    int (*login)(wxs__store *st, const wxs__login *lw, wxs__store_done_cb cb, void *arg);
    /** A token session's write, atomically (Redis: one Lua script; SQLite: one transaction;
     *  Redis Cluster: ordered single-key steps, the record first, so that a failure part way
     *  leaves at worst a session the index does not know, which its TTL ends):
     *    drop from <prefix>tokens:<openid> the hashes whose record is gone
     *    SET <prefix>token:<hash> record EX ttl
     *    add hash to <prefix>tokens:<openid> (created_ms), which then lives index_ttl_s
     *    while the index holds more than cap hashes: DEL the oldest one's record, drop it
     *    if remember.key: SET <prefix><remember.key> remember.value EX remember.ttl_s
     *  Status: the number of sessions the cap ended (>= 0). */
    int (*token_put)(wxs__store *st, const wxs__token_put *tp, wxs__store_done_cb cb, void *arg);
    /** Renew a session: SET <prefix>token:<hash> record EX ttl only if the key exists (a
     *  session logged out meanwhile stays out). Status 1 renewed, 0 gone. */
    int (*token_touch)(wxs__store *st, const char *hash, const char *record, size_t record_len,
                       long long ttl_s, wxs__store_done_cb cb, void *arg);
    /** End one session: DEL <prefix>token:<hash> and drop hash from the user's index (Cluster:
     *  in that order). Status 1 when a live session ended, else 0. */
    int (*token_del)(wxs__store *st, const char *hash, const char *openid, size_t openid_len,
                     wxs__store_done_cb cb, void *arg);
    /** End every session of a user: DEL each record the index names, then the index. Status:
     *  the number of live sessions ended. */
    int (*token_del_user)(wxs__store *st, const char *openid, size_t openid_len,
                          wxs__store_done_cb cb, void *arg);
} wxs__store_ops;

struct wxs__store {
    const wxs__store_ops *ops;
};

/* One wrapper per operation (as redis's connection.h): callers never reach into st->ops. */

static inline int wxs__store_get(wxs__store *st, const char *key, size_t klen, wxs__store_get_cb cb,
                                 void *arg)
{
    return st->ops->get(st, key, klen, cb, arg);
}

static inline int wxs__store_set_ex(wxs__store *st, const char *key, size_t klen, const char *val,
                                    size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return st->ops->set_ex(st, key, klen, val, vlen, ttl_s, cb, arg);
}

static inline int wxs__store_set_nx_ex(wxs__store *st, const char *key, size_t klen,
                                       const char *val, size_t vlen, long long ttl_s,
                                       wxs__store_done_cb cb, void *arg)
{
    return st->ops->set_nx_ex(st, key, klen, val, vlen, ttl_s, cb, arg);
}

static inline int wxs__store_del(wxs__store *st, const char *key, size_t klen,
                                 wxs__store_done_cb cb, void *arg)
{
    return st->ops->del(st, key, klen, cb, arg);
}

/** Compare, then delete (ops->del_eq). A backend without it (NULL in its table: a test's fake)
 *  refuses it at once with WXS_ESTORE, as a store that is down. */
static inline int wxs__store_del_eq(wxs__store *st, const char *key, size_t klen, const char *val,
                                    size_t vlen, wxs__store_done_cb cb, void *arg)
{
    return st->ops->del_eq != NULL ? st->ops->del_eq(st, key, klen, val, vlen, cb, arg)
                                   : WXS_ESTORE;
}

static inline int wxs__store_login(wxs__store *st, const wxs__login *lw, wxs__store_done_cb cb,
                                   void *arg)
{
    return st->ops->login(st, lw, cb, arg);
}

/* The token ops: a backend without them (NULL in its table) refuses them at once with
 * WXS_ESTORE, as a store that is down. */

/** Read a token session's record (get of "token:<hash>"): WXS_ENOTFOUND when it is gone. */
static inline int wxs__store_token_get(wxs__store *st, const char *hash, wxs__store_get_cb cb,
                                       void *arg)
{
    char key[sizeof WXS__TOKEN_KEY + WXS__TOKEN_HASH_LEN];
    memcpy(key, WXS__TOKEN_KEY, sizeof WXS__TOKEN_KEY - 1);
    memcpy(key + sizeof WXS__TOKEN_KEY - 1, hash, WXS__TOKEN_HASH_LEN);
    return st->ops->get(st, key, sizeof key - 1, cb, arg);
}

static inline int wxs__store_token_put(wxs__store *st, const wxs__token_put *tp,
                                       wxs__store_done_cb cb, void *arg)
{
    return st->ops->token_put != NULL ? st->ops->token_put(st, tp, cb, arg) : WXS_ESTORE;
}

static inline int wxs__store_token_touch(wxs__store *st, const char *hash, const char *record,
                                         size_t record_len, long long ttl_s, wxs__store_done_cb cb,
                                         void *arg)
{
    return st->ops->token_touch != NULL
               ? st->ops->token_touch(st, hash, record, record_len, ttl_s, cb, arg)
               : WXS_ESTORE;
}

static inline int wxs__store_token_del(wxs__store *st, const char *hash, const char *openid,
                                       size_t openid_len, wxs__store_done_cb cb, void *arg)
{
    return st->ops->token_del != NULL ? st->ops->token_del(st, hash, openid, openid_len, cb, arg)
                                      : WXS_ESTORE;
}

static inline int wxs__store_token_del_user(wxs__store *st, const char *openid, size_t openid_len,
                                            wxs__store_done_cb cb, void *arg)
{
    return st->ops->token_del_user != NULL
               ? st->ops->token_del_user(st, openid, openid_len, cb, arg)
               : WXS_ESTORE;
}

static inline int wxs__store_ready(const wxs__store *st)
{
    return st->ops->ready(st);
}

/** Start closing st (ops->close); NULL is a no-op. */
static inline void wxs__store_close(wxs__store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

extern const wxs__store_ops wxs__store_sqlite_ops;
extern const wxs__store_ops wxs__store_redis_ops;
extern const wxs__store_ops wxs__store_redis_cluster_ops; /* opened by redis's open() */

/** The ops table named by cfg->store, or NULL. */
const wxs__store_ops *wxs__store_find(const char *name);

/* Limits every backend enforces, and the argument checks they share. */
#define WXS__STORE_MAX_PREFIX 256
#define WXS__STORE_MAX_KEY 1024
#define WXS__STORE_MAX_VALUE (1024 * 1024)
#define WXS__STORE_MAX_LOGIN_ID 256
#define WXS__STORE_MAX_TTL_S (10LL * 365 * 24 * 3600)

/** 0, WXS_EINVAL (NULL or empty key) or WXS_ETOOBIG (longer than WXS__STORE_MAX_KEY). */
int wxs__store_check_key(const char *key, size_t klen);
/** 0, WXS_EINVAL (NULL value, ttl out of 1..WXS__STORE_MAX_TTL_S) or WXS_ETOOBIG. */
int wxs__store_check_value(const char *val, size_t vlen, long long ttl_s);
/** The checks of a del_eq: the key's (wxs__store_check_key), then the value's: WXS_EINVAL
 *  (NULL) or WXS_ETOOBIG (longer than WXS__STORE_MAX_VALUE). */
static inline int wxs__store_check_del_eq(const char *key, size_t klen, const char *val,
                                          size_t vlen)
{
    int rc = wxs__store_check_key(key, klen);
    return rc == 0 ? wxs__store_check_value(val, vlen, 1) : rc; /* 1: a valid ttl, unused */
}
/** The checks of a login write (lw may be NULL: WXS_EINVAL). */
int wxs__store_check_login(const wxs__login *lw);
/** 1 when hash is 64 lowercase hex digits (a token hash), else 0. */
int wxs__store_token_hash_ok(const char *hash);
/** The checks of a token write (tp may be NULL: WXS_EINVAL): hash, openid, record, ttls, cap
 *  1..1000, the remembered exchange. */
int wxs__store_check_token_put(const wxs__token_put *tp);
/** The checks of a token op's hash and openid, each when not NULL: WXS_EINVAL, WXS_ETOOBIG. */
int wxs__store_check_token(const char *hash, const char *openid, size_t openid_len);
/** Append the code as a JSON string literal (what the openId entry holds) to b. */
int wxs__store_code_json(wxs__buf *b, const char *code, size_t code_len);
/** Read back what wxs__store_code_json wrote (backends that read the openId entry themselves):
 *  s (n bytes) must be exactly one JSON string literal, decoded into out (at most cap bytes).
 *  0, or -1 for anything else or more than cap bytes. Surrogate and NUL escapes are refused:
 *  codes are plain ASCII, and a refused value just means "no previous code". */
int wxs__store_code_parse(const char *s, size_t n, char *out, size_t cap, size_t *out_len);

#endif /* WXS_STORE_H */
