/* driver_http.c: libFuzzer driver for wxsessiond's HTTP/1.1 connection code (src/server/http.c
 * and http_parse.c): each input is sent over a real loopback connection to a real http_server on
 * a libuv loop, and what comes back must be well-formed HTTP/1.1 responses, in request order.
 *
 * Input: byte 0 is the mode, the rest the bytes the client sends.
 *   bit 0    the handler answers later (from a zero timer) instead of at once
 *   bit 1    the client goes away as soon as it has written (the abort paths) instead of after
 *            the server has answered all it will
 *   bit 2    the server with small limits (headers 256 bytes, body 512) instead of the defaults
 *   bit 3    with bit 0: a request whose client went away is answered from the abort callback
 *   bits 4-6 write size: 0 all at once, k: 4^(k-1) bytes per write (at most 32 writes), a loop
 *            turn between writes
 *   bit 7    every answer asks to close the connection
 * A target "/sNNN..." makes the handler answer with status NNN. */
#include "fuzz.h"

#include "http.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_TRACKED 4096 /* requests per input whose answers are checked one by one */
#define MAX_WRITES 32    /* writes per input */
#define FUZZ_CTYPE "application/x-fuzz; seq="

enum {
    MODE_ASYNC = 1,
    MODE_EARLY_CLOSE = 2,
    MODE_SMALL = 4,
    MODE_ANSWER_ON_ABORT = 8,
    MODE_CLOSE = 128,
};

/* What the handler answered (or will answer) to the n-th request of this input. */
typedef struct sent {
    int status;
    int head;
} sent;

/* One input's connection, seen from both ends. */
typedef struct session {
    unsigned mode;
    unsigned dispatched; /* requests the handler got */
    sent sent[MAX_TRACKED];
    /* the client end */
    int fd;
    uv_poll_t poll;
    int eof; /* the server closed or reset: nothing more will come */
    unsigned long events;
    http_parser parser;
    unsigned answered; /* final responses parsed */
    int closed_seen;   /* a response said Connection: close */
    int poll_closed;
    int last_field_ctype;
    char ctype[128];
    size_t ctype_len;
} session;

/* An answer the handler gives later. */
typedef struct later {
    uv_timer_t timer;
    http_req *req;
    int status;
    int close_after;
    unsigned seq;
    int done;
} later;

static uv_loop_t loop;
static http_server *servers[2]; /* default limits, small limits */
static int ports[2];
static session *cur;
static unsigned pending_later; /* later answers not yet given or not yet closed */

/* ---- the server side: the handler */

/* The status the handler answers with: NNN for a target "/sNNN..." (statuses the server maps to
 * 500 included), else 200. Not 1xx or 304: a final answer cannot have those (fuzz/README.md). */
static int status_for(http_req *req)
{
    size_t len;
    const char *path = http_req_path(req, &len);
    int status = 0;

    if (len < 5 || path[1] != 's')
        return 200;
    for (size_t i = 2; i < 5; i++) {
        if (path[i] < '0' || path[i] > '9')
            return 200;
        status = status * 10 + (path[i] - '0');
    }
    if ((status >= 100 && status < 200) || status == 304)
        return 200;
    return status;
}

/* 1 when a header value holds a control byte other than HTAB (RFC 9110 field-value). */
static int has_control(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    return 0;
}

/* What the accessors give must be consistent; the protocol parsers see the real values. */
static void inspect(http_req *req)
{
    size_t len = 0, qlen = 0, blen = 0, rlen = 0;
    const char *path = http_req_path(req, &len);
    const char *query = http_req_query(req, &qlen);
    const char *body = http_req_body(req, &blen);
    const char *raw = http_req_header(req, "x-wx-rawdata", &rlen);
    const char *ctype = http_req_header(req, "content-type", NULL);
    char decoded[256];
    size_t dlen;

    FUZZ_CHECK(path != NULL && path[0] == '/' && path[len] == '\0' && strlen(path) == len,
               "path of %zu bytes", len);
    FUZZ_CHECK(query == NULL || (query[qlen] == '\0' && strlen(query) == qlen), "query");
    FUZZ_CHECK(body != NULL && body[blen] == '\0', "body not NUL-terminated");
    if (raw != NULL) {
        FUZZ_CHECK(raw[rlen] == '\0', "header value not NUL-terminated");
        FUZZ_CHECK(!has_control(raw, rlen), "control byte in a header value");
        FUZZ_CHECK(rlen == 0 || (raw[0] != ' ' && raw[0] != '\t' && raw[rlen - 1] != ' ' &&
                                 raw[rlen - 1] != '\t'),
                   "value not trimmed");
        (void)wxs_percent_decode(raw, rlen, decoded, sizeof decoded, &dlen);
    }
    if (http_req_method(req) == HTTP_POST && blen > 0) {
        wxs_paint_body b;
        const char *reason;
        char err[128];
        if (wxs_paint_body_parse(ctype, body, blen, 64, &b, &reason, err, sizeof err) == 0)
            wxs_paint_body_clear(&b);
    }
}

