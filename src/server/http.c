/* http.c: the HTTP/1.1 server of wxsessiond on one libuv loop (contract in http.h): the server
 * and its connections: accepting, reading, deadlines, limits, feeding the parser (http_parse.c),
 * dispatching each request to the handler, answering through the writer (http_write.c), and
 * closing. */
#define _GNU_SOURCE /* accept4 */
#include "counter.h"
#include "http_conn.h"
#include "server_reasons.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS 2000     /* discard input this long after the last answer was written */
#define STOP_LINGER_MS 500 /* the same while the server stops */
/* Answers queued to a client that does not read them: past this, its pipelined input waits (and
 * reading stops). */
#define MAX_QUEUED_OUTPUT 262144

static void on_connection(uv_stream_t *listener, int status);
static void on_timer(uv_timer_t *t);
static void on_idle(uv_idle_t *idle);
static int conn_read_start(http_conn *c);
static void conn_close(http_conn *c);
static void drain_backlog(http_server *s);
static void start_idle_timer(http_conn *c);
static void begin_close(http_conn *c);
static void conn_reset(http_conn *c);

/* ---- the server */

static void on_server_handle_closed(uv_handle_t *h);

/* Free the server once it is stopping and nothing of it is left (the grace timer is closed
 * last); then call done. */
static void server_maybe_finish(http_server *s)
{
    void (*done)(void *arg) = s->done;
    void *arg = s->done_arg;

    if (!s->stopping || s->live > 0 || s->spare_busy)
        return;
    if (!s->grace_closed) {
        s->grace_closed = 1;
        uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
        return;
    }
    if (s->handles_open > 0)
        return;
    free(s);
    if (done != NULL)
        done(arg);
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
    if (getrandom(&s->id_prefix, sizeof s->id_prefix, GRND_NONBLOCK) != sizeof s->id_prefix)
        s->id_prefix = uv_hrtime() ^ ((uint64_t)getpid() << 32); /* unique enough for ids */
    wxs__list_init(&s->conns);
    wxs__list_init(&s->ready);
    http__limits_with_defaults(&s->limits, limits);
    rc = http__listen_socket(host, port, &fd, &s->port);
    if (rc < 0) {
        free(s);
        return rc;
    }
    uv_tcp_init(loop, &s->listener);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->grace_timer);
    s->listener.data = s;
    s->idle.data = s;
    s->grace_timer.data = s;
    s->handles_open = 3;
    rc = uv_tcp_open(&s->listener, fd);
    if (rc < 0)
        close(fd);
    else
        rc = uv_listen((uv_stream_t *)&s->listener, HTTP_LISTEN_BACKLOG, on_connection);
    if (rc < 0) {
        /* the handles exist: s is freed from their close callbacks (the grace timer's last) */
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

const http_stats *http_server_stats(const http_server *s)
{
    return &s->stats;
}

void http_server_observe(http_server *s, http_observer_fn fn)
{
    s->observer = fn;
}

unsigned http_server_connections(const http_server *s)
{
    return s->open;
}

size_t http_server_queued(const http_server *s)
{
    return s->queued;
}

/* The stop's grace period passed: answers still being written will not be finished (reset
 * their connections so their clients can tell), requests still arriving will not be answered. */
static void on_grace_over(uv_timer_t *t)
{
    http_server *s = t->data;
    wxs__list *pos;
    wxs__list *tmp;
    s->grace_over = 1;
    wxs__list_each(pos, tmp, &s->conns)
    {
        http_conn *c = wxs__list_entry(pos, http_conn, link);
        if (c->closing)
            continue;
        if (c->writes_pending > 0)
            conn_reset(c);
        else if (c->phase != PHASE_DISPATCHED && !c->lingering)
            conn_close(c); /* idle, or a request still arriving: not answered */
    }
}

void http_server_stop(http_server *s, void (*done)(void *arg), void *arg)
{
    wxs__list *pos;
    wxs__list *tmp;
    if (s->stopping)
        return;
    s->stopping = 1;
    s->done = done;
    s->done_arg = arg;
    wxs__list_each(pos, tmp, &s->conns)
    {
        http_conn *c = wxs__list_entry(pos, http_conn, link);
        if (c->closing || c->lingering || c->phase == PHASE_DISPATCHED)
            continue;
        if (c->phase == PHASE_IDLE && c->writes_pending > 0)
            begin_close(c); /* the last answer is being written: close after it */
        else if (c->phase == PHASE_IDLE)
            start_idle_timer(c); /* STOP_LINGER_MS for a request already on its way */
        /* a request being received is answered, with Connection: close */
    }
    drain_backlog(s);
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_server_handle_closed);
    if (s->live > 0) {
        uv_timer_start(&s->grace_timer, on_grace_over, s->limits.stop_grace_ms, 0);
    } else { /* nothing to wait for: every handle is closing when this returns */
        s->grace_closed = 1;
        uv_close((uv_handle_t *)&s->grace_timer, on_server_handle_closed);
    }
}

