/* internal.h: helpers shared inside libwxsession (allocation, bounded buffers, logging) and
 * the typed configuration struct. Not installed; src/ never includes it. */
#ifndef WXS_INTERNAL_H
#define WXS_INTERNAL_H

#include "wxsession.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- allocation: every byte the library holds comes through these */
void *wxs__malloc(size_t size);
void *wxs__realloc(void *ptr, size_t size);
void *wxs__calloc(size_t count, size_t size);
void wxs__free(void *ptr);
/** NUL-terminated copy of len bytes of s; NULL when out of memory. */
char *wxs__strndup(const char *s, size_t len);
char *wxs__strdup(const char *s);

/* ---- bounded growable byte buffer (curl's dynbuf idea): never grows past max */
typedef struct wxs__buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
} wxs__buf;

void wxs__buf_init(wxs__buf *b, size_t max);
/** Append; WXS_ETOOBIG past max (buffer unchanged), WXS_ENOMEM. */
int wxs__buf_add(wxs__buf *b, const void *p, size_t n);
int wxs__buf_adds(wxs__buf *b, const char *s);
int wxs__buf_printf(wxs__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append s as the body of a JSON string (escaped, without the quotes). */
int wxs__buf_add_json_escaped(wxs__buf *b, const char *s, size_t n);
void wxs__buf_reset(wxs__buf *b); /* len = 0, keeps memory */
void wxs__buf_free(wxs__buf *b);
/** Hand the data over to the caller (who frees it with wxs__free); the buffer is emptied. */
char *wxs__buf_take(wxs__buf *b, size_t *len);

/* ---- logging (lib/log.c) */
void wxs__log(wxs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define wxs__debug(...) wxs__log(WXS_LOG_DEBUG, __VA_ARGS__)
#define wxs__info(...) wxs__log(WXS_LOG_INFO, __VA_ARGS__)
#define wxs__warn(...) wxs__log(WXS_LOG_WARN, __VA_ARGS__)
#define wxs__error(...) wxs__log(WXS_LOG_ERROR, __VA_ARGS__)
/** A short, non-reversible tag for a code or token, safe to log: first 8 hex of sha256. */
void wxs__log_tag(const char *s, size_t len, char out[9]);

/* ---- crypto (lib/crypto.c, OpenSSL) */
void wxs__sha1_hex(const void *a, size_t alen, const void *b, size_t blen, char hex[41]);
void wxs__sha256_hex(const void *p, size_t len, char hex[65]);
/** Fill buf with n bytes from the CSPRNG; 0 or WXS_EIO. */
int wxs__random(void *buf, size_t n);
/** 1 when equal, compared in constant time for equal lengths; 0 otherwise. */
int wxs__ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/** Standard base64 (with padding) of n bytes into out (room for 4*((n+2)/3)+1). */
void wxs__base64(const void *p, size_t n, char *out);

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
