/* http_write.h: the response writer of wxsessiond's HTTP server: the status line and headers of
 * an answer, the server's JSON error bodies, and writing bytes to a libuv stream now or queued.
 * It knows nothing of connections: the caller owns the stream and the completion callback. */
#ifndef WXS_HTTP_WRITE_H
#define WXS_HTTP_WRITE_H

#include <stddef.h>
#include <time.h>
#include <uv.h>

#define HTTP_WRITE_CONTENT_TYPE_MAX 256
#define HTTP_WRITE_HEAD_MAX (320 + HTTP_WRITE_CONTENT_TYPE_MAX) /* a response head's bound */
#define HTTP_WRITE_ERROR_MAX 1024                               /* an error body's bound */
#define HTTP_WRITE_EXTRA_MAX 1024 /* extra header lines of one answer (http_write_extra) */

/* The Date header's text, formatted at most once a second; one per server (not thread-safe). */
typedef struct http_date {
    time_t sec;
    char text[64];
} http_date;

/** 1 for statuses whose answers end with their header block: 1xx, 204, 304 (RFC 9110, 6.4.1). */
int http_write_status_has_no_body(int status);

/** The status line and headers of an answer into out (HTTP_WRITE_HEAD_MAX bytes): status (100 to
 *  599, others become 500; *status is updated), Content-Type (NULL, empty, over 256 bytes or
 *  holding CR/LF: application/json; charset=utf-8) and Content-Length body_len (neither for
 *  statuses without a body), Date, Connection keep-alive or close. Returns the length. */
size_t http_write_head(char *out, int *status, const char *content_type, size_t body_len,
                       int keep_alive, http_date *date);

/** Splice extra header lines (a block of "Name: value\r\n" lines, at most HTTP_WRITE_EXTRA_MAX
 *  bytes) into the head out[0..head_len) that http_write_head() wrote, before its blank line;
 *  out must hold HTTP_WRITE_HEAD_MAX + HTTP_WRITE_EXTRA_MAX bytes. A block that is too long, has
 *  an empty line, a CR or LF outside a line end or does not end with CRLF is left out whole.
 *  NULL or "" adds nothing. Returns the new length. */
size_t http_write_extra(char *out, size_t head_len, const char *extra);

/** {"error":{"code":code,"message":message}} (both JSON-escaped, an over-long message cut at a
 *  character boundary) into out (cap bytes, at least 64), NUL-terminated; returns its length. */
size_t http_write_error_json(char *out, size_t cap, const char *code, const char *message);

/** Send head and body after whatever is already queued on stream: one writev now when the
 *  socket takes it all (returns 0; done is not called), else a copy of the rest (the only copy
 *  of the body the writer makes) is queued (returns 1 and sets *queued to its size; done(req,
 *  status) runs later on the loop and must call http_write_done(req)). A negative libuv error
 *  when neither works (done is not called). */
int http_write(uv_stream_t *stream, const char *head, size_t head_len, const char *body,
               size_t body_len, uv_write_cb done, size_t *queued);

/** Free a queued write's copy; call it from the done callback given to http_write(). Returns
 *  the size http_write() gave in *queued. */
size_t http_write_done(uv_write_t *req);

#endif /* WXS_HTTP_WRITE_H */
