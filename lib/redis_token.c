/* redis_token.c: the token ops' scripts and commands on Redis (lib/redis_token.h). */
#include "redis_token.h"

#include <hiredis/read.h> /* REDIS_REPLY_* */
#include <stdint.h>
#include <string.h>

/* The put (store.h token_put) on one Redis. KEYS: the record, the index[, the remembered
 * exchange]; ARGV: the record, its ttl, the index's ttl, created_ms, the hash, the cap,
 * prefix.."token:"[, the remembered value, its ttl]. The other sessions' records are named
 * inside the script, not in KEYS: fine on one Redis, not on a Cluster (its ordered steps are in
 * lib/store_redis_cluster.c). The cap never ends the session being written, even when another
 * has the same created_ms. Returns the number of sessions the cap ended. */
static const char put_script[] =
    "for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"
    "  if h ~= ARGV[5] and redis.call('EXISTS', ARGV[7] .. h) == 0 then\n"
    "    redis.call('ZREM', KEYS[2], h)\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "local ended, over = 0, redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])\n"
    "if over > 0 then\n"
    "  for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, over)) do\n"
    "    if over > 0 and h ~= ARGV[5] then\n"
    "      ended = ended + redis.call('DEL', ARGV[7] .. h)\n"
    "      redis.call('ZREM', KEYS[2], h)\n"
    "      over = over - 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if KEYS[3] then redis.call('SET', KEYS[3], ARGV[8], 'EX', ARGV[9]) end\n"
    "return ended\n";

/* One session's end. KEYS: the record, the index; ARGV: the hash. 1 when the record was live. */
static const char del_script[] = "local n = redis.call('DEL', KEYS[1])\n"
                                 "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                 "return n\n";

/* Every session of a user. KEYS: the index; ARGV: prefix.."token:". The live records ended. */
static const char del_user_script[] =
    "local n = 0\n"
    "for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  n = n + redis.call('DEL', ARGV[1] .. h)\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

/* The index on a Cluster (one key): with ARGV (created_ms, hash, ttl) add the hash and set the
 * index's ttl first; then its hashes, oldest first, as one string (a Cluster reply to the store
 * is one value, lib/redis_cluster.h). */
static const char index_script[] = "if ARGV[2] then\n"
                                   "  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])\n"
                                   "  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
                                   "end\n"
                                   "return table.concat(redis.call('ZRANGE', KEYS[1], 0, -1))\n";

static const char *const scripts[WXS__REDIS_TOKEN_SCRIPTS] = {
    [WXS__REDIS_TOKEN_PUT] = put_script,         [WXS__REDIS_TOKEN_TOUCH] = "",
    [WXS__REDIS_TOKEN_DEL] = del_script,         [WXS__REDIS_TOKEN_DEL_USER] = del_user_script,
    [WXS__REDIS_TOKEN_INDEX_ADD] = index_script, [WXS__REDIS_TOKEN_INDEX_LIST] = index_script,
};

void wxs__redis_token_sha(wxs__redis_token_op op, char sha[41])
{
    if (op == WXS__REDIS_TOKEN_TOUCH)
        sha[0] = '\0';
    else
        wxs__sha1_hex(scripts[op], strlen(scripts[op]), "", 0, sha);
}

size_t wxs__redis_token_key(char *out, const char *hash)
{
    memcpy(out, WXS__TOKEN_KEY, sizeof WXS__TOKEN_KEY - 1);
    memcpy(out + sizeof WXS__TOKEN_KEY - 1, hash, WXS__TOKEN_HASH_LEN);
    return WXS__REDIS_TOKEN_KEY_LEN;
}

size_t wxs__redis_tokens_key(char *out, const char *openid, size_t openid_len)
{
    memcpy(out, WXS__TOKENS_KEY, sizeof WXS__TOKENS_KEY - 1);
    memcpy(out + sizeof WXS__TOKENS_KEY - 1, openid, openid_len);
    return sizeof WXS__TOKENS_KEY - 1 + openid_len;
}

#define RKEY(k, n) ((wxs__resp_arg){prefix, prefix_len, (k), (n)})
#define RNUM(buf, v) RBYTES((buf), wxs__resp_u64((buf), (unsigned long long)(v)))

/* The keys an op names, in its KEYS order; their count. */
static int op_keys(wxs__redis_token_cmd *cmd, wxs__redis_token_op op, const wxs__token_put *a,
                   const char *prefix, size_t prefix_len, wxs__resp_arg *keys)
{
    int n = 0;
    size_t klen;
    if (op == WXS__REDIS_TOKEN_PUT || op == WXS__REDIS_TOKEN_TOUCH || op == WXS__REDIS_TOKEN_DEL) {
        klen = wxs__redis_token_key(cmd->record_key, a->hash);
        keys[n++] = RKEY(cmd->record_key, klen);
    }
    if (op != WXS__REDIS_TOKEN_TOUCH) {
        klen = wxs__redis_tokens_key(cmd->index_key, a->openid, a->openid_len);
        keys[n++] = RKEY(cmd->index_key, klen);
    }
    if (op == WXS__REDIS_TOKEN_PUT && a->remember.key != NULL)
        keys[n++] = RKEY(a->remember.key, a->remember.key_len);
    return n;
}

