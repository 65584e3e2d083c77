/* test_access_token.c: the app's access_token (lib/access_token.c) and the WeChat server APIs
 * called with it (lib/wechat_api.c) on the fake store and fake WeChat client
 * (tests/unit/session_fakes.h). Every call also checks the callback rule: no callback before the
 * call returned, exactly one after. */
#include "ctx.h"
#include "session_fakes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_PASSES 200000 /* bounds every wait on the loop */
#define APP_ID "wxapp"
#define TOKEN_KEY "access_token:" APP_ID
#define LEASE_KEY "access_token_lease:" APP_ID
#define AHEAD_S 600 /* accessToken.refreshAheadSeconds: refreshAt is 3/4 of it before expiry */
#define LEASE_S 10

/* ------------------------------------------------------------ fixture */

/* One context on its own fake store, data and WeChat. */
typedef struct side {
    wxs_config cfg;
    fake_data data;
    fake_store *st; /* owned by ctx */
    fake_wechat *wx;
    wxs_ctx *ctx;
} side;

typedef struct fixture {
    uv_loop_t loop;
    side s;
} fixture;

static void side_open(side *sd, uv_loop_t *loop)
{
    memset(sd, 0, sizeof *sd);
    sd->cfg.app_id = APP_ID;
    sd->cfg.app_secret = "app-secret";
    sd->cfg.access_token_ahead_s = AHEAD_S;
    sd->cfg.access_token_lease_s = LEASE_S;
    sd->cfg.wechat_timeout_ms = 3000;
    sd->cfg.wechat_connect_timeout_ms = 3000;
    sd->cfg.limit_json_depth = 16;
    sd->data.now_s = 1000;
    sd->st = fake_store_new(loop, &sd->data);
    sd->wx = fake_wechat_new(loop);
    assert_int_equal(wxs__ctx_new_with(&sd->ctx, loop, &sd->cfg, &sd->st->base, &sd->wx->base), 0);
}

/* Free the context (no-op when already freed) and run the loop until it let go of everything. */
static void side_close(side *sd, uv_loop_t *loop)
{
    wxs_ctx_free(sd->ctx);
    sd->ctx = NULL;
    for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    fake_data_clear(&sd->data);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    side_open(&fx->s, &fx->loop);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    side_close(&fx->s, &fx->loop);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* every handle closed */
    free(fx);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A stored access_token as lib/access_token.c writes it (value_parse reads it back). */
static void put_stored(side *sd, const char *token, long long expires_ms, long long refresh_ms)
{
    char val[256];
    snprintf(val, sizeof val, "{\"accessToken\":\"%s\",\"expiresAt\":%lld,\"refreshAt\":%lld}",
             token, expires_ms, refresh_ms);
    fake_data_put(&sd->data, TOKEN_KEY, val, 7200);
}

/* The stored token's field, or "" / -1 when none. */
static const char *stored_token(side *sd, char out[64])
{
    fake_entry *e = fake_data_find(&sd->data, TOKEN_KEY);
    json_t *root = e != NULL ? json_loads(e->val, 0, NULL) : NULL;
    json_t *t = json_object_get(root, "accessToken");
    snprintf(out, 64, "%s", json_is_string(t) ? json_string_value(t) : "");
    json_decref(root);
    return out;
}

static const char *lease_of(side *sd)
{
    fake_entry *e = fake_data_find(&sd->data, LEASE_KEY);
    return e != NULL ? e->val : NULL;
}

static int store_ops(const side *sd)
{
    int n = 0;
    for (int i = 0; i < OP_COUNT; i++)
        n += sd->st->calls[i];
    return n;
}

static int api_calls(const side *sd)
{
    int n = 0;
    for (int i = 0; i < FAKE_API_COUNT; i++)
        n += sd->wx->api_calls[i];
    return n;
}

/* ------------------------------------------------------------ answers */

typedef struct tok_answer {
    int calls;
    int returned;
    int early;
    int status;
    char token[600];
    long long expires_at;
} tok_answer;

static void on_token(void *arg, int status, const char *token, long long expires_at)
{
    tok_answer *a = arg;
    a->calls++;
    a->early |= !a->returned;
    a->status = status;
    snprintf(a->token, sizeof a->token, "%s", token != NULL ? token : "");
    a->expires_at = expires_at;
}

typedef struct api_answer {
    int calls;
    int returned;
    int early;
    int status;
    long errcode;
    char errmsg[64];
    char json[1024];
    size_t json_len;
    char session_key[128];
} api_answer;

static void on_api(void *arg, const wxs_api_result *res)
{
    api_answer *a = arg;
    a->calls++;
    a->early |= !a->returned;
    a->status = res->status;
    a->errcode = res->errcode;
    snprintf(a->errmsg, sizeof a->errmsg, "%s", res->errmsg != NULL ? res->errmsg : "");
    snprintf(a->json, sizeof a->json, "%.*s", (int)res->json_len,
             res->json != NULL ? res->json : "");
    a->json_len = res->json_len;
    snprintf(a->session_key, sizeof a->session_key, "%s",
             res->session_key != NULL ? res->session_key : "");
}

/* Run the loop until *count reaches target (bounded). */
static void wait_for(fixture *fx, const int *count, int target)
{
    for (int pass = 0; pass < MAX_PASSES && *count < target; pass++)
        uv_run(&fx->loop, UV_RUN_ONCE);
}

static void wait_tokens(fixture *fx, tok_answer *a, int n)
{
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        int done = 1;
        for (int i = 0; i < n; i++)
            done &= a[i].calls > 0;
        if (done)
            break;
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(a[i].calls, 1);
        assert_false(a[i].early);
    }
}

