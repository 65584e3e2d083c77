/* access_token.h: the app's access_token kept per context (lib/access_token.c) and the server
 * APIs called with it (lib/wechat_api.c); the public entry points are in wxsession.h. */
#ifndef WXS_ACCESS_TOKEN_H
#define WXS_ACCESS_TOKEN_H

#include "internal.h"

typedef struct wxs__atoken wxs__atoken;

/* The longest access_token kept or accepted (WeChat's are about 140 characters). */
#define WXS__ACCESS_TOKEN_MAX 512

/** Start closing ctx's access_token state (from wxs_ctx_free, before the store and the WeChat
 *  client close): waiters end with WXS_ECANCELED; the memory goes once nothing uses it. */
void wxs__access_token_close(wxs_ctx *ctx);

/** 1 for the errcodes that mean "this access_token is no longer good" (40001, 40014, 42001):
 *  the call is retried once with a fresh token. */
static inline int wxs__access_token_errcode(long errcode)
{
    return errcode == 40001 || errcode == 40014 || errcode == 42001;
}

#endif /* WXS_ACCESS_TOKEN_H */
