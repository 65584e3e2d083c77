/* wechat.c: the WeChat jscode2session client: libcurl multi driven by a libuv loop. */
#include "wechat.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WECHAT_MAX_CODE_BYTES 1024  /* longer codes are refused before any I/O */
#define WECHAT_MAX_URL_BYTES 16384  /* base + encoded appid, secret and code */
#define WECHAT_MAX_BODY_BYTES 65536 /* a server API call's JSON body */
#define WECHAT_MAX_CONNECTS 64      /* connections kept in the multi's cache */
#define WECHAT_DEFAULT_TIMEOUT_MS 3000
#define WECHAT_DEFAULT_REPLY_BYTES 65536
#define WECHAT_MAX_SPARE_EXCHANGES 16 /* finished exchanges kept with their easy handles */
#define WECHAT_SPARE_BODY_BYTES 4096  /* a spare keeps its reply buffer up to this size */

/* One libcurl socket watched by the loop. A connection's socket (opened by on_open_socket)
 * keeps its poll handle while the connection waits in libcurl's cache between transfers, and
 * loses it in on_close_socket just before the descriptor is closed. Any other socket (the
 * threaded resolver's wake-up pair) loses it on CURL_POLL_REMOVE. */
typedef struct wechat_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct wechat_client *w;
    int events;     /* UV_READABLE | UV_WRITABLE being polled, 0 when stopped */
    int connection; /* opened by on_open_socket: only on_close_socket ends it */
    int parked;     /* a connection no transfer uses: unreferenced, polled for readable only */
    struct wechat_sock *prev, *next;
} wechat_sock;

/* One exchange: its easy handle, its reply so far and whom to tell. A finished exchange is
 * kept as a spare with its easy handle, whose options other than the URL, the timeouts and
 * the reply cap are set once, when the handle is made. */
typedef struct exchange {
    CURL *easy;
    wxs__exchange_cb cb;  /* a code exchange's, or */
    wxs__call_cb call_cb; /* a server API call's */
    const char *name;     /* the call's API name, for logs (static) */
    void *arg;
    wxs__buf body;
    wxs__buf post;  /* a POSTed call's body (stable_token's holds the app secret): wiped */
    int body_error; /* WXS_ETOOBIG or WXS_ENOMEM when the write callback gave up */
    /* in flight: doubly linked; spare: next only */
    struct exchange *prev, *next;
} exchange;

typedef struct wechat_client {
    wxs__wechat iface; /* first: the ops table (lib/wechat.h) */
    uv_loop_t *loop;
    const wxs_config *cfg;
    CURLM *multi;
    uv_timer_t timer;
    char *base;            /* api base without trailing slashes */
    wxs__buf url;          /* the request URL up to js_code= (it holds the app secret), kept */
    size_t url_prefix_len; /* 0 until the first exchange builds it */
    exchange *inflight;    /* doubly linked */
    exchange *spare;       /* singly linked, at most WECHAT_MAX_SPARE_EXCHANGES */
    unsigned spare_count;
    wechat_sock *socks;             /* doubly linked; every poll handle not yet closing */
    unsigned open_handles;          /* uv handles whose close callback has not run */
    struct curl_slist *json_header; /* "Content-Type: application/json" for POSTed calls */
    int closing;
} wechat_client;

/* ------------------------------------------------------------------ process-wide init */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

/* libcurl's global state, set up once per process with the library's allocator. */
static void curl_init_once(void)
{
    curl_init_result = curl_global_init_mem(CURL_GLOBAL_DEFAULT, wxs__malloc, wxs__free,
                                            wxs__realloc, wxs__strdup, wxs__calloc);
}

/* ------------------------------------------------------------------ lists and handles */

static void exchange_link(wechat_client *w, exchange *ex)
{
    ex->prev = NULL;
    ex->next = w->inflight;
    if (w->inflight != NULL)
        w->inflight->prev = ex;
    w->inflight = ex;
}