/* Start a get (the rule checked at its return) without waiting. */
static void start_get(side *sd, tok_answer *a)
{
    memset(a, 0, sizeof *a);
    assert_int_equal(wxs_ctx_access_token(sd->ctx, on_token, a), 0);
    a->returned = 1;
    assert_int_equal(a->calls, 0);
}

static int get_token(fixture *fx, tok_answer *a)
{
    start_get(&fx->s, a);
    wait_tokens(fx, a, 1);
    return a->status;
}

static int invalid_token(fixture *fx, const char *bad, tok_answer *a)
{
    memset(a, 0, sizeof *a);
    assert_int_equal(wxs_ctx_access_token_invalid(fx->s.ctx, bad, strlen(bad), on_token, a), 0);
    a->returned = 1;
    assert_int_equal(a->calls, 0);
    wait_tokens(fx, a, 1);
    return a->status;
}

static void api_started(api_answer *a, int rc)
{
    assert_int_equal(rc, 0);
    a->returned = 1;
    assert_int_equal(a->calls, 0);
}

static void wait_api(fixture *fx, api_answer *a)
{
    wait_for(fx, &a->calls, 1);
    assert_int_equal(a->calls, 1);
    assert_false(a->early);
}

static int phone(fixture *fx, const char *code, api_answer *a)
{
    memset(a, 0, sizeof *a);
    api_started(a, wxs_ctx_phone_number(fx->s.ctx, FAKE_OPENID, code, strlen(code), on_api, a));
    wait_api(fx, a);
    return a->status;
}

/* ------------------------------------------------------------ the access_token */

/* Many callers at once: one read before the lease and one after taking it (a holder may have
 * stored a token in between), one lease, one fetch, one write, one release; every caller gets
 * the token and its expiry, none before its call returned. */
static void test_concurrent_calls_share_one_fetch(void **state)
{
    enum { N = 20 };
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a[N];
    long long t0 = time(NULL);
    for (int i = 0; i < N; i++)
        start_get(sd, &a[i]);
    wait_tokens(fx, a, N);
    long long t1 = time(NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].status, 0);
        assert_string_equal(a[i].token, "AT-1");
        assert_true(a[i].expires_at >= t0 + 7200 && a[i].expires_at <= t1 + 7200);
    }
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    assert_int_equal(api_calls(sd), 1);
    assert_int_equal(sd->st->calls[OP_GET], 2);
    assert_int_equal(sd->st->calls[OP_SET_NX], 1);
    assert_int_equal(sd->st->calls[OP_SET], 1);
    assert_int_equal(sd->st->calls[OP_DEL_EQ], 1); /* the lease's release */
    assert_int_equal(sd->st->calls[OP_DEL], 0);
    /* stable_token in normal mode, POSTed */
    assert_string_equal(sd->wx->last_path, "/cgi-bin/stable_token");
    assert_true(sd->wx->last_post);
    json_t *body = json_loads(sd->wx->last_body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "grant_type")),
                        "client_credential");
    assert_string_equal(json_string_value(json_object_get(body, "appid")), APP_ID);
    assert_string_equal(json_string_value(json_object_get(body, "secret")), "app-secret");
    assert_true(json_is_false(json_object_get(body, "force_refresh")));
    assert_int_equal(json_object_size(body), 4);
    json_decref(body);
    /* stored for the other holders, in the form value_parse reads */
    fake_entry *e = fake_data_find(&sd->data, TOKEN_KEY);
    assert_non_null(e);
    json_t *v = json_loads(e->val, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "accessToken")), "AT-1");
    long long expires = json_integer_value(json_object_get(v, "expiresAt"));
    assert_int_equal(expires / 1000, a[0].expires_at);
    assert_int_equal(json_integer_value(json_object_get(v, "refreshAt")),
                     expires - AHEAD_S * 1000 * 3 / 4);
    json_decref(v);
    assert_true(e->expires_s >= sd->data.now_s + 7199 && e->expires_s <= sd->data.now_s + 7200);
    wait_for(fx, &sd->st->del_eqs_answered, 1); /* the release, asked before the answers */
    assert_true(sd->st->del_eqs[0].deleted);
    assert_null(lease_of(sd));
}

