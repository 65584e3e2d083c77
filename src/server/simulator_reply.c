/* simulator_reply.c: the simulator's request parameters (query or form-encoded body, strictly
 * decoded) and the replies its routes build (contract in simulator_impl.h). Reads requests
 * through http.h only. */
#include "simulator_impl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAM_BYTES 8192 /* a decoded query parameter */

/* ------------------------------------------------------------------ request parameters */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a form-encoded value ('+' is a space, %XX strict, no NUL) into a malloc'd string
 * that is valid UTF-8. NULL when malformed, over MAX_PARAM_BYTES or out of memory. */
static char *form_decode(const char *p, size_t n)
{
    char *out = n <= MAX_PARAM_BYTES * 3 ? malloc(n + 1) : NULL;
    size_t o = 0;
    if (out == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_value(p[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                goto fail;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0)
            goto fail;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    json_t *check = json_stringn(out, o); /* jansson validates UTF-8 */
    if (check == NULL || o > MAX_PARAM_BYTES)
        goto fail;
    json_decref(check);
    return out;
fail:
    free(out);
    return NULL;
}

/* The first value of name in a form-encoded string. Returns 1 (*out malloc'd), 0 when absent,
 * -1 when the value is malformed or too long. */
static int form_param(const char *s, size_t len, const char *name, char **out)
{
    size_t nlen = strlen(name);
    *out = NULL;
    for (size_t i = 0; s != NULL && i < len;) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - s) : len;
        if (end - i > nlen && memcmp(s + i, name, nlen) == 0 && s[i + nlen] == '=') {
            *out = form_decode(s + i + nlen + 1, end - i - nlen - 1);
            return *out != NULL ? 1 : -1;
        }
        if (end - i == nlen && memcmp(s + i, name, nlen) == 0) {
            *out = form_decode("", 0);
            return *out != NULL ? 1 : -1;
        }
        i = end + 1;
    }
    return 0;
}

/* A parameter from the query, or for a POST from a form-encoded body. Same returns. */
int sim__req_param(http_req *req, const char *name, char **out)
{
    size_t len = 0;
    const char *q = http_req_query(req, &len);
    int rc = form_param(q, q != NULL ? len : 0, name, out);
    if (rc != 0 || http_req_method(req) != HTTP_POST)
        return rc;
    const char *body = http_req_body(req, &len);
    if (len == 0 || body[0] == '{')
        return 0;
    return form_param(body, len, name, out);
}

/* ------------------------------------------------------------------ replies */

int sim__reply_set(reply *r, int status, const char *content_type, const char *body, size_t len)
{
    r->status = status;
    r->content_type = content_type;
    r->body = malloc(len + 1);
    r->len = len;
    if (r->body == NULL) {
        r->status = 500;
        r->len = 0;
        return -1;
    }
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    return 0;
}

void sim__reply_json(reply *r, int status, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL)
        sim__reply_set(r, 500, NULL, "{\"error\":{\"code\":\"ERR_INTERNAL\"}}", 33);
    else
        sim__reply_set(r, status, NULL, text, strlen(text));
    free(text);
    json_decref(doc);
}

void sim__reply_error(reply *r, int status, const char *code, const char *message)
{
    sim__reply_json(r, status,
                    json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

void sim__reply_errcode(reply *r, int errcode, const char *errmsg)
{
    sim__reply_json(r, 200, json_pack("{s:i,s:s}", "errcode", errcode, "errmsg", errmsg));
}