static void exchange_unlink(wechat_client *w, exchange *ex)
{
    if (ex->prev != NULL)
        ex->prev->next = ex->next;
    else
        w->inflight = ex->next;
    if (ex->next != NULL)
        ex->next->prev = ex->prev;
    ex->prev = NULL;
    ex->next = NULL;
}

/* Frees the client once it is closing and its last uv handle has closed. */
static void maybe_release(wechat_client *w)
{
    if (!w->closing || w->open_handles > 0)
        return;
    wxs__free(w->base);
    wxs__free(w);
}

static void on_sock_closed(uv_handle_t *h)
{
    wechat_sock *sk = h->data;
    wechat_client *w = sk->w;
    wxs__free(sk);
    w->open_handles--;
    maybe_release(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    wechat_client *w = h->data;
    w->open_handles--;
    maybe_release(w);
}

/* Stops watching a socket (before its descriptor is closed) and frees its record on close. */
static void sock_close(wechat_sock *sk)
{
    wechat_client *w = sk->w;
    if (sk->prev != NULL)
        sk->prev->next = sk->next;
    else
        w->socks = sk->next;
    if (sk->next != NULL)
        sk->next->prev = sk->prev;
    uv_close((uv_handle_t *)&sk->poll, on_sock_closed);
}

/* ------------------------------------------------------------------ classification */

/* Short text for a transport failure: never libcurl's error buffer, which may hold the URL. */
static const char *transport_reason(CURL *easy, CURLcode cc)
{
    long os_errno = 0;
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        return os_errno == ECONNREFUSED ? "connection refused" : "could not connect";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "could not resolve host";
    case CURLE_SEND_ERROR:
        return "send failed";
    case CURLE_RECV_ERROR:
        return "connection reset";
    case CURLE_GOT_NOTHING:
        return "empty reply";
    case CURLE_PARTIAL_FILE:
        return "reply cut short";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "bad api base URL";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        return "TLS failure";
    default:
        return curl_easy_strerror(cc); /* static text without URL or host */
    }
}

/* The transport's part of a finished transfer's outcome: res->status stays 0 when a complete
 * reply arrived (see wechat.h for the mapping). */
static void classify_transport(exchange *ex, CURLcode cc, wxs__exchange_result *res)
{
    if (ex->body_error == WXS_ENOMEM || cc == CURLE_OUT_OF_MEMORY) {
        res->status = WXS_ENOMEM;
        res->reason = "out of memory";
    } else if (ex->body_error == WXS_ETOOBIG || cc == CURLE_FILESIZE_EXCEEDED) {
        res->status = WXS_EUPSTREAM;
        res->reason = "reply too large";
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        res->status = WXS_ETIMEDOUT;
        res->reason = "timeout";
    } else if (cc != CURLE_OK) {
        res->status = WXS_EIO;
        res->reason = transport_reason(ex->easy, cc);
    }
}

/* Classifies a finished transfer into res (see wechat.h for the mapping). */
static void classify(const wechat_client *w, exchange *ex, CURLcode cc, wxs__exchange_result *res,
                     wxs__wechat_reply *reply)
{
    classify_transport(ex, cc, res);
    if (res->status < 0)
        return;
    long http_status = 0;
    curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &http_status);
    wxs__wechat_parse_reply(ex->body.data, ex->body.len, http_status,
                            (long)w->cfg->limit_json_depth, res, reply);
}

/* ------------------------------------------------------------------ completion */

/* Takes ex out of the multi handle and the in-flight list; the connection stays in the
 * multi's cache for the next exchange. */
static void exchange_detach(wechat_client *w, exchange *ex)
{
    exchange_unlink(w, ex);
    curl_multi_remove_handle(w->multi, ex->easy);
}

/* Clear the reply kept in ex (it held the session key) and the body it sent. */
static void body_wipe(exchange *ex)
{
    if (ex->body.data != NULL)
        explicit_bzero(ex->body.data, ex->body.len);
    if (ex->post.data != NULL)
        explicit_bzero(ex->post.data, ex->post.len);
    wxs__buf_free(&ex->post);
}

static void exchange_destroy(exchange *ex)
{
    if (ex->easy != NULL)
        curl_easy_cleanup(ex->easy);
    body_wipe(ex);
    wxs__buf_free(&ex->body);
    wxs__free(ex);
}

