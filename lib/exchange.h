/* exchange.h: the single-flight code exchange. However many requests present one login code at
 * once (on this context, on other workers, on other instances sharing the store), WeChat is
 * asked once: the first to claim the code in the store (SET NX) exchanges it, the result is
 * remembered in the store for the code's 5-minute life, and every waiter gets that result. Any
 * login that needs a code's openid and session_key (the weapp-session login, lib/weapp.c; a
 * token login) starts here; the legacy protocol is not needed for it.
 *
 * Store layout (DESIGN.md section 2, unchanged):
 *   <prefix>exchange:<sha256hex of the code> -> "p"             the claim, while WeChat is asked
 *                                            -> "x{...}"        the remembered result
 * The claim expires by itself (WeChat's timeouts plus 2 s) if its owner dies. */
#ifndef WXS_EXCHANGE_H
#define WXS_EXCHANGE_H

#include "store.h"
#include "wechat.h"

/* A code lives 5 minutes: its result is remembered that long, in seconds. */
#define WXS__EXCHANGE_REMEMBER_S 300

/** The outcome of an exchange, as each waiter gets it (strings borrowed for the callback):
 *    0             openid and session_key set; unionid when WeChat sent one (a token session
 *                  keeps it, so it is remembered with the result too)
 *    WXS_EEXCHANGE WeChat's answer about the code: errcode, errmsg (remembered for the code's
 *                  life, e.g. 40029 invalid code, 40163 code already used). -1 (busy) and 45011
 *                  (quota) are not about the code: the claim is released so a retry exchanges.
 *    WXS_ETIMEDOUT WeChat did not answer in time, or a concurrent exchange elsewhere did not
 *                  finish in time
 *    WXS_EUPSTREAM / WXS_EIO  WeChat's reply was bad / the transport failed (lib/wechat.h)
 *    WXS_ESTORE    the store failed at a step (claim, look-up)
 *    WXS_ECANCELED the context was freed with the exchange in flight
 *    WXS_ENOMEM
 *  reason: a short human text for a failure (never the code or a secret). */
typedef wxs__exchange_result wxs__exchange_outcome;

/** Called once per wxs__exchange_start() that returned 0, on the loop, never before that call
 *  returned. remember is the code's remembered result still to be written (NULL when there is
 *  none, or another waiter's write carried it): a waiter that writes a session may carry it in
 *  that write (wxs__login.remember = *remember) and then calls wxs__exchange_carried(remember)
 *  once the write has started (returned 0). If no waiter carries it, the exchange writes it on
 *  its own after the last callback. remember is borrowed for the callback. */
typedef void (*wxs__exchange_done_cb)(void *arg, const wxs__exchange_outcome *out,
                                      wxs__remember *remember);

/** Exchange code (len bytes) for its openid and session_key, single-flight. Returns 0 (cb will
 *  run exactly once, later), WXS_ECANCELED (the context is closing), WXS_EINVAL or WXS_ENOMEM
 *  (cb will not run). A store that fails, at once or later, is an outcome (WXS_ESTORE). */
int wxs__exchange_start(wxs_ctx *ctx, const char *code, size_t len, wxs__exchange_done_cb cb,
                        void *arg);

/** The remembered result handed to a callback now rides on the caller's store write. */
static inline void wxs__exchange_carried(wxs__remember *remember)
{
    remember->key = NULL;
}

/** For wxs_ctx_free: end the exchanges waiting to poll the store with WXS_ECANCELED (their
 *  callbacks run now); the others end through the WeChat client and the store closing. */
void wxs__exchange_cancel_polls(wxs_ctx *ctx);

#endif /* WXS_EXCHANGE_H */
