/* http.h: the HTTP/1.1 server of wxsessiond on one libuv loop, on llhttp (Debian's node-llhttp).
 *
 * One http_server per worker loop; workers share a port through SO_REUSEPORT. The server owns
 * connection handling, keep-alive, pipelining (responses leave in request order), limits and
 * timeouts; it hands each complete request to the handler, which answers it with
 * http_respond() exactly once, at once or later (asynchronously).
 *
 * The server answers these itself, with a JSON body {"error":{"code":..,"message":..}} and
 * `Connection: close`:
 *   400 ERR_BAD_REQUEST        malformed HTTP, a duplicate Content-Length, Content-Length with
 *                              Transfer-Encoding, an absolute-form or non-'/' target, an
 *                              HTTP/1.1 request without Host, any request with two Host fields
 *   408 ERR_HEADER_TIMEOUT     the header block did not arrive within header_timeout_ms of the
 *                              request's first byte (not reset by each read: slowloris)
 *   408 ERR_BODY_TIMEOUT       the body did not arrive within body_timeout_ms of the end of the
 *                              header block (not reset by each read either)
 *   413 ERR_BODY_TOO_LARGE     body over body_bytes (announced or received)
 *   431 ERR_HEADER_TOO_LARGE   request line + headers over header_bytes
 *   503 ERR_TOO_MANY_CONNECTIONS  over max_connections on this worker (then closed)
 *   505 ERR_HTTP_VERSION_NOT_SUPPORTED  any version but HTTP/1.0 and HTTP/1.1 (HTTP/1.9,
 *                              HTTP/2.0 in a request line, HTTP/0.9): never served as 1.1
 * Also 400 for header names with whitespace, 431 for more than 100 header fields, 503
 * ERR_OUT_OF_MEMORY when a request buffer cannot be allocated.
 *
 * Closing. A connection that closes after an answer (Connection: close, HTTP/1.0, an error
 * answer, the server stopping) sends FIN only once the whole answer was written to the socket;
 * from then on it reads and discards input for up to 2 s (0.5 s while stopping) so the client
 * reads the answer rather than a reset, then closes. An answer is either sent whole or the
 * connection is reset (RST, the client sees ECONNRESET), never closed cleanly short of its
 * Content-Length: a connection closed while output is still queued is reset. Queued output that
 * makes no progress for idle_timeout_ms resets its connection. Idle keep-alive connections (and
 * new ones that send nothing) close silently after idle_timeout_ms. "Expect: 100-continue" is
 * answered with "100 Continue" when the announced body is within limits. Upgrade and CONNECT are
 * not supported (the connection closes after the response; CONNECT's target fails the '/' check).
 *
 * Output budget. An answer goes out with one write when the socket takes it; what it does not
 * take is copied once and queued. The bytes queued on all of a server's (worker's) connections
 * are bounded by queued_bytes: when queuing an answer puts the total over it, the connections
 * holding the most queued output (the one just answered included) are reset until the total is
 * within the budget again, so clients that do not read their answers hold at most queued_bytes
 * of the worker's memory (momentarily queued_bytes + the answer being queued) and the others,
 * whose answers fit their socket buffers, are served as usual. Besides, a connection with more
 * than 256 KiB queued has its pipelined input left unparsed until the client reads.
 *
 * Workers: each worker thread runs its own loop and http_server on the same host:port. With
 * port 0, start the first worker with 0 and the others with http_server_port() of the first.
 * SO_REUSEPORT lets any process of the same user join a port: call http_listen_probe() before
 * the first worker to refuse a port another process holds. The program must ignore SIGPIPE
 * (libuv writes with write(2)); http_server does not touch signal dispositions. Nothing is
 * logged per request.
 */
#ifndef WXS_HTTP_H
#define WXS_HTTP_H

