/* redis_sentinel.c: finding the Redis primary through Sentinel (lib/redis_sentinel.h): a
 * discovery asks the Sentinels one after the other, a subscription follows +switch-master. */
#include "redis_sentinel.h"
#include "redis_uv.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

/* Notes: every connection here is short-lived or rare (one discovery per reconnect of the store,
 * one subscription per store), so commands are formatted with redisAsyncCommandArgv. hiredis
 * 0.14 has no async timeout: a repeating timer drops an ask or a subscription that has not
 * answered within the timeout. A subscription that drops is made again to the next Sentinel,
 * after 50 ms doubling up to 1 s while none accepts it. */

#define SWITCH_CHANNEL "+switch-master"
#define RESUBSCRIBE_MIN_MS 50
#define RESUBSCRIBE_MAX_MS 1000

struct wxs__sentinel {
    uv_loop_t *loop;
    wxs__redis_addr addrs[WXS__REDIS_ADDR_LIST_MAX];
    size_t n;
    char *master_name;
    char *password; /* never logged */
    uint64_t timeout_ms;
    wxs__sentinel_switch_cb on_switch;
    void *arg;
    /* the discovery in progress */
    int discovering;
    wxs__sentinel_found_cb found_cb;
    void *found_arg;
    size_t first;  /* the Sentinel asked first: the last one that answered */
    size_t asking; /* the Sentinel being asked */
    size_t asked;  /* how many were asked in this discovery */
    redisAsyncContext *ask_ac;
    uint64_t ask_started_ms;
    /* the +switch-master subscription */
    redisAsyncContext *sub_ac;
    size_t sub_index;
    int sub_confirmed;
    int sub_ever; /* a subscription was confirmed before the current one */
    int sub_down_logged;
    unsigned sub_backoff_ms;
    uint64_t sub_started_ms;
    uv_timer_t tick;       /* timeouts, repeating */
    uv_timer_t step_timer; /* the discovery's next step, on a later pass of the loop */
    uv_timer_t sub_timer;  /* subscribe again after a loss */
    int handles_open;
    int closing;
    void (*closed)(void *arg);
};

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* ------------------------------------------------------------ parsers (pure) */

static int is_str(const redisReply *r, const char *s)
{
    size_t n = strlen(s);
    return r != NULL && r->type == REDIS_REPLY_STRING && r->len == n && memcmp(r->str, s, n) == 0;
}

/* host (len bytes) and a port's digits into *out: 0 or -1. */
static int set_addr(wxs__redis_addr *out, const char *host, size_t len, const char *port,
                    size_t port_len)
{
    int p = wxs__redis_port_parse(port, port_len);
    if (len == 0 || len > WXS__REDIS_HOST_MAX || memchr(host, '\0', len) != NULL || p < 0)
        return -1;
    memcpy(out->host, host, len);
    out->host[len] = '\0';
    out->port = p;
    return 0;
}

int wxs__sentinel_parse_master(const redisReply *r, wxs__redis_addr *out)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    const redisReply *host = r->element[0], *port = r->element[1];
    if (host->type != REDIS_REPLY_STRING || port->type != REDIS_REPLY_STRING)
        return -1;
    return set_addr(out, host->str, host->len, port->str, port->len);
}

int wxs__sentinel_parse_switch(const redisReply *r, const char *master_name, wxs__redis_addr *out)
{
    const char *tok[5];
    size_t len[5];
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return -1;
    if (!is_str(r->element[0], "message"))
        return r->element[0]->type == REDIS_REPLY_STRING ? 1 : -1;
    if (!is_str(r->element[1], SWITCH_CHANNEL) || r->element[2]->type != REDIS_REPLY_STRING)
        return r->element[1]->type == REDIS_REPLY_STRING ? 1 : -1;
    /* "<name> <old-host> <old-port> <new-host> <new-port>" */
    const char *p = r->element[2]->str, *end = p + r->element[2]->len;
    for (int i = 0; i < 5; i++) {
        while (p < end && *p == ' ')
            p++;
        tok[i] = p;
        while (p < end && *p != ' ')
            p++;
        len[i] = (size_t)(p - tok[i]);
        if (len[i] == 0)
            return -1;
    }
    while (p < end && *p == ' ')
        p++;
    if (p != end)
        return -1;
    if (len[0] != strlen(master_name) || memcmp(tok[0], master_name, len[0]) != 0)
        return 1;
    return set_addr(out, tok[3], len[3], tok[4], len[4]);
}

