/* test_wechat.c: the WeChat client against a scripted HTTP server on the same libuv loop. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wechat.h"

#include <jansson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define APP_ID "wx+app id"
#define APP_SECRET "s&ecret+SECRET/="
#define APP_SECRET_ENCODED "s%26ecret%2BSECRET%2F%3D"
#define REPLY_CAP 65536
#define GUARD_MS 10000

/* ------------------------------------------------------------ counting allocator */

static atomic_long live_allocs;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p != NULL)
        atomic_fetch_add(&live_allocs, 1);
    return p;
}

static void *count_calloc(size_t c, size_t n)
{
    void *p = calloc(c, n);
    if (p != NULL)
        atomic_fetch_add(&live_allocs, 1);
    return p;
}

static void *count_realloc(void *p, size_t n)
{
    if (p == NULL)
        return count_malloc(n);
    if (n == 0) {
        free(p);
        atomic_fetch_sub(&live_allocs, 1);
        return NULL;
    }
    return realloc(p, n);
}

static void count_free(void *p)
{
    if (p != NULL)
        atomic_fetch_sub(&live_allocs, 1);
    free(p);
}

/* live allocations that belong to libcurl's process-wide state, measured once */
static long baseline_allocs;

/* ------------------------------------------------------------ log capture */

static char log_lines[64 * 1024];
static size_t log_len;

static void capture_log(void *arg, wxs_log_level level, const char *line)
{
    (void)arg;
    (void)level;
    size_t n = strlen(line);
    if (n + 2 > sizeof log_lines - log_len)
        return;
    memcpy(log_lines + log_len, line, n);
    log_len += n;
    log_lines[log_len++] = '\n';
    log_lines[log_len] = '\0';
}

/* ------------------------------------------------------------ scripted HTTP server */

typedef enum {
    ACT_REPLY,        /* status + body with Content-Length, keep-alive */
    ACT_HANG,         /* read the request, never answer */
    ACT_CLOSE,        /* close the connection without answering */
    ACT_HUGE_CHUNKED, /* 200, chunked, huge_len bytes */
    ACT_HUGE_LENGTH,  /* 200, Content-Length huge_len */
} action_kind;

typedef struct server {
    uv_tcp_t listener;
    int port;
    action_kind action;
    int status;
    const char *body;
    size_t huge_len;
    int accepts;
    int requests;
    char last_request_line[4096];
    char last_headers[4096]; /* the header block after the request line */
    char last_body[4096];    /* a request's body (Content-Length), "" when none */
    struct conn *conns;
} server;

typedef struct conn {
    uv_tcp_t tcp;
    server *srv;
    char buf[16384];
    size_t len;
    struct conn *prev, *next;
} conn;

typedef struct write_req {
    uv_write_t req;
    conn *c;
    int close_after;
    size_t len;
    char data[];
} write_req;

static void conn_on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_close(conn *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

static void conn_on_written(uv_write_t *req, int status)
{
    write_req *wr = (write_req *)req;
    if (status == 0 && wr->close_after)
        conn_close(wr->c);
    free(wr);
}

static void conn_send(conn *c, const char *head, const char *body, size_t body_len, int close_after)
{
    size_t head_len = strlen(head);
    write_req *wr = malloc(sizeof *wr + head_len + body_len);
    assert_non_null(wr);
    wr->c = c;
    wr->close_after = close_after;
    wr->len = head_len + body_len;
    memcpy(wr->data, head, head_len);
    if (body_len > 0)
        memcpy(wr->data + head_len, body, body_len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, conn_on_written) < 0)
        free(wr);
}

/* A body of n bytes that is not a reply anyone could accept. */
static char *filler(size_t n)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, 'x', n);
    p[0] = '{';
    p[n] = '\0';
    return p;
}

static void conn_answer(conn *c)
{
    server *s = c->srv;
    char head[256];
    action_kind act = strstr(s->last_request_line, "js_code=hang") ? ACT_HANG : s->action;
    switch (act) {
    case ACT_REPLY:
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 s->status, strlen(s->body));
        conn_send(c, head, s->body, strlen(s->body), 0);
        break;
    case ACT_HANG:
        break;
    case ACT_CLOSE:
        conn_close(c);
        break;
    case ACT_HUGE_CHUNKED: {
        char *big = filler(s->huge_len);
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
                 s->huge_len);
        conn_send(c, head, big, s->huge_len, 0);
        conn_send(c, "\r\n0\r\n\r\n", NULL, 0, 0);
        free(big);
        break;
    }
    case ACT_HUGE_LENGTH: {
        char *big = filler(s->huge_len);
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", s->huge_len);
        conn_send(c, head, big, s->huge_len, 0);
        free(big);
        break;
    }
    }
}