#include <llhttp.h> /* enum llhttp_method: HTTP_GET, HTTP_POST, HTTP_HEAD, ... */
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Every field: 0 means the default. */
typedef struct http_limits {
    size_t header_bytes;        /* request line + header block, default 16384 */
    size_t body_bytes;          /* default 1048576 */
    unsigned max_connections;   /* per server (worker), default 4096 */
    uint64_t header_timeout_ms; /* first byte of a request to end of its headers, default 10000 */
    uint64_t idle_timeout_ms;   /* keep-alive wait for the next request, default 60000 */
    uint64_t body_timeout_ms;   /* end of headers to end of body, default 30000 */
    size_t queued_bytes;        /* answers queued to clients, per server, default 64 MiB */
    uint64_t stop_grace_ms;     /* http_server_stop: answers still being written after this
                                 * long reset their connections, default 10000 */
    int request_ids;            /* 1: every answer carries X-Request-Id (http_req_id) */
} http_limits;

/* A server's counters, written on its loop thread with relaxed atomic stores and readable from
 * any thread with relaxed atomic loads while the server lives (http_server_stats). */
typedef struct http_stats {
    uint64_t accepted;        /* connections taken in to be served */
    uint64_t closed;          /* of those, closed (accepted - closed: open now) */
    uint64_t rejected_limit;  /* answered 503 and closed: over max_connections */
    uint64_t rejected_memory; /* closed at once: no memory for the connection */
    uint64_t reset_budget;    /* reset: their answers put the server over queued_bytes */
    uint64_t reset_stalled;   /* reset: queued output made no progress for idle_timeout_ms */
    uint64_t own_answers[6];  /* the server's own error answers (400, 408, 413, 431, 503,
                               * 505: http.h above) by status class (index 1..5) */
} http_stats;

/** Called on the loop thread for every answer to a dispatched request, just before it is
 *  written: req is still valid (its method, path, headers, start), status and len are the
 *  answer's (len: the body's length, before HEAD drops it). Must not answer or block. */
typedef void (*http_observer_fn)(void *app, http_req *req, int status, size_t len);

/** Called once per complete request, on the loop thread. req stays valid until the handler
 *  calls http_respond(req, ...) (then req is gone). */
typedef void (*http_handler_fn)(void *app, http_req *req);

/** Bind host:port (SO_REUSEPORT, so every worker may bind the same port) and start accepting.
 *  port 0 picks a free port (see http_server_port). limits is copied. Returns 0 or a negative
 *  libuv error code. */
int http_server_start(http_server **out, uv_loop_t *loop, const char *host, int port,
                      const http_limits *limits, http_handler_fn handler, void *app);
/** Check that no other socket listens on host:port: bind a socket without SO_REUSEPORT (with
 *  SO_REUSEADDR, so connections of an earlier run in TIME_WAIT do not count) and close it.
 *  Returns 0, UV_EADDRINUSE when the port is held, or another negative libuv error. port 0
 *  always passes. Another process may still take the port between this call and the bind. */
int http_listen_probe(const char *host, int port);
/** The port actually bound. */
int http_server_port(const http_server *s);
/** Stop accepting and answer what has come: connections still in the listener's backlog are
 *  taken and served (closing the listener would reset them); requests in flight or being
 *  received are answered, with Connection: close; idle kept-alive connections get 500 ms for
 *  a request already on its way, new ones that have sent nothing yet the header deadline, then
 *  close. Then free everything and call done(arg) (done may be NULL)
 *  on the loop thread, never from within this call. stop_grace_ms after this call, connections
 *  still writing an answer are reset (the client sees ECONNRESET, never a short answer ending
 *  in a clean EOF) and idle connections or requests still arriving are closed unanswered.
 *  Call once; s is gone
 *  after done. */
void http_server_stop(http_server *s, void (*done)(void *arg), void *arg);
/** Connections currently being served by this server (not counting ones being closed after an
 *  error answer or a 503). */
unsigned http_server_connections(const http_server *s);
/** Bytes of answers queued on this server's connections, waiting for their clients to read
 *  them (what queued_bytes bounds). */
