/* server_reasons.h: the codes of wxsessiond's own {"error":{"code":...,"message":...}} answers (the
 * HTTP layer, the routes, the simulator), in one table; the session layer's are WXS_REASON_* in
 * include/wxsession.h, and wxsessiond answers with those for the same conditions (out of memory,
 * shutting down). No includes: the HTTP layer uses it without the library. */
#ifndef WXS_SERVER_REASONS_H
#define WXS_SERVER_REASONS_H

#define HTTP_REASON_BAD_REQUEST "ERR_BAD_REQUEST" /* 400: malformed HTTP, smuggling shapes */
#define HTTP_REASON_HEADER_TOO_LARGE                                                               \
    "ERR_HEADER_TOO_LARGE" /* 431: limits.headerBytes, over 100 fields */
#define HTTP_REASON_BODY_TOO_LARGE "ERR_BODY_TOO_LARGE"             /* 413: limits.bodyBytes */
#define HTTP_REASON_HEADER_TIMEOUT "ERR_HEADER_TIMEOUT"             /* 408: timeouts.headerMs */
#define HTTP_REASON_BODY_TIMEOUT "ERR_BODY_TIMEOUT"                 /* 408: timeouts.bodyMs */
#define HTTP_REASON_TOO_MANY_CONNECTIONS "ERR_TOO_MANY_CONNECTIONS" /* 503: limits.connections */
#define HTTP_REASON_VERSION_NOT_SUPPORTED                                                          \
    "ERR_HTTP_VERSION_NOT_SUPPORTED"                            /* 505: not HTTP/1.0 or HTTP/1.1 */
#define HTTP_REASON_OUT_OF_MEMORY "ERR_OUT_OF_MEMORY"           /* 503: a request buffer */
#define HTTP_REASON_METHOD_NOT_ALLOWED "ERR_METHOD_NOT_ALLOWED" /* 405 */
#define HTTP_REASON_NOT_FOUND "ERR_NOT_FOUND"                   /* 404: no such route */
#define HTTP_REASON_CLIENT_GONE "ERR_CLIENT_GONE"               /* 503: the client closed first */
#define HTTP_REASON_BAD_PARAM "ERR_BAD_PARAM"             /* 400: simulator: a bad parameter */
#define HTTP_REASON_BAD_CONFIG "ERR_BAD_CONFIG"           /* 400: simulator: a bad setting */
#define HTTP_REASON_SIMULATOR_FULL "ERR_SIMULATOR_FULL"   /* simulator: too many codes or users */
#define HTTP_REASON_TOO_MANY_LOGINS "ERR_TOO_MANY_LOGINS" /* 429: limits.loginsPerMinute */
/* the token protocol (src/server/token_routes.c) */
#define HTTP_REASON_TOKEN_INVALID "ERR_TOKEN_INVALID"   /* 401: no such token, or malformed */
#define HTTP_REASON_TOKEN_EXPIRED "ERR_TOKEN_EXPIRED"   /* 401: idle or absolute lifetime past */
#define HTTP_REASON_KEY_STALE "ERR_SESSION_KEY_STALE"   /* 401: decrypt failed: log in again */
#define HTTP_REASON_WATERMARK "ERR_WATERMARK"           /* 400: data for another app */
#define HTTP_REASON_DECRYPT_FAILED "ERR_DECRYPT_FAILED" /* 400: bad data, the key is current */
#define HTTP_REASON_PHONE_CODE "ERR_PHONE_CODE_INVALID" /* 400: ask for the number again */
#define HTTP_REASON_WECHAT_QUOTA "ERR_WECHAT_QUOTA"     /* 429: WeChat's quota for the API */
#define HTTP_REASON_UNTRUSTED "ERR_UNTRUSTED_RAW_DATA"  /* 401: rawData's signature mismatch */
#define HTTP_REASON_WECHAT "ERR_WECHAT"                 /* 502: WeChat refused or failed */

#endif /* WXS_SERVER_REASONS_H */
