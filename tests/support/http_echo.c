/* http_echo.c: a small server on src/server/http.c for the HTTP layer's integration tests. */
#include "http.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 16
#define ECHO_BODY_MAX 1024 /* bodies up to this size are echoed back */
#define MAX_DELAY_MS 60000
#define MAX_BIG_BYTES (64 << 20)

typedef struct worker {
    uv_loop_t loop;
    uv_async_t stop_async;
    http_server *server;
    pthread_t thread;
    int index;
    unsigned long aborts;
} worker;

typedef struct delayed {
    uv_timer_t timer;
    http_req *req;
    worker *w;
    int answer_on_abort; /* answer from the abort callback instead of the timer */
    int answered;
} delayed;

/* A growable output string; on allocation failure it stays flagged and empty. */
typedef struct out_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} out_buf;

static worker workers[MAX_WORKERS];
static int nworkers = 1;

static void out_add(out_buf *b, const char *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 512 : b->cap;
        char *grown;
        while (cap < b->len + n + 1)
            cap *= 2;
        grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void out_str(out_buf *b, const char *s)
{
    out_add(b, s, strlen(s));
}

/* Append p (n bytes) as a JSON string with quotes, or null when p is NULL. */
static void out_json(out_buf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    if (p == NULL) {
        out_str(b, "null");
        return;
    }
    out_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        char esc[7] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15], 0};
        if (ch == '"' || ch == '\\') {
            out_str(b, ch == '"' ? "\\\"" : "\\\\");
        } else if (ch < 0x20 || ch == 0x7f) {
            out_str(b, esc);
        } else {
            out_add(b, p + i, 1);
        }
    }
    out_str(b, "\"");
}

/* {"worker","method","path","query","headers":{"x-test"},"bodyLength","body"?} */
static void respond_echo(worker *w, http_req *req)
{
    out_buf b = {0};
    size_t plen, qlen, tlen, blen;
    const char *path = http_req_path(req, &plen);
    const char *query = http_req_query(req, &qlen);
    const char *xtest = http_req_header(req, "x-test", &tlen);
    const char *body = http_req_body(req, &blen);
    char num[64];

    snprintf(num, sizeof(num), "{\"worker\":%d,\"method\":", w->index);
    out_str(&b, num);
    out_json(&b, http_method_name(http_req_method(req)),
             strlen(http_method_name(http_req_method(req))));
    out_str(&b, ",\"path\":");
    out_json(&b, path, plen);
    out_str(&b, ",\"query\":");
    out_json(&b, query, qlen);
    out_str(&b, ",\"headers\":{");
    if (xtest != NULL) {
        out_str(&b, "\"x-test\":");
        out_json(&b, xtest, tlen);
    }
    snprintf(num, sizeof(num), "},\"bodyLength\":%zu", blen);
    out_str(&b, num);
    if (blen <= ECHO_BODY_MAX) {
        out_str(&b, ",\"body\":");
        out_json(&b, body, blen);
    }
    out_str(&b, "}");
    if (b.failed)
        http_respond_error(req, 500, "ERR_OUT_OF_MEMORY", "out of memory");
    else
        http_respond(req, 200, NULL, b.data, b.len, 0);
    free(b.data);
}

static void on_delay_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_delay_timer(uv_timer_t *t)
{
    delayed *d = t->data;

    if (!d->answered)
        respond_echo(d->w, d->req); /* also when aborted: the request must still be answered */
    uv_close((uv_handle_t *)&d->timer, on_delay_closed);
}

static void on_delay_abort(void *arg, http_req *req)
{
    delayed *d = arg;

    d->w->aborts++;
    if (d->answer_on_abort) {
        d->answered = 1;
        respond_echo(d->w, req);
        uv_timer_start(&d->timer, on_delay_timer, 0, 0); /* only to release d */
    }
}

/* /delay?ms=N[&abort=answer]: answer from a timer N ms later (the asynchronous path), or from
 * the abort callback when the client goes away first and abort=answer. */
static void start_delay(worker *w, http_req *req)
{
    size_t qlen;
    const char *query = http_req_query(req, &qlen);
    long ms = 0;
    delayed *d;

    if (query != NULL && strncmp(query, "ms=", 3) == 0)
        ms = strtol(query + 3, NULL, 10);
    if (ms < 0 || ms > MAX_DELAY_MS) {
        http_respond_error(req, 400, "ERR_BAD_REQUEST", "ms out of range");
        return;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        http_respond_error(req, 500, "ERR_OUT_OF_MEMORY", "out of memory");
        return;
    }
    d->req = req;
    d->w = w;
    d->answer_on_abort = strstr(query, "abort=answer") != NULL;
    d->timer.data = d;
    uv_timer_init(&w->loop, &d->timer);
    uv_timer_start(&d->timer, on_delay_timer, (uint64_t)ms, 0);
    http_req_on_abort(req, on_delay_abort, d);
}

