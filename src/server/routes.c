/* routes.c: wxsessiond's routes. Every route under routeBasePath goes through the session
 * layer first (wxs_ctx_authenticate); its answer decides whether the route runs. */
#include "routes.h"
#include "access.h"
#include "gateway.h"
#include "http_api.h"
#include "phone_route.h"
#include "server_reasons.h"
#include "token_routes.h"

#include <stdatomic.h>
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
    if (auth->login && call->app->log_audit)
        access_audit_login(call->app, call->req, auth);
    if (auth->kind == WXS_AUTH_REJECT) {
        http_respond(call->req, auth->http_status, NULL, auth->body, auth->body_len,
                     auth->http_status >= 400 && auth->http_status != 503);
        free(call);
        return;
    }
    call->route(call, auth);
}

/* The login limiter's key for req's client: X-Forwarded-For's last entry when trusted and an
 * address, else the peer's address. Returns 0, or -1 when neither is known (the peer is gone). */
static int client_key(const app *a, http_req *req, unsigned char key[LIMITER_KEY_BYTES])
{
    if (a->trust_forwarded) {
        size_t len = 0;
        const char *fwd = http_req_header(req, "x-forwarded-for", &len);
        if (limiter_key_from_forwarded(fwd, len, key) == 0)
            return 0;
    }
    struct sockaddr_storage peer;
    if (http_req_peer(req, &peer) < 0)
        return -1;
    return limiter_key_from_sockaddr((const struct sockaddr *)&peer, key);
}

/* The 429 body, with the seconds until the next token. */
#define TOO_MANY_LOGINS_JSON                                                                       \
    "{\"error\":{\"code\":\"" HTTP_REASON_TOO_MANY_LOGINS "\",\"message\":\"too many logins from " \
    "this address; try again in %u s\"}}"

/* A login (a code with rawData) costs a WeChat call and a store entry: it first takes a token
 * from its client address's bucket (limiter.h). Returns 1 when the request goes on to the
 * session layer (not a login, or a token was taken), 0 when it was answered here: 429 over the
 * limit, 503 when the client's address cannot be known (it has gone). */
int routes_take_login(app *a, http_req *req)
{
    unsigned char key[LIMITER_KEY_BYTES];
    unsigned retry_s = 1;
    char body[160], header[48];
    if (a->limiter == NULL)
        return 1;
    if (client_key(a, req, key) < 0) {
        http_respond_error(req, 503, HTTP_REASON_CLIENT_GONE, "the client's address is gone");
        return 0;
    }
    if (limiter_take(a->limiter, key, uv_hrtime(), &retry_s))
        return 1;
    int n = snprintf(body, sizeof body, TOO_MANY_LOGINS_JSON, retry_s);
    snprintf(header, sizeof header, "Retry-After: %u\r\n", retry_s);
    http_respond_with_headers(req, 429, NULL, header, body, (size_t)n, 0);
    return 0;
}

static int login_allowed(app *a, http_req *req, const wxs_auth_request *ar)
{
    return ar->code_len == 0 || ar->raw_data_len == 0 || routes_take_login(a, req);
}

/* Run the session layer on req (a Bearer token, else the weapp-session headers), then route
 * (unless the session layer answered). */
static void with_session(app *a, http_req *req, route_fn route)
{
    const char *token;
    size_t token_len;
    int bearer = token_bearer(req, &token, &token_len);
    if (bearer != 0) {
        if (bearer > 0)
            token_with_session(a, req, token, token_len, route);
        else
            http_respond_error(req, 401, HTTP_REASON_TOKEN_INVALID,
                               "Authorization must be \"Bearer <token>\"");
        return;
    }
    wxs_auth_request ar = {0};
    ar.code = http_req_header(req, "x-wx-code", &ar.code_len);
    ar.raw_data = http_req_header(req, "x-wx-rawdata", &ar.raw_data_len);
    ar.signature = http_req_header(req, "x-wx-signature", &ar.signature_len);
    if (!login_allowed(a, req, &ar))
        return;
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
    enum route_id id;
} app_route;

static const app_route app_routes[] = {
    {"/session", 0, route_session, ROUTE_SESSION},
    {"/session/paints/list", 0, route_paints_list, ROUTE_PAINTS_LIST},
    {"/session/paints/save", 1, route_paints_save, ROUTE_PAINTS_SAVE},
    {"/session/paints/delete", 1, route_paints_delete, ROUTE_PAINTS_DELETE},
};

