/* config.c: the one table of configuration options and what applies it: defaults, the JSON config
 * file, environment overrides, flags, validation and get. The same table drives dump, --help and
 * docs/config.md, printed by lib/config_print.c; config_impl.h holds what the two files share. */
#include "config_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_FILE_MAX 4096      /* a WXS_<NAME>_FILE's size */
#define CONFIG_FILE_MAX (1 << 20) /* the JSON config file's size */
#define NAME_MAX_LEN 64           /* an option's (dotted) name */
#define PREFIX_MAX 64             /* redis.prefix */

/* clang-format off */
/* Field offsets that fail to compile when the field's type does not match the option's type. */
#define LL_FIELD(f)                                                                               \
    (offsetof(struct wxs_config, f) +                                                             \
     0 * sizeof(_Generic(((struct wxs_config *)0)->f, long long: 1)))
#define STR_FIELD(f)                                                                              \
    (offsetof(struct wxs_config, f) + 0 * sizeof(_Generic(((struct wxs_config *)0)->f, char *: 1)))

#define OPT_INT(name, flag, env, field, def, lo, hi, help)                                        \
    {name, flag, env, T_INT, LL_FIELD(field), def, lo, hi, NULL, NULL, NULL, help}
#define OPT_BOOL(name, flag, env, field, def, help)                                               \
    {name, flag, env, T_BOOL, LL_FIELD(field), def, 0, 1, NULL, NULL, NULL, help}
#define OPT_STR(name, flag, env, field, def, check, help)                                         \
    {name, flag, env, T_STRING, STR_FIELD(field), 0, 0, 0, def, NULL, check, help}
#define OPT_SECRET(name, flag, env, field, help)                                                  \
    {name, flag, env, T_SECRET, STR_FIELD(field), 0, 0, 0, "", NULL, NULL, help}
#define OPT_ENUM(name, flag, env, field, def, choices, help)                                      \
    {name, flag, env, T_ENUM, STR_FIELD(field), 0, 0, 0, def, choices, NULL, help}

/* clang-format on */

static int check_listen(const char *value, char *why, size_t whylen);
static int check_route_base(const char *value, char *why, size_t whylen);
static int check_prefix(const char *value, char *why, size_t whylen);
static int check_api_base(const char *value, char *why, size_t whylen);
static int check_nonempty(const char *value, char *why, size_t whylen);

