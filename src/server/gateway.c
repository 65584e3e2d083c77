/* gateway.c: the gateway endpoint for nginx auth_request (gateway.h, docs/gateway.md). It reads
 * only the request's headers, asks the session layer who sends it, and answers with headers and
 * an empty body: nginx copies the identity onto the request it passes to the backend. */
#include "gateway.h"
#include "access.h"
#include "token_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest identity value sent in a header (WeChat's openid and unionid are 28 characters). */
#define ID_MAX 128

/* Every answer: no cache may keep an identity unless its operator chose to (docs/gateway.md). */
#define NO_STORE "Cache-Control: no-store\r\n"

/* 1 when s can go into a header line as it is: 1 to ID_MAX visible ASCII characters. */
static int header_safe(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++)
        if (s[n] <= ' ' || s[n] > '~' || n >= ID_MAX)
            return 0;
    return n > 0;
}

/* 401 with nothing else: no credential, or one that is not (or no longer) accepted. bearer: a
 * token was presented (RFC 6750's error="invalid_token"). */
static void respond_unauthorized(http_req *req, int bearer)
{
    const char *challenge = bearer ? "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"
                                   : "WWW-Authenticate: Bearer\r\n";
    char headers[128];
    snprintf(headers, sizeof headers, "%s" NO_STORE, challenge);
    http_respond_with_headers(req, 401, NULL, headers, "", 0, 0);
}

static void respond_status(http_req *req, int status)
{
    http_respond_with_headers(req, status, NULL, NO_STORE, "", 0, 0);
}

/* 200 with the user's identity; unionid NULL or "": the header is left out. An identity that
 * cannot go into a header as it is (never seen from WeChat) is a 500, never a 200 without it. */
static void respond_identity(app *a, http_req *req, const char *openid, const char *unionid)
{
    const char *app_id = wxs_config_get_str(a->cfg, "appId");
    int has_union = unionid != NULL && unionid[0] != '\0';
    char headers[3 * ID_MAX + 128];
    if (!header_safe(openid) || !header_safe(app_id) || (has_union && !header_safe(unionid))) {
        wxs_log(WXS_LOG_ERROR, "gateway: an openId, unionId or appId that cannot be sent in a "
                               "header; answered 500");
        respond_status(req, 500);
        return;
    }
    snprintf(headers, sizeof headers, "X-WX-OpenId: %s\r\n%s%s%sX-WX-AppId: %s\r\n" NO_STORE,
             openid, has_union ? "X-WX-UnionId: " : "", has_union ? unionid : "",
             has_union ? "\r\n" : "", app_id);
    http_respond_with_headers(req, 200, NULL, headers, "", 0, 0);
}

/* A session-layer failure (WXS_E*) as the endpoint's status: the store or the server cannot
 * answer now (503), memory ran out (500), else the credential is refused (401). */
static void respond_failure(http_req *req, int status, int bearer)
{
    if (status == WXS_ESTORE || status == WXS_ECANCELED)
        respond_status(req, 503);
    else if (status == WXS_ENOMEM || status == WXS_EINVAL)
        respond_status(req, 500);
    else
        respond_unauthorized(req, bearer);
}

/* ---- a pending call: the request and its app until the session layer answers */

typedef struct gateway_call {
    app *app;
    http_req *req;
} gateway_call;

static gateway_call *call_new(app *a, http_req *req)
{
    gateway_call *c = malloc(sizeof *c);
    if (c == NULL)
        respond_status(req, 500);
    else
        *c = (gateway_call){.app = a, .req = req};
    return c;
}

/* ---- Authorization: Bearer */

static void token_found(void *arg, const wxs_token_result *res)
{
    gateway_call *c = arg;
    if (res->status < 0)
        respond_failure(c->req, res->status, 1);
    else
        respond_identity(c->app, c->req, res->openid, res->unionid);
    free(c);
}

static void by_token(app *a, http_req *req, const char *token, size_t len)
{
    gateway_call *c = call_new(a, req);
    if (c == NULL)
        return;
    int rc = wxs_ctx_token_lookup(a->ctx, token, len, token_found, c);
    if (rc < 0) { /* the callback will not run */
        respond_failure(req, rc, 1);
        free(c);
    }
}

/* ---- X-WX-Code (the weapp-session protocol): a login with rawData, else a code-only lookup */

static void code_found(void *arg, const wxs_auth_result *auth)
{
    gateway_call *c = arg;
    if (auth->login && c->app->log_audit)
        access_audit_login(c->app, c->req, auth);
    if (auth->kind == WXS_AUTH_USER)
        respond_identity(c->app, c->req, auth->openid, NULL);
    else if (auth->kind == WXS_AUTH_REJECT && auth->http_status == 503)
        respond_status(c->req, 503);
    else if (auth->kind == WXS_AUTH_REJECT && auth->http_status == 500)
        respond_status(c->req, 500);
    else /* the protocol's refusals (expired, exchange failed, untrusted rawData, bad input) */
        respond_unauthorized(c->req, 0);
    free(c);
}

static void by_code(app *a, http_req *req, const wxs_auth_request *ar)
{
    if (ar->raw_data_len > 0 && !routes_take_login(a, req))
        return; /* answered: 429 over the login limit */
    gateway_call *c = call_new(a, req);
    if (c == NULL)
        return;
    int rc = wxs_ctx_authenticate(a->ctx, ar, code_found, c);
    if (rc < 0) { /* the callback will not run */
        respond_failure(req, rc, 0);
        free(c);
    }
}

void gateway_handle(app *a, http_req *req)
{
    const char *token = NULL;
    size_t token_len = 0;
    int bearer = token_bearer(req, &token, &token_len);
    if (bearer > 0) {
        by_token(a, req, token, token_len);
        return;
    }
    if (bearer < 0) { /* an Authorization header that is not a Bearer token */
        respond_unauthorized(req, 1);
        return;
    }
    wxs_auth_request ar = {0};
    ar.code = http_req_header(req, "x-wx-code", &ar.code_len);
    ar.raw_data = http_req_header(req, "x-wx-rawdata", &ar.raw_data_len);
    ar.signature = http_req_header(req, "x-wx-signature", &ar.signature_len);
    if (ar.code == NULL || ar.code_len == 0)
        respond_unauthorized(req, 0);
    else
        by_code(a, req, &ar);
}