/* The token protocol's own routes below routeBasePath: answered (or under way), 1; else 0. */
static int token_route(app *a, http_req *req, const char *sub, size_t sublen, int method)
{
    static const struct {
        const char *path;
        enum route_id id;
        int post;
    } routes[] = {{"/login", ROUTE_LOGIN, 1},
                  {"/me", ROUTE_ME, 0},
                  {"/logout", ROUTE_LOGOUT, 1},
                  {"/decrypt", ROUTE_DECRYPT, 1},
                  {"/phone", ROUTE_PHONE, 1}};
    const char *token = NULL;
    size_t token_len = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_is(sub, sublen, routes[i].path))
            continue;
        http_req_set_tag(req, routes[i].id);
        int ok_method =
            routes[i].post ? method == HTTP_POST : method == HTTP_GET || method == HTTP_HEAD;
        if (!ok_method) {
            http_respond_error(req, 405, HTTP_REASON_METHOD_NOT_ALLOWED,
                               routes[i].post ? "use POST" : "use GET");
            return 1;
        }
        if (routes[i].id == ROUTE_LOGIN) {
            token_route_login(a, req);
            return 1;
        }
        if (token_bearer(req, &token, &token_len) <= 0) {
            http_respond_error(req, 401, HTTP_REASON_TOKEN_INVALID,
                               "this route needs \"Authorization: Bearer <token>\"");
            return 1;
        }
        if (routes[i].id == ROUTE_ME)
            token_route_me(a, req, token, token_len);
        else if (routes[i].id == ROUTE_LOGOUT)
            token_route_logout(a, req, token, token_len);
        else if (routes[i].id == ROUTE_PHONE)
            phone_route(a, req, token, token_len);
        else
            token_route_decrypt(a, req, token, token_len);
        return 1;
    }
    return 0;
}

/* ---- the embedded web page (examples/one-stroke/web/ and the client): only with the simulator,
 * whose "Sign in as a test user" it needs */

/* Headers of every page file: no MIME sniffing, scripts, styles, images and requests from this
 * origin only (the page has no inline script or style), never inside a frame. */
#define ASSET_HEADERS                                                                              \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "                     \
    "form-action 'self'; frame-ancestors 'none'\r\n"                                               \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Referrer-Policy: no-referrer\r\n"

/* index.html is revalidated on every load (it names the other files); those may be kept for
 * five minutes. */
static const char page_headers[] = ASSET_HEADERS "Cache-Control: no-cache\r\n";
static const char file_headers[] = ASSET_HEADERS "Cache-Control: max-age=300\r\n";

/* 1 when the web page is served: the simulator runs beside the session layer. */
static int page_on(const app *a)
{
    return a->sim != NULL && a->ctx != NULL;
}

/* The page's file at sub (below routeBasePath; "/" is index.html): answered, 1; else 0. */
static int serve_asset(http_req *req, const char *sub, size_t sublen)
{
    if (sublen == 1)
        sub = "/index.html", sublen = 11;
    for (size_t i = 0; i < web_assets_count; i++) {
        const web_asset *w = &web_assets[i];
        if (path_is(sub, sublen, w->path)) {
            const char *extra = path_is(sub, sublen, "/index.html") ? page_headers : file_headers;
            http_respond_with_headers(req, 200, w->content_type, extra, (const char *)w->data,
                                      w->len, 0);
            return 1;
        }
    }
    return 0;
}

/* GET / and GET {routeBasePath} lead to the page at {routeBasePath}/: answered, 1; else 0. */
static int redirect_to_page(const app *a, http_req *req, const char *path, size_t len)
{
    static const char body[] = "{\"location\":\"%.*s/\"}";
    char headers[512], json[512]; /* a longer routeBasePath gets the 404 */
    int base = (int)a->route_base_len;
    if (base == 0 || !(path_is(path, len, "/") || path_is(path, len, a->route_base)))
        return 0;
    int hn = snprintf(headers, sizeof headers, "Location: %.*s/\r\nCache-Control: no-cache\r\n",
                      base, a->route_base);
    int bn = snprintf(json, sizeof json, body, base, a->route_base);
    if (hn < 0 || (size_t)hn >= sizeof headers || bn < 0 || (size_t)bn >= sizeof json)
        return 0;
    http_respond_with_headers(req, 302, NULL, headers, json, (size_t)bn, 0);
    return 1;
}

/* ---- health: liveness (/livez) and readiness (/readyz, and /healthz as before) */

/* After every iteration of the worker's loop: publish its store's readiness for the others. */
static void publish_ready(uv_check_t *check)
{
    app *a = check->data;
    int ready = a->ctx != NULL && wxs_ctx_store_ready(a->ctx);
    atomic_store_explicit(&a->store_ready, ready, memory_order_relaxed);
}