static void answer(http_req *req, unsigned seq, int status, int close_after)
{
    char ctype[64];
    char body[64];
    int n;

    snprintf(ctype, sizeof ctype, FUZZ_CTYPE "%u", seq);
    n = snprintf(body, sizeof body, "{\"seq\":%u}", seq);
    http_respond(req, status, ctype, body, (size_t)n, close_after);
}

static void on_later_closed(uv_handle_t *h)
{
    free(h->data);
    pending_later--;
}

static void answer_later(later *l)
{
    if (l->done)
        return;
    l->done = 1;
    answer(l->req, l->seq, l->status, l->close_after);
    uv_close((uv_handle_t *)&l->timer, on_later_closed);
}

static void on_later_timer(uv_timer_t *t)
{
    answer_later(t->data);
}

static void on_abort(void *arg, http_req *req)
{
    later *l = arg;

    FUZZ_CHECK(http_req_aborted(req), "abort callback on a live request");
    answer_later(l);
}

static void handle(void *app, http_req *req)
{
    session *s = cur;
    unsigned seq;
    int status = status_for(req);
    int close_after;
    later *l;

    FUZZ_CHECK(s != NULL, "a request outside any input");
    seq = s->dispatched++;
    close_after = (s->mode & MODE_CLOSE) != 0;
    if (seq < MAX_TRACKED) {
        s->sent[seq].status = status < 100 || status > 599 ? 500 : status;
        s->sent[seq].head = http_req_method(req) == HTTP_HEAD;
    }
    inspect(req);
    if (!(s->mode & MODE_ASYNC)) {
        answer(req, seq, status, close_after);
        return;
    }
    l = calloc(1, sizeof *l);
    FUZZ_CHECK(l != NULL, "out of memory");
    l->req = req;
    l->status = status;
    l->close_after = close_after;
    l->seq = seq;
    l->timer.data = l;
    uv_timer_init(&loop, &l->timer);
    uv_timer_start(&l->timer, on_later_timer, 0, 0);
    pending_later++;
    if (s->mode & MODE_ANSWER_ON_ABORT)
        http_req_on_abort(req, on_abort, l);
}

/* ---- the client side: parse what comes back */

static int on_message_begin(http_parser *p)
{
    session *s = p->data;

    FUZZ_CHECK(!s->closed_seen, "bytes after a response with Connection: close");
    s->ctype_len = 0;
    s->last_field_ctype = 0;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    session *s = p->data;

    s->last_field_ctype = n == 12 && strncasecmp(at, "content-type", 12) == 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    session *s = p->data;

    if (s->last_field_ctype && s->ctype_len + n < sizeof s->ctype) {
        memcpy(s->ctype + s->ctype_len, at, n);
        s->ctype_len += n;
    }
    return 0;
}

/* A final response answers the oldest request not yet answered, or is the server's own error
 * answer, the last thing on the connection. */
static int on_headers_complete(http_parser *p)
{
    session *s = p->data;
    size_t plen = strlen(FUZZ_CTYPE);
    unsigned seq;

    FUZZ_CHECK(p->http_major == 1 && p->http_minor == 1, "response version %d.%d", p->http_major,
               p->http_minor);
    if (p->status_code < 200) {
        FUZZ_CHECK(p->status_code == 100, "interim status %d", p->status_code);
        return 0;
    }
    if (!http_should_keep_alive(p))
        s->closed_seen = 1;
    s->ctype[s->ctype_len] = '\0';
    if ((s->ctype_len > plen && memcmp(s->ctype, FUZZ_CTYPE, plen) == 0) ||
        p->status_code == 204) {
        /* ours; a 204 carries no Content-Type, and the server never answers 204 itself */
        seq = p->status_code == 204 ? s->answered : (unsigned)strtoul(s->ctype + plen, NULL, 10);
        FUZZ_CHECK(seq == s->answered, "answer to request %u came as answer %u", seq, s->answered);
        FUZZ_CHECK(seq < s->dispatched, "answer to request %u of %u", seq, s->dispatched);
        s->answered++;
        if (seq < MAX_TRACKED) {
            FUZZ_CHECK(p->status_code == (unsigned)s->sent[seq].status, "status %d, sent %d",
                       p->status_code, s->sent[seq].status);
            if (s->sent[seq].head)
                return 1; /* no body follows the answer to HEAD */
        }
        return 0;
    }
    FUZZ_CHECK(p->status_code >= 400, "server answer %d", p->status_code);
    FUZZ_CHECK(s->closed_seen, "error %d without Connection: close", p->status_code);
    return 0;
}

static const http_parser_settings client_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

