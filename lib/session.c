/* session.c: the session logic of the weapp-session protocol: anonymous, login and code-only
 * requests, one live session per user, and single-flight code exchanges shared through the
 * store (so concurrent first requests with one code make one WeChat call, across workers and
 * instances). Talks to stores only through lib/store.h. */
#include "ctx.h"
#include "protocol.h"
#include "wechat.h"

#include <stdlib.h>
#include <string.h>

#define EXCHANGE_KEY_PREFIX "exchange:"
#define EXCHANGE_REMEMBER_S 300 /* a code lives 5 minutes: remember its exchange that long */
#define EXCHANGE_POLL_MS 5
#define OPENID_MAX 128

typedef struct auth_op auth_op;

/* The outcome of one code exchange, owned by its flight. */
typedef struct exchange {
    int status;
    long errcode;
    char *errmsg;
    char *openid;
    char *session_key;
    char *reason;
} exchange;

struct auth_op {
    wxs_ctx *ctx;
    wxs_auth_cb cb;
    void *arg;
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
    const char *flight_key; /* the exchange key of the flight op waits on */
    auth_op *next_waiter;
};

struct flight {
    wxs_ctx *ctx;
    flight *next;
    char *code;
    size_t code_len;
    char key[sizeof EXCHANGE_KEY_PREFIX + 64];
    auth_op *waiters;
    uv_timer_t poll;
    uint64_t deadline_ms;
    exchange result;
    char *remember; /* the result to remember, until a login write carries it */
};


/* ---- answering */

static void answer_user(auth_op *op, const char *json, size_t len, const char *openid)
{
    wxs_auth_result res = {.kind = WXS_AUTH_USER,
                           .http_status = 200,
                           .user_json = json,
                           .user_len = len,
                           .openid = openid};
    op->cb(op->arg, &res);
}

/* Reject with http_status and the body that build() writes; a failure to build the body
 * (out of memory) still answers, with a fixed 500 body. */
static void answer_reject(auth_op *op, int status, int http_status, const wxs__buf *body)
{
    static const char oom[] = "{\"error\":{\"code\":\"ERR_INTERNAL\",\"message\":\"out of memory\"}}";
    wxs_auth_result res = {.kind = WXS_AUTH_REJECT, .status = status, .http_status = http_status};
    if (body->data != NULL) {
        res.body = body->data;
        res.body_len = body->len;
    } else {
        res.http_status = 500;
        res.body = oom;
        res.body_len = sizeof oom - 1;
    }
    op->cb(op->arg, &res);
}

static void answer_error(auth_op *op, int status, int http_status, const char *code,
                         const char *message)
{
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    if (wxs__error_json(&b, code, message) < 0)
        wxs__buf_free(&b);
    answer_reject(op, status, http_status, &b);
    wxs__buf_free(&b);
}

static void answer_store_down(auth_op *op, int status)
{
    if (status == WXS_ECANCELED)
        answer_error(op, status, 503, "ERR_SHUTTING_DOWN", "server is shutting down");
    else
        answer_error(op, status, 503, "ERR_STORE_UNAVAILABLE", "session store unavailable");
}

static void answer_protocol(auth_op *op, int status, int (*build)(wxs__buf *))
{
    wxs__buf b;
    wxs__buf_init(&b, 4096);
    if (build(&b) < 0)
        wxs__buf_free(&b);
    answer_reject(op, status, 200, &b);
    wxs__buf_free(&b);
}

static void op_free(auth_op *op)
{
    wxs_ctx *ctx = op->ctx;
    json_decref(op->user);
    wxs__free(op->code);
    wxs__free(op->raw);
    wxs__free(op->record);
    wxs__free(op);
    wxs__ctx_unref(ctx);
}

/* ---- code-only path */

/* A lookup needs less than a login: a small op of its own, not a zeroed auth_op. */
typedef struct lookup_op {
    wxs_ctx *ctx;
    wxs_auth_cb cb;
    void *arg;
} lookup_op;

