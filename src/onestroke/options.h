/* options.h: One Stroke's configuration: its option table (paints.*, mongo.*), registered on a
 * wxs_config beside the library's by every program that runs or checks the app. */
#ifndef ONESTROKE_OPTIONS_H
#define ONESTROKE_OPTIONS_H

#include <wxsession.h>

/* The app's typed options, filled by wxs_config_register(cfg, &onestroke_option_table, &opts).
 * Strings belong to the config that filled them and live as long as it does. */
struct onestroke_options {
    char *store; /* paints.store: "sqlite" | "mongodb" */
    long long max_actions_bytes;
    long long max_per_user;
    long long page_size;
    long long max_page_size;
    long long max_page_bytes; /* paints.maxPageBytes: a list answer's byte budget */
    char *mongo_uri;
    char *mongo_username;
    char *mongo_password;
    char *mongo_host;
    long long mongo_port;
    char *mongo_query;
    char *mongo_database;
};

/** The table of the options above, with its cross-option rules (paints.pageSize <=
 *  paints.maxPageSize, paints.maxActionsBytes <= limits.bodyBytes). */
extern const wxs_option_table onestroke_option_table;

#endif /* ONESTROKE_OPTIONS_H */