/* ---- accepting */

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
    wxs__count(&s->stats.rejected_memory);
    s->spare_busy = 1;
    uv_tcp_init(s->loop, &s->spare);
    s->spare.data = s;
    (void)uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&s->spare);
    uv_close((uv_handle_t *)&s->spare, on_spare_closed);
}

/* Wait for the next request: idle_timeout_ms; while stopping, STOP_LINGER_MS for a kept-alive
 * connection (a request already on its way) and the header deadline for a new one (its client
 * connected to send one: one taken from the backlog at the stop, say), never past
 * idle_timeout_ms; the stop's grace period bounds both. */
static void start_idle_timer(http_conn *c)
{
    http_server *s = c->server;
    uint64_t ms = s->limits.idle_timeout_ms;
    uint64_t stop_ms = c->used ? STOP_LINGER_MS : s->limits.header_timeout_ms;
    if (s->stopping && stop_ms < ms)
        ms = stop_ms;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void conn_fail(http_conn *c, int status, const char *code, const char *msg);

/* A connection struct on s, its handles initialised and counted live; NULL without memory. */
static http_conn *conn_new(http_server *s)
{
    http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->server = s;
    c->req.conn = c;
    http_parse_init(&c->parse, s->limits.header_bytes, s->limits.body_bytes);
    wxs__list_init(&c->ready_link);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    wxs__list_push(&s->conns, &c->link);
    s->live++;
    return c;
}

/* Serve c, whose socket is open in c->tcp: 503 over max_connections, else read requests. */
static void conn_start(http_conn *c)
{
    http_server *s = c->server;
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->open >= s->limits.max_connections) {
        wxs__count(&s->stats.rejected_limit);
        conn_fail(c, 503, HTTP_REASON_TOO_MANY_CONNECTIONS, "too many connections");
        return;
    }
    c->counted = 1;
    s->open++;
    wxs__count(&s->stats.accepted);
    if (conn_read_start(c) < 0) {
        conn_close(c);
        return;
    }
    start_idle_timer(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_server *s = listener->data;
    if (status < 0 || s->stopping)
        return;
    http_conn *c = conn_new(s);
    if (c == NULL) {
        drop_connection(s);
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    conn_start(c);
}

/* At the stop: take the connections still waiting in the listener's backlog and serve them,
 * rather than let the close reset them: with SO_REUSEPORT the kernel put them in this
 * listener's queue, and a process taking over the port (a restart with reusePort) never sees
 * them. Each is answered once, with Connection: close. */
static void drain_backlog(http_server *s)
{
    uv_os_fd_t lfd;
    if (uv_fileno((uv_handle_t *)&s->listener, &lfd) != 0)
        return;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: the backlog is empty (or the listener failed: nothing to save) */
        http_conn *c = conn_new(s);
        if (c == NULL) {
            close(fd);
            continue;
        }
        if (uv_tcp_open(&c->tcp, fd) < 0) {
            close(fd);
            conn_close(c);
            continue;
        }
        conn_start(c);
    }
}

/* ---- the ready list: connections whose buffered input is parsed from the idle callback */

/* 1 while more than MAX_QUEUED_OUTPUT bytes of answers wait for the client to read them. */
static int output_blocked(const http_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > MAX_QUEUED_OUTPUT;
}

/* 1 when the connection's input may be parsed now. */
static int conn_can_parse(const http_conn *c)
{
    return !c->closing && !c->lingering && c->phase != PHASE_DISPATCHED && !output_blocked(c);
}

static void ready_add(http_conn *c)
{
    http_server *s = c->server;
    if (!wxs__list_empty(&c->ready_link))
        return;
    if (s->stopping) {
        begin_close(c);
        return;
    }
    wxs__list_push(&s->ready, &c->ready_link);
    uv_idle_start(&s->idle, on_idle);
}

static void conn_drain(http_conn *c);

/* Parse the pipelined input of every ready connection; handlers run here, outside any
 * http_respond() stack. */
static void on_idle(uv_idle_t *idle)
{
    http_server *s = idle->data;
    wxs__list *l;
    while ((l = wxs__list_shift(&s->ready)) != NULL)
        conn_drain(wxs__list_entry(l, http_conn, ready_link));
    uv_idle_stop(idle);
}

/* ---- reading */

static size_t conn_feed(http_conn *c, const char *data, size_t len);

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

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->server->rbuf, READ_BUF_BYTES);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    size_t used;
    if (nread == 0 || c->closing)
        return;
    if (nread == UV_EOF && c->writes_pending > 0 && c->phase != PHASE_DISPATCHED) {
        /* a half-close after the last request: finish its answer, then close */
        uv_read_stop(stream);
        c->reading = 0;
        c->peer_done = 1;
        begin_close(c);
        return;
    }
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