int app_start_readiness(app *a, int index, app *next)
{
    int rc = uv_check_init(a->loop, &a->publish_ready);
    if (rc < 0)
        goto out;
    a->publish_ready.data = a;
    a->next_worker = next;
    a->worker_index = index;
    atomic_init(&a->store_ready, a->ctx != NULL && wxs_ctx_store_ready(a->ctx));
    rc = uv_check_start(&a->publish_ready, publish_ready);
    uv_unref((uv_handle_t *)&a->publish_ready);
out:
    return rc;
}

/* GET /livez: the process serves requests, whatever its store. */
static void route_live(http_req *req)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_respond(req, 200, NULL, ok, sizeof ok - 1, 0);
}

/* GET /readyz (and /healthz): 200 when every worker's store is ready (this worker's as it is
 * now, the others' as their loops last saw them), else 503 naming the workers (numbered from 0
 * in start order) whose store is not. --simulator-only has no store: always ready. */
static void route_ready(app *a, http_req *req)
{
    static const char sim_only[] = "{\"status\":\"ok\"}";
    static const char up[] = "{\"status\":\"ok\",\"store\":\"up\"}";
    char down[512];
    int o, n = 0;
    if (a->next_worker == NULL) {
        http_respond(req, 200, NULL, sim_only, sizeof sim_only - 1, 0);
        return;
    }
    o = snprintf(down, sizeof down,
                 "{\"status\":\"unavailable\",\"store\":\"down\",\"storeDownWorkers\":[");
    const app *w = a;
    do {
        int ready = w == a ? a->ctx != NULL && wxs_ctx_store_ready(a->ctx)
                           : atomic_load_explicit(&w->store_ready, memory_order_relaxed);
        if (!ready && o < (int)sizeof down - 16) /* 64 workers fit */
            o += snprintf(down + o, sizeof down - (size_t)o, "%s%d", n++ ? "," : "",
                          w->worker_index);
        w = w->next_worker;
    } while (w != a && w != NULL);
    if (n == 0) {
        http_respond(req, 200, NULL, up, sizeof up - 1, 0);
        return;
    }
    o += snprintf(down + o, sizeof down - (size_t)o, "]}");
    http_respond(req, 503, NULL, down, (size_t)o, 0);
}

void app_handle(void *arg, http_req *req)
{
    app *a = arg;
    size_t len;
    const char *path = http_req_path(req, &len);
    int method = http_req_method(req);
    int readonly = method == HTTP_GET || method == HTTP_HEAD;

    if (path_is(path, len, "/livez")) {
        http_req_set_tag(req, ROUTE_LIVEZ);
        route_live(req);
        return;
    }
    if (path_is(path, len, "/readyz") || path_is(path, len, "/healthz")) {
        http_req_set_tag(req, ROUTE_READYZ);
        route_ready(a, req);
        return;
    }
    if (a->ctx != NULL && a->gateway_path_len > 0 && path_is(path, len, a->gateway_path)) {
        http_req_set_tag(req, ROUTE_GATEWAY);
        gateway_handle(a, req);
        return;
    }
    http_req_set_tag(req, ROUTE_SIMULATOR); /* before: the simulator may answer at once */
    if (a->sim != NULL && sim_handle(a->sim, a->loop, req))
        return;
    http_req_set_tag(req, ROUTE_OTHER);
    if (a->ctx != NULL && len > a->route_base_len &&
        memcmp(path, a->route_base, a->route_base_len) == 0 && path[a->route_base_len] == '/') {
        const char *sub = path + a->route_base_len;
        size_t sublen = len - a->route_base_len;
        if (token_route(a, req, sub, sublen, method))
            return;
        for (size_t i = 0; i < sizeof app_routes / sizeof app_routes[0]; i++) {
            const app_route *r = &app_routes[i];
            if (!path_is(sub, sublen, r->path))
                continue;
            http_req_set_tag(req, r->id);
            if (r->post ? method != HTTP_POST : !readonly)
                http_respond_error(req, 405, HTTP_REASON_METHOD_NOT_ALLOWED,
                                   r->post ? "use POST" : "use GET");
            else
                with_session(a, req, r->fn);
            return;
        }
        http_req_set_tag(req, ROUTE_PAGE);
        if (readonly && page_on(a) && serve_asset(req, sub, sublen))
            return;
        http_req_set_tag(req, ROUTE_OTHER);
    }
    if (readonly && page_on(a) && redirect_to_page(a, req, path, len))
        return;
    http_respond_error(req, 404, HTTP_REASON_NOT_FOUND, "no such route");
}