static const char *const store_choices[] = {"sqlite", "redis", NULL};
static const char *const paint_store_choices[] = {"sqlite", "mongodb", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_choices[] = {"text", "json", NULL};

/* The table. Options of one group ("redis.") stay together: dump (lib/config_print.c) writes one
 * object per group. */
static const config_option options[] = {
    OPT_INT("port", "port", "WXS_PORT", port, 5757, 0, 65535,
            "TCP port to listen on; 0 picks a free port"),
    OPT_STR("listen", "listen", "WXS_LISTEN", listen, "127.0.0.1", check_listen,
            "Address to bind: an IPv4 or IPv6 literal"),
    OPT_STR("routeBasePath", "route-base-path", "WXS_ROUTE_BASE_PATH", route_base, "/applet",
            check_route_base,
            "Path prefix of every route: /segment[/segment...] of A-Z a-z 0-9 . _ ~ -"),
    OPT_STR("appId", "app-id", "WXS_APP_ID", app_id, "", NULL,
            "Mini program AppID (required unless the simulator is on)"),
    OPT_SECRET("appSecret", "app-secret", "WXS_APP_SECRET", app_secret,
               "Mini program AppSecret (required unless the simulator is on)"),
    OPT_INT("workers", "workers", "WXS_WORKERS", workers, 0, 0, 64,
            "Worker threads, one event loop each; 0 means one per CPU core"),
    OPT_ENUM("store", "store", "WXS_STORE", store, "sqlite", store_choices, "Session store"),
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
    OPT_INT("redis.ttl", "redis-ttl", "WXS_REDIS_TTL", session_ttl, 7200, 1, 2592000,
            "Session lifetime in seconds (every store)"),
    OPT_STR("redis.prefix", "redis-prefix", "WXS_REDIS_PREFIX", session_prefix,
            "weapp-session:", check_prefix,
            "Key prefix of session entries (every store); at most 64 bytes, no spaces"),
    OPT_ENUM("paints.store", "paints-store", "WXS_PAINTS_STORE", paint_store, "sqlite",
             paint_store_choices, "One Stroke drawing store (sqlite uses sqlite.path)"),
    OPT_INT("paints.maxActionsBytes", "paints-max-actions-bytes", "WXS_PAINTS_MAX_ACTIONS_BYTES",
            paint_max_actions_bytes, 524288, 1024, 16777216,
            "Largest `actions` of one drawing, in bytes"),
    OPT_INT("paints.maxPerUser", "paints-max-per-user", "WXS_PAINTS_MAX_PER_USER",
            paint_max_per_user, 10000, 1, 100000000, "Drawings one user may keep"),
    OPT_INT("paints.pageSize", "paints-page-size", "WXS_PAINTS_PAGE_SIZE", paint_page_size, 20,
            1, 1000, "Drawings per list page when the request names no limit"),
    OPT_INT("paints.maxPageSize", "paints-max-page-size", "WXS_PAINTS_MAX_PAGE_SIZE",
            paint_max_page_size, 100, 1, 1000, "Largest list page a request may ask for"),
    OPT_SECRET("mongo.uri", "mongo-uri", "WXS_MONGO_URI", mongo_uri,
               "MongoDB connection URI; overrides the other mongo options"),
    OPT_STR("mongo.username", "mongo-username", "WXS_MONGO_USERNAME", mongo_username, "", NULL,
            "MongoDB user name"),
    OPT_SECRET("mongo.password", "mongo-password", "WXS_MONGO_PASSWORD", mongo_password,
               "MongoDB password"),
    OPT_STR("mongo.host", "mongo-host", "WXS_MONGO_HOST", mongo_host, "127.0.0.1", NULL,
            "MongoDB host"),
    OPT_INT("mongo.port", "mongo-port", "WXS_MONGO_PORT", mongo_port, 27017, 1, 65535,
            "MongoDB port"),
    OPT_STR("mongo.query", "mongo-query", "WXS_MONGO_QUERY", mongo_query, "", NULL,
            "MongoDB URI query string, e.g. authSource=admin"),
    OPT_STR("mongo.database", "mongo-database", "WXS_MONGO_DATABASE", mongo_database, "weapp", NULL,
            "MongoDB database"),
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
    OPT_INT("limits.headerBytes", "limits-header-bytes", "WXS_LIMITS_HEADER_BYTES",
            limit_header_bytes, 16384, 1024, 1048576, "Largest request header block, in bytes"),
    OPT_INT("limits.rawDataBytes", "limits-raw-data-bytes", "WXS_LIMITS_RAW_DATA_BYTES",
            limit_raw_data_bytes, 8192, 256, 65536,
            "Largest decoded X-WX-RawData header, in bytes"),
    OPT_INT("limits.bodyBytes", "limits-body-bytes", "WXS_LIMITS_BODY_BYTES", limit_body_bytes,
            1048576, 1024, 67108864, "Largest request body, in bytes"),
    OPT_INT("limits.jsonDepth", "limits-json-depth", "WXS_LIMITS_JSON_DEPTH", limit_json_depth, 64,
            1, 1024, "Deepest nesting accepted in request JSON"),
    OPT_INT("limits.connections", "limits-connections", "WXS_LIMITS_CONNECTIONS", limit_connections,
            10000, 1, 1000000, "Open connections per worker"),
    OPT_INT("limits.codeBytes", "limits-code-bytes", "WXS_LIMITS_CODE_BYTES", limit_code_bytes, 256,
            16, 1024, "Longest X-WX-Code header, in bytes"),
    OPT_INT("timeouts.headerMs", "timeouts-header-ms", "WXS_TIMEOUTS_HEADER_MS", timeout_header_ms,
            10000, 100, 600000, "Time allowed to send a request's headers, in milliseconds"),
    OPT_INT("timeouts.bodyMs", "timeouts-body-ms", "WXS_TIMEOUTS_BODY_MS", timeout_body_ms, 30000,
            100, 600000,
            "Time allowed to send a request's body after its headers, in milliseconds"),
    OPT_INT("timeouts.idleMs", "timeouts-idle-ms", "WXS_TIMEOUTS_IDLE_MS", timeout_idle_ms, 60000,
            100, 3600000, "Idle keep-alive connection timeout, in milliseconds"),
    OPT_INT("timeouts.shutdownMs", "timeouts-shutdown-ms", "WXS_TIMEOUTS_SHUTDOWN_MS",
            timeout_shutdown_ms, 10000, 0, 600000,
            "Grace period for in-flight requests at shutdown, in milliseconds"),
    OPT_BOOL("simulator.enabled", "simulator-enabled", "WXS_SIMULATOR_ENABLED", simulator, 0,
             "Serve the WeChat API simulator and use it instead of WeChat (--dev)"),
    OPT_INT("simulator.latencyMs", "simulator-latency-ms", "WXS_SIMULATOR_LATENCY_MS",
            sim_latency_ms, 0, 0, 600000,
            "Simulator: delay before each jscode2session reply, in milliseconds"),
    OPT_INT("simulator.quotaPerMinute", "simulator-quota-per-minute",
            "WXS_SIMULATOR_QUOTA_PER_MINUTE", sim_quota_per_minute, 100, 1, 1000000,
            "Simulator: code exchanges per user per minute before error 45011"),
    OPT_ENUM("log.level", "log-level", "WXS_LOG_LEVEL", log_level, "info", level_choices,
             "Lowest log level written"),
    OPT_ENUM("log.format", "log-format", "WXS_LOG_FORMAT", log_format, "text", format_choices,
             "Log line format"),
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* The table as lib/config_print.c sees it (config_impl.h). */
const config_option *const wxs__config_options = options;
const size_t wxs__config_option_count = N_OPTIONS;

/* ------------------------------------------------------------------ helpers */

/* Write a formatted reason into err (when there is room) and return rc. Control bytes (a quoted
 * key or value may hold them) become '?', so the reason stays one printable line. */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *p = err; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
    }
    return rc;
}

