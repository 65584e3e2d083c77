/* protocol.c: the pure core of the weapp-session protocol: strict percent-decoding, rawData
 * checks, the user-info record and the magic-keyed error bodies. Bytes in, bytes out, no I/O. */
#include "protocol.h"

#include <stdio.h>

#include <jansson.h>
#include <string.h>

/* ---- percent-decoding */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The length of the well-formed UTF-8 character at s[0..n) (1 to 4), or 0 when the bytes there
 * are not one (overlong, surrogate, past U+10FFFF, or cut short by n). n > 0. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int wxs__utf8_valid(const unsigned char *s, size_t n)
{
    return wxs__utf8_prefix(s, n, n) == n;
}

size_t wxs__utf8_prefix(const unsigned char *s, size_t n, size_t max)
{
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_char_len(s + i, n - i);
        if (len == 0 || len > max - i)
            break;
        i += len;
    }
    return i;
}

int wxs_percent_decode(const char *src, size_t srclen, char *dst, size_t dstcap, size_t *dstlen)
{
    size_t out = 0;
    for (size_t i = 0; i < srclen; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (srclen - i < 3)
                return WXS_EPARSE;
            int hi = hex_value((unsigned char)src[i + 1]);
            int lo = hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return WXS_EPARSE;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (out == dstcap)
            return WXS_ETOOBIG;
        dst[out++] = (char)c;
    }
    if (!wxs__utf8_valid((const unsigned char *)dst, out))
        return WXS_EPARSE;
    *dstlen = out;
    return 0;
}

/* ---- plain rawData: the record without a JSON library
 *
 * Most rawData (WeChat's own) is a flat object of unescaped strings and small integers. For such
 * text the record jansson would write is the text itself without its whitespace, plus the openId
 * member. plain_value() checks the grammar and accepts only what jansson writes back unchanged:
 * strings without escapes (valid UTF-8, no control bytes), integers of at most 18 digits without
 * "-0", true/false/null, objects without duplicate keys (jansson keeps one of them), at most
 * PLAIN_MAX_KEYS keys per object and PLAIN_MAX_DEPTH levels. Anything else returns 0 and goes to
 * jansson, which also words the errors. fuzz/driver_rawdata.c checks that both paths agree. */

#define PLAIN_MAX_KEYS 32
#define PLAIN_MAX_DEPTH 8

typedef struct plain {
    const char *s;
    size_t n;
    size_t i;
} plain;

static void plain_ws(plain *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* A string without escapes; its contents (without quotes) in *start, *len. */
static int plain_string(plain *p, size_t *start, size_t *len)
{
    if (p->i >= p->n || p->s[p->i] != '"')
        return 0;
    size_t b = ++p->i;
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"')
            break;
        if (c < 0x20 || c == '\\')
            return 0;
        p->i++;
    }
    if (p->i >= p->n || !wxs__utf8_valid((const unsigned char *)p->s + b, p->i - b))
        return 0;
    *start = b;
    *len = p->i - b;
    p->i++;
    return 1;
}

static int plain_number(plain *p)
{
    size_t b = p->i;
    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    size_t digits = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    size_t nd = p->i - digits;
    if (nd == 0 || nd > 18 || (nd > 1 && p->s[digits] == '0'))
        return 0;
    if (nd == 1 && p->s[digits] == '0' && digits > b)
        return 0; /* "-0": jansson writes 0 */
    return p->i >= p->n || (p->s[p->i] != '.' && p->s[p->i] != 'e' && p->s[p->i] != 'E');
}

static int plain_literal(plain *p, const char *word)
{
    size_t k = strlen(word);
    if (p->n - p->i < k || memcmp(p->s + p->i, word, k) != 0)
        return 0;
    p->i += k;
    return 1;
}

static int plain_value(plain *p, int depth, int top);

/* After a member or element: 1 at a ',' (another follows), 0 at the closing byte (the container
 * ends), -1 at anything else. Consumes what it saw and the whitespace after a ','. */
static int plain_next(plain *p, char close)
{
    plain_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
        p->i++;
        plain_ws(p);
        return 1;
    }
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        return 0;
    }
    return -1;
}

static int plain_object(plain *p, int depth, int top)
{
    size_t keys[PLAIN_MAX_KEYS][2];
    int nkeys = 0;
    p->i++; /* '{' */
    plain_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 1;
    }
    for (;;) {
        size_t ks, kl;
        if (nkeys == PLAIN_MAX_KEYS || !plain_string(p, &ks, &kl))
            return 0;
        for (int k = 0; k < nkeys; k++)
            if (keys[k][1] == kl && memcmp(p->s + keys[k][0], p->s + ks, kl) == 0)
                return 0;
        if (top && kl == 6 && memcmp(p->s + ks, "openId", 6) == 0)
            return 0; /* replaced by ours: jansson's path moves it to the end */
        keys[nkeys][0] = ks;
        keys[nkeys][1] = kl;
        nkeys++;
        plain_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return 0;
        p->i++;
        plain_ws(p);
        if (!plain_value(p, depth, 0))
            return 0;
        int next = plain_next(p, '}');
        if (next <= 0)
            return next == 0;
    }
}