/* The value of a Content-Length header in the header block head (0 when none). */
static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    return p != NULL ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

/* Serves every complete request in the buffer: a header block, and a body when it announces
 * one with Content-Length. */
static void conn_process(conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end == NULL)
            return;
        char head[sizeof c->srv->last_headers];
        size_t head_len = (size_t)(end + 2 - c->buf);
        snprintf(head, sizeof head, "%.*s", (int)head_len, c->buf);
        size_t body_len = content_length(head);
        size_t used = (size_t)(end + 4 - c->buf) + body_len;
        if (used > c->len)
            return; /* the body is still coming */
        char *eol = memmem(c->buf, c->len, "\r\n", 2);
        size_t line_len = (size_t)(eol - c->buf);
        if (line_len >= sizeof c->srv->last_request_line)
            line_len = sizeof c->srv->last_request_line - 1;
        memcpy(c->srv->last_request_line, c->buf, line_len);
        c->srv->last_request_line[line_len] = '\0';
        snprintf(c->srv->last_headers, sizeof c->srv->last_headers, "%s", head + line_len);
        snprintf(c->srv->last_body, sizeof c->srv->last_body, "%.*s", (int)body_len, end + 4);
        c->srv->requests++;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        conn_answer(c);
        if (uv_is_closing((uv_handle_t *)&c->tcp))
            return;
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    (void)buf;
    if (nread < 0 || c->len + (size_t)nread >= sizeof c->buf) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    conn_process(c);
}

static void server_on_connection(uv_stream_t *l, int status)
{
    server *s = l->data;
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->srv = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
        return;
    }
    s->accepts++;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
}

static void server_start(server *s, uv_loop_t *loop)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int namelen = sizeof bound;
    memset(s, 0, sizeof *s);
    s->action = ACT_REPLY;
    s->status = 200;
    s->body = "{}";
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, server_on_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &namelen), 0);
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void server_stop(server *s)
{
    while (s->conns != NULL)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, NULL);
}

/* ------------------------------------------------------------ fixture */

typedef struct outcome {
    int done;
    int returned; /* set once wxs__wechat_exchange has returned */
    int early;    /* the callback ran before wxs__wechat_exchange returned */
    int status;
    long errcode;
    char errmsg[128];
    char openid[64];
    char session_key[64];
    char unionid[64];
    char reason[64];
    uint64_t start_ns;
    uint64_t elapsed_ns;
    int *counter; /* optional: incremented on completion */
} outcome;

typedef struct fixture {
    uv_loop_t loop;
    server srv;
    struct wxs_config cfg;
    char base[64];
    wxs__wechat *w;
} fixture;

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "(null)");
}

static void on_result(void *arg, const wxs__exchange_result *res)
{
    outcome *o = arg;
    o->early = !o->returned;
    o->done++;
    o->status = res->status;
    o->errcode = res->errcode;
    copy_str(o->errmsg, sizeof o->errmsg, res->errmsg);
    copy_str(o->openid, sizeof o->openid, res->openid);
    copy_str(o->session_key, sizeof o->session_key, res->session_key);
    copy_str(o->unionid, sizeof o->unionid, res->unionid);
    copy_str(o->reason, sizeof o->reason, res->reason);
    o->elapsed_ns = uv_hrtime() - o->start_ns;
    if (o->counter != NULL)
        (*o->counter)++;
}

static int start(fixture *fx, const char *code, outcome *o)
{
    o->start_ns = uv_hrtime();
    o->returned = 0;
    int rc = wxs__wechat_exchange(fx->w, code, strlen(code), on_result, o);
    o->returned = 1;
    return rc;
}

