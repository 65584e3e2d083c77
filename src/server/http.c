/* http.c: the HTTP/1.1 server of wxsessiond on one libuv loop (contract in http.h). */
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HEADER_BYTES 16384
#define DEFAULT_BODY_BYTES 1048576
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_BODY_TIMEOUT_MS 30000
#define MAX_HEADERS 100
#define LISTEN_BACKLOG 1024
#define READ_BUF_BYTES 65536  /* one shared read buffer per server */
#define LINGER_MS 2000        /* discard input this long after an error answer */
#define STOP_LINGER_MS 500    /* the same while the server stops */
#define KEEP_BODY_BYTES 65536 /* larger body buffers are released after their request */
#define MAX_QUEUED_OUTPUT 262144 /* answers queued to a client that does not read them: past
                                  * this, its pipelined input waits (and reading stops) */
#define MAX_CONTENT_TYPE 256
#define HEAD_MAX (320 + MAX_CONTENT_TYPE)
#define ERROR_BODY_MAX 1024
#define DEFAULT_CONTENT_TYPE "application/json; charset=utf-8"

/* Where a connection is in its current request. */
enum phase {
    PHASE_IDLE,       /* between requests: idle timer */
    PHASE_HEADERS,    /* request line / headers arriving: header deadline */
    PHASE_BODY,       /* body arriving: body deadline */
    PHASE_DISPATCHED, /* the handler holds the request: no timer, parser paused */
};

/* Which parser data callback ran last (fields and values arrive in pieces). */
enum last_cb { LAST_URL, LAST_FIELD, LAST_VALUE };

typedef struct header_entry {
    uint32_t name_off; /* offsets into conn->head; both NUL-terminated there */
    uint32_t name_len;
    uint32_t value_off;
    uint32_t value_len;
} header_entry;

typedef struct http_conn http_conn;

/* The request lives inside its connection: one request at a time per connection. */
struct http_req {
    http_conn *conn;
    int method;
    int keep_alive;
    int aborted;
    uint64_t start_us;
    uint32_t path_len;  /* the path is at conn->head[0] */
    uint32_t query_off; /* 0: no query string */
    uint32_t query_len;
    void (*on_abort)(void *arg, http_req *r);
    void *abort_arg;
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    http_parser parser;
    http_server *server;
    http_conn *prev, *next;             /* the server's live connections */
    http_conn *ready_prev, *ready_next; /* connections with buffered input to parse */
    http_req req;
    char *head; /* "url\0name\0value\0..." of the current request, at most head_max() */
    size_t head_len, head_cap;
    uint32_t url_len;
    header_entry *headers;
    unsigned nheaders, headers_cap;
    char *body; /* de-chunked body, NUL-terminated when dispatched */
    size_t body_len, body_cap;
    size_t body_max; /* this request's body buffer bound: Content-Length or body_bytes, + 1 */
    char *in;        /* received but not yet parsed (pipelined behind a request in flight) */
    size_t in_off, in_len, in_cap;
    enum phase phase;
    enum last_cb last_cb;
    int err_status; /* set by a parser callback that fails the request */
    const char *err_code;
    const char *err_msg;
    unsigned content_lengths;
    unsigned writes_pending;
    int handles_open;
    unsigned transfer_encoding : 1;
    unsigned expect_continue : 1;
    unsigned in_ready : 1;
    unsigned reading : 1;
    unsigned feeding : 1;
    unsigned counted : 1;
    unsigned lingering : 1;
    unsigned closing : 1;
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t idle; /* runs while connections wait in the ready list */
    uv_tcp_t spare; /* accepts and drops a connection we have no memory for */
    http_limits limits;
    http_handler_fn handler;
    void *app;
    int port;
    http_conn *conns;
    http_conn *ready_head, *ready_tail;
    unsigned open;      /* connections being served (what max_connections bounds) */
    unsigned lingering; /* connections closing after an error answer or a 503 */
    unsigned live;      /* conn structs not yet freed */
    int handles_open;   /* listener and idle */
    int stopping;
    int spare_busy;
    int accept_stalled;
    void (*done)(void *arg);
    void *done_arg;
    time_t date_sec;
    char date[64];
    char rbuf[READ_BUF_BYTES];
};

typedef struct write_req {
    uv_write_t req;
    char data[];
} write_req;

static const http_parser_settings parser_settings;
static void conn_close(http_conn *c);
static void begin_close(http_conn *c, uint64_t linger_ms);
static void conn_fail(http_conn *c, int status, const char *code, const char *msg);
static void conn_drain(http_conn *c);
static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* ---- small helpers */

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

