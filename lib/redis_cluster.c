/* redis_cluster.c: a small Redis Cluster client on hiredis 0.14's async API (lib/redis_cluster.h):
 * the slot map, one connection per primary, commands routed by slot with their redirections
 * followed (the pure pieces it uses: lib/redis_cluster_slots.c). */
#include "redis_cluster.h"

#include "defer.h"
#include "list.h"
#include "redis_uv.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Notes (hiredis 0.14, as lib/store_redis.c): no async timeouts, so a repeating timer drops a
 * connection whose connect or oldest command is older than the timeout; a disconnect ends
 * every pending command with a NULL reply (WXS_ESTORE: a write's outcome is then unknown).
 * A command is routed to its slot's primary: sent when that connection is up, held (and
 * retried every WXS__CLUSTER_RETRY_MS within its timeout) while it is connecting, failed at
 * once when the node is down or the slot has no known owner; the map is then refreshed. */

#define RECONNECT_MIN_MS 50
#define RECONNECT_MAX_MS 250
#define REFRESH_MIN_MS 100 /* between two CLUSTER SLOTS of one client */
#define MAX_NODES (WXS__CLUSTER_MAX_PRIMARIES + WXS__REDIS_ADDR_LIST_MAX) /* + the seeds */
#define RESP_KEEP_BYTES (64 * 1024)  /* a bigger encoding buffer is released after use */
#define MAX_COMMAND_BYTES (4u << 20) /* an encoded command (the store's values are <= 1 MiB) */

enum cmd_kind { CMD_USER, CMD_AUTH, CMD_SLOTS };
enum cmd_phase { PHASE_COMMAND, PHASE_WAIT };

typedef struct cl_node cl_node;

/* A command: in at most one list at a time (a node's pending, waiting, canceled) by link. */
typedef struct cl_cmd {
    wxs__list link;
    wxs__cluster *cl;
    cl_node *node; /* where it was last sent */
    enum cmd_kind kind;
    enum cmd_phase phase;
    const char *name;
    unsigned slot;
    int flags;
    int ask_node; /* >= 0: the next send goes there, after ASKING */
    wxs__cluster_attempt attempt;
    uint64_t sent_ms;
    uint64_t allow_ms; /* how long its reply may take */
    uint64_t retry_at_ms;
    wxs__cluster_cb cb;
    void *arg;
    wxs__deferred failed;
    wxs__cluster_reply saved; /* a write's reply, held while its WAIT runs */
    char *saved_str;
    size_t len;
    char bytes[]; /* the encoded command */
} cl_cmd;

struct cl_node {
    wxs__cluster *cl;
    wxs__redis_addr addr;
    int used;
    int seed;
    int primary; /* of the current map */
    redisAsyncContext *ac;
    int connected; /* the TCP connect completed */
    int ready;     /* connected and authenticated: commands are sent */
    int auth_left;
    int down_logged;
    uint64_t connect_started_ms;
    uint64_t retry_at_ms; /* next connect attempt; 0: none planned */
    unsigned backoff_ms;
    wxs__list pending; /* sent, awaiting replies, oldest first */
};

