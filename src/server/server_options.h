/* server_options.h: wxsessiond's own options (listener, workers, HTTP limits and timeouts,
 * simulator, log), registered with the library's configuration machinery beside the library's and
 * the One Stroke app's tables. The CLI registers the table too, to check a whole config. */
#ifndef WXS_SERVER_OPTIONS_H
#define WXS_SERVER_OPTIONS_H

#include "wxsession.h"

typedef struct server_options {
    long long port;
    char *listen;
    char *route_base;
    char *gateway_path; /* gateway.authPath: the nginx auth_request endpoint; "": off */
    long long workers;
    long long header_bytes;
    long long body_bytes;
    long long connections;  /* per worker */
    long long queued_bytes; /* per worker: answers waiting on clients that do not read */
    long long reuse_port;   /* bool: join a port other processes hold (zero-downtime restarts) */
    long long logins_per_minute; /* per client address: the login limiter's rate */
    long long login_burst;       /* ... and its bucket */
    long long trust_forwarded;   /* bool: the client address is X-Forwarded-For's last entry */
    long long header_timeout_ms;
    long long body_timeout_ms;
    long long idle_timeout_ms;
    long long shutdown_timeout_ms;
    long long simulator;            /* bool: serve the WeChat simulator routes */
    long long sim_latency_ms;       /* delay before each jscode2session reply */
    long long sim_quota_per_minute; /* 45011 past this many exchanges a minute per user */
    char *log_level;                /* debug|info|warn|error */
    char *log_format;               /* text|json */
    long long log_access;           /* bool: an access line per request, X-Request-Id */
    long long log_audit;            /* bool: an audit line per login */
    long long metrics_port;         /* the /metrics listener's port; 0: none */
    char *metrics_listen;           /* ... and its address */
    char *access_token_secret;      /* the internal /access-token's bearer secret; "": off */
} server_options;

/* The table; wxs_config_register(cfg, &server_option_table, &opts). Its validate requires appId
 * and appSecret unless the simulator is on. */
extern const wxs_option_table server_option_table;

#endif /* WXS_SERVER_OPTIONS_H */
