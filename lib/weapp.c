/* weapp.c: the weapp-session protocol (DESIGN.md section 2) on a session context: anonymous,
 * login (exchange the code, check the signature, write the session) and code-only (look the
 * session up) requests, one live session per user. Entry point first, then each path's steps in
 * the order they happen. Talks to stores only through lib/store.h and to WeChat only through the
 * single-flight exchange (lib/exchange.h). */
#include "ctx.h"
#include "exchange.h"
#include "protocol.h"
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#define OPENID_MAX 128
#define SPARE_OPS_MAX 64 /* finished small ops kept on the context for reuse */

/* Whom a request's answer goes to, and what it was, for wxs_auth_result.login/result. */
typedef struct answer_to {
    wxs_auth_cb cb;
    void *arg;
    int login;  /* 1: a login */
    int result; /* login: wxs_login_result (-1 until decided); code-only: wxs_lookup_result */
} answer_to;

/* An anonymous or code-only request: small, reused (ctx->spares), no allocation per request. */
typedef struct small_op {
    union {
        wxs__spare spare;    /* while kept for reuse */
        wxs__deferred later; /* an answer queued for the loop's next pass */
    } link;
    wxs_ctx *ctx;
    answer_to to;
    int status;        /* code-only: the store's refusal, answered on the next pass */
    uint64_t start_ns; /* code-only: when the look-up started (wxs__now_ns) */
} small_op;

/* A login request (or one rejected at once, answered on the loop's next pass). */
typedef struct login_op {
    wxs_ctx *ctx;
    answer_to to;
    char *code;
    size_t code_len;
    char *raw; /* decoded rawData */
    size_t raw_len;
    json_t *user; /* parsed rawData (when not plain) */
    int plain;    /* rawData is plain: its record needs no jansson (lib/protocol.c) */
    char signature[41];
    int signature_ok_len; /* 1 when the signature header had 40 bytes */
    char *record;         /* the stored user record */
    size_t record_len;
    char openid[OPENID_MAX + 1];
    wxs__deferred later; /* a rejection found at once, delivered on the loop's next pass */
    int reject_status;
    int reject_http;
    wxs__buf reject_body;
    uint64_t write_ns; /* when the session write started (wxs__now_ns) */
} login_op;

static int anonymous_start(wxs_ctx *ctx, wxs_auth_cb cb, void *arg);
static int lookup_start(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg);
static int login_start(login_op *op, const wxs_auth_request *req);
static void reject_later(login_op *op, int status, int http_status);
static login_op *login_op_new(wxs_ctx *ctx, wxs_auth_cb cb, void *arg);
static void login_op_free(login_op *op);
static void answer_user(const answer_to *to, const char *json, size_t len, const char *openid);
static void answer_reject(const answer_to *to, int status, int http_status, const wxs__buf *body);
static void answer_protocol(const answer_to *to, int status, int (*build)(wxs__buf *));
static void answer_store_down(const answer_to *to, int status);
static void answer_error(const answer_to *to, int status, int http_status, const char *code,
                         const char *message);
static void login_store_down(login_op *op, int status);

/* ---- entry point */

/* Which path a request takes: no code, anonymous; a code without rawData, code-only; a code
 * with rawData, login. Answers found at once (anonymous, a code too long, malformed rawData) are
 * delivered on the loop's next pass, like every other answer. */
