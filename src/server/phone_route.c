/* phone_route.c: POST {routeBasePath}/phone {"code"}: the session's user (a Bearer token), then
 * WeChat's wxa/business/getuserphonenumber with that user's openId, which makes WeChat check
 * the code was issued to this user. The API is billed per call: a failure is never retried but
 * for a refused access_token (the library's one retry). */
#include "phone_route.h"
#include "server_reasons.h"
#include "token_parse.h"
#include "token_routes.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct phone_call {
    http_req *req;
    app *app;
    char *code;
    size_t code_len;
} phone_call;

static void call_free(phone_call *c)
{
    free(c->code);
    free(c);
}

/* WeChat's answer (or the access_token's failure) to the client. */
static void answered(void *arg, const wxs_api_result *res)
{
    phone_call *c = arg;
    http_req *req = c->req;
    if (res->status == 0) {
        http_respond_with_headers(req, 200, NULL, "Cache-Control: no-store\r\n", res->json,
                                  res->json_len, 0);
        call_free(c);
        return;
    }
    int http = 502;
    const char *code = HTTP_REASON_WECHAT, *message = "WeChat unreachable";
    if (res->status == WXS_EEXCHANGE && res->errcode == 40029) {
        http = 400, code = HTTP_REASON_PHONE_CODE,
        message = "the phone code is unknown, used, expired or another user's: ask again";
    } else if (res->status == WXS_EEXCHANGE && (res->errcode == 45011 || res->errcode == 1400001)) {
        http = 429, code = HTTP_REASON_WECHAT_QUOTA, message = "WeChat's quota for phone numbers";
    } else if (res->status == WXS_EEXCHANGE && res->errcode != 0) {
        message = "WeChat refused the call";
    } else if (res->status == WXS_EEXCHANGE) {
        message = "no access_token: WeChat refused the app's credentials";
    } else if (res->status == WXS_ESTORE || res->status == WXS_ECANCELED) {
        http = 503,
        code = res->status == WXS_ESTORE ? WXS_REASON_STORE_UNAVAILABLE : WXS_REASON_SHUTTING_DOWN,
        message =
            res->status == WXS_ESTORE ? "session store unavailable" : "server is shutting down";
    }
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (err != NULL && res->status == WXS_EEXCHANGE && res->errcode != 0) {
        json_object_set_new(err, "errcode", json_integer(res->errcode));
        json_object_set_new(err, "errmsg", json_string(res->errmsg != NULL ? res->errmsg : ""));
    }
    token_respond_json(req, http, http == 429 ? "Retry-After: 60\r\n" : NULL,
                       err != NULL ? json_pack("{s:o}", "error", err) : NULL);
    call_free(c);
}

/* The token's session: its openId asks WeChat. */
static void found(void *arg, const wxs_token_result *res)
{
    phone_call *c = arg;
    if (res->status < 0) {
        token_respond_error(c->req, res);
        call_free(c);
        return;
    }
    int rc = wxs_ctx_phone_number(c->app->ctx, res->openid, c->code, c->code_len, answered, c);
    if (rc < 0) {
        wxs_api_result r = {.status = rc};
        answered(c, &r);
    }
}

void phone_route(app *a, http_req *req, const char *token, size_t token_len)
{
    size_t len = 0;
    const char *text = http_req_body(req, &len);
    const char *code = NULL;
    size_t code_len = 0;
    json_t *body = token_body_parse(text, len, (int)wxs_config_get_int(a->cfg, "limits.jsonDepth"));
    if (body == NULL || token_body_string(body, "code", &code, &code_len) < 0 || code == NULL ||
        code_len == 0 || code_len > WXS_PHONE_CODE_MAX || memchr(code, '\0', code_len) != NULL) {
        http_respond_error(req, 400, HTTP_REASON_BAD_REQUEST,
                           "the body must be {\"code\":\"...\"} (the getPhoneNumber button's "
                           "code, at most 1024 bytes)");
        json_decref(body);
        return;
    }
    phone_call *c = calloc(1, sizeof *c);
    if (c == NULL || (c->code = malloc(code_len + 1)) == NULL) {
        free(c);
        json_decref(body);
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
        return;
    }
    memcpy(c->code, code, code_len);
    c->code[code_len] = '\0';
    c->code_len = code_len;
    c->req = req;
    c->app = a;
    json_decref(body);
    int rc = wxs_ctx_token_lookup(a->ctx, token, token_len, found, c);
    if (rc < 0) {
        wxs_token_result r = {.status = rc};
        token_respond_error(req, &r);
        call_free(c);
    }
}