/* Within the copy's life a call makes no I/O (and still answers on the loop). */
static void test_copy_answers_without_io(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a, b[3];
    assert_int_equal(get_token(fx, &a), 0);
    int ops = store_ops(sd), calls = api_calls(sd);
    for (int i = 0; i < 3; i++)
        start_get(sd, &b[i]);
    wait_tokens(fx, b, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b[i].status, 0);
        assert_string_equal(b[i].token, a.token);
        assert_int_equal(b[i].expires_at, a.expires_at);
    }
    assert_int_equal(store_ops(sd), ops);
    assert_int_equal(api_calls(sd), calls);
}

/* A current token in the store is the answer: no lease, no fetch. */
static void test_stored_current_token(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-stored", now + 7000 * 1000LL, now + 6000 * 1000LL);
    tok_answer a;
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(a.token, "T-stored");
    assert_int_equal(a.expires_at, (now + 7000 * 1000LL) / 1000);
    assert_int_equal(sd->st->calls[OP_GET], 1);
    assert_int_equal(sd->st->calls[OP_SET_NX], 0);
    assert_int_equal(api_calls(sd), 0);
}

/* Past its refreshAt, still valid, and another holder has the lease (it is renewing it): the
 * stored token is answered, no fetch, the other's lease left alone. */
static void test_due_token_with_lease_elsewhere(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-old", now + 200 * 1000LL, now - 1000);
    fake_data_put(&sd->data, LEASE_KEY, "someone-else", LEASE_S);
    tok_answer a;
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(a.token, "T-old");
    assert_int_equal(sd->st->calls[OP_SET_NX], 1);
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 0);
    assert_int_equal(sd->st->calls[OP_DEL_EQ], 0);
    assert_string_equal(lease_of(sd), "someone-else");
    /* asked again at once: the copy is answered, the store not asked again so soon */
    int ops = store_ops(sd);
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(a.token, "T-old");
    assert_int_equal(store_ops(sd), ops);
}

/* Expired, and another holder has the lease: the flight looks again until that holder has
 * stored a new token, then answers it; it fetches nothing itself. */
static void test_expired_token_with_lease_elsewhere_polls(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-expired", now - 1000, now - 100000);
    fake_data_put(&sd->data, LEASE_KEY, "someone-else", LEASE_S);
    tok_answer a;
    start_get(sd, &a);
    wait_for(fx, &sd->st->calls[OP_GET], 3); /* looked again, twice */
    assert_int_equal(a.calls, 0);            /* still waiting */
    now = now_ms();
    put_stored(sd, "T-new", now + 7000 * 1000LL, now + 6000 * 1000LL); /* the holder stored it */
    wait_tokens(fx, &a, 1);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.token, "T-new");
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 0);
    assert_int_equal(sd->st->calls[OP_DEL_EQ], 0);
    assert_string_equal(lease_of(sd), "someone-else");
}

/* After a fetch the lease is released by compare-then-delete of our own id. */
static void test_lease_released_after_fetch(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a;
    sd->wx->hold = 1;
    start_get(sd, &a);
    wait_for(fx, &sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    char id[64];
    assert_non_null(lease_of(sd)); /* ours while we fetch */
    snprintf(id, sizeof id, "%s", lease_of(sd));
    assert_int_equal(strlen(id), 32);
    fake_wechat_release(sd->wx);
    wait_tokens(fx, &a, 1);
    assert_int_equal(a.status, 0);
    wait_for(fx, &sd->st->del_eqs_answered, 1);
    assert_int_equal(sd->st->del_eqs_answered, 1);
    assert_string_equal(sd->st->del_eqs[0].key, LEASE_KEY);
    assert_string_equal(sd->st->del_eqs[0].val, id);
    assert_true(sd->st->del_eqs[0].deleted);
    assert_null(lease_of(sd));
}

/* Our lease ran out during the fetch and another holder took it: it is not deleted. */
static void test_lease_no_longer_ours_is_kept(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a;
    sd->wx->hold = 1;
    start_get(sd, &a);
    wait_for(fx, &sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    fake_data_put(&sd->data, LEASE_KEY, "someone-else", LEASE_S);
    fake_wechat_release(sd->wx);
    wait_tokens(fx, &a, 1);
    assert_int_equal(a.status, 0);
    wait_for(fx, &sd->st->del_eqs_answered, 1);
    assert_int_equal(sd->st->del_eqs_answered, 1);
    assert_false(sd->st->del_eqs[0].deleted);
    assert_string_equal(lease_of(sd), "someone-else");
}

/* stable_token refused or unreachable, no token to fall back on: the failure, the lease
 * released, nothing stored; the next call tries again. */
static void test_fetch_fails(void **state)
{
    static const struct {
        long errcode;
        int unreachable;
        long expires_in;
        int want;
    } cases[] = {
        {40013, 0, 7200, WXS_EEXCHANGE},
        {40125, 0, 7200, WXS_EEXCHANGE},
        {0, WXS_ETIMEDOUT, 7200, WXS_ETIMEDOUT},
        {0, WXS_EIO, 7200, WXS_EIO},
        {0, WXS_EUPSTREAM, 7200, WXS_EUPSTREAM},
        {0, 0, 0, WXS_EUPSTREAM},     /* a reply without a usable life */
        {0, 0, 86401, WXS_EUPSTREAM}, /* longer than WeChat ever gives */
    };
    fixture *fx = *state;
    side *sd = &fx->s;
    char t[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sd->wx->token_errcode = cases[i].errcode;
        sd->wx->unreachable[FAKE_API_STABLE_TOKEN] = cases[i].unreachable;
        sd->wx->expires_in = cases[i].expires_in;
        tok_answer a;
        int rc = get_token(fx, &a);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, wxs_err_name(rc), wxs_err_name(cases[i].want));
        assert_string_equal(a.token, "");
        assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], (int)i + 1);
        wait_for(fx, &sd->st->del_eqs_answered, (int)i + 1);
        assert_null(lease_of(sd));
        assert_string_equal(stored_token(sd, t), "");
    }
    sd->wx->token_errcode = 0;
    sd->wx->unreachable[FAKE_API_STABLE_TOKEN] = 0;
    sd->wx->expires_in = 7200;
    tok_answer a;
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(stored_token(sd, t), a.token);
}