/* Keeps a detached exchange as a spare, its reply wiped (it held the session key), or frees it
 * when there are spares enough or the client is closing. */
static void exchange_put(wechat_client *w, exchange *ex)
{
    if (w->closing || w->spare_count >= WECHAT_MAX_SPARE_EXCHANGES) {
        exchange_destroy(ex);
        return;
    }
    body_wipe(ex);
    if (ex->body.cap > WECHAT_SPARE_BODY_BYTES)
        wxs__buf_free(&ex->body);
    wxs__buf_reset(&ex->body);
    ex->cb = NULL;
    ex->call_cb = NULL;
    ex->arg = NULL;
    ex->prev = NULL;
    ex->next = w->spare;
    w->spare = ex;
    w->spare_count++;
}

/* Finishes one server API call: classify (the transport as an exchange's, the reply by
 * wxs__wechat_parse_call), detach, tell the caller. */
static void call_complete(wechat_client *w, exchange *ex, CURLcode cc)
{
    wxs__exchange_result tr = {0};
    wxs__call_result res = {0};
    wxs__wechat_reply reply = {0};
    classify_transport(ex, cc, &tr);
    if (tr.status == 0) {
        long http_status = 0;
        curl_easy_getinfo(ex->easy, CURLINFO_RESPONSE_CODE, &http_status);
        wxs__wechat_parse_call(ex->body.data, ex->body.len, http_status,
                               (long)w->cfg->limit_json_depth, &res, &reply);
    } else {
        res.status = tr.status;
        res.reason = tr.reason;
    }
    exchange_detach(w, ex);
    if (res.status < 0 && res.status != WXS_EEXCHANGE)
        wxs__info("wechat: %s failed: %s", ex->name, res.reason);
    ex->call_cb(ex->arg, &res);
    wxs__wechat_reply_clear(&reply);
    exchange_put(w, ex);
}

/* Finishes one transfer: classify, detach, tell the caller, free. */
static void exchange_complete(wechat_client *w, exchange *ex, CURLcode cc)
{
    if (ex->call_cb != NULL) {
        call_complete(w, ex, cc);
        return;
    }
    wxs__exchange_result res = {0};
    wxs__wechat_reply reply = {0};
    classify(w, ex, cc, &res, &reply);
    exchange_detach(w, ex);
    if (res.status < 0 && res.status != WXS_EEXCHANGE)
        wxs__info("wechat: jscode2session failed: %s", res.reason);
    ex->cb(ex->arg, &res);
    wxs__wechat_reply_clear(&reply);
    exchange_put(w, ex);
}

/* Delivers every finished transfer. Stops when a callback frees the client. */
static void check_completions(wechat_client *w)
{
    while (!w->closing) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(w->multi, &left);
        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result; /* msg dies with curl_multi_remove_handle */
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        if (priv == NULL)
            continue;
        exchange_complete(w, (exchange *)priv, cc);
    }
}

static void socket_action(wechat_client *w, curl_socket_t fd, int flags)
{
    int running = 0;
    if (w->closing)
        return;
    CURLMcode mc = curl_multi_socket_action(w->multi, fd, flags, &running);
    if (mc != CURLM_OK)
        wxs__warn("wechat: curl_multi_socket_action: %s", curl_multi_strerror(mc));
    check_completions(w);
}

/* ------------------------------------------------------------------ loop <-> libcurl */

static void on_poll(uv_poll_t *h, int status, int events);

/* Polls sk for events (0: stop), skipping the call when nothing changes: each start or stop
 * of a uv_poll handle costs epoll_ctl calls. Returns 0 or a libuv error. */
static int sock_watch(wechat_sock *sk, int events)
{
    if (events == sk->events)
        return 0;
    int rc = events != 0 ? uv_poll_start(&sk->poll, events, on_poll) : uv_poll_stop(&sk->poll);
    if (rc == 0)
        sk->events = events;
    return rc;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    wechat_sock *sk = h->data;
    int flags = 0;
    if (status < 0)
        sk->events = 0; /* libuv stopped the handle */
    if (sk->parked) {
        /* an idle connection became readable: the peer closed it (or broke the protocol).
         * libcurl finds it dead when it next looks for a connection, and closes it. */
        sock_watch(sk, 0);
        return;
    }
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(sk->w, sk->fd, flags);
}

