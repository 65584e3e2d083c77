/* token_record.c: the token sessions' pure parts (lib/token.h): token syntax, making and hashing,
 * and the session record's encoding. No I/O but the CSPRNG. */
#include "token.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- the token */

static int is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int wxs__token_syntax_ok(const char *token, size_t len)
{
    if (token == NULL || len < WXS__TOKEN_MIN_CHARS || len > WXS__TOKEN_MAX_CHARS)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_b64url((unsigned char)token[i]))
            return 0;
    return 1;
}

/* base64url of n bytes, no padding, NUL-terminated; out has room for 4*ceil(n/3)+1. */
static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
}

int wxs__token_make(char out[WXS__TOKEN_CHARS + 1])
{
    unsigned char raw[WXS__TOKEN_BYTES];
    int rc = RAND_bytes(raw, sizeof raw) == 1 ? 0 : WXS_EIO;
    if (rc == 0)
        b64url_encode(raw, sizeof raw, out);
    else
        out[0] = '\0';
    memset(raw, 0, sizeof raw);
    return rc;
}

void wxs_token_hash(const char *token, size_t len, char hex[65])
{
    wxs__sha256_hex(token != NULL ? token : "", token != NULL ? len : 0, hex);
}

/* ---- the record: writing */

/* Append "name":"value" (JSON-escaped), or "name":null when value is NULL. */
static int add_string(wxs__buf *b, const char *name, const char *value)
{
    int rc = wxs__buf_printf(b, "\"%s\":", name);
    if (rc == 0 && value == NULL)
        return wxs__buf_adds(b, "null");
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, value, strlen(value));
    return rc == 0 ? wxs__buf_adds(b, "\"") : rc;
}

int wxs__token_record_encode(const wxs__token_record *rec, char **out, size_t *out_len)
{
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    int rc = wxs__buf_adds(&b, "{");
    if (rc == 0)
        rc = add_string(&b, "openId", rec->openid);
    if (rc == 0)
        rc = wxs__buf_adds(&b, ",");
    if (rc == 0)
        rc = add_string(&b, "unionId", rec->has_unionid ? rec->unionid : NULL);
    if (rc == 0)
        rc = wxs__buf_adds(&b, ",");
    if (rc == 0)
        rc = add_string(&b, "sessionKey", rec->session_key);
    if (rc == 0)
        rc = wxs__buf_printf(&b, ",\"created\":%lld,\"lastSeen\":%lld,\"expiresAt\":%lld,\"user\":",
                             rec->created, rec->last_seen, rec->expires_at);
    if (rc == 0 && rec->user != NULL)
        rc = wxs__buf_add(&b, rec->user, rec->user_len);
    else if (rc == 0)
        rc = wxs__buf_adds(&b, "null");
    if (rc == 0)
        rc = wxs__buf_adds(&b, "}");
    if (rc < 0) {
        wxs__buf_free(&b);
        return WXS_ENOMEM;
    }
    *out = wxs__buf_take(&b, out_len);
    return 0;
}

/* ---- the record: reading as written, without a parser */

typedef struct cursor {
    const char *p;
    const char *end;
} cursor;

/* Consume the literal s; 0, or -1 when the text differs. */
static int expect(cursor *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* A string without escapes (what encode writes for plain values) into out (cap bytes with the
 * NUL); *is_null set for null when is_null is not NULL. -1: anything else. */
static int read_plain_string(cursor *c, char *out, size_t cap, int *is_null)
{
    if (is_null != NULL) {
        *is_null = expect(c, "null") == 0;
        if (*is_null)
            return 0;
    }
    if (expect(c, "\"") < 0)
        return -1;
    const char *start = c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20)
            return -1;
        c->p++;
    }
    size_t n = (size_t)(c->p - start);
    if (c->p == c->end || n >= cap)
        return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    c->p++;
    return 0;
}

static int read_int(cursor *c, long long *v)
{
    long long x = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 18)
        x = x * 10 + (*c->p++ - '0');
    *v = x;
    return c->p > start ? 0 : -1;
}

