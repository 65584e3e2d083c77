/* http_conn.h: the server, connection and request structs of wxsessiond's HTTP server, private
 * to http.c (which runs them) and http_req.c (which reads the request); the contract is in
 * http.h. */
#ifndef WXS_HTTP_CONN_H
#define WXS_HTTP_CONN_H

#include "http.h"
#include "http_parse.h"
#include "http_write.h"
#include "list.h"

#define READ_BUF_BYTES 65536 /* one shared read buffer per server */

/* Where a connection is in its current request. */
enum phase {
    PHASE_IDLE,       /* between requests: idle timer */
    PHASE_HEADERS,    /* request line / headers arriving: header deadline */
    PHASE_BODY,       /* body arriving: body deadline */
    PHASE_DISPATCHED, /* the handler holds the request: no timer, parser paused */
};

typedef struct http_conn http_conn;

/* The request lives inside its connection (one at a time); its bytes are in conn->parse. */
struct http_req {
    http_conn *conn;
    int aborted;
    uint64_t start_us;
    void (*on_abort)(void *arg, http_req *r);
    void *abort_arg;
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    http_parse parse;
    http_server *server;
    wxs__list link;       /* in server->conns: every conn struct not yet freed */
    wxs__list ready_link; /* in server->ready while buffered input waits to be parsed */
    http_req req;
    char *in; /* received but not yet parsed (pipelined behind a request in flight) */
    size_t in_off, in_len, in_cap;
    enum phase phase;
    unsigned writes_pending;
    int handles_open;
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
    wxs__list conns;
    wxs__list ready;
    unsigned open;      /* connections being served (what max_connections bounds) */
    unsigned lingering; /* connections closing after an error answer or a 503 */
    unsigned live;      /* conn structs not yet freed */
    int handles_open;   /* listener and idle */
    int stopping;
    int spare_busy;
    int accept_stalled;
    void (*done)(void *arg);
    void *done_arg;
    http_date date;
    char rbuf[READ_BUF_BYTES];
};

#endif /* WXS_HTTP_CONN_H */