/* Start reading the socket unless it is being read or the client sent all it will. 0 or a
 * negative libuv error. */
static int conn_read_start(http_conn *c)
{
    int rc = 0;
    if (!c->reading && !c->peer_done) {
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        c->reading = rc == 0;
    }
    return rc;
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

/* ---- writing */

/* A queued write finished: its bytes leave the budget; when it unblocks a client's waiting
 * pipelined input, parse it; the last one of an idle keep-alive connection starts its idle
 * wait. (A closing connection's bytes left the budget in conn_close.) */
static void on_write(uv_write_t *req, int status)
{
    http_conn *c = req->handle->data;
    size_t len = http_write_done(req);
    c->writes_pending--;
    if (c->closing)
        return;
    c->queued -= len;
    c->server->queued -= len;
    if (status < 0)
        conn_close(c);
    else if (c->in_len > 0 && conn_can_parse(c))
        ready_add(c);
    else if (c->writes_pending == 0 && c->phase == PHASE_IDLE && !c->lingering)
        start_idle_timer(c);
}

/* The open connection holding the most queued output (NULL when none holds any). */
static http_conn *largest_queue(http_server *s)
{
    http_conn *largest = NULL;
    wxs__list *pos;
    wxs__list *tmp;
    wxs__list_each(pos, tmp, &s->conns)
    {
        http_conn *c = wxs__list_entry(pos, http_conn, link);
        if (!c->closing && c->queued > 0 && (largest == NULL || c->queued > largest->queued))
            largest = c;
    }
    return largest;
}

/* Keep the output queued on the server's connections within limits.queued_bytes: reset the
 * connections holding the most until it is (their clients are not reading: see http.h). */
static void enforce_output_budget(http_server *s)
{
    http_conn *c;
    if (s->enforcing)
        return; /* an abort callback answered another request meanwhile */
    s->enforcing = 1;
    while (s->queued > s->limits.queued_bytes && (c = largest_queue(s)) != NULL) {
        wxs__count(&s->stats.reset_budget);
        conn_reset(c);
    }
    s->enforcing = 0;
}

/* Send head and body after whatever is already queued; what is queued counts against the
 * server's output budget (which may reset c). 0 or a negative libuv error. */
static int conn_write(http_conn *c, const char *head, size_t hlen, const char *body, size_t blen)
{
    size_t queued = 0;
    int rc = http_write((uv_stream_t *)&c->tcp, head, hlen, body, blen, on_write, &queued);
    if (rc > 0) {
        c->writes_pending++;
        c->queued += queued;
        c->server->queued += queued;
        c->progress_mark = SIZE_MAX; /* progress is judged from the next timer on */
        enforce_output_budget(c->server);
        rc = 0;
    }
    return rc;
}

/* The timer fired while output is queued: go on waiting while the client reads some of it
 * (the queue shrank since the last look), else reset. */
static void conn_check_progress(http_conn *c, uint64_t wait_ms)
{
    size_t left = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    if (c->server->grace_over || left >= c->progress_mark) {
        if (!c->server->grace_over)
            wxs__count(&c->server->stats.reset_stalled);
        conn_reset(c);
        return;
    }
    c->progress_mark = left;
    uv_timer_start(&c->timer, on_timer, wait_ms, 0);
}

/* Write a complete response; a failed write closes the connection. */
static void send_response(http_conn *c, int status, const char *ctype, const char *extra,
                          const char *body, size_t len, int keep, int head_only)
{
    char head[HTTP_WRITE_HEAD_MAX + HTTP_WRITE_EXTRA_MAX + sizeof "X-Request-Id: \r\n" +
              HTTP_REQ_ID_MAX];
    size_t hlen = http_write_head(head, &status, ctype, len, keep, &c->server->date);

    hlen = http_write_extra(head, hlen, extra);
    if (c->req.id[0] != '\0') {
        char line[sizeof "X-Request-Id: \r\n" + HTTP_REQ_ID_MAX];
        snprintf(line, sizeof line, "X-Request-Id: %s\r\n", c->req.id);
        hlen = http_write_extra(head, hlen, line);
    }
    if (head_only || http_write_status_has_no_body(status))
        len = 0;
    if (conn_write(c, head, hlen, body, len) < 0)
        conn_close(c);
}

/* ---- parsing and dispatching */

/* A request's first byte arrived: its header deadline starts. */
static void conn_request_begins(http_conn *c)
{
    c->phase = PHASE_HEADERS;
    c->req.start_us = uv_hrtime() / 1000;
    uv_timer_start(&c->timer, on_timer, c->server->limits.header_timeout_ms, 0);
}

/* A header block announcing a body is complete: the body deadline starts; "100 Continue" when
 * the client waits for it (the limits were checked). */
static void conn_body_begins(http_conn *c)
{
    static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";
    c->phase = PHASE_BODY;
    uv_timer_start(&c->timer, on_timer, c->server->limits.body_timeout_ms, 0);
    if (http_parse_wants_continue(&c->parse) &&
        conn_write(c, continue_100, sizeof(continue_100) - 1, NULL, 0) < 0)
        conn_fail(c, 400, HTTP_REASON_BAD_REQUEST, "write failed");
}

/* The request's id (http_req_id): the client's X-Request-Id when it is a plain token, else
 * one of ours. */
static void request_id_set(http_conn *c)
{
    http_server *s = c->server;
    size_t len = 0;
    const char *given = http_parse_header(&c->parse, "x-request-id", &len);
    int ok = given != NULL && len > 0 && len <= HTTP_REQ_ID_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char ch = (unsigned char)given[i];
        ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             ch == '.' || ch == '_' || ch == '-';
    }
    if (ok) {
        memcpy(c->req.id, given, len);
        c->req.id[len] = '\0';
    } else {
        snprintf(c->req.id, sizeof c->req.id, "%016llx%08llx", (unsigned long long)s->id_prefix,
                 (unsigned long long)(s->id_next++ & 0xffffffffu));
    }
}

