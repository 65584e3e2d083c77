/* http.h: the HTTP/1.1 server of wxsessiond on one libuv loop, on Debian's http-parser.
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
 *   413 ERR_BODY_TOO_LARGE     body over body_bytes (announced or received)
 *   431 ERR_HEADER_TOO_LARGE   request line + headers over header_bytes
 *   503 ERR_TOO_MANY_CONNECTIONS  over max_connections on this worker (then closed)
 * Idle keep-alive connections close silently after idle_timeout_ms.
 */
#ifndef WXS_HTTP_H
#define WXS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

typedef struct http_limits {
    size_t header_bytes;       /* request line + header block, default 16384 */
    size_t body_bytes;         /* default 1048576 */
    unsigned max_connections;  /* per server (worker) */
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
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
 *  close after the response), then free everything and call done(arg) on the loop thread. */
void http_server_stop(http_server *s, void (*done)(void *arg), void *arg);
/** Connections currently open on this server. */
unsigned http_server_connections(const http_server *s);

/* ---- the request, valid until http_respond() */
int http_req_method(const http_req *r); /* enum http_method of http_parser.h (HTTP_GET, ...) */
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
/** Ask to be told (once, on the loop thread) when the client goes away before the response. */
void http_req_on_abort(http_req *r, void (*cb)(void *arg, http_req *r), void *arg);
/** Microseconds (uv_hrtime/1000) when the request's first byte arrived. */
uint64_t http_req_start_us(const http_req *r);

/** Answer the request: status, Content-Type (NULL: application/json; charset=utf-8), body
 *  (copied). Adds Content-Length, Date and Connection. close_after != 0 closes the connection
 *  once sent. Exactly once per request; frees req. */
void http_respond(http_req *r, int status, const char *content_type, const char *body,
                  size_t len, int close_after);
/** http_respond with {"error":{"code":code,"message":message}} (message JSON-escaped). */
void http_respond_error(http_req *r, int status, const char *code, const char *message);

#endif /* WXS_HTTP_H */
