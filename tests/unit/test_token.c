/* test_token.c: token sessions (lib/token.c, lib/token_record.c) through wxs_ctx_token_login,
 * _lookup, _logout and _decrypt, on the fake store and fake WeChat client
 * (tests/unit/session_fakes.h). Every call also checks the callback rule: no callback before the
 * call returned, exactly one after. Session times run on a test clock (wxs__token_clock_hook). */
#include "ctx.h"
#include "session_fakes.h"
#include "token.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_PASSES 200000 /* bounds every wait on the loop */
#define IDLE_S 800
#define MAX_S 3000
#define RAW "{\"nickName\":\"n\"}"

/* Test-only hook in lib/token.c: the clock of session times. */
extern long long (*wxs__token_clock_hook)(void);

/* WeChat's official encryptedData vector (shared DESIGN.md section 5). */
#define VEC_APP_ID "wx4f4bc4dec97d474b"
#define VEC_KEY "tiihtNczf5v6AKRyjwEUhQ=="
#define VEC_IV "r7BXXKkLb8qrSNn05n0qiA=="
#define VEC_OPENID "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
#define VEC_UNIONID "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
static const char vec_data[] =
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPd"
    "bB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxV"
    "LW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1"
    "OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBv"
    "B4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVun"
    "YzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

static long long clock_now = 1700000000;

static long long test_clock(void)
{
    return clock_now;
}

/* ------------------------------------------------------------ fixture */

