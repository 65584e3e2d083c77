/* wechat_protocol.c: the pure half of the jscode2session exchange: building the request URL and
 * classifying the reply. Bytes in, bytes out, no I/O; the client in wechat.c does the transfer. */
#include "wechat.h"

#include <jansson.h>
#include <limits.h>
#include <string.h>

#define WECHAT_DEFAULT_JSON_DEPTH 64

/* ------------------------------------------------------------------ request URL */

/* Appends s percent-encoded: everything but RFC 3986 unreserved characters as %XX. */
int wxs__wechat_add_encoded(wxs__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t plain_from = 0; /* start of the run of unreserved characters not yet added */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        if (plain)
            continue;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        rc = wxs__buf_add(b, &s[plain_from], i - plain_from);
        if (rc == 0)
            rc = wxs__buf_add(b, esc, 3);
        plain_from = i + 1;
    }
    if (rc == 0)
        rc = wxs__buf_add(b, &s[plain_from], n - plain_from);
    return rc;
}

/* Appends the URL part every exchange shares: see wechat.h. */
int wxs__wechat_url_prefix(wxs__buf *url, const char *base, const char *app_id, const char *secret)
{
    if (app_id == NULL)
        app_id = "";
    if (secret == NULL)
        secret = "";
    int rc = wxs__buf_adds(url, base);
    if (rc == 0)
        rc = wxs__buf_adds(url, "/sns/jscode2session?appid=");
    if (rc == 0)
        rc = wxs__wechat_add_encoded(url, app_id, strlen(app_id));
    if (rc == 0)
        rc = wxs__buf_adds(url, "&secret=");
    if (rc == 0)
        rc = wxs__wechat_add_encoded(url, secret, strlen(secret));
    if (rc == 0)
        rc = wxs__buf_adds(url, "&js_code=");
    if (rc < 0 && url->data != NULL) {
        explicit_bzero(url->data, url->len);
        wxs__buf_reset(url);
    }
    return rc;
}

/* Appends the code and the grant type: see wechat.h. */
int wxs__wechat_url_add_code(wxs__buf *url, const char *code, size_t code_len)
{
    int rc = wxs__wechat_add_encoded(url, code, code_len);
    if (rc == 0)
        rc = wxs__buf_adds(url, "&grant_type=authorization_code");
    return rc;
}

/* ------------------------------------------------------------------ reply */

/* Depth of the deepest array/object nesting in text (strings skipped); stops counting once
 * past limit. The reply is parsed only when this is within the configured JSON depth. */
static long json_depth(const char *p, size_t n, long limit)
{
    long depth = 0, deepest = 0;
    int in_string = 0;
    for (size_t i = 0; i < n && deepest <= limit; i++) {
        char c = p[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
            if (depth > deepest)
                deepest = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return deepest;
}

/* A non-empty string member without embedded NULs, or NULL. */
static const char *string_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || strlen(s) != len)
        return NULL;
    return s;
}

/* Reads errcode: 1 and *out set when present as a number, 0 when absent, -1 when present
 * with another type or as a real outside the range of a long. */
static int errcode_member(json_t *obj, long *out)
{
    json_t *v = json_object_get(obj, "errcode");
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > (double)LONG_MIN && d < (double)LONG_MAX))
            return -1; /* converting it would be undefined (found by fuzz/driver_wechat_reply) */
        if (d != (double)(long)d)
            return -1; /* 0.5 is no errcode (it truncated to 0, "success", before) */
        *out = (long)d;
        return 1;
    }
    return -1;
}

/* The part of a reply's classification every API shares: HTTP status, depth, a JSON object, the
 * errcode. 0 (root in reply), WXS_EUPSTREAM (reason set) or WXS_EEXCHANGE (errcode, errmsg). */
static int parse_common(const char *body, size_t len, long http_status, long max_depth,
                        wxs__wechat_reply *reply, long *errcode, const char **errmsg,
                        const char **reason)
{
    const char *text = body != NULL ? body : "";
    if (http_status != 200) {
        snprintf(reply->reason, sizeof reply->reason, "HTTP %ld", http_status);
        *reason = reply->reason;
        return WXS_EUPSTREAM;
    }
    if (max_depth <= 0)
        max_depth = WECHAT_DEFAULT_JSON_DEPTH;
    if (json_depth(text, len, max_depth) > max_depth) {
        *reason = "reply is too deeply nested";
        return WXS_EUPSTREAM;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    reply->root = root;
    if (root == NULL || !json_is_object(root)) {
        *reason = "reply is not JSON";
        return WXS_EUPSTREAM;
    }
    long code = 0;
    int has_errcode = errcode_member(root, &code);
    if (has_errcode < 0) {
        *reason = "reply has a malformed errcode";
        return WXS_EUPSTREAM;
    }
    if (has_errcode > 0 && code != 0) {
        json_t *msg = json_object_get(root, "errmsg");
        *errcode = code;
        *errmsg = json_is_string(msg) ? json_string_value(msg) : "";
        *reason = "rejected by WeChat";
        return WXS_EEXCHANGE;
    }
    return 0;
}

/* Turns a complete reply (HTTP status and body) into res: see wechat.h. */
int wxs__wechat_parse_reply(const char *body, size_t len, long http_status, long max_depth,
                            wxs__exchange_result *res, wxs__wechat_reply *reply)
{
    res->status = parse_common(body, len, http_status, max_depth, reply, &res->errcode,
                               &res->errmsg, &res->reason);
    if (res->status < 0)
        return res->status;
    json_t *root = reply->root;
    res->status = WXS_EUPSTREAM;
    res->openid = string_member(root, "openid");
    res->session_key = string_member(root, "session_key");
    if (res->openid == NULL || res->session_key == NULL) {
        res->openid = NULL;
        res->session_key = NULL;
        res->reason = "reply lacks openid or session_key";
        return res->status;
    }
    res->unionid = string_member(root, "unionid");
    res->status = 0;
    res->reason = "ok";
    return 0;
}

/* Classifies a server API's reply: see wechat.h. */
int wxs__wechat_parse_call(const char *body, size_t len, long http_status, long max_depth,
                           wxs__call_result *res, wxs__wechat_reply *reply)
{
    res->status = parse_common(body, len, http_status, max_depth, reply, &res->errcode,
                               &res->errmsg, &res->reason);
    res->root = json_is_object(reply->root) ? reply->root : NULL;
    if (res->status == 0)
        res->reason = "ok";
    return res->status;
}

void wxs__wechat_reply_clear(wxs__wechat_reply *reply)
{
    json_decref(reply->root);
    reply->root = NULL;
}