static int is_string_type(opt_type t)
{
    return t == T_STRING || t == T_ENUM || t == T_SECRET;
}

/* Free a string value; secrets are wiped first so they do not linger in freed memory. */
static void free_value(const config_option *o, char *s)
{
    if (s != NULL && o->type == T_SECRET)
        explicit_bzero(s, strlen(s));
    wxs__free(s);
}

/* The option called name, or whose flag (without dashes) is name; NULL when there is none. */
static const config_option *find_option(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].name, name) == 0 || strcmp(options[i].flag, name) == 0)
            return &options[i];
    }
    return NULL;
}

/* 1 when some option's name starts with "<path>.", i.e. path names a nested object. */
static int is_group(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strncmp(options[i].name, path, n) == 0 && options[i].name[n] == '.')
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ format checks */

static int check_listen(const char *value, char *why, size_t whylen)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
        return 0;
    return fail(why, whylen, -1, "not an IPv4 or IPv6 address literal");
}

static int is_path_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '-';
}

/* routeBasePath: one or more "/segment" of [A-Za-z0-9._~-], no "." or ".." segments. */
static int check_route_base(const char *value, char *why, size_t whylen)
{
    const char *p = value;
    if (*p != '/')
        return fail(why, whylen, -1, "must start with '/' (e.g. /applet)");
    while (*p == '/') {
        const char *seg = ++p;
        while (is_path_char((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - seg);
        if (n == 0)
            return fail(why, whylen, -1, "must be /segment[/segment...], no empty segments");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return fail(why, whylen, -1, "must not contain '.' or '..' segments");
    }
    if (*p != '\0')
        return fail(why, whylen, -1, "may hold only '/' and the characters A-Z a-z 0-9 . _ ~ -");
    return 0;
}

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
    if (strlen(value) > PREFIX_MAX)
        return fail(why, whylen, -1, "longer than %d bytes", PREFIX_MAX);
    if (has_space_or_control(value))
        return fail(why, whylen, -1, "must not contain spaces or control characters");
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
        return fail(why, whylen, -1, "must be an http:// or https:// URL with a host");
    if (has_space_or_control(value))
        return fail(why, whylen, -1, "must not contain spaces or control characters");
    if (value[strlen(value) - 1] == '/')
        return fail(why, whylen, -1, "must not end with '/'");
    return 0;
}

static int check_nonempty(const char *value, char *why, size_t whylen)
{
    return *value == '\0' ? fail(why, whylen, -1, "must not be empty") : 0;
}

/* ------------------------------------------------------------------ setting values */

static int check_int(const config_option *o, long long v, char *err, size_t errlen)
{
    if (v < o->min || v > o->max)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': %lld is out of range [%lld, %lld]",
                    o->name, v, o->min, o->max);
    return 0;
}