/* The Date header value, formatted at most once per second per server. */
static const char *server_date(http_server *s)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = time(NULL);
    struct tm tm;

    if (now == s->date_sec && s->date[0] != '\0')
        return s->date;
    gmtime_r(&now, &tm);
    snprintf(s->date, sizeof(s->date), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
             days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    s->date_sec = now;
    return s->date;
}

static const char *content_type_or_default(const char *t)
{
    size_t n;

    if (t == NULL)
        return DEFAULT_CONTENT_TYPE;
    n = strnlen(t, MAX_CONTENT_TYPE + 1);
    if (n == 0 || n > MAX_CONTENT_TYPE || strpbrk(t, "\r\n") != NULL)
        return DEFAULT_CONTENT_TYPE;
    return t;
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

/* {"error":{"code":..,"message":..}} into out (cap bytes, NUL-terminated); returns its length.
 * An over-long message is cut. */
static size_t error_json(char *out, size_t cap, const char *code, const char *message)
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

/* ---- the ready list: connections whose buffered input is parsed from the idle callback */

static void on_idle(uv_idle_t *idle);

static void ready_add(http_conn *c)
{
    http_server *s = c->server;

    if (c->in_ready)
        return;
    if (s->stopping) {
        begin_close(c, STOP_LINGER_MS);
        return;
    }
    c->in_ready = 1;
    c->ready_next = NULL;
    c->ready_prev = s->ready_tail;
    if (s->ready_tail != NULL)
        s->ready_tail->ready_next = c;
    else
        s->ready_head = c;
    s->ready_tail = c;
    uv_idle_start(&s->idle, on_idle);
}

static void ready_remove(http_conn *c)
{
    http_server *s = c->server;

    if (!c->in_ready)
        return;
    c->in_ready = 0;
    if (c->ready_prev != NULL)
        c->ready_prev->ready_next = c->ready_next;
    else
        s->ready_head = c->ready_next;
    if (c->ready_next != NULL)
        c->ready_next->ready_prev = c->ready_prev;
    else
        s->ready_tail = c->ready_prev;
}

/* Parse the pipelined input of every ready connection; handlers run here, outside any
 * http_respond() stack. */
static void on_idle(uv_idle_t *idle)
{
    http_server *s = idle->data;

    while (s->ready_head != NULL) {
        http_conn *c = s->ready_head;
        ready_remove(c);
        conn_drain(c);
    }
    uv_idle_stop(idle);
}

/* ---- writing */

/* 1 while more than MAX_QUEUED_OUTPUT bytes of answers wait for the client to read them. */
static int output_blocked(const http_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > MAX_QUEUED_OUTPUT;
}

static int conn_can_parse(const http_conn *c);

/* A write finished: when it unblocks a client's waiting pipelined input, parse it. */
static void on_write(uv_write_t *req, int status)
{
    http_conn *c = req->handle->data;

    c->writes_pending--;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        conn_close(c);
    else if (c->in_len > 0 && conn_can_parse(c))
        ready_add(c);
}

/* Queue a copy of what uv_try_write left of bufs (its first skip bytes went out). */
static int queue_rest(http_conn *c, const uv_buf_t *bufs, unsigned nbufs, size_t skip)
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
    buf = uv_buf_init(w->data, (unsigned)at);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (rc < 0) {
        free(w);
        return rc;
    }
    c->writes_pending++;
    return 0;
}

/* Send head and body after whatever is already queued: one writev now when the socket takes
 * it, else a copy of the rest goes through uv_write. 0 or a negative libuv error. */
static int conn_write(http_conn *c, const char *head, size_t hlen, const char *body, size_t blen)
{
    uv_buf_t bufs[2];
    unsigned nbufs = blen > 0 ? 2 : 1;
    int n;

    if (blen > UINT32_MAX - hlen)
        return UV_E2BIG;
    bufs[0] = uv_buf_init((char *)head, (unsigned)hlen);
    bufs[1] = uv_buf_init((char *)body, (unsigned)blen);
    n = uv_try_write((uv_stream_t *)&c->tcp, bufs, nbufs);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0)
        return n;
    if ((size_t)n == hlen + blen)
        return 0;
    return queue_rest(c, bufs, nbufs, (size_t)n);
}