static void on_guard(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until *count reaches target or GUARD_MS pass (a failure). */
static void run_until(fixture *fx, const int *count, int target)
{
    uv_timer_t guard;
    int fired = 0;
    uv_timer_init(&fx->loop, &guard);
    guard.data = &fired;
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (*count < target && !fired)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_false(fired);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    server_start(&fx->srv, &fx->loop);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%d//", fx->srv.port);
    fx->cfg.wechat_api_base = fx->base;
    fx->cfg.app_id = (char *)APP_ID;
    fx->cfg.app_secret = (char *)APP_SECRET;
    fx->cfg.wechat_timeout_ms = 3000;
    fx->cfg.wechat_connect_timeout_ms = 3000;
    fx->cfg.wechat_max_reply_bytes = REPLY_CAP;
    fx->cfg.limit_json_depth = 64;
    assert_int_equal(wxs__wechat_new(&fx->w, &fx->loop, &fx->cfg), 0);
    log_len = 0;
    log_lines[0] = '\0';
    *state = fx;
    return 0;
}

/* Frees the client and the server, runs the loop dry, and checks that nothing leaked and
 * that no log line carried the secret. */
static int teardown(void **state)
{
    fixture *fx = *state;
    wxs__wechat_free(fx->w);
    server_stop(&fx->srv);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(atomic_load(&live_allocs), baseline_allocs);
    assert_null(strstr(log_lines, APP_SECRET));
    assert_null(strstr(log_lines, APP_SECRET_ENCODED));
    free(fx);
    return 0;
}

/* Sets up a reply, runs one exchange with code to completion, returns its outcome. */
static outcome exchange_once(fixture *fx, int status, const char *body, const char *code)
{
    outcome o = {0};
    fx->srv.status = status;
    fx->srv.body = body;
    assert_int_equal(start(fx, code, &o), 0);
    assert_int_equal(o.done, 0);
    run_until(fx, &o.done, 1);
    assert_int_equal(o.done, 1);
    assert_false(o.early);
    return o;
}

/* ------------------------------------------------------------ tests */

static void test_success_and_request_line(void **state)
{
    fixture *fx = *state;
    outcome o = exchange_once(
        fx, 200,
        "{\"session_key\":\"HyVFkGl5F5OQWJZZaNzBBg==\",\"openid\":\"oABC\",\"unionid\":\"uX\"}",
        "a+b&c=d \xe4\xb8\xad");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.openid, "oABC");
    assert_string_equal(o.session_key, "HyVFkGl5F5OQWJZZaNzBBg==");
    assert_string_equal(o.unionid, "uX");
    assert_string_equal(fx->srv.last_request_line,
                        "GET /sns/jscode2session?appid=wx%2Bapp%20id&secret=" APP_SECRET_ENCODED
                        "&js_code=a%2Bb%26c%3Dd%20%E4%B8%AD&grant_type=authorization_code "
                        "HTTP/1.1");
}

static void test_unionid_optional(void **state)
{
    fixture *fx = *state;
    outcome o = exchange_once(fx, 200, "{\"openid\":\"o1\",\"session_key\":\"k1\"}", "c");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.unionid, "(null)");
}

static void test_errcode_rejected(void **state)
{
    fixture *fx = *state;
    outcome o = exchange_once(fx, 200, "{\"errcode\":40029,\"errmsg\":\"invalid code\"}", "c");
    assert_int_equal(o.status, WXS_EEXCHANGE);
    assert_int_equal(o.errcode, 40029);
    assert_string_equal(o.errmsg, "invalid code");
    assert_string_equal(o.openid, "(null)");
}

static void test_errcode_without_errmsg(void **state)
{
    fixture *fx = *state;
    outcome o = exchange_once(fx, 200, "{\"errcode\":-1}", "c");
    assert_int_equal(o.status, WXS_EEXCHANGE);
    assert_int_equal(o.errcode, -1);
    assert_string_equal(o.errmsg, "");
}

static void test_errcode_zero_is_success(void **state)
{
    fixture *fx = *state;
    outcome o = exchange_once(
        fx, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"openid\":\"o2\",\"session_key\":\"k2\"}", "c");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.openid, "o2");
    assert_string_equal(o.session_key, "k2");
}