static void conn_dispatch(http_conn *c)
{
    http_server *s = c->server;
    http_req *r = &c->req;
    r->aborted = 0;
    r->on_abort = NULL;
    r->tag = 0;
    c->used = 1;
    if (s->limits.request_ids)
        request_id_set(c);
    c->phase = PHASE_DISPATCHED;
    uv_timer_stop(&c->timer);
    s->handler(s->app, r);
}

static void conn_parse_failed(http_conn *c)
{
    const char *code;
    const char *msg;
    int status = http_parse_error(&c->parse, &code, &msg);
    conn_fail(c, status, code, msg);
}

/* Parse len bytes of input, acting on each step the parser stops at and dispatching each
 * complete request. Returns the bytes consumed: it stops early while a handler holds a
 * request, or when the connection is closing. A handler that answers at once returns here and
 * the loop goes on, so nothing recurses. */
static size_t conn_feed(http_conn *c, const char *data, size_t len)
{
    size_t off = 0;
    c->feeding = 1;
    while (off < len && conn_can_parse(c)) {
        size_t used;
        http_parse_result r = http_parse_feed(&c->parse, data + off, len - off, &used);

        off += used;
        if (c->phase == PHASE_IDLE && http_parse_get_phase(&c->parse) != HTTP_PARSE_IDLE)
            conn_request_begins(c);
        if (r == HTTP_PARSE_HEAD_DONE)
            conn_body_begins(c);
        else if (r == HTTP_PARSE_REQUEST)
            conn_dispatch(c);
        else if (r == HTTP_PARSE_ERROR)
            conn_parse_failed(c);
        else if (used == 0)
            conn_fail(c, 400, HTTP_REASON_BAD_REQUEST, "unparsable input"); /* never loops */
    }
    c->feeding = 0;
    return off;
}

