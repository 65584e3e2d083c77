/* store.c: the registry of session store backends and what they share: the argument checks (of
 * the token ops too) and the openId entry's value (the code as a JSON string literal), written and
 * read back. */
#include "store.h"

#include <string.h>

const wxs__store_ops *wxs__store_find(const char *name)
{
    static const wxs__store_ops *const all[] = {&wxs__store_sqlite_ops, &wxs__store_redis_ops};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

int wxs__store_check_key(const char *key, size_t klen)
{
    if (key == NULL || klen == 0)
        return WXS_EINVAL;
    return klen > WXS__STORE_MAX_KEY ? WXS_ETOOBIG : 0;
}

int wxs__store_check_value(const char *val, size_t vlen, long long ttl_s)
{
    if (val == NULL || ttl_s <= 0 || ttl_s > WXS__STORE_MAX_TTL_S)
        return WXS_EINVAL;
    return vlen > WXS__STORE_MAX_VALUE ? WXS_ETOOBIG : 0;
}

static int check_login_id(const char *s, size_t n)
{
    if (s == NULL || n == 0 || memchr(s, '\0', n) != NULL)
        return WXS_EINVAL;
    return n > WXS__STORE_MAX_LOGIN_ID ? WXS_ETOOBIG : 0;
}

int wxs__store_check_login(const wxs__login *lw)
{
    if (lw == NULL)
        return WXS_EINVAL;
    int rc = check_login_id(lw->code, lw->code_len);
    if (rc == 0)
        rc = check_login_id(lw->openid, lw->openid_len);
    if (rc == 0)
        rc = wxs__store_check_value(lw->user_json, lw->user_len, lw->ttl_s);
    if (rc == 0 && lw->remember.key != NULL)
        rc = wxs__store_check_key(lw->remember.key, lw->remember.key_len);
    if (rc == 0 && lw->remember.key != NULL)
        rc = wxs__store_check_value(lw->remember.value, lw->remember.value_len, lw->remember.ttl_s);
    return rc;
}

int wxs__store_token_hash_ok(const char *hash)
{
    if (hash == NULL)
        return 0;
    for (int i = 0; i < WXS__TOKEN_HASH_LEN; i++)
        if (!((hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f')))
            return 0;
    return 1;
}

int wxs__store_check_token(const char *hash, const char *openid, size_t openid_len)
{
    if (hash != NULL && !wxs__store_token_hash_ok(hash))
        return WXS_EINVAL;
    return openid != NULL ? check_login_id(openid, openid_len) : 0;
}

int wxs__store_check_token_put(const wxs__token_put *tp)
{
    if (tp == NULL || tp->cap < 1 || tp->cap > 1000)
        return WXS_EINVAL;
    int rc = tp->hash != NULL && tp->openid != NULL
                 ? wxs__store_check_token(tp->hash, tp->openid, tp->openid_len)
                 : WXS_EINVAL;
    if (rc == 0)
        rc = wxs__store_check_value(tp->record, tp->record_len, tp->ttl_s);
    if (rc == 0 && (tp->index_ttl_s <= 0 || tp->index_ttl_s > WXS__STORE_MAX_TTL_S))
        rc = WXS_EINVAL;
    if (rc == 0 && tp->remember.key != NULL)
        rc = wxs__store_check_key(tp->remember.key, tp->remember.key_len);
    if (rc == 0 && tp->remember.key != NULL)
        rc = wxs__store_check_value(tp->remember.value, tp->remember.value_len, tp->remember.ttl_s);
    return rc;
}

int wxs__store_code_json(wxs__buf *b, const char *code, size_t code_len)
{
    int rc = wxs__buf_adds(b, "\"");
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, code, code_len);
    if (rc == 0)
        rc = wxs__buf_adds(b, "\"");
    return rc;
}

/* Decode the escape after a backslash at p (avail bytes) into out (up to 3 UTF-8 bytes).
 * Returns the number of input bytes used, or -1 for a bad, surrogate or NUL escape. */
static int decode_escape(const char *p, size_t avail, char out[3], size_t *out_len)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *hit = avail > 0 && p[0] != '\0' ? strchr(from, p[0]) : NULL;
    *out_len = 1;
    if (hit != NULL) {
        out[0] = to[hit - from];
        return 1;
    }
    if (avail < 5 || p[0] != 'u')
        return -1;
    unsigned cp = 0;
    for (int i = 1; i <= 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        cp = cp * 16 + (unsigned)d;
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    if (cp < 0x80) {
        out[0] = (char)cp;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        *out_len = 2;
    } else {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        *out_len = 3;
    }
    return 5;
}

int wxs__store_code_parse(const char *s, size_t n, char *out, size_t cap, size_t *out_len)
{
    size_t o = 0;
    if (s == NULL || n < 2 || s[0] != '"' || s[n - 1] != '"')
        return -1;
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        char chunk[3] = {(char)c, 0, 0};
        size_t chunk_len = 1;
        if (c < 0x20 || c == '"')
            return -1;
        if (c == '\\') {
            int used = decode_escape(s + i + 1, n - 2 - i, chunk, &chunk_len);
            if (used < 0)
                return -1;
            i += (size_t)used;
        }
        if (chunk_len > cap - o)
            return -1;
        memcpy(out + o, chunk, chunk_len);
        o += chunk_len;
    }
    *out_len = o;
    return 0;
}
