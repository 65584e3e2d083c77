/* redis_op.h: a session store op as both Redis stores (lib/store_redis.c, single or Sentinel;
 * lib/store_redis_cluster.c) send it: its status from Redis's reply, and the login's arguments
 * copied into the op. Pure, no I/O. */
#ifndef WXS_REDIS_OP_H
#define WXS_REDIS_OP_H

#include "store.h"

/** The store ops that are one Redis command on one key. */
typedef enum wxs__redis_op {
    WXS__REDIS_GET,    /* GET key */
    WXS__REDIS_SET,    /* SET key value EX ttl */
    WXS__REDIS_SET_NX, /* SET key value NX EX ttl */
    WXS__REDIS_DEL,    /* DEL key */
} wxs__redis_op;

/** The op's status (lib/store.h) from the type (hiredis's REDIS_REPLY_*) and integer of a reply
 *  that is not an error: GET 0 (a string) or WXS_ENOTFOUND (nil); SET 0; SET NX 1 (set) or 0
 *  (the key existed); DEL the number of keys deleted. WXS_ESTORE for a reply of another type
 *  (the caller logs it). */
int wxs__redis_op_status(wxs__redis_op op, int type, long long integer);

/** The bytes wxs__redis_login_copy needs for lw and a code_json_len-byte JSON of the code. */
size_t wxs__redis_login_size(const wxs__login *lw, size_t code_json_len);

/** Copy lw into *copy with every byte it points to (and code_json) moved into bytes, which has
 *  room for wxs__redis_login_size(lw, code_json_len): the copy lives as long as bytes. Returns
 *  where the copy of code_json starts. */
const char *wxs__redis_login_copy(wxs__login *copy, char *bytes, const wxs__login *lw,
                                  const char *code_json, size_t code_json_len);

#endif /* WXS_REDIS_OP_H */