int wxs__redis_role_is_master(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    return is_str(r->element[0], "master");
}

/* ------------------------------------------------------------ connections */

/* A connection to Sentinel i on the loop, with AUTH queued when a password is set; NULL on
 * failure (logged at debug: the caller moves on to the next Sentinel). */
static redisAsyncContext *sentinel_connect(wxs__sentinel *s, size_t i, redisCallbackFn *auth_cb)
{
    const wxs__redis_addr *a = &s->addrs[i];
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
    if (ac == NULL || ac->err) {
        wxs__debug("redis: Sentinel %s:%d: cannot connect: %s", a->host, a->port,
                   ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return NULL;
    }
    ac->data = s;
    if (wxs__redis_uv_attach(ac, s->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    if (s->password[0] != '\0') {
        const char *argv[] = {"AUTH", s->password};
        size_t lens[] = {4, strlen(s->password)};
        if (redisAsyncCommandArgv(ac, auth_cb, s, 2, argv, lens) != REDIS_OK) {
            redisAsyncFree(ac);
            return NULL;
        }
    }
    return ac;
}

/* An AUTH reply: 0 when accepted (or no reply yet: the connection is going), -1 when refused
 * (logged by its error code only). */
static int auth_refused(const wxs__sentinel *s, size_t i, const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ERROR)
        return 0;
    char code[32];
    size_t n = 0;
    while (n < 31 && n < r->len && r->str[n] != ' ')
        n++;
    memcpy(code, r->str, n);
    code[n] = '\0';
    wxs__warn("redis: Sentinel %s:%d refused AUTH (%s)", s->addrs[i].host, s->addrs[i].port, code);
    return -1;
}

/* ------------------------------------------------------------ discovery */

static void ask_next(wxs__sentinel *s);

static void on_step(uv_timer_t *t)
{
    wxs__sentinel *s = t->data;
    if (!s->closing && s->discovering)
        ask_next(s);
}

static void drop_ask(wxs__sentinel *s)
{
    redisAsyncContext *ac = s->ask_ac;
    s->ask_ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* inside one of its callbacks: freed when it returns */
}

static void finish_discovery(wxs__sentinel *s, int status, const wxs__redis_addr *primary)
{
    s->discovering = 0;
    s->found_cb(s->found_arg, status, primary);
}

/* The Sentinel being asked failed: ask the next one on a later pass, or end the discovery
 * when every one was asked. */
static void ask_failed(wxs__sentinel *s)
{
    drop_ask(s);
    s->asked++;
    s->asking = (s->asking + 1) % s->n;
    if (s->asked >= s->n) {
        finish_discovery(s, WXS_ESTORE, NULL);
        return;
    }
    uv_timer_start(&s->step_timer, on_step, 0, 0);
}

static void ask_on_connect(const redisAsyncContext *ac, int status)
{
    wxs__sentinel *s = ac->data;
    if (s->ask_ac != ac || status == REDIS_OK)
        return;
    wxs__debug("redis: Sentinel %s:%d: cannot connect: %s", s->addrs[s->asking].host,
               s->addrs[s->asking].port, ac->errstr);
    s->ask_ac = NULL; /* hiredis frees the context after this callback */
    ask_failed(s);
}

static void ask_on_disconnect(const redisAsyncContext *ac, int status)
{
    wxs__sentinel *s = ac->data;
    (void)status;
    if (s->ask_ac != ac)
        return;
    s->ask_ac = NULL;
    ask_failed(s);
}

static void ask_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    wxs__sentinel *s = privdata;
    if (ac == s->ask_ac && auth_refused(s, s->asking, reply) < 0)
        ask_failed(s);
}

static void ask_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    wxs__sentinel *s = privdata;
    const wxs__redis_addr *a = &s->addrs[s->asking];
    wxs__redis_addr primary;
    if (ac != s->ask_ac || reply == NULL)
        return; /* a dropped ask, or the disconnect callback follows */
    if (wxs__sentinel_parse_master(reply, &primary) < 0) {
        wxs__warn("redis: Sentinel %s:%d names no primary for master \"%s\"", a->host, a->port,
                  s->master_name);
        ask_failed(s);
        return;
    }
    drop_ask(s);
    s->first = s->asking;
    wxs__debug("redis: Sentinel %s:%d names %s:%d as the primary", a->host, a->port, primary.host,
               primary.port);
    finish_discovery(s, 0, &primary);
}

