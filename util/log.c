/* log.c: the library's log sink: text or JSON lines, level-filtered, thread-safe; the level and
 * format may change while other threads log (a program's reload). */
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static wxs_log_fn log_fn;
static void *log_arg;
static atomic_int log_min = WXS_LOG_INFO;
static atomic_int log_json;

static const char *level_name(wxs_log_level l)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    return (unsigned)l < 4 ? names[l] : "info";
}

void wxs_set_log(wxs_log_fn fn, void *arg, wxs_log_level min_level, int json)
{
    log_fn = fn;
    log_arg = arg;
    wxs_set_log_level(min_level, json);
}

void wxs_set_log_level(wxs_log_level min_level, int json)
{
    atomic_store(&log_min, (int)min_level);
    atomic_store(&log_json, json != 0);
}

/* "2026-12-06T22:14:50.123Z" into ts (32 bytes). */
static void timestamp(char ts[32])
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, 32 - n, ".%03ldZ", now.tv_nsec / 1000000);
}

/* Hand a finished line to the sink. */
static void emit(wxs_log_level level, const char *line)
{
    if (log_fn != NULL) {
        log_fn(log_arg, level, line);
        return;
    }
    fprintf(stderr, "%s\n", line); /* one fprintf: stdio locks the stream */
}

/* The line's head into b: JSON up to and including the message's closing quote, or text up to
 * and including the message. */
static int line_head(wxs__buf *b, int json, wxs_log_level level, const char *msg)
{
    char ts[32];
    timestamp(ts);
    if (!json)
        return wxs__buf_printf(b, "%s %-5s %s", ts, level_name(level), msg);
    if (wxs__buf_printf(b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_name(level)) <
            0 ||
        wxs__buf_add_json_escaped(b, msg, strlen(msg)) < 0)
        return -1;
    return wxs__buf_adds(b, "\"");
}

static void vlog(wxs_log_level level, const char *fmt, va_list ap)
{
    if ((int)level < atomic_load(&log_min))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    int json = atomic_load(&log_json);
    wxs__buf b;
    wxs__buf_init(&b, 1400);
    if (line_head(&b, json, level, msg) == 0 && (!json || wxs__buf_adds(&b, "}") == 0))
        emit(level, b.data);
    else
        emit(level,
             json ? "{\"level\":\"error\",\"msg\":\"log line too long\"}" : "log line too long");
    wxs__buf_free(&b);
}

/* A text value needs quotes when empty or holding a space, '"', '=' or a control character. */
static int needs_quotes(const char *v)
{
    if (*v == '\0')
        return 1;
    for (; *v != '\0'; v++)
        if ((unsigned char)*v <= ' ' || *v == '"' || *v == '=')
            return 1;
    return 0;
}

static int add_field(wxs__buf *b, int json, const wxs_log_field *f)
{
    const char *v = f->value != NULL ? f->value : "";
    size_t n = strlen(v);
    if (json) {
        if (wxs__buf_printf(b, ",\"%s\":", f->key) < 0)
            return -1;
        if (f->number && n > 0)
            return wxs__buf_add(b, v, n);
        return wxs__buf_adds(b, "\"") < 0 || wxs__buf_add_json_escaped(b, v, n) < 0
                   ? -1
                   : wxs__buf_adds(b, "\"");
    }
    if (wxs__buf_printf(b, " %s=", f->key) < 0)
        return -1;
    if (f->number || !needs_quotes(v))
        return wxs__buf_add(b, v, n);
    /* quoted as JSON strings are: the line stays one line */
    return wxs__buf_adds(b, "\"") < 0 || wxs__buf_add_json_escaped(b, v, n) < 0
               ? -1
               : wxs__buf_adds(b, "\"");
}

void wxs_log_event(wxs_log_level level, const char *event, const wxs_log_field *fields, size_t n)
{
    if ((int)level < atomic_load(&log_min) || event == NULL)
        return;
    int json = atomic_load(&log_json);
    wxs__buf b;
    wxs__buf_init(&b, 2047);
    int rc = line_head(&b, json, level, event);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (fields[i].key != NULL)
            rc = add_field(&b, json, &fields[i]);
    if (rc == 0 && json)
        rc = wxs__buf_adds(&b, "}");
    if (rc == 0)
        emit(level, b.data);
    else
        emit(level,
             json ? "{\"level\":\"error\",\"msg\":\"log line too long\"}" : "log line too long");
    wxs__buf_free(&b);
}

void wxs__log(wxs_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void wxs_log(wxs_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

int wxs__log_limit_take(wxs__log_limit *l, unsigned *held)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    if (ms < l->next_ms) {
        l->held++;
        return 0;
    }
    *held = l->held;
    l->held = 0;
    l->next_ms = ms + 1000;
    return 1;
}

void wxs__log_tag(const char *s, size_t len, char out[9])
{
    char hex[65];
    wxs__sha256_hex(s, len, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}
