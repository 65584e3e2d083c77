/* config_table.c: the library's own options (appId, appSecret, the session store, the WeChat
 * client, the protocol's limits): names, flags, environment variables, defaults, bounds, help
 * and format checks. The fields are those of struct wxs_config (lib/internal.h). */
#include "config_impl.h"
#include "redis_cluster.h"
#include "redis_sentinel.h"

#include <stdio.h>
#include <string.h>

static int reason(char *why, size_t whylen, const char *text)
{
    snprintf(why, whylen, "%s", text);
    return -1;
}

/* ---- format checks: 0, or -1 with a reason that never quotes the value */

/* 1 when s holds a space, a control character or DEL. */
static int has_space_or_control(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}

static int check_prefix(const char *value, char *why, size_t whylen)
{
    if (strlen(value) > 64)
        return reason(why, whylen, "longer than 64 bytes");
    if (has_space_or_control(value))
        return reason(why, whylen, "must not contain spaces or control characters");
    return 0;
}

static int check_api_base(const char *value, char *why, size_t whylen)
{
    const char *rest = NULL;
    if (strncmp(value, "http://", 7) == 0)
        rest = value + 7;
    else if (strncmp(value, "https://", 8) == 0)
        rest = value + 8;
    if (rest == NULL || *rest == '\0' || *rest == '/')
        return reason(why, whylen, "must be an http:// or https:// URL with a host");
    if (has_space_or_control(value))
        return reason(why, whylen, "must not contain spaces or control characters");
    if (value[strlen(value) - 1] == '/')
        return reason(why, whylen, "must not end with '/'");
    return 0;
}

static int check_nonempty(const char *value, char *why, size_t whylen)
{
    return *value == '\0' ? reason(why, whylen, "must not be empty") : 0;
}

/* redis.sentinels: empty, or a host:port list (lib/redis_addr.h) */
static int check_sentinels(const char *value, char *why, size_t whylen)
{
    return wxs__redis_addr_list_parse(value, NULL, 0, NULL, why, whylen);
}

/* redis.cluster: empty, or a host:port list (lib/redis_addr.h); spaces alone are not "empty" */
static int check_cluster_seeds(const char *value, char *why, size_t whylen)
{
    size_t n = 0;
    int rc = wxs__redis_addr_list_parse(value, NULL, 0, &n, why, whylen);
    if (rc == 0 && n == 0 && *value != '\0')
        rc = reason(why, whylen, "no seed node given");
    return rc;
}

/* clang-format off */
#define OPT_INT(name, flag, env, field, def, lo, hi, help)                                        \
    WXS_OPTION_INT(struct wxs_config, field, name, flag, env, def, lo, hi, help)
#define OPT_STR(name, flag, env, field, def, check, help)                                         \
    WXS_OPTION_STRING(struct wxs_config, field, name, flag, env, def, check, help)
#define OPT_SECRET(name, flag, env, field, help)                                                  \
    WXS_OPTION_SECRET(struct wxs_config, field, name, flag, env, help)
#define OPT_ENUM(name, flag, env, field, def, choices, help)                                      \
    WXS_OPTION_ENUM(struct wxs_config, field, name, flag, env, def, choices, help)
/* clang-format on */

static const char *const store_choices[] = {"sqlite", "redis", NULL};

/* The library's table: what the session layer itself uses. Options of one group ("redis.")
 * stay together. */