/* Replies that are not a usable answer: status and reason, table-driven. */
static void test_bad_replies(void **state)
{
    static const struct {
        int http_status;
        const char *body;
        const char *reason;
    } cases[] = {
        {500, "internal error", "HTTP 500"},
        {404, "{\"openid\":\"o\",\"session_key\":\"k\"}", "HTTP 404"},
        {200, "<html>not json", "reply is not JSON"},
        {200, "", "reply is not JSON"},
        {200, "[{\"openid\":\"o\",\"session_key\":\"k\"}]", "reply is not JSON"},
        {200, "\"openid\"", "reply is not JSON"},
        {200, "{\"openid\":\"o\"}", "reply lacks openid or session_key"},
        {200, "{\"session_key\":\"k\"}", "reply lacks openid or session_key"},
        {200, "{\"openid\":1,\"session_key\":\"k\"}", "reply lacks openid or session_key"},
        {200, "{\"openid\":\"\",\"session_key\":\"k\"}", "reply lacks openid or session_key"},
        {200, "{\"errcode\":\"x\",\"openid\":\"o\",\"session_key\":\"k\"}",
         "reply has a malformed errcode"},
        {200, "{\"errcode\":0.5,\"openid\":\"o\",\"session_key\":\"k\"}",
         "reply has a malformed errcode"}, /* it truncated to 0, "success", before */
        {200, "{\"errcode\":1e300,\"openid\":\"o\",\"session_key\":\"k\"}",
         "reply has a malformed errcode"},
        {200,
         "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "reply is too deeply nested"},
    };
    fixture *fx = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome o = exchange_once(fx, cases[i].http_status, cases[i].body, "c");
        if (o.status != WXS_EUPSTREAM || strcmp(o.reason, cases[i].reason) != 0)
            fail_msg("case %zu: got %s \"%s\", want WXS_EUPSTREAM \"%s\"", i,
                     wxs_err_name(o.status), o.reason, cases[i].reason);
    }
    assert_int_equal(fx->srv.accepts, 1); /* answered replies keep the connection */
}

static void test_reply_at_cap_is_accepted(void **state)
{
    fixture *fx = *state;
    const char *json = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    char *body = malloc(REPLY_CAP + 1);
    assert_non_null(body);
    memset(body, ' ', REPLY_CAP);
    memcpy(body, json, strlen(json));
    body[REPLY_CAP] = '\0';
    outcome o = exchange_once(fx, 200, body, "c");
    free(body);
    assert_int_equal(o.status, 0);
}

static void test_huge_reply_chunked(void **state)
{
    fixture *fx = *state;
    fx->srv.action = ACT_HUGE_CHUNKED;
    fx->srv.huge_len = 4 * 1024 * 1024;
    outcome o = exchange_once(fx, 200, "", "c");
    assert_int_equal(o.status, WXS_EUPSTREAM);
    assert_string_equal(o.reason, "reply too large");
}

static void test_huge_reply_announced(void **state)
{
    fixture *fx = *state;
    fx->srv.action = ACT_HUGE_LENGTH;
    fx->srv.huge_len = REPLY_CAP + 1;
    outcome o = exchange_once(fx, 200, "", "c");
    assert_int_equal(o.status, WXS_EUPSTREAM);
    assert_string_equal(o.reason, "reply too large");
}

static void test_timeout(void **state)
{
    fixture *fx = *state;
    fx->cfg.wechat_timeout_ms = 300;
    fx->srv.action = ACT_HANG;
    outcome o = exchange_once(fx, 200, "", "c");
    assert_int_equal(o.status, WXS_ETIMEDOUT);
    assert_int_equal(fx->srv.requests, 1);
    assert_true(o.elapsed_ns >= 250 * 1000000ULL);
    assert_true(o.elapsed_ns < 1500 * 1000000ULL);
}

static void test_connection_refused(void **state)
{
    fixture *fx = *state;
    /* a bound socket that does not listen: connections to its port are refused */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%d", ntohs(addr.sin_port));
    wxs__wechat_free(fx->w);
    assert_int_equal(wxs__wechat_new(&fx->w, &fx->loop, &fx->cfg), 0);
    outcome o = exchange_once(fx, 200, "", "c");
    close(fd);
    assert_int_equal(o.status, WXS_EIO);
    assert_string_equal(o.reason, "connection refused");
}

static void test_closed_without_reply(void **state)
{
    fixture *fx = *state;
    fx->srv.action = ACT_CLOSE;
    outcome o = exchange_once(fx, 200, "", "c");
    assert_int_equal(o.status, WXS_EIO);
    assert_string_equal(o.reason, "empty reply");
}

/* Each completion starts the next exchange from inside the callback, five in all. */
typedef struct chain {
    fixture *fx;
    int done;
    int ok;
    outcome o;
} chain;

static void on_chain(void *arg, const wxs__exchange_result *res)
{
    chain *ch = arg;
    ch->done++;
    if (res->status == 0)
        ch->ok++;
    if (ch->done < 5)
        assert_int_equal(wxs__wechat_exchange(ch->fx->w, "next", 4, on_chain, ch), 0);
}

