/* store_redis.c: the Redis session store: one async hiredis connection per loop, with AUTH and
 * SELECT only when configured, reconnection with backoff and a command timeout; with
 * redis.sentinels, the primary found through Sentinel and checked with ROLE, and session writes
 * acknowledged only once WAIT says enough replicas have them. */
#include "defer.h"
#include "list.h"
#include "redis_login.h"
#include "redis_op.h"
#include "redis_resp.h"
#include "redis_sentinel.h"
#include "redis_token.h"
#include "redis_uv.h"
#include "store.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

/* Notes on hiredis 0.14.1 (Debian 12), which this file is written against:
 *  - it has no async command timeout: a repeating uv_timer checks the age of the oldest command
 *    awaiting its reply (Redis replies in order) and drops the connection once it is older than
 *    cfg->redis_timeout_ms; a connect that does not complete in that time is dropped the same way;
 *  - redisAsyncConnect() resolves a host name with a blocking getaddrinfo(): configure an address
 *    (the default 127.0.0.1) when reconnect latency on the loop matters;
 *  - on a disconnect hiredis calls every pending reply callback with a NULL reply; those ops end
 *    with WXS_ESTORE (WXS_ECANCELED once close() was called).
 * A command that timed out may still be applied by the server (a stopped Redis runs it when it
 * resumes): WXS_ESTORE means the outcome is unknown, not that nothing happened.
 *
 * While the connection is down (or AUTH/SELECT have not yet succeeded) every op fails fast: it
 * returns 0 and its callback gets WXS_ESTORE on the loop's next pass (lib/defer.h), never before
 * the op returns. A reconnect is attempted after 50 ms, doubling up to 250 ms between attempts.
 *
 * With Sentinel (redis.sentinels set), each (re)connect first asks the Sentinels for the
 * primary's address (lib/redis_sentinel.h), and the handshake ends with ROLE, which must say
 * "master" before the connection is ready. A READONLY or MASTERDOWN reply, a failed ROLE check, a
 * lost connection or a +switch-master naming another address drop the connection and find the
 * primary again; the commands in flight on it end WXS_ESTORE (outcome unknown: never
 * acknowledged). Without redis.sentinels none of this runs.
 *
 * WAIT (redis.waitReplicas > 0; the default with Sentinel is 1): once the login write, a
 * set_ex or a token session's write (token_put, token_touch) has succeeded on the primary, WAIT <n>
 * <redis.waitTimeoutMs> follows on the same connection; the op succeeds only when WAIT reports at
 * least n replicas, else it ends WXS_ESTORE (the write may exist on the primary alone and be lost
 * by a failover: the client is not told it succeeded). WAIT is sent after the write's reply rather
 * than pipelined with it: one more round trip, but a write the primary refuses (NOREPLICAS, with
 * min-replicas-to-write) fails at once instead of blocking the connection for the WAIT's timeout.
 * The exchange claim (set_nx_ex) and del are not waited for: a lost claim costs at most a second
 * exchange of the code, which WeChat refuses (40163), never a wrong session; a logout (token_del,
 * token_del_user) is not waited for either, as del; nor is del_eq: a lease release it loses just
 * waits out the lease, an access_token drop it loses is made again by the next call the stale
 * token fails. Redis blocks the connection during WAIT, so commands pipelined behind one wait
 * with it: their deadline counts from the WAIT's. */

#define RECONNECT_MIN_MS 50
#define RECONNECT_MAX_MS 250 /* bounds recovery after Redis returns */
#define DEFAULT_TIMEOUT_MS 1000

/* The key ops first, as lib/redis_op.h numbers them. */
enum cmd_kind {
    CMD_GET = WXS__REDIS_GET,
    CMD_SET = WXS__REDIS_SET,
    CMD_SET_NX = WXS__REDIS_SET_NX,
    CMD_DEL = WXS__REDIS_DEL,
    CMD_DEL_EQ = WXS__REDIS_DEL_EQ,
    CMD_AUTH,
    CMD_SELECT,
    CMD_ROLE,
    CMD_WAIT,
    CMD_LOGIN,
    /* the token ops, as lib/redis_token.h numbers them from CMD_TOKEN */
    CMD_TOKEN_PUT,
    CMD_TOKEN_TOUCH,
    CMD_TOKEN_DEL,
    CMD_TOKEN_DEL_USER
};

#define CMD_TOKEN CMD_TOKEN_PUT
#define TOKEN_OP(kind) ((wxs__redis_token_op)((kind)-CMD_TOKEN))

static const char *const cmd_name[] = {[CMD_GET] = "GET",
                                       [CMD_SET] = "SET",
                                       [CMD_SET_NX] = "SET NX",
                                       [CMD_DEL] = "DEL",
                                       [CMD_DEL_EQ] = "compare-then-delete",
                                       [CMD_AUTH] = "AUTH",
                                       [CMD_SELECT] = "SELECT",
                                       [CMD_ROLE] = "ROLE",
                                       [CMD_WAIT] = "WAIT",
                                       [CMD_LOGIN] = "login",
                                       [CMD_TOKEN_PUT] = "token put",
                                       [CMD_TOKEN_TOUCH] = "token touch",
                                       [CMD_TOKEN_DEL] = "token del",
                                       [CMD_TOKEN_DEL_USER] = "token del user"};

typedef struct redis_store redis_store;

/* A command awaiting its reply, in the store's FIFO (pending, or canceled once closing) by link. A
 * login, a del_eq or a token op keeps copies of its arguments in bytes[] so that it can be sent
 * again (with EVAL after a NOSCRIPT reply). A write confirmed by WAIT is ended by the WAIT's reply:
 * the write's own reply only sets wait_status. */