/* A fetch that fails while the old token is still valid: the old token is answered. */
static void test_fetch_fails_old_token_answered(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-old", now + 200 * 1000LL, now - 1000);
    tok_answer a;
    sd->wx->unreachable[FAKE_API_STABLE_TOKEN] = WXS_ETIMEDOUT;
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(a.token, "T-old");
    assert_int_equal(a.expires_at, (now + 200 * 1000LL) / 1000);
    sd->wx->unreachable[FAKE_API_STABLE_TOKEN] = 0;
    sd->wx->token_errcode = 45009;
    assert_int_equal(get_token(fx, &a), 0); /* due again: another fetch, refused */
    assert_string_equal(a.token, "T-old");
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 2);
    wait_for(fx, &sd->st->del_eqs_answered, 2);
    assert_null(lease_of(sd));
}

/* The store fails: reading it, WXS_ESTORE; storing a fetched token, the token is answered all
 * the same (other holders fetch their own). */
static void test_store_fails(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a;
    sd->st->fail_later[OP_GET] = WXS_ESTORE;
    assert_int_equal(get_token(fx, &a), WXS_ESTORE);
    assert_int_equal(api_calls(sd), 0);
    sd->st->fail_later[OP_GET] = 0;
    sd->st->fail_later[OP_SET] = WXS_ESTORE;
    assert_int_equal(get_token(fx, &a), 0);
    assert_string_equal(a.token, "AT-1");
}

/* The store refuses the first read at once (fail_now: a store that is down refuses its ops
 * before queueing them): the failure still comes through the loop, after the call returned. */
static void test_store_refuses_at_once(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a;
    api_answer p;
    memset(&a, 0, sizeof a);
    memset(&p, 0, sizeof p);
    sd->st->fail_now[OP_GET] = WXS_ESTORE;
    assert_int_equal(wxs_ctx_access_token(sd->ctx, on_token, &a), 0);
    if (a.calls != 0)
        fail_msg("wxs_ctx_access_token called back (%s) before it returned "
                 "(lib/access_token.c flight_start -> read_stored -> flight_end)",
                 wxs_err_name(a.status));
    a.returned = 1;
    wait_tokens(fx, &a, 1);
    assert_int_equal(a.status, WXS_ESTORE);
    assert_int_equal(wxs_ctx_phone_number(sd->ctx, FAKE_OPENID, "c", 1, on_api, &p), 0);
    if (p.calls != 0)
        fail_msg("wxs_ctx_phone_number called back (%s) before it returned",
                 wxs_err_name(p.status));
    p.returned = 1;
    wait_api(fx, &p);
    assert_int_equal(p.status, WXS_ESTORE);
    assert_int_equal(api_calls(sd), 0);
}

/* The store fails while a token it gave is still valid (past its refreshAt): that token is
 * answered, as when stable_token fails (test_fetch_fails_old_token_answered). */
static void test_store_fails_valid_token_answered(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-old", now + 200 * 1000LL, now - 1000);
    sd->st->fail_later[OP_SET_NX] = WXS_ESTORE; /* the lease cannot be taken */
    tok_answer a;
    int rc = get_token(fx, &a);
    if (rc != 0)
        fail_msg("the store failed taking the lease: got %s, want the still valid token T-old "
                 "(lib/access_token.c on_lease)",
                 wxs_err_name(rc));
    assert_string_equal(a.token, "T-old");
}

