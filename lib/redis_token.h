/* redis_token.h: the token ops (lib/store.h token_*) as Redis commands: the Lua scripts of one
 * Redis (standalone, or the primary Sentinel names) and of a Redis Cluster's index steps, their
 * SHA1s, the arguments of their EVALSHA or EVAL, the statuses from their replies and the op's
 * copied arguments. Pure, no I/O (lib/store_redis.c and lib/store_redis_cluster.c send them). */
#ifndef WXS_REDIS_TOKEN_H
#define WXS_REDIS_TOKEN_H

#include "redis_resp.h"
#include "store.h"

/** The token commands. The first four are the ops on one Redis; the last two are the index
 *  steps of a Redis Cluster, where a script may touch one key only. */
typedef enum wxs__redis_token_op {
    WXS__REDIS_TOKEN_PUT,        /* the put script (store.h token_put, atomically): status the
                                  * number of sessions the cap ended */
    WXS__REDIS_TOKEN_TOUCH,      /* SET <record> value XX EX ttl: 1 renewed, 0 gone */
    WXS__REDIS_TOKEN_DEL,        /* the del script (DEL record, ZREM index): 1 when a live session
                                  * ended, else 0 */
    WXS__REDIS_TOKEN_DEL_USER,   /* the del-user script (DEL each record the index names, DEL
                                  * the index): the number of live sessions ended */
    WXS__REDIS_TOKEN_INDEX_ADD,  /* Cluster: ZADD + EXPIRE the index, then its hashes */
    WXS__REDIS_TOKEN_INDEX_LIST, /* Cluster: the index's hashes */
} wxs__redis_token_op;

#define WXS__REDIS_TOKEN_SCRIPTS 6 /* one per op; TOUCH's is unused (a plain SET) */
#define WXS__REDIS_TOKEN_MAX_ARGS 16
#define WXS__REDIS_TOKEN_KEY_LEN (sizeof WXS__TOKEN_KEY - 1 + WXS__TOKEN_HASH_LEN)
#define WXS__REDIS_TOKENS_KEY_MAX (sizeof WXS__TOKENS_KEY - 1 + WXS__STORE_MAX_LOGIN_ID)
/** The most hashes read from one user's index (Cluster): the cap is at most 1000 and every
 *  login prunes the index, so a longer one is not an index this library wrote. */
#define WXS__REDIS_TOKEN_INDEX_MAX 4096

/** An op's command, as arguments for wxs__resp_encode; they point into the command itself
 *  (its keys and digits) and into what cmd_init was given. */
typedef struct wxs__redis_token_cmd {
    wxs__resp_arg argv[WXS__REDIS_TOKEN_MAX_ARGS];
    int argc;
    char record_key[WXS__REDIS_TOKEN_KEY_LEN]; /* "token:<hash>" */
    char index_key[WXS__REDIS_TOKENS_KEY_MAX]; /* "tokens:<openId>" */
    char ttl[24], index_ttl[24], created[24], cap[24], remember_ttl[24];
} wxs__redis_token_cmd;

/** The SHA1 of op's script as 40 hex digits and a NUL (EVALSHA's argument; TOUCH: ""). */
void wxs__redis_token_sha(wxs__redis_token_op op, char sha[41]);

/** Fill cmd (in place) with op on the arguments in args: EVALSHA sha (with_body 0) or EVAL with
 *  the script's text (with_body 1: after a NOSCRIPT reply, and always on a Cluster), or for
 *  TOUCH the SET. What each op reads of args:
 *    PUT        hash, openid, record, ttl_s, index_ttl_s, created_ms, cap, remember
 *    TOUCH      hash, record, ttl_s
 *    DEL        hash, openid
 *    DEL_USER   openid
 *    INDEX_ADD  openid, hash, created_ms, index_ttl_s
 *    INDEX_LIST openid
 *  Every key is prefixed with prefix. cmd borrows args' bytes, prefix and sha until it is
 *  encoded. */
void wxs__redis_token_cmd_init(wxs__redis_token_cmd *cmd, wxs__redis_token_op op,
                               const wxs__token_put *args, const char *prefix, size_t prefix_len,
                               const char *sha, int with_body);

/** The op's status (lib/store.h) from the type (hiredis's REDIS_REPLY_*) and integer of a reply
 *  that is not an error: see wxs__redis_token_op; INDEX_ADD and INDEX_LIST 0 (a string). Status
 *  WXS_ESTORE for a reply of another type (the caller logs it). */
int wxs__redis_token_status(wxs__redis_token_op op, int type, long long integer);

/** The number of hashes in an index's listing (what INDEX_ADD and INDEX_LIST return: the hashes,
 *  oldest first, one after the other), or -1 when s (n bytes) is not such a listing or holds
 *  more than WXS__REDIS_TOKEN_INDEX_MAX. Hash i is s + i * WXS__TOKEN_HASH_LEN. */
int wxs__redis_token_list_count(const char *s, size_t n);

/** "token:<hash>" into out (WXS__REDIS_TOKEN_KEY_LEN bytes, no NUL); returns its length. */
size_t wxs__redis_token_key(char *out, const char *hash);

/** "tokens:<openid>" into out (room for WXS__REDIS_TOKENS_KEY_MAX, no NUL); returns its length.
 *  openid_len is at most WXS__STORE_MAX_LOGIN_ID (wxs__store_check_token). */
size_t wxs__redis_tokens_key(char *out, const char *openid, size_t openid_len);

/** The bytes wxs__redis_token_copy needs for args (its hash, openid, record, remembered key and
 *  value; any of them may be NULL). */
size_t wxs__redis_token_size(const wxs__token_put *args);

/** Copy args into *copy with every byte it points to moved into bytes, which has room for
 *  wxs__redis_token_size(args): the copy lives as long as bytes. */
void wxs__redis_token_copy(wxs__token_put *copy, char *bytes, const wxs__token_put *args);

#endif /* WXS_REDIS_TOKEN_H */
