/* internal.h: what libwxsession's files share: the private base (util/util.h) and the typed
 * configuration struct. Not installed; src/ never includes it. */
#ifndef WXS_INTERNAL_H
#define WXS_INTERNAL_H

#include "util.h"

/* ---- the configuration (lib/config.c): the registered tables, and the library's own options,
 * which its first table fills (the fields below) */
#define WXS__CONFIG_MAX_TABLES 8

typedef struct wxs__config_table {
    const wxs_option_table *table;
    void *fields; /* the owner's struct */
} wxs__config_table;

struct wxs_config {
    char *app_id;
    char *app_secret;
    char *store;           /* "sqlite" | "redis" */
    long long session_ttl; /* seconds; config key session.ttl (alias redis.ttl), every store */
    char *session_prefix;  /* config key session.prefix (alias redis.prefix), every store */
    /* token sessions (lib/token.c) */
    long long token_idle_s;    /* session.tokenIdleSeconds: ends after this long unused */
    long long token_max_s;     /* session.tokenMaxSeconds: ends this long after the login */
    long long tokens_per_user; /* session.tokensPerUser: live sessions per user (oldest end) */
    char *sqlite_path;
    char *redis_host;
    long long redis_port;
    char *redis_password;
    long long redis_db;
    long long redis_timeout_ms;
    /* Redis Sentinel and WAIT (lib/redis_sentinel.c, lib/store_redis.c) */
    char *redis_sentinels;           /* "host:port,..."; empty: no Sentinel */
    char *redis_master_name;         /* the master's name at the Sentinels */
    char *redis_sentinel_password;   /* AUTH to the Sentinels when set */
    long long redis_wait_replicas;   /* -1 auto (1 with Sentinel or Cluster), 0 off, n */
    long long redis_wait_timeout_ms; /* WAIT's timeout */
    /* Redis Cluster (lib/store_redis_cluster.c) */
    char *redis_cluster; /* seed nodes "host:port,..."; empty: not a cluster */
    char *wechat_api_base;
    long long wechat_timeout_ms;
    long long wechat_connect_timeout_ms;
    long long wechat_max_reply_bytes;
    /* the app's access_token (lib/access_token.c) */
    long long access_token_ahead_s; /* accessToken.refreshAheadSeconds */
    long long access_token_lease_s; /* accessToken.leaseSeconds */
    long long limit_raw_data_bytes;
    long long limit_json_depth;
    long long limit_code_bytes;

    wxs__config_table tables[WXS__CONFIG_MAX_TABLES];
    size_t ntables;
};

/** wxs_config_load_file on text[0..len) already in memory (lib/config.c): name stands for the
 *  text in reasons. Same results and reasons as the file loader. */
int wxs__config_load_buffer(wxs_config *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errlen);

#endif /* WXS_INTERNAL_H */