/* Passive refresh while a flight is fetching the very token reported bad: the flight's answer
 * is not given to that caller; a second flight drops it and fetches a new one. */
static void test_invalid_during_flight(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    tok_answer a, b;
    sd->wx->hold = 1;
    start_get(sd, &a);
    wait_for(fx, &sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    memset(&b, 0, sizeof b);
    assert_int_equal(wxs_ctx_access_token_invalid(sd->ctx, "AT-1", 4, on_token, &b), 0);
    b.returned = 1;
    fake_wechat_release(sd->wx);
    wait_tokens(fx, &a, 1);
    wait_tokens(fx, &b, 1);
    assert_string_equal(a.token, "AT-1");
    assert_int_equal(b.status, 0);
    assert_string_equal(b.token, "AT-2");
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 2);
    char t[64];
    assert_string_equal(stored_token(sd, t), "AT-2");
}

/* A caller that asks again from its callback (here: it finds the answer refused and passes it
 * back as invalid) while another caller waits for a drop of the same token: one flight at a
 * time, every caller answered once, one fetch per token. */
typedef struct reentrant {
    side *sd;
    tok_answer first; /* the plain get's answer */
    tok_answer again; /* the invalid() its callback made */
} reentrant;

static void on_token_then_invalid(void *arg, int status, const char *token, long long expires_at)
{
    reentrant *r = arg;
    on_token(&r->first, status, token, expires_at);
    if (status == 0) {
        memset(&r->again, 0, sizeof r->again);
        assert_int_equal(
            wxs_ctx_access_token_invalid(r->sd->ctx, token, strlen(token), on_token, &r->again), 0);
        r->again.returned = 1;
    }
}

static void test_invalid_from_a_callback(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    reentrant r = {.sd = sd};
    tok_answer b;
    sd->wx->hold = 1;
    assert_int_equal(wxs_ctx_access_token(sd->ctx, on_token_then_invalid, &r), 0);
    r.first.returned = 1;
    wait_for(fx, &sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    memset(&b, 0, sizeof b);
    assert_int_equal(wxs_ctx_access_token_invalid(sd->ctx, "AT-1", 4, on_token, &b), 0);
    b.returned = 1;
    fake_wechat_release(sd->wx);
    sd->wx->hold = 0;
    wait_tokens(fx, &r.first, 1);
    wait_tokens(fx, &r.again, 1);
    wait_tokens(fx, &b, 1);
    assert_string_equal(r.first.token, "AT-1");
    assert_int_equal(r.again.status, 0);
    assert_string_equal(r.again.token, "AT-2");
    assert_int_equal(b.status, 0);
    assert_string_equal(b.token, "AT-2");
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 2);
    char t[64];
    assert_string_equal(stored_token(sd, t), "AT-2");
}

/* Passive refresh with the stored token: exactly that value is dropped, then one fetch. */
static void test_invalid_drops_that_token(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-bad", now + 7000 * 1000LL, now + 6000 * 1000LL);
    char stored[256];
    snprintf(stored, sizeof stored, "%s", fake_data_find(&sd->data, TOKEN_KEY)->val);
    tok_answer a;
    assert_int_equal(invalid_token(fx, "T-bad", &a), 0);
    assert_string_equal(a.token, "AT-1");
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    assert_true(sd->st->del_eqs_answered >= 1);
    assert_string_equal(sd->st->del_eqs[0].key, TOKEN_KEY);
    assert_string_equal(sd->st->del_eqs[0].val, stored);
    assert_true(sd->st->del_eqs[0].deleted);
    char t[64];
    assert_string_equal(stored_token(sd, t), "AT-1");
    assert_int_equal(sd->st->calls[OP_DEL], 0); /* never a plain delete */
}

/* Passive refresh with a token that is no longer the stored one: no drop, no fetch, the stored
 * one answered. */
static void test_invalid_other_token_kept(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    long long now = now_ms();
    put_stored(sd, "T-current", now + 7000 * 1000LL, now + 6000 * 1000LL);
    tok_answer a;
    assert_int_equal(invalid_token(fx, "T-older", &a), 0);
    assert_string_equal(a.token, "T-current");
    assert_int_equal(sd->st->calls[OP_DEL_EQ], 0);
    assert_int_equal(sd->st->calls[OP_DEL], 0);
    assert_int_equal(api_calls(sd), 0);
    char t[64];
    assert_string_equal(stored_token(sd, t), "T-current");
}

/* ------------------------------------------------------------ the server APIs */

static void assert_phone_body(fixture *fx, const char *code)
{
    json_t *body = json_loads(fx->s.wx->last_body, 0, NULL);
    assert_non_null(body);
    assert_int_equal(json_object_size(body), 2);
    assert_string_equal(json_string_value(json_object_get(body, "code")), code);
    assert_string_equal(json_string_value(json_object_get(body, "openid")), FAKE_OPENID);
    json_decref(body);
    assert_true(fx->s.wx->last_post);
}

