/* session_fakes.h: a fake session store and a fake WeChat client for the session state
 * machine's tests (tests/unit/test_session.c, tests/unit/test_token.c): ops tables (lib/store.h,
 * lib/wechat.h) that answer through the loop on a later pass, count their calls, and fail, hold or
 * expire on demand. */
#ifndef WXS_SESSION_FAKES_H
#define WXS_SESSION_FAKES_H

#include "store.h"
#include "wechat.h"

#define FAKE_OPENID "oid-1"
#define FAKE_SESSION_KEY "sk-1"

typedef struct fake_entry {
    char *key;
    char *val;
    long long expires_s;
    struct fake_entry *next;
} fake_entry;

/* What fake stores hold, shared by every fake store of a test (one Redis, many workers). */
typedef struct fake_data {
    fake_entry *head;
    long long now_s; /* the fake clock: advance it to expire entries */
} fake_data;

enum {
    OP_GET,
    OP_SET,
    OP_SET_NX,
    OP_DEL,
    OP_LOGIN,
    OP_TOKEN_PUT,
    OP_TOKEN_TOUCH,
    OP_TOKEN_DEL,
    OP_TOKEN_DEL_USER,
    OP_COUNT
};

typedef struct fake_store {
    wxs__store base;
    fake_data *data;
    uv_idle_t idle;
    struct pending *head;
    struct pending **tail;
    int calls[OP_COUNT];
    int fail_later[OP_COUNT]; /* answer such ops with this status */
    int fail_now[OP_COUNT];   /* return this status at once */
    int hold;                 /* keep ops unanswered until released (or closed) */
    int closing;
} fake_store;

typedef struct fake_wechat {
    wxs__wechat base;
    uv_idle_t idle;
    struct wx_pending *head;
    int calls;
    int hold;
    int closing;
    wxs__exchange_result reply; /* what every exchange answers */
} fake_wechat;

/** The live entry at key, or NULL. */
fake_entry *fake_data_find(fake_data *d, const char *key);
/** Set key to val for ttl_s seconds of the fake clock. */
void fake_data_put(fake_data *d, const char *key, const char *val, long long ttl_s);
/** The number of hashes in the token index of openid ("tokens:<openid>": hashes separated by
 *  spaces, oldest first, in the fake). */
int fake_data_index_size(fake_data *d, const char *openid);
/** Free every entry. */
void fake_data_clear(fake_data *d);

/** A fake store on loop over data; its close() cancels what is pending, then frees it. */
fake_store *fake_store_new(uv_loop_t *loop, fake_data *data);

/** A fake WeChat client on loop: every exchange answers FAKE_OPENID / FAKE_SESSION_KEY until
 *  fake_wechat_says() changes it. */
fake_wechat *fake_wechat_new(uv_loop_t *loop);
/** From now on WeChat answers errcode (0: success). */
void fake_wechat_says(fake_wechat *fw, long errcode);

#endif /* WXS_SESSION_FAKES_H */
