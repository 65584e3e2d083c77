/* simulator.h: the WeChat API simulator (DESIGN.md section 4). One instance shared by every
 * worker of a process (its state is locked); requests are served by the worker that got them.
 *
 * Routes (all JSON):
 *   GET  /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code
 *        like WeChat: {"session_key","openid"[,"unionid"]} or {"errcode","errmsg"}; codes are
 *        single-use and expire after 5 minutes; 40029 invalid code, 40163 code been used, 40013
 *        invalid appid, 40125 invalid appsecret, 45011 per-user minute quota, -1 system error
 *        (injected). A success makes the key it answers the user's current session_key.
 *   POST /cgi-bin/stable_token {"grant_type":"client_credential","appid","secret",
 *                               "force_refresh"}
 *        {"access_token","expires_in"}: the current token while it has more than the renew
 *        window left, else a new one (the old valid until its expiry); force_refresh: a new one,
 *        every earlier one invalid. 40013, 40125, 40002, 44002, 45009 (minute quota).
 *   POST /wxa/business/getuserphonenumber?access_token=T {"code"[,"openid"]}
 *        {"errcode":0,"errmsg":"ok","phone_info":{...}}; 40029, 45011, 1400001, -1.
 *   GET  /wxa/checksession?access_token=T&signature=S&openid=O&sig_method=hmac_sha256
 *   GET  /wxa/resetusersessionkey?(the same)
 *        S: hex hmac_sha256(key = the current session_key, ""); 87009 invalid signature, 40097;
 *        reset answers {"openid","session_key"} with a new current key.
 *        The access_token APIs check T first: 41001 missing, 40001 invalid, 42001 expired.
 *   GET|POST /__wxsim/login?user=NAME[&nickName=..&avatarUrl=..][&unionid=0|1]
 *                          [&sessionKey=..&rawData=..]
 *        plays wx.login + wx.getUserInfo for test user NAME: {"code","rawData","signature",
 *        "openid","unionid","userInfo","encryptedData","iv"}. rawData is the JSON text the
 *        client must percent-encode; encryptedData (base64) is the user info with openId,
 *        unionId and watermark {appid, timestamp}, AES-128-CBC under the code's session_key
 *        with a random iv (base64). unionid=1 gives the user a unionid derived from NAME (kept
 *        until unionid=0; null when none). sessionKey (base64 of 16 bytes) and rawData (a JSON
 *        object, used verbatim) override what the simulator would pick: for WeChat's official
 *        test vector.
 *   GET|POST /__wxsim/phone-code?user=NAME[&phone=DIGITS][&country=86]
 *        plays the getPhoneNumber button: {"code","phoneNumber","purePhoneNumber",
 *        "countryCode","openid"}; the code is single-use, valid 5 minutes, NAME's only.
 *   POST /__wxsim/rotate-session-key?user=NAME   a new current session_key, the app not told
 *   POST /__wxsim/invalidate-token   another party's force_refresh
 *   GET  /__wxsim/stats   {"exchanges":N,"succeeded":N,"codesIssued":N,"tokenFetches":N,...}
 *   POST /__wxsim/config  {"latencyMs":N,"failMode":"none|hang|http500|garbage|huge|busy",
 *                          "failCount":N (-1: until changed),"tokenLifetimeS","tokenRenewS",
 *                          "tokenQuotaPerMinute","phoneQuota","phonePerMinute"}
 *   POST /__wxsim/reset   forget codes, users, tokens, phone codes, counters, injected failures
 *                         and settings
 * docs/simulator.md has every errcode, setting and counter.
 */
#ifndef WXS_SIMULATOR_H
#define WXS_SIMULATOR_H

#include "http.h"

typedef struct sim sim;

typedef struct sim_options {
    const char *app_id; /* the appid/secret the simulator accepts */
    const char *app_secret;
    long long latency_ms;       /* delay before each jscode2session reply */
    long long quota_per_minute; /* exchanges per user per minute before 45011 */
} sim_options;

/** Strings in opts are copied. NULL when out of memory. */
sim *sim_new(const sim_options *opts);
void sim_free(sim *s);
/** Answer (503) every request this loop's worker holds (injected hangs, pending latency), so
 *  a graceful stop need not wait for them. Call on loop's thread. */
void sim_release_loop(sim *s, uv_loop_t *loop);
/** Serve req when its path is one of the simulator's (answering it now or later on loop):
 *  returns 1. Returns 0, untouched, for other paths. */
int sim_handle(sim *s, uv_loop_t *loop, http_req *req);

#endif /* WXS_SIMULATOR_H */