static void lookup_done(void *arg, int status, const char *val, size_t len)
{
    lookup_op *lk = arg;
    auth_op op = {.ctx = lk->ctx, .cb = lk->cb, .arg = lk->arg}; /* for the answer_* helpers */
    if (status == 0 && len > 0 && val[0] == '{') {
        /* a user record; anything else under a code key (an openId entry holding a JSON string,
         * an exchange claim) is not a session: the original served those as users */
        char openid[OPENID_MAX + 1] = "";
        if (wxs__user_openid(val, len, openid, sizeof openid) < 0)
            openid[0] = '\0';
        answer_user(&op, val, len, openid);
    } else if (status == 0 || status == WXS_ENOTFOUND) {
        answer_protocol(&op, WXS_ENOTFOUND, wxs__error_body_expired);
    } else {
        answer_store_down(&op, status);
    }
    wxs__free(lk);
    wxs__ctx_unref(op.ctx);
}

/* Look the code up; 0 when lookup_done will answer, or a negative code (nothing answered). */
static int lookup_start(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg)
{
    lookup_op *lk = wxs__malloc(sizeof *lk);
    if (lk == NULL)
        return WXS_ENOMEM;
    *lk = (lookup_op){.ctx = ctx, .cb = cb, .arg = arg};
    ctx->refs++;
    int rc = ctx->store->ops->get(ctx->store, req->code, req->code_len, lookup_done, lk);
    if (rc < 0) {
        wxs__free(lk);
        ctx->refs--; /* cannot reach 0 here: the caller holds ctx */
    }
    return rc;
}

/* ---- login path: after the exchange */

static void login_written(void *arg, int status)
{
    auth_op *op = arg;
    if (status < 0)
        answer_store_down(op, status);
    else
        answer_user(op, op->record, op->record_len, op->openid);
    op_free(op);
}

