/* redis_login.c: the login write as one Lua script and its command (lib/redis_login.h). */
#include "redis_login.h"

#include "internal.h"

/* The login write (store.h), atomically. KEYS[1] = prefix..code, KEYS[2] = prefix..openId,
 * optional KEYS[3] = prefix..remembered exchange key; ARGV = user info JSON, the code as a JSON
 * string, ttl, the bare code, the prefix, and with KEYS[3] the remembered exchange and its ttl. The
 * previous code's key is built inside the script and is not declared in KEYS: fine on a standalone
 * Redis (with or without replicas), not valid on Redis Cluster. */
static const char login_script[] =
    "local prev = redis.call('GET', KEYS[2])\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])\n"
    "if prev then\n"
    "  local ok, old = pcall(cjson.decode, prev)\n"
    "  if ok and type(old) == 'string' and old ~= '' and old ~= ARGV[4] then\n"
    "    redis.call('DEL', ARGV[5] .. old)\n"
    "  end\n"
    "end\n"
    "if KEYS[3] then redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[7]) end\n"
    "return 1\n";

void wxs__redis_login_sha(char sha[41])
{
    wxs__sha1_hex(login_script, strlen(login_script), "", 0, sha);
}

#define RKEY(k, n) ((wxs__resp_arg){prefix, prefix_len, (k), (n)})

void wxs__redis_login_cmd_init(wxs__redis_login_cmd *cmd, const wxs__login *l,
                               const char *code_json, size_t code_json_len, const char *prefix,
                               size_t prefix_len, const char *sha, int with_body)
{
    const wxs__remember *rem = &l->remember;
    int remember = rem->key != NULL;
    wxs__resp_arg *a = cmd->argv;
    int n = 0;
    a[n++] = with_body ? RSTR("EVAL") : RSTR("EVALSHA");
    a[n++] = with_body ? RSTR(login_script) : RSTR(sha);
    a[n++] = remember ? RSTR("3") : RSTR("2");
    a[n++] = RKEY(l->code, l->code_len);
    a[n++] = RKEY(l->openid, l->openid_len);
    if (remember)
        a[n++] = RKEY(rem->key, rem->key_len);
    a[n++] = RBYTES(l->user_json, l->user_len);
    a[n++] = RBYTES(code_json, code_json_len);
    a[n++] = RBYTES(cmd->ttl, wxs__resp_u64(cmd->ttl, (unsigned long long)l->ttl_s));
    a[n++] = RBYTES(l->code, l->code_len);
    a[n++] = RBYTES(prefix, prefix_len);
    if (remember) {
        a[n++] = RBYTES(rem->value, rem->value_len);
        a[n++] = RBYTES(cmd->remember_ttl,
                        wxs__resp_u64(cmd->remember_ttl, (unsigned long long)rem->ttl_s));
    }
    cmd->argc = n;
}
