/* http_req.c: the request's calls of http.h: its accessors, reading what the parser
 * (http_parse.c) collected into the request's connection, and the answers built on
 * http_respond_with_headers (http.c). */
#include "http_conn.h"

int http_req_method(const http_req *r)
{
    return http_parse_method(&r->conn->parse);
}

const char *http_method_name(int method)
{
    return http_parse_method_name(method);
}

const char *http_req_path(const http_req *r, size_t *len)
{
    return http_parse_path(&r->conn->parse, len);
}

const char *http_req_query(const http_req *r, size_t *len)
{
    return http_parse_query(&r->conn->parse, len);
}

const char *http_req_header(const http_req *r, const char *name, size_t *len)
{
    return http_parse_header(&r->conn->parse, name, len);
}

const char *http_req_body(const http_req *r, size_t *len)
{
    return http_parse_body(&r->conn->parse, len);
}

int http_req_aborted(const http_req *r)
{
    return r->aborted;
}

void http_req_on_abort(http_req *r, void (*cb)(void *arg, http_req *r), void *arg)
{
    if (r->aborted)
        return;
    r->on_abort = cb;
    r->abort_arg = arg;
}

uint64_t http_req_start_us(const http_req *r)
{
    return r->start_us;
}

int http_req_peer(const http_req *r, struct sockaddr_storage *addr)
{
    int len = (int)sizeof *addr;
    return uv_tcp_getpeername(&r->conn->tcp, (struct sockaddr *)addr, &len);
}

void http_req_set_tag(http_req *r, unsigned tag)
{
    r->tag = tag;
}

unsigned http_req_tag(const http_req *r)
{
    return r->tag;
}

const char *http_req_id(const http_req *r)
{
    return r->id;
}

/* ---- answers */

void http_respond(http_req *r, int status, const char *content_type, const char *body, size_t len,
                  int close_after)
{
    http_respond_with_headers(r, status, content_type, NULL, body, len, close_after);
}

void http_respond_error(http_req *r, int status, const char *code, const char *message)
{
    char body[HTTP_WRITE_ERROR_MAX];
    size_t len = http_write_error_json(body, sizeof(body), code, message);

    http_respond(r, status, NULL, body, len, 0);
}
