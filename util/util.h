/* util.h: the private base that libwxsession and the in-tree programs (wxsessiond, the One Stroke
 * app) build on: the replaceable allocator, bounded buffers, the log sink, hashing. Compiled into
 * libwxsession; never installed, not API (its names are wxs__*, hidden from the shared library). */
#ifndef WXS_UTIL_H
#define WXS_UTIL_H

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

/* ---- JSON text (util/json.c) */
/** 1 when the JSON text s[0..n) nests objects/arrays at most max_depth deep (brackets inside
 *  strings skipped), else 0. Pure; no parse: a cheap guard before a recursive parser. */
int wxs__json_depth_ok(const char *s, size_t n, int max_depth);

/* ---- logging (util/log.c) */
void wxs__log(wxs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define wxs__debug(...) wxs__log(WXS_LOG_DEBUG, __VA_ARGS__)
#define wxs__info(...) wxs__log(WXS_LOG_INFO, __VA_ARGS__)
#define wxs__warn(...) wxs__log(WXS_LOG_WARN, __VA_ARGS__)
#define wxs__error(...) wxs__log(WXS_LOG_ERROR, __VA_ARGS__)
/** One per log site of a repeated failure (a store down fails every op): at most one line a
 *  second. Zero-initialised; owned by one thread. */
typedef struct wxs__log_limit {
    uint64_t next_ms; /* monotonic ms before which lines are held back */
    unsigned held;    /* lines held back since the last one written */
} wxs__log_limit;
/** 1 when a line may be written now (then *held is how many were held back before it, to say
 *  in the line), else 0 and the line is counted as held back. */
int wxs__log_limit_take(wxs__log_limit *l, unsigned *held);
/** A short, non-reversible tag for a code or token, safe to log: first 8 hex of sha256. */
void wxs__log_tag(const char *s, size_t len, char out[9]);

/* ---- crypto (util/crypto.c, OpenSSL) */
void wxs__sha1_hex(const void *a, size_t alen, const void *b, size_t blen, char hex[41]);
void wxs__sha256_hex(const void *p, size_t len, char hex[65]);
/** 1 when equal, compared in constant time for equal lengths; 0 otherwise. */
int wxs__ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif /* WXS_UTIL_H */
