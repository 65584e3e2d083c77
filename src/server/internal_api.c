/* internal_api.c: the app's access_token for other services, on the internal listener (the one
 * serving /metrics; never the public port): GET /access-token and POST /access-token/invalid
 * (passive refresh), each behind "Authorization: Bearer <accessToken.sharedSecret>". */
#include "internal_api.h"
#include "server_reasons.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_BODY_MAX 1024

struct internal_api {
    wxs_ctx *ctx; /* a session context on the main loop: its store connection, its client */
    char *secret;
};

int internal_api_new(internal_api **out, uv_loop_t *loop, const wxs_config *cfg, const char *secret,
                     char *err, size_t errlen)
{
    internal_api *api = calloc(1, sizeof *api);
    int rc = api != NULL ? 0 : WXS_ENOMEM;
    if (rc == 0 && (api->secret = strdup(secret)) == NULL)
        rc = WXS_ENOMEM;
    if (rc == 0)
        rc = wxs_ctx_new(&api->ctx, loop, cfg, err, errlen);
    if (rc < 0 && api != NULL) {
        free(api->secret);
        free(api);
        api = NULL;
    }
    *out = api;
    return rc;
}

void internal_api_free(internal_api *api)
{
    if (api == NULL)
        return;
    wxs_ctx_free(api->ctx);
    explicit_bzero(api->secret, strlen(api->secret));
    free(api->secret);
    free(api);
}

/* 1 when the request carries "Authorization: Bearer <the shared secret>" (constant time). */
static int authorized(const internal_api *api, http_req *req)
{
    size_t len = 0;
    const char *v = http_req_header(req, "authorization", &len);
    if (v == NULL || len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return 0;
    return wxs__ct_equal(v + 7, len - 7, api->secret, strlen(api->secret));
}

static void answered(void *arg, int status, const char *token, long long expires_at)
{
    http_req *req = arg;
    if (status < 0) {
        int http = status == WXS_ESTORE || status == WXS_ECANCELED ? 503 : 502;
        http_respond_error(req, http, http == 503 ? "ERR_STORE_UNAVAILABLE" : "ERR_WECHAT",
                           wxs_strerror(status));
        return;
    }
    json_t *o = json_pack("{s:s, s:I}", "accessToken", token, "expiresAt", (json_int_t)expires_at);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text == NULL)
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
    else
        http_respond_with_headers(req, 200, NULL, "Cache-Control: no-store\r\n", text, strlen(text),
                                  0);
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(o);
}

/* POST /access-token/invalid {"accessToken":"..."}: the token a service saw refused. */
static void invalid(internal_api *api, http_req *req)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    json_error_t jerr;
    json_t *root = len > 0 && len <= TOKEN_BODY_MAX ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *t = json_object_get(root, "accessToken");
    int rc = WXS_EINVAL;
    if (json_is_string(t) && json_string_length(t) > 0)
        rc = wxs_ctx_access_token_invalid(api->ctx, json_string_value(t), json_string_length(t),
                                          answered, req);
    json_decref(root);
    if (rc == WXS_EINVAL || rc == WXS_ETOOBIG)
        http_respond_error(req, 400, "ERR_BAD_REQUEST",
                           "the body must be {\"accessToken\":\"...\"} (at most 512 bytes)");
    else if (rc < 0)
        http_respond_error(req, 503, "ERR_UNAVAILABLE", wxs_strerror(rc));
}

int internal_api_handle(internal_api *api, http_req *req)
{
    size_t len = 0;
    const char *path = http_req_path(req, &len);
    int method = http_req_method(req);
    int get = len == 13 && memcmp(path, "/access-token", 13) == 0;
    int inv = len == 21 && memcmp(path, "/access-token/invalid", 21) == 0;
    if (api == NULL || (!get && !inv))
        return 0;
    if ((get && method != HTTP_GET) || (inv && method != HTTP_POST)) {
        http_respond_error(req, 405, "ERR_METHOD_NOT_ALLOWED", get ? "use GET" : "use POST");
        return 1;
    }
    if (!authorized(api, req)) {
        static const char body[] = "{\"error\":{\"code\":\"ERR_UNAUTHORIZED\",\"message\":"
                                   "\"Authorization: Bearer <accessToken.sharedSecret> "
                                   "required\"}}";
        http_respond_with_headers(req, 401, NULL, "WWW-Authenticate: Bearer\r\n", body,
                                  sizeof body - 1, 0);
        return 1;
    }
    if (inv) {
        invalid(api, req);
        return 1;
    }
    int rc = wxs_ctx_access_token(api->ctx, answered, req);
    if (rc < 0)
        http_respond_error(req, 503, "ERR_UNAVAILABLE", wxs_strerror(rc));
    return 1;
}