/* Ask the Sentinel s->asking for the primary's address. */
static void ask_next(wxs__sentinel *s)
{
    redisAsyncContext *ac = sentinel_connect(s, s->asking, ask_on_auth);
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", s->master_name};
    size_t lens[] = {8, 23, strlen(s->master_name)};
    if (ac == NULL) {
        ask_failed(s);
        return;
    }
    redisAsyncSetConnectCallback(ac, ask_on_connect);
    redisAsyncSetDisconnectCallback(ac, ask_on_disconnect);
    s->ask_ac = ac;
    s->ask_started_ms = mono_ms();
    if (redisAsyncCommandArgv(ac, ask_on_reply, s, 3, argv, lens) != REDIS_OK)
        ask_failed(s);
}

int wxs__sentinel_discover(wxs__sentinel *s, wxs__sentinel_found_cb cb, void *arg)
{
    if (s == NULL || cb == NULL || s->discovering)
        return WXS_EINVAL;
    if (s->closing)
        return WXS_ECANCELED;
    s->discovering = 1;
    s->found_cb = cb;
    s->found_arg = arg;
    s->asked = 0;
    s->asking = s->first;
    uv_timer_start(&s->step_timer, on_step, 0, 0); /* never calls back before returning */
    return 0;
}

/* ------------------------------------------------------------ subscription */

static void subscribe_now(wxs__sentinel *s);

static void on_sub_timer(uv_timer_t *t)
{
    wxs__sentinel *s = t->data;
    if (!s->closing && s->sub_ac == NULL)
        subscribe_now(s);
}

/* The subscription is gone (or never came): try the next Sentinel after the backoff. */
static void sub_lost(wxs__sentinel *s, const char *what)
{
    const wxs__redis_addr *a = &s->addrs[s->sub_index];
    redisAsyncContext *ac = s->sub_ac;
    s->sub_ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
    wxs__log(s->sub_down_logged ? WXS_LOG_DEBUG : WXS_LOG_WARN,
             "redis: Sentinel %s:%d: +switch-master subscription %s, trying the next Sentinel",
             a->host, a->port, what);
    s->sub_down_logged = 1;
    s->sub_confirmed = 0;
    s->sub_index = (s->sub_index + 1) % s->n;
    if (s->closing)
        return;
    uv_timer_start(&s->sub_timer, on_sub_timer, s->sub_backoff_ms, 0);
    s->sub_backoff_ms *= 2;
    if (s->sub_backoff_ms > RESUBSCRIBE_MAX_MS)
        s->sub_backoff_ms = RESUBSCRIBE_MAX_MS;
}

static void sub_on_connect(const redisAsyncContext *ac, int status)
{
    wxs__sentinel *s = ac->data;
    if (s->sub_ac != ac || status == REDIS_OK)
        return;
    s->sub_ac = NULL; /* hiredis frees the context after this callback */
    sub_lost(s, "cannot connect");
}

static void sub_on_disconnect(const redisAsyncContext *ac, int status)
{
    wxs__sentinel *s = ac->data;
    (void)status;
    if (s->sub_ac != ac)
        return;
    s->sub_ac = NULL;
    sub_lost(s, "lost");
}

static void sub_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    wxs__sentinel *s = privdata;
    if (ac == s->sub_ac && auth_refused(s, s->sub_index, reply) < 0)
        sub_lost(s, "refused");
}

/* The subscribe confirmation, then one message per switch of any master these Sentinels
 * watch. hiredis calls this with NULL when the connection goes: the disconnect callback acts. */
static void sub_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    wxs__sentinel *s = privdata;
    const redisReply *r = reply;
    wxs__redis_addr primary;
    if (ac != s->sub_ac || r == NULL || s->closing)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && is_str(r->element[0], "subscribe")) {
        const wxs__redis_addr *a = &s->addrs[s->sub_index];
        wxs__info("redis: following +switch-master of \"%s\" from Sentinel %s:%d", s->master_name,
                  a->host, a->port);
        s->sub_confirmed = 1;
        s->sub_down_logged = 0;
        s->sub_backoff_ms = RESUBSCRIBE_MIN_MS;
        if (s->sub_ever)
            s->on_switch(s->arg, NULL); /* a switch may have gone by unheard */
        s->sub_ever = 1;
        return;
    }
    int rc = wxs__sentinel_parse_switch(r, s->master_name, &primary);
    if (rc == 0)
        s->on_switch(s->arg, &primary);
    else if (rc < 0)
        wxs__warn("redis: Sentinel sent a malformed +switch-master message");
}

