/* test_session.c: the session state machine (lib/weapp.c, lib/exchange.c, lib/ctx.c) driven
 * through wxs_ctx_authenticate and wxs__exchange_start, on a fake store and a fake WeChat
 * client (ops tables that answer through the loop and count their calls). Every request also
 * checks the library's callback rule: no callback runs before the call that started it
 * returned, and each runs exactly once. */
#include "ctx.h"
#include "exchange.h"
#include "session_fakes.h"
#include "stats.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define OPENID FAKE_OPENID
#define SESSION_KEY FAKE_SESSION_KEY
#define RAW "{\"nickName\":\"n\"}"
#define MAX_PASSES 200000 /* bounds every wait on the loop */

/* ------------------------------------------------------------ fixture and requests */

typedef struct fixture {
    uv_loop_t loop;
    wxs_config cfg;
    fake_data data;
    fake_store *st; /* owned by ctx */
    fake_wechat *wx;
    wxs_ctx *ctx;
} fixture;

static wxs_ctx *ctx_on(fixture *fx, fake_store **st, fake_wechat **wx)
{
    wxs_ctx *ctx = NULL;
    *st = fake_store_new(&fx->loop, &fx->data);
    *wx = fake_wechat_new(&fx->loop);
    assert_int_equal(wxs__ctx_new_with(&ctx, &fx->loop, &fx->cfg, &(*st)->base, &(*wx)->base), 0);
    return ctx;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cfg.session_ttl = 7200;
    fx->cfg.wechat_timeout_ms = 0; /* a concurrent exchange elsewhere is waited for 2 s */
    fx->cfg.wechat_connect_timeout_ms = 0;
    fx->cfg.limit_code_bytes = 64;
    fx->cfg.limit_raw_data_bytes = 256;
    fx->cfg.limit_json_depth = 16;
    fx->data.now_s = 1000;
    fx->ctx = ctx_on(fx, &fx->st, &fx->wx);
    *state = fx;
    return 0;
}

