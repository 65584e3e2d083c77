/* access_token.c: the app's access_token, one per appId for every worker, instance and service
 * (wxsession.h "WeChat server APIs"; docs/operations.md "access_token").
 *
 * The store holds it under "access_token:<appId>" as {"accessToken","expiresAt","refreshAt"}
 * (unix milliseconds for the two times), with a TTL to its expiry. A context keeps a copy and
 * answers from it until refreshAt. Past that, one refresh per context (a flight) runs:
 *   1. read the stored token: still before its refreshAt, it is the answer;
 *   2. take the lease "access_token_lease:<appId>" (SET NX, accessToken.leaseSeconds) with a
 *      random id; the winner fetches cgi-bin/stable_token in normal mode, stores the token,
 *      releases the lease (compare, then delete: only while it is still its own);
 *   3. a loser answers the stored token while it is still valid (someone is renewing it), or
 *      looks again every POLL_MS until the flight's deadline.
 * refreshAt is three quarters of accessToken.refreshAheadSeconds before the expiry: inside
 * WeChat's renew window (the last 300 s, when stable_token hands out a new token) even when the
 * two clocks disagree by a little, so one fetch gives one new token.
 * A caller that saw 40001/42001 with a token (wxs_ctx_access_token_invalid) drops the stored
 * one only while it is still that token (compare, then delete), then the flight above runs. */
#include "access_token.h"
#include "ctx.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define POLL_MS 50
#define RECHECK_MS 1000   /* a token being renewed by another holder: look again after */
#define KEY_MAX (64 + 64) /* "access_token_lease:" + appId */
#define VALUE_MAX (WXS__ACCESS_TOKEN_MAX + 96)

typedef struct waiter {
    struct waiter *next;
    wxs_access_token_cb cb;
    void *arg;
    char *bad; /* invalid(): the token that failed; NULL for a plain get */
    int retried;
} waiter;

