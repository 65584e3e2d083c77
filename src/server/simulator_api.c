/* simulator_api.c: WeChat's cgi-bin/stable_token and the APIs called with its access_token
 * (contract in simulator.h), offered to simulator.c as a table: wxa/business/
 * getuserphonenumber, wxa/checksession and wxa/resetusersessionkey. Reads each request,
 * counts it, and answers what the state files decide (tokens in simulator_token.c, phone codes
 * in simulator_phone.c, session keys in simulator_state.c), always HTTP 200 with WeChat's
 * JSON. */
#include "simulator_impl.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Adds one to counts' entry for errcode (a code not in api_errcodes is not counted). */
static void count_errcode(long long counts[N_API_ERRCODES], int errcode)
{
    for (size_t i = 0; i < N_API_ERRCODES; i++)
        if (api_errcodes[i] == errcode)
            counts[i]++;
}

/* A body's JSON object into *doc: 0, or 44002 (no body) or bad_json (not a JSON object), with
 * *errmsg. */
static int body_object(http_req *req, json_t **doc, int bad_json, const char **errmsg)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    *doc = NULL;
    *errmsg = "empty post data";
    if (len == 0)
        return 44002;
    *doc = json_loadb(body, len, 0, NULL);
    *errmsg = bad_json == 47001 ? "data format error" : "invalid grant_type";
    return json_is_object(*doc) ? 0 : bad_json;
}

/* A member of doc when it is a string, else NULL. */
static const char *member_string(json_t *doc, const char *name)
{
    return json_string_value(json_object_get(doc, name));
}

/* ------------------------------------------------------------------ stable_token */

/* POST /cgi-bin/stable_token {"grant_type","appid","secret","force_refresh"}:
 * {"access_token","expires_in"} or {"errcode","errmsg"}. */
static void handle_stable_token(sim *s, http_req *req, reply *r)
{
    sim_token_params tp = {0};
    json_t *doc = NULL;
    char token[TOKEN_LEN + 1];
    long long expires_in = 0;
    const char *errmsg = "require POST method";
    int errcode = 43002;
    if (http_req_method(req) == HTTP_POST)
        errcode = body_object(req, &doc, 40002, &errmsg);
    if (errcode == 0) {
        tp.grant_type = member_string(doc, "grant_type");
        tp.appid = member_string(doc, "appid");
        tp.secret = member_string(doc, "secret");
        tp.force_refresh = json_is_true(json_object_get(doc, "force_refresh"));
    }
    pthread_mutex_lock(&s->lock);
    if (errcode == 0)
        errcode = sim__token_fetch(s, &tp, token, &expires_in, &errmsg);
    if (errcode != 0)
        count_errcode(s->api_stats.token_errors, errcode);
    pthread_mutex_unlock(&s->lock);
    if (errcode != 0)
        sim__reply_errcode(r, errcode, errmsg);
    else
        sim__reply_json(
            r, 200,
            json_pack("{s:s,s:I}", "access_token", token, "expires_in", (json_int_t)expires_in));
    json_decref(doc);
    OPENSSL_cleanse(token, sizeof token);
}

/* ------------------------------------------------------------------ access_token APIs */

/* The request's access_token checked (lock held): 0, or 41001, 40001 (also for a malformed
 * value), 42001, with *errmsg. */
static int token_errcode(sim *s, http_req *req, const char **errmsg)
{
    char *token = NULL;
    int rc = sim__req_param(req, "access_token", &token);
    int errcode = 40001;
    *errmsg = "invalid credential, access_token is invalid or not latest";
    if (rc >= 0)
        errcode = sim__token_check(s, token, errmsg);
    free(token);
    return errcode;
}

/* What a getuserphonenumber body asked: code, and openid when given (openid_given: 1 and
 * openid NULL for a member that is not a string, which matches no user). Borrowed from doc. */
typedef struct phone_params {
    const char *code, *openid;
    int openid_given;
} phone_params;

/* getuserphonenumber's checks after the access_token (lock held): 0 with *info, or the errcode
 * and *errmsg. Uses the code up on success. */
static int phone_decide(sim *s, const phone_params *pp, sim_phone_info *info, const char **errmsg)
{
    long long minute = (long long)time(NULL) / 60;
    if (s->phone_minute != minute) {
        s->phone_minute = minute;
        s->phone_minute_count = 0;
    }
    *errmsg = "api minute-quota reach limit  mustslower  retry next minute";
    if (s->phone_minute_count >= s->api.phone_per_minute)
        return 45011;
    s->phone_minute_count++;
    const char *openid = pp->openid_given ? (pp->openid != NULL ? pp->openid : "") : NULL;
    *errmsg = "invalid code";
    if (sim__phone_find(s, pp->code, openid, info) != 0)
        return 40029;
    *errmsg = "system error";
    if (sim__take_failure(s, FAIL_BUSY))
        return -1;
    *errmsg = "quota exhausted";
    if (s->api.phone_quota >= 0 && s->api_stats.phone_numbers >= s->api.phone_quota)
        return 1400001;
    sim__phone_use(s, pp->code);
    s->api_stats.phone_numbers++;
    return 0;
}