static int set_int(wxs_config *cfg, const config_option *o, long long v, char *err, size_t errlen)
{
    int rc = check_int(o, v, err, errlen);
    if (rc == 0)
        *int_field(cfg, o) = v;
    return rc;
}

/* Check value (len bytes, NUL-free) against the option's rules without storing it. The reason
 * quotes the value only for options that are not secrets. */
static int check_string(const config_option *o, const char *value, size_t len, char *err,
                        size_t errlen)
{
    if (len > STRING_MAX)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': value is longer than %d bytes", o->name,
                    STRING_MAX);
    if (o->type == T_ENUM) {
        for (const char *const *c = o->choices; *c != NULL; c++) {
            if (strcmp(*c, value) == 0)
                return 0;
        }
        char list[128] = "";
        for (const char *const *c = o->choices; *c != NULL; c++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *c);
        }
        return fail(err, errlen, WXS_ECONFIG, "option '%s': '%.64s' is not one of %s", o->name,
                    value, list);
    }
    char why[160];
    if (o->check != NULL && o->check(value, why, sizeof why) < 0)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': %s", o->name, why);
    return 0;
}

static int set_string(wxs_config *cfg, const config_option *o, const char *value, size_t len,
                      char *err, size_t errlen)
{
    if (memchr(value, '\0', len) != NULL)
        return fail(err, errlen, WXS_ECONFIG, "option '%s': value contains a NUL byte", o->name);
    int rc = check_string(o, value, len, err, errlen);
    if (rc < 0)
        return rc;
    char *copy = wxs__strndup(value, len);
    if (copy == NULL)
        return fail(err, errlen, WXS_ENOMEM, "out of memory");
    char **field = str_field(cfg, o);
    free_value(o, *field);
    *field = copy;
    return 0;
}

/* Strict decimal: optional '-', digits only, no spaces or junk. 0, -1 (not a number) or
 * -2 (does not fit in a long long). */