/* The status line and headers of a response into out (HEAD_MAX bytes); returns the length. */
/* 1xx, 204 and 304 answers end with their header block (RFC 9110, 6.4.1). */
static int status_has_no_body(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static size_t build_head(http_server *s, char *out, int status, const char *ctype, size_t blen,
                         int keep)
{
    const char *reason = http_status_str((enum http_status)status);
    char *p = out;

    if (strcmp(reason, "<unknown>") == 0)
        reason = "Unknown";
    p = put_str(p, "HTTP/1.1 ");
    p = put_uint(p, (uint64_t)status);
    *p++ = ' ';
    p = put_str(p, reason);
    if (!status_has_no_body(status)) {
        p = put_str(p, "\r\nContent-Type: ");
        p = put_str(p, ctype);
        p = put_str(p, "\r\nContent-Length: ");
        p = put_uint(p, blen);
    }
    p = put_str(p, "\r\nDate: ");
    p = put_str(p, server_date(s));
    p = put_str(p, keep ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
    return (size_t)(p - out);
}

/* Write a complete response; a failed write closes the connection. */
static void send_response(http_conn *c, int status, const char *ctype, const char *body, size_t len,
                          int keep, int head_only)
{
    char head[HEAD_MAX];
    size_t hlen;

    if (status < 100 || status > 599)
        status = 500;
    hlen = build_head(c->server, head, status, content_type_or_default(ctype), len, keep);
    if (head_only || status_has_no_body(status))
        len = 0;
    if (conn_write(c, head, hlen, body, len) < 0)
        conn_close(c);
}

/* ---- closing and freeing */

static void server_maybe_finish(http_server *s)
{
    void (*done)(void *arg) = s->done;
    void *arg = s->done_arg;

    if (!s->stopping || s->handles_open > 0 || s->live > 0 || s->spare_busy)
        return;
    free(s);
    if (done != NULL)
        done(arg);
}

/* Free the connection once its handles are closed and no handler holds its request. */
static void conn_release(http_conn *c)
{
    http_server *s = c->server;

    if (c->handles_open > 0 || c->phase == PHASE_DISPATCHED)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->head);
    free(c->headers);
    free(c->body);
    free(c->in);
    free(c);
    s->live--;
    server_maybe_finish(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;

    if (--c->handles_open == 0)
        conn_release(c);
}

/* Close the connection's handles (queued writes are cancelled). A request in flight is marked
 * aborted and its on_abort callback runs; the struct lives on until http_respond(). Idempotent. */
static void conn_close(http_conn *c)
{
    http_server *s = c->server;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->counted) {
        c->counted = 0;
        s->open--;
    }
    if (c->lingering)
        s->lingering--;
    ready_remove(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (c->phase == PHASE_DISPATCHED && !c->req.aborted) {
        void (*cb)(void *arg, http_req *r) = c->req.on_abort;
        c->req.aborted = 1;
        c->req.on_abort = NULL;
        if (cb != NULL)
            cb(c->req.abort_arg, &c->req);
    }
}

static int conn_read_start(http_conn *c)
{
    int rc = 0;

    if (!c->reading) {
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = rc == 0;
    }
    return rc;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    http_conn *c = req->handle->data;

    if (status < 0 && status != UV_ECANCELED)
        conn_close(c);
}

/* End the connection gracefully after the queued writes: send FIN, then read and discard what
 * the client still sends until it closes or linger_ms pass, so that it reads our answer rather
 * than a reset (it may still be sending a body we refused). Never while a request is in flight. */
static void begin_close(http_conn *c, uint64_t linger_ms)
{
    http_server *s = c->server;

    if (c->closing || c->lingering)
        return;
    if (c->counted) {
        c->counted = 0;
        s->open--;
    }
    if (s->lingering >= s->limits.max_connections) {
        conn_close(c);
        return;
    }
    c->lingering = 1;
    s->lingering++;
    c->in_off = 0;
    c->in_len = 0;
    ready_remove(c);
    uv_timer_start(&c->timer, on_timer, linger_ms, 0);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0 ||
        conn_read_start(c) < 0)
        conn_close(c);
}

static uint64_t linger_for(const http_conn *c)
{
    return c->server->stopping ? STOP_LINGER_MS : LINGER_MS;
}

/* Answer with an error of the server's own and close: the request was not dispatched. */
static void conn_fail(http_conn *c, int status, const char *code, const char *msg)
{
    char body[ERROR_BODY_MAX];
    size_t len;

    if (c->closing || c->lingering)
        return;
    len = error_json(body, sizeof(body), code, msg);
    c->phase = PHASE_IDLE;
    send_response(c, status, NULL, body, len, 0, 0);
    begin_close(c, linger_for(c));
}

/* ---- parser callbacks: collect the request into the connection's buffers */

static int fail_request(http_conn *c, int status, const char *code, const char *msg)
{
    c->err_status = status;
    c->err_code = code;
    c->err_msg = msg;
    return -1;
}

static size_t head_max(const http_conn *c)
{
    return c->server->limits.header_bytes + 2 * MAX_HEADERS + 16;
}

/* Append n bytes (lowercased when lower) to the request head; -1 past head_max(). */
static int head_append(http_conn *c, const char *p, size_t n, int lower)
{
    size_t need = c->head_len + n + 1;

    if (need > c->head_cap) {
        size_t cap = c->head_cap < 1024 ? 1024 : c->head_cap * 2;
        char *grown;
        if (need > head_max(c))
            return fail_request(c, 431, "ERR_HEADER_TOO_LARGE", "request header too large");
        while (cap < need)
            cap *= 2;
        if (cap > head_max(c))
            cap = head_max(c);
        grown = realloc(c->head, cap);
        if (grown == NULL)
            return fail_request(c, 503, "ERR_OUT_OF_MEMORY", "out of memory");
        c->head = grown;
        c->head_cap = cap;
    }
    if (lower) {
        char *d = c->head + c->head_len;
        for (size_t i = 0; i < n; i++)
            d[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] | 0x20) : p[i];
    } else {
        memcpy(c->head + c->head_len, p, n);
    }
    c->head_len += n;
    return 0;
}

