/* redis_op.h: a session store op as both Redis stores (lib/store_redis.c, single or Sentinel;
 * lib/store_redis_cluster.c) send it: its status from Redis's reply, the compare-then-delete
 * script's command, and the login's arguments copied into the op. Pure, no I/O. */
#ifndef WXS_REDIS_OP_H
#define WXS_REDIS_OP_H

#include "redis_resp.h"
#include "store.h"

/** The store ops that are one Redis command on one key. */
typedef enum wxs__redis_op {
    WXS__REDIS_GET,    /* GET key */
    WXS__REDIS_SET,    /* SET key value EX ttl */
    WXS__REDIS_SET_NX, /* SET key value NX EX ttl */
    WXS__REDIS_DEL,    /* DEL key */
    WXS__REDIS_DEL_EQ, /* the compare-then-delete script on key (one key: fine on a Cluster) */
} wxs__redis_op;

/** The op's status (lib/store.h) from the type (hiredis's REDIS_REPLY_*) and integer of a reply
 *  that is not an error: GET 0 (a string) or WXS_ENOTFOUND (nil); SET 0; SET NX 1 (set) or 0
 *  (the key existed); DEL the number of keys deleted; DEL_EQ 1 (deleted) or 0 (another value,
 *  or none). WXS_ESTORE for a reply of another type (the caller logs it). */
int wxs__redis_op_status(wxs__redis_op op, int type, long long integer);

/** The compare-then-delete (store.h del_eq) as a command: EVALSHA sha 1 <prefix><key> val
 *  (with_body 0) or EVAL <script> 1 <prefix><key> val (with_body 1: after a NOSCRIPT reply,
 *  and always on a Cluster, whose nodes may not have it loaded). The script, atomically:
 *  GET key == val (a string equal byte for byte; nil, an expired key, never is) then DEL key,
 *  returning 1, else 0; a key of another type is an error reply (WRONGTYPE). */
typedef struct wxs__redis_del_eq_cmd {
    wxs__resp_arg argv[5];
    int argc;
} wxs__redis_del_eq_cmd;

/** The script's SHA1 as 40 hex digits and a NUL (EVALSHA's argument). */
void wxs__redis_del_eq_sha(char sha[41]);

/** Fill cmd with the command on <prefix><key> and val; cmd borrows prefix, key, val and sha
 *  until it is encoded. */
void wxs__redis_del_eq_cmd_init(wxs__redis_del_eq_cmd *cmd, const char *prefix, size_t prefix_len,
                                const char *key, size_t klen, const char *val, size_t vlen,
                                const char *sha, int with_body);

/** The bytes wxs__redis_login_copy needs for lw and a code_json_len-byte JSON of the code. */
size_t wxs__redis_login_size(const wxs__login *lw, size_t code_json_len);

/** Copy lw into *copy with every byte it points to (and code_json) moved into bytes, which has
 *  room for wxs__redis_login_size(lw, code_json_len): the copy lives as long as bytes. Returns
 *  where the copy of code_json starts. */
const char *wxs__redis_login_copy(wxs__login *copy, char *bytes, const wxs__login *lw,
                                  const char *code_json, size_t code_json_len);

#endif /* WXS_REDIS_OP_H */