/* Free the context, run the loop until every handle closed: a handle left open fails. */
static int teardown(void **state)
{
    fixture *fx = *state;
    wxs_ctx_free(fx->ctx);
    for (int i = 0; i < 1000 && uv_run(&fx->loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fake_data_clear(&fx->data);
    free(fx);
    return 0;
}

/* What one request was answered. */
typedef struct answer {
    int calls;
    int returned; /* the starting call has returned */
    int early;    /* a callback ran before it had */
    wxs_auth_kind kind;
    int status;
    int http;
    char text[1024]; /* user JSON or reject body */
    char openid[64];
    int login;  /* wxs_auth_result.login */
    int result; /* wxs_auth_result.result */
} answer;

static void on_answer(void *arg, const wxs_auth_result *res)
{
    answer *a = arg;
    a->calls++;
    a->early |= !a->returned;
    a->kind = res->kind;
    a->status = res->status;
    a->http = res->http_status;
    const char *t = res->kind == WXS_AUTH_USER ? res->user_json : res->body;
    size_t n = res->kind == WXS_AUTH_USER ? res->user_len : res->body_len;
    snprintf(a->text, sizeof a->text, "%.*s", (int)n, t != NULL ? t : "");
    snprintf(a->openid, sizeof a->openid, "%s", res->openid != NULL ? res->openid : "");
    a->login = res->login;
    a->result = res->result;
}

/* Start a request on ctx; asserts the callback rule for the start. sign: 1 a good signature of
 * raw, 0 a wrong one. */
static int start(wxs_ctx *ctx, const char *code, const char *raw, int sign, answer *a)
{
    char sig[41] = "0123456789abcdef0123456789abcdef01234567";
    wxs_auth_request req = {.code = code, .code_len = code != NULL ? strlen(code) : 0};
    if (raw != NULL) {
        req.raw_data = raw;
        req.raw_data_len = strlen(raw);
        if (sign)
            wxs_signature(raw, strlen(raw), SESSION_KEY, strlen(SESSION_KEY), sig);
        req.signature = sig;
        req.signature_len = 40;
    }
    memset(a, 0, sizeof *a);
    int rc = wxs_ctx_authenticate(ctx, &req, on_answer, a);
    a->returned = 1;
    assert_int_equal(a->calls, 0); /* the rule: never before the call returns */
    return rc;
}

/* Run the loop until every answer came (bounded), then check each came once, in time. */
static void wait_answers(fixture *fx, answer *a, int n)
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

/* Let the writes that follow an answer (a remembered result written on its own) land. */
static void settle(fixture *fx)
{
    for (int pass = 0; pass < 20; pass++)
        uv_run(&fx->loop, UV_RUN_NOWAIT);
}

static void exchange_key(const char *code, char key[80])
{
    char hex[65];
    wxs__sha256_hex(code, strlen(code), hex);
    snprintf(key, 80, "exchange:%s", hex);
}

/* The value under code's exchange key, or NULL. */
static const char *remembered(fixture *fx, const char *code)
{
    char key[80];
    exchange_key(code, key);
    fake_entry *e = fake_data_find(&fx->data, key);
    return e != NULL ? e->val : NULL;
}

static void put_remembered_success(fixture *fx, const char *code)
{
    char key[80];
    exchange_key(code, key);
    fake_data_put(&fx->data, key,
                  "x{\"status\":0,\"errcode\":0,\"openid\":\"" OPENID
                  "\",\"session_key\":\"" SESSION_KEY "\"}",
                  300);
}

/* ------------------------------------------------------------ one request, table-driven */

typedef struct request_case {
    const char *name;
    const char *code;
    const char *raw;
    int sign;
    void (*arrange)(fixture *fx);
    wxs_auth_kind kind;
    int http;
    const char *text_has; /* in the user JSON or the reject body */
    int exchanges;        /* WeChat calls */
    int remembered;       /* 1: the code's exchange is remembered after; 0: no key */
} request_case;

static void arrange_session(fixture *fx)
{
    fake_data_put(&fx->data, "c-hit", "{\"nickName\":\"n\",\"openId\":\"" OPENID "\"}", 60);
}
static void arrange_openid_key(fixture *fx)
{
    fake_data_put(&fx->data, OPENID, "\"c-other\"", 60);
}
static void arrange_claim_key(fixture *fx)
{
    fake_data_put(&fx->data, "c-claim", "p", 60);
}
static void arrange_busy(fixture *fx)
{
    fake_wechat_says(fx->wx, -1);
}
static void arrange_quota(fixture *fx)
{
    fake_wechat_says(fx->wx, 45011);
}
static void arrange_invalid_code(fixture *fx)
{
    fake_wechat_says(fx->wx, 40029);
}
static void arrange_used_code(fixture *fx)
{
    fake_wechat_says(fx->wx, 40163);
}
static void arrange_claim_fails(fixture *fx)
{
    fx->st->fail_later[OP_SET_NX] = WXS_ESTORE;
}
static void arrange_claim_refused(fixture *fx)
{
    fx->st->fail_now[OP_SET_NX] = WXS_ESTORE;
}
static void arrange_lookup_fails(fixture *fx)
{
    char key[80];
    exchange_key("c-login", key);
    fake_data_put(&fx->data, key, "p", 60); /* another instance holds the claim */
    fx->st->fail_later[OP_GET] = WXS_ESTORE;
}
static void arrange_write_fails(fixture *fx)
{
    fx->st->fail_later[OP_LOGIN] = WXS_ESTORE;
}
static void arrange_write_refused(fixture *fx)
{
    fx->st->fail_now[OP_LOGIN] = WXS_ESTORE;
}
static void arrange_get_fails(fixture *fx)
{
    fx->st->fail_later[OP_GET] = WXS_ESTORE;
}
static void arrange_get_refused(fixture *fx)
{
    fx->st->fail_now[OP_GET] = WXS_ESTORE;
}

#define LONG_CODE "c-0123456789012345678901234567890123456789012345678901234567890123456789"
#define BIG_RAW                                                                                    \
    "{\"nickName\":\"0123456789012345678901234567890123456789012345678901234567890123456789"       \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"     \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567\"}"

static const request_case request_cases[] = {
    {"anonymous", NULL, NULL, 0, NULL, WXS_AUTH_ANONYMOUS, 200, "", 0, 0},
    {"code too long", LONG_CODE, NULL, 0, NULL, WXS_AUTH_REJECT, 400, "ERR_CODE_TOO_LONG", 0, 0},
    {"code too long, login", LONG_CODE, RAW, 1, NULL, WXS_AUTH_REJECT, 400, "ERR_CODE_TOO_LONG", 0,
     0},
    {"rawData too large", "c-login", BIG_RAW, 1, NULL, WXS_AUTH_REJECT, 431,
     "ERR_RAW_DATA_TOO_LARGE", 0, 0},
    {"rawData malformed escape", "c-login", "%E0%A4%A", 1, NULL, WXS_AUTH_REJECT, 200, "URIError",
     0, 0},
    {"rawData not JSON", "c-login", "{bad", 1, NULL, WXS_AUTH_REJECT, 200, "SyntaxError", 0, 0},
    {"login", "c-login", RAW, 1, NULL, WXS_AUTH_USER, 200, "\"openId\":\"" OPENID "\"", 1, 1},
    {"bad signature", "c-login", RAW, 0, NULL, WXS_AUTH_REJECT, 200, "ERR_UNTRUSTED_RAW_DATA", 1,
     1},
    {"WeChat busy", "c-login", RAW, 1, arrange_busy, WXS_AUTH_REJECT, 200,
     "ERR_SESSION_KEY_EXCHANGE_FAILED", 1, 0},
    {"WeChat quota", "c-login", RAW, 1, arrange_quota, WXS_AUTH_REJECT, 200,
     "ERR_SESSION_KEY_EXCHANGE_FAILED", 1, 0},
    {"invalid code (40029)", "c-login", RAW, 1, arrange_invalid_code, WXS_AUTH_REJECT, 200, "40029",
     1, 1},
    {"used code (40163)", "c-login", RAW, 1, arrange_used_code, WXS_AUTH_REJECT, 200, "40163", 1,
     1},
    {"code-only hit", "c-hit", NULL, 0, arrange_session, WXS_AUTH_USER, 200, OPENID, 0, 0},
    {"code-only miss", "c-miss", NULL, 0, NULL, WXS_AUTH_REJECT, 200, "ERR_SESSION_EXPIRED", 0, 0},
    {"code-only openId key", OPENID, NULL, 0, arrange_openid_key, WXS_AUTH_REJECT, 200,
     "ERR_SESSION_EXPIRED", 0, 0},
    {"code-only claim key", "c-claim", NULL, 0, arrange_claim_key, WXS_AUTH_REJECT, 200,
     "ERR_SESSION_EXPIRED", 0, 0},
    {"store down: claim", "c-login", RAW, 1, arrange_claim_fails, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 0, 0},
    {"store down at once: claim", "c-login", RAW, 1, arrange_claim_refused, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 0, 0},
    {"store down: look-up", "c-login", RAW, 1, arrange_lookup_fails, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 0, -1},
    /* the failed write carried the remembered result: lost with it, the code is exchanged again */
    {"store down: login write", "c-login", RAW, 1, arrange_write_fails, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 1, 0},
    {"store down at once: login write", "c-login", RAW, 1, arrange_write_refused, WXS_AUTH_REJECT,
     503, "ERR_STORE_UNAVAILABLE", 1, 1},
    {"store down: code-only", "c-hit", NULL, 0, arrange_get_fails, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 0, 0},
    {"store down at once: code-only", "c-hit", NULL, 0, arrange_get_refused, WXS_AUTH_REJECT, 503,
     "ERR_STORE_UNAVAILABLE", 0, 0},
};

static void test_requests(void **state)
{
    for (size_t i = 0; i < sizeof request_cases / sizeof request_cases[0]; i++) {
        const request_case *c = &request_cases[i];
        fixture *fx = NULL;
        answer a;
        print_message("    %s\n", c->name);
        setup((void **)&fx);
        if (c->arrange != NULL)
            c->arrange(fx);
        assert_int_equal(start(fx->ctx, c->code, c->raw, c->sign, &a), 0);
        wait_answers(fx, &a, 1);
        settle(fx);
        assert_int_equal(a.kind, c->kind);
        assert_int_equal(a.http, c->http);
        if (strstr(a.text, c->text_has) == NULL)
            fail_msg("%s: '%s' not in '%s'", c->name, c->text_has, a.text);
        assert_int_equal(fx->wx->calls, c->exchanges);
        if (c->code != NULL && c->remembered >= 0) {
            const char *r = remembered(fx, c->code);
            assert_int_equal(r != NULL && r[0] == 'x', c->remembered);
        }
        teardown((void **)&fx);
    }
    (void)state;
}

/* ------------------------------------------------------------ the exchange */

/* N requests with one code on one context: one claim, one exchange, N users. */
static void test_single_flight(void **state)
{
    fixture *fx = *state;
    answer a[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(start(fx->ctx, "c-flight", RAW, 1, &a[i]), 0);
    wait_answers(fx, a, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(a[i].kind, WXS_AUTH_USER);
        assert_string_equal(a[i].openid, OPENID);
    }
    assert_int_equal(fx->wx->calls, 1);
    assert_int_equal(fx->st->calls[OP_SET_NX], 1);
    assert_int_equal(fx->st->calls[OP_SET], 0); /* remembered by a login write: no round trip */
    assert_non_null(remembered(fx, "c-flight"));
}

/* A second context on the same store (another worker) gets the remembered result. */
static void test_remembered_across_contexts(void **state)
{
    fixture *fx = *state;
    fake_store *st2;
    fake_wechat *wx2;
    wxs_ctx *ctx2 = ctx_on(fx, &st2, &wx2);
    answer a, b;
    assert_int_equal(start(fx->ctx, "c-shared", RAW, 1, &a), 0);
    wait_answers(fx, &a, 1);
    assert_int_equal(start(ctx2, "c-shared", RAW, 1, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.kind, WXS_AUTH_USER);
    assert_string_equal(b.openid, OPENID);
    assert_int_equal(fx->wx->calls, 1);
    assert_int_equal(wx2->calls, 0);
    wxs_ctx_free(ctx2);
}

/* Another instance holds the claim: poll until its remembered result appears. */
static void test_claim_held_elsewhere(void **state)
{
    fixture *fx = *state;
    char key[80];
    answer a;
    exchange_key("c-held", key);
    fake_data_put(&fx->data, key, "p", 10);
    assert_int_equal(start(fx->ctx, "c-held", RAW, 1, &a), 0);
    for (int pass = 0; pass < MAX_PASSES && fx->st->calls[OP_GET] < 2; pass++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_int_equal(a.calls, 0); /* still waiting */
    put_remembered_success(fx, "c-held");
    wait_answers(fx, &a, 1);
    assert_int_equal(a.kind, WXS_AUTH_USER);
    assert_int_equal(fx->wx->calls, 0);
}

/* The claim is never released: the wait ends with a timeout. */
static void test_timeout_waiting_for_concurrent_exchange(void **state)
{
    fixture *fx = *state;
    char key[80];
    answer a;
    exchange_key("c-stuck", key);
    fake_data_put(&fx->data, key, "p", 60);
    assert_int_equal(start(fx->ctx, "c-stuck", RAW, 1, &a), 0);
    wait_answers(fx, &a, 1);
    assert_int_equal(a.kind, WXS_AUTH_REJECT);
    assert_int_equal(a.status, WXS_ETIMEDOUT);
    assert_int_equal(fx->wx->calls, 0);
}

/* Busy (-1) and quota (45011) release the claim: a retry exchanges again. 40029 and 40163 are
 * remembered: a retry gets the same answer without asking WeChat. */
static void test_retry_after_refusal(void **state)
{
    static const struct {
        long errcode;
        int exchanges_after_retry;
    } cases[] = {{-1, 2}, {45011, 2}, {40029, 1}, {40163, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture *fx = NULL;
        answer a, b;
        setup((void **)&fx);
        fake_wechat_says(fx->wx, cases[i].errcode);
        assert_int_equal(start(fx->ctx, "c-retry", RAW, 1, &a), 0);
        wait_answers(fx, &a, 1);
        assert_int_equal(start(fx->ctx, "c-retry", RAW, 1, &b), 0);
        wait_answers(fx, &b, 1);
        assert_int_equal(b.kind, WXS_AUTH_REJECT);
        assert_int_equal(b.status, WXS_EEXCHANGE);
        assert_string_equal(b.text, a.text);
        assert_int_equal(fx->wx->calls, cases[i].exchanges_after_retry);
        teardown((void **)&fx);
    }
    (void)state;
}

/* A session lives session_ttl seconds (the store's TTL). */
static void test_session_expires(void **state)
{
    fixture *fx = *state;
    answer a, b, c;
    assert_int_equal(start(fx->ctx, "c-ttl", RAW, 1, &a), 0);
    wait_answers(fx, &a, 1);
    assert_int_equal(start(fx->ctx, "c-ttl", NULL, 0, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.kind, WXS_AUTH_USER);
    fx->data.now_s += fx->cfg.session_ttl;
    assert_int_equal(start(fx->ctx, "c-ttl", NULL, 0, &c), 0);
    wait_answers(fx, &c, 1);
    assert_int_equal(c.kind, WXS_AUTH_REJECT);
    assert_non_null(strstr(c.text, "ERR_SESSION_EXPIRED"));
}

/* A second login of the user ends the first session (one live session per user). */
static void test_one_session_per_user(void **state)
{
    fixture *fx = *state;
    answer a, b, c;
    assert_int_equal(start(fx->ctx, "c-first", RAW, 1, &a), 0);
    wait_answers(fx, &a, 1);
    assert_int_equal(start(fx->ctx, "c-second", RAW, 1, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(start(fx->ctx, "c-first", NULL, 0, &c), 0);
    wait_answers(fx, &c, 1);
    assert_non_null(strstr(c.text, "ERR_SESSION_EXPIRED"));
}

/* The exchange on its own (a token login): its waiters may leave the remembered result
 * uncarried; the exchange then writes it itself. */
typedef struct outcome_seen {
    int calls;
    int returned;
    int early;
    int status;
    char openid[64];
    int offered; /* a remembered result was offered */
} outcome_seen;

static void on_outcome(void *arg, const wxs__exchange_outcome *out, wxs__remember *remember)
{
    outcome_seen *o = arg;
    o->calls++;
    o->early |= !o->returned;
    o->status = out->status;
    snprintf(o->openid, sizeof o->openid, "%s", out->openid != NULL ? out->openid : "");
    o->offered += remember != NULL;
}

static void test_exchange_entry_point(void **state)
{
    fixture *fx = *state;
    outcome_seen o[3];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(wxs__exchange_start(fx->ctx, "c-token", 7, on_outcome, &o[i]), 0);
        o[i].returned = 1;
        assert_int_equal(o[i].calls, 0);
    }
    for (int pass = 0; pass < MAX_PASSES && (o[2].calls == 0 || fx->st->calls[OP_SET] == 0); pass++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_false(o[i].early);
        assert_int_equal(o[i].status, 0);
        assert_string_equal(o[i].openid, OPENID);
        assert_int_equal(o[i].offered, 1); /* nobody carried it: offered to each */
    }
    assert_int_equal(fx->wx->calls, 1);
    for (int pass = 0; pass < 100 && remembered(fx, "c-token") == NULL; pass++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_non_null(remembered(fx, "c-token")); /* written on its own */
    assert_int_equal(wxs__exchange_start(fx->ctx, "c-token", 7, NULL, NULL), WXS_EINVAL);
}

/* ------------------------------------------------------------ shutdown */

/* Free the context with requests at every step: each still answers once (503 for those that
 * cannot finish), and the loop ends with every handle closed (ASan checks for leaks). */
static void test_free_with_requests_in_flight(void **state)
{
    fixture *fx = *state;
    answer a[6];
    char key[80];
    exchange_key("c-polling", key);
    fake_data_put(&fx->data, key, "p", 60);
    fx->wx->hold = 1;
    assert_int_equal(start(fx->ctx, "c-wechat", RAW, 1, &a[0]), 0);  /* will wait on WeChat */
    assert_int_equal(start(fx->ctx, "c-polling", RAW, 1, &a[1]), 0); /* will poll */
    for (int pass = 0; pass < MAX_PASSES && (fx->wx->calls == 0 || fx->st->calls[OP_GET] == 0);
         pass++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    fx->st->hold = 1;
    assert_int_equal(start(fx->ctx, "c-claiming", RAW, 1, &a[2]), 0); /* claim held */
    assert_int_equal(start(fx->ctx, "c-only", NULL, 0, &a[3]), 0);    /* look-up held */
    assert_int_equal(start(fx->ctx, NULL, NULL, 0, &a[4]), 0);        /* anonymous, queued */
    assert_int_equal(start(fx->ctx, LONG_CODE, NULL, 0, &a[5]), 0);   /* rejected, queued */
    wxs_ctx_free(fx->ctx);
    fx->ctx = NULL;
    for (int i = 0; i < 6; i++)
        a[i].returned = 1;
    wait_answers(fx, a, 6);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a[i].kind, WXS_AUTH_REJECT);
        assert_int_equal(a[i].http, 503);
    }
    assert_int_equal(a[4].kind, WXS_AUTH_ANONYMOUS);
    assert_int_equal(a[5].http, 400);
}

/* Arguments refused at once never call back; freeing NULL is a no-op. */
/* ------------------------------------------------------------ statistics */

static wxs_stats stats_of(const wxs_ctx *ctx)
{
    wxs_stats st;
    memset(&st, 0, sizeof st);
    wxs_ctx_stats_add(ctx, &st);
    return st;
}

/* Every path counts once, by its result, and tells its result in the answer too. */
static void test_statistics(void **state)
{
    fixture *fx = *state;
    answer a[5], b;
    for (int i = 0; i < 5; i++) /* one exchange, four local joins */
        assert_int_equal(start(fx->ctx, "c-stats", RAW, 1, &a[i]), 0);
    wait_answers(fx, a, 5);
    assert_true(a[0].login && a[0].result == WXS_LOGIN_OK);
    assert_int_equal(start(fx->ctx, "c-stats", NULL, 0, &b), 0); /* code-only */
    wait_answers(fx, &b, 1);
    assert_true(!b.login && b.result == WXS_LOOKUP_OK);
    assert_int_equal(start(fx->ctx, "c-none", NULL, 0, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.result, WXS_LOOKUP_SESSION_EXPIRED);
    assert_int_equal(start(fx->ctx, "c-badsig", RAW, 0, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.result, WXS_LOGIN_UNTRUSTED_RAW_DATA);
    assert_int_equal(start(fx->ctx, "c-junk", "%E5%BE", 1, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.result, WXS_LOGIN_MALFORMED_RAW_DATA);
    fake_wechat_says(fx->wx, 40029);
    assert_int_equal(start(fx->ctx, "c-40029", RAW, 1, &b), 0);
    wait_answers(fx, &b, 1);
    assert_true(b.login && b.result == WXS_LOGIN_EXCHANGE_FAILED);
    fx->st->fail_later[OP_GET] = WXS_ESTORE;
    assert_int_equal(start(fx->ctx, "c-stats", NULL, 0, &b), 0);
    wait_answers(fx, &b, 1);
    assert_int_equal(b.result, WXS_LOOKUP_STORE_UNAVAILABLE);
    settle(fx);

    wxs_stats st = stats_of(fx->ctx);
    assert_int_equal(st.logins[WXS_LOGIN_OK], 5);
    assert_int_equal(st.logins[WXS_LOGIN_UNTRUSTED_RAW_DATA], 1);
    assert_int_equal(st.logins[WXS_LOGIN_MALFORMED_RAW_DATA], 1);
    assert_int_equal(st.logins[WXS_LOGIN_EXCHANGE_FAILED], 1);
    assert_int_equal(st.lookups[WXS_LOOKUP_OK], 1);
    assert_int_equal(st.lookups[WXS_LOOKUP_SESSION_EXPIRED], 1);
    assert_int_equal(st.lookups[WXS_LOOKUP_STORE_UNAVAILABLE], 1);
    assert_int_equal(st.exchanges[WXS_EXCHANGE_OK], 2); /* c-stats, c-badsig */
    assert_int_equal(st.exchanges[WXS_EXCHANGE_INVALID_CODE], 1);
    assert_int_equal(st.exchange_latency.count, 3);
    assert_int_equal(st.joined_local, 4);
    assert_int_equal(st.store_latency[WXS_STORE_GET].count, 3);
    assert_int_equal(st.store_errors[WXS_STORE_GET], 1);
    assert_int_equal(st.store_latency[WXS_STORE_WRITE].count, 5);
    assert_int_equal(st.store_latency[WXS_STORE_CLAIM].count, 3);
    /* a second context's counters add up */
    wxs_ctx_stats_add(fx->ctx, &st);
    assert_int_equal(st.logins[WXS_LOGIN_OK], 10);
}

/* Buckets: an observation lands in the first bucket whose bound it does not pass. */
static void test_histogram_and_labels(void **state)
{
    wxs_histogram h;
    memset(&h, 0, sizeof h);
    wxs__observe(&h, 0);
    wxs__observe(&h, 100);
    wxs__observe(&h, 101);
    wxs__observe(&h, 10000000);
    wxs__observe(&h, 10000001);
    assert_int_equal(h.buckets[0], 2);
    assert_int_equal(h.buckets[1], 1);
    assert_int_equal(h.buckets[WXS_STATS_BOUNDS - 1], 1);
    assert_int_equal(h.buckets[WXS_STATS_BOUNDS], 1);
    assert_int_equal(h.count, 5);
    assert_int_equal(h.sum_us, 100 + 101 + 10000000 + 10000001);
    assert_int_equal(wxs_stats_bound_us(0), 100);
    assert_int_equal(wxs_stats_bound_us(WXS_STATS_BOUNDS), 0);
    for (int i = 1; i < WXS_STATS_BOUNDS; i++)
        assert_true(wxs_stats_bound_us(i) > wxs_stats_bound_us(i - 1));
    assert_string_equal(wxs_stats_label(WXS_STATS_LOGIN, WXS_LOGIN_OK), "ok");
    assert_string_equal(wxs_stats_label(WXS_STATS_EXCHANGE, WXS_EXCHANGE_QUOTA), "45011");
    assert_string_equal(wxs_stats_label(WXS_STATS_STORE_OP, WXS_STORE_CLAIM), "claim");
    assert_null(wxs_stats_label(WXS_STATS_LOOKUP, WXS_LOOKUP_RESULTS));
    assert_null(wxs_stats_label(WXS_STATS_LOGIN, -1));
    (void)state;
}

static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    wxs_auth_request req = {0};
    answer a = {0};
    wxs_ctx_free(NULL);
    assert_int_equal(wxs_ctx_authenticate(fx->ctx, NULL, on_answer, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_authenticate(fx->ctx, &req, NULL, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_authenticate(NULL, &req, on_answer, &a), WXS_EINVAL);
    assert_int_equal(wxs_ctx_store_ready(fx->ctx), 1);
    settle(fx);
    assert_int_equal(a.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_retry_after_refusal),
        cmocka_unit_test_setup_teardown(test_single_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remembered_across_contexts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_held_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_waiting_for_concurrent_exchange, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_session_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exchange_entry_point, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statistics, setup, teardown),
        cmocka_unit_test(test_histogram_and_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
