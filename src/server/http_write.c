/* http_write.c: the response writer (contract in http_write.h): response heads with their
 * reason phrases and Date, JSON error bodies, and writes that go out at once or are queued. */
#include "http_write.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONTENT_TYPE "application/json; charset=utf-8"

typedef struct write_req {
    uv_write_t req; /* first: the uv_write_t * given to done is the write_req */
    size_t len;
    char data[];
} write_req;

typedef struct reason {
    int status;
    const char *text;
} reason;

/* The reason phrases (those of http-parser 2.9, which answers used before llhttp). */
static const reason reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {102, "Processing"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {208, "Already Reported"},
    {226, "IM Used"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {506, "Variant Also Negotiates"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {510, "Not Extended"},
    {511, "Network Authentication Required"},
};

/* ---- small helpers */

static const char *reason_for(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return "Unknown";
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* The Date header value, formatted at most once per second. */
static const char *date_text(http_date *d)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = time(NULL);
    struct tm tm;

    if (now == d->sec && d->text[0] != '\0')
        return d->text;
    gmtime_r(&now, &tm);
    snprintf(d->text, sizeof(d->text), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
             days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    d->sec = now;
    return d->text;
}

static const char *content_type_or_default(const char *t)
{
    size_t n;

    if (t == NULL)
        return DEFAULT_CONTENT_TYPE;
    n = strnlen(t, HTTP_WRITE_CONTENT_TYPE_MAX + 1);
    if (n == 0 || n > HTTP_WRITE_CONTENT_TYPE_MAX || strpbrk(t, "\r\n") != NULL)
        return DEFAULT_CONTENT_TYPE;
    return t;
}

/* ---- heads and error bodies */

int http_write_status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

size_t http_write_head(char *out, int *status, const char *content_type, size_t body_len,
                       int keep_alive, http_date *date)
{
    char *p = out;

    if (*status < 100 || *status > 599)
        *status = 500;
    p = put_str(p, "HTTP/1.1 ");
    p = put_uint(p, (uint64_t)*status);
    *p++ = ' ';
    p = put_str(p, reason_for(*status));
    if (!http_write_status_has_no_body(*status)) {
        p = put_str(p, "\r\nContent-Type: ");
        p = put_str(p, content_type_or_default(content_type));
        p = put_str(p, "\r\nContent-Length: ");
        p = put_uint(p, body_len);
    }
    p = put_str(p, "\r\nDate: ");
    p = put_str(p, date_text(date));
    p = put_str(p, keep_alive ? "\r\nConnection: keep-alive\r\n\r\n"
                              : "\r\nConnection: close\r\n\r\n");
    return (size_t)(p - out);
}

/* 1 when extra is n bytes of complete, non-empty "Name: value\r\n" lines and nothing else. */
static int extra_ok(const char *extra, size_t n)
{
    size_t line = 0;

    if (n < 2 || n > HTTP_WRITE_EXTRA_MAX || extra[n - 2] != '\r' || extra[n - 1] != '\n')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (extra[i] == '\r') {
            if (i + 1 >= n || extra[i + 1] != '\n' || line == 0)
                return 0;
            i++;
            line = 0;
        } else if (extra[i] == '\n') {
            return 0;
        } else {
            line++;
        }
    }
    return 1;
}

size_t http_write_extra(char *out, size_t head_len, const char *extra)
{
    size_t n = extra != NULL ? strnlen(extra, HTTP_WRITE_EXTRA_MAX + 1) : 0;

    if (n == 0 || head_len < 4 || !extra_ok(extra, n))
        return head_len;
    memcpy(out + head_len - 2, extra, n); /* over the blank line's CRLF */
    memcpy(out + head_len - 2 + n, "\r\n", 2);
    return head_len + n;
}

/* Append n bytes of s JSON-escaped at out[*pos], stopping (at a character boundary) rather than
 * going past limit. */
static void json_escape(char *out, size_t *pos, size_t limit, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        size_t seq = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;

        if (ch == '"' || ch == '\\') {
            esc[1] = (char)ch;
        } else if (ch == '\n' || ch == '\r' || ch == '\t') {
            esc[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        } else {
            if (seq > n - i)
                seq = n - i;
            if (*pos + seq > limit)
                return;
            memcpy(out + *pos, s + i, seq);
            *pos += seq;
            i += seq;
            continue;
        }
        if (*pos + elen > limit)
            return;
        memcpy(out + *pos, esc, elen);
        *pos += elen;
        i++;
    }
}

size_t http_write_error_json(char *out, size_t cap, const char *code, const char *message)
{
    static const char tail[] = "\"}}";
    size_t pos = 0;
    size_t limit = cap - sizeof(tail);

    pos = (size_t)(put_str(out, "{\"error\":{\"code\":\"") - out);
    json_escape(out, &pos, limit / 2, code, strlen(code));
    out[pos++] = '"';
    pos = (size_t)(put_str(out + pos, ",\"message\":\"") - out);
    json_escape(out, &pos, limit, message, strlen(message));
    memcpy(out + pos, tail, sizeof(tail));
    return pos + sizeof(tail) - 1;
}

/* ---- writing */

/* Queue a copy of what uv_try_write left of bufs (its first skip bytes went out). */
static int queue_rest(uv_stream_t *stream, const uv_buf_t *bufs, unsigned nbufs, size_t skip,
                      uv_write_cb done, size_t *queued)
{
    size_t total = 0;
    size_t at = 0;
    write_req *w;
    uv_buf_t buf;
    int rc;

    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    w = malloc(sizeof(*w) + total - skip);
    if (w == NULL)
        return UV_ENOMEM;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(w->data + at, bufs[i].base + skip, len - skip);
        at += len - skip;
        skip = 0;
    }
    w->len = at;
    buf = uv_buf_init(w->data, (unsigned)at);
    rc = uv_write(&w->req, stream, &buf, 1, done);
    if (rc < 0) {
        free(w);
        return rc;
    }
    *queued = at;
    return 1;
}

int http_write(uv_stream_t *stream, const char *head, size_t head_len, const char *body,
               size_t body_len, uv_write_cb done, size_t *queued)
{
    uv_buf_t bufs[2];
    unsigned nbufs = body_len > 0 ? 2 : 1;
    int n;

    *queued = 0;
    if (body_len > UINT32_MAX - head_len)
        return UV_E2BIG;
    bufs[0] = uv_buf_init((char *)head, (unsigned)head_len);
    bufs[1] = uv_buf_init((char *)body, (unsigned)body_len);
    n = uv_try_write(stream, bufs, nbufs);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0)
        return n;
    if ((size_t)n == head_len + body_len)
        return 0;
    return queue_rest(stream, bufs, nbufs, (size_t)n, done, queued);
}

size_t http_write_done(uv_write_t *req)
{
    size_t len = ((write_req *)req)->len;

    free((write_req *)req);
    return len;
}
