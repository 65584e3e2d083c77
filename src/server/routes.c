/* routes.c: wxsessiond's routes. Every route under routeBasePath goes through the session
 * layer first (wxs_ctx_authenticate); its answer decides whether the route runs. */
#include "routes.h"
#include "http_api.h"
#include "server_reasons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int path_is(const char *path, size_t len, const char *want)
{
    size_t n = strlen(want);
    return len == n && memcmp(path, want, n) == 0;
}

/* Answer {"<key>":<json>} without copying json twice for small bodies. */
static void respond_wrapped(http_req *req, const char *key, const char *json, size_t len)
{
    char small[4096];
    size_t klen = strlen(key);
    size_t total = len + klen + 5; /* {"" : } */
    char *p = total <= sizeof small ? small : malloc(total);
    if (p == NULL) {
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
        return;
    }
    size_t o = 0;
    p[o++] = '{';
    p[o++] = '"';
    memcpy(p + o, key, klen);
    o += klen;
    p[o++] = '"';
    p[o++] = ':';
    memcpy(p + o, json, len);
    o += len;
    p[o++] = '}';
    http_respond(req, 200, NULL, p, o, 0);
    if (p != small)
        free(p);
}

/* GET {routeBasePath}/session -> {"wxUserInfo": user-or-null} */
static void route_session(route_call *call, const wxs_auth_result *auth)
{
    if (auth->kind == WXS_AUTH_USER)
        respond_wrapped(call->req, "wxUserInfo", auth->user_json, auth->user_len);
    else
        respond_wrapped(call->req, "wxUserInfo", "null", 4);
    free(call);
}

/* One Stroke's routes (src/onestroke/http_api.h): the app answers the request itself. */
static void route_paints_list(route_call *call, const wxs_auth_result *auth)
{
    onestroke_route_list(call->app->onestroke, call->req, auth);
    free(call);
}

static void route_paints_save(route_call *call, const wxs_auth_result *auth)
{
    onestroke_route_save(call->app->onestroke, call->req, auth);
    free(call);
}

static void route_paints_delete(route_call *call, const wxs_auth_result *auth)
{
    onestroke_route_delete(call->app->onestroke, call->req, auth);
    free(call);
}

/* The session layer has spoken: a rejection is answered here; otherwise the route runs and
 * owns the call from then on (it frees it). */
static void authenticated(void *arg, const wxs_auth_result *auth)
{
    route_call *call = arg;
    if (auth->kind == WXS_AUTH_REJECT) {
        http_respond(call->req, auth->http_status, NULL, auth->body, auth->body_len,
                     auth->http_status >= 400 && auth->http_status != 503);
        free(call);
        return;
    }
    call->route(call, auth);
}

/* Run the session layer on req, then route (unless the session layer answered). */
static void with_session(app *a, http_req *req, route_fn route)
{
    wxs_auth_request ar = {0};
    ar.code = http_req_header(req, "x-wx-code", &ar.code_len);
    ar.raw_data = http_req_header(req, "x-wx-rawdata", &ar.raw_data_len);
    ar.signature = http_req_header(req, "x-wx-signature", &ar.signature_len);
    route_call *call = malloc(sizeof *call);
    if (call == NULL) {
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
        return;
    }
    call->app = a;
    call->req = req;
    call->route = route;
    int rc = wxs_ctx_authenticate(a->ctx, &ar, authenticated, call);
    if (rc < 0) {
        free(call);
        if (rc == WXS_ECANCELED)
            http_respond_error(req, 503, WXS_REASON_SHUTTING_DOWN, "server is shutting down");
        else
            http_respond_error(req, 500, WXS_REASON_INTERNAL, wxs_strerror(rc));
    }
}

/* The application's routes below routeBasePath, each behind the session layer. */
typedef struct app_route {
    const char *path;
    int post; /* 1: POST only; 0: GET/HEAD only */
    route_fn fn;
} app_route;

static const app_route app_routes[] = {
    {"/session", 0, route_session},
    {"/session/paints/list", 0, route_paints_list},
    {"/session/paints/save", 1, route_paints_save},
    {"/session/paints/delete", 1, route_paints_delete},
};

/* The embedded web page: "/" is index.html. */
static int serve_asset(http_req *req, const char *sub, size_t sublen)
{
    if (sublen == 1)
        sub = "/index.html", sublen = 11;
    for (size_t i = 0; i < web_assets_count; i++) {
        const web_asset *w = &web_assets[i];
        if (path_is(sub, sublen, w->path)) {
            http_respond(req, 200, w->content_type, (const char *)w->data, w->len, 0);
            return 1;
        }
    }
    return 0;
}

static void route_health(app *a, http_req *req)
{
    static const char up[] = "{\"status\":\"ok\",\"store\":\"up\"}";
    static const char down[] = "{\"status\":\"unavailable\",\"store\":\"down\"}";
    static const char sim_only[] = "{\"status\":\"ok\"}";
    if (a->ctx == NULL)
        http_respond(req, 200, NULL, sim_only, sizeof sim_only - 1, 0);
    else if (wxs_ctx_store_ready(a->ctx))
        http_respond(req, 200, NULL, up, sizeof up - 1, 0);
    else
        http_respond(req, 503, NULL, down, sizeof down - 1, 0);
}

void app_handle(void *arg, http_req *req)
{
    app *a = arg;
    size_t len;
    const char *path = http_req_path(req, &len);
    int method = http_req_method(req);
    int readonly = method == HTTP_GET || method == HTTP_HEAD;

    if (path_is(path, len, "/healthz")) {
        route_health(a, req);
        return;
    }
    if (a->sim != NULL && sim_handle(a->sim, a->loop, req))
        return;
    if (a->ctx != NULL && len > a->route_base_len &&
        memcmp(path, a->route_base, a->route_base_len) == 0 && path[a->route_base_len] == '/') {
        const char *sub = path + a->route_base_len;
        size_t sublen = len - a->route_base_len;
        for (size_t i = 0; i < sizeof app_routes / sizeof app_routes[0]; i++) {
            const app_route *r = &app_routes[i];
            if (!path_is(sub, sublen, r->path))
                continue;
            if (r->post ? method != HTTP_POST : !readonly)
                http_respond_error(req, 405, HTTP_REASON_METHOD_NOT_ALLOWED,
                                   r->post ? "use POST" : "use GET");
            else
                with_session(a, req, r->fn);
            return;
        }
        if (readonly && serve_asset(req, sub, sublen))
            return;
    }
    http_respond_error(req, 404, HTTP_REASON_NOT_FOUND, "no such route");
}