size_t http_server_queued(const http_server *s);
/** The server's counters (see http_stats), for any thread while s lives. */
const http_stats *http_server_stats(const http_server *s);
/** Have fn observe every answer from now on (NULL: none); call on the loop thread. */
void http_server_observe(http_server *s, http_observer_fn fn);

/* ---- the request, valid until http_respond() */
/** The method: enum llhttp_method of llhttp.h (HTTP_GET, HTTP_POST, HTTP_HEAD, ...). */
int http_req_method(const http_req *r);
/** The name of a method http_req_method() gave ("GET"); static. */
const char *http_method_name(int method);
/** Request target path without the query string, not decoded; never NULL. */
const char *http_req_path(const http_req *r, size_t *len);
/** Query string after '?', without it; NULL when absent. */
const char *http_req_query(const http_req *r, size_t *len);
/** First value of a header, name matched case-insensitively (pass it in lowercase), value with
 *  surrounding spaces trimmed; NULL when absent. */
const char *http_req_header(const http_req *r, const char *name, size_t *len);
/** The body (de-chunked), NUL-terminated; len 0 and "" when there is none. */
const char *http_req_body(const http_req *r, size_t *len);
/** 1 when the client has gone away; the handler must still call http_respond(). */
int http_req_aborted(const http_req *r);
/** Ask to be told (once, on the loop thread) when the client goes away before the response:
 *  the peer closed (EOF, also a half-close) or reset the connection, or a write to it failed.
 *  Registering after the request is already aborted does not call cb; check
 *  http_req_aborted(). cb may call http_respond(). */
void http_req_on_abort(http_req *r, void (*cb)(void *arg, http_req *r), void *arg);
/** Microseconds (uv_hrtime/1000) when the request's first byte arrived. */
uint64_t http_req_start_us(const http_req *r);
/** The peer's address (the client's, or a proxy's) into *addr. Returns 0 or a negative libuv
 *  error code. */
int http_req_peer(const http_req *r, struct sockaddr_storage *addr);
/** A number the handler gives the request (e.g. its route, for http_observer_fn); 0 until set,
 *  again 0 for the connection's next request. */
void http_req_set_tag(http_req *r, unsigned tag);
unsigned http_req_tag(const http_req *r);
/** With limits.request_ids: the request's id, sent back as X-Request-Id: the client's own
 *  X-Request-Id when it is 1 to 64 characters of [A-Za-z0-9._-] (a proxy's id carries through),
 *  else 24 hex digits unique to this server (a random prefix and a counter). "" without. */
const char *http_req_id(const http_req *r);

/** Answer the request: status, Content-Type (NULL: application/json; charset=utf-8), body
 *  (borrowed for the call: what the socket does not take at once is copied, once, and queued,
 *  counting against queued_bytes). Adds Content-Length, Date and Connection. close_after != 0
 *  closes the connection once sent. Exactly once per request; frees req. HEAD gets no body
 *  (Content-Length is still the body's) and its body is never read: a HEAD handler may pass
 *  body NULL with len the length the GET answer would have; 204 gets neither body nor
 *  Content-Type/Length. A
 *  content_type longer than 256 bytes or holding CR/LF is replaced by the default. May be
 *  called from within the handler or later; it never calls the handler itself (buffered
 *  pipelined requests are parsed from a uv_idle callback). */
void http_respond(http_req *r, int status, const char *content_type, const char *body, size_t len,
                  int close_after);
/** http_respond with extra header lines: extra_headers is a block of "Name: value\r\n" lines
 *  (NULL or "": none) of at most 1024 bytes, sent after the standard headers; a block that is
 *  not such lines is left out whole (http_write_extra). */
void http_respond_with_headers(http_req *r, int status, const char *content_type,
                               const char *extra_headers, const char *body, size_t len,
                               int close_after);
/** http_respond with {"error":{"code":code,"message":message}} (message JSON-escaped). */
void http_respond_error(http_req *r, int status, const char *code, const char *message);

#endif /* WXS_HTTP_H */