static int parse_int(const char *text, long long *out)
{
    const char *p = text[0] == '-' ? text + 1 : text;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q != '\0'; q++) {
        if (*q < '0' || *q > '9')
            return -1;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

static int parse_bool(const char *text, long long *out)
{
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Set o from text, as a flag or environment variable gives it. */
static int set_text(wxs_config *cfg, const config_option *o, const char *text, char *err,
                    size_t errlen)
{
    long long v = 0;
    int prc;
    switch (o->type) {
    case T_INT:
        prc = parse_int(text, &v);
        if (prc == -2)
            return fail(err, errlen, WXS_ECONFIG,
                        "option '%s': '%.32s' is out of range [%lld, %lld]", o->name, text, o->min,
                        o->max);
        if (prc < 0)
            return fail(err, errlen, WXS_ECONFIG, "option '%s': '%.32s' is not an integer", o->name,
                        text);
        return set_int(cfg, o, v, err, errlen);
    case T_BOOL:
        if (parse_bool(text, &v) < 0)
            return fail(err, errlen, WXS_ECONFIG,
                        "option '%s': '%.32s' is not a boolean (true/false/1/0/yes/no)", o->name,
                        text);
        *int_field(cfg, o) = v;
        return 0;
    default:
        return set_string(cfg, o, text, strlen(text), err, errlen);
    }
}

static const char *json_type_name(const json_t *v)
{
    /* indexed by json_type: OBJECT, ARRAY, STRING, INTEGER, REAL, TRUE, FALSE, NULL */
    static const char *const names[] = {"object", "array",   "string",  "integer",
                                        "real",   "boolean", "boolean", "null"};
    unsigned t = (unsigned)json_typeof(v);
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Set o from a JSON value of the config file; the JSON type must match the option's. */
static int set_json(wxs_config *cfg, const config_option *o, const json_t *v, char *err,
                    size_t errlen)
{
    const char *want = NULL;
    if (o->type == T_INT && json_is_integer(v))
        return set_int(cfg, o, json_integer_value(v), err, errlen);
    if (o->type == T_BOOL && json_is_boolean(v)) {
        *int_field(cfg, o) = json_is_true(v);
        return 0;
    }
    if (is_string_type(o->type) && json_is_string(v))
        return set_string(cfg, o, json_string_value(v), json_string_length(v), err, errlen);
    if (o->type == T_INT)
        want = "an integer";
    else if (o->type == T_BOOL)
        want = "a boolean";
    else
        want = "a string";
    return fail(err, errlen, WXS_ECONFIG, "option '%s': expected %s, got %s", o->name, want,
                json_type_name(v));
}

/* ------------------------------------------------------------------ lifecycle */

/* A config holding src's values, or every default when src is NULL; NULL when out of memory. */
static wxs_config *config_alloc(const wxs_config *src)
{
    wxs_config *cfg = wxs__calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const config_option *o = &options[i];
        if (!is_string_type(o->type)) {
            *int_field(cfg, o) = src != NULL ? *int_field(src, o) : o->def_int;
            continue;
        }
        char *s = wxs__strdup(src != NULL ? *str_field(src, o) : o->def_str);
        if (s == NULL) {
            wxs_config_free(cfg);
            return NULL;
        }
        *str_field(cfg, o) = s;
    }
    return cfg;
}

wxs_config *wxs_config_new(void)
{
    return config_alloc(NULL);
}

void wxs_config_free(wxs_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (is_string_type(options[i].type))
            free_value(&options[i], *str_field(cfg, &options[i]));
    }
    wxs__free(cfg);
}

/* Move next's values into cfg and free cfg's old ones (and next). */
static void config_replace(wxs_config *cfg, wxs_config *next)
{
    struct wxs_config old = *cfg;
    *cfg = *next;
    *next = old;
    wxs_config_free(next);
}

/* ------------------------------------------------------------------ config file */

/* Apply every member of obj, whose dotted path is prefix ("" at the top). */
static int load_object(wxs_config *cfg, const json_t *obj, const char *prefix, char *err,
                       size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        char path[NAME_MAX_LEN + 1];
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        int fits = n >= 0 && (size_t)n < sizeof path;
        const config_option *o = fits ? find_option(path) : NULL;
        int rc;
        if (o != NULL && strcmp(o->name, path) == 0) /* flag names are not file keys */
            rc = set_json(cfg, o, value, err, errlen);
        else if (fits && is_group(path) && json_is_object(value))
            rc = load_object(cfg, value, path, err, errlen);
        else if (fits && is_group(path))
            rc = fail(err, errlen, WXS_ECONFIG, "option '%s': expected an object, got %s", path,
                      json_type_name(value));
        else
            rc = fail(err, errlen, WXS_ECONFIG, "unknown option '%s%s%.64s'", prefix,
                      *prefix ? "." : "", key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Initialise b and read at most max bytes of path into it: 0, WXS_EIO, WXS_ENOMEM or WXS_ETOOBIG
 * (reason in err). The caller frees b in every case. */
static int read_file(const char *path, wxs__buf *b, size_t max, char *err, size_t errlen)
{
    int rc = 0;
    wxs__buf_init(b, max);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(err, errlen, WXS_EIO, "%s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    do {
        n = fread(chunk, 1, sizeof chunk, f);
        rc = wxs__buf_add(b, chunk, n);
    } while (rc == 0 && n == sizeof chunk);
    explicit_bzero(chunk, sizeof chunk);
    if (rc == WXS_ETOOBIG)
        rc = fail(err, errlen, WXS_ETOOBIG, "%s: larger than %zu bytes", path, max);
    else if (rc < 0)
        rc = fail(err, errlen, rc, "out of memory");
    else if (ferror(f))
        rc = fail(err, errlen, WXS_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

/* Wipe and free a buffer that may hold secrets. */
static void buf_wipe(wxs__buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    wxs__buf_free(b);
}

/* Jansson's reason without the parts that may quote a secret: its " near '<token>'" tail and
 * the escapes of "invalid Unicode '\uD800\u0041'". */
static void json_reason(const json_error_t *jerr, char *out, size_t outlen)
{
    if (strncmp(jerr->text, "invalid Unicode", 15) == 0) {
        snprintf(out, outlen, "invalid Unicode escape");
        return;
    }
    snprintf(out, outlen, "%s", jerr->text);
    char *near = strstr(out, " near ");
    if (near != NULL)
        *near = '\0';
}

int wxs_config_load_file(wxs_config *cfg, const char *path, char *err, size_t errlen)
{
    int rc = 0;
    wxs__buf text;

    if (cfg == NULL || path == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    rc = read_file(path, &text, CONFIG_FILE_MAX, err, errlen);
    if (rc == WXS_ETOOBIG)
        rc = WXS_ECONFIG; /* the reason says "larger than" */
    if (rc == 0)
        rc = wxs__config_load_buffer(cfg, text.data ? text.data : "", text.len, path, err,
                                     errlen);
    buf_wipe(&text);
    return rc;
}

/* ------------------------------------------------------------------ environment */

/* Set secret o from the file named by <env>_FILE: at most SECRET_FILE_MAX bytes, trailing
 * newlines ("\n" or "\r\n") removed. */
static int set_from_file(wxs_config *cfg, const config_option *o, const char *file_env,
                         const char *path, char *err, size_t errlen)
{
    wxs__buf text;
    char why[256];
    int rc = read_file(path, &text, SECRET_FILE_MAX, why, sizeof why);
    if (rc < 0) {
        rc = fail(err, errlen, rc == WXS_ENOMEM ? rc : WXS_ECONFIG, "%s: %s", file_env, why);
        goto out;
    }
    size_t len = text.len;
    while (len > 0 && (text.data[len - 1] == '\n' || text.data[len - 1] == '\r'))
        len--;
    rc = set_string(cfg, o, len ? text.data : "", len, err, errlen);
out:
    buf_wipe(&text);
    return rc;
}

/* Apply o's environment variable (and <env>_FILE for secrets) when set. */
static int load_env_option(wxs_config *cfg, const config_option *o, char *err, size_t errlen)
{
    char why[256];
    int rc = 0;
    const char *text = getenv(o->env);
    if (o->type == T_SECRET) {
        char file_env[NAME_MAX_LEN + 8];
        snprintf(file_env, sizeof file_env, "%s_FILE", o->env);
        const char *path = getenv(file_env);
        if (path != NULL && text != NULL)
            return fail(err, errlen, WXS_ECONFIG, "both %s and %s are set; use one", o->env,
                        file_env);
        if (path != NULL)
            return set_from_file(cfg, o, file_env, path, err, errlen);
    }
    if (text == NULL)
        return 0;
    rc = set_text(cfg, o, text, why, sizeof why);
    if (rc < 0)
        return fail(err, errlen, rc, "%s: %s", o->env, why);
    return 0;
}

int wxs_config_load_env(wxs_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    if (cfg == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    wxs_config *next = config_alloc(cfg);
    if (next == NULL)
        return fail(err, errlen, WXS_ENOMEM, "out of memory");
    for (size_t i = 0; i < N_OPTIONS && rc == 0; i++)
        rc = load_env_option(next, &options[i], err, errlen);
    if (rc < 0) {
        wxs_config_free(next);
        return rc;
    }
    config_replace(cfg, next);
    return 0;
}

/* ------------------------------------------------------------------ set, get, validate */

int wxs_config_set(wxs_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    if (cfg == NULL || name == NULL || value == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    const config_option *o = find_option(name);
    if (o == NULL)
        return fail(err, errlen, WXS_ECONFIG, "unknown option '%.64s'", name);
    return set_text(cfg, o, value, err, errlen);
}

/* Re-check o's current value against its type's rules (the table's defaults included). */
static int check_current(const wxs_config *cfg, const config_option *o, char *err, size_t errlen)
{
    if (is_string_type(o->type)) {
        const char *s = *str_field(cfg, o);
        return check_string(o, s, strlen(s), err, errlen);
    }
    return check_int(o, *int_field(cfg, o), err, errlen);
}

int wxs_config_validate(const wxs_config *cfg, char *err, size_t errlen)
{
    if (cfg == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        int rc = check_current(cfg, &options[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    if (!cfg->simulator && cfg->app_id[0] == '\0')
        return fail(err, errlen, WXS_ECONFIG, "appId is required (or run with --dev)");
    if (!cfg->simulator && cfg->app_secret[0] == '\0')
        return fail(err, errlen, WXS_ECONFIG, "appSecret is required (or run with --dev)");
    if (cfg->paint_page_size > cfg->paint_max_page_size)
        return fail(err, errlen, WXS_ECONFIG,
                    "option 'paints.pageSize' must not exceed 'paints.maxPageSize'");
    if (cfg->paint_max_actions_bytes > cfg->limit_body_bytes)
        return fail(err, errlen, WXS_ECONFIG,
                    "option 'paints.maxActionsBytes' must not exceed 'limits.bodyBytes'");
    return 0;
}

const char *wxs_config_get_str(const wxs_config *cfg, const char *name)
{
    const config_option *o = cfg != NULL && name != NULL ? find_option(name) : NULL;
    if (o == NULL || !is_string_type(o->type))
        return NULL;
    return *str_field(cfg, o);
}

long long wxs_config_get_int(const wxs_config *cfg, const char *name)
{
    const config_option *o = cfg != NULL && name != NULL ? find_option(name) : NULL;
    if (o == NULL || is_string_type(o->type))
        return 0;
    return *int_field(cfg, o);
}

/* ------------------------------------------------------------------ config text */

/* Merge the JSON config text[0..len) into cfg, all or nothing; name stands for the text in
 * reasons (the file's path). Returns 0, WXS_ECONFIG (text over 1 MiB, not JSON, not an object,
 * a bad option), WXS_ENOMEM or WXS_EINVAL, with a one-line reason in err that never quotes a
 * secret's value. */
int wxs__config_load_buffer(wxs_config *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errlen)
{
    int rc = 0;
    json_t *root = NULL;
    wxs_config *next = NULL;
    json_error_t jerr;
    char why[256];

    if (cfg == NULL || text == NULL || name == NULL)
        return fail(err, errlen, WXS_EINVAL, "invalid argument");
    if (len > CONFIG_FILE_MAX)
        return fail(err, errlen, WXS_ECONFIG, "%s: larger than %d bytes", name, CONFIG_FILE_MAX);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory) {
        rc = fail(err, errlen, WXS_ENOMEM, "out of memory");
        goto out;
    }
    if (root == NULL) {
        json_reason(&jerr, why, sizeof why);
        rc = fail(err, errlen, WXS_ECONFIG, "%s: line %d, column %d: %s", name, jerr.line,
                  jerr.column, why);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = fail(err, errlen, WXS_ECONFIG, "%s: the top level must be a JSON object", name);
        goto out;
    }
    next = config_alloc(cfg);
    if (next == NULL) {
        rc = fail(err, errlen, WXS_ENOMEM, "out of memory");
        goto out;
    }
    rc = load_object(next, root, "", why, sizeof why);
    if (rc < 0) {
        rc = fail(err, errlen, rc, "%s: %s", name, why);
        goto out;
    }
    config_replace(cfg, next);
    next = NULL;
out:
    wxs_config_free(next);
    json_decref(root);
    return rc;
}