/* The ARGV of op's script; their count. */
static int op_args(wxs__redis_token_cmd *cmd, wxs__redis_token_op op, const wxs__token_put *a,
                   const char *prefix, size_t prefix_len, wxs__resp_arg *args)
{
    int n = 0;
    const wxs__resp_arg token_prefix = RKEY(WXS__TOKEN_KEY, sizeof WXS__TOKEN_KEY - 1);
    switch (op) {
    case WXS__REDIS_TOKEN_PUT:
        args[n++] = RBYTES(a->record, a->record_len);
        args[n++] = RNUM(cmd->ttl, a->ttl_s);
        args[n++] = RNUM(cmd->index_ttl, a->index_ttl_s);
        args[n++] = RNUM(cmd->created, a->created_ms);
        args[n++] = RBYTES(a->hash, WXS__TOKEN_HASH_LEN);
        args[n++] = RNUM(cmd->cap, a->cap);
        args[n++] = token_prefix;
        if (a->remember.key != NULL) {
            args[n++] = RBYTES(a->remember.value, a->remember.value_len);
            args[n++] = RNUM(cmd->remember_ttl, a->remember.ttl_s);
        }
        break;
    case WXS__REDIS_TOKEN_DEL:
        args[n++] = RBYTES(a->hash, WXS__TOKEN_HASH_LEN);
        break;
    case WXS__REDIS_TOKEN_DEL_USER:
        args[n++] = token_prefix;
        break;
    case WXS__REDIS_TOKEN_INDEX_ADD:
        args[n++] = RNUM(cmd->created, a->created_ms);
        args[n++] = RBYTES(a->hash, WXS__TOKEN_HASH_LEN);
        args[n++] = RNUM(cmd->index_ttl, a->index_ttl_s);
        break;
    case WXS__REDIS_TOKEN_TOUCH:
    case WXS__REDIS_TOKEN_INDEX_LIST:
        break;
    }
    return n;
}

void wxs__redis_token_cmd_init(wxs__redis_token_cmd *cmd, wxs__redis_token_op op,
                               const wxs__token_put *args, const char *prefix, size_t prefix_len,
                               const char *sha, int with_body)
{
    wxs__resp_arg keys[3], *a = cmd->argv;
    int nkeys = op_keys(cmd, op, args, prefix, prefix_len, keys);
    int n = 0;
    if (op == WXS__REDIS_TOKEN_TOUCH) {
        a[n++] = RSTR("SET");
        a[n++] = keys[0];
        a[n++] = RBYTES(args->record, args->record_len);
        a[n++] = RSTR("XX");
        a[n++] = RSTR("EX");
        a[n++] = RNUM(cmd->ttl, args->ttl_s);
        cmd->argc = n;
        return;
    }
    a[n++] = with_body ? RSTR("EVAL") : RSTR("EVALSHA");
    a[n++] = with_body ? RSTR(scripts[op]) : RSTR(sha);
    a[n++] = nkeys == 3 ? RSTR("3") : nkeys == 2 ? RSTR("2") : RSTR("1");
    for (int i = 0; i < nkeys; i++)
        a[n++] = keys[i];
    n += op_args(cmd, op, args, prefix, prefix_len, a + n);
    cmd->argc = n;
}

int wxs__redis_token_status(wxs__redis_token_op op, int type, long long integer)
{
    switch (op) {
    case WXS__REDIS_TOKEN_PUT:
    case WXS__REDIS_TOKEN_DEL:
    case WXS__REDIS_TOKEN_DEL_USER:
        if (type == REDIS_REPLY_INTEGER && integer >= 0)
            return integer > INT32_MAX ? INT32_MAX : (int)integer;
        break;
    case WXS__REDIS_TOKEN_TOUCH:
        if (type == REDIS_REPLY_STATUS || type == REDIS_REPLY_NIL)
            return type == REDIS_REPLY_STATUS;
        break;
    case WXS__REDIS_TOKEN_INDEX_ADD:
    case WXS__REDIS_TOKEN_INDEX_LIST:
        if (type == REDIS_REPLY_STRING)
            return 0;
        break;
    }
    return WXS_ESTORE;
}

int wxs__redis_token_list_count(const char *s, size_t n)
{
    if (n % WXS__TOKEN_HASH_LEN != 0 || n / WXS__TOKEN_HASH_LEN > WXS__REDIS_TOKEN_INDEX_MAX)
        return -1;
    for (size_t i = 0; i < n; i += WXS__TOKEN_HASH_LEN)
        if (!wxs__store_token_hash_ok(s + i))
            return -1;
    return (int)(n / WXS__TOKEN_HASH_LEN);
}

size_t wxs__redis_token_size(const wxs__token_put *args)
{
    const wxs__remember *rem = &args->remember;
    size_t n = args->hash != NULL ? WXS__TOKEN_HASH_LEN : 0;
    n += args->openid != NULL ? args->openid_len : 0;
    n += args->record != NULL ? args->record_len : 0;
    return n + (rem->key != NULL ? rem->key_len + rem->value_len : 0);
}

/* Copy n bytes of p (NULL: none) to *w and advance it; where the copy starts, or NULL. */
static const char *put(char **w, const char *p, size_t n)
{
    char *start = *w;
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(start, p, n);
    *w = start + n;
    return start;
}

void wxs__redis_token_copy(wxs__token_put *copy, char *bytes, const wxs__token_put *args)
{
    const wxs__remember *rem = &args->remember;
    char *w = bytes;
    *copy = *args;
    copy->hash = put(&w, args->hash, WXS__TOKEN_HASH_LEN);
    copy->openid = put(&w, args->openid, args->openid_len);
    copy->record = put(&w, args->record, args->record_len);
    if (rem->key != NULL) {
        copy->remember.key = put(&w, rem->key, rem->key_len);
        copy->remember.value = put(&w, rem->value, rem->value_len);
    }
}
