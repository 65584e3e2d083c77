/* token.c: token sessions on a session context (wxsession.h "token sessions", docs/protocol.md
 * "Token sessions"): a login exchanges a code (the single-flight exchange, lib/exchange.h) and
 * writes a session under the token's SHA-256; lookup, logout and decrypt read it back. Entry
 * points first, then each path's steps in the order they happen. Talks to stores only through
 * lib/store.h; the record and the token itself are lib/token_record.c's. */
#include "token.h"
#include "ctx.h"
#include "exchange.h"
#include "protocol.h"
#include "stats.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENCRYPTED_MAX (96 * 1024) /* base64 of wxs_decrypt_data's 64 KiB, and some */
#define IV_MAX 64
#define ERRMSG_MAX 256

enum op_kind { OP_LOGIN, OP_LOOKUP, OP_LOGOUT, OP_LOGOUT_ALL, OP_DECRYPT };

/* One token operation, from its entry point to its answer. */
typedef struct token_op {
    wxs_ctx *ctx;
    wxs_token_cb cb;
    void *arg;
    enum op_kind kind;
    wxs__deferred later; /* an answer found at once, delivered on the loop's next pass */
    int status;
    int result; /* login: wxs_login_result; else wxs_lookup_result (-1: not counted) */
    uint64_t start_ns;
    char hash[WXS__TOKEN_HASH_LEN + 1];
    char token[WXS__TOKEN_CHARS + 1];
    /* login */
    char *code;
    size_t code_len;
    char *raw; /* rawData as sent (plain JSON) */
    size_t raw_len;
    json_t *user; /* rawData parsed */
    char signature[41];
    int has_signature;
    /* login and decrypt: encryptedData and iv, and what they decrypt to */
    char *data;
    size_t data_len;
    char iv[IV_MAX + 1];
    size_t iv_len;
    char *plain;
    size_t plain_len;
    /* the session */
    wxs__token_record rec;
    char *user_json; /* NUL-terminated copy for the answer, or NULL */
    size_t user_len;
    char *record; /* the record written (login) */
    size_t record_len;
    long long expires_in;
    long errcode;
    char errmsg[ERRMSG_MAX + 1];
    int has_errmsg;
} token_op;

static token_op *op_new(wxs_ctx *ctx, enum op_kind kind, wxs_token_cb cb, void *arg);
static void answer(token_op *op, int status);
static void answer_later(token_op *op, int status);
static int login_start(token_op *op, const wxs_token_login_request *req);
static int session_read(token_op *op, const char *token, size_t len);

/* Test hook: when set, the clock of session times (unix seconds). Not for production. */
long long (*wxs__token_clock_hook)(void);

static long long now_s(void)
{
    return wxs__token_clock_hook != NULL ? wxs__token_clock_hook() : (long long)time(NULL);
}

static long long now_ms(void)
{
    if (wxs__token_clock_hook != NULL)
        return wxs__token_clock_hook() * 1000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
    return wxs__buf_add(data, p, n) == 0 ? 0 : -1;
}