static void client_read(session *s)
{
    char buf[65536];

    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            s->eof = 1;
            return;
        }
        s->events++;
        size_t used = http_parser_execute(&s->parser, &client_settings, buf, (size_t)n);
        FUZZ_CHECK(used == (size_t)n && HTTP_PARSER_ERRNO(&s->parser) == HPE_OK,
                   "the server sent malformed HTTP: %s",
                   http_errno_name(HTTP_PARSER_ERRNO(&s->parser)));
    }
}

static void on_client_poll(uv_poll_t *h, int status, int events)
{
    session *s = h->data;

    if (status < 0) {
        s->eof = 1;
        return;
    }
    client_read(s);
    if (s->eof)
        uv_poll_stop(h);
}

/* ---- one input */

static int client_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's -timeout alarm interrupts system calls: connect without blocking, then wait */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        FUZZ_CHECK(errno == EINPROGRESS || errno == EINTR, "connect: %s", strerror(errno));
        while (poll(&pfd, 1, -1) < 0)
            FUZZ_CHECK(errno == EINTR, "poll: %s", strerror(errno));
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        FUZZ_CHECK(err == 0, "connect: %s", strerror(err));
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Send all of p, a loop turn after each write of at most chunk bytes (but in at most
 * MAX_WRITES writes: loopback TCP costs a syscall and a segment per write); stops if the server
 * closed. */
static void client_write(session *s, const uint8_t *p, size_t n, size_t chunk)
{
    size_t off = 0;

    if (chunk > 0 && chunk < (n + MAX_WRITES - 1) / MAX_WRITES)
        chunk = (n + MAX_WRITES - 1) / MAX_WRITES;

    while (off < n && !s->eof) {
        size_t want = chunk > 0 && n - off > chunk ? chunk : n - off;
        ssize_t w = send(s->fd, p + off, want, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return; /* reset by the server after its answer */
        if (w > 0)
            off += (size_t)w;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

/* Loop turns until the server has answered all it will (no later answer pending and two turns
 * without news), or has closed. */
static void wait_quiet(session *s)
{
    unsigned quiet = 0;
    unsigned long seen = 0;

    while (!s->eof && quiet < 2) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (pending_later == 0 && s->events + s->dispatched == seen)
            quiet++;
        else
            quiet = 0;
        seen = s->events + s->dispatched;
    }
}

static void count_tcp(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP)
        (*(unsigned *)arg)++;
}

/* Server-side TCP handles still open (the two listeners not counted). */
static unsigned server_connections(void)
{
    unsigned n = 0;

    uv_walk(&loop, count_tcp, &n);
    return n - 2;
}

static void on_poll_closed(uv_handle_t *h)
{
    session *s = h->data;

    s->poll_closed = 1;
}

static void run_input(session *s, const uint8_t *p, size_t n)
{
    static const size_t chunks[] = {0, 1, 4, 16, 64, 256, 1024, 4096};
    static const struct linger reset = {.l_onoff = 1, .l_linger = 0};
    int which = (s->mode & MODE_SMALL) ? 1 : 0;

    s->fd = client_connect(ports[which]);
    http_parser_init(&s->parser, HTTP_RESPONSE);
    s->parser.data = s;
    uv_poll_init_socket(&loop, &s->poll, s->fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE | UV_DISCONNECT, on_client_poll);
    while (server_connections() == 0) /* accepted, so that it cannot outlive this input */
        uv_run(&loop, UV_RUN_ONCE);

    client_write(s, p, n, chunks[(s->mode >> 4) & 7]);
    if (!(s->mode & MODE_EARLY_CLOSE))
        wait_quiet(s);
    /* a reset rather than FIN: the server takes both as the client going away (http.c reads
     * either as nread < 0), and no TIME_WAIT is left behind on either side, so millions of
     * inputs do not use up the loopback ports other programs need */
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
    close(s->fd);
    /* the server notices the close; every connection and later answer ends before the next
     * input */
    while (server_connections() > 0 || pending_later > 0 || !s->poll_closed)
        uv_run(&loop, UV_RUN_ONCE);
    FUZZ_CHECK(s->answered <= s->dispatched, "%u answers to %u requests", s->answered,
               s->dispatched);
    FUZZ_CHECK(http_server_connections(servers[which]) == 0, "connections left open");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const http_limits small = {
        .header_bytes = 256,
        .body_bytes = 512,
        .max_connections = 4,
    };

    signal(SIGPIPE, SIG_IGN);
    FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
    FUZZ_CHECK(http_server_start(&servers[0], &loop, "127.0.0.1", 0, NULL, handle, NULL) == 0,
               "server start");
    FUZZ_CHECK(http_server_start(&servers[1], &loop, "127.0.0.1", 0, &small, handle, NULL) == 0,
               "server start");
    ports[0] = http_server_port(servers[0]);
    ports[1] = http_server_port(servers[1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session *s;

    if (size == 0)
        return 0;
    s = calloc(1, sizeof *s);
    FUZZ_CHECK(s != NULL, "out of memory");
    s->mode = data[0];
    cur = s;
    run_input(s, data + 1, size - 1);
    cur = NULL;
    free(s);
    return 0;
}