/* ---- closing and freeing */

/* Free the connection once its handles are closed and no handler holds its request. */
static void conn_release(http_conn *c)
{
    http_server *s = c->server;
    if (c->handles_open > 0 || c->phase == PHASE_DISPATCHED)
        return;
    wxs__list_remove(&c->link);
    http_parse_free(&c->parse);
    free(c->in);
    free(c);
    s->live--;
    server_maybe_finish(s);
}

/* Make the socket's close a reset: SO_LINGER on with 0 s (uv_tcp_close_reset refuses a stream
 * that is shutting down). */
static void conn_set_reset(http_conn *c)
{
    struct linger now = {.l_onoff = 1, .l_linger = 0};
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
}

/* Reset the connection (see conn_close): its answer will not be finished. */
static void conn_reset(http_conn *c)
{
    if (c->closing)
        return;
    conn_set_reset(c);
    conn_close(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    if (--c->handles_open == 0)
        conn_release(c);
}

/* Close the connection's handles. Queued writes are cancelled; when there are any, the
 * connection is reset (SO_LINGER 0: RST) rather than closed, so that its client does not take a
 * cut answer for a whole one. A request in flight is marked aborted and its on_abort callback runs;
 * the struct lives on until http_respond(). Idempotent. */
static void conn_close(http_conn *c)
{
    http_server *s = c->server;
    if (c->closing)
        return;
    c->closing = 1;
    s->queued -= c->queued;
    c->queued = 0;
    if (c->writes_pending > 0)
        conn_set_reset(c);
    if (c->counted) {
        c->counted = 0;
        s->open--;
        wxs__count(&s->stats.closed);
    }
    if (c->lingering)
        s->lingering--;
    wxs__list_remove(&c->ready_link);
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

static uint64_t linger_for(const http_conn *c)
{
    return c->server->stopping ? STOP_LINGER_MS : LINGER_MS;
}

/* The answer is all written and FIN sent: the linger starts now. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    http_conn *c = req->handle->data;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->written = 1;
    if (c->peer_done)
        conn_close(c); /* nothing more will come to discard */
    else
        uv_timer_start(&c->timer, on_timer, linger_for(c), 0);
}

/* End the connection gracefully after the queued writes: once the last byte is written, send
 * FIN (on_shutdown), then read and discard what the client still sends until it closes or the
 * linger passes, so that it reads our answer rather than a reset (it may still be sending a
 * body we refused). Until then the timer watches the writes' progress (conn_check_progress).
 * Never while a request is in flight. */
static void begin_close(http_conn *c)
{
    http_server *s = c->server;
    if (c->closing || c->lingering)
        return;
    if (c->counted) {
        c->counted = 0;
        s->open--;
        wxs__count(&s->stats.closed);
    }
    if (s->lingering >= s->limits.max_connections) {
        conn_close(c);
        return;
    }
    c->lingering = 1;
    s->lingering++;
    c->in_off = 0;
    c->in_len = 0;
    wxs__list_remove(&c->ready_link);
    if (c->writes_pending > 0 && s->grace_over) {
        conn_reset(c); /* stopping, and the grace period is over */
        return;
    }
    c->progress_mark = SIZE_MAX;
    uv_timer_start(&c->timer, on_timer, s->limits.idle_timeout_ms, 0); /* until on_shutdown */
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0 ||
        conn_read_start(c) < 0)
        conn_close(c);
}

