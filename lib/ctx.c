/* ctx.c: the session context's lifetime: open the store and the WeChat client, close them, and
 * free the context once nothing calls back into it. */
#include "ctx.h"
#include "exchange.h"

#include <stdio.h>

/* Open the configured session store and the WeChat client, then the context on them. */
int wxs_ctx_new(wxs_ctx **out, uv_loop_t *loop, const wxs_config *cfg, char *err, size_t errlen)
{
    wxs__store *store = NULL;
    wxs__wechat *wechat = NULL;
    int rc = 0;
    const wxs__store_ops *ops = wxs__store_find(cfg->store);
    const char *missing = cfg->app_id[0] == '\0' ? "appId" : "appSecret";
    if (cfg->app_id[0] == '\0' || cfg->app_secret[0] == '\0') {
        /* WeChat (and the simulator) need both: a program checks for them at start-up */
        snprintf(err, errlen, "option '%s' is required", missing);
        rc = WXS_ECONFIG;
        goto out;
    }
    if (ops == NULL) {
        snprintf(err, errlen, "option 'store': unknown store '%s'", cfg->store);
        rc = WXS_ECONFIG;
        goto out;
    }
    rc = ops->open(&store, loop, cfg, err, errlen);
    if (rc < 0)
        goto out;
    rc = wxs__wechat_new(&wechat, loop, cfg);
    if (rc < 0) {
        snprintf(err, errlen, "WeChat client: %s", wxs_strerror(rc));
        goto out;
    }
    rc = wxs__ctx_new_with(out, loop, cfg, store, wechat);
    store = NULL; /* the context owns them now, even when it failed */
    wechat = NULL;
    if (rc < 0)
        snprintf(err, errlen, "session context: %s", wxs_strerror(rc));
out:
    wxs__wechat_free(wechat);
    wxs__store_close(store);
    return rc;
}

int wxs__ctx_new_with(wxs_ctx **out, uv_loop_t *loop, const wxs_config *cfg, wxs__store *store,
                      wxs__wechat *wechat)
{
    int rc = 0;
    wxs_ctx *ctx = NULL;
    if (out == NULL || loop == NULL || cfg == NULL || store == NULL || wechat == NULL) {
        rc = WXS_EINVAL;
        goto out;
    }
    ctx = wxs__calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    rc = wxs__defer_init(&ctx->later, loop);
    if (rc < 0)
        goto out;
    ctx->loop = loop;
    ctx->cfg = cfg;
    ctx->store = store;
    ctx->wechat = wechat;
    ctx->refs = 1; /* the deferred queue's, dropped once its handles closed */
    *out = ctx;
    ctx = NULL;
out:
    if (rc < 0) {
        wxs__wechat_free(wechat);
        wxs__store_close(store);
        wxs__free(ctx);
    }
    return rc;
}

static void later_closed(void *arg)
{
    wxs__ctx_unref(arg);
}

/* Start closing: exchanges waiting to poll end now; the WeChat client ends the exchanges in
 * flight and the store the ops in flight (both with WXS_ECANCELED); answers already queued are
 * still delivered. The memory goes when the last of them has called back. */
void wxs_ctx_free(wxs_ctx *ctx)
{
    if (ctx == NULL || ctx->closing)
        return;
    ctx->closing = 1;
    wxs__ctx_ref(ctx); /* hold the context while closing what calls back into it */
    wxs__exchange_cancel_polls(ctx);
    wxs__access_token_close(ctx);
    wxs__wechat_free(ctx->wechat); /* in-flight exchanges call back with WXS_ECANCELED */
    ctx->wechat = NULL;
    wxs__store_close(ctx->store); /* pending ops call back with WXS_ECANCELED */
    wxs__defer_close(&ctx->later, later_closed, ctx);
    wxs__ctx_unref(ctx);
}

/* The store's own readiness (store.h); never asks a store that is closing. */
int wxs_ctx_store_ready(const wxs_ctx *ctx)
{
    return ctx != NULL && !ctx->closing && wxs__store_ready(ctx->store);
}
