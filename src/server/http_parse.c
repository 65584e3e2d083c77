/* http_parse.c: the pure HTTP/1.1 request parser (contract in http_parse.h): llhttp's callbacks
 * collect a request into the parser's buffers, our checks on top of llhttp's, the feed loop
 * that stops at each step, and the request's accessors. */
#include "http_parse.h"
#include "server_reasons.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEEP_BODY_BYTES 65536 /* larger body buffers are released after their request */

enum last_cb { LAST_URL, LAST_FIELD, LAST_VALUE };

/* ---- collecting the request */

/* Refuse the request: remember the answer, stop llhttp (a callback's non-zero return). */
static int fail_request(http_parse *p, int status, const char *code, const char *msg)
{
    if (p->err_status == 0) {
        p->err_status = status;
        p->err_code = code;
        p->err_msg = msg;
    }
    return -1;
}

/* The head buffer's bound: the header block, plus a NUL after the URL and each name and value
 * (of at most HTTP_PARSE_MAX_HEADERS + 1 headers). */
static size_t head_max(const http_parse *p)
{
    return p->header_bytes + 2 * HTTP_PARSE_MAX_HEADERS + 16;
}

/* Append n bytes (lowercased when lower) to the request head; -1 past head_max(). */
static int head_append(http_parse *p, const char *s, size_t n, int lower)
{
    size_t need = p->head_len + n + 1;

    if (need > p->head_cap) {
        size_t cap = p->head_cap < 1024 ? 1024 : p->head_cap * 2;
        char *grown;
        if (need > head_max(p))
            return fail_request(p, 431, HTTP_REASON_HEADER_TOO_LARGE, "request header too large");
        while (cap < need)
            cap *= 2;
        if (cap > head_max(p))
            cap = head_max(p);
        grown = realloc(p->head, cap);
        if (grown == NULL)
            return fail_request(p, 503, HTTP_REASON_OUT_OF_MEMORY, "out of memory");
        p->head = grown;
        p->head_cap = cap;
    }
    if (lower) {
        char *d = p->head + p->head_len;
        for (size_t i = 0; i < n; i++)
            d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] | 0x20) : s[i];
    } else {
        memcpy(p->head + p->head_len, s, n);
    }
    p->head_len += n;
    return 0;
}

static int head_end_string(http_parse *p)
{
    return head_append(p, "", 1, 0);
}

static int on_message_begin(llhttp_t *parser)
{
    http_parse *p = parser->data;

    p->phase = HTTP_PARSE_HEADERS;
    p->last_cb = LAST_URL;
    p->head_len = 0;
    p->url_len = 0;
    p->nheaders = 0;
    p->body_len = 0;
    p->content_lengths = 0;
    p->hosts = 0;
    p->transfer_encoding = 0;
    p->expect_continue = 0;
    p->keep_alive = 0;
    return 0;
}

static int on_url(llhttp_t *parser, const char *at, size_t n)
{
    return head_append(parser->data, at, n, 0);
}

/* Start collecting a header: up to HTTP_PARSE_MAX_HEADERS + 1 of them, the last one only to be
 * refused by on_header_field_complete. */
static int start_header(http_parse *p)
{
    if (p->nheaders == p->headers_cap) {
        unsigned cap = p->headers_cap == 0 ? 16 : p->headers_cap * 2;
        http_parse_field *grown;
        if (cap > HTTP_PARSE_MAX_HEADERS + 1)
            cap = HTTP_PARSE_MAX_HEADERS + 1;
        grown = realloc(p->headers, cap * sizeof(*grown));
        if (grown == NULL)
            return fail_request(p, 503, HTTP_REASON_OUT_OF_MEMORY, "out of memory");
        p->headers = grown;
        p->headers_cap = cap;
    }
    p->headers[p->nheaders].name_off = (uint32_t)p->head_len;
    p->last_cb = LAST_FIELD;
    return 0;
}

/* 1 when v[0..n) holds a control byte other than HTAB. llhttp checks values itself; this stays
 * as the guard the handlers rely on (a NUL would make the C string and the length disagree:
 * http-parser 2.9 let one through as a value's first byte, fuzz/regressions/driver_http). */
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
 * Content-Length, one Host; note Transfer-Encoding and Expect: 100-continue. */