typedef struct redis_cmd {
    wxs__list link;
    redis_store *st;
    enum cmd_kind kind;
    uint64_t deadline_ms;       /* monotonic time by which its reply must have come */
    int handshake;              /* AUTH, SELECT, ROLE of a new connection: no caller */
    int need_wait;              /* a write to be confirmed by WAIT */
    int wait_status;            /* the write's own status, awaiting its WAIT's reply */
    struct redis_cmd *wait_for; /* CMD_WAIT: the write it confirms */
    wxs__store_get_cb get_cb;
    wxs__store_done_cb done_cb;
    void *arg;
    wxs__deferred failed; /* an op that could not be sent: answered WXS_ESTORE through defer */
    wxs__login login;     /* login only: its arguments, copied into bytes[] */
    const char *code_json;
    size_t code_json_len;
    wxs__token_put token; /* token ops only: their arguments, copied into bytes[] */
    const char *eq_key;   /* del_eq only: its key and value, copied into bytes[] */
    size_t eq_key_len;
    const char *eq_val;
    size_t eq_val_len;
    char bytes[];
} redis_cmd;

struct redis_store {
    wxs__store base;
    wxs__log_limit fail_log; /* the failed commands' warnings: one line a second */
    uv_loop_t *loop;
    char *host; /* with Sentinel: the primary found last */
    int port;
    wxs__sentinel *sentinel; /* NULL without redis.sentinels */
    char *master_name;
    int discovering;         /* asking the Sentinels for the primary */
    int direct;              /* connect to host:port without asking: a Sentinel just named it */
    long long wait_replicas; /* WAIT after session writes when > 0 */
    long long wait_timeout_ms;
    char *password; /* never logged */
    long long db;
    char *prefix;
    size_t prefix_len;
    uint64_t timeout_ms;
    char script_sha[41];
    char del_eq_sha[41];
    char token_sha[WXS__REDIS_TOKEN_SCRIPTS][41];
    wxs__buf out;          /* the command being encoded */
    redisAsyncContext *ac; /* NULL while disconnected */
    int connected;         /* the TCP connect completed */
    int handshake_left;    /* AUTH / SELECT replies still awaited */
    int ready;             /* connected and handshake done: ops are sent */
    int down_logged;       /* a connection failure was logged since the last success */
    int handshake_logged;  /* an AUTH / SELECT failure was logged since the last success */
    uint64_t connect_started_ms;
    unsigned backoff_ms;
    wxs__list pending;  /* written, awaiting a reply, oldest first */
    wxs__list canceled; /* ended by close(); their callbacks run once the handles closed */
    wxs__defer defer;   /* answers of ops that failed fast */
    uv_timer_t tick_timer;
    uv_timer_t reconnect_timer;
    int handles_open;
    int closing;
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* ------------------------------------------------------------ command lists */

/* The command whose link is l. */
static redis_cmd *cmd_of(wxs__list *l)
{
    return wxs__list_entry(l, redis_cmd, link);
}

static redis_cmd *cmd_new(redis_store *st, enum cmd_kind kind, size_t extra)
{
    redis_cmd *c = wxs__calloc(1, sizeof *c + extra);
    if (c == NULL)
        return NULL;
    wxs__list_init(&c->link);
    c->st = st;
    c->kind = kind;
    return c;
}

/* Hand the status (and for GET the value) to the op's caller, then free the command.
 * Handshake commands have no callback; a WAIT hands the status to the write it confirms. */
static void cmd_finish(redis_cmd *c, int status, const char *val, size_t len)
{
    if (c->kind == CMD_WAIT) {
        redis_cmd *write = c->wait_for;
        wxs__free(c);
        cmd_finish(write, status, NULL, 0);
        return;
    }
    if (c->get_cb != NULL)
        c->get_cb(c->arg, status, val, len);
    else if (c->done_cb != NULL)
        c->done_cb(c->arg, status);
    wxs__free(c);
}

/* First word of a Redis error reply ("WRONGTYPE", "NOSCRIPT", "ERR"): safe to log, unlike the
 * rest of the message, which may quote a script line or an argument. */
static void error_code(const redisReply *r, char out[32])
{
    size_t n = 0;
    while (n < 31 && n < r->len && r->str[n] != ' ')
        n++;
    memcpy(out, r->str, n);
    out[n] = '\0';
}

static int is_error(const redisReply *r, const char *code)
{
    size_t n = strlen(code);
    return r->type == REDIS_REPLY_ERROR && r->len >= n && memcmp(r->str, code, n) == 0;
}

/* ------------------------------------------------------------ connection */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void connect_now(redis_store *st);

static void on_reconnect_timer(uv_timer_t *t)
{
    redis_store *st = t->data;
    if (!st->closing && st->ac == NULL && !st->discovering)
        connect_now(st);
}

static void schedule_reconnect(redis_store *st)
{
    if (st->closing || uv_is_active((uv_handle_t *)&st->reconnect_timer))
        return;
    uv_timer_start(&st->reconnect_timer, on_reconnect_timer, st->backoff_ms, 0);
    st->backoff_ms *= 2;
    if (st->backoff_ms > RECONNECT_MAX_MS)
        st->backoff_ms = RECONNECT_MAX_MS;
}

/* Tear the current connection down and schedule a reconnect. hiredis ends every pending command
 * with a NULL reply (WXS_ESTORE). Safe inside a hiredis callback: hiredis then frees the
 * context when the callback returns. */
static void drop_connection(redis_store *st)
{
    redisAsyncContext *ac = st->ac;
    st->ac = NULL;
    st->connected = 0;
    st->ready = 0;
    if (ac != NULL)
        redisAsyncFree(ac);
    schedule_reconnect(st);
}

static void mark_ready(redis_store *st)
{
    st->ready = 1;
    st->backoff_ms = RECONNECT_MIN_MS;
    st->down_logged = 0;
    st->handshake_logged = 0;
    if (st->sentinel != NULL)
        wxs__info("redis: connected to %s:%d, the primary of \"%s\" (ROLE master)", st->host,
                  st->port, st->master_name);
    else
        wxs__info("redis: connected to %s:%d", st->host, st->port);
}

/* Log a connection problem at warn the first time, at debug while it persists. */
static void log_down(redis_store *st, const char *what, const char *detail)
{
    wxs_log_level level = st->down_logged ? WXS_LOG_DEBUG : WXS_LOG_WARN;
    st->down_logged = 1;
    wxs__log(level, "redis: %s:%d: %s%s%s", st->host, st->port, what, detail ? ": " : "",
             detail ? detail : "");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_store *st = ac->data;
    if (st->ac != ac)
        return;
    if (status != REDIS_OK) {
        log_down(st, "cannot connect", ac->errstr);
        st->ac = NULL; /* hiredis frees the context after this callback */
        schedule_reconnect(st);
        return;
    }
    st->connected = 1;
    if (st->handshake_left == 0)
        mark_ready(st);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_store *st = ac->data;
    if (st->ac != ac)
        return; /* dropped by us, or closing */
    st->ac = NULL;
    st->connected = 0;
    st->ready = 0;
    log_down(st, "connection lost", status == REDIS_OK ? NULL : ac->errstr);
    schedule_reconnect(st);
}

#define RKEY(st, k, n) ((wxs__resp_arg){(st)->prefix, (st)->prefix_len, (k), (n)})
#define RESP_KEEP_BYTES (64 * 1024) /* a bigger encoding buffer is released after use */

/* Write a command on the current connection and queue c for its reply. 0, WXS_ENOMEM or
 * WXS_ESTORE (not connected, or hiredis refused: c stays with the caller). */
static int send_cmd(redis_store *st, redis_cmd *c, int argc, const wxs__resp_arg *argv)
{
    wxs__buf *b = &st->out;
    if (st->ac == NULL)
        return WXS_ESTORE;
    wxs__buf_reset(b);
    int rc = wxs__resp_encode(b, argc, argv);
    if (rc == 0 && redisAsyncFormattedCommand(st->ac, on_reply, c, b->data, b->len) != REDIS_OK)
        rc = WXS_ESTORE;
    if (c->kind == CMD_AUTH && b->data != NULL)
        memset(b->data, 0, b->cap); /* no copy of the password left behind here */
    if (b->cap > RESP_KEEP_BYTES)
        wxs__buf_free(b);
    if (rc < 0)
        return rc == WXS_ENOMEM ? rc : WXS_ESTORE;
    /* a command queued behind another (a blocking WAIT) is not late before that one is */
    uint64_t deadline = mono_ms() + st->timeout_ms;
    if (c->kind == CMD_WAIT)
        deadline += (uint64_t)st->wait_timeout_ms;
    if (!wxs__list_empty(&st->pending) && cmd_of(st->pending.prev)->deadline_ms > deadline)
        deadline = cmd_of(st->pending.prev)->deadline_ms;
    c->deadline_ms = deadline;
    wxs__list_push(&st->pending, &c->link);
    return 0;
}

/* Send ROLE: in the handshake (the connection is ready only once it says master) or on a
 * ready connection, to check it still is. 0 or WXS_ESTORE. */
static int send_role(redis_store *st, int handshake)
{
    redis_cmd *c = cmd_new(st, CMD_ROLE, 0);
    wxs__resp_arg argv[] = {RSTR("ROLE")};
    if (c == NULL)
        return WXS_ESTORE;
    c->handshake = handshake;
    if (send_cmd(st, c, 1, argv) < 0) {
        wxs__free(c);
        return WXS_ESTORE;
    }
    return 0;
}

/* AUTH only with a password, SELECT only for a non-zero db, as the first commands; with
 * Sentinel, ROLE last. */
static int send_handshake(redis_store *st)
{
    redis_cmd *c;
    if (st->password[0] != '\0') {
        c = cmd_new(st, CMD_AUTH, 0);
        wxs__resp_arg argv[] = {RSTR("AUTH"), RSTR(st->password)};
        if (c == NULL || send_cmd(st, c, 2, argv) < 0) {
            wxs__free(c);
            return WXS_ESTORE;
        }
        c->handshake = 1;
        st->handshake_left++;
    }
    if (st->db != 0) {
        c = cmd_new(st, CMD_SELECT, 0);
        char db[24];
        wxs__resp_arg argv[] = {RSTR("SELECT"),
                                RBYTES(db, wxs__resp_u64(db, (unsigned long long)st->db))};
        if (c == NULL || send_cmd(st, c, 2, argv) < 0) {
            wxs__free(c);
            return WXS_ESTORE;
        }
        c->handshake = 1;
        st->handshake_left++;
    }
    if (st->sentinel != NULL) {
        if (send_role(st, 1) < 0)
            return WXS_ESTORE;
        st->handshake_left++;
    }
    return 0;
}

/* Start a connection attempt to st->host:st->port; on failure a retry is scheduled. */
static void connect_to_host(redis_store *st)
{
    redisAsyncContext *ac = redisAsyncConnect(st->host, st->port);
    if (ac == NULL || ac->err) {
        log_down(st, "cannot connect", ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_reconnect(st);
        return;
    }
    ac->data = st;
    if (wxs__redis_uv_attach(ac, st->loop) != REDIS_OK) {
        log_down(st, "cannot attach to the loop", NULL);
        redisAsyncFree(ac);
        schedule_reconnect(st);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    st->ac = ac;
    st->connected = 0;
    st->ready = 0;
    st->handshake_left = 0;
    st->connect_started_ms = mono_ms();
    if (send_handshake(st) < 0)
        drop_connection(st);
}

/* Make addr the address to connect to (logged when it changes). 0 or WXS_ENOMEM. */
static int set_primary(redis_store *st, const wxs__redis_addr *addr, const char *who)
{
    if (strcmp(addr->host, st->host) == 0 && addr->port == st->port)
        return 0;
    char *host = wxs__strdup(addr->host);
    if (host == NULL)
        return WXS_ENOMEM;
    wxs__info("redis: %s %s:%d as the primary of \"%s\"", who, host, addr->port, st->master_name);
    wxs__free(st->host);
    st->host = host;
    st->port = addr->port;
    return 0;
}

/* The Sentinels answered. Without a connection: connect to the primary they name, or retry
 * after the backoff. With one (the check after a WAIT shortfall): drop it when they name
 * another address, and connect to that one. */
static void on_primary_found(void *arg, int status, const wxs__redis_addr *primary)
{
    redis_store *st = arg;
    st->discovering = 0;
    if (st->closing)
        return;
    if (st->ac != NULL) {
        if (status == 0 && (strcmp(primary->host, st->host) != 0 || primary->port != st->port)) {
            drop_connection(st);
            st->direct = set_primary(st, primary, "Sentinel names") == 0;
        }
        return;
    }
    if (status < 0 && !st->direct) {
        log_down(st, "no Sentinel named the primary", st->master_name);
        schedule_reconnect(st);
        return;
    }
    if (!st->direct && set_primary(st, primary, "Sentinel names") < 0) {
        schedule_reconnect(st);
        return;
    }
    st->direct = 0;
    connect_to_host(st);
}

/* Start a connection attempt: with Sentinel, find the primary first, unless a Sentinel has
 * just announced it (ROLE checks it all the same). */
static void connect_now(redis_store *st)
{
    if (st->sentinel == NULL || st->direct) {
        st->direct = 0;
        connect_to_host(st);
        return;
    }
    if (st->discovering)
        return;
    st->discovering = 1;
    if (wxs__sentinel_discover(st->sentinel, on_primary_found, st) < 0) {
        st->discovering = 0;
        schedule_reconnect(st);
    }
}

/* Ask the Sentinels whether the connection is still to the primary: after a WAIT shortfall,
 * which is also what an old primary cut off from its replicas looks like. */
static void check_primary(redis_store *st)
{
    if (st->sentinel == NULL || st->discovering || st->closing)
        return;
    st->discovering = 1;
    if (wxs__sentinel_discover(st->sentinel, on_primary_found, st) < 0)
        st->discovering = 0;
}

/* A Sentinel announced a switch (primary) or may have missed one (NULL). A connection to
 * another address is dropped at once (its commands end WXS_ESTORE) and the next one goes to the
 * announced address; on a resubscription, the current connection is checked with ROLE. */
static void on_switch(void *arg, const wxs__redis_addr *primary)
{
    redis_store *st = arg;
    if (st->closing)
        return;
    if (primary == NULL) {
        if (st->ready && send_role(st, 0) < 0)
            drop_connection(st);
        return;
    }
    if (strcmp(primary->host, st->host) == 0 && primary->port == st->port)
        return;
    wxs__info("redis: Sentinel switched the primary of \"%s\" from %s:%d to %s:%d", st->master_name,
              st->host, st->port, primary->host, primary->port);
    st->backoff_ms = RECONNECT_MIN_MS;
    if (st->ac != NULL) {
        uv_timer_stop(&st->reconnect_timer);
        drop_connection(st);
    }
    st->direct = set_primary(st, primary, "Sentinel announced") == 0;
}

/* Repeating timer: drop a connection whose connect failed, or whose connect or oldest command
 * is older than the timeout (a hung or stopped Redis); the reconnect follows. */
static void on_tick(uv_timer_t *t)
{
    redis_store *st = t->data;
    uint64_t now = mono_ms();
    if (st->ac == NULL)
        return;
    if (!st->connected && wxs__redis_uv_connect_failed(st->ac)) {
        log_down(st, "cannot connect", NULL);
        drop_connection(st);
    } else if (!st->connected && now - st->connect_started_ms >= st->timeout_ms) {
        log_down(st, "connect timed out", NULL);
        drop_connection(st);
    } else if (!wxs__list_empty(&st->pending) && now >= cmd_of(st->pending.next)->deadline_ms) {
        log_down(st, "no reply within the timeout, reconnecting", NULL);
        drop_connection(st);
    }
}

/* ------------------------------------------------------------ replies */

/* ROLE's reply (Sentinel only): a node that is not the primary is dropped, and the reconnect
 * asks the Sentinels again. 0 when it says master, -1 when the connection was dropped. */
static int check_role(redis_store *st, const redisReply *r)
{
    int master = wxs__redis_role_is_master(r);
    if (master == 1)
        return 0;
    const char *role = "unreadable";
    if (master == 0)
        role = r->element[0]->str;
    else if (r->type == REDIS_REPLY_ERROR)
        role = "refused";
    wxs__warn("redis: %s:%d is not the primary of \"%s\" (ROLE: %.16s), finding it again", st->host,
              st->port, st->master_name, role);
    drop_connection(st);
    return -1;
}

static void on_handshake_reply(redis_store *st, redisAsyncContext *ac, redis_cmd *c,
                               const redisReply *r)
{
    enum cmd_kind kind = c->kind;
    int handshake = c->handshake;
    wxs__free(c);
    if (ac != st->ac)
        return;
    if (kind == CMD_ROLE) {
        if (check_role(st, r) < 0 || !handshake)
            return;
    } else if (r->type == REDIS_REPLY_ERROR) {
        char code[32];
        error_code(r, code);
        wxs_log_level level = st->handshake_logged ? WXS_LOG_DEBUG : WXS_LOG_ERROR;
        if (kind == CMD_AUTH)
            wxs__log(level, "redis: AUTH failed (%s)", code);
        else
            wxs__log(level, "redis: SELECT %lld failed (%s)", st->db, code);
        st->handshake_logged = 1;
        drop_connection(st);
        return;
    }
    st->handshake_left--;
    if (st->handshake_left == 0 && st->connected)
        mark_ready(st);
}

/* The op's status from its reply; error replies are logged by their error code only. */
static int reply_status(const redis_cmd *c, const redisReply *r)
{
    char code[32];
    if (r->type == REDIS_REPLY_ERROR) {
        unsigned held;
        error_code(r, code);
        if (wxs__log_limit_take(&c->st->fail_log, &held))
            wxs__warn("redis: %s failed (%s); %u more failed commands in the last second",
                      cmd_name[c->kind], code, held);
        return WXS_ESTORE;
    }
    int status = WXS_ESTORE;
    if (c->kind == CMD_LOGIN)
        return 0;
    if (c->kind == CMD_WAIT && r->type == REDIS_REPLY_INTEGER)
        return r->integer > INT32_MAX ? INT32_MAX : (int)r->integer;
    if (c->kind <= CMD_DEL_EQ)
        status = wxs__redis_op_status((wxs__redis_op)c->kind, r->type, r->integer);
    else if (c->kind >= CMD_TOKEN)
        status = wxs__redis_token_status(TOKEN_OP(c->kind), r->type, r->integer);
    if (status != WXS_ESTORE)
        return status;
    wxs__warn("redis: %s: unexpected reply type %d", cmd_name[c->kind], r->type);
    return WXS_ESTORE;
}

static int send_login(redis_store *st, redis_cmd *c, int with_body);
static int send_del_eq(redis_store *st, redis_cmd *c, int with_body);
static int send_token(redis_store *st, redis_cmd *c, int with_body);
static int send_wait(redis_store *st, redis_cmd *write);

/* WAIT's reply: the write it confirms succeeds only when enough replicas have it. */
static int wait_status(redis_store *st, redis_cmd *w, const redisReply *r)
{
    int status = w->wait_for->wait_status;
    int replicas = reply_status(w, r);
    if (status < 0 || replicas < 0)
        return status < 0 ? status : replicas;
    if (replicas >= st->wait_replicas)
        return status;
    check_primary(st);
    unsigned held;
    if (wxs__log_limit_take(&st->fail_log, &held))
        wxs__warn("redis: %s: %d of %lld replicas acknowledged it within %lld ms; failed to the "
                  "client (outcome unknown); %u more failed commands in the last second",
                  cmd_name[w->wait_for->kind], replicas, st->wait_replicas, st->wait_timeout_ms,
                  held);
    return WXS_ESTORE;
}

/* With Sentinel, READONLY (a demoted primary) and MASTERDOWN (a replica cut off from it) mean
 * this is not the primary any more: drop the connection and find the primary again. */
static void check_demoted(redis_store *st, redisAsyncContext *ac, const redisReply *r)
{
    if (st->sentinel == NULL || ac != st->ac || r->type != REDIS_REPLY_ERROR)
        return;
    if (is_error(r, "READONLY") || is_error(r, "MASTERDOWN")) {
        wxs__warn("redis: %s:%d answers as a replica, finding the primary again", st->host,
                  st->port);
        drop_connection(st);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    redis_cmd *c = privdata;
    redis_store *st = c->st;
    const redisReply *r = reply;
    wxs__list_remove(&c->link); /* from st->pending */
    if (r == NULL) {
        if (ac == st->ac)
            st->ready = 0; /* hiredis is tearing this connection down */
        if (st->closing)
            wxs__list_push(&st->canceled, &c->link);
        else
            cmd_finish(c, WXS_ESTORE, NULL, 0);
        return;
    }
    if (c->handshake || c->kind == CMD_ROLE) {
        on_handshake_reply(st, ac, c, r);
        return;
    }
    if (c->kind == CMD_LOGIN && is_error(r, "NOSCRIPT") && send_login(st, c, 1) == 0)
        return;
    if (c->kind == CMD_DEL_EQ && is_error(r, "NOSCRIPT") && send_del_eq(st, c, 1) == 0)
        return;
    if (c->kind >= CMD_TOKEN && is_error(r, "NOSCRIPT") && send_token(st, c, 1) == 0)
        return;
    check_demoted(st, ac, r);
    if (c->kind == CMD_WAIT) {
        cmd_finish(c, wait_status(st, c, r), NULL, 0);
        return;
    }
    int status = reply_status(c, r);
    if (status >= 0 && c->need_wait) {
        c->wait_status = status;
        if (send_wait(st, c) < 0)
            cmd_finish(c, WXS_ESTORE, NULL, 0); /* the connection went: outcome unknown */
    } else if (status == 0 && c->kind == CMD_GET)
        cmd_finish(c, 0, r->str, r->len);
    else
        cmd_finish(c, status, NULL, 0);
}

/* Send WAIT once write has succeeded on the primary; its reply ends write. 0, or WXS_ENOMEM /
 * WXS_ESTORE (nothing sent: write stays with the caller). */
static int send_wait(redis_store *st, redis_cmd *write)
{
    char n[24], ms[24];
    wxs__resp_arg argv[] = {RSTR("WAIT"),
                            RBYTES(n, wxs__resp_u64(n, (unsigned long long)st->wait_replicas)),
                            RBYTES(ms, wxs__resp_u64(ms, (unsigned long long)st->wait_timeout_ms))};
    redis_cmd *w = cmd_new(st, CMD_WAIT, 0);
    if (w == NULL)
        return WXS_ENOMEM;
    w->wait_for = write;
    if (send_cmd(st, w, 3, argv) < 0) {
        wxs__free(w);
        return WXS_ESTORE;
    }
    return 0;
}

/* ------------------------------------------------------------ ops */

/* Common entry checks; then a command for the op, or NULL with *rc set. */
static redis_cmd *op_begin(redis_store *st, enum cmd_kind kind, size_t extra, int *rc)
{
    if (*rc == 0 && st->closing)
        *rc = WXS_ECANCELED;
    if (*rc < 0)
        return NULL;
    redis_cmd *c = cmd_new(st, kind, extra);
    if (c == NULL)
        *rc = WXS_ENOMEM;
    return c;
}

static void failed_fast(wxs__deferred *d)
{
    cmd_finish(WXS__CONTAINER_OF(d, redis_cmd, failed), WXS_ESTORE, NULL, 0);
}

/* The op was accepted: when the command could not be written (not ready, or hiredis refused),
 * it ends with WXS_ESTORE on the loop's next pass. */
static int op_end(redis_store *st, redis_cmd *c, int sent)
{
    if (sent < 0)
        wxs__defer_call(&st->defer, &c->failed, failed_fast);
    return 0;
}

/* GET or DEL of one key: the callback is get_cb (GET) or done_cb (DEL). */
static int key_cmd(wxs__store *base, enum cmd_kind kind, const char *key, size_t klen,
                   wxs__store_get_cb get_cb, wxs__store_done_cb done_cb, void *arg)
{
    redis_store *st = (redis_store *)base;
    int rc = get_cb == NULL && done_cb == NULL ? WXS_EINVAL : wxs__store_check_key(key, klen);
    redis_cmd *c = op_begin(st, kind, 0, &rc);
    if (c == NULL)
        return rc;
    c->get_cb = get_cb;
    c->done_cb = done_cb;
    c->arg = arg;
    wxs__resp_arg argv[] = {kind == CMD_GET ? RSTR("GET") : RSTR("DEL"), RKEY(st, key, klen)};
    int sent = st->ready ? send_cmd(st, c, 2, argv) : WXS_ESTORE;
    return op_end(st, c, sent);
}

static int rd_get(wxs__store *base, const char *key, size_t klen, wxs__store_get_cb cb, void *arg)
{
    return key_cmd(base, CMD_GET, key, klen, cb, NULL, arg);
}

static int set_common(wxs__store *base, enum cmd_kind kind, const char *key, size_t klen,
                      const char *val, size_t vlen, long long ttl_s, wxs__store_done_cb cb,
                      void *arg)
{
    redis_store *st = (redis_store *)base;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_key(key, klen);
    if (rc == 0)
        rc = wxs__store_check_value(val, vlen, ttl_s);
    redis_cmd *c = op_begin(st, kind, 0, &rc);
    if (c == NULL)
        return rc;
    c->done_cb = cb;
    c->arg = arg;
    char ttl[24];
    wxs__resp_arg argv[] = {
        RSTR("SET"),       RKEY(st, key, klen),
        RBYTES(val, vlen), RSTR("NX"),
        RSTR("EX"),        RBYTES(ttl, wxs__resp_u64(ttl, (unsigned long long)ttl_s))};
    if (kind != CMD_SET_NX)
        argv[3] = argv[4], argv[4] = argv[5];
    int sent = st->ready ? send_cmd(st, c, kind == CMD_SET_NX ? 6 : 5, argv) : WXS_ESTORE;
    c->need_wait = kind == CMD_SET && st->wait_replicas > 0;
    return op_end(st, c, sent);
}

static int rd_set_ex(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return set_common(base, CMD_SET, key, klen, val, vlen, ttl_s, cb, arg);
}

static int rd_set_nx_ex(wxs__store *base, const char *key, size_t klen, const char *val,
                        size_t vlen, long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    return set_common(base, CMD_SET_NX, key, klen, val, vlen, ttl_s, cb, arg);
}

static int rd_del(wxs__store *base, const char *key, size_t klen, wxs__store_done_cb cb, void *arg)
{
    return key_cmd(base, CMD_DEL, key, klen, NULL, cb, arg);
}

/* Send the compare-then-delete script: by its SHA1 (EVALSHA), or with its body (EVAL) after
 * NOSCRIPT. */
static int send_del_eq(redis_store *st, redis_cmd *c, int with_body)
{
    wxs__redis_del_eq_cmd cmd;
    if (!st->ready)
        return WXS_ESTORE;
    wxs__redis_del_eq_cmd_init(&cmd, st->prefix, st->prefix_len, c->eq_key, c->eq_key_len,
                               c->eq_val, c->eq_val_len, st->del_eq_sha, with_body);
    return send_cmd(st, c, cmd.argc, cmd.argv);
}

/* Compare, then delete (store.h): one script, never confirmed by WAIT. */
static int rd_del_eq(wxs__store *base, const char *key, size_t klen, const char *val, size_t vlen,
                     wxs__store_done_cb cb, void *arg)
{
    redis_store *st = (redis_store *)base;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_del_eq(key, klen, val, vlen);
    redis_cmd *c = op_begin(st, CMD_DEL_EQ, rc == 0 ? klen + vlen : 0, &rc);
    if (c == NULL)
        return rc;
    memcpy(c->bytes, key, klen);
    if (vlen > 0)
        memcpy(c->bytes + klen, val, vlen);
    c->eq_key = c->bytes;
    c->eq_key_len = klen;
    c->eq_val = c->bytes + klen;
    c->eq_val_len = vlen;
    c->done_cb = cb;
    c->arg = arg;
    return op_end(st, c, send_del_eq(st, c, 0));
}

/* Send the login script: by its SHA1 (EVALSHA), or with its body (EVAL) after NOSCRIPT. */
static int send_login(redis_store *st, redis_cmd *c, int with_body)
{
    wxs__redis_login_cmd cmd;
    if (!st->ready)
        return WXS_ESTORE;
    wxs__redis_login_cmd_init(&cmd, &c->login, c->code_json, c->code_json_len, st->prefix,
                              st->prefix_len, st->script_sha, with_body);
    return send_cmd(st, c, cmd.argc, cmd.argv);
}

static int rd_login(wxs__store *base, const wxs__login *lw, wxs__store_done_cb cb, void *arg)
{
    redis_store *st = (redis_store *)base;
    redis_cmd *c = NULL;
    wxs__buf json;
    int rc = cb == NULL ? WXS_EINVAL : wxs__store_check_login(lw);
    if (rc < 0)
        return rc;
    wxs__buf_init(&json, 6 * WXS__STORE_MAX_LOGIN_ID + 2);
    rc = wxs__store_code_json(&json, lw->code, lw->code_len);
    if (rc == 0)
        c = op_begin(st, CMD_LOGIN, wxs__redis_login_size(lw, json.len), &rc);
    if (c == NULL)
        goto out;
    c->code_json = wxs__redis_login_copy(&c->login, c->bytes, lw, json.data, json.len);
    c->code_json_len = json.len;
    c->done_cb = cb;
    c->arg = arg;
    c->need_wait = st->wait_replicas > 0;
    rc = op_end(st, c, send_login(st, c, 0));
out:
    wxs__buf_free(&json);
    return rc;
}

/* ------------------------------------------------------------ token ops */

/* Send a token op: its script by SHA1 (EVALSHA), or with its body (EVAL) after NOSCRIPT; touch
 * is a plain SET ... XX. */
static int send_token(redis_store *st, redis_cmd *c, int with_body)
{
    wxs__redis_token_cmd cmd;
    wxs__redis_token_op op = TOKEN_OP(c->kind);
    if (!st->ready)
        return WXS_ESTORE;
    wxs__redis_token_cmd_init(&cmd, op, &c->token, st->prefix, st->prefix_len, st->token_sha[op],
                              with_body);
    return send_cmd(st, c, cmd.argc, cmd.argv);
}

/* A token op whose arguments (args, checked by the caller: rc) are copied into the command;
 * session writes (put, touch) are confirmed by WAIT when configured. */
static int token_op(redis_store *st, enum cmd_kind kind, const wxs__token_put *args,
                    wxs__store_done_cb cb, void *arg, int rc)
{
    if (rc == 0 && cb == NULL)
        rc = WXS_EINVAL;
    redis_cmd *c = op_begin(st, kind, rc == 0 ? wxs__redis_token_size(args) : 0, &rc);
    if (c == NULL)
        return rc;
    wxs__redis_token_copy(&c->token, c->bytes, args);
    c->done_cb = cb;
    c->arg = arg;
    c->need_wait = (kind == CMD_TOKEN_PUT || kind == CMD_TOKEN_TOUCH) && st->wait_replicas > 0;
    return op_end(st, c, send_token(st, c, 0));
}

static int rd_token_put(wxs__store *base, const wxs__token_put *tp, wxs__store_done_cb cb,
                        void *arg)
{
    return token_op((redis_store *)base, CMD_TOKEN_PUT, tp, cb, arg,
                    wxs__store_check_token_put(tp));
}

static int rd_token_touch(wxs__store *base, const char *hash, const char *record, size_t record_len,
                          long long ttl_s, wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {
        .hash = hash, .record = record, .record_len = record_len, .ttl_s = ttl_s};
    int rc = hash == NULL ? WXS_EINVAL : wxs__store_check_token(hash, NULL, 0);
    if (rc == 0)
        rc = wxs__store_check_value(record, record_len, ttl_s);
    return token_op((redis_store *)base, CMD_TOKEN_TOUCH, &args, cb, arg, rc);
}

static int rd_token_del(wxs__store *base, const char *hash, const char *openid, size_t openid_len,
                        wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {.hash = hash, .openid = openid, .openid_len = openid_len};
    int rc = hash == NULL || openid == NULL ? WXS_EINVAL
                                            : wxs__store_check_token(hash, openid, openid_len);
    return token_op((redis_store *)base, CMD_TOKEN_DEL, &args, cb, arg, rc);
}

static int rd_token_del_user(wxs__store *base, const char *openid, size_t openid_len,
                             wxs__store_done_cb cb, void *arg)
{
    wxs__token_put args = {.openid = openid, .openid_len = openid_len};
    int rc = openid == NULL ? WXS_EINVAL : wxs__store_check_token(NULL, openid, openid_len);
    return token_op((redis_store *)base, CMD_TOKEN_DEL_USER, &args, cb, arg, rc);
}

static int rd_ready(const wxs__store *base)
{
    const redis_store *st = (const redis_store *)base;
    return st != NULL && st->ready && !st->closing;
}

/* ------------------------------------------------------------ open and close */

static void wipe(char *s)
{
    volatile char *p = s;
    while (p != NULL && *p != '\0')
        *p++ = '\0';
}

static void free_store(redis_store *st)
{
    wxs__free(st->host);
    wxs__free(st->master_name);
    wipe(st->password);
    wxs__free(st->password);
    wxs__free(st->prefix);
    wxs__buf_free(&st->out);
    wxs__free(st);
}

/* Both timers and the deferred answers closed: run the callbacks of the commands close() ended,
 * then free. */
static void handle_gone(redis_store *st)
{
    if (--st->handles_open > 0)
        return;
    wxs__list *lists[] = {&st->canceled, &st->pending}, *l;
    for (int i = 0; i < 2; i++)
        while ((l = wxs__list_shift(lists[i])) != NULL)
            cmd_finish(cmd_of(l), WXS_ECANCELED, NULL, 0);
    free_store(st);
}

static void on_handle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void on_defer_closed(void *arg)
{
    handle_gone(arg);
}

static void on_sentinel_closed(void *arg)
{
    handle_gone(arg);
}

/* Start closing: the connection is freed now; commands awaiting replies end with
 * WXS_ECANCELED on a later loop iteration (close() itself calls no callback); the memory is
 * released once the timers have closed and the ops that failed fast were answered. Ops issued
 * after close() return WXS_ECANCELED. */
static void rd_close(wxs__store *base)
{
    redis_store *st = (redis_store *)base;
    if (st == NULL || st->closing)
        return;
    st->closing = 1;
    st->ready = 0;
    redisAsyncContext *ac = st->ac;
    st->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* pending replies arrive as NULL: moved to st->canceled */
    uv_close((uv_handle_t *)&st->tick_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->reconnect_timer, on_handle_closed);
    wxs__defer_close(&st->defer, on_defer_closed, st);
    if (st->sentinel != NULL)
        wxs__sentinel_close(st->sentinel, on_sentinel_closed);
}

/* The redis.sentinels list in cfg, or "" (no Sentinel). */
static const char *sentinel_list(const wxs_config *cfg)
{
    return cfg->redis_sentinels != NULL ? cfg->redis_sentinels : "";
}

static int open_check(const wxs_config *cfg, const char *prefix, char *err, size_t errlen)
{
    const char *why = NULL;
    char list_why[96];
    size_t n_sentinels = 0;
    if (wxs__redis_addr_list_parse(sentinel_list(cfg), NULL, 0, &n_sentinels, list_why,
                                   sizeof list_why) < 0)
        why = "redis.sentinels is not a host:port list";
    else if (n_sentinels > 0 && (cfg->redis_master_name == NULL || !cfg->redis_master_name[0]))
        why = "redis.masterName is required with redis.sentinels";
    else if (cfg->redis_host == NULL || cfg->redis_host[0] == '\0')
        why = "no host configured (redis.host)";
    else if (cfg->redis_port < 1 || cfg->redis_port > 65535)
        why = "redis.port must be 1..65535";
    else if (cfg->redis_db < 0 || cfg->redis_db > 1000000)
        why = "redis.db must be 0 or more";
    else if (strlen(prefix) > WXS__STORE_MAX_PREFIX)
        why = "redis.prefix is longer than 256 bytes";
    if (why != NULL && err != NULL && errlen > 0)
        snprintf(err, errlen, "redis: %s", why);
    return why != NULL ? WXS_ECONFIG : 0;
}

/* Open an instance on loop and start connecting; returns 0 even when Redis is down (the store
 * connects by itself and ops fail with WXS_ESTORE until it is ready). WXS_ECONFIG for a bad
 * host, port, db or prefix, WXS_ENOMEM; a reason is written to err. */
static int rd_open(wxs__store **out, uv_loop_t *loop, const wxs_config *cfg, char *err,
                   size_t errlen)
{
    const char *prefix = cfg->session_prefix != NULL ? cfg->session_prefix : "";
    const char *password = cfg->redis_password != NULL ? cfg->redis_password : "";
    int with_sentinel = sentinel_list(cfg)[0] != '\0';
    *out = NULL;
    if (cfg->redis_cluster != NULL && cfg->redis_cluster[0] != '\0') /* store_redis_cluster.c */
        return wxs__store_redis_cluster_ops.open(out, loop, cfg, err, errlen);
    int rc = open_check(cfg, prefix, err, errlen);
    if (rc < 0)
        return rc;
    redis_store *st = wxs__calloc(1, sizeof *st);
    if (st == NULL)
        return WXS_ENOMEM;
    wxs__list_init(&st->pending);
    wxs__list_init(&st->canceled);
    st->host = wxs__strdup(with_sentinel ? "" : cfg->redis_host);
    st->password = wxs__strdup(password);
    st->prefix = wxs__strdup(prefix);
    st->master_name = wxs__strdup(with_sentinel ? cfg->redis_master_name : "");
    if (st->host == NULL || st->password == NULL || st->prefix == NULL || st->master_name == NULL) {
        free_store(st);
        return WXS_ENOMEM;
    }
    st->base.ops = &wxs__store_redis_ops;
    st->loop = loop;
    st->port = with_sentinel ? 0 : (int)cfg->redis_port;
    st->db = cfg->redis_db;
    /* WAIT: -1 (auto) is 1 with Sentinel, 0 (off) on a single Redis */
    st->wait_replicas = cfg->redis_wait_replicas >= 0 ? cfg->redis_wait_replicas : with_sentinel;
    st->wait_timeout_ms = cfg->redis_wait_timeout_ms > 0 ? cfg->redis_wait_timeout_ms : 500;
    st->prefix_len = strlen(prefix);
    st->timeout_ms =
        cfg->redis_timeout_ms > 0 ? (uint64_t)cfg->redis_timeout_ms : DEFAULT_TIMEOUT_MS;
    st->backoff_ms = RECONNECT_MIN_MS;
    wxs__buf_init(&st->out, 2 * WXS__STORE_MAX_VALUE + 64 * 1024);
    wxs__redis_login_sha(st->script_sha);
    wxs__redis_del_eq_sha(st->del_eq_sha);
    for (int i = 0; i < WXS__REDIS_TOKEN_SCRIPTS; i++)
        wxs__redis_token_sha((wxs__redis_token_op)i, st->token_sha[i]);
    uint64_t tick = st->timeout_ms / 4;
    tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
    uv_timer_init(loop, &st->tick_timer);
    uv_timer_init(loop, &st->reconnect_timer);
    st->tick_timer.data = st;
    st->reconnect_timer.data = st;
    st->handles_open = 3;
    (void)wxs__defer_init(&st->defer, loop); /* cannot fail on a live loop */
    uv_timer_start(&st->tick_timer, on_tick, tick, tick);
    uv_unref((uv_handle_t *)&st->tick_timer);
    if (with_sentinel) {
        wxs__sentinel_options so = {.sentinels = sentinel_list(cfg),
                                    .master_name = cfg->redis_master_name,
                                    .password = cfg->redis_sentinel_password,
                                    .timeout_ms = st->timeout_ms,
                                    .on_switch = on_switch,
                                    .arg = st};
        rc = wxs__sentinel_new(&st->sentinel, loop, &so);
        if (rc < 0) {
            rd_close(&st->base); /* the memory goes once the handles have closed */
            return rc;
        }
        st->handles_open++;
    }
    connect_now(st);
    *out = &st->base;
    return 0;
}

const wxs__store_ops wxs__store_redis_ops = {
    .name = "redis",
    .open = rd_open,
    .close = rd_close,
    .ready = rd_ready,
    .get = rd_get,
    .set_ex = rd_set_ex,
    .set_nx_ex = rd_set_nx_ex,
    .del = rd_del,
    .del_eq = rd_del_eq,
    .login = rd_login,
    .token_put = rd_token_put,
    .token_touch = rd_token_touch,
    .token_del = rd_token_del,
    .token_del_user = rd_token_del_user,
};