static void on_timer(uv_timer_t *h)
{
    socket_action(h->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the one timer. The timeout always fires from the
 * loop, never from inside libcurl, so no callback runs within client_exchange. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    wechat_client *w = userp;
    (void)multi;
    if (w->closing)
        return 0;
    if (timeout_ms < 0)
        return uv_timer_stop(&w->timer) == 0 ? 0 : -1;
    return uv_timer_start(&w->timer, on_timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

/* The record of a socket not yet closing, or NULL. A short list: at most the cached
 * connections and the sockets of transfers in flight. */
static wechat_sock *sock_find(wechat_client *w, curl_socket_t fd)
{
    for (wechat_sock *sk = w->socks; sk != NULL; sk = sk->next)
        if (sk->fd == fd)
            return sk;
    return NULL;
}

/* A poll handle for fd, not yet polling; NULL when out of memory or refused by libuv. */
static wechat_sock *sock_open(wechat_client *w, curl_socket_t fd, int connection)
{
    wechat_sock *sk = wxs__calloc(1, sizeof *sk);
    if (sk == NULL)
        return NULL;
    if (uv_poll_init_socket(w->loop, &sk->poll, fd) < 0) {
        wxs__free(sk);
        return NULL;
    }
    sk->poll.data = sk;
    sk->fd = fd;
    sk->w = w;
    sk->connection = connection;
    sk->next = w->socks;
    if (w->socks != NULL)
        w->socks->prev = sk;
    w->socks = sk;
    w->open_handles++;
    return sk;
}

/* The record for a socket libcurl starts watching (a parked connection taken back into use, or
 * another socket, given a poll handle), remembered through curl_multi_assign; NULL on
 * failure. */
static wechat_sock *sock_attach(wechat_client *w, curl_socket_t fd)
{
    wechat_sock *sk = sock_find(w, fd);
    if (sk == NULL)
        sk = sock_open(w, fd, 0);
    if (sk == NULL)
        return NULL;
    if (curl_multi_assign(w->multi, fd, sk) != CURLM_OK) {
        if (!sk->connection)
            sock_close(sk);
        return NULL;
    }
    return sk;
}

/* libcurl stopped watching sk: a connection is parked (it stays polled for readable, which
 * costs nothing until the peer closes it, so taking it back usually needs no epoll_ctl), any
 * other socket is closed. */
static void sock_release(wechat_sock *sk)
{
    if (!sk->connection) {
        sock_close(sk);
        return;
    }
    sk->parked = 1;
    uv_unref((uv_handle_t *)&sk->poll); /* an idle connection does not keep the loop alive */
    if (sk->events != UV_READABLE)
        sock_watch(sk, 0);
}

/* CURLMOPT_SOCKETFUNCTION: watch the socket for what libcurl asks, or stop watching it. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    wechat_client *w = userp;
    wechat_sock *sk = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL)
            sock_release(sk);
        return 0;
    }
    if (w->closing)
        return -1;
    if (sk == NULL)
        sk = sock_attach(w, fd); /* libcurl forgets socketp on CURL_POLL_REMOVE */
    if (sk == NULL)
        return -1;
    if (sk->parked) {
        sk->parked = 0;
        uv_ref((uv_handle_t *)&sk->poll);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return sock_watch(sk, events) == 0 ? 0 : -1;
}

/* CURLOPT_OPENSOCKETFUNCTION: a connection's socket, with the poll handle it keeps until
 * on_close_socket. CURL_SOCKET_BAD (libcurl fails the connect) when out of memory. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    wechat_client *w = clientp;
    (void)purpose;
    curl_socket_t fd = socket(address->family, address->socktype, address->protocol);
    if (fd == CURL_SOCKET_BAD)
        return CURL_SOCKET_BAD;
    wechat_sock *stale = sock_find(w, fd);
    if (stale != NULL)
        sock_close(stale); /* that descriptor was closed without on_close_socket */
    if (sock_open(w, fd, 1) == NULL) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: libcurl drops a connection. The poll handle closes first: libuv
 * must not poll a descriptor that is gone, and the number may be reused at once. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    wechat_sock *sk = sock_find(clientp, fd);
    if (sk != NULL)
        sock_close(sk);
    return close(fd);
}

/* ------------------------------------------------------------------ client */

/* The api base with trailing slashes removed, in library memory; NULL when out of memory. */
static char *trimmed_base(const char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return wxs__strndup(base, n);
}

/* Creates the client: a multi handle whose sockets and timer run on loop. Returns 0,
 * WXS_EINVAL (NULL argument), WXS_ECONFIG (no api base), WXS_EIO (libcurl failed to start)
 * or WXS_ENOMEM. */
static void client_free(wxs__wechat *iface);
static int client_exchange(wxs__wechat *iface, const char *code, size_t code_len,
                           wxs__exchange_cb cb, void *arg);
static int client_call(wxs__wechat *iface, const char *name, const char *path, const char *body,
                       size_t body_len, wxs__call_cb cb, void *arg);

static const wxs__wechat_ops client_ops = {
    .name = "wechat",
    .exchange = client_exchange,
    .call = client_call,
    .free = client_free,
};

int wxs__wechat_new(wxs__wechat **out, uv_loop_t *loop, const wxs_config *cfg)
{
    int rc = 0;
    wechat_client *w = NULL;
    if (out == NULL || loop == NULL || cfg == NULL)
        return WXS_EINVAL;
    *out = NULL;
    if (cfg->wechat_api_base == NULL || cfg->wechat_api_base[0] == '\0')
        return WXS_ECONFIG;
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_result != CURLE_OK)
        return WXS_EIO;
    w = wxs__calloc(1, sizeof *w);
    if (w == NULL)
        return WXS_ENOMEM;
    w->iface.ops = &client_ops;
    w->loop = loop;
    w->cfg = cfg;
    wxs__buf_init(&w->url, WECHAT_MAX_URL_BYTES);
    w->base = trimmed_base(cfg->wechat_api_base);
    w->multi = curl_multi_init();
    w->json_header = curl_slist_append(NULL, "Content-Type: application/json");
    if (w->base == NULL || w->multi == NULL || w->json_header == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    rc = uv_timer_init(loop, &w->timer) == 0 ? 0 : WXS_EIO;
    if (rc < 0)
        goto out;
    w->timer.data = w;
    w->open_handles = 1;
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)WECHAT_MAX_CONNECTS);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)WECHAT_MAX_CONNECTS);
    *out = &w->iface;
    w = NULL;
