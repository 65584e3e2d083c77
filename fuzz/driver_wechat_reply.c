/* driver_wechat_reply.c: libFuzzer driver for the classification of WeChat's jscode2session
 * replies (wxs__wechat_parse_reply in lib/wechat_protocol.c): status, errcode, openid and
 * session_key. */
#include "fuzz.h"

#include "wechat.h"

#include <jansson.h>
#include <string.h>

/* A member that is a string: 1 when it is non-empty and holds no NUL byte. */
static int usable_string(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) && json_string_length(v) > 0 &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* What the reply should come to, decided independently of lib/wechat_protocol.c's code paths
 * where that is simple: a JSON object (no duplicates) with openid and session_key and no errcode. */
static void check_against_reference(const char *body, size_t len, long http_status,
                                    const wxs__exchange_result *res)
{
    json_t *root;
    json_t *errcode;

    if (http_status != 200) {
        FUZZ_CHECK(res->status == WXS_EUPSTREAM, "HTTP %ld gave %d", http_status, res->status);
        return;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        FUZZ_CHECK(res->status == WXS_EUPSTREAM, "a reply that is no JSON object gave %d",
                   res->status);
        json_decref(root);
        return;
    }
    errcode = json_object_get(root, "errcode");
    if (res->status == 0) {
        FUZZ_CHECK(usable_string(root, "openid") && usable_string(root, "session_key"),
                   "success without openid and session_key");
        FUZZ_CHECK(errcode == NULL || json_is_null(errcode) ||
                       (json_is_integer(errcode) && json_integer_value(errcode) == 0) ||
                       (json_is_real(errcode) && json_real_value(errcode) > -1.0 &&
                        json_real_value(errcode) < 1.0),
                   "success with a non-zero errcode");
    }
    if (res->status == WXS_EEXCHANGE)
        FUZZ_CHECK(json_is_number(errcode), "rejection without a numeric errcode");
    if (json_is_string(errcode) || json_is_object(errcode) || json_is_array(errcode) ||
        json_is_boolean(errcode))
        FUZZ_CHECK(res->status == WXS_EUPSTREAM, "errcode of the wrong type gave %d",
                   res->status);
    json_decref(root);
}

/* The result's fields must fit its status. */
static void check_result(const wxs__exchange_result *res, int rc)
{
    FUZZ_CHECK(rc == res->status, "returned %d, status %d", rc, res->status);
    FUZZ_CHECK(res->reason != NULL && strlen(res->reason) < 64, "reason");
    switch (res->status) {
    case 0:
        FUZZ_CHECK(res->openid != NULL && res->openid[0] != '\0', "openid");
        FUZZ_CHECK(res->session_key != NULL && res->session_key[0] != '\0', "session_key");
        FUZZ_CHECK(res->unionid == NULL || res->unionid[0] != '\0', "unionid");
        FUZZ_CHECK(strstr(res->reason, res->session_key) == NULL || strlen(res->session_key) < 3,
                   "the reason quotes the session_key");
        break;
    case WXS_EEXCHANGE:
        FUZZ_CHECK(res->errcode != 0 && res->errmsg != NULL, "errcode %ld", res->errcode);
        FUZZ_CHECK(res->openid == NULL && res->session_key == NULL, "openid with a rejection");
        break;
    case WXS_EUPSTREAM:
        FUZZ_CHECK(res->openid == NULL && res->session_key == NULL, "openid with a bad reply");
        break;
    default:
        FUZZ_CHECK(0, "unexpected status %d", res->status);
    }
}

/* Input: byte 0 picks the HTTP status and the nesting limit, the rest is the reply body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 200, 200, 200, 500, 404, 0, -1, 2147483647L};
    static const long depths[] = {64, 0, 1, 2, 3, 64, 1024, -5};
    long http_status = size > 0 ? statuses[(data[0] & 15) % 11] : 200;
    long depth = size > 0 ? depths[data[0] >> 5] : 64;
    const char *body = size > 0 ? (const char *)data + 1 : NULL;
    size_t len = size > 0 ? size - 1 : 0;
    wxs__exchange_result res = {0};
    wxs__wechat_reply reply = {0};
    int rc;

    rc = wxs__wechat_parse_reply(body, len, http_status, depth, &res, &reply);
    check_result(&res, rc);
    if (body != NULL && (depth <= 0 || depth >= 64))
        check_against_reference(body, len, http_status, &res);
    wxs__wechat_reply_clear(&reply);
    FUZZ_CHECK(reply.root == NULL, "clear left the document");
    return 0;
}
