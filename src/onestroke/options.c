/* options.c: One Stroke's option table: names, flags, environment variables, defaults, bounds and
 * help texts of paints.* and mongo.*, and the rules that tie them to each other and to the
 * library's limits. */
#include "options.h"

#include <stddef.h>
#include <stdio.h>

static const char *const store_choices[] = {"sqlite", "mongodb", NULL};

#define OPTS struct onestroke_options

/* clang-format off */
static const wxs_option options[] = {
    WXS_OPTION_ENUM(OPTS, store, "paints.store", "paints-store", "WXS_PAINTS_STORE", "sqlite",
                    store_choices, "One Stroke drawing store (sqlite uses sqlite.path)"),
    WXS_OPTION_INT(OPTS, max_actions_bytes, "paints.maxActionsBytes", "paints-max-actions-bytes",
                   "WXS_PAINTS_MAX_ACTIONS_BYTES", 524288, 1024, 16777216,
                   "Largest `actions` of one drawing, in bytes"),
    WXS_OPTION_INT(OPTS, max_per_user, "paints.maxPerUser", "paints-max-per-user",
                   "WXS_PAINTS_MAX_PER_USER", 10000, 1, 100000000, "Drawings one user may keep"),
    WXS_OPTION_INT(OPTS, page_size, "paints.pageSize", "paints-page-size", "WXS_PAINTS_PAGE_SIZE",
                   20, 1, 1000, "Drawings per list page when the request names no limit"),
    WXS_OPTION_INT(OPTS, max_page_size, "paints.maxPageSize", "paints-max-page-size",
                   "WXS_PAINTS_MAX_PAGE_SIZE", 100, 1, 1000,
                   "Largest list page a request may ask for"),
    WXS_OPTION_INT(OPTS, max_page_bytes, "paints.maxPageBytes", "paints-max-page-bytes",
                   "WXS_PAINTS_MAX_PAGE_BYTES", 4194304, 1024, 268435456,
                   "Largest list answer in bytes (escaped JSON); a page holds at least one "
                   "drawing (up to 2 x maxActionsBytes + 320) and ends early with a `next` "
                   "cursor past it"),
    WXS_OPTION_SECRET(OPTS, mongo_uri, "mongo.uri", "mongo-uri", "WXS_MONGO_URI",
                      "MongoDB connection URI; overrides the other mongo options"),
    WXS_OPTION_STRING(OPTS, mongo_username, "mongo.username", "mongo-username",
                      "WXS_MONGO_USERNAME", "", NULL, "MongoDB user name"),
    WXS_OPTION_SECRET(OPTS, mongo_password, "mongo.password", "mongo-password",
                      "WXS_MONGO_PASSWORD", "MongoDB password"),
    WXS_OPTION_STRING(OPTS, mongo_host, "mongo.host", "mongo-host", "WXS_MONGO_HOST", "127.0.0.1",
                      NULL, "MongoDB host"),
    WXS_OPTION_INT(OPTS, mongo_port, "mongo.port", "mongo-port", "WXS_MONGO_PORT", 27017, 1, 65535,
                   "MongoDB port"),
    WXS_OPTION_STRING(OPTS, mongo_query, "mongo.query", "mongo-query", "WXS_MONGO_QUERY", "", NULL,
                      "MongoDB URI query string, e.g. authSource=admin"),
    WXS_OPTION_STRING(OPTS, mongo_database, "mongo.database", "mongo-database",
                      "WXS_MONGO_DATABASE", "weapp", NULL, "MongoDB database"),
};
/* clang-format on */

/* The rules between options: a default page no larger than the largest one, and drawings that
 * fit in a request body (limits.bodyBytes, the library's option). 0 or WXS_ECONFIG. */
static int validate(const void *fields, const wxs_config *cfg, char *err, size_t errlen)
{
    const struct onestroke_options *o = fields;
    const char *why = NULL;
    if (o->page_size > o->max_page_size)
        why = "option 'paints.pageSize' must not exceed 'paints.maxPageSize'";
    else if (o->max_actions_bytes > wxs_config_get_int(cfg, "limits.bodyBytes"))
        why = "option 'paints.maxActionsBytes' must not exceed 'limits.bodyBytes'";
    if (why == NULL)
        return 0;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return WXS_ECONFIG;
}

const wxs_option_table onestroke_option_table = {
    .title = "One Stroke (the demo app)",
    .options = options,
    .count = sizeof options / sizeof options[0],
    .validate = validate,
};
