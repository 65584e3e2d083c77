/* http_parse.h: the pure HTTP/1.1 request parser of wxsessiond, on llhttp (strict mode): bytes
 * in, one request at a time out. No I/O, no event loop, no clock: the connection (http.c) and
 * fuzz/driver_http.c feed it.
 *
 * Feed input with http_parse_feed(); it stops at each step a caller must act on: the header
 * block of a request with a body is complete (start the body deadline, answer "Expect:
 * 100-continue"), a request is complete (read it with the accessors below, then call
 * http_parse_next() before feeding more), or the input is refused (http_parse_error() gives the
 * status and error code to answer; feed nothing more). Besides llhttp's own checks it refuses
 * with 400 ERR_BAD_REQUEST: targets not starting with '/', whitespace in header names, control
 * bytes in header values, a duplicate Content-Length, Content-Length with Transfer-Encoding, an
 * HTTP/1.1 request without Host, a request with more than one Host; with 505
 * ERR_HTTP_VERSION_NOT_SUPPORTED any version but HTTP/1.0 and HTTP/1.1; with 431
 * ERR_HEADER_TOO_LARGE a request line + header block of header_bytes or more (found before the
 * block is all fed), more than 100 header fields; with 413 ERR_BODY_TOO_LARGE a body over
 * body_bytes (announced or received); with 503 ERR_OUT_OF_MEMORY a buffer it cannot grow. Memory
 * follows the bytes that arrived, never what was announced, and is bounded by the limits.
 */
#ifndef WXS_HTTP_PARSE_H
#define WXS_HTTP_PARSE_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSE_MAX_HEADERS 100

/* Where the parser is in the current request. */
typedef enum http_parse_phase {
    HTTP_PARSE_IDLE,    /* between requests (blank lines before a request included) */
    HTTP_PARSE_HEADERS, /* request line / header block arriving */
    HTTP_PARSE_BODY,    /* body arriving */
    HTTP_PARSE_DONE,    /* a complete request waits for http_parse_next() */
    HTTP_PARSE_FAILED,  /* refused: see http_parse_error() */
} http_parse_phase;

/* What http_parse_feed() stopped for. */
typedef enum http_parse_result {
    HTTP_PARSE_MORE,      /* every byte was taken; the request (if one began) goes on */
    HTTP_PARSE_HEAD_DONE, /* the header block of a request with a body is complete */
    HTTP_PARSE_REQUEST,   /* a request is complete */
    HTTP_PARSE_ERROR,     /* the input is refused */
} http_parse_result;

typedef struct http_parse_field {
    uint32_t name_off; /* offsets into head; both NUL-terminated there, the name lowercased */
    uint32_t name_len;
    uint32_t value_off;
    uint32_t value_len;
} http_parse_field;

/* One connection's parser; embed it and treat the fields as private. */
typedef struct http_parse {
    llhttp_t parser;
    size_t header_bytes; /* limits */
    size_t body_bytes;
    size_t head_fed; /* bytes of the current header block given to llhttp */
    http_parse_phase phase;
    int last_cb; /* which data callback ran last: fields and values arrive in pieces */
    int paused;  /* llhttp is paused (at a header block's end or a request's end) */
    char *head;  /* "url\0name\0value\0..." of the current request */
    size_t head_len, head_cap;
    uint32_t url_len;
    uint32_t path_len;  /* the path is at head[0] */
    uint32_t query_off; /* 0: no query string */
    uint32_t query_len;
    http_parse_field *headers;
    unsigned nheaders, headers_cap;
    char *body; /* de-chunked, NUL-terminated once the request is complete */
    size_t body_len, body_cap;
    size_t body_max; /* this request's body buffer bound: Content-Length or body_bytes, + 1 */
    unsigned content_lengths;
    unsigned hosts; /* Host fields */
    unsigned transfer_encoding : 1;
    unsigned expect_continue : 1;
    unsigned keep_alive : 1;
    int method;
    int err_status;
    const char *err_code;
    const char *err_msg;
} http_parse;

/** Ready p to parse requests with these limits (header_bytes: request line + header block;
 *  body_bytes: the de-chunked body); both must be > 0. Allocates nothing. */
void http_parse_init(http_parse *p, size_t header_bytes, size_t body_bytes);

/** Free p's buffers; p may be initialised again. */
void http_parse_free(http_parse *p);

/** Parse up to len bytes of data; *used gets how many were taken. Stops after the header block
 *  of a request with a body (HTTP_PARSE_HEAD_DONE: feed the rest to go on), at the end of a
 *  request (HTTP_PARSE_REQUEST: call http_parse_next() before feeding the rest), or at refused
 *  input (HTTP_PARSE_ERROR: p is done). HTTP_PARSE_MORE means every byte was taken. Must not be
 *  called while a request waits for http_parse_next(). */
http_parse_result http_parse_feed(http_parse *p, const char *data, size_t len, size_t *used);

/** Finish with the complete request (its strings become invalid) and get ready for the next;
 *  a body buffer over 64 KiB is released. */
void http_parse_next(http_parse *p);

/** Where the parser is; HTTP_PARSE_HEADERS from the first byte of a request line. */
http_parse_phase http_parse_get_phase(const http_parse *p);

/** The status (400, 413, 431, 503 or 505), error code (ERR_...) and a message for refused
 *  input. The strings are static. */
int http_parse_error(const http_parse *p, const char **code, const char **message);

/* ---- the request, from HTTP_PARSE_HEAD_DONE (but the body) or HTTP_PARSE_REQUEST until
 *      http_parse_next(); every string NUL-terminated and borrowed from p */

/** The method: enum llhttp_method (HTTP_GET, HTTP_POST, HTTP_HEAD, ...). */
int http_parse_method(const http_parse *p);
/** 1 when the connection may be kept after the answer (HTTP/1.1 without "Connection: close",
 *  HTTP/1.0 with "Connection: keep-alive"; never after an Upgrade). */
int http_parse_keep_alive(const http_parse *p);
/** 1 when the client waits for "100 Continue" before sending the body (HTTP/1.1 and later). */
int http_parse_wants_continue(const http_parse *p);
/** The target path without query or fragment, not decoded; never NULL. */
const char *http_parse_path(const http_parse *p, size_t *len);
/** The query string after '?', without it; NULL when absent. */
const char *http_parse_query(const http_parse *p, size_t *len);
/** First value of a header (name in lowercase), spaces around it trimmed; NULL when absent. */
const char *http_parse_header(const http_parse *p, const char *name, size_t *len);
/** The body, de-chunked; "" and 0 when there is none. */
const char *http_parse_body(const http_parse *p, size_t *len);

/** The name of a method http_parse_method() gave ("GET"). */
const char *http_parse_method_name(int method);

#endif /* WXS_HTTP_PARSE_H */