static int head_end_string(http_conn *c)
{
    return head_append(c, "", 1, 0);
}

static int on_message_begin(http_parser *p)
{
    http_conn *c = p->data;

    c->phase = PHASE_HEADERS;
    c->last_cb = LAST_URL;
    c->head_len = 0;
    c->url_len = 0;
    c->nheaders = 0;
    c->body_len = 0;
    c->content_lengths = 0;
    c->transfer_encoding = 0;
    c->expect_continue = 0;
    c->err_status = 0;
    c->req.start_us = uv_hrtime() / 1000;
    uv_timer_start(&c->timer, on_timer, c->server->limits.header_timeout_ms, 0);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    return head_append(p->data, at, n, 0);
}

static int start_header(http_conn *c)
{
    if (c->nheaders == MAX_HEADERS)
        return fail_request(c, 431, "ERR_HEADER_TOO_LARGE", "too many header fields");
    if (c->nheaders == c->headers_cap) {
        unsigned cap = c->headers_cap == 0 ? 16 : c->headers_cap * 2;
        header_entry *grown;
        if (cap > MAX_HEADERS)
            cap = MAX_HEADERS;
        grown = realloc(c->headers, cap * sizeof(*grown));
        if (grown == NULL)
            return fail_request(c, 503, "ERR_OUT_OF_MEMORY", "out of memory");
        c->headers = grown;
        c->headers_cap = cap;
    }
    c->headers[c->nheaders].name_off = (uint32_t)c->head_len;
    c->last_cb = LAST_FIELD;
    return 0;
}

/* 1 when v[0..n) holds a control byte other than HTAB. http-parser 2.9 checks every byte of a
 * header value but the first (found by fuzz/driver_http: "X-WX-Code:\0abc" passed, and a NUL
 * makes the C string and the length disagree). */
static int has_control(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 1;
    }
    return 0;
}

/* Vet a complete header: no whitespace in names, no control bytes in values, one
 * Content-Length; note Transfer-Encoding and Expect: 100-continue. */
static int check_header(http_conn *c, const header_entry *e)
{
    const char *name = c->head + e->name_off;
    const char *value = c->head + e->value_off;

    if (e->name_len == 0 || strpbrk(name, " \t") != NULL)
        return fail_request(c, 400, "ERR_BAD_REQUEST", "invalid header name");
    if (has_control(value, e->value_len))
        return fail_request(c, 400, "ERR_BAD_REQUEST", "invalid header value");
    if (e->name_len == 14 && memcmp(name, "content-length", 14) == 0) {
        if (++c->content_lengths > 1)
            return fail_request(c, 400, "ERR_BAD_REQUEST", "duplicate Content-Length");
    } else if (e->name_len == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
        c->transfer_encoding = 1;
    } else if (e->name_len == 6 && memcmp(name, "expect", 6) == 0) {
        c->expect_continue = strcasecmp(value, "100-continue") == 0;
    }
    return 0;
}