struct wxs__cluster {
    uv_loop_t *loop;
    wxs__log_limit fail_log; /* the failed commands' warnings: one line a second */
    char *password;          /* never logged */
    uint64_t timeout_ms;
    long long wait_replicas;
    uint64_t wait_timeout_ms;
    char wait_cmd[64];
    size_t wait_cmd_len;
    cl_node nodes[MAX_NODES];
    wxs__cluster_map map;
    wxs__cluster_map scratch;                 /* a CLUSTER SLOTS reply being read */
    int map_node[WXS__CLUSTER_MAX_PRIMARIES]; /* node index of each of the map's primaries */
    int map_loaded;
    int map_complete; /* every slot has an owner */
    int refresh_wanted;
    cl_cmd *refresh; /* the CLUSTER SLOTS in flight */
    uint64_t refresh_after_ms;
    unsigned refresh_turn;
    int wait_logged;
    wxs__list waiting;  /* held for a retry at their retry_at_ms */
    wxs__list canceled; /* ended by close(): answered once the handles closed */
    wxs__defer defer;   /* answers of commands that failed at once */
    wxs__buf out;
    uv_timer_t tick; /* timeouts */
    uv_timer_t kick; /* the next planned step: reconnects, refresh, retries */
    uint64_t kick_at_ms;
    int handles_open;
    int closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* The command whose link is l. */
static cl_cmd *cmd_of(wxs__list *l)
{
    return wxs__list_entry(l, cl_cmd, link);
}

static void service(wxs__cluster *cl);

static void on_kick(uv_timer_t *t)
{
    wxs__cluster *cl = t->data;
    cl->kick_at_ms = 0;
    service(cl);
}

/* Run service() at at_ms (or sooner, if it is already planned sooner). */
static void schedule(wxs__cluster *cl, uint64_t at_ms)
{
    uint64_t now = mono_ms();
    if (cl->closing || (cl->kick_at_ms != 0 && cl->kick_at_ms <= at_ms))
        return;
    cl->kick_at_ms = at_ms;
    uv_timer_start(&cl->kick, on_kick, at_ms > now ? at_ms - now : 0, 0);
}

static void want_refresh(wxs__cluster *cl)
{
    cl->refresh_wanted = 1;
    schedule(cl, cl->refresh_after_ms);
}

/* End a command: its answer to the caller (internal commands have none), then free it. */
static void cmd_finish(cl_cmd *c, int status, const wxs__cluster_reply *r)
{
    if (c->kind == CMD_SLOTS && c->cl->refresh == c)
        c->cl->refresh = NULL;
    if (c->cb != NULL)
        c->cb(c->arg, status, status == 0 ? r : NULL);
    wxs__free(c->saved_str);
    wxs__free(c);
}

static void failed_later(wxs__deferred *d)
{
    cmd_finish(WXS__CONTAINER_OF(d, cl_cmd, failed), WXS_ESTORE, NULL);
}

static void fail_later(wxs__cluster *cl, cl_cmd *c)
{
    wxs__defer_call(&cl->defer, &c->failed, failed_later);
}

/* ---------------------------------------------------------------- connections */

static void log_down(cl_node *n, const char *what, const char *detail)
{
    wxs_log_level level = n->down_logged ? WXS_LOG_DEBUG : WXS_LOG_WARN;
    n->down_logged = 1;
    wxs__log(level, "redis cluster: %s:%d: %s%s%s", n->addr.host, n->addr.port, what,
             detail ? ": " : "", detail ? detail : "");
}

/* Whether the client should keep a connection to n: a primary of the map, or a seed while the
 * map is to be loaded. */
static int node_wanted(const wxs__cluster *cl, const cl_node *n)
{
    return n->used && (n->primary || (n->seed && (cl->refresh_wanted || !cl->map_loaded)));
}

static void plan_reconnect(cl_node *n)
{
    wxs__cluster *cl = n->cl;
    n->retry_at_ms = mono_ms() + n->backoff_ms;
    n->backoff_ms = n->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : n->backoff_ms * 2;
    if (n->primary)
        want_refresh(cl);
    schedule(cl, n->retry_at_ms);
}

/* Drop n's connection: hiredis ends its pending commands with NULL replies. Safe inside a
 * hiredis callback (hiredis frees the context once the callback returns). */
static void drop_node(cl_node *n, int reconnect)
{
    redisAsyncContext *ac = n->ac;
    n->ac = NULL;
    n->connected = 0;
    n->ready = 0;
    if (ac != NULL)
        redisAsyncFree(ac);
    if (reconnect)
        plan_reconnect(n);
}

static void mark_ready(cl_node *n)
{
    n->ready = 1;
    n->backoff_ms = RECONNECT_MIN_MS;
    n->down_logged = 0;
    wxs__debug("redis cluster: connected to %s:%d", n->addr.host, n->addr.port);
    schedule(n->cl, mono_ms()); /* a refresh may have waited for a connection */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    cl_node *n = ac->data;
    if (n->ac != ac)
        return;
    if (status != REDIS_OK) {
        log_down(n, "cannot connect", ac->errstr);
        n->ac = NULL; /* hiredis frees the context after this callback */
        plan_reconnect(n);
        return;
    }
    n->connected = 1;
    if (n->auth_left == 0)
        mark_ready(n);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    cl_node *n = ac->data;
    if (n->ac != ac)
        return; /* dropped by us, or closing */
    n->ac = NULL;
    n->connected = 0;
    n->ready = 0;
    log_down(n, "connection lost", status == REDIS_OK ? NULL : ac->errstr);
    plan_reconnect(n);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Write c (its WAIT in PHASE_WAIT; after ASKING when it is redirected by ASK) on n's
 * connection and queue it for its reply. 0 or WXS_ESTORE (c stays with the caller). */
static int send_on(cl_node *n, cl_cmd *c)
{
    static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
    wxs__cluster *cl = n->cl;
    if (n->ac == NULL)
        return WXS_ESTORE;
    if (c->ask_node >= 0 &&
        redisAsyncFormattedCommand(n->ac, NULL, NULL, asking, sizeof asking - 1) != REDIS_OK)
        return WXS_ESTORE;
    const char *p = c->phase == PHASE_WAIT ? cl->wait_cmd : c->bytes;
    size_t len = c->phase == PHASE_WAIT ? cl->wait_cmd_len : c->len;
    if (redisAsyncFormattedCommand(n->ac, on_reply, c, p, len) != REDIS_OK)
        return WXS_ESTORE;
    c->ask_node = -1;
    c->node = n;
    c->sent_ms = mono_ms();
    wxs__list_push(&n->pending, &c->link);
    return 0;
}

/* A command of the client's own (AUTH, CLUSTER SLOTS), encoded. NULL when out of memory. */
static cl_cmd *internal_cmd(wxs__cluster *cl, enum cmd_kind kind, int argc,
                            const wxs__resp_arg *argv)
{
    wxs__buf_reset(&cl->out);
    cl_cmd *c = NULL;
    if (wxs__resp_encode(&cl->out, argc, argv) == 0)
        c = wxs__calloc(1, sizeof *c + cl->out.len);
    if (c != NULL) {
        wxs__list_init(&c->link);
        c->cl = cl;
        c->kind = kind;
        c->ask_node = -1;
        c->allow_ms = cl->timeout_ms;
        c->len = cl->out.len;
        memcpy(c->bytes, cl->out.data, c->len);
    }
    if (cl->out.data != NULL)
        memset(cl->out.data, 0, cl->out.cap); /* no copy of the password left behind here */
    return c;
}

static void connect_node(cl_node *n)
{
    wxs__cluster *cl = n->cl;
    n->retry_at_ms = 0;
    redisAsyncContext *ac = redisAsyncConnect(n->addr.host, n->addr.port);
    if (ac == NULL || ac->err || (ac->data = n, wxs__redis_uv_attach(ac, cl->loop)) != REDIS_OK) {
        log_down(n, "cannot connect", ac != NULL && ac->err ? ac->errstr : NULL);
        if (ac != NULL)
            redisAsyncFree(ac);
        plan_reconnect(n);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    n->ac = ac;
    n->connected = 0;
    n->ready = 0;
    n->auth_left = 0;
    n->connect_started_ms = mono_ms();
    if (cl->password[0] != '\0') {
        wxs__resp_arg argv[] = {RSTR("AUTH"), RSTR(cl->password)};
        cl_cmd *c = internal_cmd(cl, CMD_AUTH, 2, argv);
        if (c == NULL || send_on(n, c) < 0) {
            wxs__free(c);
            drop_node(n, 1);
            return;
        }
        n->auth_left = 1;
    }
}

/* The node entry for host:port, taken from the free ones (or from one no longer used) when
 * absent. NULL when none is free. */
static cl_node *node_for(wxs__cluster *cl, const char *host, int port)
{
    cl_node *spare = NULL;
    for (int i = 0; i < MAX_NODES; i++) {
        cl_node *n = &cl->nodes[i];
        if (n->used && n->addr.port == port && strcmp(n->addr.host, host) == 0)
            return n;
        if (spare == NULL && (!n->used || (!n->seed && !n->primary && n->ac == NULL &&
                                           wxs__list_empty(&n->pending))))
            spare = n;
    }
    if (spare != NULL) {
        memset(spare, 0, sizeof *spare);
        spare->cl = cl;
        wxs__list_init(&spare->pending);
        spare->used = 1;
        snprintf(spare->addr.host, sizeof spare->addr.host, "%s", host);
        spare->addr.port = port;
        spare->backoff_ms = RECONNECT_MIN_MS;
    }
    return spare;
}

/* ---------------------------------------------------------------- the slot map */

/* Take cl->scratch as the map: primaries get (or keep) connections, other nodes lose theirs. */
static int apply_map(wxs__cluster *cl)
{
    int node_index[WXS__CLUSTER_MAX_PRIMARIES];
    for (size_t i = 0; i < cl->scratch.nprimaries; i++) {
        const wxs__redis_addr *a = &cl->scratch.primaries[i];
        cl_node *n = node_for(cl, a->host, a->port);
        if (n == NULL)
            return -1;
        node_index[i] = (int)(n - cl->nodes);
        n->primary = 1; /* so that the next node_for does not take it */
    }
    int changed = !cl->map_loaded || memcmp(&cl->map, &cl->scratch, sizeof cl->map) != 0;
    memcpy(&cl->map, &cl->scratch, sizeof cl->map);
    memcpy(cl->map_node, node_index, sizeof node_index);
    cl->map_loaded = 1;
    cl->map_complete = memchr(cl->map.owner, 0, sizeof cl->map.owner) == NULL;
    for (int i = 0; i < MAX_NODES; i++)
        cl->nodes[i].primary = 0;
    for (size_t i = 0; i < cl->map.nprimaries; i++)
        cl->nodes[cl->map_node[i]].primary = 1;
    for (int i = 0; i < MAX_NODES; i++) {
        cl_node *n = &cl->nodes[i];
        if (n->primary && n->ac == NULL && n->retry_at_ms == 0)
            connect_node(n);
        else if (!n->primary && n->ac != NULL && wxs__list_empty(&n->pending))
            drop_node(n, 0);
    }
    if (changed)
        wxs__info("redis cluster: slot map loaded: %zu primaries%s", cl->map.nprimaries,
                  cl->map_complete ? "" : ", some slots without an owner");
    return 0;
}

static void on_slots_reply(cl_cmd *c, const redisReply *r)
{
    wxs__cluster *cl = c->cl;
    const cl_node *n = c->node;
    cl->refresh = NULL;
    if (r->type == REDIS_REPLY_ERROR)
        wxs__warn("redis cluster: %s:%d: CLUSTER SLOTS refused (%.*s)", n->addr.host, n->addr.port,
                  (int)strcspn(r->str, " "), r->str);
    else if (wxs__cluster_map_parse(&cl->scratch, r, n->addr.host) < 0 || apply_map(cl) < 0)
        wxs__warn("redis cluster: %s:%d: CLUSTER SLOTS reply not understood", n->addr.host,
                  n->addr.port);
    else
        cl->refresh_wanted = 0;
    if (cl->refresh_wanted)
        schedule(cl, cl->refresh_after_ms);
    cmd_finish(c, 0, NULL);
}

/* Ask a connected node for the map: a primary first (in turn), else a seed; with none
 * connected, connect the seeds (and primaries) that are not, and wait. */
static void start_refresh(wxs__cluster *cl)
{
    uint64_t now = mono_ms();
    cl_node *ask = NULL;
    for (int pass = 0; pass < 2 && ask == NULL; pass++) {
        for (int k = 0; k < MAX_NODES && ask == NULL; k++) {
            cl_node *n = &cl->nodes[(cl->refresh_turn + (unsigned)k) % MAX_NODES];
            if (n->ready && (pass == 1 || n->primary))
                ask = n;
        }
    }
    cl->refresh_turn++;
    if (ask == NULL) {
        for (int i = 0; i < MAX_NODES; i++) {
            cl_node *n = &cl->nodes[i];
            if (n->used && (n->seed || n->primary) && n->ac == NULL &&
                (n->retry_at_ms == 0 || n->retry_at_ms <= now))
                connect_node(n);
        }
        return; /* a node that comes up schedules service(), which comes back here */
    }
    wxs__resp_arg argv[] = {RSTR("CLUSTER"), RSTR("SLOTS")};
    cl_cmd *c = internal_cmd(cl, CMD_SLOTS, 2, argv);
    if (c == NULL || send_on(ask, c) < 0) {
        wxs__free(c);
        return;
    }
    cl->refresh = c;
    cl->refresh_after_ms = now + REFRESH_MIN_MS;
}

/* ---------------------------------------------------------------- routing */

static cl_node *slot_node(wxs__cluster *cl, unsigned slot)
{
    int owner = cl->map_loaded ? cl->map.owner[slot] : 0;
    return owner == 0 ? NULL : &cl->nodes[cl->map_node[owner - 1]];
}

/* Send c to its slot's primary (or its ASK target). A node still connecting holds it for a
 * retry within its deadline; with no node up it fails (on the loop's next pass). */
static void dispatch(wxs__cluster *cl, cl_cmd *c)
{
    uint64_t now = mono_ms();
    cl_node *n = c->ask_node >= 0 ? &cl->nodes[c->ask_node] : slot_node(cl, c->slot);
    if (n != NULL && n->ready && send_on(n, c) == 0)
        return;
    if (n != NULL && n->ac != NULL && !n->ready &&
        now + WXS__CLUSTER_RETRY_MS < c->attempt.deadline_ms) {
        c->retry_at_ms = now + WXS__CLUSTER_RETRY_MS;
        wxs__list_push(&cl->waiting, &c->link);
        schedule(cl, c->retry_at_ms);
        return;
    }
    want_refresh(cl);
    fail_later(cl, c);
}

/* A MOVED reply: the slot's owner, noted at once in the map (so that the resend goes there),
 * is connected if it is new; a refresh follows. */
static void note_moved(wxs__cluster *cl, const wxs__cluster_redirect *to, const cl_node *from)
{
    const char *host = to->to.host[0] != '\0' ? to->to.host : from->addr.host;
    int idx = wxs__cluster_map_node(&cl->map, host, to->to.port);
    cl_node *n = idx >= 0 ? node_for(cl, host, to->to.port) : NULL;
    want_refresh(cl);
    if (n == NULL)
        return;
    cl->map.owner[to->slot] = (uint8_t)(idx + 1);
    cl->map_node[idx] = (int)(n - cl->nodes);
    n->primary = 1;
    if (n->ac == NULL)
        connect_node(n);
}

/* The target of an ASK redirection, connected if need be; -1 when no entry is free. */
static int ask_target(wxs__cluster *cl, const wxs__cluster_redirect *to, const cl_node *from)
{
    const char *host = to->to.host[0] != '\0' ? to->to.host : from->addr.host;
    cl_node *n = node_for(cl, host, to->to.port);
    if (n == NULL)
        return -1;
    if (n->ac == NULL)
        connect_node(n);
    return (int)(n - cl->nodes);
}

static void deliver(cl_cmd *c, const redisReply *r)
{
    wxs__cluster_reply out = {r->type, r->integer, r->str, r->len};
    cmd_finish(c, 0, &out);
}

/* A command failed with an error reply: its error code (never more of the reply), at most one
 * line a second. */
static void log_failure(wxs__cluster *cl, const char *name, const redisReply *r)
{
    unsigned held;
    if (wxs__log_limit_take(&cl->fail_log, &held))
        wxs__warn("redis cluster: %s failed (%.*s); %u more failed commands in the last second",
                  name, (int)strcspn(r->str, " "), r->str, held);
}

/* The command's own reply is its answer: an error is logged by name and fails it; a write
 * that must reach replicas sends its WAIT first, keeping the reply. */
static void on_answer(cl_cmd *c, const redisReply *r)
{
    wxs__cluster *cl = c->cl;
    if (r->type == REDIS_REPLY_ERROR) {
        log_failure(cl, c->name, r);
        cmd_finish(c, WXS_ESTORE, NULL);
        return;
    }
    if (!(c->flags & WXS__CLUSTER_WRITE) || cl->wait_replicas <= 0) {
        deliver(c, r);
        return;
    }
    c->saved = (wxs__cluster_reply){r->type, r->integer, NULL, r->len};
    if (r->str != NULL && (c->saved_str = wxs__strndup(r->str, r->len)) == NULL) {
        cmd_finish(c, WXS_ENOMEM, NULL);
        return;
    }
    c->saved.str = c->saved_str;
    c->phase = PHASE_WAIT;
    c->allow_ms = cl->timeout_ms + cl->wait_timeout_ms;
    if (send_on(c->node, c) < 0)
        cmd_finish(c, WXS_ESTORE, NULL);
}

static void on_wait_reply(cl_cmd *c, const redisReply *r)
{
    wxs__cluster *cl = c->cl;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= cl->wait_replicas) {
        cl->wait_logged = 0;
        cmd_finish(c, 0, &c->saved);
        return;
    }
    wxs__log(cl->wait_logged ? WXS_LOG_DEBUG : WXS_LOG_WARN,
             "redis cluster: %s:%d: %s not acknowledged by %lld replica(s) within %llu ms",
             c->node->addr.host, c->node->addr.port, c->name, cl->wait_replicas,
             (unsigned long long)cl->wait_timeout_ms);
    cl->wait_logged = 1;
    cmd_finish(c, WXS_ESTORE, NULL);
}

static void on_auth_reply(cl_cmd *c, const redisReply *r)
{
    cl_node *n = c->node;
    wxs__free(c);
    if (r->type == REDIS_REPLY_ERROR) {
        log_down(n, "AUTH failed", NULL);
        drop_node(n, 1);
        return;
    }
    if (--n->auth_left == 0 && n->connected)
        mark_ready(n);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cl_cmd *c = privdata;
    wxs__cluster *cl = c->cl;
    const redisReply *r = reply;
    wxs__cluster_redirect to;
    (void)ac;
    wxs__list_remove(&c->link); /* from its node's pending list */
    if (r == NULL && cl->closing) {
        wxs__list_push(&cl->canceled, &c->link);
        return;
    }
    if (r == NULL) {
        want_refresh(cl);
        cmd_finish(c, WXS_ESTORE, NULL);
    } else if (c->kind == CMD_AUTH) {
        on_auth_reply(c, r);
    } else if (c->kind == CMD_SLOTS) {
        on_slots_reply(c, r);
    } else if (c->phase == PHASE_WAIT) {
        on_wait_reply(c, r);
    } else {
        switch (wxs__cluster_next(&c->attempt, r, mono_ms(), &to)) {
        case WXS__CLUSTER_DONE:
            on_answer(c, r);
            break;
        case WXS__CLUSTER_MOVED:
            note_moved(cl, &to, c->node);
            dispatch(cl, c);
            break;
        case WXS__CLUSTER_ASK:
            c->ask_node = ask_target(cl, &to, c->node);
            if (c->ask_node < 0)
                cmd_finish(c, WXS_ESTORE, NULL);
            else
                dispatch(cl, c);
            break;
        case WXS__CLUSTER_RETRY:
            c->retry_at_ms = mono_ms() + WXS__CLUSTER_RETRY_MS;
            wxs__list_push(&cl->waiting, &c->link);
            schedule(cl, c->retry_at_ms);
            break;
        case WXS__CLUSTER_FAIL:
            log_failure(c->cl, c->name, r);
            cmd_finish(c, WXS_ESTORE, NULL);
            break;
        }
    }
}

/* ---------------------------------------------------------------- timers */

/* The planned steps that are due: connects, a map refresh, the held commands' resends. */
static void service(wxs__cluster *cl)
{
    uint64_t now = mono_ms(), next = UINT64_MAX;
    if (cl->closing)
        return;
    for (int i = 0; i < MAX_NODES; i++) {
        cl_node *n = &cl->nodes[i];
        if (n->ac != NULL || n->retry_at_ms == 0 || !node_wanted(cl, n))
            continue;
        if (n->retry_at_ms <= now)
            connect_node(n);
        else if (n->retry_at_ms < next)
            next = n->retry_at_ms;
    }
    if (cl->refresh_wanted && cl->refresh == NULL) {
        if (cl->refresh_after_ms <= now)
            start_refresh(cl);
        /* again later: no node was up to ask, or the answer still shows a node that is down */
        uint64_t again = cl->refresh_after_ms > now ? cl->refresh_after_ms : now + REFRESH_MIN_MS;
        next = again < next ? again : next;
    }
    wxs__list due, *l, *following;
    wxs__list_init(&due);
    wxs__list_each(l, following, &cl->waiting)
    {
        cl_cmd *c = cmd_of(l);
        if (c->retry_at_ms <= now) {
            wxs__list_remove(l);
            wxs__list_push(&due, l);
        } else if (c->retry_at_ms < next) {
            next = c->retry_at_ms;
        }
    }
    while ((l = wxs__list_shift(&due)) != NULL)
        dispatch(cl, cmd_of(l));
    if (next != UINT64_MAX)
        schedule(cl, next);
}

/* Repeating: drop connections whose connect failed or took too long, or whose oldest command
 * has waited longer than it may; their commands fail, the reconnect and a refresh follow. */
static void on_tick(uv_timer_t *t)
{
    wxs__cluster *cl = t->data;
    uint64_t now = mono_ms();
    for (int i = 0; i < MAX_NODES; i++) {
        cl_node *n = &cl->nodes[i];
        if (n->ac == NULL)
            continue;
        const cl_cmd *oldest = wxs__list_empty(&n->pending) ? NULL : cmd_of(n->pending.next);
        if (!n->connected && (wxs__redis_uv_connect_failed(n->ac) ||
                              now - n->connect_started_ms >= cl->timeout_ms)) {
            log_down(n, "cannot connect", NULL);
            drop_node(n, 1);
        } else if (oldest != NULL && now - oldest->sent_ms >= oldest->allow_ms) {
            log_down(n, "no reply within the timeout, reconnecting", NULL);
            drop_node(n, 1);
        }
    }
}

/* ---------------------------------------------------------------- the API */

int wxs__cluster_command(wxs__cluster *cl, unsigned slot, int flags, const char *name, int argc,
                         const wxs__resp_arg *argv, wxs__cluster_cb cb, void *arg)
{
    if (cl->closing)
        return WXS_ECANCELED;
    wxs__buf_reset(&cl->out);
    int rc = wxs__resp_encode(&cl->out, argc, argv);
    cl_cmd *c = rc == 0 ? wxs__calloc(1, sizeof *c + cl->out.len) : NULL;
    if (c != NULL) {
        wxs__list_init(&c->link);
        c->cl = cl;
        c->kind = CMD_USER;
        c->name = name;
        c->slot = slot & (WXS__CLUSTER_SLOTS - 1);
        c->flags = flags;
        c->ask_node = -1;
        c->attempt.deadline_ms = mono_ms() + cl->timeout_ms;
        c->allow_ms = cl->timeout_ms;
        c->cb = cb;
        c->arg = arg;
        c->len = cl->out.len;
        memcpy(c->bytes, cl->out.data, c->len);
    }
    if (cl->out.cap > RESP_KEEP_BYTES)
        wxs__buf_free(&cl->out);
    if (c == NULL)
        return rc < 0 ? rc : WXS_ENOMEM;
    dispatch(cl, c);
    return 0;
}

int wxs__cluster_ready(const wxs__cluster *cl)
{
    if (cl == NULL || cl->closing || !cl->map_loaded || !cl->map_complete)
        return 0;
    for (size_t i = 0; i < cl->map.nprimaries; i++)
        if (!cl->nodes[cl->map_node[i]].ready)
            return 0;
    return 1;
}

static void free_cluster(wxs__cluster *cl)
{
    if (cl->password != NULL) {
        volatile char *p = cl->password;
        while (*p != '\0')
            *p++ = '\0';
    }
    wxs__free(cl->password);
    wxs__buf_free(&cl->out);
    wxs__free(cl);
}

static void handle_gone(wxs__cluster *cl)
{
    if (--cl->handles_open > 0)
        return;
    wxs__list *l;
    while ((l = wxs__list_shift(&cl->canceled)) != NULL)
        cmd_finish(cmd_of(l), WXS_ECANCELED, NULL);
    if (cl->closed != NULL)
        cl->closed(cl->closed_arg);
    free_cluster(cl);
}

static void on_handle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void on_defer_closed(void *arg)
{
    handle_gone(arg);
}

void wxs__cluster_close(wxs__cluster *cl, void (*closed)(void *arg), void *arg)
{
    if (cl == NULL || cl->closing)
        return;
    cl->closing = 1;
    cl->closed = closed;
    cl->closed_arg = arg;
    for (int i = 0; i < MAX_NODES; i++)
        drop_node(&cl->nodes[i], 0); /* pending replies arrive as NULL: to cl->canceled */
    wxs__list *l;
    while ((l = wxs__list_shift(&cl->waiting)) != NULL)
        wxs__list_push(&cl->canceled, l);
    uv_close((uv_handle_t *)&cl->tick, on_handle_closed);
    uv_close((uv_handle_t *)&cl->kick, on_handle_closed);
    wxs__defer_close(&cl->defer, on_defer_closed, cl);
}

int wxs__cluster_open(wxs__cluster **out, uv_loop_t *loop, const wxs__cluster_opts *opts, char *err,
                      size_t errlen)
{
    wxs__redis_addr seeds[WXS__REDIS_ADDR_LIST_MAX];
    size_t nseeds = 0;
    char why[128];
    *out = NULL;
    if (wxs__redis_addr_list_parse(opts->seeds, seeds, WXS__REDIS_ADDR_LIST_MAX, &nseeds, why,
                                   sizeof why) == 0 &&
        nseeds == 0)
        snprintf(why, sizeof why, "no seed node given");
    if (nseeds == 0) { /* the list's error, or an empty list */
        snprintf(err, errlen, "redis.cluster: %s", why);
        return WXS_ECONFIG;
    }
    wxs__cluster *cl = wxs__calloc(1, sizeof *cl);
    if (cl == NULL || (cl->password = wxs__strdup(opts->password ? opts->password : "")) == NULL) {
        wxs__free(cl);
        return WXS_ENOMEM;
    }
    wxs__list_init(&cl->waiting);
    wxs__list_init(&cl->canceled);
    for (int i = 0; i < MAX_NODES; i++)
        wxs__list_init(&cl->nodes[i].pending);
    cl->loop = loop;
    cl->timeout_ms = opts->timeout_ms;
    cl->wait_replicas = opts->wait_replicas;
    cl->wait_timeout_ms = opts->wait_timeout_ms;
    cl->wait_cmd_len = (size_t)snprintf(
        cl->wait_cmd, sizeof cl->wait_cmd, "*3\r\n$4\r\nWAIT\r\n$%d\r\n%lld\r\n$%d\r\n%llu\r\n",
        snprintf(NULL, 0, "%lld", opts->wait_replicas), opts->wait_replicas,
        snprintf(NULL, 0, "%llu", (unsigned long long)opts->wait_timeout_ms),
        (unsigned long long)opts->wait_timeout_ms);
    wxs__buf_init(&cl->out, MAX_COMMAND_BYTES);
    for (size_t i = 0; i < nseeds; i++) {
        cl_node *n = node_for(cl, seeds[i].host, seeds[i].port);
        n->seed = 1;
    }
    uint64_t tick = cl->timeout_ms / 4;
    tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
    uv_timer_init(loop, &cl->tick);
    uv_timer_init(loop, &cl->kick);
    cl->tick.data = cl;
    cl->kick.data = cl;
    cl->handles_open = 3;
    (void)wxs__defer_init(&cl->defer, loop); /* cannot fail on a live loop */
    uv_timer_start(&cl->tick, on_tick, tick, tick);
    uv_unref((uv_handle_t *)&cl->tick);
    cl->refresh_wanted = 1;
    start_refresh(cl); /* no node is up yet: connects the seeds */
    *out = cl;
    return 0;
}