/* obj as compact JSON (key order kept) into *out (wxs__free). 0 or WXS_ENOMEM. */
static int dump_json(json_t *obj, char **out, size_t *out_len)
{
    wxs__buf b;
    wxs__buf_init(&b, (size_t)-1);
    if (json_dump_callback(obj, dump_to_buf, &b, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
        b.data == NULL) {
        wxs__buf_free(&b);
        return WXS_ENOMEM;
    }
    *out = wxs__buf_take(&b, out_len);
    return 0;
}

/* ---- entry points */

int wxs_ctx_token_login(wxs_ctx *ctx, const wxs_token_login_request *req, wxs_token_cb cb,
                        void *arg)
{
    if (ctx == NULL || req == NULL || cb == NULL)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    token_op *op = op_new(ctx, OP_LOGIN, cb, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    op->result = WXS_LOGIN_INTERNAL;
    int rc = login_start(op, req);
    if (rc < 0) {
        op->result = -1;
        op->cb = NULL;
        answer(op, rc); /* frees: nothing will answer, per the contract cb is not called */
    }
    return rc;
}

int wxs_ctx_token_lookup(wxs_ctx *ctx, const char *token, size_t len, wxs_token_cb cb, void *arg)
{
    if (ctx == NULL || cb == NULL)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    token_op *op = op_new(ctx, OP_LOOKUP, cb, arg);
    return op == NULL ? WXS_ENOMEM : session_read(op, token, len);
}

int wxs_ctx_token_logout(wxs_ctx *ctx, const char *token, size_t len, int all, wxs_token_cb cb,
                         void *arg)
{
    if (ctx == NULL || cb == NULL)
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    token_op *op = op_new(ctx, all ? OP_LOGOUT_ALL : OP_LOGOUT, cb, arg);
    return op == NULL ? WXS_ENOMEM : session_read(op, token, len);
}

int wxs_ctx_token_decrypt(wxs_ctx *ctx, const char *token, size_t len, const char *data,
                          size_t data_len, const char *iv, size_t iv_len, wxs_token_cb cb,
                          void *arg)
{
    if (ctx == NULL || cb == NULL || (data == NULL && data_len > 0) || (iv == NULL && iv_len > 0))
        return WXS_EINVAL;
    if (ctx->closing)
        return WXS_ECANCELED;
    token_op *op = op_new(ctx, OP_DECRYPT, cb, arg);
    if (op == NULL)
        return WXS_ENOMEM;
    if (data_len == 0 || iv_len == 0 || iv_len > IV_MAX) {
        answer_later(op, WXS_EPARSE);
        return 0;
    }
    if (data_len > ENCRYPTED_MAX) {
        answer_later(op, WXS_ETOOBIG);
        return 0;
    }
    op->data = wxs__strndup(data, data_len);
    if (op->data == NULL) {
        op->cb = NULL;
        answer(op, WXS_ENOMEM);
        return WXS_ENOMEM;
    }
    op->data_len = data_len;
    memcpy(op->iv, iv, iv_len);
    op->iv_len = iv_len;
    return session_read(op, token, len);
}

/* ---- login, step 1: check the request, join the code's exchange */

static void code_exchanged(void *arg, const wxs__exchange_outcome *out, wxs__remember *remember);

/* Answer a login rejected at once on the next pass, counted as result. */
static int login_reject(token_op *op, int status, wxs_login_result result)
{
    op->result = result;
    answer_later(op, status);
    return 0;
}

/* Copy and check what the request carries (a rejection is answered later), then exchange the
 * code. 0, or a negative code when nothing will answer. */
static int login_start(token_op *op, const wxs_token_login_request *req)
{
    const wxs_config *cfg = op->ctx->cfg;
    char err[160];
    if (req->code == NULL || req->code_len == 0)
        return login_reject(op, WXS_EPARSE, WXS_LOGIN_MALFORMED_RAW_DATA);
    if (req->code_len > (size_t)cfg->limit_code_bytes)
        return login_reject(op, WXS_ETOOBIG, WXS_LOGIN_CODE_TOO_LONG);
    if (req->raw_data_len > (size_t)cfg->limit_raw_data_bytes)
        return login_reject(op, WXS_ETOOBIG, WXS_LOGIN_RAW_DATA_TOO_LARGE);
    if ((req->encrypted_data_len == 0) != (req->iv_len == 0) || req->iv_len > IV_MAX)
        return login_reject(op, WXS_EPARSE, WXS_LOGIN_MALFORMED_RAW_DATA);
    if (req->encrypted_data_len > ENCRYPTED_MAX)
        return login_reject(op, WXS_ETOOBIG, WXS_LOGIN_RAW_DATA_TOO_LARGE);
    if (req->raw_data != NULL && req->raw_data_len > 0 &&
        wxs__user_parse(req->raw_data, req->raw_data_len, (int)cfg->limit_json_depth, &op->user,
                        err, sizeof err) < 0)
        return login_reject(op, WXS_EPARSE, WXS_LOGIN_MALFORMED_RAW_DATA);
    op->code = wxs__strndup(req->code, req->code_len);
    op->code_len = req->code_len;
    if (op->code == NULL)
        return WXS_ENOMEM;
    if (op->user != NULL) {
        op->raw = wxs__strndup(req->raw_data, req->raw_data_len);
        op->raw_len = req->raw_data_len;
        op->has_signature = req->signature != NULL && req->signature_len == 40;
        if (op->has_signature)
            memcpy(op->signature, req->signature, 40);
        if (op->raw == NULL)
            return WXS_ENOMEM;
    }
    if (req->encrypted_data_len > 0) {
        op->data = wxs__strndup(req->encrypted_data, req->encrypted_data_len);
        op->data_len = req->encrypted_data_len;
        memcpy(op->iv, req->iv, req->iv_len);
        op->iv_len = req->iv_len;
        if (op->data == NULL)
            return WXS_ENOMEM;
    }
    return wxs__exchange_start(op->ctx, op->code, op->code_len, code_exchanged, op);
}

/* ---- login, step 2: the code is exchanged: check, decrypt, write the session */

static void session_written(void *arg, int status);
static int login_checks(token_op *op, const wxs__exchange_outcome *out);
static int login_record(token_op *op, const wxs__exchange_outcome *out);

static void code_exchanged(void *arg, const wxs__exchange_outcome *out, wxs__remember *remember)
{
    token_op *op = arg;
    wxs_ctx *ctx = op->ctx;
    int rc = login_checks(op, out);
    if (rc == 0)
        rc = login_record(op, out);
    if (rc == 0 && ctx->closing)
        rc = WXS_ECANCELED;
    if (rc < 0)
        goto out;
    long long idle = ctx->cfg->token_idle_s, max = ctx->cfg->token_max_s;
    wxs__token_put tp = {.hash = op->hash,
                         .openid = op->rec.openid,
                         .openid_len = strlen(op->rec.openid),
                         .record = op->record,
                         .record_len = op->record_len,
                         .ttl_s = idle < max ? idle : max,
                         .index_ttl_s = max,
                         .created_ms = now_ms(),
                         .cap = ctx->cfg->tokens_per_user};
    if (remember != NULL)
        tp.remember = *remember;
    op->start_ns = wxs__now_ns();
    rc = wxs__store_token_put(ctx->store, &tp, session_written, op);
    if (rc == 0 && remember != NULL)
        wxs__exchange_carried(remember);
    if (rc == 0)
        return;
    if (rc != WXS_ECANCELED)
        wxs__count(&ctx->stats.store_errors[WXS_STORE_WRITE]);
    rc = rc == WXS_ECANCELED ? rc : WXS_ESTORE;
out:
    if (op->result == WXS_LOGIN_INTERNAL && (rc == WXS_ESTORE || rc == WXS_ECANCELED))
        op->result = rc == WXS_ESTORE ? WXS_LOGIN_STORE_UNAVAILABLE : WXS_LOGIN_SHUTTING_DOWN;
    answer(op, rc);
}

/* The exchange's outcome, rawData's signature, the openid's length, encryptedData: 0, or the
 * status to answer (op->result set). */
static int login_checks(token_op *op, const wxs__exchange_outcome *out)
{
    if (out->status == WXS_ESTORE || out->status == WXS_ECANCELED)
        return out->status; /* counted by the caller */
    if (out->status < 0) {
        op->result = WXS_LOGIN_EXCHANGE_FAILED;
        op->errcode = out->errcode;
        op->has_errmsg = out->errmsg != NULL;
        if (out->errmsg != NULL)
            snprintf(op->errmsg, sizeof op->errmsg, "%s", out->errmsg);
        return out->status;
    }
    if (op->raw != NULL && (!op->has_signature ||
                            !wxs_signature_verify(op->raw, op->raw_len, out->session_key,
                                                  strlen(out->session_key), op->signature, 40))) {
        op->result = WXS_LOGIN_UNTRUSTED_RAW_DATA;
        return WXS_ESIGNATURE;
    }
    if (strlen(out->openid) > WXS__TOKEN_ID_MAX || strlen(out->session_key) > WXS__TOKEN_KEY_MAX ||
        (out->unionid != NULL && strlen(out->unionid) > WXS__TOKEN_ID_MAX)) {
        op->result = WXS_LOGIN_BAD_OPENID;
        return WXS_EUPSTREAM;
    }
    if (op->data == NULL)
        return 0;
    int rc =
        wxs_decrypt_data(out->session_key, strlen(out->session_key), op->iv, op->iv_len, op->data,
                         op->data_len, op->ctx->cfg->app_id, &op->plain, &op->plain_len);
    if (rc < 0) /* no label of its own: the user data sent with the login is not usable */
        op->result = rc == WXS_ENOMEM ? WXS_LOGIN_INTERNAL : WXS_LOGIN_MALFORMED_RAW_DATA;
    return rc;
}

/* Fill op->rec from the exchange and the user data, make the token and the record. */
static int login_record(token_op *op, const wxs__exchange_outcome *out)
{
    const wxs_config *cfg = op->ctx->cfg;
    wxs__token_record *rec = &op->rec;
    json_t *plain = NULL;
    int rc = 0;
    strcpy(rec->openid, out->openid);
    strcpy(rec->session_key, out->session_key);
    if (out->unionid != NULL && out->unionid[0] != '\0') {
        strcpy(rec->unionid, out->unionid);
        rec->has_unionid = 1;
    }
    if (op->plain != NULL) {
        plain = json_loadb(op->plain, op->plain_len, 0, NULL);
        const char *u = json_string_value(json_object_get(plain, "unionId"));
        if (!rec->has_unionid && u != NULL && u[0] != '\0' && strlen(u) <= WXS__TOKEN_ID_MAX) {
            strcpy(rec->unionid, u); /* a remembered exchange has none: the data may */
            rec->has_unionid = 1;
        }
    }
    json_t *user = json_is_object(plain) ? plain : op->user;
    /* the user info carries the openId WeChat gave, as the weapp-session record does (a
     * client's rawData naming another openId does not count) */
    if (user != NULL && json_object_set_new(user, "openId", json_string(rec->openid)) < 0)
        rc = WXS_ENOMEM;
    if (user != NULL && rc == 0)
        rc = dump_json(user, &op->user_json, &op->user_len);
    json_decref(plain);
    rec->user = op->user_json;
    rec->user_len = op->user_len;
    rec->created = rec->last_seen = now_s();
    rec->expires_at = rec->created + cfg->token_max_s;
    if (rc == 0)
        rc = wxs__token_make(op->token);
    if (rc == 0) {
        wxs_token_hash(op->token, strlen(op->token), op->hash);
        rc = wxs__token_record_encode(rec, &op->record, &op->record_len);
    }
    if (rc < 0)
        op->result = WXS_LOGIN_INTERNAL;
    return rc;
}

/* ---- login, step 3: the session is written */

static void session_written(void *arg, int status)
{
    token_op *op = arg;
    wxs_stats *st = &op->ctx->stats;
    const wxs_config *cfg = op->ctx->cfg;
    wxs__observe_since(&st->store_latency[WXS_STORE_WRITE], op->start_ns);
    if (status < 0) {
        if (status != WXS_ECANCELED)
            wxs__count(&st->store_errors[WXS_STORE_WRITE]);
        op->result =
            status == WXS_ECANCELED ? WXS_LOGIN_SHUTTING_DOWN : WXS_LOGIN_STORE_UNAVAILABLE;
        answer(op, status == WXS_ECANCELED ? status : WXS_ESTORE);
        return;
    }
    op->result = WXS_LOGIN_OK;
    op->expires_in = cfg->token_idle_s < cfg->token_max_s ? cfg->token_idle_s : cfg->token_max_s;
    answer(op, 0);
}

/* ---- lookup, logout, decrypt, step 1: read the token's session */

static void session_found(void *arg, int status, const char *val, size_t len);

/* Check the token's syntax (a bad one is answered WXS_ETOKEN on the next pass, the store left
 * alone) and read its record. 0, or a negative code when nothing will answer. */
static int session_read(token_op *op, const char *token, size_t len)
{
    if (op->kind == OP_LOOKUP)
        op->result = WXS_LOOKUP_INTERNAL;
    if (!wxs__token_syntax_ok(token, len)) {
        op->result = op->kind == OP_LOOKUP ? WXS_LOOKUP_SESSION_EXPIRED : -1;
        answer_later(op, WXS_ETOKEN);
        return 0;
    }
    wxs_token_hash(token, len, op->hash);
    op->start_ns = wxs__now_ns();
    int rc = wxs__store_token_get(op->ctx->store, op->hash, session_found, op);
    if (rc == WXS_ESTORE) {
        wxs__count(&op->ctx->stats.store_errors[WXS_STORE_GET]);
        if (op->kind == OP_LOOKUP)
            op->result = WXS_LOOKUP_STORE_UNAVAILABLE;
        answer_later(op, rc);
        rc = 0;
    }
    if (rc < 0) {
        op->result = -1;
        op->cb = NULL;
        answer(op, rc);
    }
    return rc;
}

/* ---- step 2: the record is read: check its times, then the operation's own step */

static void renew(token_op *op, long long now);
static void logout_start(token_op *op);
static void decrypt_now(token_op *op);

/* The status of what the store answered: 0 with op->rec decoded, or the status to answer. */
static int found_status(token_op *op, int status, const char *val, size_t len)
{
    wxs_ctx *ctx = op->ctx;
    if (status == WXS_ENOTFOUND)
        return WXS_ETOKEN;
    if (status < 0) {
        if (status != WXS_ECANCELED)
            wxs__count(&ctx->stats.store_errors[WXS_STORE_GET]);
        return status == WXS_ECANCELED ? status : WXS_ESTORE;
    }
    int rc = wxs__token_record_decode(val, len, &op->rec);
    if (rc == WXS_EPARSE)
        return WXS_ETOKEN; /* not a session record: no such token */
    if (rc == 0 && op->rec.user != NULL) {
        op->user_json = wxs__strndup(op->rec.user, op->rec.user_len);
        op->user_len = op->rec.user_len;
        rc = op->user_json != NULL ? 0 : WXS_ENOMEM;
    }
    long long now = now_s();
    if (rc == 0 && (now >= op->rec.expires_at || now >= op->rec.last_seen + ctx->cfg->token_idle_s))
        rc = WXS_EEXPIRED;
    return rc;
}

static void session_found(void *arg, int status, const char *val, size_t len)
{
    token_op *op = arg;
    wxs_ctx *ctx = op->ctx;
    wxs__observe_since(&ctx->stats.store_latency[WXS_STORE_GET], op->start_ns);
    int rc = found_status(op, status, val, len);
    if (op->kind == OP_LOOKUP)
        op->result = rc == 0                                  ? WXS_LOOKUP_OK
                     : rc == WXS_ETOKEN || rc == WXS_EEXPIRED ? WXS_LOOKUP_SESSION_EXPIRED
                     : rc == WXS_ESTORE                       ? WXS_LOOKUP_STORE_UNAVAILABLE
                     : rc == WXS_ECANCELED                    ? WXS_LOOKUP_SHUTTING_DOWN
                                                              : WXS_LOOKUP_INTERNAL;
    if (rc < 0) {
        answer(op, rc);
        return;
    }
    switch (op->kind) {
    case OP_LOGOUT:
    case OP_LOGOUT_ALL:
        logout_start(op);
        return;
    case OP_DECRYPT:
        renew(op, now_s());
        decrypt_now(op);
        return;
    default:
        renew(op, now_s());
        answer(op, 0);
        return;
    }
}

/* ---- renewal: at most once per eighth of the idle time, without waiting for it */

static void renewed(void *arg, int status)
{
    wxs_ctx *ctx = arg;
    if (status < 0 && status != WXS_ECANCELED)
        wxs__count(&ctx->stats.store_errors[WXS_STORE_WRITE]);
    wxs__ctx_unref(ctx);
}

/* Set op->expires_in; when an eighth of the idle time has passed since the last renewal, write
 * the record back with lastSeen = now and a fresh TTL (only if it still exists: a logout
 * meanwhile wins). A renewal that fails is tried again by a later request. */
static void renew(token_op *op, long long now)
{
    wxs_ctx *ctx = op->ctx;
    wxs__token_record rec = op->rec;
    long long idle = ctx->cfg->token_idle_s;
    long long end = op->rec.last_seen + idle;
    if (now - op->rec.last_seen >= idle / 8 && !ctx->closing) {
        char *record = NULL;
        size_t record_len = 0;
        rec.last_seen = now;
        end = now + idle;
        long long ttl = (end < rec.expires_at ? end : rec.expires_at) - now;
        if (ttl > 0 && wxs__token_record_encode(&rec, &record, &record_len) == 0) {
            wxs__ctx_ref(ctx);
            if (wxs__store_token_touch(ctx->store, op->hash, record, record_len, ttl, renewed,
                                       ctx) < 0) {
                end = op->rec.last_seen + idle;
                wxs__ctx_unref(ctx);
            }
        }
        wxs__free(record);
    }
    op->expires_in = (end < op->rec.expires_at ? end : op->rec.expires_at) - now;
}

/* ---- logout, step 3: end the session (or all of the user's) */

static void logged_out(void *arg, int status)
{
    token_op *op = arg;
    if (status < 0 && status != WXS_ECANCELED)
        wxs__count(&op->ctx->stats.store_errors[WXS_STORE_WRITE]);
    answer(op, status >= 0 ? 0 : status == WXS_ECANCELED ? status : WXS_ESTORE);
}

static void logout_start(token_op *op)
{
    wxs_ctx *ctx = op->ctx;
    const char *openid = op->rec.openid;
    int rc =
        op->kind == OP_LOGOUT_ALL
            ? wxs__store_token_del_user(ctx->store, openid, strlen(openid), logged_out, op)
            : wxs__store_token_del(ctx->store, op->hash, openid, strlen(openid), logged_out, op);
    if (rc < 0) {
        if (rc != WXS_ECANCELED)
            wxs__count(&ctx->stats.store_errors[WXS_STORE_WRITE]);
        answer_later(op, rc == WXS_ECANCELED ? rc : WXS_ESTORE);
    }
}

/* ---- decrypt, step 3: with the session's key */

/* WeChat's word on a key the data did not decrypt with: still its key, so the data is bad
 * (WXS_EDECRYPT); else, or when WeChat cannot tell (no access_token, unreachable), the key is
 * taken as stale (WXS_ESTALE: logging in again gives the client data and a key that match). */
static void key_checked(void *arg, const wxs_api_result *res)
{
    token_op *op = arg;
    if (res->status < 0 && res->status != WXS_ESTALE && res->status != WXS_ECANCELED)
        wxs__info("token: decrypt: the session_key check failed (%s); answering it stale",
                  wxs_strerror(res->status));
    answer(op, res->status == 0               ? WXS_EDECRYPT
               : res->status == WXS_ECANCELED ? WXS_ECANCELED
                                              : WXS_ESTALE);
}

static void decrypt_now(token_op *op)
{
    int rc =
        wxs_decrypt_data(op->rec.session_key, strlen(op->rec.session_key), op->iv, op->iv_len,
                         op->data, op->data_len, op->ctx->cfg->app_id, &op->plain, &op->plain_len);
    if (rc == WXS_EDECRYPT) {
        rc = wxs_ctx_check_session_key(op->ctx, op->rec.openid, op->rec.session_key, key_checked,
                                       op);
        if (rc == 0)
            return;
        rc = rc == WXS_ECANCELED ? rc : WXS_ESTALE;
    }
    answer(op, rc);
}

/* ---- ops and answers */

static token_op *op_new(wxs_ctx *ctx, enum op_kind kind, wxs_token_cb cb, void *arg)
{
    token_op *op = wxs__calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->ctx = ctx;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    op->result = -1;
    wxs__ctx_ref(ctx);
    return op;
}

static void op_free(token_op *op)
{
    wxs_ctx *ctx = op->ctx;
    json_decref(op->user);
    wxs__token_record_clear(&op->rec);
    if (op->plain != NULL)
        wxs_free(op->plain);
    wxs__free(op->code);
    wxs__free(op->raw);
    wxs__free(op->data);
    wxs__free(op->user_json);
    if (op->record != NULL) /* holds the session_key */
        memset(op->record, 0, op->record_len);
    wxs__free(op->record);
    memset(op->rec.session_key, 0, sizeof op->rec.session_key);
    wxs__free(op);
    wxs__ctx_unref(ctx);
}

/* Count op's result, call back with status (no callback when op->cb is NULL), free op. */
static void answer(token_op *op, int status)
{
    wxs_ctx *ctx = op->ctx;
    if (op->result >= 0 && op->kind == OP_LOGIN)
        wxs__count(&ctx->stats.logins[op->result]);
    else if (op->result >= 0 && op->kind == OP_LOOKUP)
        wxs__count(&ctx->stats.lookups[op->result]);
    if (op->cb != NULL) {
        wxs_token_result res = {.status = status};
        if (status == 0) {
            res.token = op->kind == OP_LOGIN ? op->token : NULL;
            res.openid = op->rec.openid;
            res.unionid = op->rec.has_unionid ? op->rec.unionid : NULL;
            res.expires_in = op->expires_in;
            res.expires_at = op->rec.expires_at;
            res.user_json = op->user_json;
            res.user_len = op->user_len;
            res.plain_json = op->plain;
            res.plain_len = op->plain_len;
        } else if (status == WXS_EEXCHANGE) {
            res.errcode = op->errcode;
            res.errmsg = op->has_errmsg ? op->errmsg : NULL;
        }
        op->cb(op->arg, &res);
    }
    op_free(op);
}

static void answered_later(wxs__deferred *d)
{
    token_op *op = WXS__CONTAINER_OF(d, token_op, later);
    answer(op, op->status);
}

/* Answer op with status on the loop's next pass (the callback rule). */
static void answer_later(token_op *op, int status)
{
    op->status = status;
    wxs__defer_call(&op->ctx->later, &op->later, answered_later);
}
