/* http_conn.h: what http.c and http_parse.c share, private to them (the contract is in http.h):
 * the connection, request and server structs, and the functions one file calls in the other. */
#ifndef WXS_HTTP_CONN_H
#define WXS_HTTP_CONN_H

#include "http.h"

#include <http_parser.h>
#include <time.h>

#define READ_BUF_BYTES 65536 /* one shared read buffer per server */
#define MAX_QUEUED_OUTPUT 262144 /* answers queued to a client that does not read them: past
                                  * this, its pipelined input waits (and reading stops) */

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

/* ---- in http.c */

/* The connection's timer: the header, body and idle deadlines of its phase, or the end of a
 * linger. */
void http__on_timer(uv_timer_t *t);

/* Send head and body after whatever is already queued. 0 or a negative libuv error. */
int http__conn_write(http_conn *c, const char *head, size_t hlen, const char *body, size_t blen);

/* Close the connection's handles; a request in flight is aborted. Idempotent. */
void http__conn_close(http_conn *c);

/* Answer with an error of the server's own and close: the request was not dispatched. */
void http__conn_fail(http_conn *c, int status, const char *code, const char *msg);

/* ---- in http_parse.c */

/* Start reading the socket unless it is being read. 0 or a negative libuv error. */
int http__conn_read_start(http_conn *c);

/* Parse the buffered input (after an answer); resume reading when there is room again. */
void http__conn_drain(http_conn *c);

/* ---- small helpers on the per-request path, inline in both files */

/* 1 while more than MAX_QUEUED_OUTPUT bytes of answers wait for the client to read them. */
static inline int http__output_blocked(const http_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > MAX_QUEUED_OUTPUT;
}

/* 1 when the connection's input may be parsed now. */
static inline int http__conn_can_parse(const http_conn *c)
{
    return !c->closing && !c->lingering && c->phase != PHASE_DISPATCHED && !http__output_blocked(c);
}

static inline void http__start_idle_timer(http_conn *c)
{
    uv_timer_start(&c->timer, http__on_timer, c->server->limits.idle_timeout_ms, 0);
}

#endif
