/* paints_api.c: the One Stroke drawing API of a session context: list cursors, checks before
 * anything is stored, and the list page as JSON. The storage itself is behind lib/paints.h. */
#include "ctx.h"
#include "protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- cursors: "<createdAt ms>.<id>" ('.' never occurs in an id) */

static int cursor_decode(const char *text, wxs__paint_cursor *c)
{
    const char *dot = strchr(text, '.');
    if (dot == NULL || dot == text || dot - text > 19)
        return WXS_EINVAL;
    int64_t ms = 0;
    for (const char *p = text; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return WXS_EINVAL;
        if (ms > (INT64_MAX - (*p - '0')) / 10)
            return WXS_EINVAL; /* past int64 (found by fuzz/driver_paint_body) */
        ms = ms * 10 + (*p - '0');
    }
    size_t idlen = strlen(dot + 1);
    if (!wxs__paint_id_valid(dot + 1, idlen))
        return WXS_EINVAL;
    c->created_at_ms = ms;
    memcpy(c->id, dot + 1, idlen + 1);
    return 0;
}

/* ---- operations */

typedef struct paint_op {
    wxs_ctx *ctx;
    void *arg;
    wxs_paint_list_cb list_cb;
    wxs_paint_done_cb done_cb;
} paint_op;

static paint_op *op_new(wxs_ctx *ctx, void *arg)
{
    paint_op *op = wxs__calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->ctx = ctx;
    op->arg = arg;
    ctx->refs++;
    return op;
}

static void op_free(paint_op *op)
{
    wxs_ctx *ctx = op->ctx;
    wxs__free(op);
    wxs__ctx_unref(ctx);
}

static int page_json(wxs__buf *b, const wxs__paint *items, size_t n)
{
    int rc = wxs__buf_add(b, "[", 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = wxs__buf_printf(b, "%s{\"id\":\"%s\",\"actions\":\"", i ? "," : "", items[i].id);
        if (rc == 0)
            rc = wxs__buf_add_json_escaped(b, items[i].actions, items[i].actions_len);
        if (rc == 0)
            rc = wxs__buf_printf(b, "\",\"createdAt\":%lld,\"updatedAt\":%lld}",
                                 (long long)items[i].created_at_ms,
                                 (long long)items[i].updated_at_ms);
    }
    if (rc == 0)
        rc = wxs__buf_add(b, "]", 1);
    return rc;
}

static void listed(void *arg, int status, const wxs__paint *items, size_t n, int more)
{
    paint_op *op = arg;
    if (status < 0) {
        op->list_cb(op->arg, status, NULL, 0, NULL);
        op_free(op);
        return;
    }
    wxs__buf b;
    wxs__buf_init(&b, SIZE_MAX / 2);
    char next[32 + WXS__PAINT_ID_MAX];
    int rc = page_json(&b, items, n);
    if (more && n > 0)
        snprintf(next, sizeof next, "%lld.%s", (long long)items[n - 1].created_at_ms,
                 items[n - 1].id);
    if (rc < 0)
        op->list_cb(op->arg, rc, NULL, 0, NULL);
    else
        op->list_cb(op->arg, 0, b.data, b.len, more && n > 0 ? next : NULL);
    wxs__buf_free(&b);
    op_free(op);
}

int wxs_paints_list(wxs_ctx *ctx, const char *openid, const char *cursor, unsigned limit,
                    wxs_paint_list_cb cb, void *arg)
{
    wxs__paint_cursor c = {0};
    if (ctx == NULL || openid == NULL || cb == NULL || strlen(openid) > WXS__OPENID_MAX)
        return WXS_EINVAL;
    if (limit == 0)
        limit = (unsigned)ctx->cfg->paint_page_size;
    if (limit > (unsigned long long)ctx->cfg->paint_max_page_size)
        return WXS_EINVAL;
    if (cursor != NULL && cursor[0] != '\0' && cursor_decode(cursor, &c) < 0)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    paint_op *op = op_new(ctx, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    op->list_cb = cb;
    int rc = ctx->paints->ops->list(ctx->paints, openid, &c, limit, listed, op);
    if (rc < 0)
        op_free(op);
    return rc;
}

static void done(void *arg, int status)
{
    paint_op *op = arg;
    op->done_cb(op->arg, status);
    op_free(op);
}

int wxs_paints_save(wxs_ctx *ctx, const char *openid, const char *id, const char *actions,
                    size_t actions_len, wxs_paint_done_cb cb, void *arg)
{
    if (ctx == NULL || openid == NULL || id == NULL || actions == NULL || cb == NULL ||
        strlen(openid) > WXS__OPENID_MAX || !wxs__paint_id_valid(id, strlen(id)))
        return WXS_EINVAL;
    if (actions_len > (size_t)ctx->cfg->paint_max_actions_bytes)
        return WXS_ETOOBIG;
    if (!wxs__utf8_valid((const unsigned char *)actions, actions_len) ||
        !wxs__json_depth_ok(actions, actions_len, (int)ctx->cfg->limit_json_depth))
        return WXS_EPARSE;
    json_t *doc = json_loadb(actions, actions_len, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return WXS_EPARSE;
    json_decref(doc);
    if (ctx->closing)
        return WXS_ECANCELED;
    paint_op *op = op_new(ctx, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    op->done_cb = cb;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int rc = ctx->paints->ops->save(ctx->paints, openid, id, actions, actions_len, now_ms,
                                    ctx->cfg->paint_max_per_user, done, op);
    if (rc < 0)
        op_free(op);
    return rc;
}

int wxs_paints_delete(wxs_ctx *ctx, const char *openid, const char *id, wxs_paint_done_cb cb,
                      void *arg)
{
    if (ctx == NULL || openid == NULL || id == NULL || cb == NULL ||
        strlen(openid) > WXS__OPENID_MAX || !wxs__paint_id_valid(id, strlen(id)))
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    paint_op *op = op_new(ctx, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    op->done_cb = cb;
    int rc = ctx->paints->ops->del(ctx->paints, openid, id, done, op);
    if (rc < 0)
        op_free(op);
    return rc;
}
