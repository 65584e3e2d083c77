/* ctx.h: the per-loop session context shared by lib/session.c and lib/paints_api.c. */
#ifndef WXS_CTX_H
#define WXS_CTX_H

#include "paints.h"
#include "store.h"

typedef struct flight flight;
typedef struct wxs__wechat wxs__wechat;

struct wxs_ctx {
    uv_loop_t *loop;
    const wxs_config *cfg;
    wxs__store *store;         /* sessions */
    wxs__paint_store *paints;  /* One Stroke drawings */
    wxs__wechat *wechat;
    flight *flights; /* code exchanges in flight on this context */
    unsigned refs;   /* ops and flights alive; the context is freed when 0 after close */
    int closing;
};

/** Drop a reference taken with ctx->refs++; frees a closing context at zero. */
void wxs__ctx_unref(wxs_ctx *ctx);

#endif /* WXS_CTX_H */