static int plain_array(plain *p, int depth)
{
    p->i++; /* '[' */
    plain_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 1;
    }
    for (;;) {
        if (!plain_value(p, depth, 0))
            return 0;
        int next = plain_next(p, ']');
        if (next <= 0)
            return next == 0;
    }
}

static int plain_value(plain *p, int depth, int top)
{
    size_t s, l;
    if (p->i >= p->n)
        return 0;
    switch (p->s[p->i]) {
    case '{':
        return depth < PLAIN_MAX_DEPTH && plain_object(p, depth + 1, top);
    case '[':
        return depth < PLAIN_MAX_DEPTH && plain_array(p, depth + 1);
    case '"':
        return plain_string(p, &s, &l);
    case 't':
        return plain_literal(p, "true");
    case 'f':
        return plain_literal(p, "false");
    case 'n':
        return plain_literal(p, "null");
    default:
        return plain_number(p);
    }
}

int wxs__user_plain(const char *raw, size_t raw_len, int max_depth)
{
    plain p = {raw, raw_len, 0};
    if (max_depth < PLAIN_MAX_DEPTH && !wxs__json_depth_ok(raw, raw_len, max_depth))
        return 0;
    plain_ws(&p);
    if (p.i >= p.n || raw[p.i] != '{' || !plain_value(&p, 0, 1))
        return 0;
    plain_ws(&p);
    return p.i == p.n;
}

/* An openId jansson writes as it is: printable ASCII without '"' and '\'. */
static int plain_openid(const char *openid)
{
    for (const char *c = openid; *c != '\0'; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return 0;
    return 1;
}

int wxs__user_plain_record(const char *raw, size_t raw_len, const char *openid, char **out,
                           size_t *out_len)
{
    if (!plain_openid(openid))
        return 0;
    size_t idlen = strlen(openid);
    char *rec = wxs__malloc(raw_len + idlen + 16);
    if (rec == NULL)
        return WXS_ENOMEM;
    size_t o = 0;
    int in_string = 0;
    for (size_t i = 0; i < raw_len; i++) { /* the text without whitespace outside strings */
        char c = raw[i];
        if (c == '"')
            in_string = !in_string; /* plain strings hold no escaped quotes */
        else if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
            continue;
        rec[o++] = c;
    }
    o--; /* the closing '}' of the object */
    if (rec[o - 1] != '{')
        rec[o++] = ',';
    memcpy(rec + o, "\"openId\":\"", 10);
    o += 10;
    memcpy(rec + o, openid, idlen);
    o += idlen;
    memcpy(rec + o, "\"}", 3);
    *out = rec;
    *out_len = o + 2;
    return 1;
}

int wxs__user_parse(const char *raw, size_t raw_len, int max_depth, json_t **out, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    if (!wxs__json_depth_ok(raw, raw_len, max_depth)) {
        snprintf(err, errlen, "rawData nests deeper than %d levels", max_depth);
        return WXS_EPARSE;
    }
    json_t *obj = json_loadb(raw, raw_len, JSON_DECODE_ANY, &jerr);
    if (obj == NULL) {
        snprintf(err, errlen, "Unexpected token in JSON at position %d", jerr.position);
        return WXS_EPARSE;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        snprintf(err, errlen, "rawData is not a JSON object");
        return WXS_EPARSE;
    }
    *out = obj;
    return 0;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
    return wxs__buf_add(data, p, n) == 0 ? 0 : -1;
}

int wxs__user_dump(json_t *obj, const char *openid, char **out, size_t *out_len)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    json_object_del(obj, "openId"); /* so ours is the last key (wxs__user_openid relies on it) */
    if (json_object_set_new(obj, "openId", json_string(openid)) != 0)
        return WXS_ENOMEM;
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    /* one pass (json_dumpb would need a second one to learn the size first) */
    if (json_dump_callback(obj, dump_to_buf, &b, flags) != 0 || b.data == NULL) {
        wxs__buf_free(&b);
        return WXS_ENOMEM;
    }
    *out = wxs__buf_take(&b, out_len);
    return 0;
}