/* Close the header being collected: NUL-terminate, trim the value, vet it. */
static int end_header(http_conn *c)
{
    header_entry *e = &c->headers[c->nheaders];
    char *v;

    e->value_len = (uint32_t)(c->head_len - e->value_off);
    if (head_end_string(c) < 0)
        return -1;
    v = c->head + e->value_off;
    while (e->value_len > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        e->value_off++;
        e->value_len--;
    }
    while (e->value_len > 0 && (v[e->value_len - 1] == ' ' || v[e->value_len - 1] == '\t'))
        e->value_len--;
    v[e->value_len] = '\0';
    c->nheaders++;
    return check_header(c, e);
}

static int end_url(http_conn *c)
{
    c->url_len = (uint32_t)c->head_len;
    return head_end_string(c);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;

    if (c->phase != PHASE_HEADERS)
        return 0; /* a trailer of a chunked body: ignored */
    if (c->last_cb != LAST_FIELD) {
        int rc = c->last_cb == LAST_URL ? end_url(c) : end_header(c);
        if (rc < 0 || start_header(c) < 0)
            return -1;
    }
    return head_append(c, at, n, 1);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;

    if (c->phase != PHASE_HEADERS)
        return 0;
    if (c->last_cb == LAST_FIELD) {
        header_entry *e = &c->headers[c->nheaders];
        e->name_len = (uint32_t)(c->head_len - e->name_off);
        if (head_end_string(c) < 0)
            return -1;
        e->value_off = (uint32_t)c->head_len;
        c->last_cb = LAST_VALUE;
    }
    return head_append(c, at, n, 0);
}

/* Split the target into path and query (NUL-terminating both); drop a fragment. */
static void split_target(http_conn *c)
{
    char *u = c->head;
    size_t n = c->url_len;
    char *hash = memchr(u, '#', n);
    char *q;

    if (hash != NULL) {
        *hash = '\0';
        n = (size_t)(hash - u);
    }
    q = memchr(u, '?', n);
    c->req.path_len = (uint32_t)n;
    c->req.query_off = 0;
    c->req.query_len = 0;
    if (q != NULL) {
        *q = '\0';
        c->req.path_len = (uint32_t)(q - u);
        c->req.query_off = (uint32_t)(q - u + 1);
        c->req.query_len = (uint32_t)(n - (size_t)(q - u + 1));
    }
}

/* Room for need bytes of body, growing by doubling up to body_max: memory follows the bytes
 * that arrived, not what was announced. */
static int body_reserve(http_conn *c, size_t need)
{
    size_t cap = c->body_cap < 1024 ? 1024 : c->body_cap;
    char *grown;

    if (need <= c->body_cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if (cap > c->body_max)
        cap = c->body_max;
    if (cap < need)
        cap = need;
    grown = realloc(c->body, cap);
    if (grown == NULL)
        return fail_request(c, 503, "ERR_OUT_OF_MEMORY", "out of memory");
    c->body = grown;
    c->body_cap = cap;
    return 0;
}

static int check_request(http_conn *c)
{
    const http_parser *p = &c->parser;

    if (p->http_major != 1)
        return fail_request(c, 400, "ERR_BAD_REQUEST", "unsupported HTTP version");
    if (c->url_len == 0 || c->head[0] != '/')
        return fail_request(c, 400, "ERR_BAD_REQUEST", "the request target must start with '/'");
    if (c->content_lengths > 0 && (c->transfer_encoding || (p->flags & F_CHUNKED)))
        return fail_request(c, 400, "ERR_BAD_REQUEST",
                            "Content-Length together with Transfer-Encoding");
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->server->limits.body_bytes)
        return fail_request(c, 413, "ERR_BODY_TOO_LARGE", "request body too large");
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
    http_conn *c = p->data;
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);

    if (c->last_cb == LAST_URL && end_url(c) < 0)
        return -1;
    if (c->last_cb == LAST_VALUE && end_header(c) < 0)
        return -1;
    if (check_request(c) < 0)
        return -1;
    split_target(c);
    c->phase = PHASE_BODY;
    if (!has_body)
        return 0;
    uv_timer_start(&c->timer, on_timer, c->server->limits.body_timeout_ms, 0);
    c->body_max = c->server->limits.body_bytes + 1;
    if (p->flags & F_CONTENTLENGTH)
        c->body_max = (size_t)p->content_length + 1;
    if (c->expect_continue && p->http_minor >= 1 &&
        conn_write(c, continue_100, sizeof(continue_100) - 1, NULL, 0) < 0)
        return fail_request(c, 400, "ERR_BAD_REQUEST", "write failed");
    return 0;
}

