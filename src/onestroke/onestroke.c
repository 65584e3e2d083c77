/* onestroke.c: the One Stroke app object of a worker loop and its drawing API: checks before
 * anything is stored and list cursors. The storage itself is behind store.h; the stores build
 * the list answer (page.h) on their pool threads. */
#include "onestroke.h"
#include "body.h"
#include "store.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct onestroke {
    uv_loop_t *loop;
    const struct onestroke_options *opts;
    int json_depth; /* limits.jsonDepth */
    os_store *store;
    unsigned refs; /* the owner's, and one per call in flight; freed at 0 */
    int closing;
};

static void unref(onestroke *os)
{
    if (--os->refs == 0)
        wxs__free(os);
}

int onestroke_new(onestroke **out, uv_loop_t *loop, const struct onestroke_options *opts,
                  const wxs_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    *out = NULL;
    onestroke *os = wxs__calloc(1, sizeof *os);
    if (os == NULL)
        return WXS_ENOMEM;
    os->loop = loop;
    os->opts = opts;
    os->json_depth = (int)wxs_config_get_int(cfg, "limits.jsonDepth");
    os->refs = 1;
    const os_store_ops *ops = os_store_find(opts->store);
    if (ops == NULL) {
        snprintf(err, errlen, "option 'paints.store': unknown store '%s'",
                 opts->store != NULL ? opts->store : "");
        rc = WXS_ECONFIG;
        goto out;
    }
    rc = ops->open(&os->store, loop, opts, wxs_config_get_str(cfg, "sqlite.path"), err, errlen);
out:
    if (rc < 0)
        wxs__free(os);
    else
        *out = os;
    return rc;
}

void onestroke_free(onestroke *os)
{
    if (os == NULL)
        return;
    os->closing = 1;
    os_store_close(os->store); /* calls in flight call back, with WXS_ECANCELED if queued */
    os->store = NULL;
    unref(os);
}

unsigned onestroke_max_page_size(const onestroke *os)
{
    return (unsigned)os->opts->max_page_size;
}

int onestroke_json_depth(const onestroke *os)
{
    return os->json_depth;
}

/* ---- calls: each holds a reference on the app until its callback has run */

typedef struct call {
    onestroke *os;
    void *arg;
    onestroke_list_cb list_cb;
    onestroke_done_cb done_cb;
} call;

static call *call_new(onestroke *os, void *arg)
{
    call *c = wxs__calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->os = os;
    c->arg = arg;
    os->refs++;
    return c;
}

static void call_free(call *c)
{
    onestroke *os = c->os;
    wxs__free(c);
    unref(os);
}

/* The store's answer, built on the pool: handed on as is. */
static void listed(void *arg, int status, const os_page *page)
{
    call *c = arg;
    if (status < 0)
        c->list_cb(c->arg, status, NULL, 0);
    else
        c->list_cb(c->arg, 0, page->body.data, page->len);
    call_free(c);
}

int onestroke_list(onestroke *os, const char *openid, const char *cursor, unsigned limit,
                   int count_only, onestroke_list_cb cb, void *arg)
{
    os_paint_cursor pc = {0};
    if (os == NULL || openid == NULL || cb == NULL || strlen(openid) > OS_OPENID_MAX)
        return WXS_EINVAL;
    if (limit == 0)
        limit = (unsigned)os->opts->page_size;
    if (limit > (unsigned long long)os->opts->max_page_size)
        return WXS_EINVAL;
    if (cursor != NULL && cursor[0] != '\0' && os_cursor_decode(cursor, &pc) < 0)
        return WXS_EINVAL;
    if (os->closing)
        return WXS_ECANCELED;
    call *c = call_new(os, arg);
    if (c == NULL)
        return WXS_ENOMEM;
    c->list_cb = cb;
    int rc = os_store_list(os->store, openid, &pc, limit, (size_t)os->opts->max_page_bytes,
                           count_only, listed, c);
    if (rc < 0)
        call_free(c);
    return rc;
}

static void done(void *arg, int status)
{
    call *c = arg;
    c->done_cb(c->arg, status);
    call_free(c);
}

/* 1 when actions[0..len) is JSON text (any value) no deeper than max_depth; jansson also
 * refuses invalid UTF-8 and NUL characters. */
static int actions_ok(const char *actions, size_t len, int max_depth)
{
    if (!wxs__json_depth_ok(actions, len, max_depth))
        return 0;
    json_t *doc = json_loadb(actions, len, JSON_DECODE_ANY, NULL);
    json_decref(doc);
    return doc != NULL;
}

int onestroke_save(onestroke *os, const char *openid, const char *id, const char *actions,
                   size_t actions_len, onestroke_done_cb cb, void *arg)
{
    if (os == NULL || openid == NULL || id == NULL || actions == NULL || cb == NULL ||
        strlen(openid) > OS_OPENID_MAX || !os_paint_id_valid(id, strlen(id)))
        return WXS_EINVAL;
    if (actions_len > (size_t)os->opts->max_actions_bytes)
        return WXS_ETOOBIG;
    if (!actions_ok(actions, actions_len, os->json_depth))
        return WXS_EPARSE;
    if (os->closing)
        return WXS_ECANCELED;
    call *c = call_new(os, arg);
    if (c == NULL)
        return WXS_ENOMEM;
    c->done_cb = cb;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int rc = os_store_save(os->store, openid, id, actions, actions_len, now_ms,
                           os->opts->max_per_user, done, c);
    if (rc < 0)
        call_free(c);
    return rc;
}

int onestroke_delete(onestroke *os, const char *openid, const char *id, onestroke_done_cb cb,
                     void *arg)
{
    if (os == NULL || openid == NULL || id == NULL || cb == NULL ||
        strlen(openid) > OS_OPENID_MAX || !os_paint_id_valid(id, strlen(id)))
        return WXS_EINVAL;
    if (os->closing)
        return WXS_ECANCELED;
    call *c = call_new(os, arg);
    if (c == NULL)
        return WXS_ENOMEM;
    c->done_cb = cb;
    int rc = os_store_del(os->store, openid, id, done, c);
    if (rc < 0)
        call_free(c);
    return rc;
}