/* /big?n=N: N bytes of a repeating pattern (a response larger than the socket buffers). */
static void respond_big(http_req *req)
{
    size_t qlen;
    const char *query = http_req_query(req, &qlen);
    long n = query != NULL && strncmp(query, "n=", 2) == 0 ? strtol(query + 2, NULL, 10) : 0;
    char *body;

    if (n < 0 || n > MAX_BIG_BYTES) {
        http_respond_error(req, 400, "ERR_BAD_REQUEST", "n out of range");
        return;
    }
    body = malloc((size_t)n + 1);
    if (body == NULL) {
        http_respond_error(req, 500, "ERR_OUT_OF_MEMORY", "out of memory");
        return;
    }
    for (long i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    http_respond(req, 200, "text/plain", body, (size_t)n, 0);
    free(body);
}

static void on_request(void *app, http_req *req)
{
    worker *w = app;
    size_t plen;
    const char *path = http_req_path(req, &plen);
    char body[128];

    if (plen == 6 && memcmp(path, "/count", 6) == 0) {
        int n = snprintf(
            body, sizeof(body), "{\"worker\":%d,\"connections\":%u,\"aborts\":%lu,\"queued\":%zu}",
            w->index, http_server_connections(w->server), w->aborts, http_server_queued(w->server));
        http_respond(req, 200, NULL, body, (size_t)n, 0);
    } else if (plen == 6 && memcmp(path, "/delay", 6) == 0) {
        start_delay(w, req);
    } else if (plen == 4 && memcmp(path, "/big", 4) == 0) {
        respond_big(req);
    } else if (plen == 10 && memcmp(path, "/nocontent", 10) == 0) {
        http_respond(req, 204, NULL, NULL, 0, 0);
    } else if (plen == 12 && memcmp(path, "/notmodified", 12) == 0) {
        http_respond(req, 304, NULL, "must not be sent", 16, 0); /* the body is dropped */
    } else {
        respond_echo(w, req);
    }
}

static void on_server_stopped(void *arg)
{
    worker *w = arg;

    w->server = NULL;
    uv_close((uv_handle_t *)&w->stop_async, NULL);
}

static void on_stop_async(uv_async_t *a)
{
    worker *w = a->data;

    if (w->server != NULL)
        http_server_stop(w->server, on_server_stopped, w);
}

static void *worker_main(void *arg)
{
    worker *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    for (int i = 0; i < nworkers; i++)
        uv_async_send(&workers[i].stop_async);
    uv_close((uv_handle_t *)sig, NULL);
    uv_close((uv_handle_t *)sig->data, NULL); /* the other signal handle */
}

static int parse_options(int argc, char **argv, int *port, http_limits *lim)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i];
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (*end != '\0')
            return -1;
        if (strcmp(name, "--port") == 0 && v <= 65535)
            *port = (int)v;
        else if (strcmp(name, "--workers") == 0 && v >= 1 && v <= MAX_WORKERS)
            nworkers = (int)v;
        else if (strcmp(name, "--header-bytes") == 0)
            lim->header_bytes = v;
        else if (strcmp(name, "--body-bytes") == 0)
            lim->body_bytes = v;
        else if (strcmp(name, "--max-conns") == 0)
            lim->max_connections = (unsigned)v;
        else if (strcmp(name, "--header-timeout-ms") == 0)
            lim->header_timeout_ms = v;
        else if (strcmp(name, "--body-timeout-ms") == 0)
            lim->body_timeout_ms = v;
        else if (strcmp(name, "--idle-timeout-ms") == 0)
            lim->idle_timeout_ms = v;
        else if (strcmp(name, "--queued-bytes") == 0)
            lim->queued_bytes = v;
        else if (strcmp(name, "--stop-grace-ms") == 0)
            lim->stop_grace_ms = v;
        else
            return -1;
    }
    return argc % 2 == 1 ? 0 : -1;
}

/* Worker i: its loop, its stop signal and its server on port. */
static int start_worker(int i, int port, const http_limits *lim)
{
    worker *w = &workers[i];
    int rc;

    w->index = i;
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->stop_async, on_stop_async);
    w->stop_async.data = w;
    rc = http_server_start(&w->server, &w->loop, "127.0.0.1", port, lim, on_request, w);
    if (rc < 0)
        fprintf(stderr, "http_echo: cannot listen on port %d: %s\n", port, uv_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    http_limits lim = {0};
    int port = 0;
    uv_loop_t main_loop;
    uv_signal_t sigterm, sigint;

    if (parse_options(argc, argv, &port, &lim) < 0) {
        fprintf(stderr, "usage: http_echo --port N [--workers W] [--header-bytes B] "
                        "[--body-bytes B] [--max-conns C] [--header-timeout-ms T] "
                        "[--body-timeout-ms T] [--idle-timeout-ms T] [--queued-bytes B] "
                        "[--stop-grace-ms T]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < nworkers; i++) {
        if (start_worker(i, port, &lim) < 0)
            return 1;
        port = http_server_port(workers[i].server);
    }
    uv_loop_init(&main_loop);
    uv_signal_init(&main_loop, &sigterm);
    uv_signal_init(&main_loop, &sigint);
    sigterm.data = &sigint;
    sigint.data = &sigterm;
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    for (int i = 0; i < nworkers; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    uv_run(&main_loop, UV_RUN_DEFAULT);
    for (int i = 0; i < nworkers; i++) {
        pthread_join(workers[i].thread, NULL);
        if (uv_loop_close(&workers[i].loop) != 0) {
            fprintf(stderr, "http_echo: worker %d loop not empty\n", i);
            return 1;
        }
    }
    return uv_loop_close(&main_loop) == 0 ? 0 : 1;
}