static const wxs_option options[] = {
    OPT_STR("appId", "app-id", "WXS_APP_ID", app_id, "", NULL,
            "Mini program AppID (required unless the simulator is on)"),
    OPT_SECRET("appSecret", "app-secret", "WXS_APP_SECRET", app_secret,
               "Mini program AppSecret (required unless the simulator is on)"),
    OPT_ENUM("store", "store", "WXS_STORE", store, "sqlite", store_choices, "Session store"),
    /* the seed's config file kept these under "redis": the old keys stay as aliases */
    {"session.ttl", "session-ttl", "WXS_SESSION_TTL", WXS_OPT_INT,
     WXS__FIELD(struct wxs_config, session_ttl, long long), 7200, 1, 2592000, NULL, NULL, NULL,
     "Session lifetime in seconds (every store)", "redis.ttl"},
    {"session.prefix", "session-prefix", "WXS_SESSION_PREFIX", WXS_OPT_STRING,
     WXS__FIELD(struct wxs_config, session_prefix, char *), 0, 0, 0, "weapp-session:", NULL,
     check_prefix, "Key prefix of session entries (every store); at most 64 bytes, no spaces",
     "redis.prefix"},
    /* token sessions (lib/token.c, docs/protocol.md "Token sessions") */
    OPT_INT("session.tokenIdleSeconds", "session-token-idle-seconds",
            "WXS_SESSION_TOKEN_IDLE_SECONDS", token_idle_s, 604800, 1, 31536000,
            "A token session ends after this many seconds without a request"),
    OPT_INT("session.tokenMaxSeconds", "session-token-max-seconds", "WXS_SESSION_TOKEN_MAX_SECONDS",
            token_max_s, 2592000, 1, 31536000,
            "A token session ends this many seconds after its login, however used"),
    OPT_INT("session.tokensPerUser", "session-tokens-per-user", "WXS_SESSION_TOKENS_PER_USER",
            tokens_per_user, 10, 1, 1000,
            "Live token sessions per user; a login past it ends the user's oldest one"),
    OPT_STR("sqlite.path", "sqlite-path", "WXS_SQLITE_PATH", sqlite_path, "wxsession.db",
            check_nonempty, "SQLite database file of the sqlite store"),
    OPT_STR("redis.host", "redis-host", "WXS_REDIS_HOST", redis_host, "127.0.0.1", check_nonempty,
            "Redis host"),
    OPT_INT("redis.port", "redis-port", "WXS_REDIS_PORT", redis_port, 6379, 1, 65535, "Redis port"),
    OPT_SECRET("redis.password", "redis-password", "WXS_REDIS_PASSWORD", redis_password,
               "Redis password; AUTH is sent only when it is set"),
    OPT_INT("redis.db", "redis-db", "WXS_REDIS_DB", redis_db, 0, 0, 15, "Redis database number"),
    OPT_INT("redis.timeoutMs", "redis-timeout-ms", "WXS_REDIS_TIMEOUT_MS", redis_timeout_ms, 1000,
            10, 60000, "Redis connect and command timeout, in milliseconds"),
    /* Redis Sentinel and WAIT (lib/redis_sentinel.c, lib/store_redis.c) */
    OPT_STR("redis.sentinels", "redis-sentinels", "WXS_REDIS_SENTINELS", redis_sentinels, "",
            check_sentinels,
            "Sentinels as host:port,host:port: find the primary through them (empty: redis.host)"),
    OPT_STR("redis.masterName", "redis-master-name", "WXS_REDIS_MASTER_NAME", redis_master_name,
            "mymaster", check_nonempty, "The master's name at the Sentinels"),
    OPT_SECRET("redis.sentinelPassword", "redis-sentinel-password", "WXS_REDIS_SENTINEL_PASSWORD",
               redis_sentinel_password, "Sentinel password; AUTH is sent only when it is set"),
    OPT_INT("redis.waitReplicas", "redis-wait-replicas", "WXS_REDIS_WAIT_REPLICAS",
            redis_wait_replicas, -1, -1, 16,
            "Replicas that must have a session write before it is acknowledged (WAIT); -1: 1 "
            "with Sentinel or Cluster, else 0 (off)"),
    OPT_INT("redis.waitTimeoutMs", "redis-wait-timeout-ms", "WXS_REDIS_WAIT_TIMEOUT_MS",
            redis_wait_timeout_ms, 500, 1, 60000,
            "WAIT's timeout, in milliseconds: fewer replicas by then fail the write (503)"),
    /* Redis Cluster (lib/redis_cluster.c, lib/store_redis_cluster.c) */
    OPT_STR("redis.cluster", "redis-cluster", "WXS_REDIS_CLUSTER", redis_cluster, "",
            check_cluster_seeds,
            "Redis Cluster seed nodes as host:port,host:port: store redis on a cluster (empty: "
            "not a cluster)"),
    OPT_STR("wechat.apiBase", "wechat-api-base", "WXS_WECHAT_API_BASE", wechat_api_base,
            "https://api.weixin.qq.com", check_api_base,
            "Base URL of the WeChat API (http:// or https://, no trailing slash)"),
    OPT_INT("wechat.timeoutMs", "wechat-timeout-ms", "WXS_WECHAT_TIMEOUT_MS", wechat_timeout_ms,
            3000, 100, 60000, "Whole code exchange timeout, in milliseconds"),
    OPT_INT("wechat.connectTimeoutMs", "wechat-connect-timeout-ms", "WXS_WECHAT_CONNECT_TIMEOUT_MS",
            wechat_connect_timeout_ms, 3000, 100, 60000,
            "Connect timeout to the WeChat API, in milliseconds"),
    OPT_INT("wechat.maxReplyBytes", "wechat-max-reply-bytes", "WXS_WECHAT_MAX_REPLY_BYTES",
            wechat_max_reply_bytes, 65536, 1024, 1048576,
            "Largest WeChat API reply body accepted, in bytes"),
    OPT_INT("accessToken.refreshAheadSeconds", "access-token-refresh-ahead-seconds",
            "WXS_ACCESS_TOKEN_REFRESH_AHEAD_SECONDS", access_token_ahead_s, 300, 1, 3600,
            "Renew the app's access_token in its last this many seconds (WeChat's stable_token "
            "hands out a new one in the last 300)"),
    OPT_INT("accessToken.leaseSeconds", "access-token-lease-seconds",
            "WXS_ACCESS_TOKEN_LEASE_SECONDS", access_token_lease_s, 15, 2, 600,
            "The access_token refresh lease: one holder fetches; a holder gone this long is "
            "replaced"),
    OPT_INT("limits.rawDataBytes", "limits-raw-data-bytes", "WXS_LIMITS_RAW_DATA_BYTES",
            limit_raw_data_bytes, 8192, 256, 65536,
            "Largest decoded X-WX-RawData header, in bytes"),
    OPT_INT("limits.jsonDepth", "limits-json-depth", "WXS_LIMITS_JSON_DEPTH", limit_json_depth, 64,
            1, 1024, "Deepest nesting accepted in request JSON"),
    OPT_INT("limits.codeBytes", "limits-code-bytes", "WXS_LIMITS_CODE_BYTES", limit_code_bytes, 256,
            16, 1024, "Longest X-WX-Code header, in bytes"),
};

#define N_OPTIONS (sizeof options / sizeof options[0])

const wxs_option_table wxs__config_library_table = {
    .title = "Session layer (libwxsession)",
    .options = options,
    .count = N_OPTIONS,
};
