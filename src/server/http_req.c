/* http_req.c: the request accessors of http.h, reading what the parser (http_parse.c) collected
 * into the request's connection. */
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