struct wxs__atoken {
    wxs_ctx *ctx;
    char token[WXS__ACCESS_TOKEN_MAX + 1];
    long long expires_ms; /* unix ms; 0: no copy */
    long long refresh_ms; /* unix ms: from then on, look for a newer one */
    uint64_t recheck_ms;  /* loop ms: before this, a copy past refresh_ms is still answered */
    waiter *waiters;      /* the current flight's (or the deferred answer's) */
    waiter **tail;
    waiter *next_flight; /* invalid() callers that must see a drop first */
    wxs__deferred answer;
    int answer_queued;
    wxs__deferred failed; /* a step refused at once: the flight ends on the loop's next pass */
    int fail_status;
    int busy;   /* a flight in progress */
    int leased; /* the flight holds the lease: read once more, then fetch */
    int timer_closed;
    char drop[WXS__ACCESS_TOKEN_MAX + 1];
    int has_drop;
    char lease_id[33];
    char value[VALUE_MAX]; /* the stored value read (the compare of compare-then-delete) */
    size_t value_len;
    uv_timer_t poll;
    uint64_t deadline_ms;
    int closing;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int key(const wxs_ctx *ctx, const char *family, char out[KEY_MAX + 1])
{
    int n = snprintf(out, KEY_MAX + 1, "%s%s", family, ctx->cfg->app_id);
    return n > 0 && n <= KEY_MAX ? n : WXS_ETOOBIG;
}

/* Free at once the context is closing and nothing uses it: the timer closed, no flight, no
 * queued answer. */
static void maybe_free(wxs__atoken *at)
{
    if (!at->closing || !at->timer_closed || at->busy || at->answer_queued)
        return;
    at->ctx->atoken = NULL;
    wxs__free(at);
}

/* ---------------------------------------------------------------- answers */

/* Answer every waiter of the flight: status, and the token when status is 0. An invalid()
 * caller whose bad token is the answer is kept for one more flight that drops it first. */
static void resolve(wxs__atoken *at, int status)
{
    waiter *w = at->waiters;
    at->waiters = NULL;
    at->tail = &at->waiters;
    while (w != NULL) {
        waiter *next = w->next;
        if (status == 0 && w->bad != NULL && !w->retried && strcmp(w->bad, at->token) == 0) {
            w->retried = 1;
            w->next = at->next_flight;
            at->next_flight = w;
        } else {
            w->cb(w->arg, status, status == 0 ? at->token : NULL,
                  status == 0 ? at->expires_ms / 1000 : 0);
            wxs__free(w->bad);
            wxs__free(w);
        }
        w = next;
    }
}

static void flight_start(wxs__atoken *at);
static void lease_release(wxs__atoken *at);
static int step_ended(wxs__atoken *at, int status, int ok_status);

/* The flight ended (status; at->token when 0): answer, then run the next flight if callers
 * wait for one. */
static void flight_end(wxs__atoken *at, int status)
{
    wxs_ctx *ctx = at->ctx;
    if (at->leased && !at->closing)
        lease_release(at); /* ours (compare, then delete): the next holder need not wait */
    at->busy = 0;
    at->leased = 0;
    uv_timer_stop(&at->poll);
    resolve(at, at->closing ? WXS_ECANCELED : status);
    /* a callback may have started a flight: then the callers that wait for a drop wait for its
     * end, which comes back here */
    if (at->next_flight != NULL && (at->closing || !at->busy)) {
        waiter *w = at->next_flight;
        at->next_flight = NULL;
        snprintf(at->drop, sizeof at->drop, "%s", w->bad);
        at->has_drop = 1;
        at->expires_ms = 0; /* the copy is the bad token */
        while (w != NULL) {
            waiter *next = w->next;
            w->next = NULL;
            *at->tail = w;
            at->tail = &w->next;
            w = next;
        }
        if (at->closing)
            resolve(at, WXS_ECANCELED);
        else
            flight_start(at);
    }
    maybe_free(at);
    wxs__ctx_unref(ctx); /* the flight's */
}

/* The deferred answer of waiters served from the copy. */
static void answer_now(wxs__deferred *d)
{
    wxs__atoken *at = WXS__CONTAINER_OF(d, wxs__atoken, answer);
    wxs_ctx *ctx = at->ctx;
    at->answer_queued = 0;
    if (!at->busy)
        resolve(at, at->closing ? WXS_ECANCELED : 0);
    maybe_free(at);
    wxs__ctx_unref(ctx);
}

/* ---------------------------------------------------------------- the stored value */

/* Parse a stored value into token, expires and refresh (unix ms). 0 or WXS_EPARSE. */
static int value_parse(const char *val, size_t len, char token[WXS__ACCESS_TOKEN_MAX + 1],
                       long long *expires, long long *refresh)
{
    json_error_t jerr;
    json_t *root = json_loadb(val, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *t = json_object_get(root, "accessToken");
    json_t *e = json_object_get(root, "expiresAt");
    json_t *r = json_object_get(root, "refreshAt");
    int rc = WXS_EPARSE;
    if (json_is_string(t) && json_string_length(t) > 0 &&
        json_string_length(t) <= WXS__ACCESS_TOKEN_MAX &&
        strlen(json_string_value(t)) == json_string_length(t) && json_is_integer(e) &&
        json_is_integer(r)) {
        memcpy(token, json_string_value(t), json_string_length(t) + 1);
        *expires = (long long)json_integer_value(e);
        *refresh = (long long)json_integer_value(r);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- the flight */

static void on_read(void *arg, int status, const char *val, size_t len);
static void on_lease(void *arg, int status);
static void fetch(wxs__atoken *at);
static void on_fetched(void *arg, const wxs__call_result *res);

static void failed_later(wxs__deferred *d)
{
    wxs__atoken *at = WXS__CONTAINER_OF(d, wxs__atoken, failed);
    step_ended(at, at->fail_status, 0);
}

/* A step that the store or the client refused at once (rc < 0): the flight ends on the loop's
 * next pass, so that no caller is answered inside the call that asked (the first step runs
 * from wxs_ctx_access_token itself). */
static void step_refused(wxs__atoken *at, int rc)
{
    at->fail_status = rc;
    wxs__defer_call(&at->ctx->later, &at->failed, failed_later);
}

static void read_stored(wxs__atoken *at)
{
    char k[KEY_MAX + 1];
    int n = key(at->ctx, "access_token:", k);
    int rc = n < 0 ? n : wxs__store_get(at->ctx->store, k, (size_t)n, on_read, at);
    if (rc < 0)
        step_refused(at, rc);
}

static void poll_fired(uv_timer_t *t)
{
    read_stored(t->data);
}

/* Look again shortly, or give up at the deadline. */
static void poll_later(wxs__atoken *at)
{
    if (uv_now(at->ctx->loop) >= at->deadline_ms) {
        wxs__warn("access_token: no token within the refresh deadline (another holder's lease)");
        flight_end(at, WXS_ETIMEDOUT);
        return;
    }
    uv_timer_start(&at->poll, poll_fired, POLL_MS, 0);
}

/* A store step answered: 1 when that ended the flight (the context is closing, or the step
 * failed with a status other than ok_status), else 0. */
static int step_ended(wxs__atoken *at, int status, int ok_status)
{
    if (at->closing)
        flight_end(at, WXS_ECANCELED);
    else if (status < 0 && status != ok_status)
        flight_end(at, at->expires_ms > now_ms() ? 0 : status); /* a valid copy beats none */
    else
        return 0;
    return 1;
}

static void on_dropped(void *arg, int status)
{
    wxs__atoken *at = arg;
    if (!step_ended(at, status, 0))
        read_stored(at); /* gone (or replaced meanwhile): read again */
}

static void on_read(void *arg, int status, const char *val, size_t len)
{
    wxs__atoken *at = arg;
    wxs_ctx *ctx = at->ctx;
    char token[WXS__ACCESS_TOKEN_MAX + 1];
    long long expires = 0, refresh = 0, now = now_ms();
    if (step_ended(at, status, WXS_ENOTFOUND))
        return;
    int have = status == 0 && len < sizeof at->value &&
               value_parse(val, len, token, &expires, &refresh) == 0 && now < expires;
    if (status == 0 && !have && len > 0)
        wxs__debug("access_token: the stored value is unreadable or expired; fetching");
    if (have && at->has_drop && strcmp(token, at->drop) == 0) {
        at->has_drop = 0;
        memcpy(at->value, val, len);
        at->value_len = len;
        char k[KEY_MAX + 1];
        int n = key(ctx, "access_token:", k);
        int rc = n < 0 ? n
                       : wxs__store_del_eq(ctx->store, k, (size_t)n, at->value, at->value_len,
                                           on_dropped, at);
        if (rc < 0)
            step_refused(at, rc);
        return;
    }
    at->has_drop = 0;
    if (have) {
        memcpy(at->token, token, strlen(token) + 1);
        at->expires_ms = expires;
        at->refresh_ms = refresh;
        if (now < refresh) { /* current (renewed by the holder of the lease we just took?) */
            flight_end(at, 0);
            return;
        }
    }
    if (at->leased) { /* still due after taking the lease: this flight fetches */
        fetch(at);
        return;
    }
    /* none, or due for renewal: the lease decides who fetches */
    unsigned char id[16];
    if (RAND_bytes(id, sizeof id) != 1) {
        step_refused(at, WXS_EIO);
        return;
    }
    for (size_t i = 0; i < sizeof id; i++)
        snprintf(at->lease_id + 2 * i, 3, "%02x", id[i]);
    char k[KEY_MAX + 1];
    int n = key(ctx, "access_token_lease:", k);
    int rc =
        n < 0 ? n
              : wxs__store_set_nx_ex(ctx->store, k, (size_t)n, at->lease_id, strlen(at->lease_id),
                                     ctx->cfg->access_token_lease_s, on_lease, at);
    if (rc < 0)
        step_refused(at, rc);
}

/* stable_token's body: {"grant_type":"client_credential","appid":..,"secret":..,
 * "force_refresh":false}. It holds the app secret: wiped by the caller. */
static int fetch_body(const wxs_ctx *ctx, wxs__buf *b)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "grant_type", "client_credential", "appid",
                          ctx->cfg->app_id, "secret", ctx->cfg->app_secret, "force_refresh", 0);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc = text != NULL ? wxs__buf_adds(b, text) : WXS_ENOMEM;
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(o);
    return rc;
}

static void on_lease(void *arg, int status)
{
    wxs__atoken *at = arg;
    wxs_ctx *ctx = at->ctx;
    long long now = now_ms();
    if (step_ended(at, status, 0))
        return;
    if (status == 0) { /* another holder is fetching */
        if (at->expires_ms > now) {
            at->recheck_ms = uv_now(ctx->loop) + RECHECK_MS;
            flight_end(at, 0); /* the old token is still valid meanwhile */
        } else
            poll_later(at);
        return;
    }
    /* ours: read once more, since a holder may have stored a new token between our read and
     * our lease (it released its lease after storing) */
    at->leased = 1;
    read_stored(at);
}

/* Fetch the token (the lease is ours). */
static void fetch(wxs__atoken *at)
{
    wxs_ctx *ctx = at->ctx;
    wxs__buf body;
    wxs__buf_init(&body, 4096);
    int rc = fetch_body(ctx, &body);
    if (rc == 0)
        rc = wxs__wechat_call(ctx->wechat, "stable_token", "/cgi-bin/stable_token", body.data,
                              body.len, on_fetched, at);
    if (body.data != NULL)
        explicit_bzero(body.data, body.len);
    wxs__buf_free(&body);
    if (rc < 0)
        step_refused(at, rc);
}

static void lease_released(void *arg, int status)
{
    wxs_ctx *ctx = arg;
    if (status < 0 && status != WXS_ECANCELED)
        wxs__debug("access_token: lease not released (%s); it expires by itself",
                   wxs_strerror(status));
    wxs__ctx_unref(ctx);
}

/* Release the lease while it is ours (compare, then delete). */
static void lease_release(wxs__atoken *at)
{
    wxs_ctx *ctx = at->ctx;
    char k[KEY_MAX + 1];
    int n = key(ctx, "access_token_lease:", k);
    if (n < 0 || ctx->closing)
        return;
    wxs__ctx_ref(ctx);
    if (wxs__store_del_eq(ctx->store, k, (size_t)n, at->lease_id, strlen(at->lease_id),
                          lease_released, ctx) < 0)
        wxs__ctx_unref(ctx);
}

static void stored(void *arg, int status)
{
    wxs__atoken *at = arg;
    if (status < 0 && status != WXS_ECANCELED)
        wxs__warn("access_token: fetched but not stored (%s): other holders fetch their own",
                  wxs_strerror(status));
    flight_end(at, 0); /* the token is good whether or not the store kept it */
}

static void on_fetched(void *arg, const wxs__call_result *res)
{
    wxs__atoken *at = arg;
    wxs_ctx *ctx = at->ctx;
    long long now = now_ms();
    json_t *t = res->root != NULL ? json_object_get(res->root, "access_token") : NULL;
    json_t *e = res->root != NULL ? json_object_get(res->root, "expires_in") : NULL;
    if (res->status == WXS_EEXCHANGE)
        wxs__warn("access_token: stable_token refused: errcode %ld (%s)", res->errcode,
                  res->errmsg);
    int ok = res->status == 0 && json_is_string(t) && json_string_length(t) > 0 &&
             json_string_length(t) <= WXS__ACCESS_TOKEN_MAX &&
             strlen(json_string_value(t)) == json_string_length(t) && json_is_integer(e) &&
             json_integer_value(e) > 0 && json_integer_value(e) <= 86400;
    if (!ok) {
        int status = res->status < 0 ? res->status : WXS_EUPSTREAM;
        if (res->status == 0)
            wxs__warn("access_token: stable_token's reply lacks access_token or expires_in");
        /* a token still valid is better than none */
        flight_end(at, at->expires_ms > now ? 0 : status);
        return;
    }
    long long life_ms = (long long)json_integer_value(e) * 1000;
    long long ahead_ms = ctx->cfg->access_token_ahead_s * 1000;
    memcpy(at->token, json_string_value(t), json_string_length(t) + 1);
    at->expires_ms = now + life_ms;
    at->refresh_ms = at->expires_ms - ahead_ms * 3 / 4;
    if (at->refresh_ms <= now) /* a life shorter than the window: renew half way */
        at->refresh_ms = now + life_ms / 2;
    if (at->closing) {
        flight_end(at, WXS_ECANCELED);
        return;
    }
    char k[KEY_MAX + 1];
    int n = key(ctx, "access_token:", k);
    json_t *o = json_pack("{s:s, s:I, s:I}", "accessToken", at->token, "expiresAt",
                          (json_int_t)at->expires_ms, "refreshAt", (json_int_t)at->refresh_ms);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    long long ttl = (life_ms + 999) / 1000;
    int rc = n < 0 ? n
             : text == NULL
                 ? WXS_ENOMEM
                 : wxs__store_set_ex(ctx->store, k, (size_t)n, text, strlen(text), ttl, stored, at);
    free(text);
    if (rc < 0)
        stored(at, rc);
}

/* Start a flight (at->waiters already queued): hold the context, read the store. */
static void flight_start(wxs__atoken *at)
{
    wxs_ctx *ctx = at->ctx;
    const wxs_config *cfg = ctx->cfg;
    at->busy = 1;
    wxs__ctx_ref(ctx);
    at->deadline_ms = uv_now(ctx->loop) + (uint64_t)cfg->wechat_timeout_ms +
                      (uint64_t)cfg->wechat_connect_timeout_ms +
                      (uint64_t)cfg->access_token_lease_s * 1000;
    read_stored(at);
}

/* ---------------------------------------------------------------- entry points */

static wxs__atoken *atoken_of(wxs_ctx *ctx)
{
    if (ctx->atoken != NULL)
        return ctx->atoken;
    wxs__atoken *at = wxs__calloc(1, sizeof *at);
    if (at == NULL)
        return NULL;
    at->ctx = ctx;
    at->tail = &at->waiters;
    uv_timer_init(ctx->loop, &at->poll);
    at->poll.data = at;
    ctx->atoken = at;
    return at;
}

static int request(wxs_ctx *ctx, const char *bad, size_t bad_len, wxs_access_token_cb cb, void *arg)
{
    if (ctx == NULL || cb == NULL ||
        (bad != NULL && (bad_len == 0 || bad_len > WXS__ACCESS_TOKEN_MAX)))
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    wxs__atoken *at = atoken_of(ctx);
    waiter *w = wxs__calloc(1, sizeof *w);
    if (at == NULL || w == NULL) {
        wxs__free(w);
        return WXS_ENOMEM;
    }
    w->cb = cb;
    w->arg = arg;
    if (bad != NULL && (w->bad = wxs__strndup(bad, bad_len)) == NULL) {
        wxs__free(w);
        return WXS_ENOMEM;
    }
    int copy_is_bad = bad != NULL && at->expires_ms > 0 && strcmp(at->token, w->bad) == 0;
    if (copy_is_bad)
        at->expires_ms = 0;
    *at->tail = w;
    at->tail = &w->next;
    if (at->busy) /* the flight answers it (one that answers the bad token: see resolve()) */
        return 0;
    long long now = now_ms();
    int fresh =
        at->expires_ms > now && (now < at->refresh_ms || uv_now(ctx->loop) < at->recheck_ms);
    if (fresh && bad == NULL) {
        if (!at->answer_queued) {
            at->answer_queued = 1;
            wxs__ctx_ref(ctx);
            wxs__defer_call(&ctx->later, &at->answer, answer_now);
        }
        return 0;
    }
    if (bad != NULL) {
        snprintf(at->drop, sizeof at->drop, "%s", w->bad);
        at->has_drop = 1;
        w->retried = 1;
    }
    at->recheck_ms = 0;
    flight_start(at);
    return 0;
}

int wxs_ctx_access_token(wxs_ctx *ctx, wxs_access_token_cb cb, void *arg)
{
    return request(ctx, NULL, 0, cb, arg);
}

int wxs_ctx_access_token_invalid(wxs_ctx *ctx, const char *token, size_t len,
                                 wxs_access_token_cb cb, void *arg)
{
    return token == NULL ? WXS_EINVAL : request(ctx, token, len, cb, arg);
}

static void atoken_closed(uv_handle_t *h)
{
    wxs__atoken *at = h->data;
    wxs_ctx *ctx = at->ctx;
    at->timer_closed = 1;
    maybe_free(at);
    wxs__ctx_unref(ctx);
}

void wxs__access_token_close(wxs_ctx *ctx)
{
    wxs__atoken *at = ctx->atoken;
    if (at == NULL)
        return;
    at->closing = 1;
    if (uv_is_active((uv_handle_t *)&at->poll)) { /* a flight waiting to look again */
        uv_timer_stop(&at->poll);
        flight_end(at, WXS_ECANCELED);
    }
    /* a flight in the store or at WeChat ends with their WXS_ECANCELED; the memory goes once the
     * timer's handle has closed and the flight has ended (maybe_free) */
    wxs__ctx_ref(ctx);
    uv_close((uv_handle_t *)&at->poll, atoken_closed);
}
