/* server_options.c: the option table of wxsessiond (src/server/server_options.h): names, flags,
 * environment variables, defaults, bounds and help of the server's own options, and their checks.
 */
#include "server_options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* clang-format off */
#define OPT_INT(name, flag, env, field, def, lo, hi, help)                                        \
    WXS_OPTION_INT(server_options, field, name, flag, env, def, lo, hi, help)
#define OPT_BOOL(name, flag, env, field, def, help)                                               \
    WXS_OPTION_BOOL(server_options, field, name, flag, env, def, help)
#define OPT_STR(name, flag, env, field, def, check, help)                                         \
    WXS_OPTION_STRING(server_options, field, name, flag, env, def, check, help)
#define OPT_ENUM(name, flag, env, field, def, choices, help)                                      \
    WXS_OPTION_ENUM(server_options, field, name, flag, env, def, choices, help)
/* clang-format on */

static int check_listen(const char *value, char *why, size_t whylen)
{
    unsigned char addr[16];
    if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
        return 0;
    snprintf(why, whylen, "not an IPv4 or IPv6 address literal");
    return -1;
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
    const char *reason = NULL;
    if (*p != '/')
        reason = "must start with '/' (e.g. /applet)";
    while (reason == NULL && *p == '/') {
        const char *seg = ++p;
        while (is_path_char((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - seg);
        if (n == 0)
            reason = "must be /segment[/segment...], no empty segments";
        else if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            reason = "must not contain '.' or '..' segments";
    }
    if (reason == NULL && *p != '\0')
        reason = "may hold only '/' and the characters A-Z a-z 0-9 . _ ~ -";
    if (reason == NULL)
        return 0;
    snprintf(why, whylen, "%s", reason);
    return -1;
}

/* gateway.authPath: "" (off) or a path as routeBasePath's. */
static int check_gateway_path(const char *value, char *why, size_t whylen)
{
    return value[0] == '\0' ? 0 : check_route_base(value, why, whylen);
}

static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_choices[] = {"text", "json", NULL};

static const wxs_option options[] = {
    OPT_INT("port", "port", "WXS_PORT", port, 5757, 0, 65535,
            "TCP port to listen on; 0 picks a free port"),
    OPT_STR("listen", "listen", "WXS_LISTEN", listen, "127.0.0.1", check_listen,
            "Address to bind: an IPv4 or IPv6 literal"),
    OPT_STR("routeBasePath", "route-base-path", "WXS_ROUTE_BASE_PATH", route_base, "/applet",
            check_route_base,
            "Path prefix of every route: /segment[/segment...] of A-Z a-z 0-9 . _ ~ -"),
    OPT_STR("gateway.authPath", "gateway-auth-path", "WXS_GATEWAY_AUTH_PATH", gateway_path,
            "/__auth", check_gateway_path,
            "Path of the nginx auth_request endpoint (docs/gateway.md), outside routeBasePath; "
            "\"\": off"),
    OPT_INT("workers", "workers", "WXS_WORKERS", workers, 0, 0, 64,
            "Worker threads, one event loop each; 0 means one per CPU core"),
    OPT_INT("limits.headerBytes", "limits-header-bytes", "WXS_LIMITS_HEADER_BYTES", header_bytes,
            16384, 1024, 1048576, "Largest request header block, in bytes"),
    OPT_INT("limits.bodyBytes", "limits-body-bytes", "WXS_LIMITS_BODY_BYTES", body_bytes, 1048576,
            1024, 67108864, "Largest request body, in bytes"),
    OPT_INT("limits.connections", "limits-connections", "WXS_LIMITS_CONNECTIONS", connections,
            10000, 1, 1000000, "Open connections per worker"),
    OPT_INT("limits.queuedBytes", "limits-queued-bytes", "WXS_LIMITS_QUEUED_BYTES", queued_bytes,
            67108864, 1048576, 4294967296LL,
            "Answers waiting on clients that do not read them, per worker, in bytes"),
    OPT_INT("limits.loginsPerMinute", "limits-logins-per-minute", "WXS_LIMITS_LOGINS_PER_MINUTE",
            logins_per_minute, 60, 1, 1000000,
            "Logins (code exchanges) per client address per minute; past it: 429"),
    OPT_INT("limits.loginBurst", "limits-login-burst", "WXS_LIMITS_LOGIN_BURST", login_burst, 20, 1,
            1000000, "Logins a client address may make at once before loginsPerMinute applies"),
    OPT_BOOL("trustForwardedFor", "trust-forwarded-for", "WXS_TRUST_FORWARDED_FOR", trust_forwarded,
             0, "Take the client address from X-Forwarded-For's last entry (behind nginx only)"),
    OPT_BOOL("reusePort", "reuse-port", "WXS_REUSE_PORT", reuse_port, 0,
             "Share the port with another process already listening on it (zero-downtime "
             "restarts); off: a taken port stops start-up"),
    OPT_INT("timeouts.headerMs", "timeouts-header-ms", "WXS_TIMEOUTS_HEADER_MS", header_timeout_ms,
            10000, 100, 600000, "Time allowed to send a request's headers, in milliseconds"),
    OPT_INT("timeouts.bodyMs", "timeouts-body-ms", "WXS_TIMEOUTS_BODY_MS", body_timeout_ms, 30000,
            100, 600000,
            "Time allowed to send a request's body after its headers, in milliseconds"),
    OPT_INT("timeouts.idleMs", "timeouts-idle-ms", "WXS_TIMEOUTS_IDLE_MS", idle_timeout_ms, 60000,
            100, 3600000, "Idle keep-alive connection timeout, in milliseconds"),
    OPT_INT("timeouts.shutdownMs", "timeouts-shutdown-ms", "WXS_TIMEOUTS_SHUTDOWN_MS",
            shutdown_timeout_ms, 10000, 0, 600000,
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
    OPT_BOOL("log.access", "log-access", "WXS_LOG_ACCESS", log_access, 0,
             "One access line per answered request (info level) and X-Request-Id on every answer"),
    OPT_BOOL("log.audit", "log-audit", "WXS_LOG_AUDIT", log_audit, 1,
             "One audit line per login and its result (info level; the openId hashed)"),
    OPT_INT("metrics.port", "metrics-port", "WXS_METRICS_PORT", metrics_port, 0, 0, 65535,
            "Port of the Prometheus /metrics listener, separate from the service's; 0: off"),
    OPT_STR("metrics.listen", "metrics-listen", "WXS_METRICS_LISTEN", metrics_listen, "127.0.0.1",
            check_listen,
            "Address of the /metrics listener (keep it private: loopback by default)"),
    WXS_OPTION_SECRET(server_options, access_token_secret, "accessToken.sharedSecret",
                      "access-token-shared-secret", "WXS_ACCESS_TOKEN_SHARED_SECRET",
                      "Secret other services send (Authorization: Bearer) to GET /access-token "
                      "on the metrics listener; unset: that endpoint is off"),
};

/* 1 when path is prefix itself or lies below it (prefix + "/..."). */
static int path_within(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* gateway.authPath must not hide or be hidden by another route: routeBasePath's routes, the
 * simulator's /__wxsim, the health probes. Its answers carry appId in a header: visible ASCII
 * only. 0, or WXS_ECONFIG with the reason in err. */
static int validate_gateway(const server_options *o, const wxs_config *cfg, char *err,
                            size_t errlen)
{
    static const char *const taken[] = {"/__wxsim", "/livez", "/readyz", "/healthz"};
    const char *path = o->gateway_path, *app_id = wxs_config_get_str(cfg, "appId");
    if (path == NULL || path[0] == '\0')
        return 0;
    if (path_within(path, o->route_base)) {
        snprintf(err, errlen, "gateway.authPath must lie outside routeBasePath (%s)",
                 o->route_base);
        return WXS_ECONFIG;
    }
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        if (path_within(path, taken[i])) {
            snprintf(err, errlen, "gateway.authPath must not be %s or lie below it", taken[i]);
            return WXS_ECONFIG;
        }
    }
    for (const char *p = app_id != NULL ? app_id : ""; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~') {
            snprintf(err, errlen,
                     "appId may hold only visible ASCII (the gateway sends it in "
                     "X-WX-AppId)");
            return WXS_ECONFIG;
        }
    }
    return 0;
}

/* appId and appSecret are needed to reach WeChat, not to talk to the simulator. */
static int validate(const void *fields, const wxs_config *cfg, char *err, size_t errlen)
{
    const server_options *o = fields;
    const char *missing = NULL;
    int rc = validate_gateway(o, cfg, err, errlen);
    if (rc < 0 || o->simulator)
        return rc;
    if (wxs_config_get_str(cfg, "appId")[0] == '\0')
        missing = "appId";
    else if (wxs_config_get_str(cfg, "appSecret")[0] == '\0')
        missing = "appSecret";
    if (missing == NULL)
        return 0;
    snprintf(err, errlen, "%s is required (or run with --dev)", missing);
    return WXS_ECONFIG;
}

const wxs_option_table server_option_table = {
    .title = "Server (wxsessiond)",
    .options = options,
    .count = sizeof options / sizeof options[0],
    .validate = validate,
};
