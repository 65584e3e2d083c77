/* token_routes.c: the token protocol's routes under routeBasePath (docs/protocol.md, "Token
 * sessions"): POST /login, GET /me, POST /logout, POST /decrypt, and the Bearer token as the
 * session of the other routes. JSON in, JSON out; errors are {"error":{"code":..,"message":..}}
 * with an HTTP status. Only the login answer carries a token; no answer carries a session_key. */
#include "token_routes.h"
#include "access.h"
#include "server_reasons.h"
#include "token_parse.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the Authorization header */

int token_bearer(http_req *req, const char **token, size_t *len)
{
    size_t vlen = 0;
    const char *value = http_req_header(req, "authorization", &vlen);
    return token_bearer_parse(value, vlen, token, len);
}

/* ---- answers */

void token_respond_json(http_req *req, int status, const char *extra_headers, json_t *v)
{
    char *text = v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
    if (text == NULL)
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
    else
        http_respond_with_headers(req, status, NULL, extra_headers, text, strlen(text), 0);
    free(text);
    json_decref(v);
}

static void respond_json(http_req *req, int status, json_t *v)
{
    token_respond_json(req, status, NULL, v);
}

void token_respond_error(http_req *req, const wxs_token_result *res)
{
    int http = 500, relogin = 0;
    const char *code = WXS_REASON_INTERNAL, *message = wxs_strerror(res->status);
    switch (res->status) {
    case WXS_ETOKEN:
        http = 401, code = HTTP_REASON_TOKEN_INVALID, message = "token not recognised";
        break;
    case WXS_EEXPIRED:
        http = 401, code = HTTP_REASON_TOKEN_EXPIRED, message = "session expired: log in again";
        break;
    case WXS_ESIGNATURE:
        http = 401, code = HTTP_REASON_UNTRUSTED, message = "rawData's signature does not match";
        break;
    case WXS_EDECRYPT:
    case WXS_ESTALE:
        http = 401, code = HTTP_REASON_KEY_STALE,
        message = "the data does not decrypt with this session's key: log in again";
        break;
    case WXS_EWATERMARK:
        http = 400, code = HTTP_REASON_WATERMARK, message = "the data is not for this app";
        break;
    case WXS_EPARSE:
    case WXS_ETOOBIG:
    case WXS_EINVAL:
        http = 400, code = HTTP_REASON_BAD_REQUEST;
        break;
    case WXS_EEXCHANGE:
        /* 40029 (invalid code) and 40163 (code used): only a new wx.login helps */
        relogin = res->errcode == 40029 || res->errcode == 40163;
        /* fall through */
    case WXS_ETIMEDOUT:
    case WXS_EUPSTREAM:
    case WXS_EIO:
        http = 502, code = HTTP_REASON_WECHAT,
        message = res->status == WXS_EEXCHANGE ? "WeChat refused the code" : "WeChat unreachable";
        break;
    case WXS_ESTORE:
        http = 503, code = WXS_REASON_STORE_UNAVAILABLE, message = "session store unavailable";
        break;
    case WXS_ECANCELED:
        http = 503, code = WXS_REASON_SHUTTING_DOWN, message = "server is shutting down";
        break;
    default:
        break;
    }
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (err != NULL && http == 502) {
        if (res->status == WXS_EEXCHANGE) {
            json_object_set_new(err, "errcode", json_integer(res->errcode));
            json_object_set_new(err, "errmsg", json_string(res->errmsg != NULL ? res->errmsg : ""));
        }
        json_object_set_new(err, "relogin", json_boolean(relogin));
    }
    respond_json(req, http, err != NULL ? json_pack("{s:o}", "error", err) : NULL);
}