static int check_header(http_parse *p, const http_parse_field *e)
{
    const char *name = p->head + e->name_off;
    const char *value = p->head + e->value_off;

    if (e->name_len == 0 || strpbrk(name, " \t") != NULL)
        return fail_request(p, 400, HTTP_REASON_BAD_REQUEST, "invalid header name");
    if (has_control(value, e->value_len))
        return fail_request(p, 400, HTTP_REASON_BAD_REQUEST, "invalid header value");
    if (e->name_len == 14 && memcmp(name, "content-length", 14) == 0) {
        if (++p->content_lengths > 1)
            return fail_request(p, 400, HTTP_REASON_BAD_REQUEST, "duplicate Content-Length");
    } else if (e->name_len == 4 && memcmp(name, "host", 4) == 0) {
        if (++p->hosts > 1)
            return fail_request(p, 400, HTTP_REASON_BAD_REQUEST, "more than one Host header");
    } else if (e->name_len == 17 && memcmp(name, "transfer-encoding", 17) == 0) {
        p->transfer_encoding = 1;
    } else if (e->name_len == 6 && memcmp(name, "expect", 6) == 0) {
        p->expect_continue = strcasecmp(value, "100-continue") == 0;
    }
    return 0;
}

/* Close the header being collected: NUL-terminate, trim the value, vet it. */
static int end_header(http_parse *p)
{
    http_parse_field *e = &p->headers[p->nheaders];
    char *v;

    e->value_len = (uint32_t)(p->head_len - e->value_off);
    if (head_end_string(p) < 0)
        return -1;
    v = p->head + e->value_off;
    while (e->value_len > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        e->value_off++;
        e->value_len--;
    }
    while (e->value_len > 0 && (v[e->value_len - 1] == ' ' || v[e->value_len - 1] == '\t'))
        e->value_len--;
    v[e->value_len] = '\0';
    p->nheaders++;
    return check_header(p, e);
}

static int end_url(http_parse *p)
{
    p->url_len = (uint32_t)p->head_len;
    return head_end_string(p);
}

static int on_header_field(llhttp_t *parser, const char *at, size_t n)
{
    http_parse *p = parser->data;

    if (p->phase != HTTP_PARSE_HEADERS)
        return 0; /* a trailer of a chunked body: ignored */
    if (p->last_cb != LAST_FIELD) {
        int rc = p->last_cb == LAST_URL ? end_url(p) : end_header(p);
        if (rc < 0 || start_header(p) < 0)
            return -1;
    }
    return head_append(p, at, n, 1);
}

/* A header name is complete (llhttp checked its characters): one too many is refused here, not
 * when its first byte arrives, so that the outcome does not depend on how the input was cut. */
static int on_header_field_complete(llhttp_t *parser)
{
    http_parse *p = parser->data;

    if (p->phase == HTTP_PARSE_HEADERS && p->nheaders == HTTP_PARSE_MAX_HEADERS)
        return fail_request(p, 431, HTTP_REASON_HEADER_TOO_LARGE, "too many header fields");
    return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t n)
{
    http_parse *p = parser->data;

    if (p->phase != HTTP_PARSE_HEADERS)
        return 0;
    if (p->last_cb == LAST_FIELD) {
        http_parse_field *e = &p->headers[p->nheaders];
        e->name_len = (uint32_t)(p->head_len - e->name_off);
        if (head_end_string(p) < 0)
            return -1;
        e->value_off = (uint32_t)p->head_len;
        p->last_cb = LAST_VALUE;
    }
    return head_append(p, at, n, 0);
}

/* Split the target into path and query (NUL-terminating both); drop a fragment. */
static void split_target(http_parse *p)
{
    char *u = p->head;
    size_t n = p->url_len;
    char *hash = memchr(u, '#', n);
    char *q;

    if (hash != NULL) {
        *hash = '\0';
        n = (size_t)(hash - u);
    }
    q = memchr(u, '?', n);
    p->path_len = (uint32_t)n;
    p->query_off = 0;
    p->query_len = 0;
    if (q != NULL) {
        *q = '\0';
        p->path_len = (uint32_t)(q - u);
        p->query_off = (uint32_t)(q - u + 1);
        p->query_len = (uint32_t)(n - (size_t)(q - u + 1));
    }
}

/* Room for need bytes of body, growing by doubling up to body_max: memory follows the bytes
 * that arrived, not what was announced. */
