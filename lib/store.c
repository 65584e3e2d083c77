/* store.c: the registry of session store backends and the argument checks they share. */
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
    if (rc == 0 && lw->extra_key != NULL)
        rc = wxs__store_check_key(lw->extra_key, lw->extra_key_len);
    if (rc == 0 && lw->extra_key != NULL)
        rc = wxs__store_check_value(lw->extra_val, lw->extra_val_len, lw->extra_ttl_s);
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
