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

static void vlog(wxs_log_level level, const char *fmt, va_list ap)
{
    if ((int)level < atomic_load(&log_min))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);

    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    char line[1400];
    if (atomic_load(&log_json)) {
        wxs__buf b;
        wxs__buf_init(&b, sizeof line - 1);
        if (wxs__buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                            level_name(level)) == 0 &&
            wxs__buf_add_json_escaped(&b, msg, strlen(msg)) == 0 && wxs__buf_adds(&b, "\"}") == 0)
            snprintf(line, sizeof line, "%s", b.data);
        else
            snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"log line too long\"}");
        wxs__buf_free(&b);
    } else {
        snprintf(line, sizeof line, "%s %-5s %s", ts, level_name(level), msg);
    }
    if (log_fn != NULL) {
        log_fn(log_arg, level, line);
        return;
    }
    fprintf(stderr, "%s\n", line); /* one fprintf: stdio locks the stream */
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

void wxs__log_tag(const char *s, size_t len, char out[9])
{
    char hex[65];
    wxs__sha256_hex(s, len, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}
