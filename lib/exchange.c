/* exchange.c: the single-flight code exchange (lib/exchange.h): claim the code in the store,
 * ask WeChat (or wait for whoever holds the claim), remember the result for the code's life,
 * resolve every waiter. Steps in the order they happen. */
#include "exchange.h"
#include "ctx.h"
#include "stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXCHANGE_KEY_PREFIX "exchange:"
#define EXCHANGE_POLL_MS 5

/* A request waiting for a flight's outcome. */
typedef struct waiter {
    wxs__exchange_done_cb cb;
    void *arg;
    struct waiter *next;
} waiter;

/* The outcome of one exchange, its strings owned by the flight. */
typedef struct outcome {
    int status;
    long errcode;
    char *errmsg;
    char *openid;
    char *session_key;
    char *unionid;
    char *reason;
} outcome;

/* One code's exchange on this context, shared by every request that presents the code. */
struct wxs__flight {
    wxs_ctx *ctx;
    wxs__flight *next;
    char *code;
    size_t code_len;
    char key[sizeof EXCHANGE_KEY_PREFIX + 64];
    waiter *waiters; /* in arrival order */
    waiter **waiters_tail;
    uv_timer_t poll;
    uint64_t deadline_ms;
    wxs__deferred failed; /* a failure found while starting, resolved on the next pass */
    outcome result;
    uint64_t step_ns;       /* when the claim or the WeChat call started (wxs__now_ns) */
    char *remember_value;   /* the encoded result, owned */
    wxs__remember remember; /* key NULL once written (or carried) or when none */
};

static wxs__flight *flight_find(wxs_ctx *ctx, const char *code, size_t len);
static wxs__flight *flight_new(wxs_ctx *ctx, const char *code, size_t len);
static void flight_claim(wxs__flight *f);
static void flight_resolve(wxs__flight *f);
static void flight_fail(wxs__flight *f, int status, const char *reason);
static int outcome_set(outcome *o, const wxs__exchange_result *res);
static void outcome_clear(outcome *o);
static char *outcome_encode(const outcome *o);
static int outcome_decode(const char *val, size_t len, outcome *o);

/* ---- entry point */

int wxs__exchange_start(wxs_ctx *ctx, const char *code, size_t len, wxs__exchange_done_cb cb,
                        void *arg)
{
    if (ctx == NULL || code == NULL || len == 0 || cb == NULL)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    waiter *w = wxs__malloc(sizeof *w);
    if (w == NULL)
        return WXS_ENOMEM;
    *w = (waiter){.cb = cb, .arg = arg};
    wxs__flight *f = flight_find(ctx, code, len);
    int fresh = f == NULL;
    if (fresh)
        f = flight_new(ctx, code, len);
    if (f == NULL) {
        wxs__free(w);
        return WXS_ENOMEM;
    }
    if (!fresh)
        wxs__count(&ctx->stats.joined_local);
    *f->waiters_tail = w;
    f->waiters_tail = &w->next;
    if (fresh)
        flight_claim(f);
    return 0;
}

static wxs__flight *flight_find(wxs_ctx *ctx, const char *code, size_t len)
{
    for (wxs__flight *f = ctx->flights; f != NULL; f = f->next)
        if (f->code_len == len && memcmp(f->code, code, len) == 0)
            return f;
    return NULL;
}

/* A flight for code, linked into ctx->flights, holding a context reference. NULL: no memory. */
static wxs__flight *flight_new(wxs_ctx *ctx, const char *code, size_t len)
{
    wxs__flight *f = wxs__calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->code = wxs__strndup(code, len);
    if (f->code == NULL) {
        wxs__free(f);
        return NULL;
    }
    char hex[65];
    wxs__sha256_hex(code, len, hex);
    snprintf(f->key, sizeof f->key, EXCHANGE_KEY_PREFIX "%s", hex);
    f->ctx = ctx;
    f->code_len = len;
    f->waiters_tail = &f->waiters;
    f->deadline_ms = uv_now(ctx->loop) + (uint64_t)ctx->cfg->wechat_timeout_ms +
                     (uint64_t)ctx->cfg->wechat_connect_timeout_ms + 2000;
    uv_timer_init(ctx->loop, &f->poll);
    f->poll.data = f;
    f->next = ctx->flights;
    ctx->flights = f;
    wxs__ctx_ref(ctx);
    return f;
}

/* ---- step 1: claim the code in the store */

