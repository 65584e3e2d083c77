/* wechat_api.c: the WeChat server APIs called with the app's access_token (wxsession.h "WeChat
 * server APIs"): the phone number, the session_key check and reset. Each call gets the token
 * (lib/access_token.c), calls the API, and on 40001/40014/42001 asks for a fresh token once
 * (the stored one dropped only while it is still the one that failed) and calls again once. */
#include "access_token.h"
#include "ctx.h"
#include "token.h"
#include "wechat.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

typedef enum { API_PHONE, API_CHECK, API_RESET } api_kind;

static const char *const api_names[] = {"getuserphonenumber", "checksession",
                                        "resetusersessionkey"};

typedef struct api_op {
    wxs_ctx *ctx;
    api_kind kind;
    wxs_api_cb cb;
    void *arg;
    char openid[WXS__TOKEN_ID_MAX + 1];
    char session_key[WXS__TOKEN_KEY_MAX + 1];
    char *code; /* the phone code */
    char token[WXS__ACCESS_TOKEN_MAX + 1];
    int retried;
} api_op;

void wxs_session_key_signature(const char *session_key, size_t key_len, const char *body,
                               size_t body_len, char hex[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    hex[0] = '\0';
    if (session_key == NULL || (body == NULL && body_len > 0))
        return;
    if (HMAC(EVP_sha256(), session_key, (int)key_len, (const unsigned char *)(body ? body : ""),
             body_len, mac, &n) == NULL ||
        n != 32)
        return;
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
    explicit_bzero(mac, sizeof mac);
}

static void op_free(api_op *op)
{
    wxs_ctx *ctx = op->ctx;
    explicit_bzero(op->session_key, sizeof op->session_key);
    explicit_bzero(op->token, sizeof op->token);
    wxs__free(op->code);
    wxs__free(op);
    wxs__ctx_unref(ctx);
}

static void finish(api_op *op, const wxs_api_result *res)
{
    op->cb(op->arg, res);
    op_free(op);
}

static void fail(api_op *op, int status)
{
    wxs_api_result res = {.status = status};
    finish(op, &res);
}

/* The path (with the query) and the body of op's call with op->token. */
static int build(const api_op *op, wxs__buf *path, wxs__buf *body)
{
    int rc = 0;
    if (op->kind == API_PHONE) {
        rc = wxs__buf_adds(path, "/wxa/business/getuserphonenumber?access_token=");
        if (rc == 0)
            rc = wxs__wechat_add_encoded(path, op->token, strlen(op->token));
        json_t *o = json_pack("{s:s, s:s}", "code", op->code, "openid", op->openid);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (rc == 0)
            rc = text != NULL ? wxs__buf_adds(body, text) : WXS_ENOMEM;
        free(text);
        json_decref(o);
        return rc;
    }
    char sig[65];
    wxs_session_key_signature(op->session_key, strlen(op->session_key), "", 0, sig);
    rc = wxs__buf_adds(path, op->kind == API_CHECK ? "/wxa/checksession?access_token="
                                                   : "/wxa/resetusersessionkey?access_token=");
    if (rc == 0)
        rc = wxs__wechat_add_encoded(path, op->token, strlen(op->token));
    if (rc == 0)
        rc = wxs__buf_adds(path, "&signature=");
    if (rc == 0)
        rc = wxs__buf_adds(path, sig);
    if (rc == 0)
        rc = wxs__buf_adds(path, "&openid=");
    if (rc == 0)
        rc = wxs__wechat_add_encoded(path, op->openid, strlen(op->openid));
    if (rc == 0)
        rc = wxs__buf_adds(path, "&sig_method=hmac_sha256");
    explicit_bzero(sig, sizeof sig);
    return rc;
}

static void on_reply(void *arg, const wxs__call_result *res);

static void on_token(void *arg, int status, const char *token, long long expires_at)
{
    api_op *op = arg;
    wxs__buf path, body;
    (void)expires_at;
    if (status < 0) {
        fail(op, status);
        return;
    }
    snprintf(op->token, sizeof op->token, "%s", token);
    wxs__buf_init(&path, 16384);
    wxs__buf_init(&body, 4096);
    int rc = build(op, &path, &body);
    if (rc == 0)
        rc = wxs__wechat_call(op->ctx->wechat, api_names[op->kind], path.data,
                              op->kind == API_PHONE ? body.data : NULL, body.len, on_reply, op);
    if (path.data != NULL)
        explicit_bzero(path.data, path.len);
    wxs__buf_free(&path);
    wxs__buf_free(&body);
    if (rc < 0)
        fail(op, rc);
}

static void on_reply(void *arg, const wxs__call_result *res)
{
    api_op *op = arg;
    wxs_api_result out = {.status = res->status, .errcode = res->errcode, .errmsg = res->errmsg};
    char *json = NULL;
    if (res->status == WXS_EEXCHANGE && wxs__access_token_errcode(res->errcode) && !op->retried &&
        !op->ctx->closing) {
        op->retried = 1;
        wxs__info("wechat: %s: access_token refused (errcode %ld); refreshing it once",
                  api_names[op->kind], res->errcode);
        int rc = wxs_ctx_access_token_invalid(op->ctx, op->token, strlen(op->token), on_token, op);
        if (rc < 0)
            fail(op, rc);
        return;
    }
    if (res->status == WXS_EEXCHANGE && res->errcode == 87009 && op->kind != API_PHONE)
        out.status = WXS_ESTALE;
    if (res->status == 0 && op->kind == API_PHONE) {
        json_t *info = json_object_get(res->root, "phone_info");
        json = json_is_object(info) ? json_dumps(info, JSON_COMPACT) : NULL;
        if (json == NULL) {
            out.status = WXS_EUPSTREAM;
            wxs__warn("wechat: getuserphonenumber's reply lacks phone_info");
        } else {
            out.json = json;
            out.json_len = strlen(json);
        }
    }
    if (res->status == 0 && op->kind == API_RESET) {
        json_t *key = json_object_get(res->root, "session_key");
        out.session_key = json_is_string(key) ? json_string_value(key) : NULL;
        if (out.session_key == NULL || out.session_key[0] == '\0' ||
            strlen(out.session_key) > WXS__TOKEN_KEY_MAX) {
            out.status = WXS_EUPSTREAM;
            out.session_key = NULL;
        }
    }
    if (out.status == WXS_EEXCHANGE)
        wxs__info("wechat: %s answered errcode %ld", api_names[op->kind], res->errcode);
    finish(op, &out);
    if (json != NULL) {
        explicit_bzero(json, strlen(json)); /* a phone number */
        free(json);
    }
}

/* Start one call: check the arguments, keep them, ask for the access_token. */
static int start(wxs_ctx *ctx, api_kind kind, const char *openid, const char *session_key,
                 const char *code, size_t code_len, wxs_api_cb cb, void *arg)
{
    if (ctx == NULL || openid == NULL || cb == NULL || openid[0] == '\0')
        return WXS_EINVAL;
    if (strlen(openid) > WXS__TOKEN_ID_MAX)
        return WXS_ETOOBIG;
    if (kind == API_PHONE && (code == NULL || code_len == 0 || memchr(code, '\0', code_len)))
        return WXS_EINVAL;
    if (kind == API_PHONE && code_len > WXS_PHONE_CODE_MAX)
        return WXS_ETOOBIG;
    if (kind != API_PHONE && (session_key == NULL || session_key[0] == '\0'))
        return WXS_EINVAL;
    if (kind != API_PHONE && strlen(session_key) > WXS__TOKEN_KEY_MAX)
        return WXS_ETOOBIG;
    if (ctx->closing)
        return WXS_ECANCELED;
    api_op *op = wxs__calloc(1, sizeof *op);
    if (op == NULL)
        return WXS_ENOMEM;
    if (kind == API_PHONE && (op->code = wxs__strndup(code, code_len)) == NULL) {
        wxs__free(op);
        return WXS_ENOMEM;
    }
    op->ctx = ctx;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    snprintf(op->openid, sizeof op->openid, "%s", openid);
    if (session_key != NULL)
        snprintf(op->session_key, sizeof op->session_key, "%s", session_key);
    wxs__ctx_ref(ctx);
    int rc = wxs_ctx_access_token(ctx, on_token, op);
    if (rc < 0) {
        op->cb = NULL;
        op_free(op);
    }
    return rc;
}

int wxs_ctx_phone_number(wxs_ctx *ctx, const char *openid, const char *code, size_t code_len,
                         wxs_api_cb cb, void *arg)
{
    return start(ctx, API_PHONE, openid, NULL, code, code_len, cb, arg);
}

int wxs_ctx_check_session_key(wxs_ctx *ctx, const char *openid, const char *session_key,
                              wxs_api_cb cb, void *arg)
{
    return start(ctx, API_CHECK, openid, session_key, NULL, 0, cb, arg);
}

int wxs_ctx_reset_session_key(wxs_ctx *ctx, const char *openid, const char *session_key,
                              wxs_api_cb cb, void *arg)
{
    return start(ctx, API_RESET, openid, session_key, NULL, 0, cb, arg);
}