/* The fast path: exactly what encode writes, with no escaped string. */
static int decode_plain(const char *val, size_t len, wxs__token_record *rec)
{
    cursor c = {val, val + len};
    int null_union = 0;
    if (expect(&c, "{\"openId\":") < 0 ||
        read_plain_string(&c, rec->openid, sizeof rec->openid, NULL) < 0 ||
        expect(&c, ",\"unionId\":") < 0 ||
        read_plain_string(&c, rec->unionid, sizeof rec->unionid, &null_union) < 0 ||
        expect(&c, ",\"sessionKey\":") < 0 ||
        read_plain_string(&c, rec->session_key, sizeof rec->session_key, NULL) < 0 ||
        expect(&c, ",\"created\":") < 0 || read_int(&c, &rec->created) < 0 ||
        expect(&c, ",\"lastSeen\":") < 0 || read_int(&c, &rec->last_seen) < 0 ||
        expect(&c, ",\"expiresAt\":") < 0 || read_int(&c, &rec->expires_at) < 0 ||
        expect(&c, ",\"user\":") < 0)
        return -1;
    rec->has_unionid = !null_union;
    if (!null_union && rec->unionid[0] == '\0')
        return -1;
    /* the rest is the user value and the record's closing brace */
    size_t rest = (size_t)(c.end - c.p);
    if (rest < 2 || c.end[-1] != '}')
        return -1;
    if (rest == 5 && memcmp(c.p, "null", 4) == 0)
        return 0;
    if (c.p[0] != '{' || c.end[-2] != '}')
        return -1;
    rec->user = c.p;
    rec->user_len = rest - 1;
    return 0;
}

/* ---- the record: reading anything else, with jansson */

static int copy_member(json_t *root, const char *name, char *out, size_t cap, int required)
{
    json_t *v = json_object_get(root, name);
    if (json_is_null(v) && !required)
        return 0;
    const char *s = json_string_value(v);
    size_t n = s != NULL ? json_string_length(v) : 0;
    if (s == NULL || n == 0 || n >= cap || memchr(s, '\0', n) != NULL)
        return WXS_EPARSE;
    memcpy(out, s, n + 1);
    return 1;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
    return wxs__buf_add(data, p, n) == 0 ? 0 : -1;
}

/* user, compact, into rec->user_owned (the library's allocator). */
static int dump_user(json_t *user, wxs__token_record *rec)
{
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    if (json_dump_callback(user, dump_to_buf, &b, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        b.data == NULL) {
        wxs__buf_free(&b);
        return WXS_ENOMEM;
    }
    rec->user_owned = wxs__buf_take(&b, &rec->user_len);
    rec->user = rec->user_owned;
    return 0;
}

static int decode_json(const char *val, size_t len, wxs__token_record *rec)
{
    json_t *root = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);
    int rc = json_is_object(root) ? 0 : WXS_EPARSE;
    json_t *user = json_object_get(root, "user");
    if (rc == 0)
        rc = copy_member(root, "openId", rec->openid, sizeof rec->openid, 1);
    if (rc >= 0)
        rc = copy_member(root, "sessionKey", rec->session_key, sizeof rec->session_key, 1);
    if (rc >= 0)
        rc = copy_member(root, "unionId", rec->unionid, sizeof rec->unionid, 0);
    rec->has_unionid = rc == 1;
    if (rc >= 0) {
        json_t *created = json_object_get(root, "created");
        json_t *seen = json_object_get(root, "lastSeen");
        json_t *end = json_object_get(root, "expiresAt");
        rc = json_is_integer(created) && json_is_integer(seen) && json_is_integer(end) &&
                     (user == NULL || json_is_null(user) || json_is_object(user))
                 ? 0
                 : WXS_EPARSE;
        rec->created = json_integer_value(created);
        rec->last_seen = json_integer_value(seen);
        rec->expires_at = json_integer_value(end);
    }
    if (rc == 0 && json_is_object(user))
        rc = dump_user(user, rec);
    json_decref(root);
    return rc;
}

int wxs__token_record_decode(const char *val, size_t len, wxs__token_record *rec)
{
    memset(rec, 0, sizeof *rec);
    if (val == NULL || len == 0)
        return WXS_EPARSE;
    if (decode_plain(val, len, rec) == 0)
        return 0;
    memset(rec, 0, sizeof *rec);
    int rc = decode_json(val, len, rec);
    if (rc < 0)
        wxs__token_record_clear(rec);
    return rc;
}

void wxs__token_record_clear(wxs__token_record *rec)
{
    wxs__free(rec->user_owned);
    rec->user_owned = NULL;
    rec->user = NULL;
    rec->user_len = 0;
}