/* Answer with an error of the server's own and close: the request was not dispatched. */
static void conn_fail(http_conn *c, int status, const char *code, const char *msg)
{
    char body[HTTP_WRITE_ERROR_MAX];
    size_t len;

    if (c->closing || c->lingering)
        return;
    len = http_write_error_json(body, sizeof(body), code, msg);
    c->phase = PHASE_IDLE;
    c->req.id[0] = '\0';
    if (status >= 100 && status < 600)
        wxs__count(&c->server->stats.own_answers[status / 100]);
    send_response(c, status, NULL, NULL, body, len, 0, 0);
    begin_close(c);
}

/* The connection's timer: the header, body and idle deadlines of its phase, or the end of a
 * linger. */
static void on_timer(uv_timer_t *t)
{
    http_conn *c = t->data;
    if (c->lingering) {
        if (c->written)
            conn_close(c); /* the linger after the answer passed */
        else
            conn_check_progress(c, c->server->limits.idle_timeout_ms);
        return;
    }
    if (c->phase == PHASE_IDLE && c->writes_pending > 0) {
        conn_check_progress(c, c->server->limits.idle_timeout_ms);
        return;
    }
    switch (c->phase) {
    case PHASE_HEADERS:
        conn_fail(c, 408, HTTP_REASON_HEADER_TIMEOUT, "request header timeout");
        break;
    case PHASE_BODY:
        conn_fail(c, 408, HTTP_REASON_BODY_TIMEOUT, "request body timeout");
        break;
    case PHASE_IDLE:
        conn_close(c);
        break;
    case PHASE_DISPATCHED:
        break;
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
    if (conn_read_start(c) < 0) {
        conn_close(c);
        return;
    }
    start_idle_timer(c);
}

void http_respond_with_headers(http_req *r, int status, const char *content_type,
                               const char *extra_headers, const char *body, size_t len,
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
    keep = http_parse_keep_alive(&c->parse) && !close_after && !c->server->stopping;
    if (c->server->observer != NULL)
        c->server->observer(c->server->app, r, status, len);
    send_response(c, status, content_type, extra_headers, body, len, keep,
                  http_parse_method(&c->parse) == HTTP_HEAD);
    http_parse_next(&c->parse);
    if (c->closing)
        return;
    if (!keep)
        begin_close(c);
    else if (!c->feeding)
        conn_resume(c);
}