static void claimed(void *arg, int status);

static void failed_at_once(wxs__deferred *d)
{
    flight_resolve(WXS__CONTAINER_OF(d, wxs__flight, failed));
}

/* Claim the code's exchange (SET NX): the winner asks WeChat, the others wait for its
 * remembered result. A store that refuses at once fails the flight on the loop's next pass,
 * so that no waiter hears before wxs__exchange_start returns. */
static void flight_claim(wxs__flight *f)
{
    wxs_ctx *ctx = f->ctx;
    int rc = WXS_ECANCELED;
    long long claim_ttl =
        (ctx->cfg->wechat_timeout_ms + ctx->cfg->wechat_connect_timeout_ms) / 1000 + 2;
    f->step_ns = wxs__now_ns();
    if (!ctx->closing)
        rc =
            wxs__store_set_nx_ex(ctx->store, f->key, strlen(f->key), "p", 1, claim_ttl, claimed, f);
    if (rc < 0 && rc != WXS_ECANCELED)
        wxs__count(&ctx->stats.store_errors[WXS_STORE_CLAIM]);
    if (rc < 0) {
        outcome_clear(&f->result);
        f->result.status = rc;
        f->result.reason = wxs__strdup(rc == WXS_ECANCELED ? "shutting down" : "store unavailable");
        wxs__defer_call(&ctx->later, &f->failed, failed_at_once);
    }
}

/* ---- step 2: ask WeChat (claim won) or look for the remembered result (claim held) */

static void exchanged(void *arg, const wxs__exchange_result *res);
static void looked_up(void *arg, int status, const char *val, size_t len);

static void claimed(void *arg, int status)
{
    wxs__flight *f = arg;
    wxs_ctx *ctx = f->ctx;
    int rc;
    wxs__observe_since(&ctx->stats.store_latency[WXS_STORE_CLAIM], f->step_ns);
    if (status < 0) {
        if (status != WXS_ECANCELED)
            wxs__count(&ctx->stats.store_errors[WXS_STORE_CLAIM]);
        flight_fail(f, status, "store unavailable");
        return;
    }
    if (ctx->closing) {
        flight_fail(f, WXS_ECANCELED, "shutting down");
        return;
    }
    f->step_ns = wxs__now_ns();
    if (status == 1)
        rc = wxs__wechat_exchange(ctx->wechat, f->code, f->code_len, exchanged, f);
    else
        rc = wxs__store_get(ctx->store, f->key, strlen(f->key), looked_up, f);
    if (rc < 0)
        flight_fail(f, rc, status == 1 ? "exchange could not start" : "store unavailable");
}

/* ---- step 3a: WeChat answered: remember the answer, or release the claim */

static void released(void *arg, int status);
static void remembered(void *arg, int status);

/* Whether WeChat's answer is about the code itself (and so stands for the code's life). -1
 * (system busy) and 45011 (minute quota) are not: the code is still good for a retry. */
static int answer_is_about_the_code(const wxs__exchange_result *res)
{
    if (res->status == 0)
        return 1;
    return res->status == WXS_EEXCHANGE && res->errcode != -1 && res->errcode != 45011;
}

/* Which wxs_exchange_result a WeChat call's result counts as. */
static wxs_exchange_result exchange_label(const wxs__exchange_result *res)
{
    static const long errcodes[] = {0, -1, 40029, 40163, 40226, 45011};
    switch (res->status) {
    case 0:
        return WXS_EXCHANGE_OK;
    case WXS_EEXCHANGE:
        for (size_t i = 0; i < sizeof errcodes / sizeof errcodes[0]; i++)
            if (res->errcode == errcodes[i])
                return (wxs_exchange_result)i;
        return WXS_EXCHANGE_OTHER_ERRCODE;
    case WXS_ETIMEDOUT:
        return WXS_EXCHANGE_TIMEOUT;
    case WXS_EUPSTREAM:
        return WXS_EXCHANGE_BAD_REPLY;
    default:
        return WXS_EXCHANGE_NETWORK;
    }
}