static void test_keep_alive(void **state)
{
    fixture *fx = *state;
    chain ch = {.fx = fx};
    fx->srv.body = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    assert_int_equal(wxs__wechat_exchange(fx->w, "first", 5, on_chain, &ch), 0);
    run_until(fx, &ch.done, 5);
    assert_int_equal(ch.ok, 5);
    assert_int_equal(fx->srv.requests, 5);
    assert_int_equal(fx->srv.accepts, 1);
}

/* The client's poll handles: how many, how many polling, how many keeping the loop alive. */
typedef struct poll_census {
    int handles;
    int active;
    int holding;
} poll_census;

static void count_poll(uv_handle_t *h, void *arg)
{
    poll_census *pc = arg;
    if (h->type != UV_POLL || uv_is_closing(h))
        return;
    pc->handles++;
    if (uv_is_active(h))
        pc->active++;
    if (uv_is_active(h) && uv_has_ref(h))
        pc->holding++;
}

static poll_census census(fixture *fx)
{
    poll_census pc = {0};
    uv_walk(&fx->loop, count_poll, &pc);
    return pc;
}

/* Between exchanges the kept-alive connection keeps its poll handle, which does not keep the
 * loop alive; the next exchange takes it back. */
static void test_idle_connection_kept_unreferenced(void **state)
{
    fixture *fx = *state;
    const char *ok = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    for (int i = 0; i < 3; i++) {
        outcome o = exchange_once(fx, 200, ok, "c");
        assert_int_equal(o.status, 0);
        poll_census pc = census(fx);
        assert_int_equal(pc.handles, 1);
        assert_int_equal(pc.holding, 0);
    }
    assert_int_equal(fx->srv.accepts, 1);
}

/* The server closes the idle connection: the client stops polling it, and the next exchange
 * opens a new one. */
static void test_peer_closes_idle_connection(void **state)
{
    fixture *fx = *state;
    const char *ok = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    assert_int_equal(exchange_once(fx, 200, ok, "c").status, 0);
    while (fx->srv.conns != NULL)
        conn_close(fx->srv.conns);
    uint64_t deadline = uv_hrtime() + GUARD_MS * 1000000ULL;
    while (census(fx).active > 0 && uv_hrtime() < deadline) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(census(fx).active, 0);
    outcome o = exchange_once(fx, 200, ok, "c");
    assert_int_equal(o.status, 0);
    assert_int_equal(fx->srv.accepts, 2);
    assert_int_equal(census(fx).handles, 1); /* the dead connection's handle is gone */
}

static void test_concurrent(void **state)
{
    enum { N = 50 };
    fixture *fx = *state;
    outcome *o = calloc(N, sizeof *o);
    int completed = 0;
    assert_non_null(o);
    fx->srv.body = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    for (int i = 0; i < N; i++) {
        o[i].counter = &completed;
        assert_int_equal(start(fx, "c", &o[i]), 0);
    }
    run_until(fx, &completed, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].done, 1);
        assert_int_equal(o[i].status, 0);
    }
    assert_int_equal(fx->srv.requests, N);
    free(o);
}

static void test_free_in_flight(void **state)
{
    fixture *fx = *state;
    outcome o = {0};
    fx->srv.action = ACT_HANG;
    assert_int_equal(start(fx, "c", &o), 0);
    run_until(fx, &fx->srv.requests, 1); /* the request reached the server */
    assert_int_equal(o.done, 0);
    wxs__wechat_free(fx->w);
    fx->w = NULL;
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, WXS_ECANCELED);
}

static void test_free_before_loop_runs(void **state)
{
    fixture *fx = *state;
    outcome o = {0};
    assert_int_equal(start(fx, "c", &o), 0);
    wxs__wechat_free(fx->w);
    fx->w = NULL;
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, WXS_ECANCELED);
}

/* A callback that frees the client: the other exchange in flight is canceled. */
typedef struct freeing {
    fixture *fx;
    int done;
} freeing;

static void on_free_client(void *arg, const wxs__exchange_result *res)
{
    freeing *f = arg;
    assert_int_equal(res->status, 0);
    f->done++;
    wxs__wechat_free(f->fx->w);
    f->fx->w = NULL;
}

