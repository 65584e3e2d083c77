/* simulator_admin.c: the simulator's /__wxsim routes (contract in simulator.h), offered to
 * simulator.c as a table: login (plays wx.login + wx.getUserInfo for a test user), stats, config
 * and reset. Codes, users and decisions are in simulator_state.c. */
#include "server_reasons.h"
#include "simulator_impl.h"

#include "wxsession.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LATENCY_MS 600000 /* latencyMs accepted by /__wxsim/config */

#define DEFAULT_NICKNAME "微信用户"
#define DEFAULT_AVATAR                                                                             \
    "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyX" \
    "wibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"

static const char *const fail_names[] = {"none", "hang", "http500", "garbage", "huge", "busy"};

/* ------------------------------------------------------------------ /__wxsim/login */

/* 1 when s is min_len to max_len characters, each alphanumeric or one of extra. */
static int alnum_or(const char *s, size_t min_len, size_t max_len, const char *extra)
{
    size_t len = strlen(s);
    if (len < min_len || len > max_len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 strchr(extra, c) != NULL;
        if (!ok)
            return 0;
    }
    return 1;
}

static int valid_user_name(const char *n)
{
    return alnum_or(n, 1, MAX_USER_NAME, "_.-");
}

/* What /__wxsim/login was asked for; every field malloc'd or NULL. */
typedef struct login_params {
    char *user;        /* default "test" */
    char *nick;        /* nickName override */
    char *avatar;      /* avatarUrl override */
    char *session_key; /* a fixed session_key instead of a fresh one (for official vectors) */
    char *raw_data;    /* rawData text used verbatim (a JSON object); overrides nick/avatar */
} login_params;

static void login_params_free(login_params *lp)
{
    free(lp->user);
    free(lp->nick);
    free(lp->avatar);
    free(lp->session_key);
    free(lp->raw_data);
}

/* 24 characters of the base64 alphabet, as WeChat's session keys are. */
static int valid_session_key(const char *k)
{
    return alnum_or(k, KEY_LEN, KEY_LEN, "+/=");
}

/* Reads and checks the parameters; NULL when fine, else the reason for a 400. */
static const char *login_parse(http_req *req, login_params *lp)
{
    if (sim__req_param(req, "user", &lp->user) < 0 ||
        sim__req_param(req, "nickName", &lp->nick) < 0 ||
        sim__req_param(req, "avatarUrl", &lp->avatar) < 0 ||
        sim__req_param(req, "sessionKey", &lp->session_key) < 0 ||
        sim__req_param(req, "rawData", &lp->raw_data) < 0)
        return "malformed parameter (bad %-escape, invalid UTF-8, NUL or too long)";
    if (lp->user != NULL && !valid_user_name(lp->user))
        return "user must be 1-64 bytes of [A-Za-z0-9_.-]";
    if (lp->session_key != NULL && !valid_session_key(lp->session_key))
        return "sessionKey must be 24 base64 characters";
    json_t *raw = lp->raw_data != NULL ? json_loads(lp->raw_data, 0, NULL) : NULL;
    int raw_ok = lp->raw_data == NULL || json_is_object(raw);
    json_decref(raw);
    return raw_ok ? NULL : "rawData must be a JSON object";
}

/* The anonymous wx.getUserInfo object (modern shape), with optional overrides. */
static json_t *user_info(const login_params *lp)
{
    if (lp->raw_data != NULL)
        return json_loads(lp->raw_data, 0, NULL);
    return json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "nickName",
                     lp->nick ? lp->nick : DEFAULT_NICKNAME, "gender", 0, "language", "", "city",
                     "", "province", "", "country", "", "avatarUrl",
                     lp->avatar ? lp->avatar : DEFAULT_AVATAR);
}

/* {"code","rawData","signature","openid","userInfo"} for the issued code. */
static void login_reply(reply *r, const login_params *lp, const char *codetext, const char *key,
                        const char *openid)
{
    json_t *info = user_info(lp);
    char *raw = NULL;
    if (info != NULL)
        raw = lp->raw_data != NULL ? strdup(lp->raw_data)
                                   : json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char sig[41];
    if (raw == NULL) {
        json_decref(info);
        sim__reply_error(r, 500, WXS_REASON_INTERNAL, "out of memory");
        return;
    }
    wxs_signature(raw, strlen(raw), key, strlen(key), sig);
    sim__reply_json(r, 200,
                    json_pack("{s:s,s:s,s:s,s:s,s:o}", "code", codetext, "rawData", raw,
                              "signature", sig, "openid", openid, "userInfo", info));
    free(raw);
}

