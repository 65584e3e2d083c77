/* wechat.h: the WeChat API (jscode2session) behind an ops table, so that tests can put a fake in
 * its place. The real client runs on a libuv loop through libcurl multi, one client per loop,
 * with connections to api_base kept alive and reused: it is in wechat.c; its pure parts, the
 * request URL and the reply's classification, in wechat_protocol.c. */
#ifndef WXS_WECHAT_H
#define WXS_WECHAT_H

#include "internal.h"

typedef struct wxs__wechat wxs__wechat;

/* Outcome of one exchange. status:
 *   0             success: openid and session_key set (unionid when WeChat sent one)
 *   WXS_EEXCHANGE WeChat answered with a non-zero errcode: errcode, errmsg set
 *   WXS_ETIMEDOUT no complete reply within wechat.timeoutMs (connect: wechat.connectTimeoutMs)
 *   WXS_EUPSTREAM reply not JSON, not an object, HTTP status not 200, over
 *                 wechat.maxReplyBytes, or missing openid/session_key
 *   WXS_EIO       transport failure (connection refused, reset, DNS)
 *   WXS_ECANCELED the client was freed with the exchange in flight
 * `reason` is a short human text for the failure ("timeout", "HTTP 500", "reply is not JSON"),
 * never containing the request URL (it holds the app secret). */
typedef struct wxs__exchange_result {
    int status;
    long errcode;
    const char *errmsg;
    const char *openid;
    const char *session_key;
    const char *unionid;
    const char *reason;
} wxs__exchange_result;

/** Pointers in res are valid only during the callback. */
typedef void (*wxs__exchange_cb)(void *arg, const wxs__exchange_result *res);

/* Outcome of one call of a server API (wxs__wechat_call). status: 0 (root holds the reply
 * object, errcode 0 or absent), WXS_EEXCHANGE (a non-zero errcode: errcode, errmsg; root set
 * too), or the transport's failures as an exchange's above (root NULL). */
typedef struct wxs__call_result {
    int status;
    long errcode;
    const char *errmsg;
    struct json_t *root; /* borrowed: valid during the callback only */
    const char *reason;
} wxs__call_result;

typedef void (*wxs__call_cb)(void *arg, const wxs__call_result *res);

/** What a WeChat client does. Callback rule as in wxsession.h: exchange() and call() return < 0
 *  and never call cb, or return 0 and call cb exactly once, on the loop, never before they
 *  return. */
typedef struct wxs__wechat_ops {
    const char *name;
    /** Exchange a login code for the user's openid and session_key. */
    int (*exchange)(wxs__wechat *w, const char *code, size_t code_len, wxs__exchange_cb cb,
                    void *arg);
    /** Call a server API: GET {api_base}{path} when body is NULL, else POST body as JSON. path
     *  starts with '/' and holds the query already percent-encoded; it may hold the
     *  access_token, so it is never logged (name is, e.g. "stable_token"). May be NULL in a
     *  fake: the wrapper then refuses with WXS_EINVAL. */
    int (*call)(wxs__wechat *w, const char *name, const char *path, const char *body,
                size_t body_len, wxs__call_cb cb, void *arg);
    /** In-flight exchanges end with WXS_ECANCELED (their callbacks may run inside free());
     *  handles close on the loop and the memory goes with them. */
    void (*free)(wxs__wechat *w);
} wxs__wechat_ops;

/** Each implementation embeds this as its first member. */
struct wxs__wechat {
    const wxs__wechat_ops *ops;
};

/** The real client. cfg is borrowed and must outlive the client (api base, appId, appSecret,
 *  timeouts, cap). */
int wxs__wechat_new(wxs__wechat **out, uv_loop_t *loop, const wxs_config *cfg);

/** Free any client (ops->free). NULL is a no-op. */
static inline void wxs__wechat_free(wxs__wechat *w)
{
    if (w != NULL)
        w->ops->free(w);
}

/** Exchange code (ops->exchange). The real client sends
 *  GET {api_base}/sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code
 *  (each value percent-encoded). WXS_EINVAL for a NULL client. */
static inline int wxs__wechat_exchange(wxs__wechat *w, const char *code, size_t code_len,
                                       wxs__exchange_cb cb, void *arg)
{
    return w != NULL ? w->ops->exchange(w, code, code_len, cb, arg) : WXS_EINVAL;
}

/** Call a server API (ops->call). WXS_EINVAL for a NULL client or one without calls. */
static inline int wxs__wechat_call(wxs__wechat *w, const char *name, const char *path,
                                   const char *body, size_t body_len, wxs__call_cb cb, void *arg)
{
    return w != NULL && w->ops->call != NULL ? w->ops->call(w, name, path, body, body_len, cb, arg)
                                             : WXS_EINVAL;
}

/** Append s to b percent-encoded (all but RFC 3986 unreserved characters as %XX). */
int wxs__wechat_add_encoded(wxs__buf *b, const char *s, size_t n);

/** Append the part of the jscode2session URL that every exchange shares (pure, no I/O):
 *  base (trailing slashes already removed), "/sns/jscode2session?appid=", app_id, "&secret=",
 *  secret, "&js_code=", with app_id and secret percent-encoded (all but RFC 3986 unreserved
 *  characters as %XX; NULL counts as ""). Returns 0, WXS_ETOOBIG (past url's max) or WXS_ENOMEM;
 *  on failure url is wiped and emptied, as it may have held part of the secret. */
int wxs__wechat_url_prefix(wxs__buf *url, const char *base, const char *app_id, const char *secret);
/** Append code, percent-encoded as above, and "&grant_type=authorization_code" to a URL prefix.
 *  Returns 0, WXS_ETOOBIG or WXS_ENOMEM; on failure url may end with part of the code. */
int wxs__wechat_url_add_code(wxs__buf *url, const char *code, size_t code_len);

/* Storage a parsed reply's result points into: the parsed document and the "HTTP <status>"
 * reason. Zero-initialize it; release it with wxs__wechat_reply_clear once res is done with. */
typedef struct wxs__wechat_reply {
    struct json_t *root;
    char reason[32];
} wxs__wechat_reply;

/** Classify a complete jscode2session reply (pure, no I/O; used by the client and the fuzz
 *  driver): http_status other than 200, JSON nesting deeper than max_depth (<= 0: 64), a body
 *  that is not a JSON object (duplicate keys rejected), a non-numeric errcode, or a reply without
 *  non-empty NUL-free openid and session_key: WXS_EUPSTREAM; a non-zero errcode: WXS_EEXCHANGE
 *  with errcode and errmsg ("" when absent); else 0 with openid, session_key and unionid (NULL
 *  when absent). res and reply must start zeroed; res->status is the return value and res's
 *  strings point into reply or are static. */
int wxs__wechat_parse_reply(const char *body, size_t len, long http_status, long max_depth,
                            wxs__exchange_result *res, wxs__wechat_reply *reply);
/** Classify a complete reply of a server API (pure): http_status other than 200, too deep, not
 *  a JSON object, a malformed errcode: WXS_EUPSTREAM; a non-zero errcode: WXS_EEXCHANGE; else
 *  0. res->root (kept in reply->root) is the parsed object whenever it parsed. */
int wxs__wechat_parse_call(const char *body, size_t len, long http_status, long max_depth,
                           wxs__call_result *res, wxs__wechat_reply *reply);

/** Release what wxs__wechat_parse_reply kept in reply; reply may be reused after. */
void wxs__wechat_reply_clear(wxs__wechat_reply *reply);

#endif /* WXS_WECHAT_H */