static void test_phone_number(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    api_answer a;
    assert_int_equal(phone(fx, "pc-1", &a), 0);
    assert_string_equal(a.json, FAKE_PHONE_INFO_COMPACT);
    assert_int_equal(a.json_len, strlen(FAKE_PHONE_INFO_COMPACT));
    assert_string_equal(a.session_key, "");
    assert_string_equal(sd->wx->last_path, "/wxa/business/getuserphonenumber?access_token=AT-1");
    assert_phone_body(fx, "pc-1");
    assert_int_equal(sd->wx->api_calls[FAKE_API_PHONE], 1);
}

/* 40001 once: the token that failed is dropped (compare, then delete), a new one fetched, the
 * call made again once with it. */
static void test_phone_number_retried_once_on_40001(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    sd->wx->phone_invalid_first = 1;
    api_answer a;
    assert_int_equal(phone(fx, "pc-1", &a), 0);
    assert_string_equal(a.json, FAKE_PHONE_INFO_COMPACT);
    assert_int_equal(sd->wx->api_calls[FAKE_API_PHONE], 2);
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 2);
    assert_string_equal(sd->wx->last_path, "/wxa/business/getuserphonenumber?access_token=AT-2");
    assert_phone_body(fx, "pc-1");
    int dropped = 0;
    for (int i = 0; i < sd->st->del_eqs_answered; i++)
        if (strcmp(sd->st->del_eqs[i].key, TOKEN_KEY) == 0) {
            assert_non_null(strstr(sd->st->del_eqs[i].val, "\"AT-1\""));
            assert_true(sd->st->del_eqs[i].deleted);
            dropped++;
        }
    assert_int_equal(dropped, 1);
    char t[64];
    assert_string_equal(stored_token(sd, t), "AT-2");
}

/* 40001 again with the fresh token: one retry only, WeChat's answer surfaced. */
static void test_phone_number_40001_twice(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    sd->wx->phone_invalid_first = 2;
    api_answer a;
    assert_int_equal(phone(fx, "pc-1", &a), WXS_EEXCHANGE);
    assert_int_equal(a.errcode, 40001);
    assert_string_equal(a.errmsg, "refused");
    assert_string_equal(a.json, "");
    assert_int_equal(sd->wx->api_calls[FAKE_API_PHONE], 2);
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 2);
}

/* Any other refusal is answered at once: the API is billed per call. */
static void test_phone_number_refused_not_retried(void **state)
{
    static const long errcodes[] = {40029, 45011, 1400001, -1};
    fixture *fx = *state;
    side *sd = &fx->s;
    for (size_t i = 0; i < sizeof errcodes / sizeof errcodes[0]; i++) {
        sd->wx->phone_errcode = errcodes[i];
        api_answer a;
        assert_int_equal(phone(fx, "pc-1", &a), WXS_EEXCHANGE);
        assert_int_equal(a.errcode, errcodes[i]);
        assert_string_equal(a.json, "");
        assert_int_equal(sd->wx->api_calls[FAKE_API_PHONE], (int)i + 1);
    }
    assert_int_equal(sd->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
}

/* A reply without phone_info: WXS_EUPSTREAM. The access_token's failure: the call's status. */
static void test_phone_number_bad_reply_and_no_token(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    api_answer a;
    sd->wx->phone_info = "\"not an object\"";
    assert_int_equal(phone(fx, "pc-1", &a), WXS_EUPSTREAM);
    assert_string_equal(a.json, "");
    side_close(sd, &fx->loop);
    side_open(sd, &fx->loop);
    sd->wx->token_errcode = 40013;
    assert_int_equal(phone(fx, "pc-1", &a), WXS_EEXCHANGE);
    assert_int_equal(sd->wx->api_calls[FAKE_API_PHONE], 0);
}

/* hex of HMAC-SHA256 keyed with key over "", computed here with OpenSSL directly. */
static void hmac_hex(const char *key, char hex[65])
{
    unsigned char mac[32];
    unsigned int n = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)"", 0, mac, &n));
    assert_int_equal(n, 32);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static void test_check_session_key(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    char sig[65], want[512];
    hmac_hex(FAKE_SESSION_KEY, sig);
    snprintf(want, sizeof want,
             "/wxa/checksession?access_token=AT-1&signature=%s&openid=" FAKE_OPENID
             "&sig_method=hmac_sha256",
             sig);
    api_answer a;
    memset(&a, 0, sizeof a);
    api_started(&a, wxs_ctx_check_session_key(sd->ctx, FAKE_OPENID, FAKE_SESSION_KEY, on_api, &a));
    wait_api(fx, &a);
    assert_int_equal(a.status, 0);
    assert_string_equal(sd->wx->last_path, want);
    assert_false(sd->wx->last_post);
    sd->wx->check_errcode = 87009;
    memset(&a, 0, sizeof a);
    api_started(&a, wxs_ctx_check_session_key(sd->ctx, FAKE_OPENID, FAKE_SESSION_KEY, on_api, &a));
    wait_api(fx, &a);
    assert_int_equal(a.status, WXS_ESTALE);
    assert_int_equal(a.errcode, 87009);
    assert_int_equal(sd->wx->api_calls[FAKE_API_CHECK], 2);
}