static int body_reserve(http_parse *p, size_t need)
{
    size_t cap = p->body_cap < 1024 ? 1024 : p->body_cap;
    char *grown;

    if (need <= p->body_cap)
        return 0;
    while (cap < need)
        cap *= 2;
    if (cap > p->body_max)
        cap = p->body_max;
    if (cap < need)
        cap = need;
    grown = realloc(p->body, cap);
    if (grown == NULL)
        return fail_request(p, 503, HTTP_REASON_OUT_OF_MEMORY, "out of memory");
    p->body = grown;
    p->body_cap = cap;
    return 0;
}

/* The checks on a complete header block that llhttp leaves to us. */
static int check_request(http_parse *p)
{
    const llhttp_t *l = &p->parser;

    if (l->http_major != 1 || l->http_minor > 1)
        return fail_request(p, 505, HTTP_REASON_VERSION_NOT_SUPPORTED,
                            "HTTP version not supported");
    if (l->http_minor == 1 && p->hosts == 0)
        return fail_request(p, 400, HTTP_REASON_BAD_REQUEST, "HTTP/1.1 request without Host");
    if (p->url_len == 0 || p->head[0] != '/')
        return fail_request(p, 400, HTTP_REASON_BAD_REQUEST,
                            "the request target must start with '/'");
    if (p->content_lengths > 0 && (p->transfer_encoding || (l->flags & F_CHUNKED)))
        return fail_request(p, 400, HTTP_REASON_BAD_REQUEST,
                            "Content-Length together with Transfer-Encoding");
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->body_bytes)
        return fail_request(p, 413, HTTP_REASON_BODY_TOO_LARGE, "request body too large");
    return 0;
}

/* The header block is complete: vet it; pause when a body follows (the caller starts the body
 * deadline and may answer 100-continue). */
static int on_headers_complete(llhttp_t *parser)
{
    http_parse *p = parser->data;
    int has_body = (parser->flags & F_CHUNKED) ||
                   ((parser->flags & F_CONTENT_LENGTH) && parser->content_length > 0);

    if (p->last_cb == LAST_URL && end_url(p) < 0)
        return -1;
    if (p->last_cb == LAST_VALUE && end_header(p) < 0)
        return -1;
    if (check_request(p) < 0)
        return -1;
    split_target(p);
    p->method = parser->method;
    p->phase = HTTP_PARSE_BODY;
    if (!has_body)
        return 0;
    p->body_max = p->body_bytes + 1;
    if (parser->flags & F_CONTENT_LENGTH)
        p->body_max = (size_t)parser->content_length + 1;
    return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *parser)
{
    http_parse *p = parser->data;

    if (parser->content_length > p->body_bytes - p->body_len)
        return fail_request(p, 413, HTTP_REASON_BODY_TOO_LARGE, "request body too large");
    return 0;
}

static int on_body(llhttp_t *parser, const char *at, size_t n)
{
    http_parse *p = parser->data;

    if (n > p->body_bytes - p->body_len)
        return fail_request(p, 413, HTTP_REASON_BODY_TOO_LARGE, "request body too large");
    if (body_reserve(p, p->body_len + n + 1) < 0)
        return -1;
    memcpy(p->body + p->body_len, at, n);
    p->body_len += n;
    return 0;
}

/* One request at a time: pause here until http_parse_next(). */
static int on_message_complete(llhttp_t *parser)
{
    http_parse *p = parser->data;

    p->keep_alive = llhttp_should_keep_alive(parser) && !parser->upgrade;
    if (p->body != NULL)
        p->body[p->body_len] = '\0';
    p->phase = HTTP_PARSE_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

/* ---- the parser */

void http_parse_init(http_parse *p, size_t header_bytes, size_t body_bytes)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->parser, HTTP_REQUEST, &parser_settings);
    p->parser.data = p;
    p->header_bytes = header_bytes;
    p->body_bytes = body_bytes;
    p->phase = HTTP_PARSE_IDLE;
}

void http_parse_free(http_parse *p)
{
    free(p->head);
    free(p->headers);
    free(p->body);
    p->head = NULL;
    p->headers = NULL;
    p->body = NULL;
    p->head_cap = 0;
    p->headers_cap = 0;
    p->body_cap = 0;
}

/* Refuse the input for llhttp's error e (when no check of ours already did). */
static http_parse_result parse_failed(http_parse *p, llhttp_errno_t e)
{
    if (p->err_status == 0 && e == HPE_INVALID_VERSION) {
        p->err_status = 505; /* llhttp refuses HTTP/1.9 and the like itself */
        p->err_code = HTTP_REASON_VERSION_NOT_SUPPORTED;
        p->err_msg = "HTTP version not supported";
    }
    if (p->err_status == 0) {
        p->err_status = 400;
        p->err_code = HTTP_REASON_BAD_REQUEST;
        p->err_msg = llhttp_get_error_reason(&p->parser);
        if (p->err_msg == NULL || e == HPE_USER)
            p->err_msg = "malformed request";
    }
    p->phase = HTTP_PARSE_FAILED;
    return HTTP_PARSE_ERROR;
}

