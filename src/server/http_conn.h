/* http_conn.h: the server, connection and request structs of wxsessiond's HTTP server, private
 * to http.c (which runs them) and http_req.c (which reads the request); the contract is in
 * http.h. */
#ifndef WXS_HTTP_CONN_H
#define WXS_HTTP_CONN_H

#include "http.h"
#include "http_parse.h"
#include "http_write.h"
#include "list.h"

#define HTTP_LISTEN_BACKLOG 1024
#define READ_BUF_BYTES 65536 /* one shared read buffer per server */
#define HTTP_REQ_ID_MAX 64

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
    unsigned tag;                 /* http_req_set_tag */
    char id[HTTP_REQ_ID_MAX + 1]; /* with limits.request_ids, else "" */
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
    size_t queued;        /* bytes of this connection's queued writes (in server->queued) */
    size_t progress_mark; /* its write queue's size when the timer last looked */
    int handles_open;
    unsigned reading : 1;
    unsigned feeding : 1;
    unsigned counted : 1;
    unsigned lingering : 1; /* closing after the answer: writing it, then discarding input */
    unsigned written : 1;   /* lingering and the answer all written (FIN sent): timer runs */
    unsigned peer_done : 1; /* the client half-closed while its answer was being written */
    unsigned closing : 1;
    unsigned used : 1; /* a request was dispatched on it */
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t idle;         /* runs while connections wait in the ready list */
    uv_timer_t grace_timer; /* http_server_stop's grace period */
    uv_tcp_t spare;         /* accepts and drops a connection we have no memory for */
    http_limits limits;
    http_handler_fn handler;
    void *app;
    int port;
    wxs__list conns;
    wxs__list ready;
    unsigned open;      /* connections being served (what max_connections bounds) */
    unsigned lingering; /* connections closing after an error answer or a 503 */
    unsigned live;      /* conn structs not yet freed */
    size_t queued;      /* bytes queued on all connections: limits.queued_bytes bounds it */
    int handles_open;   /* listener, idle and grace_timer */
    int stopping;
    int grace_over;   /* stopping and the grace period passed: unfinished answers reset */
    int grace_closed; /* grace_timer is being closed */
    int enforcing;    /* resetting connections over the output budget */
    int spare_busy;
    int accept_stalled;
    void (*done)(void *arg);
    void *done_arg;
    http_date date;
    http_stats stats;
    http_observer_fn observer;
    uint64_t id_prefix; /* random, for the request ids this server makes */
    uint64_t id_next;
    char rbuf[READ_BUF_BYTES];
};

/* ---- the server's set-up (http_setup.c) */

/** A non-blocking listening socket on host:port with SO_REUSEPORT (so the workers of a process
 *  share the port): its fd and its actual port (port 0 picks one). 0 or a negative errno /
 *  UV_EINVAL (host is no IP address literal). */
int http__listen_socket(const char *host, int port, int *fd_out, int *port_out);

/** out = in (NULL: all zero) with every 0 replaced by its default. */
void http__limits_with_defaults(http_limits *out, const http_limits *in);

#endif /* WXS_HTTP_CONN_H */