out:
    if (w != NULL) {
        if (w->multi != NULL)
            curl_multi_cleanup(w->multi);
        curl_slist_free_all(w->json_header);
        wxs__free(w->base);
        wxs__free(w);
    }
    return rc;
}

/* Ends every exchange in flight with WXS_ECANCELED, then closes the connections (through
 * on_close_socket) and the uv handles; the client's memory goes with the last close callback.
 * Safe to call from an exchange callback. */
static void client_free(wxs__wechat *iface)
{
    wechat_client *w = (wechat_client *)iface;
    if (w == NULL || w->closing)
        return;
    w->closing = 1;
    while (w->inflight != NULL) {
        exchange *ex = w->inflight;
        wxs__exchange_result res = {0};
        wxs__call_result call_res = {0};
        res.status = call_res.status = WXS_ECANCELED;
        res.reason = call_res.reason = "canceled";
        exchange_detach(w, ex);
        if (ex->call_cb != NULL)
            ex->call_cb(ex->arg, &call_res);
        else
            ex->cb(ex->arg, &res);
        exchange_put(w, ex);
    }
    curl_multi_cleanup(w->multi);
    w->multi = NULL;
    curl_slist_free_all(w->json_header);
    w->json_header = NULL;
    while (w->spare != NULL) {
        exchange *ex = w->spare;
        w->spare = ex->next;
        exchange_destroy(ex);
    }
    w->spare_count = 0;
    if (w->url.data != NULL)
        explicit_bzero(w->url.data, w->url.len); /* it holds the app secret */
    wxs__buf_free(&w->url);
    /* left: sockets libcurl closed without on_close_socket (not ours to close) */
    while (w->socks != NULL)
        sock_close(w->socks);
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

/* Builds the part of the jscode2session URL that every exchange shares, up to "js_code=",
 * into w->url (which then holds the app secret) and remembers its length. */
static int build_url_prefix(wechat_client *w)
{
    int rc = wxs__wechat_url_prefix(&w->url, w->base, w->cfg->app_id, w->cfg->app_secret);
    if (rc == 0)
        w->url_prefix_len = w->url.len;
    return rc;
}

/* Sets e's URL for code: the shared part (built by the first exchange) and the code. The code
 * is wiped from w->url once libcurl has its copy. */
static int set_url(wechat_client *w, CURL *e, const char *code, size_t code_len)
{
    wxs__buf *url = &w->url;
    int rc = w->url_prefix_len > 0 ? 0 : build_url_prefix(w);
    if (rc < 0)
        return rc;
    rc = wxs__wechat_url_add_code(url, code, code_len);
    if (rc == 0) {
        CURLcode cc = curl_easy_setopt(e, CURLOPT_URL, url->data);
        if (cc != CURLE_OK)
            rc = cc == CURLE_OUT_OF_MEMORY ? WXS_ENOMEM : WXS_ECONFIG;
    }
    explicit_bzero(url->data + w->url_prefix_len, url->len - w->url_prefix_len);
    url->len = w->url_prefix_len;
    return rc;
}

static long long positive_or(long long v, long long dflt)
{
    return v > 0 ? v : dflt;
}

/* CURLOPT_WRITEFUNCTION: collect the body up to the cap; returning short aborts the transfer. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    exchange *ex = userdata;
    size_t n = size * nmemb;
    int rc = wxs__buf_add(&ex->body, ptr, n);
    if (rc < 0) {
        ex->body_error = rc;
        return 0;
    }
    return n;
}

/* A new exchange whose easy handle has the options that never change; NULL when out of
 * memory. */
static exchange *exchange_new(wechat_client *w)
{
    exchange *ex = wxs__calloc(1, sizeof *ex);
    if (ex == NULL)
        return NULL;
    wxs__buf_init(&ex->body, 0);
    CURL *e = ex->easy = curl_easy_init();
    if (e == NULL) {
        exchange_destroy(ex);
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)ex);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, ex);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, w);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w);
    CURLcode protocols = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode agent = curl_easy_setopt(e, CURLOPT_USERAGENT, "wxsession/" WXS_VERSION);
    if (protocols == CURLE_OUT_OF_MEMORY || agent == CURLE_OUT_OF_MEMORY) {
        exchange_destroy(ex);
        return NULL;
    }
    return ex;
}