/* While a header block is arriving at most header_bytes of it are given to llhttp, so an
 * oversized one is caught exactly and before it is all buffered. llhttp takes every byte it is
 * given unless it pauses or fails. */
http_parse_result http_parse_feed(http_parse *p, const char *data, size_t len, size_t *used)
{
    int in_head = p->phase == HTTP_PARSE_IDLE || p->phase == HTTP_PARSE_HEADERS;
    size_t n = len;
    llhttp_errno_t e;

    *used = 0;
    if (p->phase == HTTP_PARSE_FAILED)
        return HTTP_PARSE_ERROR;
    if (p->phase == HTTP_PARSE_DONE)
        return HTTP_PARSE_REQUEST;
    if (p->paused) {
        llhttp_resume(&p->parser);
        p->paused = 0;
    }
    if (in_head && n > p->header_bytes - p->head_fed)
        n = p->header_bytes - p->head_fed;
    e = llhttp_execute(&p->parser, data, n);
    *used = e == HPE_OK ? n : (size_t)(llhttp_get_error_pos(&p->parser) - data);
    if (in_head && (p->phase == HTTP_PARSE_IDLE || p->phase == HTTP_PARSE_HEADERS))
        p->head_fed += *used;
    else
        p->head_fed = 0;
    if (e == HPE_PAUSED) {
        p->paused = 1;
        return p->phase == HTTP_PARSE_DONE ? HTTP_PARSE_REQUEST : HTTP_PARSE_HEAD_DONE;
    }
    if (e != HPE_OK)
        return parse_failed(p, e);
    if (in_head && p->head_fed >= p->header_bytes) {
        fail_request(p, 431, HTTP_REASON_HEADER_TOO_LARGE, "request header too large");
        p->phase = HTTP_PARSE_FAILED;
        return HTTP_PARSE_ERROR;
    }
    return HTTP_PARSE_MORE;
}

void http_parse_next(http_parse *p)
{
    if (p->phase != HTTP_PARSE_DONE)
        return;
    p->phase = HTTP_PARSE_IDLE;
    p->head_fed = 0;
    if (p->body_cap > KEEP_BODY_BYTES) {
        free(p->body);
        p->body = NULL;
        p->body_cap = 0;
    }
    p->body_len = 0;
}

http_parse_phase http_parse_get_phase(const http_parse *p)
{
    return p->phase;
}

int http_parse_error(const http_parse *p, const char **code, const char **message)
{
    *code = p->err_code != NULL ? p->err_code : HTTP_REASON_BAD_REQUEST;
    *message = p->err_msg != NULL ? p->err_msg : "malformed request";
    return p->err_status != 0 ? p->err_status : 400;
}

/* ---- the request */

int http_parse_method(const http_parse *p)
{
    return p->method;
}

int http_parse_keep_alive(const http_parse *p)
{
    return p->keep_alive;
}

int http_parse_wants_continue(const http_parse *p)
{
    return p->expect_continue && p->parser.http_minor >= 1;
}

const char *http_parse_path(const http_parse *p, size_t *len)
{
    if (len != NULL)
        *len = p->path_len;
    return p->head != NULL ? p->head : "";
}

const char *http_parse_query(const http_parse *p, size_t *len)
{
    if (len != NULL)
        *len = p->query_len;
    return p->query_off != 0 ? p->head + p->query_off : NULL;
}

const char *http_parse_header(const http_parse *p, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (unsigned i = 0; i < p->nheaders; i++) {
        const http_parse_field *e = &p->headers[i];
        if (e->name_len == n && strncasecmp(p->head + e->name_off, name, n) == 0) {
            if (len != NULL)
                *len = e->value_len;
            return p->head + e->value_off;
        }
    }
    if (len != NULL)
        *len = 0;
    return NULL;
}

const char *http_parse_body(const http_parse *p, size_t *len)
{
    if (len != NULL)
        *len = p->body != NULL ? p->body_len : 0;
    return p->body != NULL ? p->body : "";
}

const char *http_parse_method_name(int method)
{
    return llhttp_method_name((llhttp_method_t)method);
}