static void test_reset_session_key(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    char sig[65], want[512];
    hmac_hex(FAKE_SESSION_KEY, sig);
    snprintf(want, sizeof want,
             "/wxa/resetusersessionkey?access_token=AT-1&signature=%s&openid=" FAKE_OPENID
             "&sig_method=hmac_sha256",
             sig);
    api_answer a;
    memset(&a, 0, sizeof a);
    api_started(&a, wxs_ctx_reset_session_key(sd->ctx, FAKE_OPENID, FAKE_SESSION_KEY, on_api, &a));
    wait_api(fx, &a);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.session_key, FAKE_NEW_SESSION_KEY);
    assert_string_equal(sd->wx->last_path, want);
    assert_false(sd->wx->last_post);
}

/* WeChat's public vector of the user login state signature. */
static void test_session_key_signature_vector(void **state)
{
    (void)state;
    char hex[65], want[65];
    const char *key = "o0q0otL8aEzpcZL/FT9WsQ==";
    wxs_session_key_signature(key, strlen(key), "{\"foo\":\"bar\"}", 13, hex);
    assert_string_equal(hex, "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b");
    wxs_session_key_signature(key, strlen(key), "", 0, hex);
    hmac_hex(key, want);
    assert_string_equal(hex, want);
    wxs_session_key_signature(key, strlen(key), NULL, 0, hex);
    assert_string_equal(hex, want);
}

