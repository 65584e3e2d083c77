/* simulator_admin.c: the simulator's /__wxsim routes (contract in simulator.h), offered to
 * simulator.c as a table: login (plays wx.login + wx.getUserInfo for a test user: rawData with
 * its signature, and the user's info as encryptedData), phone-code (plays the getPhoneNumber
 * button), what other parties do to the app's state at WeChat (rotate-session-key,
 * invalidate-token), stats, config and reset. Codes, users, tokens and decisions are in the
 * state files (simulator_state.c, simulator_token.c, simulator_phone.c). */
#include "server_reasons.h"
#include "simulator_impl.h"

#include "wxsession.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    char *unionid;     /* "1": give the user a unionid, "0": take it away; absent: as before */
} login_params;

static void login_params_free(login_params *lp)
{
    free(lp->user);
    free(lp->nick);
    free(lp->avatar);
    free(lp->session_key);
    free(lp->raw_data);
    free(lp->unionid);
}

/* The base64 of 16 bytes (24 characters, "==" at the end), spelled as encoders spell it, as
 * WeChat's session keys are: the decrypting side decodes strictly. */
static int valid_session_key(const char *k)
{
    unsigned char raw[KEY_LEN / 4 * 3];
    char again[KEY_LEN + 1] = "";
    int ok = alnum_or(k, KEY_LEN, KEY_LEN, "+/=") &&
             EVP_DecodeBlock(raw, (const unsigned char *)k, KEY_LEN) == (int)sizeof raw;
    if (ok)
        EVP_EncodeBlock((unsigned char *)again, raw, 16);
    ok = ok && strcmp(again, k) == 0;
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(again, sizeof again);
    return ok;
}

/* Reads and checks the parameters; NULL when fine, else the reason for a 400. */
static const char *login_parse(http_req *req, login_params *lp)
{
    if (sim__req_param(req, "user", &lp->user) < 0 ||
        sim__req_param(req, "nickName", &lp->nick) < 0 ||
        sim__req_param(req, "avatarUrl", &lp->avatar) < 0 ||
        sim__req_param(req, "sessionKey", &lp->session_key) < 0 ||
        sim__req_param(req, "rawData", &lp->raw_data) < 0 ||
        sim__req_param(req, "unionid", &lp->unionid) < 0)
        return "malformed parameter (bad %-escape, invalid UTF-8, NUL or too long)";
    if (lp->user != NULL && !valid_user_name(lp->user))
        return "user must be 1-64 bytes of [A-Za-z0-9_.-]";
    if (lp->session_key != NULL && !valid_session_key(lp->session_key))
        return "sessionKey must be 24 base64 characters (16 bytes)";
    if (lp->unionid != NULL && strcmp(lp->unionid, "0") != 0 && strcmp(lp->unionid, "1") != 0)
        return "unionid must be 0 or 1";
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

/* The plaintext of encryptedData, as WeChat writes it: openId, the user info's members,
 * unionId (when the user has one) and watermark {appid, timestamp}. NULL when out of memory. */
static char *user_data_text(const json_t *info, const char *app_id, const sim_login_ids *ids)
{
    json_t *doc = json_pack("{s:s}", "openId", ids->openid);
    const char *name;
    json_t *value;
    char *text = NULL;
    json_object_foreach((json_t *)info, name, value)
    {
        int ours =
            !strcmp(name, "openId") || !strcmp(name, "unionId") || !strcmp(name, "watermark");
        if (doc != NULL && !ours && json_object_set(doc, name, value) < 0)
            goto out;
    }
    if (doc == NULL || (ids->unionid[0] != '\0' &&
                        json_object_set_new(doc, "unionId", json_string(ids->unionid)) < 0))
        goto out;
    if (json_object_set_new(
            doc, "watermark",
            json_pack("{s:s,s:I}", "appid", app_id, "timestamp", (json_int_t)time(NULL))) < 0)
        goto out;
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(doc);
    return text;
}

/* Encrypts text as WeChat's encryptedData: AES-128-CBC with PKCS#7 padding, the key the base64
 * session_key (checked: 16 bytes), a random iv. Sets *data_out (malloc'd base64) and iv_out
 * (base64). 0, or -1 when out of memory or randomness. */
static int encrypt_user_data(const char *text, const char *session_key, char **data_out,
                             char iv_out[KEY_LEN + 1])
{
    unsigned char key[KEY_LEN / 4 * 3], iv[16];
    size_t len = strlen(text);
    unsigned char *cipher = malloc(len + 16);
    int n1 = 0, n2 = 0, rc = -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    *data_out = NULL;
    if (cipher == NULL || c == NULL || RAND_bytes(iv, sizeof iv) != 1 ||
        EVP_DecodeBlock(key, (const unsigned char *)session_key, KEY_LEN) != (int)sizeof key ||
        EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv) != 1 ||
        EVP_EncryptUpdate(c, cipher, &n1, (const unsigned char *)text, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, cipher + n1, &n2) != 1)
        goto out;
    *data_out = malloc((size_t)(n1 + n2) / 3 * 4 + 5);
    if (*data_out == NULL)
        goto out;
    EVP_EncodeBlock((unsigned char *)*data_out, cipher, n1 + n2);
    EVP_EncodeBlock((unsigned char *)iv_out, iv, sizeof iv);
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof key);
    EVP_CIPHER_CTX_free(c);
    free(cipher);
    return rc;
}