static void test_free_from_callback(void **state)
{
    fixture *fx = *state;
    freeing f = {.fx = fx};
    outcome hung = {0};
    fx->srv.body = "{\"openid\":\"o\",\"session_key\":\"k\"}";
    assert_int_equal(start(fx, "hang", &hung), 0);
    assert_int_equal(wxs__wechat_exchange(fx->w, "c", 1, on_free_client, &f), 0);
    run_until(fx, &f.done, 1);
    assert_int_equal(hung.done, 1);
    assert_int_equal(hung.status, WXS_ECANCELED);
}

/* ---- server API calls (wxs__wechat_call) and their pure classification */

typedef struct call_outcome {
    int done;
    int returned;
    int early;
    int status;
    long errcode;
    char errmsg[128];
    char reason[64];
    char root[512]; /* the reply object, compact; "" when none */
} call_outcome;

static void on_call(void *arg, const wxs__call_result *res)
{
    call_outcome *o = arg;
    o->early = !o->returned;
    o->done++;
    o->status = res->status;
    o->errcode = res->errcode;
    copy_str(o->errmsg, sizeof o->errmsg, res->errmsg);
    copy_str(o->reason, sizeof o->reason, res->reason);
    char *text = res->root != NULL ? json_dumps(res->root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(o->root, sizeof o->root, "%s", text != NULL ? text : "");
    free(text);
}

static call_outcome call_once(fixture *fx, const char *path, const char *body, int status,
                              const char *reply)
{
    call_outcome o = {0};
    fx->srv.status = status;
    fx->srv.body = reply;
    assert_int_equal(wxs__wechat_call(fx->w, "test_api", path, body,
                                      body != NULL ? strlen(body) : 0, on_call, &o),
                     0);
    o.returned = 1;
    assert_int_equal(o.done, 0);
    run_until(fx, &o.done, 1);
    assert_int_equal(o.done, 1);
    assert_false(o.early);
    return o;
}

/* wxs__wechat_parse_call, table-driven: status, errcode, reason, and whether root is kept. */
static void test_parse_call(void **state)
{
    static const struct {
        long http_status;
        const char *body;
        int status;
        long errcode;
        const char *errmsg;
        const char *reason;
        int has_root;
    } cases[] = {
        {200, "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{}}", 0, 0, NULL, "ok", 1},
        {200, "{\"access_token\":\"T\",\"expires_in\":7200}", 0, 0, NULL, "ok", 1},
        {200, "{\"errcode\":null}", 0, 0, NULL, "ok", 1},
        {200, "{\"errcode\":40001,\"errmsg\":\"invalid credential\"}", WXS_EEXCHANGE, 40001,
         "invalid credential", "rejected by WeChat", 1},
        {200, "{\"errcode\":87009}", WXS_EEXCHANGE, 87009, "", "rejected by WeChat", 1},
        {200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", WXS_EEXCHANGE, -1, "system busy",
         "rejected by WeChat", 1},
        {200, "{\"errcode\":\"40001\"}", WXS_EUPSTREAM, 0, NULL, "reply has a malformed errcode",
         1},
        {200, "{\"errcode\":0.5}", WXS_EUPSTREAM, 0, NULL, "reply has a malformed errcode", 1},
        {200, "{\"errcode\":true}", WXS_EUPSTREAM, 0, NULL, "reply has a malformed errcode", 1},
        {200, "<html>busy</html>", WXS_EUPSTREAM, 0, NULL, "reply is not JSON", 0},
        {200, "", WXS_EUPSTREAM, 0, NULL, "reply is not JSON", 0},
        {200, "[1,2]", WXS_EUPSTREAM, 0, NULL, "reply is not JSON", 0},
        {200, "{\"a\":1,\"a\":2}", WXS_EUPSTREAM, 0, NULL, "reply is not JSON", 0},
        {500, "{\"errcode\":0}", WXS_EUPSTREAM, 0, NULL, "HTTP 500", 0},
        {404, "", WXS_EUPSTREAM, 0, NULL, "HTTP 404", 0},
        {200, "{\"a\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}", WXS_EUPSTREAM, 0, NULL,
         "reply is too deeply nested", 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wxs__call_result res = {0};
        wxs__wechat_reply reply = {0};
        int rc = wxs__wechat_parse_call(cases[i].body, strlen(cases[i].body), cases[i].http_status,
                                        16, &res, &reply);
        if (rc != cases[i].status || res.status != rc || res.errcode != cases[i].errcode ||
            strcmp(res.reason != NULL ? res.reason : "(null)", cases[i].reason) != 0 ||
            (res.root != NULL) != cases[i].has_root)
            fail_msg("case %zu: got %s errcode %ld \"%s\" root %d", i, wxs_err_name(rc),
                     res.errcode, res.reason != NULL ? res.reason : "(null)", res.root != NULL);
        if (cases[i].errmsg != NULL)
            assert_string_equal(res.errmsg, cases[i].errmsg);
        wxs__wechat_reply_clear(&reply);
        assert_null(reply.root);
    }
    /* no body at all */
    wxs__call_result res = {0};
    wxs__wechat_reply reply = {0};
    assert_int_equal(wxs__wechat_parse_call(NULL, 0, 200, 16, &res, &reply), WXS_EUPSTREAM);
    assert_null(res.root);
    wxs__wechat_reply_clear(&reply);
}

/* A POSTed call: the path as given after the base, the body and its Content-Type reach the
 * server; the reply object is handed over. */
static void test_call_post(void **state)
{
    fixture *fx = *state;
    const char *body = "{\"grant_type\":\"client_credential\",\"force_refresh\":false}";
    call_outcome o = call_once(fx, "/cgi-bin/stable_token", body, 200,
                               "{\"access_token\":\"T1\",\"expires_in\":7200}");
    assert_int_equal(o.status, 0);
    assert_string_equal(o.root, "{\"access_token\":\"T1\",\"expires_in\":7200}");
    assert_string_equal(fx->srv.last_request_line, "POST /cgi-bin/stable_token HTTP/1.1");
    assert_string_equal(fx->srv.last_body, body);
    assert_non_null(strcasestr(fx->srv.last_headers, "\r\nContent-Type: application/json\r\n"));
    /* refused by WeChat: errcode and errmsg */
    o = call_once(fx, "/wxa/business/getuserphonenumber?access_token=T1", "{\"code\":\"c\"}", 200,
                  "{\"errcode\":40029,\"errmsg\":\"invalid code\"}");
    assert_int_equal(o.status, WXS_EEXCHANGE);
    assert_int_equal(o.errcode, 40029);
    assert_string_equal(o.errmsg, "invalid code");
    assert_string_equal(fx->srv.last_body, "{\"code\":\"c\"}");
    assert_int_equal(fx->srv.accepts, 1); /* kept alive */
}

/* A GET call after a POST on the same (spare) handle: no body, no JSON Content-Type; then a
 * code exchange on it is a GET too. */
static void test_call_get_after_post(void **state)
{
    fixture *fx = *state;
    call_outcome o = call_once(fx, "/cgi-bin/stable_token", "{\"a\":1}", 200, "{\"errcode\":0}");
    assert_int_equal(o.status, 0);
    o = call_once(fx, "/wxa/checksession?access_token=T&signature=s&openid=o", NULL, 200,
                  "{\"errcode\":87009,\"errmsg\":\"invalid signature\"}");
    assert_int_equal(o.status, WXS_EEXCHANGE);
    assert_int_equal(o.errcode, 87009);
    assert_string_equal(fx->srv.last_request_line,
                        "GET /wxa/checksession?access_token=T&signature=s&openid=o HTTP/1.1");
    assert_string_equal(fx->srv.last_body, "");
    assert_null(strcasestr(fx->srv.last_headers, "content-type"));
    assert_null(strcasestr(fx->srv.last_headers, "content-length"));
    outcome e = exchange_once(fx, 200, "{\"openid\":\"o\",\"session_key\":\"k\"}", "c");
    assert_int_equal(e.status, 0);
    assert_non_null(strstr(fx->srv.last_request_line, "GET /sns/jscode2session?"));
    assert_string_equal(fx->srv.last_body, "");
    assert_null(strcasestr(fx->srv.last_headers, "content-type"));
}

/* Transport failures and bad replies come as an exchange's do; arguments are checked at once. */
static void test_call_failures(void **state)
{
    fixture *fx = *state;
    call_outcome o = call_once(fx, "/x", NULL, 500, "oops");
    assert_int_equal(o.status, WXS_EUPSTREAM);
    assert_string_equal(o.reason, "HTTP 500");
    assert_string_equal(o.root, "");
    o = call_once(fx, "/x", NULL, 200, "not json");
    assert_int_equal(o.status, WXS_EUPSTREAM);
    assert_string_equal(o.reason, "reply is not JSON");
    fx->cfg.wechat_timeout_ms = 300;
    fx->srv.action = ACT_HANG;
    o = call_once(fx, "/x", "{}", 200, "");
    assert_int_equal(o.status, WXS_ETIMEDOUT);
    fx->srv.action = ACT_CLOSE;
    o = call_once(fx, "/x", NULL, 200, "");
    assert_int_equal(o.status, WXS_EIO);
    call_outcome never = {0};
    static char big[65536 + 2]; /* past the call body cap (lib/wechat.c WECHAT_MAX_BODY_BYTES) */
    memset(big, 'a', sizeof big);
    assert_int_equal(wxs__wechat_call(fx->w, "t", "x", NULL, 0, on_call, &never), WXS_EINVAL);
    assert_int_equal(wxs__wechat_call(fx->w, "t", NULL, NULL, 0, on_call, &never), WXS_EINVAL);
    assert_int_equal(wxs__wechat_call(fx->w, NULL, "/x", NULL, 0, on_call, &never), WXS_EINVAL);
    assert_int_equal(wxs__wechat_call(fx->w, "t", "/x", NULL, 0, NULL, &never), WXS_EINVAL);
    assert_int_equal(wxs__wechat_call(fx->w, "t", "/x", big, sizeof big, on_call, &never),
                     WXS_ETOOBIG);
    assert_int_equal(wxs__wechat_call(NULL, "t", "/x", NULL, 0, on_call, &never), WXS_EINVAL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(never.done, 0);
}

/* Freeing the client with a call in flight: it ends with WXS_ECANCELED inside the free. */
static void test_call_free_in_flight(void **state)
{
    fixture *fx = *state;
    call_outcome o = {0};
    fx->srv.action = ACT_HANG;
    assert_int_equal(wxs__wechat_call(fx->w, "t", "/x", "{\"secret\":\"s\"}", 14, on_call, &o), 0);
    o.returned = 1;
    run_until(fx, &fx->srv.requests, 1);
    wxs__wechat_free(fx->w);
    fx->w = NULL;
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, WXS_ECANCELED);
}

static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    outcome o = {0};
    char big[1100];
    memset(big, 'a', sizeof big);
    assert_int_equal(wxs__wechat_exchange(fx->w, "", 0, on_result, &o), WXS_EINVAL);
    assert_int_equal(wxs__wechat_exchange(fx->w, "c", 1, NULL, &o), WXS_EINVAL);
    assert_int_equal(wxs__wechat_exchange(fx->w, big, sizeof big, on_result, &o), WXS_ETOOBIG);
    assert_int_equal(o.done, 0);

    struct wxs_config empty = {0};
    wxs__wechat *w2 = NULL;
    assert_int_equal(wxs__wechat_new(&w2, &fx->loop, &empty), WXS_ECONFIG);
    assert_null(w2);
    wxs__wechat_free(NULL);
}

/* ------------------------------------------------------------ main */

/* Creates and frees one client so that libcurl's process-wide state exists before the tests
 * count allocations. */
static void warm_up(void)
{
    uv_loop_t loop;
    struct wxs_config cfg = {.wechat_api_base = (char *)"http://127.0.0.1:1"};
    wxs__wechat *w = NULL;
    uv_loop_init(&loop);
    if (wxs__wechat_new(&w, &loop, &cfg) == 0)
        wxs__wechat_free(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    baseline_allocs = atomic_load(&live_allocs);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    wxs_replace_allocator(count_malloc, count_realloc, count_calloc, count_free);
    wxs_set_log(capture_log, NULL, WXS_LOG_DEBUG, 0);
    warm_up();
    const struct CMUnitTest tests[] = {
        T(test_success_and_request_line),
        T(test_unionid_optional),
        T(test_errcode_rejected),
        T(test_errcode_without_errmsg),
        T(test_errcode_zero_is_success),
        T(test_bad_replies),
        T(test_reply_at_cap_is_accepted),
        T(test_huge_reply_chunked),
        T(test_huge_reply_announced),
        T(test_timeout),
        T(test_connection_refused),
        T(test_closed_without_reply),
        T(test_keep_alive),
        T(test_idle_connection_kept_unreferenced),
        T(test_peer_closes_idle_connection),
        T(test_concurrent),
        T(test_free_in_flight),
        T(test_free_before_loop_runs),
        T(test_free_from_callback),
        T(test_bad_arguments),
        T(test_parse_call),
        T(test_call_post),
        T(test_call_get_after_post),
        T(test_call_failures),
        T(test_call_free_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