/* {"errcode":0,"errmsg":"ok","phone_info":{...,"watermark":{"timestamp","appid"}}}. */
static json_t *phone_answer(const sim *s, const sim_phone_info *info)
{
    char full[COUNTRY_MAX + PHONE_MAX + 2];
    full[0] = '+';
    memcpy(full + 1, info->country, strlen(info->country));
    memcpy(full + 1 + strlen(info->country), info->pure, strlen(info->pure) + 1);
    return json_pack("{s:i,s:s,s:{s:s,s:s,s:s,s:{s:I,s:s}}}", "errcode", 0, "errmsg", "ok",
                     "phone_info", "phoneNumber", full, "purePhoneNumber", info->pure,
                     "countryCode", info->country, "watermark", "timestamp", (json_int_t)time(NULL),
                     "appid", s->app_id);
}

/* POST /wxa/business/getuserphonenumber?access_token=T {"code"[,"openid"]}. */
static void handle_phone(sim *s, http_req *req, reply *r)
{
    json_t *doc = NULL;
    phone_params pp = {0};
    sim_phone_info info;
    const char *errmsg = "require POST method";
    int errcode = 43002;
    pthread_mutex_lock(&s->lock);
    s->api_stats.api_calls++;
    s->api_stats.phone_calls++;
    if (http_req_method(req) == HTTP_POST)
        errcode = token_errcode(s, req, &errmsg);
    if (errcode == 0)
        errcode = body_object(req, &doc, 47001, &errmsg);
    if (errcode == 0) {
        pp.code = member_string(doc, "code");
        pp.openid = member_string(doc, "openid");
        pp.openid_given = json_object_get(doc, "openid") != NULL;
        errcode = phone_decide(s, &pp, &info, &errmsg);
    }
    if (errcode != 0)
        count_errcode(s->api_stats.api_errors, errcode);
    json_t *answer = errcode == 0 ? phone_answer(s, &info) : NULL;
    pthread_mutex_unlock(&s->lock);
    if (errcode != 0)
        sim__reply_errcode(r, errcode, errmsg);
    else
        sim__reply_json(r, 200, answer);
    json_decref(doc);
}

/* What checksession and resetusersessionkey asked; each malloc'd or NULL. */
typedef struct session_params {
    char *signature, *openid, *sig_method;
} session_params;

/* GET /wxa/checksession and /wxa/resetusersessionkey, ?access_token=T&signature=S&openid=O
 * &sig_method=hmac_sha256 (reset 1: the second). */
static void handle_session(sim *s, http_req *req, reply *r, int reset)
{
    session_params sp = {0};
    char key[KEY_LEN + 1] = "";
    const char *errmsg = "require GET method";
    int errcode = 43001;
    int bad = sim__req_param(req, "signature", &sp.signature) < 0 ||
              sim__req_param(req, "openid", &sp.openid) < 0 ||
              sim__req_param(req, "sig_method", &sp.sig_method) < 0;
    pthread_mutex_lock(&s->lock);
    s->api_stats.api_calls++;
    if (reset)
        s->api_stats.session_resets++;
    else
        s->api_stats.session_checks++;
    if (http_req_method(req) == HTTP_GET)
        errcode = token_errcode(s, req, &errmsg);
    if (errcode == 0 && (bad || sp.openid == NULL || sp.sig_method == NULL ||
                         strcmp(sp.sig_method, "hmac_sha256") != 0)) {
        errcode = 40097;
        errmsg = "invalid args";
    }
    if (errcode == 0) {
        errcode = reset ? sim__session_reset(s, sp.openid, sp.signature, key)
                        : sim__session_check(s, sp.openid, sp.signature);
        errmsg = errcode == 87009 ? "invalid signature" : "system error";
    }
    if (errcode != 0)
        count_errcode(s->api_stats.api_errors, errcode);
    pthread_mutex_unlock(&s->lock);
    if (errcode != 0)
        sim__reply_errcode(r, errcode, errmsg);
    else if (reset)
        sim__reply_json(r, 200,
                        json_pack("{s:i,s:s,s:s,s:s}", "errcode", 0, "errmsg", "ok", "openid",
                                  sp.openid, "session_key", key));
    else
        sim__reply_errcode(r, 0, "ok");
    OPENSSL_cleanse(key, sizeof key);
    free(sp.signature);
    free(sp.openid);
    free(sp.sig_method);
}

static void handle_check_session(sim *s, http_req *req, reply *r)
{
    handle_session(s, req, r, 0);
}

static void handle_reset_session(sim *s, http_req *req, reply *r)
{
    handle_session(s, req, r, 1);
}

const sim_route sim__api_routes[] = {
    {"/cgi-bin/stable_token", handle_stable_token},
    {"/wxa/business/getuserphonenumber", handle_phone},
    {"/wxa/checksession", handle_check_session},
    {"/wxa/resetusersessionkey", handle_reset_session},
    {NULL, NULL},
};