static int on_chunk_header(http_parser *p)
{
    http_conn *c = p->data;

    if (p->content_length > c->server->limits.body_bytes - c->body_len)
        return fail_request(c, 413, "ERR_BODY_TOO_LARGE", "request body too large");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    http_conn *c = p->data;

    if (n > c->server->limits.body_bytes - c->body_len)
        return fail_request(c, 413, "ERR_BODY_TOO_LARGE", "request body too large");
    if (body_reserve(c, c->body_len + n + 1) < 0)
        return -1;
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* one request at a time: conn_feed dispatches it */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

/* ---- parsing and dispatching */

static void conn_dispatch(http_conn *c)
{
    http_server *s = c->server;
    http_req *r = &c->req;

    r->method = c->parser.method;
    r->aborted = 0;
    r->on_abort = NULL;
    r->keep_alive = http_should_keep_alive(&c->parser) && !c->parser.upgrade;
    if (c->body != NULL)
        c->body[c->body_len] = '\0';
    c->phase = PHASE_DISPATCHED;
    uv_timer_stop(&c->timer);
    s->handler(s->app, r);
}

static void conn_parse_failed(http_conn *c, enum http_errno e)
{
    if (c->err_status != 0)
        conn_fail(c, c->err_status, c->err_code, c->err_msg);
    else if (e == HPE_HEADER_OVERFLOW)
        conn_fail(c, 431, "ERR_HEADER_TOO_LARGE", "request header too large");
    else
        conn_fail(c, 400, "ERR_BAD_REQUEST", http_errno_description(e));
}

static int conn_can_parse(const http_conn *c)
{
    return !c->closing && !c->lingering && c->phase != PHASE_DISPATCHED && !output_blocked(c);
}

/* Parse len bytes of input, dispatching each complete request (the parser pauses at its end).
 * Returns the bytes consumed: it stops early while a handler holds a request, or when the
 * connection is closing. A handler that answers at once returns here and the loop goes on, so
 * nothing recurses. While a header block is arriving, at most header_bytes of it are fed to
 * the parser, so an oversized one is caught exactly and before it is all buffered. */
static size_t conn_feed(http_conn *c, const char *data, size_t len)
{
    size_t header_bytes = c->server->limits.header_bytes;
    size_t off = 0;

    c->feeding = 1;
    while (off < len && conn_can_parse(c)) {
        int in_head = c->phase == PHASE_IDLE || c->phase == PHASE_HEADERS;
        size_t n = len - off;
        size_t used;
        enum http_errno e;

        if (in_head && n > header_bytes - c->parser.nread)
            n = header_bytes - c->parser.nread;
        used = http_parser_execute(&c->parser, &parser_settings, data + off, n);
        off += used;
        e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            conn_dispatch(c);
        } else if (e != HPE_OK) {
            conn_parse_failed(c, e);
        } else if ((c->phase == PHASE_IDLE || c->phase == PHASE_HEADERS) &&
                   c->parser.nread >= header_bytes) {
            conn_fail(c, 431, "ERR_HEADER_TOO_LARGE", "request header too large");
        } else if (used == 0) {
            conn_fail(c, 400, "ERR_BAD_REQUEST", "unparsable input");
        }
    }
    c->feeding = 0;
    return off;
}

static void start_idle_timer(http_conn *c)
{
    uv_timer_start(&c->timer, on_timer, c->server->limits.idle_timeout_ms, 0);
}

/* Input buffered behind a request in flight: reading stops at this much. */
static size_t max_pending(const http_conn *c)
{
    return c->server->limits.header_bytes + c->server->limits.body_bytes;
}