/* The stored record: without jansson for plain rawData (lib/protocol.c). */
static int make_record(auth_op *op)
{
    const wxs_config *cfg = op->ctx->cfg;
    char err[160];
    if (op->plain) {
        int rc = wxs__user_plain_record(op->raw, op->raw_len, op->openid, &op->record,
                                        &op->record_len);
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

/* Verify op's login against the exchange and write the session. *remember (when not NULL) is the
 * code's remembered exchange: the login write carries it, and it is freed and set to NULL once a
 * write has taken it. */
static void login_continue(auth_op *op, const exchange *ex, char **remember)
{
    wxs_ctx *ctx = op->ctx;
    if (ex->status == WXS_ESTORE || ex->status == WXS_ECANCELED) {
        answer_store_down(op, ex->status);
        goto done;
    }
    if (ex->status < 0) {
        wxs__buf b;
        wxs__buf_init(&b, 4096);
        if (wxs__error_body_exchange(&b, ex->errcode, ex->errmsg,
                                     ex->reason != NULL ? ex->reason : "exchange failed") < 0)
            wxs__buf_free(&b);
        answer_reject(op, ex->status, 200, &b);
        wxs__buf_free(&b);
        goto done;
    }
    if (!op->signature_ok_len ||
        !wxs_signature_verify(op->raw, op->raw_len, ex->session_key, strlen(ex->session_key),
                              op->signature, 40)) {
        answer_protocol(op, WXS_ESIGNATURE, wxs__error_body_untrusted);
        goto done;
    }
    if (strlen(ex->openid) > OPENID_MAX) {
        answer_error(op, WXS_EUPSTREAM, 502, "ERR_BAD_OPENID", "openid from WeChat is too long");
        goto done;
    }
    strcpy(op->openid, ex->openid);
    if (make_record(op) < 0) {
        answer_error(op, WXS_ENOMEM, 500, "ERR_INTERNAL", "out of memory");
        goto done;
    }
    if (ctx->closing) {
        answer_store_down(op, WXS_ECANCELED);
        goto done;
    }
    wxs__login lw = {.code = op->code,
                     .code_len = op->code_len,
                     .openid = op->openid,
                     .openid_len = strlen(op->openid),
                     .user_json = op->record,
                     .user_len = op->record_len,
                     .ttl_s = ctx->cfg->session_ttl};
    if (remember != NULL && *remember != NULL) {
        lw.extra_key = op->flight_key;
        lw.extra_key_len = strlen(op->flight_key);
        lw.extra_val = *remember;
        lw.extra_val_len = strlen(*remember);
        lw.extra_ttl_s = EXCHANGE_REMEMBER_S;
    }
    int rc = ctx->store->ops->login(ctx->store, &lw, login_written, op);
    if (rc == 0 && lw.extra_key != NULL) {
        wxs__free(*remember);
        *remember = NULL;
    }
    if (rc < 0) {
        answer_store_down(op, rc);
        goto done;
    }
    return;
done:
    op_free(op);
}

/* ---- single-flight exchanges */

static void exchange_clear(exchange *ex)
{
    wxs__free(ex->errmsg);
    wxs__free(ex->openid);
    wxs__free(ex->session_key);
    wxs__free(ex->reason);
    memset(ex, 0, sizeof *ex);
}

static void flight_closed(uv_handle_t *h)
{
    flight *f = h->data;
    wxs_ctx *ctx = f->ctx;
    exchange_clear(&f->result);
    wxs__free(f->remember);
    wxs__free(f->code);
    wxs__free(f);
    wxs__ctx_unref(ctx);
}

static void remembered_alone(void *arg, int status)
{
    (void)arg;
    (void)status; /* the result stands even when remembering it failed */
}

/* Hand the flight's result to every waiting request and retire the flight. A result to remember
 * that no login write carried (every waiter failed before its write) is written on its own. */
static void flight_resolve(flight *f)
{
    wxs_ctx *ctx = f->ctx;
    for (flight **pp = &ctx->flights; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    auth_op *w = f->waiters;
    f->waiters = NULL;
    while (w != NULL) {
        auth_op *next = w->next_waiter;
        login_continue(w, &f->result, &f->remember);
        w = next;
    }
    if (f->remember != NULL && !ctx->closing)
        ctx->store->ops->set_ex(ctx->store, f->key, strlen(f->key), f->remember,
                                strlen(f->remember), EXCHANGE_REMEMBER_S, remembered_alone, NULL);
    uv_close((uv_handle_t *)&f->poll, flight_closed);
}

static void flight_fail(flight *f, int status, const char *reason)
{
    exchange_clear(&f->result);
    f->result.status = status;
    f->result.reason = wxs__strdup(reason);
    flight_resolve(f);
}

static int set_str(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    *dst = wxs__strdup(src);
    return *dst == NULL ? WXS_ENOMEM : 0;
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
 * "session_key":..}. The leading 'x' keeps it from ever reading as a user record. */
static char *remember_encode(const exchange *ex)
{
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    int rc = wxs__buf_printf(&b, "x{\"status\":%d,\"errcode\":%ld", ex->status, ex->errcode);
    if (rc == 0)
        rc = add_member(&b, "errmsg", ex->errmsg);
    if (rc == 0)
        rc = add_member(&b, "openid", ex->openid);
    if (rc == 0)
        rc = add_member(&b, "session_key", ex->session_key);
    if (rc == 0)
        rc = wxs__buf_add(&b, "}", 1);
    if (rc < 0) {
        wxs__buf_free(&b);
        return NULL;
    }
    return wxs__buf_take(&b, NULL);
}

static int remember_decode(const char *val, size_t len, exchange *ex)
{
    json_t *o = json_loadb(val + 1, len - 1, 0, NULL);
    if (o == NULL)
        return WXS_EPARSE;
    int rc = 0;
    json_t *status = json_object_get(o, "status");
    json_t *errcode = json_object_get(o, "errcode");
    ex->status = json_is_integer(status) ? (int)json_integer_value(status) : WXS_EPARSE;
    ex->errcode = json_is_integer(errcode) ? (long)json_integer_value(errcode) : 0;
    if (set_str(&ex->errmsg, json_string_value(json_object_get(o, "errmsg"))) < 0 ||
        set_str(&ex->openid, json_string_value(json_object_get(o, "openid"))) < 0 ||
        set_str(&ex->session_key, json_string_value(json_object_get(o, "session_key"))) < 0)
        rc = WXS_ENOMEM;
    if (rc == 0 && ex->status == 0 && (ex->openid == NULL || ex->session_key == NULL))
        rc = WXS_EPARSE;
    if (rc == 0 && ex->status == WXS_EEXCHANGE && ex->errmsg == NULL)
        rc = WXS_EPARSE;
    json_decref(o);
    if (rc < 0)
        exchange_clear(ex);
    return rc;
}

static void flight_claim(flight *f);

static void remembered(void *arg, int status)
{
    flight_resolve(arg); /* the result stands even when remembering it failed */
}

/* Whether WeChat's answer is about the code itself (and so stands for the code's life). -1
 * (system busy) and 45011 (minute quota) are not: the code is still good for a retry. */
static int answer_is_about_the_code(const wxs__exchange_result *res)
{
    if (res->status == 0)
        return 1;
    return res->status == WXS_EEXCHANGE && res->errcode != -1 && res->errcode != 45011;
}

static void exchanged(void *arg, const wxs__exchange_result *res)
{
    flight *f = arg;
    wxs_ctx *ctx = f->ctx;
    exchange *ex = &f->result;
    exchange_clear(ex);
    ex->status = res->status;
    ex->errcode = res->errcode;
    if (set_str(&ex->errmsg, res->errmsg) < 0 || set_str(&ex->openid, res->openid) < 0 ||
        set_str(&ex->session_key, res->session_key) < 0 || set_str(&ex->reason, res->reason) < 0) {
        flight_fail(f, WXS_ENOMEM, "out of memory");
        return;
    }
    if (ctx->closing) {
        flight_resolve(f);
        return;
    }
    if (!answer_is_about_the_code(res)) {
        /* no answer about the code: release the claim so a retry may exchange again */
        if (ctx->store->ops->del(ctx->store, f->key, strlen(f->key), remembered, f) < 0)
            flight_resolve(f);
        return;
    }
    if (ex->status == 0) {
        /* remembered by the first login write (flight_resolve), no round trip of its own */
        f->remember = remember_encode(ex);
        flight_resolve(f);
        return;
    }
    char *record = remember_encode(ex);
    int rc = WXS_ENOMEM;
    if (record != NULL)
        rc = ctx->store->ops->set_ex(ctx->store, f->key, strlen(f->key), record, strlen(record),
                                     EXCHANGE_REMEMBER_S, remembered, f);
    wxs__free(record);
    if (rc < 0)
        flight_resolve(f);
}

static void poll_fired(uv_timer_t *t)
{
    flight_claim(t->data);
}

static void claim_looked_up(void *arg, int status, const char *val, size_t len)
{
    flight *f = arg;
    if (status == 0 && len > 1 && val[0] == 'x') {
        exchange_clear(&f->result);
        if (remember_decode(val, len, &f->result) == 0)
            flight_resolve(f);
        else
            flight_fail(f, WXS_EUPSTREAM, "unreadable remembered exchange");
        return;
    }
    if (status < 0 && status != WXS_ENOTFOUND) {
        flight_fail(f, status, "store unavailable");
        return;
    }
    /* another request holds the claim (or just released it): look again shortly */
    if (uv_now(f->ctx->loop) >= f->deadline_ms) {
        flight_fail(f, WXS_ETIMEDOUT, "timeout waiting for a concurrent exchange");
        return;
    }
    uv_timer_start(&f->poll, poll_fired, EXCHANGE_POLL_MS, 0);
}

static void claimed(void *arg, int status)
{
    flight *f = arg;
    wxs_ctx *ctx = f->ctx;
    int rc;
    if (status < 0) {
        flight_fail(f, status, "store unavailable");
        return;
    }
    if (ctx->closing) {
        flight_fail(f, WXS_ECANCELED, "shutting down");
        return;
    }
    if (status == 1)
        rc = wxs__wechat_exchange(ctx->wechat, f->code, f->code_len, exchanged, f);
    else
        rc = ctx->store->ops->get(ctx->store, f->key, strlen(f->key), claim_looked_up, f);
    if (rc < 0)
        flight_fail(f, rc, status == 1 ? "exchange could not start" : "store unavailable");
}

/* Claim the code's exchange in the store: the winner exchanges, the others wait for its
 * remembered result. The claim expires by itself if its owner dies. */
static void flight_claim(flight *f)
{
    wxs_ctx *ctx = f->ctx;
    if (ctx->closing) {
        flight_fail(f, WXS_ECANCELED, "shutting down");
        return;
    }
    long long claim_ttl = (ctx->cfg->wechat_timeout_ms + ctx->cfg->wechat_connect_timeout_ms) /
                              1000 + 2;
    int rc = ctx->store->ops->set_nx_ex(ctx->store, f->key, strlen(f->key), "p", 1, claim_ttl,
                                        claimed, f);
    if (rc < 0)
        flight_fail(f, rc, "store unavailable");
}

static flight *flight_find(wxs_ctx *ctx, const char *code, size_t len)
{
    for (flight *f = ctx->flights; f != NULL; f = f->next)
        if (f->code_len == len && memcmp(f->code, code, len) == 0)
            return f;
    return NULL;
}

/* Join the exchange of op's code: an existing flight on this context, or a new one. */
static int flight_join(auth_op *op)
{
    wxs_ctx *ctx = op->ctx;
    flight *f = flight_find(ctx, op->code, op->code_len);
    if (f != NULL) {
        op->flight_key = f->key;
        op->next_waiter = f->waiters;
        f->waiters = op;
        return 0;
    }
    f = wxs__calloc(1, sizeof *f);
    if (f == NULL)
        return WXS_ENOMEM;
    f->code = wxs__strndup(op->code, op->code_len);
    if (f->code == NULL) {
        wxs__free(f);
        return WXS_ENOMEM;
    }
    char hex[65];
    wxs__sha256_hex(op->code, op->code_len, hex);
    snprintf(f->key, sizeof f->key, EXCHANGE_KEY_PREFIX "%s", hex);
    f->ctx = ctx;
    f->code_len = op->code_len;
    f->waiters = op;
    op->flight_key = f->key;
    f->deadline_ms = uv_now(ctx->loop) + (uint64_t)ctx->cfg->wechat_timeout_ms +
                     (uint64_t)ctx->cfg->wechat_connect_timeout_ms + 2000;
    uv_timer_init(ctx->loop, &f->poll);
    f->poll.data = f;
    f->next = ctx->flights;
    ctx->flights = f;
    ctx->refs++;
    flight_claim(f);
    return 0;
}

/* ---- entry point */

static int login_start(auth_op *op, const wxs_auth_request *req)
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
        answer_error(op, rc, 431, "ERR_RAW_DATA_TOO_LARGE", err);
        return 1;
    }
    if (rc < 0) { /* what decodeURIComponent throws */
        wxs__buf b;
        wxs__buf_init(&b, 4096);
        if (wxs__error_body(&b, NULL, "URIError", "URI malformed", NULL) < 0)
            wxs__buf_free(&b);
        answer_reject(op, rc, 200, &b);
        wxs__buf_free(&b);
        return 1;
    }
    op->plain = wxs__user_plain(op->raw, op->raw_len, (int)cfg->limit_json_depth);
    rc = op->plain ? 0
                   : wxs__user_parse(op->raw, op->raw_len, (int)cfg->limit_json_depth, &op->user,
                                     err, sizeof err);
    if (rc < 0) {
        wxs__buf b;
        wxs__buf_init(&b, 4096);
        if (wxs__error_body(&b, NULL, "SyntaxError", err, NULL) < 0)
            wxs__buf_free(&b);
        answer_reject(op, rc, 200, &b);
        wxs__buf_free(&b);
        return 1;
    }
    op->signature_ok_len = req->signature_len == 40;
    if (op->signature_ok_len)
        memcpy(op->signature, req->signature, 40);
    return flight_join(op);
}

int wxs_ctx_authenticate(wxs_ctx *ctx, const wxs_auth_request *req, wxs_auth_cb cb, void *arg)
{
    if (ctx == NULL || req == NULL || cb == NULL)
        return WXS_EINVAL;
    if (req->code == NULL || req->code_len == 0) {
        wxs_auth_result res = {.kind = WXS_AUTH_ANONYMOUS, .http_status = 200};
        cb(arg, &res);
        return 0;
    }
    if (ctx->closing)
        return WXS_ECANCELED;
    if (req->code_len <= (size_t)ctx->cfg->limit_code_bytes &&
        (req->raw_data == NULL || req->raw_data_len == 0))
        return lookup_start(ctx, req, cb, arg);
    auth_op *op = wxs__calloc(1, sizeof *op);
    if (op == NULL)
        return WXS_ENOMEM;
    op->ctx = ctx;
    op->cb = cb;
    op->arg = arg;
    ctx->refs++;
    int rc;
    if (req->code_len > (size_t)ctx->cfg->limit_code_bytes) {
        char err[96];
        snprintf(err, sizeof err, "X-WX-Code exceeds %lld bytes", ctx->cfg->limit_code_bytes);
        answer_error(op, WXS_ETOOBIG, 400, "ERR_CODE_TOO_LONG", err);
        rc = 1;
    } else {
        op->code = wxs__strndup(req->code, req->code_len);
        op->code_len = req->code_len;
        rc = op->code == NULL ? WXS_ENOMEM : login_start(op, req);
        if (rc == 0)
            return 0; /* the flight owns op */
    }
    if (rc < 0) {
        /* nothing answered: per the contract the callback is not called */
        op->cb = NULL;
    }
    op_free(op);
    return rc < 0 ? rc : 0;
}

/* ---- lifetime */

int wxs_ctx_new(wxs_ctx **out, uv_loop_t *loop, const wxs_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    wxs_ctx *ctx = wxs__calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return WXS_ENOMEM;
    ctx->loop = loop;
    ctx->cfg = cfg;
    const wxs__store_ops *ops = wxs__store_find(cfg->store);
    if (ops == NULL) {
        snprintf(err, errlen, "option 'store': unknown store '%s'", cfg->store);
        rc = WXS_ECONFIG;
        goto out;
    }
    rc = ops->open(&ctx->store, loop, cfg, err, errlen);
    if (rc < 0)
        goto out;
    const wxs__paint_store_ops *pops = wxs__paint_store_find(cfg->paint_store);
    if (pops == NULL) {
        snprintf(err, errlen, "option 'paints.store': unknown store '%s'", cfg->paint_store);
        rc = WXS_ECONFIG;
        goto out;
    }
    rc = pops->open(&ctx->paints, loop, cfg, err, errlen);
    if (rc < 0)
        goto out;
    rc = wxs__wechat_new(&ctx->wechat, loop, cfg);
    if (rc < 0) {
        snprintf(err, errlen, "WeChat client: %s", wxs_strerror(rc));
        goto out;
    }
    *out = ctx;
out:
    if (rc < 0) {
        if (ctx->store != NULL)
            ctx->store->ops->close(ctx->store);
        if (ctx->paints != NULL)
            ctx->paints->ops->close(ctx->paints);
        wxs__free(ctx);
    }
    return rc;
}

void wxs__ctx_unref(wxs_ctx *ctx)
{
    if (--ctx->refs == 0 && ctx->closing)
        wxs__free(ctx);
}

void wxs_ctx_free(wxs_ctx *ctx)
{
    if (ctx == NULL)
        return;
    ctx->closing = 1;
    ctx->refs++; /* hold the context while closing what calls back into it */
    /* flights waiting on a poll timer would wait for nothing now */
    flight *f = ctx->flights;
    while (f != NULL) {
        flight *next = f->next;
        if (uv_is_active((uv_handle_t *)&f->poll)) {
            uv_timer_stop(&f->poll);
            flight_fail(f, WXS_ECANCELED, "shutting down");
        }
        f = next;
    }
    wxs__wechat_free(ctx->wechat); /* in-flight exchanges call back with WXS_ECANCELED */
    ctx->wechat = NULL;
    ctx->store->ops->close(ctx->store); /* pending ops call back with WXS_ECANCELED */
    ctx->paints->ops->close(ctx->paints);
    wxs__ctx_unref(ctx);
}

int wxs_ctx_store_ready(const wxs_ctx *ctx)
{
    return ctx->store->ops->ready(ctx->store);
}
