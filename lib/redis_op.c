/* redis_op.c: the store ops' statuses from Redis replies, the compare-then-delete script and
 * the login's copied arguments (lib/redis_op.h). */
#include "redis_op.h"

#include <hiredis/read.h> /* REDIS_REPLY_* */
#include <string.h>

int wxs__redis_op_status(wxs__redis_op op, int type, long long integer)
{
    switch (op) {
    case WXS__REDIS_GET:
        if (type == REDIS_REPLY_STRING)
            return 0;
        if (type == REDIS_REPLY_NIL)
            return WXS_ENOTFOUND;
        break;
    case WXS__REDIS_SET:
        if (type == REDIS_REPLY_STATUS)
            return 0;
        break;
    case WXS__REDIS_SET_NX:
        if (type == REDIS_REPLY_STATUS || type == REDIS_REPLY_NIL)
            return type == REDIS_REPLY_STATUS;
        break;
    case WXS__REDIS_DEL:
        if (type == REDIS_REPLY_INTEGER)
            return (int)integer;
        break;
    case WXS__REDIS_DEL_EQ:
        if (type == REDIS_REPLY_INTEGER && (integer == 0 || integer == 1))
            return (int)integer;
        break;
    }
    return WXS_ESTORE;
}

/* store.h del_eq, atomically: KEYS[1] = prefix..key, ARGV[1] = the value it must hold. GET
 * answers false (never equal to a string) for a missing or expired key. */
static const char del_eq_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                    "  return redis.call('DEL', KEYS[1])\n"
                                    "end\n"
                                    "return 0\n";

void wxs__redis_del_eq_sha(char sha[41])
{
    wxs__sha1_hex(del_eq_script, strlen(del_eq_script), "", 0, sha);
}

void wxs__redis_del_eq_cmd_init(wxs__redis_del_eq_cmd *cmd, const char *prefix, size_t prefix_len,
                                const char *key, size_t klen, const char *val, size_t vlen,
                                const char *sha, int with_body)
{
    cmd->argv[0] = with_body ? RSTR("EVAL") : RSTR("EVALSHA");
    cmd->argv[1] = with_body ? RSTR(del_eq_script) : RSTR(sha);
    cmd->argv[2] = RSTR("1");
    cmd->argv[3] = (wxs__resp_arg){prefix, prefix_len, key, klen};
    cmd->argv[4] = RBYTES(val, vlen);
    cmd->argc = 5;
}

size_t wxs__redis_login_size(const wxs__login *lw, size_t code_json_len)
{
    const wxs__remember *rem = &lw->remember;
    size_t extra = rem->key != NULL ? rem->key_len + rem->value_len : 0;
    return lw->code_len + lw->openid_len + lw->user_len + code_json_len + extra;
}

/* Copy n bytes to *w and advance it; returns where the copy starts. */
static const char *put(char **w, const char *p, size_t n)
{
    char *start = *w;
    if (n > 0)
        memcpy(start, p, n);
    *w = start + n;
    return start;
}

const char *wxs__redis_login_copy(wxs__login *copy, char *bytes, const wxs__login *lw,
                                  const char *code_json, size_t code_json_len)
{
    const wxs__remember *rem = &lw->remember;
    char *w = bytes;
    *copy = *lw;
    copy->code = put(&w, lw->code, lw->code_len);
    copy->openid = put(&w, lw->openid, lw->openid_len);
    copy->user_json = put(&w, lw->user_json, lw->user_len);
    if (rem->key != NULL) {
        copy->remember.key = put(&w, rem->key, rem->key_len);
        copy->remember.value = put(&w, rem->value, rem->value_len);
    }
    return put(&w, code_json, code_json_len);
}
