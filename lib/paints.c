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
