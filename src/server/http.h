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
 *                              Transfer-Encoding, an absolute-form or non-'/' target
 *   408 ERR_HEADER_TIMEOUT     the header block did not arrive within header_timeout_ms of the
 *                              request's first byte (not reset by each read: slowloris)
 *   408 ERR_BODY_TIMEOUT       the body did not arrive within body_timeout_ms of the end of the
 *                              header block (not reset by each read either)
 *   413 ERR_BODY_TOO_LARGE     body over body_bytes (announced or received)
 *   431 ERR_HEADER_TOO_LARGE   request line + headers over header_bytes
 *   503 ERR_TOO_MANY_CONNECTIONS  over max_connections on this worker (then closed)
 * Also 400 for header names with whitespace and HTTP major versions other than 1, 431 for more
 * than 100 header fields, 503 ERR_OUT_OF_MEMORY when a request buffer cannot be allocated. After
 * such an answer the server half-closes and discards input for up to 2 s (so the client reads the
 * answer rather than a reset), then closes. Idle keep-alive connections (and new ones that send
 * nothing) close silently after idle_timeout_ms. "Expect: 100-continue" is answered with "100
 * Continue" when the announced body is within limits. Upgrade and CONNECT are not supported (the
 * connection closes after the response; CONNECT's target fails the '/' check).
 *
 * Workers: each worker thread runs its own loop and http_server on the same host:port. With
 * port 0, start the first worker with 0 and the others with http_server_port() of the first.
 * The program must ignore SIGPIPE (libuv writes with write(2)); http_server does not touch
 * signal dispositions. Nothing is logged per request.
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
} http_limits;

/** Called once per complete request, on the loop thread. req stays valid until the handler
 *  calls http_respond(req, ...) (then req is gone). */
typedef void (*http_handler_fn)(void *app, http_req *req);

/** Bind host:port (SO_REUSEPORT, so every worker may bind the same port) and start accepting.
 *  port 0 picks a free port (see http_server_port). limits is copied. Returns 0 or a negative
 *  libuv error code. */
int http_server_start(http_server **out, uv_loop_t *loop, const char *host, int port,
                      const http_limits *limits, http_handler_fn handler, void *app);
/** The port actually bound. */
int http_server_port(const http_server *s);
/** Stop accepting, close idle connections, let in-flight requests finish (their connections
 *  close after the response), then free everything and call done(arg) (done may be NULL) on the
 *  loop thread, never from within this call. Connections in the middle of receiving a request
 *  are closed without an answer. Call once; s is gone after done. */
void http_server_stop(http_server *s, void (*done)(void *arg), void *arg);
/** Connections currently being served by this server (not counting ones being closed after an
 *  error answer or a 503). */
unsigned http_server_connections(const http_server *s);

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

/** Answer the request: status, Content-Type (NULL: application/json; charset=utf-8), body
 *  (copied). Adds Content-Length, Date and Connection. close_after != 0 closes the connection
 *  once sent. Exactly once per request; frees req. HEAD gets no body (Content-Length is still
 *  the body's); 204 gets neither body nor Content-Type/Length. A content_type longer than 256
 *  bytes or holding CR/LF is replaced by the default. May be called from within the handler or
 *  later; it never calls the handler itself (buffered pipelined requests are parsed from a
 *  uv_idle callback). */
void http_respond(http_req *r, int status, const char *content_type, const char *body, size_t len,
                  int close_after);
/** http_respond with {"error":{"code":code,"message":message}} (message JSON-escaped). */
void http_respond_error(http_req *r, int status, const char *code, const char *message);

#endif /* WXS_HTTP_H */
