/* redis_login.h: the login write on one Redis (standalone, or the primary Sentinel names) as
 * one Lua script: its text, its SHA1, and the arguments of its EVALSHA or EVAL. Pure, no I/O
 * (lib/store_redis.c sends it; a Redis Cluster cannot run it: lib/store_redis_cluster.c). */
#ifndef WXS_REDIS_LOGIN_H
#define WXS_REDIS_LOGIN_H

#include "redis_resp.h"
#include "store.h"

#define WXS__REDIS_LOGIN_MAX_ARGS 13

/** The login's command, as arguments for wxs__resp_encode. */
typedef struct wxs__redis_login_cmd {
    wxs__resp_arg argv[WXS__REDIS_LOGIN_MAX_ARGS];
    int argc;
    char ttl[24]; /* digits the arguments point into */
    char remember_ttl[24];
} wxs__redis_login_cmd;

/** The script's SHA1 as 40 hex digits and a NUL (EVALSHA's argument). */
void wxs__redis_login_sha(char sha[41]);

/** Fill cmd (in place: its arguments point into it) with the login l: EVALSHA sha (with_body 0)
 *  or EVAL with the script's text (after a NOSCRIPT reply). KEYS are prefix..code,
 *  prefix..openId and, with a remembered exchange, prefix..its key; ARGV the user info JSON,
 *  code_json (the code as a JSON string), the ttl, the bare code, the prefix and, with a
 *  remembered exchange, its value and ttl. The script also deletes the session that the openId's
 *  previous code named. cmd borrows l's bytes, code_json, prefix and sha until it is encoded. */
void wxs__redis_login_cmd_init(wxs__redis_login_cmd *cmd, const wxs__login *l,
                               const char *code_json, size_t code_json_len, const char *prefix,
                               size_t prefix_len, const char *sha, int with_body);

#endif /* WXS_REDIS_LOGIN_H */