/* Keep input that cannot be parsed yet (at most max_pending() + one read). */
static int conn_buffer(http_conn *c, const char *p, size_t n)
{
    size_t need = c->in_len + n;

    if (c->in_off > 0 && c->in_off + need > c->in_cap) {
        memmove(c->in, c->in + c->in_off, c->in_len);
        c->in_off = 0;
    }
    if (need > c->in_cap) {
        size_t cap = c->in_cap < 16384 ? 16384 : c->in_cap * 2;
        char *grown;
        while (cap < need)
            cap *= 2;
        if (cap > max_pending(c) + READ_BUF_BYTES)
            cap = max_pending(c) + READ_BUF_BYTES;
        if (cap < need)
            cap = need;
        grown = realloc(c->in, cap);
        if (grown == NULL)
            return UV_ENOMEM;
        c->in = grown;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_off + c->in_len, p, n);
    c->in_len += n;
    if ((c->in_len >= max_pending(c) || output_blocked(c)) && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    return 0;
}

/* Parse the buffered input (after an answer); resume reading when there is room again. */
static void conn_drain(http_conn *c)
{
    size_t used;

    if (!conn_can_parse(c))
        return;
    used = conn_feed(c, c->in + c->in_off, c->in_len);
    if (c->closing || c->lingering)
        return;
    c->in_off += used;
    c->in_len -= used;
    if (c->in_len == 0) {
        c->in_off = 0;
        if (c->in_cap > READ_BUF_BYTES) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
    if (c->in_len < max_pending(c) && conn_read_start(c) < 0) {
        conn_close(c);
        return;
    }
    if (c->phase == PHASE_IDLE)
        start_idle_timer(c);
}

/* ---- libuv callbacks */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;

    *buf = uv_buf_init(c->server->rbuf, READ_BUF_BYTES);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    size_t used;

    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        conn_close(c); /* EOF or error; a request in flight is aborted */
        return;
    }
    if (c->lingering)
        return;
    if (c->phase == PHASE_DISPATCHED || c->in_len > 0) {
        if (conn_buffer(c, buf->base, (size_t)nread) < 0)
            conn_close(c);
        return;
    }
    used = conn_feed(c, buf->base, (size_t)nread);
    if (c->closing || c->lingering)
        return;
    if (used < (size_t)nread && conn_buffer(c, buf->base + used, (size_t)nread - used) < 0)
        conn_close(c);
    else if (c->phase == PHASE_IDLE)
        start_idle_timer(c);
}

static void on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;

    if (c->lingering) {
        conn_close(c);
        return;
    }
    switch (c->phase) {
    case PHASE_HEADERS:
        conn_fail(c, 408, "ERR_HEADER_TIMEOUT", "request header timeout");
        break;
    case PHASE_BODY:
        conn_fail(c, 408, "ERR_BODY_TIMEOUT", "request body timeout");
        break;
    case PHASE_IDLE:
        conn_close(c);
        break;
    case PHASE_DISPATCHED:
        break;
    }
}

static void on_connection(uv_stream_t *listener, int status);

static void on_spare_closed(uv_handle_t *h)
{
    http_server *s = h->data;

    s->spare_busy = 0;
    if (s->accept_stalled && !s->stopping) {
        s->accept_stalled = 0;
        on_connection((uv_stream_t *)&s->listener, 0);
    }
    server_maybe_finish(s);
}

/* No memory for a connection: accept it into the spare handle and close it, since libuv stops
 * accepting until a pending connection is taken. */
static void drop_connection(http_server *s)
{
    if (s->spare_busy) {
        s->accept_stalled = 1;
        return;
    }
    s->spare_busy = 1;
    uv_tcp_init(s->loop, &s->spare);
    s->spare.data = s;
    (void)uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&s->spare);
    uv_close((uv_handle_t *)&s->spare, on_spare_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server *s = listener->data;
    http_conn *c;

    if (status < 0 || s->stopping)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        drop_connection(s);
        return;
    }
    c->server = s;
    c->req.conn = c;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->live++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->open >= s->limits.max_connections) {
        conn_fail(c, 503, "ERR_TOO_MANY_CONNECTIONS", "too many connections");
        return;
    }
    c->counted = 1;
    s->open++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (conn_read_start(c) < 0) {
        conn_close(c);
        return;
    }
    start_idle_timer(c);
}

/* ---- the server */

/* A listening socket on host:port with SO_REUSEPORT; its fd and actual port, or an error. */
static int listen_socket(const char *host, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1;
    int fd;
    int rc = 0;

    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return UV_EINVAL;
    len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (ss.ss_family == AF_INET)
        *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return 0;
}

static void set_limits(http_limits *out, const http_limits *in)
{
    http_limits zero = {0};

    *out = in != NULL ? *in : zero;
    if (out->header_bytes == 0)
        out->header_bytes = DEFAULT_HEADER_BYTES;
    if (out->body_bytes == 0)
        out->body_bytes = DEFAULT_BODY_BYTES;
    if (out->max_connections == 0)
        out->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (out->header_timeout_ms == 0)
        out->header_timeout_ms = DEFAULT_HEADER_TIMEOUT_MS;
    if (out->idle_timeout_ms == 0)
        out->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (out->body_timeout_ms == 0)
        out->body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    http_server *s = h->data;

    s->handles_open--;
    server_maybe_finish(s);
}