typedef struct fixture {
    uv_loop_t loop;
    wxs_config cfg;
    fake_data data;
    fake_store *st; /* owned by ctx */
    fake_wechat *wx;
    wxs_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cfg.app_id = VEC_APP_ID;
    fx->cfg.app_secret = "secret";
    fx->cfg.access_token_ahead_s = 600; /* decrypt's session_key check fetches the access_token */
    fx->cfg.access_token_lease_s = 10;
    fx->cfg.wechat_timeout_ms = 3000;
    fx->cfg.session_ttl = 7200;
    fx->cfg.limit_code_bytes = 64;
    fx->cfg.limit_raw_data_bytes = 256;
    fx->cfg.limit_json_depth = 16;
    fx->cfg.token_idle_s = IDLE_S;
    fx->cfg.token_max_s = MAX_S;
    fx->cfg.tokens_per_user = 10;
    fx->data.now_s = 1000;
    clock_now = 1700000000;
    wxs__token_clock_hook = test_clock;
    fx->st = fake_store_new(&fx->loop, &fx->data);
    fx->wx = fake_wechat_new(&fx->loop);
    assert_int_equal(wxs__ctx_new_with(&fx->ctx, &fx->loop, &fx->cfg, &fx->st->base, &fx->wx->base),
                     0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    wxs_ctx_free(fx->ctx);
    for (int i = 0; i < 1000 && uv_run(&fx->loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fake_data_clear(&fx->data);
    wxs__token_clock_hook = NULL;
    free(fx);
    return 0;
}

/* Time passes: on the test clock and the fake store's. */
static void advance(fixture *fx, long long s)
{
    clock_now += s;
    fx->data.now_s += s;
}

/* ------------------------------------------------------------ calls and answers */

typedef struct answer {
    int calls;
    int returned;
    int early;
    int status;
    char token[64];
    char openid[130];
    char unionid[130];
    int has_unionid;
    long long expires_in, expires_at;
    char user[2048];
    int has_user;
    char plain[2048];
    long errcode;
    char errmsg[64];
} answer;

static void on_answer(void *arg, const wxs_token_result *res)
{
    answer *a = arg;
    a->calls++;
    a->early |= !a->returned;
    a->status = res->status;
    snprintf(a->token, sizeof a->token, "%s", res->token != NULL ? res->token : "");
    snprintf(a->openid, sizeof a->openid, "%s", res->openid != NULL ? res->openid : "");
    a->has_unionid = res->unionid != NULL;
    snprintf(a->unionid, sizeof a->unionid, "%s", res->unionid != NULL ? res->unionid : "");
    a->expires_in = res->expires_in;
    a->expires_at = res->expires_at;
    a->has_user = res->user_json != NULL;
    snprintf(a->user, sizeof a->user, "%.*s", (int)res->user_len,
             res->user_json != NULL ? res->user_json : "");
    snprintf(a->plain, sizeof a->plain, "%.*s", (int)res->plain_len,
             res->plain_json != NULL ? res->plain_json : "");
    a->errcode = res->errcode;
    snprintf(a->errmsg, sizeof a->errmsg, "%s", res->errmsg != NULL ? res->errmsg : "");
}

static void begin(answer *a)
{
    memset(a, 0, sizeof *a);
}

/* The call returned rc; check the rule for its start. */
static int started(answer *a, int rc)
{
    a->returned = 1;
    assert_int_equal(a->calls, 0);
    return rc;
}

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

/* Log in with req (code filled in when NULL) and wait; the answer's status. */
static int login_req(fixture *fx, wxs_token_login_request *req, answer *a)
{
    begin(a);
    assert_int_equal(started(a, wxs_ctx_token_login(fx->ctx, req, on_answer, a)), 0);
    wait_answers(fx, a, 1);
    return a->status;
}

static int login(fixture *fx, const char *code, answer *a)
{
    wxs_token_login_request req = {.code = code, .code_len = strlen(code)};
    return login_req(fx, &req, a);
}

static int lookup(fixture *fx, const char *token, answer *a)
{
    begin(a);
    assert_int_equal(started(a, wxs_ctx_token_lookup(fx->ctx, token, strlen(token), on_answer, a)),
                     0);
    wait_answers(fx, a, 1);
    return a->status;
}

static int logout(fixture *fx, const char *token, int all)
{
    answer a;
    begin(&a);
    assert_int_equal(
        started(&a, wxs_ctx_token_logout(fx->ctx, token, strlen(token), all, on_answer, &a)), 0);
    wait_answers(fx, &a, 1);
    return a.status;
}

static int decrypt(fixture *fx, const char *token, const char *data, answer *a)
{
    begin(a);
    assert_int_equal(
        started(a, wxs_ctx_token_decrypt(fx->ctx, token, strlen(token), data, strlen(data), VEC_IV,
                                         strlen(VEC_IV), on_answer, a)),
        0);
    wait_answers(fx, a, 1);
    return a->status;
}

/* The stored record of token, or NULL. */
static const char *record_of(fixture *fx, const char *token)
{
    char hex[65], key[80];
    wxs_token_hash(token, strlen(token), hex);
    snprintf(key, sizeof key, "token:%s", hex);
    fake_entry *e = fake_data_find(&fx->data, key);
    return e != NULL ? e->val : NULL;
}

static void wechat_answers_vector(fixture *fx)
{
    fx->wx->reply.openid = VEC_OPENID;
    fx->wx->reply.session_key = VEC_KEY;
}

/* ------------------------------------------------------------ the pure parts */

static void test_token_syntax_and_make(void **state)
{
    (void)state;
    char t[WXS__TOKEN_CHARS + 1], u[WXS__TOKEN_CHARS + 1];
    assert_int_equal(wxs__token_make(t), 0);
    assert_int_equal(wxs__token_make(u), 0);
    assert_int_equal(strlen(t), 43);
    assert_true(wxs__token_syntax_ok(t, strlen(t)));
    assert_string_not_equal(t, u);
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"abcdefghijklmnop", 1},  {"abcdefghijklmno", 0},
        {"abcdefgh-jklmnop_", 1}, {"abcdefgh+jklmnop", 0},
        {"abcdefgh/jklmnop", 0},  {"abcdefghijklmnop=", 0},
        {"abcdefgh jklmnop", 0},  {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(wxs__token_syntax_ok(cases[i].s, strlen(cases[i].s)), cases[i].ok);
    char long_token[130];
    memset(long_token, 'a', sizeof long_token);
    assert_true(wxs__token_syntax_ok(long_token, 128));
    assert_false(wxs__token_syntax_ok(long_token, 129));
    char hex[65];
    wxs_token_hash("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_record_round_trip(void **state)
{
    (void)state;
    wxs__token_record in = {.openid = "o1",
                            .session_key = "k==",
                            .created = 5,
                            .last_seen = 6,
                            .expires_at = 7,
                            .user = "{\"a\":[1]}",
                            .user_len = 9};
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(wxs__token_record_encode(&in, &text, &len), 0);
    assert_string_equal(text, "{\"openId\":\"o1\",\"unionId\":null,\"sessionKey\":\"k==\","
                              "\"created\":5,\"lastSeen\":6,\"expiresAt\":7,\"user\":{\"a\":[1]}}");
    wxs__token_record out;
    assert_int_equal(wxs__token_record_decode(text, len, &out), 0);
    assert_string_equal(out.openid, "o1");
    assert_false(out.has_unionid);
    assert_int_equal(out.last_seen, 6);
    assert_int_equal(out.user_len, 9);
    assert_memory_equal(out.user, "{\"a\":[1]}", 9);
    wxs__token_record_clear(&out);
    wxs__free(text);
    /* another writer's key order, escapes: read through jansson */
    static const char other[] =
        "{\"user\":null,\"unionId\":\"u\\u0031\",\"openId\":\"o\","
        "\"sessionKey\":\"k\",\"created\":1,\"lastSeen\":2,\"expiresAt\":3}";
    assert_int_equal(wxs__token_record_decode(other, strlen(other), &out), 0);
    assert_string_equal(out.unionid, "u1");
    assert_null(out.user);
    wxs__token_record_clear(&out);
    static const char *const bad[] = {"",
                                      "x",
                                      "{}",
                                      "\"a\"",
                                      "{\"openId\":\"o\"}",
                                      "{\"user\":null,\"openId\":\"o\",\"sessionKey\":\"k\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(wxs__token_record_decode(bad[i], strlen(bad[i]), &out), WXS_EPARSE);
}

/* ------------------------------------------------------------ login */

static void test_login_creates_a_session(void **state)
{
    fixture *fx = *state;
    answer a;
    assert_int_equal(login(fx, "c1", &a), 0);
    assert_int_equal(strlen(a.token), 43);
    assert_true(wxs__token_syntax_ok(a.token, 43));
    assert_string_equal(a.openid, FAKE_OPENID);
    assert_false(a.has_unionid);
    assert_false(a.has_user);
    assert_int_equal(a.expires_in, IDLE_S);
    assert_int_equal(a.expires_at, clock_now + MAX_S);
    const char *rec = record_of(fx, a.token);
    assert_non_null(rec);
    assert_non_null(strstr(rec, "\"sessionKey\":\"" FAKE_SESSION_KEY "\""));
    assert_null(strstr(rec, a.token)); /* the store keeps the hash only */
    assert_int_equal(fake_data_index_size(&fx->data, FAKE_OPENID), 1);
    assert_int_equal(fx->st->calls[OP_TOKEN_PUT], 1);
    assert_int_equal(fx->ctx->stats.logins[WXS_LOGIN_OK], 1);
    /* the exchange is remembered by the session write (no write of its own) */
    assert_int_equal(fx->st->calls[OP_SET], 0);
    answer b;
    assert_int_equal(login(fx, "c1", &b), 0); /* a retried login: the remembered exchange */
    assert_int_equal(fx->wx->calls, 1);
    assert_string_not_equal(a.token, b.token);
}

static void test_login_raw_data_signature(void **state)
{
    fixture *fx = *state;
    char sig[41];
    wxs_signature(RAW, strlen(RAW), FAKE_SESSION_KEY, strlen(FAKE_SESSION_KEY), sig);
    wxs_token_login_request req = {.code = "c2",
                                   .code_len = 2,
                                   .raw_data = RAW,
                                   .raw_data_len = strlen(RAW),
                                   .signature = sig,
                                   .signature_len = 40};
    answer a;
    assert_int_equal(login_req(fx, &req, &a), 0);
    /* the user info as sent, with the openId WeChat gave */
    assert_string_equal(a.user, "{\"nickName\":\"n\",\"openId\":\"" FAKE_OPENID "\"}");
    sig[0] = sig[0] == '0' ? '1' : '0';
    req.code = "c3";
    assert_int_equal(login_req(fx, &req, &a), WXS_ESIGNATURE);
    assert_int_equal(fake_data_index_size(&fx->data, FAKE_OPENID), 1);
    assert_int_equal(fx->ctx->stats.logins[WXS_LOGIN_UNTRUSTED_RAW_DATA], 1);
    req.code = "c4";
    req.raw_data = "[1]";
    req.raw_data_len = 3;
    assert_int_equal(login_req(fx, &req, &a), WXS_EPARSE);
    assert_int_equal(fx->wx->calls, 2); /* malformed rawData: no exchange */
}

static void test_login_rejects_at_once(void **state)
{
    fixture *fx = *state;
    char code[100];
    memset(code, 'c', sizeof code - 1);
    code[sizeof code - 1] = '\0';
    answer a;
    assert_int_equal(login(fx, code, &a), WXS_ETOOBIG);
    assert_int_equal(login(fx, "", &a), WXS_EPARSE);
    wxs_token_login_request req = {.code = "c",
                                   .code_len = 1,
                                   .encrypted_data = vec_data,
                                   .encrypted_data_len = strlen(vec_data)};
    assert_int_equal(login_req(fx, &req, &a), WXS_EPARSE); /* data without iv */
    assert_int_equal(fx->wx->calls, 0);
    assert_int_equal(wxs_ctx_token_login(fx->ctx, NULL, on_answer, &a), WXS_EINVAL);
}

static void test_login_exchange_refused(void **state)
{
    fixture *fx = *state;
    fake_wechat_says(fx->wx, 40029);
    answer a;
    assert_int_equal(login(fx, "bad", &a), WXS_EEXCHANGE);
    assert_int_equal(a.errcode, 40029);
    assert_string_equal(a.errmsg, "refused");
    assert_string_equal(a.token, "");
    assert_int_equal(fx->ctx->stats.logins[WXS_LOGIN_EXCHANGE_FAILED], 1);
}

static void test_login_decrypts_the_official_vector(void **state)
{
    fixture *fx = *state;
    wechat_answers_vector(fx);
    wxs_token_login_request req = {.code = "c5",
                                   .code_len = 2,
                                   .encrypted_data = vec_data,
                                   .encrypted_data_len = strlen(vec_data),
                                   .iv = VEC_IV,
                                   .iv_len = strlen(VEC_IV)};
    answer a;
    assert_int_equal(login_req(fx, &req, &a), 0);
    assert_string_equal(a.openid, VEC_OPENID);
    assert_string_equal(a.unionid, VEC_UNIONID); /* from the data: the exchange had none */
    assert_non_null(strstr(a.plain, "\"nickName\":\"Band\""));
    assert_non_null(strstr(a.user, "\"watermark\""));
    answer b;
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_string_equal(b.unionid, VEC_UNIONID);
    assert_string_equal(b.user, a.user);
    /* a wrong watermark, a wrong key: refused, no session */
    fx->cfg.app_id = "wx0000000000000000";
    req.code = "c6";
    assert_int_equal(login_req(fx, &req, &a), WXS_EWATERMARK);
    fx->cfg.app_id = VEC_APP_ID;
    fx->wx->reply.session_key = "AAAAAAAAAAAAAAAAAAAAAA==";
    req.code = "c7";
    assert_int_equal(login_req(fx, &req, &a), WXS_EDECRYPT);
    assert_int_equal(fake_data_index_size(&fx->data, VEC_OPENID), 1);
}

/* A retried login takes the code's remembered exchange, unionid included. */
static void test_unionid_survives_the_remembered_exchange(void **state)
{
    fixture *fx = *state;
    fx->wx->reply.unionid = "u-1";
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    assert_string_equal(a.unionid, "u-1");
    assert_int_equal(login(fx, "c1", &b), 0);
    assert_int_equal(fx->wx->calls, 1);
    assert_string_equal(b.unionid, "u-1");
    assert_int_equal(lookup(fx, b.token, &a), 0);
    assert_string_equal(a.unionid, "u-1");
}

static void test_concurrent_logins_one_exchange(void **state)
{
    fixture *fx = *state;
    wxs_token_login_request req = {.code = "same", .code_len = 4};
    answer a[3];
    for (int i = 0; i < 3; i++) {
        begin(&a[i]);
        assert_int_equal(started(&a[i], wxs_ctx_token_login(fx->ctx, &req, on_answer, &a[i])), 0);
    }
    wait_answers(fx, a, 3);
    assert_int_equal(fx->wx->calls, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].status, 0);
    assert_string_not_equal(a[0].token, a[1].token);
    assert_int_equal(fake_data_index_size(&fx->data, FAKE_OPENID), 3);
}

static void test_store_down(void **state)
{
    fixture *fx = *state;
    answer a;
    fx->st->fail_later[OP_TOKEN_PUT] = WXS_ESTORE;
    assert_int_equal(login(fx, "c8", &a), WXS_ESTORE);
    assert_int_equal(fx->ctx->stats.logins[WXS_LOGIN_STORE_UNAVAILABLE], 1);
    fx->st->fail_later[OP_TOKEN_PUT] = 0;
    assert_int_equal(login(fx, "c9", &a), 0);
    char token[64];
    snprintf(token, sizeof token, "%s", a.token);
    fx->st->fail_now[OP_GET] = WXS_ESTORE;
    assert_int_equal(lookup(fx, token, &a), WXS_ESTORE);
    fx->st->fail_now[OP_GET] = 0;
    fx->st->fail_later[OP_GET] = WXS_ESTORE;
    assert_int_equal(lookup(fx, token, &a), WXS_ESTORE);
    assert_int_equal(fx->ctx->stats.lookups[WXS_LOOKUP_STORE_UNAVAILABLE], 2);
}

/* ------------------------------------------------------------ lookup, renewal, expiry */

static void test_lookup_and_tampering(void **state)
{
    fixture *fx = *state;
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_string_equal(b.openid, FAKE_OPENID);
    assert_int_equal(b.expires_at, clock_now + MAX_S);
    assert_int_equal(b.expires_in, IDLE_S);
    assert_string_equal(b.token, ""); /* only the login hands the token out */
    char t[64];
    snprintf(t, sizeof t, "%s", a.token);
    t[5] = t[5] == 'A' ? 'B' : 'A'; /* one character changed */
    assert_int_equal(lookup(fx, t, &b), WXS_ETOKEN);
    t[5] = a.token[5];
    t[30] = '\0'; /* truncated */
    assert_int_equal(lookup(fx, t, &b), WXS_ETOKEN);
    char hex[65];
    wxs_token_hash(a.token, strlen(a.token), hex); /* the stored hash, sent as a token */
    assert_int_equal(lookup(fx, hex, &b), WXS_ETOKEN);
    int gets = fx->st->calls[OP_GET];
    assert_int_equal(lookup(fx, "not a token!", &b), WXS_ETOKEN);
    assert_int_equal(lookup(fx, "short", &b), WXS_ETOKEN);
    assert_int_equal(fx->st->calls[OP_GET], gets); /* bad syntax: the store left alone */
    assert_int_equal(fx->ctx->stats.lookups[WXS_LOOKUP_SESSION_EXPIRED], 5);
}

static void test_renewal_at_most_once_per_eighth(void **state)
{
    fixture *fx = *state;
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    advance(fx, IDLE_S / 8 - 1);
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_int_equal(fx->st->calls[OP_TOKEN_TOUCH], 0); /* a read only */
    assert_int_equal(b.expires_in, IDLE_S - (IDLE_S / 8 - 1));
    advance(fx, 1);
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_int_equal(b.expires_in, IDLE_S);
    for (int i = 0; i < 100 && fx->st->calls[OP_TOKEN_TOUCH] == 0; i++)
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->st->calls[OP_TOKEN_TOUCH], 1);
    for (int i = 0; i < 100; i++) /* the renewal's answer */
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    char want[64];
    snprintf(want, sizeof want, "\"lastSeen\":%lld", clock_now);
    assert_non_null(strstr(record_of(fx, a.token), want));
    assert_int_equal(lookup(fx, a.token, &b), 0);
    assert_int_equal(fx->st->calls[OP_TOKEN_TOUCH], 1);
    /* used every so often, the session lives past the idle time, not past the absolute end */
    for (long long t = 0; t < MAX_S; t += IDLE_S / 2) {
        advance(fx, IDLE_S / 2);
        lookup(fx, a.token, &b);
    }
    assert_int_equal(b.status, WXS_ETOKEN); /* the record's TTL never went past expiresAt */
}

static void test_idle_expiry(void **state)
{
    fixture *fx = *state;
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    clock_now += IDLE_S; /* the session's clock only: the record is still in the store */
    assert_int_equal(lookup(fx, a.token, &b), WXS_EEXPIRED);
    fx->data.now_s += IDLE_S; /* the store's TTL ran out too */
    assert_int_equal(lookup(fx, a.token, &b), WXS_ETOKEN);
}

/* ------------------------------------------------------------ logout, the cap, decrypt */

static void test_logout_one_and_all(void **state)
{
    fixture *fx = *state;
    answer a, b, c;
    assert_int_equal(login(fx, "c1", &a), 0);
    assert_int_equal(login(fx, "c2", &b), 0);
    assert_int_equal(login(fx, "c3", &c), 0);
    assert_int_equal(logout(fx, a.token, 0), 0);
    answer r;
    assert_int_equal(lookup(fx, a.token, &r), WXS_ETOKEN);
    assert_int_equal(lookup(fx, b.token, &r), 0);
    assert_int_equal(logout(fx, a.token, 0), WXS_ETOKEN);
    assert_int_equal(logout(fx, "bad token", 1), WXS_ETOKEN);
    assert_int_equal(logout(fx, b.token, 1), 0);
    assert_int_equal(lookup(fx, b.token, &r), WXS_ETOKEN);
    assert_int_equal(lookup(fx, c.token, &r), WXS_ETOKEN);
    assert_int_equal(fake_data_index_size(&fx->data, FAKE_OPENID), 0);
}

static void test_cap_ends_the_oldest(void **state)
{
    fixture *fx = *state;
    fx->cfg.tokens_per_user = 2;
    answer t[3], r;
    char code[8];
    for (int i = 0; i < 3; i++) {
        snprintf(code, sizeof code, "c%d", i);
        assert_int_equal(login(fx, code, &t[i]), 0);
        advance(fx, 1);
    }
    assert_int_equal(lookup(fx, t[0].token, &r), WXS_ETOKEN);
    assert_int_equal(lookup(fx, t[1].token, &r), 0);
    assert_int_equal(lookup(fx, t[2].token, &r), 0);
    assert_int_equal(fake_data_index_size(&fx->data, FAKE_OPENID), 2);
    /* a logged-out session frees its place: the next login ends nobody */
    assert_int_equal(logout(fx, t[1].token, 0), 0);
    assert_int_equal(login(fx, "c9", &r), 0);
    assert_int_equal(lookup(fx, t[2].token, &r), 0);
}

static void test_decrypt_with_the_session_key(void **state)
{
    fixture *fx = *state;
    wechat_answers_vector(fx);
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    assert_int_equal(decrypt(fx, a.token, vec_data, &b), 0);
    assert_non_null(strstr(b.plain, "\"openId\":\"" VEC_OPENID "\""));
    assert_string_equal(b.openid, VEC_OPENID);
    assert_int_equal(fx->wx->api_calls[FAKE_API_CHECK], 0); /* decrypted: WeChat not asked */
    fx->cfg.app_id = "wx0000000000000000";
    assert_int_equal(decrypt(fx, a.token, vec_data, &b), WXS_EWATERMARK);
    assert_int_equal(decrypt(fx, "nosuchtokennosuchtoken", vec_data, &b), WXS_ETOKEN);
}

/* Data that does not decrypt with the session's key: WeChat is asked whether the key is still
 * its own (checksession, signed with that key). Current: the data is bad (WXS_EDECRYPT); 87009
 * or no answer: the key is stale (WXS_ESTALE, log in again). */
static void test_decrypt_failure_asks_checksession(void **state)
{
    static const struct {
        long check_errcode;
        int unreachable; /* checksession's transport status */
        int want;
    } cases[] = {
        {0, 0, WXS_EDECRYPT},
        {87009, 0, WXS_ESTALE},
        {0, WXS_ETIMEDOUT, WXS_ESTALE},
        {0, WXS_EIO, WXS_ESTALE},
    };
    fixture *fx = *state;
    wechat_answers_vector(fx);
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    /* the last ciphertext block changed: its padding no longer checks */
    char tampered[sizeof vec_data];
    memcpy(tampered, vec_data, sizeof vec_data);
    tampered[sizeof vec_data - 20] = tampered[sizeof vec_data - 20] == 'A' ? 'B' : 'A';
    char sig[65];
    wxs_session_key_signature(VEC_KEY, strlen(VEC_KEY), "", 0, sig);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx->wx->check_errcode = cases[i].check_errcode;
        fx->wx->unreachable[FAKE_API_CHECK] = cases[i].unreachable;
        int calls = fx->wx->api_calls[FAKE_API_CHECK];
        int rc = decrypt(fx, a.token, tampered, &b);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, wxs_err_name(rc), wxs_err_name(cases[i].want));
        assert_int_equal(fx->wx->api_calls[FAKE_API_CHECK], calls + 1);
        assert_string_equal(b.plain, "");
        assert_false(fx->wx->last_post);
        assert_non_null(strstr(fx->wx->last_path, "&openid=" VEC_OPENID "&"));
        assert_non_null(strstr(fx->wx->last_path, sig));
    }
    assert_int_equal(fx->wx->api_calls[FAKE_API_STABLE_TOKEN], 1); /* one access_token, kept */
    /* the session is untouched either way: the data still decrypts */
    assert_int_equal(decrypt(fx, a.token, vec_data, &b), 0);
}

/* No access_token to ask WeChat with (stable_token refused): the key is taken as stale. */
static void test_decrypt_failure_without_access_token(void **state)
{
    fixture *fx = *state;
    wechat_answers_vector(fx);
    fx->wx->token_errcode = 40013;
    answer a, b;
    assert_int_equal(login(fx, "c1", &a), 0);
    char tampered[sizeof vec_data];
    memcpy(tampered, vec_data, sizeof vec_data);
    tampered[sizeof vec_data - 20] = tampered[sizeof vec_data - 20] == 'A' ? 'B' : 'A';
    assert_int_equal(decrypt(fx, a.token, tampered, &b), WXS_ESTALE);
    assert_int_equal(fx->wx->api_calls[FAKE_API_STABLE_TOKEN], 1);
    assert_int_equal(fx->wx->api_calls[FAKE_API_CHECK], 0);
}

static void test_closing_context_refuses(void **state)
{
    fixture *fx = *state;
    answer a;
    begin(&a);
    wxs_ctx_free(fx->ctx);
    wxs_token_login_request req = {.code = "c", .code_len = 1};
    assert_int_equal(wxs_ctx_token_login(fx->ctx, &req, on_answer, &a), WXS_ECANCELED);
    assert_int_equal(wxs_ctx_token_lookup(fx->ctx, "abcdefghijklmnop", 16, on_answer, &a),
                     WXS_ECANCELED);
    assert_int_equal(a.calls, 0);
    for (int i = 0; i < 1000 && uv_run(&fx->loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    fx->ctx = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_syntax_and_make),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test_setup_teardown(test_login_creates_a_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_raw_data_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_rejects_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_exchange_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_decrypts_the_official_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unionid_survives_the_remembered_exchange, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_logins_one_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_and_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renewal_at_most_once_per_eighth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout_one_and_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_ends_the_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decrypt_with_the_session_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decrypt_failure_asks_checksession, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decrypt_failure_without_access_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_context_refuses, setup, teardown),
    };
    return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
