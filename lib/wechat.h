/* wechat.h: the WeChat API client (jscode2session) on a libuv loop, through libcurl multi.
 * One client per loop; connections to api_base are kept alive and reused. */
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

/** cfg is borrowed and must outlive the client (api base, appId, appSecret, timeouts, cap). */
int wxs__wechat_new(wxs__wechat **out, uv_loop_t *loop, const wxs_config *cfg);
/** In-flight exchanges end with WXS_ECANCELED; handles close on the loop. NULL is a no-op. */
void wxs__wechat_free(wxs__wechat *w);
/** GET {api_base}/sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code
 *  (each value percent-encoded). Callback contract as in wxsession.h; the callback never runs
 *  before this returns. */
int wxs__wechat_exchange(wxs__wechat *w, const char *code, size_t code_len, wxs__exchange_cb cb,
                         void *arg);

#endif /* WXS_WECHAT_H */
