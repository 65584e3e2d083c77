/* body.c: parsing of One Stroke save/delete request bodies (JSON or
 * application/x-www-form-urlencoded) and the JSON nesting check. Pure: bytes in, fields out. */
#include "body.h"
#include "reasons.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void os_body_clear(os_body *b)
{
    if (b == NULL)
        return;
    wxs__free(b->id);
    wxs__free(b->actions);
    memset(b, 0, sizeof *b);
}

static int is_json_type(const char *content_type, const char *body, size_t len)
{
    if (content_type != NULL && strncasecmp(content_type, "application/json", 16) == 0)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
            return body[i] == '{';
    return 0;
}

static int body_fail(const char **reason, const char *why, char *err, size_t errlen,
                     const char *msg)
{
    *reason = why;
    snprintf(err, errlen, "%s", msg);
    return WXS_EPARSE;
}

static int parse_json_body(const char *body, size_t len, int max_depth, os_body *out,
                           const char **reason, char *err, size_t errlen)
{
    if (!wxs__json_depth_ok(body, len, max_depth))
        return body_fail(reason, OS_REASON_BAD_BODY, err, errlen, "body nests too deep");
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    if (doc == NULL && json_error_code(&jerr) == json_error_null_character)
        return body_fail(reason, OS_REASON_BAD_BODY, err, errlen,
                         "body holds a NUL character (\\u0000)");
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return body_fail(reason, OS_REASON_BAD_BODY, err, errlen, "body is not a JSON object");
    }
    int rc = 0;
    json_t *id = json_object_get(doc, "id");
    json_t *actions = json_object_get(doc, "actions");
    if (json_is_integer(id)) { /* a numeric id (e.g. a timestamp) is taken as its digits */
        char digits[32];
        snprintf(digits, sizeof digits, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        out->id = wxs__strdup(digits);
        if (out->id == NULL) {
            rc = WXS_ENOMEM;
            goto out;
        }
    } else if (id != NULL && !json_is_null(id)) {
        if (!json_is_string(id)) {
            rc = body_fail(reason, OS_REASON_BAD_ID, err, errlen, "id must be a string");
            goto out;
        }
        out->id = wxs__strndup(json_string_value(id), json_string_length(id));
        if (out->id == NULL) {
            rc = WXS_ENOMEM;
            goto out;
        }
    }
    if (actions != NULL && !json_is_null(actions)) {
        if (json_is_string(actions)) {
            out->actions = wxs__strndup(json_string_value(actions), json_string_length(actions));
            out->actions_len = json_string_length(actions);
        } else if (json_is_array(actions) || json_is_object(actions)) {
            size_t need = json_dumpb(actions, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
            out->actions = wxs__malloc(need + 1);
            if (out->actions != NULL) {
                json_dumpb(actions, out->actions, need, JSON_COMPACT | JSON_PRESERVE_ORDER);
                out->actions[need] = '\0';
                out->actions_len = need;
            }
        } else {
            rc = body_fail(reason, OS_REASON_BAD_ACTIONS, err, errlen,
                           "actions must be a string of JSON text, an array or an object");
            goto out;
        }
        if (out->actions == NULL)
            rc = WXS_ENOMEM;
    }
out:
    json_decref(doc);
    return rc;
}

/* Decode one application/x-www-form-urlencoded value ('+' is a space) into a new string. */
static int form_value(const char *p, size_t n, char **out, size_t *out_len)
{
    char *plus = wxs__malloc(n + 1);
    char *dec = wxs__malloc(n + 1);
    int rc = WXS_ENOMEM;
    if (plus == NULL || dec == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        plus[i] = p[i] == '+' ? ' ' : p[i];
    rc = wxs_percent_decode(plus, n, dec, n, out_len);
    if (rc < 0)
        goto out;
    dec[*out_len] = '\0';
    *out = dec;
    dec = NULL;
out:
    wxs__free(plus);
    wxs__free(dec);
    return rc;
}

static int parse_form_body(const char *body, size_t len, os_body *out, const char **reason,
                           char *err, size_t errlen)
{
    size_t i = 0;
    size_t id_len = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        const char *eq = memchr(body + i, '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - (body + i)) : end - i;
        const char *v = eq != NULL ? eq + 1 : body + end;
        size_t vlen = (size_t)(body + end - v);
        char **dst = NULL;
        size_t *dst_len = NULL;
        if (klen == 2 && memcmp(body + i, "id", 2) == 0) {
            dst = &out->id;
            dst_len = &id_len;
        } else if (klen == 7 && memcmp(body + i, "actions", 7) == 0) {
            dst = &out->actions;
            dst_len = &out->actions_len;
        }
        if (dst != NULL) {
            wxs__free(*dst); /* the last of repeated fields wins */
            *dst = NULL;
            int rc = form_value(v, vlen, dst, dst_len);
            if (rc == WXS_EPARSE)
                return body_fail(reason, OS_REASON_BAD_BODY, err, errlen,
                                 "malformed percent-encoding or UTF-8 in the form body");
            if (rc < 0)
                return rc;
        }
        i = end + 1;
    }
    /* ids are C strings: "a%00b" must not pass as "a" (found by fuzz/driver_paint_body) */
    if (out->id != NULL && strlen(out->id) != id_len)
        return body_fail(reason, OS_REASON_BAD_ID, err, errlen, "id holds a NUL byte");
    return 0;
}

int os_body_parse(const char *content_type, const char *body, size_t len, int max_depth,
                  os_body *out, const char **reason, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    *reason = NULL;
    int rc = is_json_type(content_type, body, len)
                 ? parse_json_body(body, len, max_depth, out, reason, err, errlen)
                 : parse_form_body(body, len, out, reason, err, errlen);
    if (rc < 0) {
        os_body_clear(out);
        if (rc == WXS_ENOMEM)
            body_fail(reason, WXS_REASON_INTERNAL, err, errlen, "out of memory");
    }
    return rc;
}
