/* http_parse.c: reading and parsing requests for http.c: the socket's read callback, the
 * http-parser callbacks that collect a request into its connection's buffers, dispatching it to
 * the handler, input pipelined behind a request in flight, and the http_req accessors. */
#include "http_conn.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 100

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
    uv_timer_start(&c->timer, http__on_timer, c->server->limits.header_timeout_ms, 0);
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
    uv_timer_start(&c->timer, http__on_timer, c->server->limits.body_timeout_ms, 0);
    c->body_max = c->server->limits.body_bytes + 1;
    if (p->flags & F_CONTENTLENGTH)
        c->body_max = (size_t)p->content_length + 1;
    if (c->expect_continue && p->http_minor >= 1 &&
        http__conn_write(c, continue_100, sizeof(continue_100) - 1, NULL, 0) < 0)
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
        http__conn_fail(c, c->err_status, c->err_code, c->err_msg);
    else if (e == HPE_HEADER_OVERFLOW)
        http__conn_fail(c, 431, "ERR_HEADER_TOO_LARGE", "request header too large");
    else
        http__conn_fail(c, 400, "ERR_BAD_REQUEST", http_errno_description(e));
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
    while (off < len && http__conn_can_parse(c)) {
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
            http__conn_fail(c, 431, "ERR_HEADER_TOO_LARGE", "request header too large");
        } else if (used == 0) {
            http__conn_fail(c, 400, "ERR_BAD_REQUEST", "unparsable input");
        }
    }
    c->feeding = 0;
    return off;
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
    if ((c->in_len >= max_pending(c) || http__output_blocked(c)) && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    return 0;
}

/* Parse the buffered input (after an answer); resume reading when there is room again. */
void http__conn_drain(http_conn *c)
{
    size_t used;

    if (!http__conn_can_parse(c))
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
    if (c->in_len < max_pending(c) && http__conn_read_start(c) < 0) {
        http__conn_close(c);
        return;
    }
    if (c->phase == PHASE_IDLE)
        http__start_idle_timer(c);
}

/* ---- reading */

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
        http__conn_close(c); /* EOF or error; a request in flight is aborted */
        return;
    }
    if (c->lingering)
        return;
    if (c->phase == PHASE_DISPATCHED || c->in_len > 0) {
        if (conn_buffer(c, buf->base, (size_t)nread) < 0)
            http__conn_close(c);
        return;
    }
    used = conn_feed(c, buf->base, (size_t)nread);
    if (c->closing || c->lingering)
        return;
    if (used < (size_t)nread && conn_buffer(c, buf->base + used, (size_t)nread - used) < 0)
        http__conn_close(c);
    else if (c->phase == PHASE_IDLE)
        http__start_idle_timer(c);
}

int http__conn_read_start(http_conn *c)
{
    int rc = 0;

    if (!c->reading) {
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = rc == 0;
    }
    return rc;
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