int wxs_ctx_authenticate(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg)
{
    if (ctx == NULL || req == NULL || cb == NULL)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    if (req->code == NULL || req->code_len == 0)
        return anonymous_start(ctx, cb, arg);
    int too_long = req->code_len > (size_t)ctx->cfg->limit_code_bytes;
    if (!too_long && (req->raw_data == NULL || req->raw_data_len == 0))
        return lookup_start(ctx, req, cb, arg);
    login_op *op = login_op_new(ctx, cb, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    if (too_long) {
        char err[96];
        snprintf(err, sizeof err, "X-WX-Code exceeds %lld bytes", ctx->cfg->limit_code_bytes);
        if (wxs__error_json(&op->reject_body, WXS_REASON_CODE_TOO_LONG, err) < 0)
            wxs__buf_free(&op->reject_body);
        op->to.result = WXS_LOGIN_CODE_TOO_LONG;
        reject_later(op, WXS_ETOOBIG, 400);
        return 0;
    }
    op->code = wxs__strndup(req->code, req->code_len);
    op->code_len = req->code_len;
    int rc = op->code == NULL ? WXS_ENOMEM : login_start(op, req);
    if (rc < 0)
        login_op_free(op); /* nothing will answer: per the contract cb is not called */
    return rc;
}

/* ---- small ops */

static small_op *small_op_new(wxs_ctx *ctx, wxs_auth_cb cb, void *arg)
{
    small_op *op = (small_op *)ctx->spares;
    if (op != NULL) {
        ctx->spares = op->link.spare.next;
        ctx->spare_count--;
    } else {
        op = wxs__malloc(sizeof *op);
        if (op == NULL)
            return NULL;
    }
    op->ctx = ctx;
    op->to = (answer_to){.cb = cb, .arg = arg};
    wxs__ctx_ref(ctx);
    return op;
}

/* Keep op for reuse (or free it), and drop its context reference. */
static void small_op_done(small_op *op)
{
    wxs_ctx *ctx = op->ctx;
    if (ctx->spare_count < SPARE_OPS_MAX && !ctx->closing) {
        op->link.spare.next = ctx->spares;
        ctx->spares = &op->link.spare;
        ctx->spare_count++;
    } else {
        wxs__free(op);
    }
    wxs__ctx_unref(ctx);
}

/* ---- anonymous path: no code, go on with user = null */

static void anonymous_answer(wxs__deferred *d)
{
    small_op *op = WXS__CONTAINER_OF(d, small_op, link.later);
    wxs_auth_result res = {.kind = WXS_AUTH_ANONYMOUS, .http_status = 200};
    op->to.cb(op->to.arg, &res);
    small_op_done(op);
}

static int anonymous_start(wxs_ctx *ctx, wxs_auth_cb cb, void *arg)
{
    small_op *op = small_op_new(ctx, cb, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    wxs__defer_call(&ctx->later, &op->link.later, anonymous_answer);
    return 0;
}

/* ---- code-only path: look the code's session up */

static void session_looked_up(void *arg, int status, const char *val, size_t len);
static void store_refused(wxs__deferred *d);

/* Look the code up; 0 when session_looked_up will answer (a store that refuses at once is
 * answered 503 on the next pass, as when it fails later), or a negative code (nothing will). */
static int lookup_start(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg)
{
    small_op *op = small_op_new(ctx, cb, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    op->start_ns = wxs__now_ns();
    int rc = wxs__store_get(ctx->store, req->code, req->code_len, session_looked_up, op);
    if (rc == WXS_ESTORE) {
        op->status = rc;
        wxs__defer_call(&ctx->later, &op->link.later, store_refused);
        rc = 0;
    }
    if (rc < 0)
        small_op_done(op); /* cannot free ctx: the caller holds it */
    return rc;
}

/* Count a look-up's answer (result, and the store's failure when status is one) and note it
 * for the answer. */
static void count_lookup(small_op *op, int status, wxs_lookup_result result)
{
    wxs_ctx *ctx = op->ctx;
    op->to.result = (int)result;
    if (status < 0 && status != WXS_ENOTFOUND)
        wxs__count(&ctx->stats.store_errors[WXS_STORE_GET]);
    wxs__count(&ctx->stats.lookups[result]);
}

static void session_looked_up(void *arg, int status, const char *val, size_t len)
{
    small_op *op = arg;
    wxs_ctx *ctx = op->ctx;
    wxs__observe_since(&ctx->stats.store_latency[WXS_STORE_GET], op->start_ns);
    if (status == 0 && len > 0 && val[0] == '{') {
        /* a user record; anything else under a code key (an openId entry holding a JSON string,
         * an exchange claim) is not a session: the original served those as users */
        char openid[OPENID_MAX + 1] = "";
        if (wxs__user_openid(val, len, openid, sizeof openid) < 0)
            openid[0] = '\0';
        count_lookup(op, status, WXS_LOOKUP_OK);
        answer_user(&op->to, val, len, openid);
    } else if (status == 0 || status == WXS_ENOTFOUND) {
        count_lookup(op, status, WXS_LOOKUP_SESSION_EXPIRED);
        answer_protocol(&op->to, WXS_ENOTFOUND, wxs__error_body_expired);
    } else {
        count_lookup(op, status,
                     status == WXS_ECANCELED ? WXS_LOOKUP_SHUTTING_DOWN
                                             : WXS_LOOKUP_STORE_UNAVAILABLE);
        answer_store_down(&op->to, status);
    }
    small_op_done(op);
}

static void store_refused(wxs__deferred *d)
{
    small_op *op = WXS__CONTAINER_OF(d, small_op, link.later);
    count_lookup(op, op->status, WXS_LOOKUP_STORE_UNAVAILABLE);
    answer_store_down(&op->to, op->status);
    small_op_done(op);
}

/* ---- login path, step 1: read the headers, join the code's exchange */

static void code_exchanged(void *arg, const wxs__exchange_outcome *out, wxs__remember *remember);

/* Decode and parse rawData (a rejection is delivered later and counts as started), keep the
 * signature, then exchange the code. 0, or a negative code when nothing will answer. */
static int login_start(login_op *op, const wxs_auth_request *req)
{
    const wxs_config *cfg = op->ctx->cfg;
    char err[160];
    size_t cap = (size_t)cfg->limit_raw_data_bytes;
    op->raw = wxs__malloc(cap + 1);
    if (op->raw == NULL)
        return WXS_ENOMEM;
    int rc = wxs_percent_decode(req->raw_data, req->raw_data_len, op->raw, cap, &op->raw_len);
    if (rc == WXS_ETOOBIG) {
        snprintf(err, sizeof err, "X-WX-RawData exceeds %zu bytes decoded", cap);
        if (wxs__error_json(&op->reject_body, WXS_REASON_RAW_DATA_TOO_LARGE, err) < 0)
            wxs__buf_free(&op->reject_body);
        op->to.result = WXS_LOGIN_RAW_DATA_TOO_LARGE;
        reject_later(op, rc, 431);
        return 0;
    }
    if (rc < 0) { /* what decodeURIComponent throws */
        if (wxs__error_body(&op->reject_body, NULL, "URIError", "URI malformed", NULL) < 0)
            wxs__buf_free(&op->reject_body);
        op->to.result = WXS_LOGIN_MALFORMED_RAW_DATA;
        reject_later(op, rc, 200);
        return 0;
    }
    op->plain = wxs__user_plain(op->raw, op->raw_len, (int)cfg->limit_json_depth);
    rc = op->plain ? 0
                   : wxs__user_parse(op->raw, op->raw_len, (int)cfg->limit_json_depth, &op->user,
                                     err, sizeof err);
    if (rc < 0) {
        if (wxs__error_body(&op->reject_body, NULL, "SyntaxError", err, NULL) < 0)
            wxs__buf_free(&op->reject_body);
        op->to.result = WXS_LOGIN_MALFORMED_RAW_DATA;
        reject_later(op, rc, 200);
        return 0;
    }
    op->signature_ok_len = req->signature_len == 40;
    if (op->signature_ok_len)
        memcpy(op->signature, req->signature, 40);
    return wxs__exchange_start(op->ctx, op->code, op->code_len, code_exchanged, op);
}

static void rejected_at_once(wxs__deferred *d)
{
    login_op *op = WXS__CONTAINER_OF(d, login_op, later);
    answer_reject(&op->to, op->reject_status, op->reject_http, &op->reject_body);
    login_op_free(op);
}

/* Answer op with its reject_body (built, or freed when building it failed) on the next pass. */
static void reject_later(login_op *op, int status, int http_status)
{
    op->reject_status = status;
    op->reject_http = http_status;
    wxs__defer_call(&op->ctx->later, &op->later, rejected_at_once);
}

/* ---- login path, step 2: the code is exchanged: verify, write the session */

static void session_written(void *arg, int status);
static int make_record(login_op *op);
static void answer_exchange_failed(login_op *op, const wxs__exchange_outcome *out);

/* Verify op's signature with the exchange's session_key and write the session, carrying the
 * code's remembered exchange when it is still to be written. */
static void code_exchanged(void *arg, const wxs__exchange_outcome *out, wxs__remember *remember)
{
    login_op *op = arg;
    wxs_ctx *ctx = op->ctx;
    if (out->status < 0) {
        answer_exchange_failed(op, out);
        goto done;
    }
    if (!op->signature_ok_len ||
        !wxs_signature_verify(op->raw, op->raw_len, out->session_key, strlen(out->session_key),
                              op->signature, 40)) {
        op->to.result = WXS_LOGIN_UNTRUSTED_RAW_DATA;
        answer_protocol(&op->to, WXS_ESIGNATURE, wxs__error_body_untrusted);
        goto done;
    }
    if (strlen(out->openid) > OPENID_MAX) {
        op->to.result = WXS_LOGIN_BAD_OPENID;
        answer_error(&op->to, WXS_EUPSTREAM, 502, WXS_REASON_BAD_OPENID,
                     "openid from WeChat is too long");
        goto done;
    }
    strcpy(op->openid, out->openid);
    if (make_record(op) < 0) {
        op->to.result = WXS_LOGIN_INTERNAL;
        answer_error(&op->to, WXS_ENOMEM, 500, WXS_REASON_INTERNAL, "out of memory");
        goto done;
    }
    if (ctx->closing) {
        login_store_down(op, WXS_ECANCELED);
        goto done;
    }
    wxs__login lw = {.code = op->code,
                     .code_len = op->code_len,
                     .openid = op->openid,
                     .openid_len = strlen(op->openid),
                     .user_json = op->record,
                     .user_len = op->record_len,
                     .ttl_s = ctx->cfg->session_ttl};
    if (remember != NULL)
        lw.remember = *remember;
    op->write_ns = wxs__now_ns();
    int rc = wxs__store_login(ctx->store, &lw, session_written, op);
    if (rc < 0) {
        if (rc != WXS_ECANCELED)
            wxs__count(&ctx->stats.store_errors[WXS_STORE_WRITE]);
        login_store_down(op, rc);
        goto done;
    }
    if (remember != NULL)
        wxs__exchange_carried(remember);
    return;
done:
    login_op_free(op);
}

/* The exchange failed: 503 when the store did (or the context closes), else the protocol's
 * exchange error body. */
static void answer_exchange_failed(login_op *op, const wxs__exchange_outcome *out)
{
    if (out->status == WXS_ESTORE || out->status == WXS_ECANCELED) {
        login_store_down(op, out->status);
        return;
    }
    op->to.result = WXS_LOGIN_EXCHANGE_FAILED;
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    if (wxs__error_body_exchange(&b, out->errcode, out->errmsg,
                                 out->reason != NULL ? out->reason : "exchange failed") < 0)
        wxs__buf_free(&b);
    answer_reject(&op->to, out->status, 200, &b);
    wxs__buf_free(&b);
}

/* The stored record: without jansson for plain rawData (lib/protocol.c). */
static int make_record(login_op *op)
{
    const wxs_config *cfg = op->ctx->cfg;
    char err[160];
    if (op->plain) {
        int rc =
            wxs__user_plain_record(op->raw, op->raw_len, op->openid, &op->record, &op->record_len);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        /* an openId that needs escaping: jansson writes it */
        rc = wxs__user_parse(op->raw, op->raw_len, (int)cfg->limit_json_depth, &op->user, err,
                             sizeof err);
        if (rc < 0)
            return rc;
    }
    return wxs__user_dump(op->user, op->openid, &op->record, &op->record_len);
}

/* ---- login path, step 3: the session is written */

static void session_written(void *arg, int status)
{
    login_op *op = arg;
    wxs_stats *st = &op->ctx->stats;
    wxs__observe_since(&st->store_latency[WXS_STORE_WRITE], op->write_ns);
    if (status < 0) {
        if (status != WXS_ECANCELED)
            wxs__count(&st->store_errors[WXS_STORE_WRITE]);
        login_store_down(op, status);
    } else {
        op->to.result = WXS_LOGIN_OK;
        answer_user(&op->to, op->record, op->record_len, op->openid);
    }
    login_op_free(op);
}

/* ---- login ops */

static login_op *login_op_new(wxs_ctx *ctx, wxs_auth_cb cb, void *arg)
{
    login_op *op = wxs__calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->ctx = ctx;
    op->to = (answer_to){.cb = cb, .arg = arg, .login = 1, .result = -1};
    wxs__buf_init(&op->reject_body, 4096);
    wxs__ctx_ref(ctx);
    return op;
}

/* Free op, counting the login's result when it was answered. */
static void login_op_free(login_op *op)
{
    wxs_ctx *ctx = op->ctx;
    if (op->to.result >= 0)
        wxs__count(&ctx->stats.logins[op->to.result]);
    json_decref(op->user);
    wxs__free(op->code);
    wxs__free(op->raw);
    wxs__free(op->record);
    wxs__buf_free(&op->reject_body);
    wxs__free(op);
    wxs__ctx_unref(ctx);
}

/* ---- answers */

static void answer_user(const answer_to *to, const char *json, size_t len, const char *openid)
{
    wxs_auth_result res = {.kind = WXS_AUTH_USER,
                           .http_status = 200,
                           .user_json = json,
                           .user_len = len,
                           .openid = openid};
    res.login = to->login;
    res.result = to->result;
    to->cb(to->arg, &res);
}

/* Reject with http_status and body; a body that could not be built (out of memory: its data is
 * NULL) still answers, with a fixed 500 body. */
static void answer_reject(const answer_to *to, int status, int http_status, const wxs__buf *body)
{
    static const char oom[] =
        "{\"error\":{\"code\":\"ERR_INTERNAL\",\"message\":\"out of memory\"}}";
    wxs_auth_result res = {.kind = WXS_AUTH_REJECT, .status = status, .http_status = http_status};
    if (body->data != NULL) {
        res.body = body->data;
        res.body_len = body->len;
    } else {
        res.http_status = 500;
        res.body = oom;
        res.body_len = sizeof oom - 1;
    }
    res.login = to->login;
    res.result = to->result;
    to->cb(to->arg, &res);
}

/* A protocol error (HTTP 200) with the body that build() writes. */
static void answer_protocol(const answer_to *to, int status, int (*build)(wxs__buf *))
{
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    if (build(&b) < 0)
        wxs__buf_free(&b);
    answer_reject(to, status, 200, &b);
    wxs__buf_free(&b);
}

static void answer_store_down(const answer_to *to, int status)
{
    if (status == WXS_ECANCELED)
        answer_error(to, status, 503, WXS_REASON_SHUTTING_DOWN, "server is shutting down");
    else
        answer_error(to, status, 503, WXS_REASON_STORE_UNAVAILABLE, "session store unavailable");
}

/* A login the store (or the context closing) stopped: 503. */
static void login_store_down(login_op *op, int status)
{
    op->to.result = status == WXS_ECANCELED ? WXS_LOGIN_SHUTTING_DOWN : WXS_LOGIN_STORE_UNAVAILABLE;
    answer_store_down(&op->to, status);
}

static void answer_error(const answer_to *to, int status, int http_status, const char *code,
                         const char *message)
{
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    if (wxs__error_json(&b, code, message) < 0)
        wxs__buf_free(&b);
    answer_reject(to, status, http_status, &b);
    wxs__buf_free(&b);
}