/* {"code","rawData","signature","openid","unionid","userInfo","encryptedData","iv"} for the
 * issued code (unionid null when the user has none). */
static void login_reply(sim *s, reply *r, const login_params *lp, const sim_login_ids *ids)
{
    json_t *info = user_info(lp);
    char *raw = NULL, *plain = NULL, *data = NULL;
    char sig[41], iv[KEY_LEN + 1];
    if (info != NULL)
        raw = lp->raw_data != NULL ? strdup(lp->raw_data)
                                   : json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (raw != NULL)
        plain = user_data_text(info, s->app_id, ids);
    if (plain == NULL || encrypt_user_data(plain, ids->session_key, &data, iv) < 0) {
        json_decref(info);
        sim__reply_error(r, 500, WXS_REASON_INTERNAL, "out of memory");
        goto out;
    }
    wxs_signature(raw, strlen(raw), ids->session_key, strlen(ids->session_key), sig);
    sim__reply_json(r, 200,
                    json_pack("{s:s,s:s,s:s,s:s,s:s?,s:o,s:s,s:s}", "code", ids->code, "rawData",
                              raw, "signature", sig, "openid", ids->openid, "unionid",
                              ids->unionid[0] != '\0' ? ids->unionid : NULL, "userInfo", info,
                              "encryptedData", data, "iv", iv));
out:
    free(raw);
    free(plain);
    free(data);
}

/* The unionid parameter for sim__login_issue: 1 give, 0 take away, -1 (absent) as before. */
static int unionid_wish(const login_params *lp)
{
    return lp->unionid == NULL ? -1 : lp->unionid[0] == '1';
}

static void handle_login(sim *s, http_req *req, reply *r)
{
    login_params lp = {0};
    sim_login_ids ids;
    int method = http_req_method(req);
    if (method != HTTP_GET && method != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use GET or POST");
        return;
    }
    const char *why = login_parse(req, &lp);
    int status = why != NULL ? 400
                             : sim__login_issue(s, lp.user != NULL ? lp.user : "test",
                                                lp.session_key, unionid_wish(&lp), &ids);
    if (why != NULL)
        sim__reply_error(r, 400, HTTP_REASON_BAD_PARAM, why);
    else if (status != 0)
        sim__reply_error(r, status, HTTP_REASON_SIMULATOR_FULL, "too many codes or users");
    else
        login_reply(s, r, &lp, &ids);
    OPENSSL_cleanse(&ids, sizeof ids);
    login_params_free(&lp);
}

/* ------------------------------------------------------------------ phone codes */

