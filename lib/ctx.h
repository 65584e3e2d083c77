/* ctx.h: the per-loop session context (lib/ctx.c): the store, the WeChat client, the code
 * exchanges in flight (lib/exchange.c) and the answers waiting for the loop's next pass, shared
 * by the files of the session logic (lib/exchange.c, lib/weapp.c). */
#ifndef WXS_CTX_H
#define WXS_CTX_H

#include "access_token.h"
#include "defer.h"
#include "store.h"
#include "wechat.h"

typedef struct wxs__flight wxs__flight;

/** A finished fixed-size op kept for reuse (lib/weapp.c's small ops): no allocation per
 *  request on the hot paths. */
typedef struct wxs__spare {
    struct wxs__spare *next;
} wxs__spare;

struct wxs_ctx {
    uv_loop_t *loop;
    const wxs_config *cfg;
    wxs__store *store;    /* sessions, owned */
    wxs__wechat *wechat;  /* owned */
    wxs__flight *flights; /* code exchanges in flight on this context */
    wxs__atoken *atoken;  /* the app's access_token (lib/access_token.c), made at first use */
    wxs__defer later;     /* answers known at once, delivered on the loop's next pass */
    wxs__spare *spares;   /* lib/weapp.c's finished small ops */
    unsigned spare_count;
    wxs_stats stats; /* counted on the loop thread (lib/stats.h), read by any */
    unsigned refs;   /* ops, flights and the deferred queue alive; freed at 0 once closing */
    int closing;
};

/** A context on a store and a WeChat client that the caller opened (tests put fakes here); the
 *  context owns both from then on, also when this fails (it closes them). cfg is borrowed. Returns
 *  0, WXS_EINVAL or WXS_EIO. */
int wxs__ctx_new_with(wxs_ctx **out, uv_loop_t *loop, const wxs_config *cfg, wxs__store *store,
                      wxs__wechat *wechat);

/** Take a reference for an op or a flight that calls back into ctx. */
static inline void wxs__ctx_ref(wxs_ctx *ctx)
{
    ctx->refs++;
}

/** Drop a reference taken with wxs__ctx_ref; frees a closing context at zero (its kept ops
 *  too). Inline, so that the files that hold references never call back into lib/ctx.c. */
static inline void wxs__ctx_unref(wxs_ctx *ctx)
{
    if (--ctx->refs > 0 || !ctx->closing)
        return;
    while (ctx->spares != NULL) {
        wxs__spare *s = ctx->spares;
        ctx->spares = s->next;
        wxs__free(s);
    }
    wxs__free(ctx);
}

#endif /* WXS_CTX_H */