int http_server_start(http_server **out, uv_loop_t *loop, const char *host, int port,
                      const http_limits *limits, http_handler_fn handler, void *app)
{
    http_server *s;
    int fd = -1;
    int rc;

    if (out == NULL || loop == NULL || host == NULL || handler == NULL || port < 0 || port > 65535)
        return UV_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return UV_ENOMEM;
    s->loop = loop;
    s->handler = handler;
    s->app = app;
    set_limits(&s->limits, limits);
    rc = listen_socket(host, port, &fd, &s->port);
    if (rc < 0) {
        free(s);
        return rc;
    }
    uv_tcp_init(loop, &s->listener);
    uv_idle_init(loop, &s->idle);
    s->listener.data = s;
    s->idle.data = s;
    s->handles_open = 2;
    rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
    if (rc < 0) {
        /* the handles exist: s is freed from their close callbacks */
        s->stopping = 1;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->idle, on_server_handle_closed);
        return rc;
    }
    *out = s;
    return 0;
}

int http_server_port(const http_server *s)
{
    return s->port;
}

unsigned http_server_connections(const http_server *s)
{
    return s->open;
}

void http_server_stop(http_server *s, void (*done)(void *arg), void *arg)
{
    http_conn *c;
    http_conn *next;

    if (s->stopping)
        return;
    s->stopping = 1;
    s->done = done;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_server_handle_closed);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->closing || c->lingering || c->phase == PHASE_DISPATCHED)
            continue;
        if (c->phase == PHASE_IDLE && c->writes_pending == 0)
            conn_close(c);
        else
            begin_close(c, STOP_LINGER_MS);
    }
}

/* ---- the request */

int http_req_method(const http_req *r)
{
    return r->method;
}

const char *http_req_path(const http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->path_len;
    return r->conn->head;
}

const char *http_req_query(const http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->query_len;
    return r->query_off != 0 ? r->conn->head + r->query_off : NULL;
}

const char *http_req_header(const http_req *r, const char *name, size_t *len)
{
    const http_conn *c = r->conn;
    size_t n = strlen(name);

    for (unsigned i = 0; i < c->nheaders; i++) {
        const header_entry *e = &c->headers[i];
        if (e->name_len == n && strncasecmp(c->head + e->name_off, name, n) == 0) {
            if (len != NULL)
                *len = e->value_len;
            return c->head + e->value_off;
        }
    }
    if (len != NULL)
        *len = 0;
    return NULL;
}

const char *http_req_body(const http_req *r, size_t *len)
{
    const http_conn *c = r->conn;

    if (len != NULL)
        *len = c->body != NULL ? c->body_len : 0;
    return c->body != NULL ? c->body : "";
}

int http_req_aborted(const http_req *r)
{
    return r->aborted;
}

void http_req_on_abort(http_req *r, void (*cb)(void *arg, http_req *r), void *arg)
{
    if (r->aborted)
        return;
    r->on_abort = cb;
    r->abort_arg = arg;
}

uint64_t http_req_start_us(const http_req *r)
{
    return r->start_us;
}

/* After an answer on a kept-alive connection: parse what is buffered (from the idle callback,
 * never inside http_respond), or wait for the next request. */
static void conn_resume(http_conn *c)
{
    if (c->in_len > 0) {
        ready_add(c);
        return;
    }
    if (conn_read_start(c) < 0) {
        conn_close(c);
        return;
    }
    start_idle_timer(c);
}

void http_respond(http_req *r, int status, const char *content_type, const char *body, size_t len,
                  int close_after)
{
    http_conn *c = r->conn;
    int keep;

    if (c->phase != PHASE_DISPATCHED)
        return; /* answered twice: ignored */
    c->phase = PHASE_IDLE;
    if (c->closing) {
        conn_release(c); /* the client went away */
        return;
    }
    keep = r->keep_alive && !close_after && !c->server->stopping;
    send_response(c, status, content_type, body, len, keep, r->method == HTTP_HEAD);
    if (c->body_cap > KEEP_BODY_BYTES) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    if (c->closing)
        return;
    if (!keep)
        begin_close(c, linger_for(c));
    else if (!c->feeding)
        conn_resume(c);
}

void http_respond_error(http_req *r, int status, const char *code, const char *message)
{
    char body[ERROR_BODY_MAX];
    size_t len = error_json(body, sizeof(body), code, message);

    http_respond(r, status, NULL, body, len, 0);
}