/* 1 when s is min_len to max_len decimal digits. */
static int all_digits(const char *s, size_t min_len, size_t max_len)
{
    size_t len = strlen(s);
    if (len < min_len || len > max_len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* A user's default phone number: "138" and 8 digits from a hash of the name (stable). */
static void default_phone(const char *name, char out[PHONE_MAX + 1])
{
    uint64_t h = sim__hash(0, name, strlen(name));
    snprintf(out, PHONE_MAX + 1, "138%08llu", (unsigned long long)(h % 100000000ULL));
}

/* Reads user, phone and country into the info (openid not yet); NULL when fine, else the
 * reason for a 400. *user is malloc'd (or NULL). */
static const char *phone_code_parse(http_req *req, char **user, sim_phone_info *info)
{
    char *phone = NULL, *country = NULL;
    const char *why = NULL;
    if (sim__req_param(req, "user", user) < 0 || sim__req_param(req, "phone", &phone) < 0 ||
        sim__req_param(req, "country", &country) < 0)
        why = "malformed parameter (bad %-escape, invalid UTF-8, NUL or too long)";
    else if (*user != NULL && !valid_user_name(*user))
        why = "user must be 1-64 bytes of [A-Za-z0-9_.-]";
    else if (phone != NULL && !all_digits(phone, 4, PHONE_MAX))
        why = "phone must be 4-20 digits";
    else if (country != NULL && !all_digits(country, 1, COUNTRY_MAX))
        why = "country must be 1-4 digits";
    if (why == NULL) {
        if (phone != NULL)
            memcpy(info->pure, phone, strlen(phone) + 1);
        else
            default_phone(*user != NULL ? *user : "test", info->pure);
        memcpy(info->country, country != NULL ? country : "86",
               strlen(country != NULL ? country : "86") + 1);
    }
    free(phone);
    free(country);
    return why;
}

/* GET|POST /__wxsim/phone-code?user=NAME[&phone=DIGITS][&country=86]: a phone code for NAME
 * {"code","phoneNumber","purePhoneNumber","countryCode","openid"}. */
static void handle_phone_code(sim *s, http_req *req, reply *r)
{
    char *user = NULL;
    sim_phone_info info = {0};
    char code[CODE_LEN + 1];
    int method = http_req_method(req);
    if (method != HTTP_GET && method != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use GET or POST");
        return;
    }
    const char *why = phone_code_parse(req, &user, &info);
    int rc = -1;
    if (why == NULL) {
        pthread_mutex_lock(&s->lock);
        rc = sim__user_openid(s, user != NULL ? user : "test", info.openid);
        if (rc == 0)
            rc = sim__phone_issue(s, &info, code);
        pthread_mutex_unlock(&s->lock);
    }
    char full[COUNTRY_MAX + PHONE_MAX + 2];
    snprintf(full, sizeof full, "+%s%s", info.country, info.pure);
    if (why != NULL)
        sim__reply_error(r, 400, HTTP_REASON_BAD_PARAM, why);
    else if (rc != 0)
        sim__reply_error(r, 503, HTTP_REASON_SIMULATOR_FULL, "too many phone codes or users");
    else
        sim__reply_json(r, 200,
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "code", code, "phoneNumber", full,
                                  "purePhoneNumber", info.pure, "countryCode", info.country,
                                  "openid", info.openid));
    free(user);
}

/* ------------------------------------------------------------------ other parties */

/* POST /__wxsim/rotate-session-key?user=NAME: WeChat gives the user a new session_key (as when
 * they log in elsewhere) without telling the app: {"openid","sessionKey"}. */
static void handle_rotate_session_key(sim *s, http_req *req, reply *r)
{
    char *user = NULL;
    char openid[OPENID_LEN + 1], key[KEY_LEN + 1];
    int status = 400;
    if (http_req_method(req) != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use POST");
        return;
    }
    if (sim__req_param(req, "user", &user) > 0 && valid_user_name(user)) {
        pthread_mutex_lock(&s->lock);
        status = sim__session_rotate(s, user, openid, key);
        pthread_mutex_unlock(&s->lock);
    }
    if (status == 400)
        sim__reply_error(r, 400, HTTP_REASON_BAD_PARAM,
                         "user must be 1-64 bytes of [A-Za-z0-9_.-]");
    else if (status == 404)
        sim__reply_error(r, 404, HTTP_REASON_NOT_FOUND, "no such user");
    else if (status != 0)
        sim__reply_error(r, status, WXS_REASON_INTERNAL, "no randomness");
    else
        sim__reply_json(r, 200, json_pack("{s:s,s:s}", "openid", openid, "sessionKey", key));
    OPENSSL_cleanse(key, sizeof key);
    free(user);
}

/* POST /__wxsim/invalidate-token: another party's force_refresh: a new current token, every
 * earlier one invalid at once. {"ok":true}. */
static void handle_invalidate_token(sim *s, http_req *req, reply *r)
{
    if (http_req_method(req) != HTTP_POST) {
        sim__reply_error(r, 405, HTTP_REASON_METHOD_NOT_ALLOWED, "use POST");
        return;
    }
    pthread_mutex_lock(&s->lock);
    int rc = sim__token_invalidate(s);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        sim__reply_error(r, 503, WXS_REASON_INTERNAL, "out of memory or randomness");
    else
        sim__reply_set(r, 200, NULL, "{\"ok\":true}", 11);
}

/* ------------------------------------------------------------------ stats, config, reset */

/* {"<errcode>":n,...} of the nonzero counts, in table order. */
static json_t *errcode_counts(const int *codes, const long long *counts, size_t n)
{
    json_t *doc = json_object();
    for (size_t i = 0; doc != NULL && i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", codes[i]);
        if (counts[i] > 0)
            json_object_set_new(doc, key, json_integer(counts[i]));
    }
    return doc;
}

/* The access_token APIs' counters, added to doc. */
static void api_stats_add(json_t *doc, const sim_api_stats *st)
{
    json_object_set_new(doc, "tokenFetches", json_integer(st->token_fetches));
    json_object_set_new(doc, "tokensIssued", json_integer(st->tokens_issued));
    json_object_set_new(doc, "forceRefreshes", json_integer(st->force_refreshes));
    json_object_set_new(doc, "tokenInvalidations", json_integer(st->token_invalidations));
    json_object_set_new(doc, "tokenErrors",
                        errcode_counts(api_errcodes, st->token_errors, N_API_ERRCODES));
    json_object_set_new(doc, "apiCalls", json_integer(st->api_calls));
    json_object_set_new(doc, "apiErrors",
                        errcode_counts(api_errcodes, st->api_errors, N_API_ERRCODES));
    json_object_set_new(doc, "phoneCalls", json_integer(st->phone_calls));
    json_object_set_new(doc, "phoneNumbers", json_integer(st->phone_numbers));
    json_object_set_new(doc, "sessionChecks", json_integer(st->session_checks));
    json_object_set_new(doc, "sessionResets", json_integer(st->session_resets));
}

static void handle_stats(sim *s, http_req *req, reply *r)
{
    (void)req;
    json_t *doc = json_object();
    pthread_mutex_lock(&s->lock);
    json_object_set_new(doc, "exchanges", json_integer(s->exchanges));
    json_object_set_new(doc, "succeeded", json_integer(s->succeeded));
    json_object_set_new(doc, "codesIssued", json_integer(s->codes_issued));
    json_object_set_new(doc, "failedByErrcode",
                        errcode_counts(known_errcodes, s->failed, N_ERRCODES));
    api_stats_add(doc, &s->api_stats);
    pthread_mutex_unlock(&s->lock);
    sim__reply_json(r, 200, doc);
}

static json_t *config_doc(const sim *s)
{
    return json_pack(
        "{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "latencyMs", (json_int_t)s->latency_ms, "failMode",
        fail_names[s->fail], "failCount", (json_int_t)s->fail_count, "tokenLifetimeS",
        (json_int_t)s->api.token_lifetime_s, "tokenRenewS", (json_int_t)s->api.token_renew_s,
        "tokenQuotaPerMinute", (json_int_t)s->api.token_quota_per_minute, "phoneQuota",
        (json_int_t)s->api.phone_quota, "phonePerMinute", (json_int_t)s->api.phone_per_minute);
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

/* The access_token APIs' settings of /__wxsim/config, each within bounds. */
static const struct api_setting {
    const char *name;
    size_t offset; /* in sim_api_settings */
    long long min, max;
    const char *why;
} api_settings[] = {
    {"tokenLifetimeS", offsetof(sim_api_settings, token_lifetime_s), 2, 86400,
     "tokenLifetimeS must be an integer from 2 to 86400"},
    {"tokenRenewS", offsetof(sim_api_settings, token_renew_s), 1, 86399,
     "tokenRenewS must be an integer from 1 to 86399"},
    {"tokenQuotaPerMinute", offsetof(sim_api_settings, token_quota_per_minute), 1, 100000000,
     "tokenQuotaPerMinute must be an integer from 1 to 100000000"},
    {"phoneQuota", offsetof(sim_api_settings, phone_quota), -1, 1000000000000LL,
     "phoneQuota must be -1 (unlimited) or a count"},
    {"phonePerMinute", offsetof(sim_api_settings, phone_per_minute), 1, 100000000,
     "phonePerMinute must be an integer from 1 to 100000000"},
};

/* Applies doc's access_token settings to *next (the current ones); NULL when fine, else the
 * reason. tokenRenewS must stay below tokenLifetimeS. */
static const char *api_config_parse(json_t *doc, sim_api_settings *next)
{
    for (size_t i = 0; i < sizeof api_settings / sizeof api_settings[0]; i++) {
        const struct api_setting *set = &api_settings[i];
        json_t *v = json_object_get(doc, set->name);
        if (v == NULL)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < set->min ||
            json_integer_value(v) > set->max)
            return set->why;
        *(long long *)((char *)next + set->offset) = (long long)json_integer_value(v);
    }
    if (next->token_renew_s >= next->token_lifetime_s)
        return "tokenRenewS must be less than tokenLifetimeS";
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
    pthread_mutex_lock(&s->lock);
    sim_api_settings next = s->api;
    if (why == NULL)
        why = api_config_parse(doc, &next);
    if (why == NULL) {
        s->api = next;
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
    }
    json_t *now = why == NULL ? config_doc(s) : NULL;
    pthread_mutex_unlock(&s->lock);
    json_decref(doc);
    if (why != NULL)
        sim__reply_error(r, 400, HTTP_REASON_BAD_CONFIG, why);
    else
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
    sim__tokens_forget(s);
    sim__phones_forget(s);
    pthread_mutex_unlock(&s->lock);
    sim__reply_set(r, 200, NULL, "{\"ok\":true}", 11);
}

const sim_route sim__admin_routes[] = {
    {"/__wxsim/login", handle_login},
    {"/__wxsim/phone-code", handle_phone_code},
    {"/__wxsim/rotate-session-key", handle_rotate_session_key},
    {"/__wxsim/invalidate-token", handle_invalidate_token},
    {"/__wxsim/stats", handle_stats},
    {"/__wxsim/config", handle_config},
    {"/__wxsim/reset", handle_reset},
    {NULL, NULL},
};