static void subscribe_now(wxs__sentinel *s)
{
    const char *argv[] = {"SUBSCRIBE", SWITCH_CHANNEL};
    size_t lens[] = {9, strlen(SWITCH_CHANNEL)};
    redisAsyncContext *ac = sentinel_connect(s, s->sub_index, sub_on_auth);
    if (ac == NULL) {
        sub_lost(s, "cannot connect");
        return;
    }
    redisAsyncSetConnectCallback(ac, sub_on_connect);
    redisAsyncSetDisconnectCallback(ac, sub_on_disconnect);
    s->sub_ac = ac;
    s->sub_started_ms = mono_ms();
    if (redisAsyncCommandArgv(ac, sub_on_message, s, 2, argv, lens) != REDIS_OK)
        sub_lost(s, "cannot subscribe");
}

/* ------------------------------------------------------------ timeouts, life cycle */

static void on_tick(uv_timer_t *t)
{
    wxs__sentinel *s = t->data;
    uint64_t now = mono_ms();
    if (s->ask_ac != NULL && now - s->ask_started_ms >= s->timeout_ms) {
        wxs__debug("redis: Sentinel %s:%d: no answer within the timeout", s->addrs[s->asking].host,
                   s->addrs[s->asking].port);
        ask_failed(s);
    }
    if (s->sub_ac != NULL && !s->sub_confirmed && now - s->sub_started_ms >= s->timeout_ms)
        sub_lost(s, "not confirmed within the timeout");
}

static void free_sentinel(wxs__sentinel *s)
{
    if (s->password != NULL) {
        volatile char *p = s->password;
        while (*p != '\0')
            *p++ = '\0';
    }
    wxs__free(s->password);
    wxs__free(s->master_name);
    wxs__free(s);
}

int wxs__sentinel_new(wxs__sentinel **out, uv_loop_t *loop, const wxs__sentinel_options *opt)
{
    int rc = 0;
    wxs__sentinel *s = NULL;
    *out = NULL;
    if (opt->master_name == NULL || opt->master_name[0] == '\0' || opt->on_switch == NULL) {
        rc = WXS_EINVAL;
        goto out;
    }
    s = wxs__calloc(1, sizeof *s);
    if (s == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    if (wxs__redis_addr_list_parse(opt->sentinels, s->addrs, WXS__REDIS_ADDR_LIST_MAX, &s->n, NULL,
                                   0) < 0 ||
        s->n == 0) {
        rc = WXS_EINVAL;
        goto out;
    }
    s->master_name = wxs__strdup(opt->master_name);
    s->password = wxs__strdup(opt->password != NULL ? opt->password : "");
    if (s->master_name == NULL || s->password == NULL) {
        rc = WXS_ENOMEM;
        goto out;
    }
    s->loop = loop;
    s->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 1000;
    s->on_switch = opt->on_switch;
    s->arg = opt->arg;
    s->sub_backoff_ms = RESUBSCRIBE_MIN_MS;
    uv_timer_t *timers[] = {&s->tick, &s->step_timer, &s->sub_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = s;
    }
    s->handles_open = 3;
    uint64_t tick = s->timeout_ms / 4;
    tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
    uv_timer_start(&s->tick, on_tick, tick, tick);
    uv_unref((uv_handle_t *)&s->tick);
    subscribe_now(s);
    *out = s;
out:
    if (rc < 0 && s != NULL)
        free_sentinel(s);
    return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
    wxs__sentinel *s = h->data;
    if (--s->handles_open > 0)
        return;
    void (*closed)(void *) = s->closed;
    void *arg = s->arg;
    free_sentinel(s);
    if (closed != NULL)
        closed(arg);
}

void wxs__sentinel_close(wxs__sentinel *s, void (*closed)(void *arg))
{
    if (s == NULL || s->closing)
        return;
    s->closing = 1;
    s->closed = closed;
    s->discovering = 0;
    drop_ask(s);
    redisAsyncContext *ac = s->sub_ac;
    s->sub_ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
    uv_close((uv_handle_t *)&s->step_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->sub_timer, on_handle_closed);
}
