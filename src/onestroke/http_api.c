/* http_api.c: the One Stroke (一笔到底) routes (http_api.h), answering
 * {"code":0,"msg":"success","data":...} or
 * {"code":-1,"msg":"fail","error":{"reason":"ERR_...","message":"..."}}, HTTP 200 (503 when the
 * store is down). Every call is scoped to the openId the session layer authenticated. The
 * request itself is the callback argument: nothing else outlives the route. */
#include "http_api.h"
#include "body.h"
#include "reasons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ok_empty[] = "{\"code\":0,\"msg\":\"success\",\"data\":{}}";

/* Answer the failure envelope. reason and message are our own texts (no characters that need
 * JSON escaping). */
static void fail(http_req *req, int http_status, const char *reason, const char *message)
{
    char body[512];
    int n =
        snprintf(body, sizeof body,
                 "{\"code\":-1,\"msg\":\"fail\",\"error\":{\"reason\":\"%s\",\"message\":\"%s\"}}",
                 reason, message);
    if (n < 0 || (size_t)n >= sizeof body)
        n = snprintf(body, sizeof body,
                     "{\"code\":-1,\"msg\":\"fail\",\"error\":{\"reason\":\"%s\"}}", reason);
    http_respond(req, http_status, NULL, body, (size_t)n, 0);
}

/* Map a store status to the failure envelope (0 is not a failure). */
static void fail_status(http_req *req, int status)
{
    switch (status) {
    case WXS_ENOTFOUND:
        fail(req, 200, OS_REASON_NOT_FOUND, "no drawing with this id");
        break;
    case WXS_ETOOBIG:
        fail(req, 200, OS_REASON_TOO_MANY_PAINTS, "this user has the most drawings allowed");
        break;
    case WXS_ECANCELED:
        fail(req, 503, WXS_REASON_SHUTTING_DOWN, "server is shutting down");
        break;
    case WXS_ESTORE:
        fail(req, 503, WXS_REASON_STORE_UNAVAILABLE, "drawing store unavailable");
        break;
    default:
        fail(req, 500, WXS_REASON_INTERNAL, wxs_strerror(status));
    }
}

static int need_user(http_req *req, const wxs_auth_result *auth)
{
    if (auth->kind == WXS_AUTH_USER && auth->openid != NULL && auth->openid[0] != '\0')
        return 1;
    fail(req, 200, OS_REASON_NO_SESSION, "log in first: this route needs X-WX-Code");
    return 0;
}

/* The value of key in a query string, copied raw into out; 0 when absent, -1 when too long. */
static int query_param(const char *q, size_t qlen, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    size_t i = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > klen && memcmp(q + i, key, klen) == 0 && q[i + klen] == '=') {
            size_t vlen = end - i - klen - 1;
            if (vlen >= cap)
                return -1;
            memcpy(out, q + i + klen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

/* The list answer, built whole by the store on its pool thread: handed to the HTTP layer as is
 * (for HEAD, answer is NULL: only its length was computed). */
static void listed(void *arg, int status, const char *answer, size_t len)
{
    http_req *req = arg;
    if (status < 0)
        fail_status(req, status);
    else
        http_respond(req, 200, NULL, answer, len, 0);
}

void onestroke_route_list(onestroke *os, http_req *req, const wxs_auth_result *auth)
{
    if (!need_user(req, auth))
        return;
    size_t qlen = 0;
    const char *q = http_req_query(req, &qlen);
    char limit_text[16] = "", cursor[96] = "";
    unsigned long limit = 0;
    if (q != NULL) {
        int has_limit = query_param(q, qlen, "limit", limit_text, sizeof limit_text);
        if (has_limit != 0) {
            char *end = NULL;
            limit = strtoul(limit_text, &end, 10);
            if (has_limit < 0 || end == limit_text || *end != '\0' || limit == 0 ||
                limit > onestroke_max_page_size(os)) {
                fail(req, 200, OS_REASON_BAD_LIMIT,
                     "limit must be a number from 1 to paints.maxPageSize");
                return;
            }
        }
        if (query_param(q, qlen, "cursor", cursor, sizeof cursor) < 0) {
            fail(req, 200, OS_REASON_BAD_CURSOR, "malformed cursor");
            return;
        }
    }
    int head_only = http_req_method(req) == HTTP_HEAD;
    int rc = onestroke_list(os, auth->openid, cursor, (unsigned)limit, head_only, listed, req);
    if (rc == WXS_EINVAL)
        fail(req, 200, OS_REASON_BAD_CURSOR, "malformed cursor");
    else if (rc < 0)
        fail_status(req, rc);
}

static void saved(void *arg, int status)
{
    http_req *req = arg;
    if (status < 0) {
        fail_status(req, status);
        return;
    }
    http_respond(req, 200, NULL, ok_empty, sizeof ok_empty - 1, 0);
}

/* Parse the body; on failure answer and return -1. */
static int read_body(onestroke *os, http_req *req, os_body *b)
{
    size_t len = 0, ctlen = 0;
    const char *body = http_req_body(req, &len);
    const char *ct = http_req_header(req, "content-type", &ctlen);
    char ctype[128] = "";
    if (ct != NULL)
        snprintf(ctype, sizeof ctype, "%.*s", (int)(ctlen < 127 ? ctlen : 127), ct);
    const char *reason = NULL;
    char err[160];
    int rc = os_body_parse(ctype, body, len, onestroke_json_depth(os), b, &reason, err, sizeof err);
    if (rc < 0) {
        fail(req, rc == WXS_ENOMEM ? 500 : 200, reason, err);
        return -1;
    }
    if (b->id == NULL) {
        os_body_clear(b);
        fail(req, 200, OS_REASON_MISSING_ID, "the body has no id");
        return -1;
    }
    return 0;
}

void onestroke_route_save(onestroke *os, http_req *req, const wxs_auth_result *auth)
{
    os_body b;
    if (!need_user(req, auth) || read_body(os, req, &b) < 0)
        return;
    int rc = WXS_EINVAL;
    if (b.actions == NULL) {
        fail(req, 200, OS_REASON_MISSING_ACTIONS, "the body has no actions");
        goto out;
    }
    rc = onestroke_save(os, auth->openid, b.id, b.actions, b.actions_len, saved, req);
    if (rc == WXS_EINVAL)
        fail(req, 200, OS_REASON_BAD_ID, "id must be 1 to 64 characters of A-Z a-z 0-9 _ -");
    else if (rc == WXS_ETOOBIG)
        fail(req, 200, OS_REASON_ACTIONS_TOO_LARGE, "actions exceed paints.maxActionsBytes");
    else if (rc == WXS_EPARSE)
        fail(req, 200, OS_REASON_BAD_ACTIONS, "actions must be JSON text");
    else if (rc < 0)
        fail_status(req, rc);
out:
    os_body_clear(&b);
}

void onestroke_route_delete(onestroke *os, http_req *req, const wxs_auth_result *auth)
{
    os_body b;
    if (!need_user(req, auth) || read_body(os, req, &b) < 0)
        return;
    int rc = onestroke_delete(os, auth->openid, b.id, saved, req);
    if (rc == WXS_EINVAL)
        fail(req, 200, OS_REASON_BAD_ID, "id must be 1 to 64 characters of A-Z a-z 0-9 _ -");
    else if (rc < 0)
        fail_status(req, rc);
    os_body_clear(&b);
}