/* A spare exchange, or a new one; NULL when out of memory. */
static exchange *exchange_take(wechat_client *w)
{
    exchange *ex = w->spare;
    if (ex == NULL)
        return exchange_new(w);
    w->spare = ex->next;
    w->spare_count--;
    ex->next = NULL;
    return ex;
}

/* Sets the options read from the config at each transfer (timeouts, reply cap) and empties
 * the reply. */
static void exchange_options(wechat_client *w, exchange *ex)
{
    const wxs_config *cfg = w->cfg;
    long long cap = positive_or(cfg->wechat_max_reply_bytes, WECHAT_DEFAULT_REPLY_BYTES);
    CURL *e = ex->easy;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)positive_or(cfg->wechat_timeout_ms, WECHAT_DEFAULT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)positive_or(cfg->wechat_connect_timeout_ms, WECHAT_DEFAULT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
    ex->body.max = (size_t)cap; /* the buffer is empty; a spare keeps its memory */
    ex->body_error = 0;
}

/* Readies a spare (or new) exchange for one GET of code: the URL and the options. Returns 0,
 * WXS_ENOMEM, WXS_ETOOBIG or WXS_ECONFIG; on failure the exchange is back among the spares. */
static int exchange_start(wechat_client *w, const char *code, size_t code_len, exchange **out)
{
    exchange *ex = exchange_take(w);
    if (ex == NULL)
        return WXS_ENOMEM;
    CURL *e = ex->easy;
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* a spare may have POSTed a call */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    int rc = set_url(w, e, code, code_len);
    if (rc < 0) {
        exchange_put(w, ex);
        return rc;
    }
    exchange_options(w, ex);
    *out = ex;
    return 0;
}