/* Bad arguments are refused at once; nothing is called back, nothing asked. */
static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    side *sd = &fx->s;
    wxs_ctx *ctx = sd->ctx;
    tok_answer t;
    api_answer a;
    memset(&t, 0, sizeof t);
    memset(&a, 0, sizeof a);
    char long_openid[130], long_key[66], long_code[1026], long_token[514];
    memset(long_openid, 'o', sizeof long_openid - 1);
    long_openid[sizeof long_openid - 1] = '\0';
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    memset(long_code, 'c', sizeof long_code - 1);
    long_code[sizeof long_code - 1] = '\0';
    memset(long_token, 't', sizeof long_token - 1);
    long_token[sizeof long_token - 1] = '\0';
    assert_int_equal(wxs_ctx_access_token(NULL, on_token, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token(ctx, NULL, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token_invalid(NULL, "T", 1, on_token, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token_invalid(ctx, NULL, 0, on_token, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token_invalid(ctx, "", 0, on_token, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token_invalid(ctx, "T", 1, NULL, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_access_token_invalid(ctx, long_token, 513, on_token, &t), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(NULL, FAKE_OPENID, "c", 1, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, NULL, "c", 1, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, "", "c", 1, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, long_openid, "c", 1, on_api, &a), WXS_ETOOBIG);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, NULL, 1, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, "c", 0, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, "c\0d", 3, on_api, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, long_code, 1025, on_api, &a),
                     WXS_ETOOBIG);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, "c", 1, NULL, &a), WXS_EINVAL);
    int (*const key_calls[])(wxs_ctx *, const char *, const char *, wxs_api_cb,
                             void *) = {wxs_ctx_check_session_key, wxs_ctx_reset_session_key};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(key_calls[i](NULL, FAKE_OPENID, "k", on_api, &a), WXS_EINVAL);
        assert_int_equal(key_calls[i](ctx, NULL, "k", on_api, &a), WXS_EINVAL);
        assert_int_equal(key_calls[i](ctx, "", "k", on_api, &a), WXS_EINVAL);
        assert_int_equal(key_calls[i](ctx, long_openid, "k", on_api, &a), WXS_ETOOBIG);
        assert_int_equal(key_calls[i](ctx, FAKE_OPENID, NULL, on_api, &a), WXS_EINVAL);
        assert_int_equal(key_calls[i](ctx, FAKE_OPENID, "", on_api, &a), WXS_EINVAL);
        assert_int_equal(key_calls[i](ctx, FAKE_OPENID, long_key, on_api, &a), WXS_ETOOBIG);
        assert_int_equal(key_calls[i](ctx, FAKE_OPENID, "k", NULL, &a), WXS_EINVAL);
    }
    for (int i = 0; i < 100; i++)
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(t.calls, 0);
    assert_int_equal(a.calls, 0);
    assert_int_equal(store_ops(sd), 0);
    assert_int_equal(api_calls(sd), 0);
    /* a closing context refuses too */
    wxs_ctx_free(ctx);
    assert_int_equal(wxs_ctx_access_token(ctx, on_token, &t), WXS_ECANCELED);
    assert_int_equal(wxs_ctx_phone_number(ctx, FAKE_OPENID, "c", 1, on_api, &a), WXS_ECANCELED);
    assert_int_equal(wxs_ctx_check_session_key(ctx, FAKE_OPENID, "k", on_api, &a), WXS_ECANCELED);
    sd->ctx = NULL;
    for (int i = 0; i < 1000 && uv_run(&fx->loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    assert_int_equal(t.calls, 0);
    assert_int_equal(a.calls, 0);
}

/* ------------------------------------------------------------ shutdown */

/* Free contexts with a flight at every step (the store op held, the stable_token call held, a
 * poll timer waiting, an answer from the copy queued): every waiter, and every API call waiting
 * for the token, ends with WXS_ECANCELED; the loop closes with nothing left (ASan: no leak). */
static void test_free_with_flights_in_progress(void **state)
{
    enum { SIDES = 4 };
    fixture *fx = *state;
    side *sd = calloc(SIDES, sizeof *sd);
    tok_answer t[SIDES];
    api_answer p[SIDES];
    /* 0: the store read held */
    side_open(&sd[0], &fx->loop);
    sd[0].st->hold = 1;
    /* 1: stable_token held at WeChat */
    side_open(&sd[1], &fx->loop);
    sd[1].wx->hold = 1;
    /* 2: polling: no token, another holder's lease */
    side_open(&sd[2], &fx->loop);
    fake_data_put(&sd[2].data, LEASE_KEY, "someone-else", LEASE_S);
    for (int i = 0; i < 3; i++) {
        start_get(&sd[i], &t[i]);
        memset(&p[i], 0, sizeof p[i]);
        api_started(&p[i], wxs_ctx_phone_number(sd[i].ctx, FAKE_OPENID, "c", 1, on_api, &p[i]));
    }
    wait_for(fx, &sd[1].wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    wait_for(fx, &sd[2].st->calls[OP_SET_NX], 2); /* looked again; its lease refused next */
    for (int i = 0; i < 10; i++)
        uv_run(&fx->loop, UV_RUN_NOWAIT); /* the refusal answered: the poll timer waits */
    assert_int_equal(sd[0].st->calls[OP_GET], 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t[i].calls, 0);
        assert_int_equal(p[i].calls, 0);
    }
    /* 3: a copy, then answers queued from it (the loop does not run before the free) */
    side_open(&sd[3], &fx->loop);
    tok_answer first;
    start_get(&sd[3], &first);
    wait_tokens(fx, &first, 1);
    assert_int_equal(first.status, 0);
    start_get(&sd[3], &t[3]);
    memset(&p[3], 0, sizeof p[3]);
    api_started(&p[3], wxs_ctx_phone_number(sd[3].ctx, FAKE_OPENID, "c", 1, on_api, &p[3]));
    for (int i = 0; i < SIDES; i++) {
        assert_int_equal(sd[i].wx->api_calls[FAKE_API_PHONE], 0); /* all wait for the token */
        wxs_ctx_free(sd[i].ctx); /* the fakes go with the context: not read after this */
        sd[i].ctx = NULL;
    }
    for (int i = 0; i < SIDES; i++) {
        wait_tokens(fx, &t[i], 1);
        wait_api(fx, &p[i]);
        if (t[i].status != WXS_ECANCELED || p[i].status != WXS_ECANCELED)
            fail_msg("side %d: got %s and %s, want WXS_ECANCELED", i, wxs_err_name(t[i].status),
                     wxs_err_name(p[i].status));
    }
    for (int i = 0; i < SIDES; i++)
        side_close(&sd[i], &fx->loop);
    free(sd);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_concurrent_calls_share_one_fetch),
        T(test_copy_answers_without_io),
        T(test_stored_current_token),
        T(test_due_token_with_lease_elsewhere),
        T(test_expired_token_with_lease_elsewhere_polls),
        T(test_lease_released_after_fetch),
        T(test_lease_no_longer_ours_is_kept),
        T(test_fetch_fails),
        T(test_fetch_fails_old_token_answered),
        T(test_store_fails),
        T(test_store_refuses_at_once),
        T(test_store_fails_valid_token_answered),
        T(test_invalid_during_flight),
        T(test_invalid_from_a_callback),
        T(test_invalid_drops_that_token),
        T(test_invalid_other_token_kept),
        T(test_phone_number),
        T(test_phone_number_retried_once_on_40001),
        T(test_phone_number_40001_twice),
        T(test_phone_number_refused_not_retried),
        T(test_phone_number_bad_reply_and_no_token),
        T(test_check_session_key),
        T(test_reset_session_key),
        cmocka_unit_test(test_session_key_signature_vector),
        T(test_bad_arguments),
        T(test_free_with_flights_in_progress),
    };
#undef T
    return cmocka_run_group_tests_name("access_token", tests, NULL, NULL);
}
