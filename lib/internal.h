/* internal.h: what libwxsession's files share: the private base (util/util.h) and the typed
 * configuration struct. Not installed; src/ never includes it. */
#ifndef WXS_INTERNAL_H
#define WXS_INTERNAL_H

#include "util.h"

/* ---- the typed configuration (lib/config.c owns the table that fills it) */
struct wxs_config {
    long long port;
    char *listen;
    char *route_base;
    char *app_id;
    char *app_secret;
    long long workers;
    char *store; /* "sqlite" | "redis" */
    long long session_ttl;  /* seconds; config key redis.ttl (applies to every store) */
    char *session_prefix;   /* config key redis.prefix (applies to every store) */
    char *sqlite_path;
    char *redis_host;
    long long redis_port;
    char *redis_password;
    long long redis_db;
    long long redis_timeout_ms;
    char *paint_store; /* "sqlite" | "mongodb" */
    long long paint_max_actions_bytes;
    long long paint_max_per_user;
    long long paint_page_size;
    long long paint_max_page_size;
    char *mongo_uri;
    char *mongo_username;
    char *mongo_password;
    char *mongo_host;
    long long mongo_port;
    char *mongo_query;
    char *mongo_database;
    char *wechat_api_base;
    long long wechat_timeout_ms;
    long long wechat_connect_timeout_ms;
    long long wechat_max_reply_bytes;
    long long limit_header_bytes;
    long long limit_raw_data_bytes;
    long long limit_body_bytes;
    long long limit_json_depth;
    long long limit_connections;
    long long limit_code_bytes;
    long long timeout_header_ms;
    long long timeout_body_ms;
    long long timeout_idle_ms;
    long long timeout_shutdown_ms;
    long long simulator;       /* bool: serve the WeChat simulator routes */
    long long sim_latency_ms;  /* simulator: delay before each jscode2session reply */
    long long sim_quota_per_minute; /* simulator: 45011 past this many exchanges a minute per user */
    char *log_level;  /* debug|info|warn|error */
    char *log_format; /* text|json */
};

/** wxs_config_load_file on text[0..len) already in memory (lib/config.c): name stands for the
 *  text in reasons. Same results and reasons as the file loader. */
int wxs__config_load_buffer(wxs_config *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errlen);

#endif /* WXS_INTERNAL_H */