static void exchanged(void *arg, const wxs__exchange_result *res)
{
    wxs__flight *f = arg;
    wxs_ctx *ctx = f->ctx;
    if (res->status != WXS_ECANCELED) {
        wxs__observe_since(&ctx->stats.exchange_latency, f->step_ns);
        wxs__count(&ctx->stats.exchanges[exchange_label(res)]);
    }
    if (outcome_set(&f->result, res) < 0) {
        flight_fail(f, WXS_ENOMEM, "out of memory");
        return;
    }
    if (ctx->closing) {
        flight_resolve(f);
        return;
    }
    if (!answer_is_about_the_code(res)) {
        /* no answer about the code: release the claim so a retry may exchange again */
        if (wxs__store_del(ctx->store, f->key, strlen(f->key), released, f) < 0)
            flight_resolve(f);
        return;
    }
    f->remember_value = outcome_encode(&f->result);
    if (f->remember_value != NULL)
        f->remember = (wxs__remember){.key = f->key,
                                      .key_len = strlen(f->key),
                                      .value = f->remember_value,
                                      .value_len = strlen(f->remember_value),
                                      .ttl_s = WXS__EXCHANGE_REMEMBER_S};
    if (res->status == 0 || f->remember.key == NULL) {
        /* a success is remembered by the first session write (flight_resolve) */
        flight_resolve(f);
        return;
    }
    /* a refusal has no session write to ride on: remember it now, then resolve */
    f->remember.key = NULL;
    if (wxs__store_set_ex(ctx->store, f->key, strlen(f->key), f->remember_value,
                          strlen(f->remember_value), WXS__EXCHANGE_REMEMBER_S, remembered, f) < 0)
        flight_resolve(f);
}

static void released(void *arg, int status)
{
    (void)status; /* the result stands even when the claim could not be released: it expires */
    flight_resolve(arg);
}

static void remembered(void *arg, int status)
{
    (void)status; /* the result stands even when remembering it failed */
    flight_resolve(arg);
}

/* ---- step 3b: another request holds the claim: its remembered result, or look again */

static void poll_fired(uv_timer_t *t)
{
    flight_claim(t->data);
}

static void looked_up(void *arg, int status, const char *val, size_t len)
{
    wxs__flight *f = arg;
    if (status == 0 && len > 1 && val[0] == 'x') {
        outcome_clear(&f->result);
        if (outcome_decode(val, len, &f->result) == 0) {
            wxs__count(&f->ctx->stats.joined_store);
            flight_resolve(f);
        } else
            flight_fail(f, WXS_EUPSTREAM, "unreadable remembered exchange");
        return;
    }
    if (status < 0 && status != WXS_ENOTFOUND) {
        flight_fail(f, status, "store unavailable");
        return;
    }
    /* the claim is still held (or was just released): look again shortly */
    if (uv_now(f->ctx->loop) >= f->deadline_ms) {
        flight_fail(f, WXS_ETIMEDOUT, "timeout waiting for a concurrent exchange");
        return;
    }
    uv_timer_start(&f->poll, poll_fired, EXCHANGE_POLL_MS, 0);
}

/* ---- step 4: resolve every waiter, write what no session write carried, retire */

static void remembered_alone(void *arg, int status)
{
    (void)arg;
    (void)status; /* the result stands even when remembering it failed */
}

static void flight_closed(uv_handle_t *h)
{
    wxs__flight *f = h->data;
    wxs_ctx *ctx = f->ctx;
    outcome_clear(&f->result);
    wxs__free(f->remember_value);
    wxs__free(f->code);
    wxs__free(f);
    wxs__ctx_unref(ctx);
}