int wxs__user_record(const char *raw, size_t raw_len, int max_depth, const char *openid, char **out,
                     size_t *out_len, char *err, size_t errlen)
{
    if (openid != NULL && wxs__user_plain(raw, raw_len, max_depth)) {
        int rc = wxs__user_plain_record(raw, raw_len, openid, out, out_len);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    json_t *obj = NULL;
    int rc = wxs__user_parse(raw, raw_len, max_depth, &obj, err, errlen);
    if (rc < 0)
        return rc;
    rc = wxs__user_dump(obj, openid, out, out_len);
    json_decref(obj);
    return rc;
}

int wxs__user_openid(const char *json, size_t len, char *out, size_t cap)
{
    static const char key[] = "\"openId\":\"";
    const size_t klen = sizeof key - 1;
    if (len < klen + 2)
        return WXS_ENOTFOUND;
    /* the record ends with ,"openId":"..."} (we write openId last): search from the end */
    for (size_t i = len - klen; i-- > 0;) {
        if (memcmp(json + i, key, klen) != 0)
            continue;
        size_t o = 0;
        for (size_t k = i + klen; k < len; k++) {
            char c = json[k];
            if (c == '"') {
                out[o] = '\0';
                return 0;
            }
            if (c == '\\' || o + 1 >= cap)
                return WXS_EPARSE; /* openids are plain text; anything else is not ours */
            out[o++] = c;
        }
        return WXS_EPARSE;
    }
    return WXS_ENOTFOUND;
}

/* ---- error bodies (DESIGN.md section 2, byte for byte) */

int wxs__error_body(wxs__buf *b, const char *reason, const char *name, const char *message,
                    const char *detail_json)
{
    int rc = wxs__buf_adds(b, "{\"" WXS_MAGIC_KEY "\":1,");
    if (rc == 0 && reason != NULL)
        rc = wxs__buf_printf(b, "\"reason\":\"%s\",", reason);
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"error\":{\"name\":\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, name, strlen(name));
    if (rc == 0)
        rc = wxs__buf_adds(b, "\",\"message\":\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, message, strlen(message));
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"");
    if (rc == 0 && detail_json != NULL)
        rc = wxs__buf_printf(b, ",\"detail\":%s", detail_json);
    if (rc == 0)
        rc = wxs__buf_adds(b, "}}");
    return rc;
}

int wxs__error_body_expired(wxs__buf *b)
{
    return wxs__error_body(b, WXS_REASON_SESSION_EXPIRED, "Error",
                           "`wxUserInfo` not found by `code`", NULL);
}

int wxs__error_body_untrusted(wxs__buf *b)
{
    return wxs__error_body(b, WXS_REASON_UNTRUSTED_RAW_DATA, "Error", "untrusted raw data", NULL);
}

#define ERRMSG_MAX_BYTES 1024 /* of WeChat's errmsg kept in the error body */

int wxs__error_body_exchange(wxs__buf *b, long errcode, const char *errmsg, const char *reason)
{
    wxs__buf detail;
    wxs__buf_init(&detail, 4096);
    int rc;
    if (errmsg != NULL) {
        rc = wxs__buf_printf(&detail, "{\"errcode\":%ld,\"errmsg\":\"", errcode);
        if (rc == 0)
            rc = wxs__buf_add_json_escaped(&detail, errmsg,
                                           wxs__utf8_prefix((const unsigned char *)errmsg,
                                                            strnlen(errmsg, ERRMSG_MAX_BYTES),
                                                            ERRMSG_MAX_BYTES));
    } else {
        rc = wxs__buf_adds(&detail, "{\"reason\":\"");
        if (rc == 0)
            rc = wxs__buf_add_json_escaped(&detail, reason, strlen(reason));
    }
    if (rc == 0)
        rc = wxs__buf_adds(&detail, "\"}");
    if (rc == 0)
        rc = wxs__error_body(b, WXS_REASON_EXCHANGE_FAILED, "Error",
                             "jscode failed to exchange session_key", detail.data);
    wxs__buf_free(&detail);
    return rc;
}

int wxs__error_json(wxs__buf *b, const char *code, const char *message)
{
    int rc = wxs__buf_printf(b, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, message, strlen(message));
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"}}");
    return rc;
}

/* ---- signature: lowercase hex sha1(rawData + session_key) */

void wxs_signature(const char *raw_data, size_t raw_len, const char *session_key, size_t key_len,
                   char hex[41])
{
    wxs__sha1_hex(raw_data, raw_len, session_key, key_len, hex);
}

int wxs_signature_verify(const char *raw_data, size_t raw_len, const char *session_key,
                         size_t key_len, const char *signature, size_t sig_len)
{
    char hex[41];
    wxs__sha1_hex(raw_data, raw_len, session_key, key_len, hex);
    return wxs__ct_equal(hex, 40, signature, sig_len);
}