static void handle_login(sim *s, http_req *req, reply *r)
{
    login_params lp = {0};
    char codetext[CODE_LEN + 1], key[KEY_LEN + 1], openid[OPENID_LEN + 1];
    int method = http_req_method(req);
    if (method != HTTP_GET && method != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use GET or POST");
        return;
    }
    const char *why = login_parse(req, &lp);
    int status = why != NULL ? 400
                             : sim__login_issue(s, lp.user != NULL ? lp.user : "test",
                                                lp.session_key, codetext, key, openid);
    if (why != NULL)
        sim__reply_error(r, 400, HTTP_REASON_BAD_PARAM, why);
    else if (status != 0)
        sim__reply_error(r, status, HTTP_REASON_SIMULATOR_FULL, "too many codes or users");
    else
        login_reply(r, &lp, codetext, key, openid);
    OPENSSL_cleanse(key, sizeof key);
    login_params_free(&lp);
}

/* ------------------------------------------------------------------ stats, config, reset */

static void handle_stats(sim *s, http_req *req, reply *r)
{
    json_t *doc = json_object();
    json_t *failed = json_object();
    pthread_mutex_lock(&s->lock);
    json_object_set_new(doc, "exchanges", json_integer(s->exchanges));
    json_object_set_new(doc, "succeeded", json_integer(s->succeeded));
    json_object_set_new(doc, "codesIssued", json_integer(s->codes_issued));
    for (size_t i = 0; i < N_ERRCODES; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", known_errcodes[i]);
        if (s->failed[i] > 0)
            json_object_set_new(failed, key, json_integer(s->failed[i]));
    }
    pthread_mutex_unlock(&s->lock);
    json_object_set_new(doc, "failedByErrcode", failed);
    sim__reply_json(r, 200, doc);
}

static json_t *config_doc(const sim *s)
{
    return json_pack("{s:I,s:s,s:I}", "latencyMs", (json_int_t)s->latency_ms, "failMode",
                     fail_names[s->fail], "failCount", (json_int_t)s->fail_count);
}

/* Validates a /__wxsim/config body; NULL when fine, else the reason. Fills the new values. */
static const char *config_parse(json_t *doc, long long *latency, int *mode, long long *count)
{
    json_t *lat = json_object_get(doc, "latencyMs");
    json_t *fm = json_object_get(doc, "failMode");
    json_t *fc = json_object_get(doc, "failCount");
    if (!json_is_object(doc))
        return "body must be a JSON object";
    if (lat != NULL && (!json_is_integer(lat) || json_integer_value(lat) < 0 ||
                        json_integer_value(lat) > MAX_LATENCY_MS))
        return "latencyMs must be an integer from 0 to 600000";
    if (fc != NULL && (!json_is_integer(fc) || json_integer_value(fc) < -1))
        return "failCount must be -1 or a count";
    if (fm != NULL && !json_is_string(fm))
        return "failMode must be none|hang|http500|garbage|huge|busy";
    *mode = -1;
    for (int i = 0; fm != NULL && i < (int)(sizeof fail_names / sizeof fail_names[0]); i++)
        if (strcmp(json_string_value(fm), fail_names[i]) == 0)
            *mode = i;
    if (fm != NULL && *mode < 0)
        return "failMode must be none|hang|http500|garbage|huge|busy";
    *latency = lat != NULL ? (long long)json_integer_value(lat) : -1;
    *count = fc != NULL ? (long long)json_integer_value(fc) : -2; /* -2: not given */
    return NULL;
}

static void handle_config(sim *s, http_req *req, reply *r)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    long long latency = -1, count = -2;
    int mode = -1;
    if (http_req_method(req) != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use POST");
        return;
    }
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *why = doc != NULL ? config_parse(doc, &latency, &mode, &count) : "body is not JSON";
    json_decref(doc);
    if (why != NULL) {
        sim__reply_error(r, 400, HTTP_REASON_BAD_CONFIG, why);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (latency >= 0)
        s->latency_ms = latency;
    if (mode >= 0) {
        s->fail = (fail_mode)mode;
        s->fail_count = mode == FAIL_NONE ? 0 : count == -2 ? -1 : count;
    } else if (count != -2) {
        s->fail_count = count;
    }
    if (s->fail_count == 0)
        s->fail = FAIL_NONE;
    json_t *now = config_doc(s);
    pthread_mutex_unlock(&s->lock);
    sim__reply_json(r, 200, now);
}

static void handle_reset(sim *s, http_req *req, reply *r)
{
    if (http_req_method(req) != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use POST");
        return;
    }
    pthread_mutex_lock(&s->lock);
    sim__forget_all(s);
    pthread_mutex_unlock(&s->lock);
    sim__reply_set(r, 200, NULL, "{\"ok\":true}", 11);
}

const sim_admin_route sim__admin_routes[] = {
    {"/__wxsim/login", handle_login},
    {"/__wxsim/stats", handle_stats},
    {"/__wxsim/config", handle_config},
    {"/__wxsim/reset", handle_reset},
    {NULL, NULL},
};
