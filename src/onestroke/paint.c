/* paint.c: the drawing id rule, the list cursor text and the stores' argument checks. Pure. */
#include "paint.h"

#include <stdio.h>
#include <string.h>
#include <wxsession.h>

static int id_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 1 when id[0..len) is 1..OS_PAINT_ID_MAX bytes, each of [A-Za-z0-9_-]; else 0. id may be NULL
 * only with len 0 (which is invalid). */
int os_paint_id_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0 || len > OS_PAINT_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!id_char_ok((unsigned char)id[i]))
            return 0;
    }
    return 1;
}

/* Cursors are "<createdAt ms>.<id>": '.' never occurs in an id. */
int os_cursor_decode(const char *text, os_paint_cursor *c)
{
    const char *dot = strchr(text, '.');
    if (dot == NULL || dot == text || dot - text > 19)
        return -1;
    int64_t ms = 0;
    for (const char *p = text; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (ms > (INT64_MAX - (*p - '0')) / 10)
            return -1; /* past int64 (found by fuzz/driver_paint_body) */
        ms = ms * 10 + (*p - '0');
    }
    size_t idlen = strlen(dot + 1);
    if (!os_paint_id_valid(dot + 1, idlen))
        return -1;
    c->created_at_ms = ms;
    memcpy(c->id, dot + 1, idlen + 1);
    return 0;
}

void os_cursor_encode(const os_paint *p, char out[OS_CURSOR_MAX])
{
    snprintf(out, OS_CURSOR_MAX, "%lld.%s", (long long)p->created_at_ms, p->id);
}

/* openid is 1..OS_OPENID_MAX bytes; id (when not NULL) a valid drawing id. */
static int check_user(const char *openid, const char *id)
{
    if (openid == NULL || openid[0] == '\0' || strnlen(openid, OS_OPENID_MAX + 1) > OS_OPENID_MAX)
        return WXS_EINVAL;
    if (id != NULL && !os_paint_id_valid(id, strnlen(id, OS_PAINT_ID_MAX + 1)))
        return WXS_EINVAL;
    return 0;
}

int os_paint_check_list(const char *openid, const os_paint_cursor *cursor, unsigned limit,
                        int has_cb)
{
    if (!has_cb || limit == 0 || limit > OS_PAINT_LIST_MAX)
        return WXS_EINVAL;
    if (cursor != NULL && cursor->id[0] != '\0' &&
        !os_paint_id_valid(cursor->id, strnlen(cursor->id, sizeof cursor->id)))
        return WXS_EINVAL;
    return check_user(openid, NULL);
}

int os_paint_check_save(const char *openid, const char *id, const char *actions, size_t actions_len,
                        long long max_per_user, int has_cb)
{
    if (!has_cb || actions == NULL || id == NULL || max_per_user <= 0)
        return WXS_EINVAL;
    int rc = check_user(openid, id);
    if (rc == 0 && actions_len > OS_PAINT_ACTIONS_MAX)
        rc = WXS_ETOOBIG;
    return rc;
}

int os_paint_check_del(const char *openid, const char *id, int has_cb)
{
    return !has_cb || id == NULL ? WXS_EINVAL : check_user(openid, id);
}