/* Starts one exchange. Returns 0 (cb will run once, later, on the loop), WXS_EINVAL (empty
 * code or NULL argument), WXS_ETOOBIG (code over 1024 bytes), WXS_ECANCELED (client closing),
 * WXS_ENOMEM or WXS_ECONFIG (libcurl refused the URL). Never calls cb when it fails. */
static int client_exchange(wxs__wechat *iface, const char *code, size_t code_len,
                           wxs__exchange_cb cb, void *arg)
{
    wechat_client *w = (wechat_client *)iface;
    exchange *ex = NULL;
    if (w == NULL || code == NULL || code_len == 0 || cb == NULL)
        return WXS_EINVAL;
    if (code_len > WECHAT_MAX_CODE_BYTES)
        return WXS_ETOOBIG;
    if (w->closing)
        return WXS_ECANCELED;
    int rc = exchange_start(w, code, code_len, &ex);
    if (rc < 0)
        return rc;
    if (curl_multi_add_handle(w->multi, ex->easy) != CURLM_OK) {
        exchange_put(w, ex);
        return WXS_ENOMEM;
    }
    ex->cb = cb;
    ex->arg = arg;
    exchange_link(w, ex);
    return 0;
}

/* Starts one server API call (wechat.h). Returns 0, WXS_EINVAL, WXS_ETOOBIG (path or body over
 * their caps), WXS_ECANCELED (client closing), WXS_ENOMEM or WXS_ECONFIG. */
static int client_call(wxs__wechat *iface, const char *name, const char *path, const char *body,
                       size_t body_len, wxs__call_cb cb, void *arg)
{
    wechat_client *w = (wechat_client *)iface;
    wxs__buf url;
    exchange *ex = NULL;
    int rc = 0;
    if (w == NULL || name == NULL || path == NULL || path[0] != '/' || cb == NULL)
        return WXS_EINVAL;
    if (body != NULL && body_len > WECHAT_MAX_BODY_BYTES)
        return WXS_ETOOBIG;
    if (w->closing)
        return WXS_ECANCELED;
    wxs__buf_init(&url, WECHAT_MAX_URL_BYTES);
    rc = wxs__buf_adds(&url, w->base);
    if (rc == 0)
        rc = wxs__buf_adds(&url, path);
    if (rc < 0)
        goto out;
    ex = exchange_take(w);
    if (ex == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    CURL *e = ex->easy;
    CURLcode cc = curl_easy_setopt(e, CURLOPT_URL, url.data);
    if (cc == CURLE_OK && body != NULL) {
        wxs__buf_init(&ex->post, body_len);
        rc = wxs__buf_add(&ex->post, body, body_len);
        if (rc < 0)
            goto out;
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, ex->post.data != NULL ? ex->post.data : "");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->json_header);
    } else if (cc == CURLE_OK) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    }
    if (cc != CURLE_OK) {
        rc = cc == CURLE_OUT_OF_MEMORY ? WXS_ENOMEM : WXS_ECONFIG;
        goto out;
    }
    exchange_options(w, ex);
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        rc = WXS_ENOMEM;
        goto out;
    }
    ex->call_cb = cb;
    ex->name = name;
    ex->arg = arg;
    exchange_link(w, ex);
    ex = NULL;
out:
    if (ex != NULL)
        exchange_put(w, ex);
    if (url.data != NULL)
        explicit_bzero(url.data, url.len); /* it may hold the access_token */
    wxs__buf_free(&url);
    return rc;
}