/* The user info object stored with a session (NULL: none), or JSON null. */
static json_t *user_value(const wxs_token_result *res)
{
    json_t *v = res->user_json != NULL ? json_loadb(res->user_json, res->user_len, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* ---- a pending call: the request and its app until the session layer answers */

typedef struct token_call {
    app *app;
    http_req *req;
    route_fn route; /* token_with_session: the route to run as the user */
} token_call;

static token_call *call_new(app *a, http_req *req)
{
    token_call *c = malloc(sizeof *c);
    if (c == NULL)
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
    else
        *c = (token_call){.app = a, .req = req};
    return c;
}

/* A session-layer call returned an error at once: the callback will not run. */
static void started(token_call *c, int rc)
{
    if (rc == 0)
        return;
    wxs_token_result res = {.status = rc};
    token_respond_error(c->req, &res);
    free(c);
}

/* ---- POST /login */

/* A JSON object body within limits.jsonDepth, or NULL after answering 400. */
static json_t *json_body(app *a, http_req *req)
{
    size_t len;
    const char *text = http_req_body(req, &len);
    int depth = (int)wxs_config_get_int(a->cfg, "limits.jsonDepth");
    json_t *body = token_body_parse(text, len, depth);
    if (body == NULL)
        http_respond_error(req, 400, HTTP_REASON_BAD_REQUEST, "the body must be a JSON object");
    return body;
}

static void logged_in(void *arg, const wxs_token_result *res)
{
    token_call *c = arg;
    const char *label = res->status == 0 ? "ok" : wxs_err_name(res->status);
    if (c->app->log_audit)
        access_audit(c->app, c->req, "token_login", label, res->status == 0 ? res->openid : NULL);
    if (res->status < 0) {
        token_respond_error(c->req, res);
    } else {
        json_t *user = res->plain_json != NULL
                           ? json_loadb(res->plain_json, res->plain_len, 0, NULL)
                           : (res->user_json != NULL ? user_value(res) : json_null());
        respond_json(c->req, 200,
                     json_pack("{s:s, s:I, s:s, s:o, s:o}", "token", res->token, "expiresIn",
                               (json_int_t)res->expires_in, "openId", res->openid, "unionId",
                               string_or_null(res->unionid), "userInfo",
                               user != NULL ? user : json_null()));
    }
    free(c);
}

void token_route_login(app *a, http_req *req)
{
    wxs_token_login_request lr = {0};
    json_t *body = json_body(a, req);
    if (body == NULL)
        return;
    if (token_login_fields(body, &lr) < 0) {
        http_respond_error(req, 400, HTTP_REASON_BAD_REQUEST,
                           "code is a required string; rawData, signature, encryptedData and iv "
                           "are optional strings");
        goto out;
    }
    if (lr.code_len > (size_t)wxs_config_get_int(a->cfg, "limits.codeBytes")) {
        http_respond_error(req, 400, WXS_REASON_CODE_TOO_LONG, "code exceeds limits.codeBytes");
        goto out;
    }
    if (!routes_take_login(a, req))
        goto out;
    token_call *c = call_new(a, req);
    if (c != NULL)
        started(c, wxs_ctx_token_login(a->ctx, &lr, logged_in, c));
out:
    json_decref(body); /* the request is copied by the call */
}

/* ---- GET /me, POST /logout, POST /decrypt */

static void me_found(void *arg, const wxs_token_result *res)
{
    token_call *c = arg;
    if (res->status < 0)
        token_respond_error(c->req, res);
    else
        respond_json(c->req, 200,
                     json_pack("{s:s, s:o, s:I, s:o}", "openId", res->openid, "unionId",
                               string_or_null(res->unionid), "expiresAt",
                               (json_int_t)res->expires_at, "userInfo", user_value(res)));
    free(c);
}

void token_route_me(app *a, http_req *req, const char *token, size_t len)
{
    token_call *c = call_new(a, req);
    if (c != NULL)
        started(c, wxs_ctx_token_lookup(a->ctx, token, len, me_found, c));
}

static void logged_out(void *arg, const wxs_token_result *res)
{
    token_call *c = arg;
    static const char ok[] = "{\"ok\":true}";
    if (res->status < 0)
        token_respond_error(c->req, res);
    else
        http_respond(c->req, 200, NULL, ok, sizeof ok - 1, 0);
    free(c);
}

void token_route_logout(app *a, http_req *req, const char *token, size_t len)
{
    json_t *body = json_body(a, req);
    if (body == NULL)
        return;
    json_t *all = json_object_get(body, "all");
    if (all != NULL && !json_is_boolean(all)) {
        http_respond_error(req, 400, HTTP_REASON_BAD_REQUEST, "all must be true or false");
    } else {
        token_call *c = call_new(a, req);
        if (c != NULL)
            started(c, wxs_ctx_token_logout(a->ctx, token, len, json_is_true(all), logged_out, c));
    }
    json_decref(body);
}

static void decrypted(void *arg, const wxs_token_result *res)
{
    token_call *c = arg;
    if (res->status == WXS_EDECRYPT) /* WeChat says the session's key is current */
        http_respond_error(c->req, 400, HTTP_REASON_DECRYPT_FAILED,
                           "the data does not decrypt with the session's key, which is current: "
                           "the data is damaged or from another session");
    else if (res->status < 0)
        token_respond_error(c->req, res);
    else
        http_respond(c->req, 200, NULL, res->plain_json, res->plain_len, 0);
    free(c);
}

void token_route_decrypt(app *a, http_req *req, const char *token, size_t len)
{
    const char *data, *iv;
    size_t dlen, ivlen;
    json_t *body = json_body(a, req);
    if (body == NULL)
        return;
    if (token_body_string(body, "encryptedData", &data, &dlen) < 0 ||
        token_body_string(body, "iv", &iv, &ivlen) < 0 || dlen == 0 || ivlen == 0) {
        http_respond_error(req, 400, HTTP_REASON_BAD_REQUEST,
                           "encryptedData and iv are required strings");
    } else {
        token_call *c = call_new(a, req);
        if (c != NULL)
            started(c,
                    wxs_ctx_token_decrypt(a->ctx, token, len, data, dlen, iv, ivlen, decrypted, c));
    }
    json_decref(body);
}

/* ---- the Bearer token as the session of the other routes */

static void session_found(void *arg, const wxs_token_result *res)
{
    token_call *c = arg;
    char small[256];
    if (res->status < 0) {
        token_respond_error(c->req, res);
        free(c);
        return;
    }
    route_call *call = malloc(sizeof *call);
    if (call == NULL) {
        http_respond_error(c->req, 500, WXS_REASON_INTERNAL, "out of memory");
        free(c);
        return;
    }
    *call = (route_call){.app = c->app, .req = c->req, .route = c->route};
    wxs_auth_result auth = {.kind = WXS_AUTH_USER, .http_status = 200, .openid = res->openid};
    if (res->user_json != NULL) {
        auth.user_json = res->user_json;
        auth.user_len = res->user_len;
    } else { /* no user info: the user is its openId (an openid needs no escaping) */
        int n = snprintf(small, sizeof small, "{\"openId\":\"%s\"}", res->openid);
        auth.user_json = small;
        auth.user_len = n > 0 && (size_t)n < sizeof small ? (size_t)n : 0;
    }
    free(c);
    call->route(call, &auth); /* the route owns call from here */
}

void token_with_session(app *a, http_req *req, const char *token, size_t len, route_fn route)
{
    token_call *c = call_new(a, req);
    if (c == NULL)
        return;
    c->route = route;
    started(c, wxs_ctx_token_lookup(a->ctx, token, len, session_found, c));
}
