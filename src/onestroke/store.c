/* store.c: the registry of One Stroke drawing stores. */
#include "store.h"

#include <string.h>

static const os_store_ops *const stores[] = {
    &os_store_sqlite_ops,
    &os_store_mongo_ops,
};

/* The ops table whose name is `name` ("sqlite", "mongodb"); NULL for any other name or NULL. */
const os_store_ops *os_store_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
        if (strcmp(stores[i]->name, name) == 0)
            return stores[i];
    }
    return NULL;
}