static void flight_resolve(wxs__flight *f)
{
    wxs_ctx *ctx = f->ctx;
    for (wxs__flight **pp = &ctx->flights; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    const outcome *o = &f->result;
    wxs__exchange_outcome out = {.status = o->status,
                                 .errcode = o->errcode,
                                 .errmsg = o->errmsg,
                                 .openid = o->openid,
                                 .session_key = o->session_key,
                                 .unionid = o->unionid,
                                 .reason = o->reason};
    waiter *w = f->waiters;
    f->waiters = NULL;
    while (w != NULL) {
        waiter *next = w->next;
        w->cb(w->arg, &out, f->remember.key != NULL ? &f->remember : NULL);
        wxs__free(w);
        w = next;
    }
    if (f->remember.key != NULL && !ctx->closing)
        wxs__store_set_ex(ctx->store, f->remember.key, f->remember.key_len, f->remember.value,
                          f->remember.value_len, f->remember.ttl_s, remembered_alone, NULL);
    uv_close((uv_handle_t *)&f->poll, flight_closed);
}

static void flight_fail(wxs__flight *f, int status, const char *reason)
{
    outcome_clear(&f->result);
    f->result.status = status;
    f->result.reason = wxs__strdup(reason);
    flight_resolve(f);
}

void wxs__exchange_cancel_polls(wxs_ctx *ctx)
{
    wxs__flight *f = ctx->flights;
    while (f != NULL) {
        wxs__flight *next = f->next;
        if (uv_is_active((uv_handle_t *)&f->poll)) {
            uv_timer_stop(&f->poll);
            flight_fail(f, WXS_ECANCELED, "shutting down");
        }
        f = next;
    }
}

/* ---- the outcome and its remembered form */

static int set_str(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    *dst = wxs__strdup(src);
    return *dst == NULL ? WXS_ENOMEM : 0;
}

/* Copy WeChat's answer into o (cleared first). */
static int outcome_set(outcome *o, const wxs__exchange_result *res)
{
    outcome_clear(o);
    o->status = res->status;
    o->errcode = res->errcode;
    if (set_str(&o->errmsg, res->errmsg) < 0 || set_str(&o->openid, res->openid) < 0 ||
        set_str(&o->session_key, res->session_key) < 0 || set_str(&o->unionid, res->unionid) < 0 ||
        set_str(&o->reason, res->reason) < 0)
        return WXS_ENOMEM;
    return 0;
}

static void outcome_clear(outcome *o)
{
    wxs__free(o->errmsg);
    wxs__free(o->openid);
    wxs__free(o->session_key);
    wxs__free(o->unionid);
    wxs__free(o->reason);
    memset(o, 0, sizeof *o);
}

/* Append ,"name":"value" (JSON-escaped); nothing when value is NULL. */
static int add_member(wxs__buf *b, const char *name, const char *value)
{
    if (value == NULL)
        return 0;
    int rc = wxs__buf_printf(b, ",\"%s\":\"", name);
    if (rc == 0)
        rc = wxs__buf_add_json_escaped(b, value, strlen(value));
    return rc == 0 ? wxs__buf_add(b, "\"", 1) : rc;
}

/* The remembered result: "x" + {"status":..,"errcode":..,"errmsg":..,"openid":..,
 * "session_key":..,"unionid":..}. The leading 'x' keeps it from ever reading as a user record.
 * NULL: no memory. */
static char *outcome_encode(const outcome *o)
{
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    int rc = wxs__buf_printf(&b, "x{\"status\":%d,\"errcode\":%ld", o->status, o->errcode);
    if (rc == 0)
        rc = add_member(&b, "errmsg", o->errmsg);
    if (rc == 0)
        rc = add_member(&b, "openid", o->openid);
    if (rc == 0)
        rc = add_member(&b, "session_key", o->session_key);
    if (rc == 0)
        rc = add_member(&b, "unionid", o->unionid);
    if (rc == 0)
        rc = wxs__buf_add(&b, "}", 1);
    if (rc < 0) {
        wxs__buf_free(&b);
        return NULL;
    }
    return wxs__buf_take(&b, NULL);
}

/* Read a remembered result (what outcome_encode wrote) into o: 0, WXS_EPARSE or WXS_ENOMEM. */
static int outcome_decode(const char *val, size_t len, outcome *o)
{
    json_t *root = json_loadb(val + 1, len - 1, 0, NULL);
    if (root == NULL)
        return WXS_EPARSE;
    int rc = 0;
    json_t *status = json_object_get(root, "status");
    json_t *errcode = json_object_get(root, "errcode");
    o->status = json_is_integer(status) ? (int)json_integer_value(status) : WXS_EPARSE;
    o->errcode = json_is_integer(errcode) ? (long)json_integer_value(errcode) : 0;
    if (set_str(&o->errmsg, json_string_value(json_object_get(root, "errmsg"))) < 0 ||
        set_str(&o->openid, json_string_value(json_object_get(root, "openid"))) < 0 ||
        set_str(&o->session_key, json_string_value(json_object_get(root, "session_key"))) < 0 ||
        set_str(&o->unionid, json_string_value(json_object_get(root, "unionid"))) < 0)
        rc = WXS_ENOMEM;
    if (rc == 0 && o->status == 0 && (o->openid == NULL || o->session_key == NULL))
        rc = WXS_EPARSE;
    if (rc == 0 && o->status == WXS_EEXCHANGE && o->errmsg == NULL)
        rc = WXS_EPARSE;
    json_decref(root);
    if (rc < 0)
        outcome_clear(o);
    return rc;
}
