/* paints_test_config.h: what a One Stroke drawing store opens with in the unit tests: the app's
 * options at their defaults (strings "" where read) and the library's sqlite.path. */
#ifndef PAINTS_TEST_CONFIG_H
#define PAINTS_TEST_CONFIG_H

#include "options.h"

#include <string.h>

typedef struct test_cfg {
    const char *sqlite_path;
    struct onestroke_options o;
} test_cfg;

/* The defaults, with paints.store set to store ("sqlite" or "mongodb"). */
static inline void test_cfg_init(test_cfg *cfg, const char *store)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sqlite_path = "";
    cfg->o.store = (char *)store;
    cfg->o.max_per_user = 10000;
    cfg->o.mongo_uri = "";
    cfg->o.mongo_username = "";
    cfg->o.mongo_password = "";
    cfg->o.mongo_host = "127.0.0.1";
    cfg->o.mongo_port = 27017;
    cfg->o.mongo_query = "";
    cfg->o.mongo_database = "weapp";
}

#endif /* PAINTS_TEST_CONFIG_H */
