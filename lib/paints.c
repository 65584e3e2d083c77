/* paints.c: the registry of One Stroke drawing stores and the drawing id rule. */
#include "paints.h"

#include <string.h>

static const wxs__paint_store_ops *const paint_stores[] = {
    &wxs__paints_sqlite_ops,
    &wxs__paints_mongo_ops,
};

/* The ops table whose name is `name` ("sqlite", "mongodb"); NULL for any other name or NULL. */
const wxs__paint_store_ops *wxs__paint_store_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof paint_stores / sizeof paint_stores[0]; i++) {
        if (strcmp(paint_stores[i]->name, name) == 0)
            return paint_stores[i];
    }
    return NULL;
}

static int id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 1 when id[0..len) is 1..WXS__PAINT_ID_MAX bytes, each of [A-Za-z0-9_-]; else 0. id may be
 * NULL only with len 0 (which is invalid). */
int wxs__paint_id_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > WXS__PAINT_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!id_char_ok((unsigned char)id[i]))
            return 0;
    }
    return 1;
}

/* openid is 1..WXS__OPENID_MAX bytes; id (when not NULL) a valid drawing id. */
static int check_user(const char *openid, const char *id)
{
    if (openid == NULL || openid[0] == '\0' ||
        strnlen(openid, WXS__OPENID_MAX + 1) > WXS__OPENID_MAX)
        return WXS_EINVAL;
    if (id != NULL && !wxs__paint_id_valid(id, strnlen(id, WXS__PAINT_ID_MAX + 1)))
        return WXS_EINVAL;
    return 0;
}

int wxs__paint_check_list(const char *openid, const wxs__paint_cursor *cursor, unsigned limit,
                          int has_cb)
{
    if (!has_cb || limit == 0 || limit > WXS__PAINT_LIST_MAX)
        return WXS_EINVAL;
    if (cursor != NULL && cursor->id[0] != '\0' &&
        !wxs__paint_id_valid(cursor->id, strnlen(cursor->id, sizeof cursor->id)))
        return WXS_EINVAL;
    return check_user(openid, NULL);
}

int wxs__paint_check_save(const char *openid, const char *id, const char *actions,
                          size_t actions_len, long long max_per_user, int has_cb)
{
    if (!has_cb || actions == NULL || id == NULL || max_per_user <= 0)
        return WXS_EINVAL;
    int rc = check_user(openid, id);
    if (rc == 0 && actions_len > WXS__PAINT_ACTIONS_MAX)
        rc = WXS_ETOOBIG;
    return rc;
}

int wxs__paint_check_del(const char *openid, const char *id, int has_cb)
{
    return !has_cb || id == NULL ? WXS_EINVAL : check_user(openid, id);
}
