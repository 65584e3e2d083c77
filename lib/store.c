/* store.c: the registry of session store backends. */
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
