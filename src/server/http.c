/* http.c: the HTTP/1.1 server of wxsessiond on one libuv loop (contract in http.h): accepting,
 * timing out and closing connections, writing answers, the server itself; reading and parsing
 * requests is in http_parse.c. */
#include "http_conn.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HEADER_BYTES 16384
#define DEFAULT_BODY_BYTES 1048576
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_BODY_TIMEOUT_MS 30000
#define LISTEN_BACKLOG 1024
#define LINGER_MS 2000        /* discard input this long after an error answer */
#define STOP_LINGER_MS 500    /* the same while the server stops */
#define KEEP_BODY_BYTES 65536 /* larger body buffers are released after their request */
#define MAX_CONTENT_TYPE 256
#define HEAD_MAX (320 + MAX_CONTENT_TYPE)
#define ERROR_BODY_MAX 1024
#define DEFAULT_CONTENT_TYPE "application/json; charset=utf-8"

typedef struct write_req {
    uv_write_t req;
    char data[];
} write_req;

static void begin_close(http_conn *c, uint64_t linger_ms);

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
        http__conn_drain(c);
    }
    uv_idle_stop(idle);
}

/* ---- writing */

/* A write finished: when it unblocks a client's waiting pipelined input, parse it. */
static void on_write(uv_write_t *req, int status)
{
    http_conn *c = req->handle->data;

    c->writes_pending--;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        http__conn_close(c);
    else if (c->in_len > 0 && http__conn_can_parse(c))
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
int http__conn_write(http_conn *c, const char *head, size_t hlen, const char *body, size_t blen)
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
    if (http__conn_write(c, head, hlen, body, len) < 0)
        http__conn_close(c);
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
void http__conn_close(http_conn *c)
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

static void on_shutdown(uv_shutdown_t *req, int status)
{
    http_conn *c = req->handle->data;

    if (status < 0 && status != UV_ECANCELED)
        http__conn_close(c);
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
        http__conn_close(c);
        return;
    }
    c->lingering = 1;
    s->lingering++;
    c->in_off = 0;
    c->in_len = 0;
    ready_remove(c);
    uv_timer_start(&c->timer, http__on_timer, linger_ms, 0);
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0 ||
        http__conn_read_start(c) < 0)
        http__conn_close(c);
}

static uint64_t linger_for(const http_conn *c)
{
    return c->server->stopping ? STOP_LINGER_MS : LINGER_MS;
}

/* Answer with an error of the server's own and close: the request was not dispatched. */
void http__conn_fail(http_conn *c, int status, const char *code, const char *msg)
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

/* ---- libuv callbacks */

void http__on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;

    if (c->lingering) {
        http__conn_close(c);
        return;
    }
    switch (c->phase) {
    case PHASE_HEADERS:
        http__conn_fail(c, 408, "ERR_HEADER_TIMEOUT", "request header timeout");
        break;
    case PHASE_BODY:
        http__conn_fail(c, 408, "ERR_BODY_TIMEOUT", "request body timeout");
        break;
    case PHASE_IDLE:
        http__conn_close(c);
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
        http__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->open >= s->limits.max_connections) {
        http__conn_fail(c, 503, "ERR_TOO_MANY_CONNECTIONS", "too many connections");
        return;
    }
    c->counted = 1;
    s->open++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (http__conn_read_start(c) < 0) {
        http__conn_close(c);
        return;
    }
    http__start_idle_timer(c);
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
            http__conn_close(c);
        else
            begin_close(c, STOP_LINGER_MS);
    }
}

/* ---- answering */

/* After an answer on a kept-alive connection: parse what is buffered (from the idle callback,
 * never inside http_respond), or wait for the next request. */
static void conn_resume(http_conn *c)
{
    if (c->in_len > 0) {
        ready_add(c);
        return;
    }
    if (http__conn_read_start(c) < 0) {
        http__conn_close(c);
        return;
    }
    http__start_idle_timer(c);
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
