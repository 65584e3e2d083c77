/* session_fakes.h: a fake session store and a fake WeChat client for the session state
 * machine's tests (tests/unit/test_session.c, tests/unit/test_token.c,
 * tests/unit/test_access_token.c): ops tables (lib/store.h, lib/wechat.h) that answer through the
 * loop on a later pass, count their calls, and fail, hold or expire on demand. */
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
    OP_DEL_EQ,
    OP_COUNT
};

/* One compare-then-delete the fake store answered: its key, the value compared, the outcome. */
typedef struct fake_del_eq {
    char key[160];
    char val[1024];
    int deleted;
} fake_del_eq;

#define FAKE_DEL_EQ_LOG 8

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
    fake_del_eq del_eqs[FAKE_DEL_EQ_LOG]; /* the first del_eq ops answered, in order */
    int del_eqs_answered;
} fake_store;

/* The server APIs the fake WeChat answers (ops->call), by path prefix. */
enum {
    FAKE_API_STABLE_TOKEN, /* /cgi-bin/stable_token */
    FAKE_API_CHECK,        /* /wxa/checksession */
    FAKE_API_RESET,        /* /wxa/resetusersessionkey */
    FAKE_API_PHONE,        /* /wxa/business/getuserphonenumber */
    FAKE_API_OTHER,        /* anything else: errcode 40066 "invalid url" */
    FAKE_API_COUNT
};

/* getuserphonenumber's phone_info as the fake sends it, and as compact JSON */
#define FAKE_PHONE_INFO                                                                            \
    "{ \"phoneNumber\": \"+8613800138000\", \"purePhoneNumber\": \"13800138000\", "                \
    "\"countryCode\": \"86\", \"watermark\": { \"timestamp\": 1700000000, \"appid\": \"wxa\" } }"
#define FAKE_PHONE_INFO_COMPACT                                                                    \
    "{\"phoneNumber\":\"+8613800138000\",\"purePhoneNumber\":\"13800138000\","                     \
    "\"countryCode\":\"86\",\"watermark\":{\"timestamp\":1700000000,\"appid\":\"wxa\"}}"
#define FAKE_NEW_SESSION_KEY "sk-new"

typedef struct fake_wechat {
    wxs__wechat base;
    uv_idle_t idle;
    struct wx_pending *head;
    int calls; /* code exchanges */
    int hold;  /* keep exchanges and calls unanswered until released (or freed) */
    int closing;
    wxs__exchange_result reply; /* what every exchange answers */
    /* server API calls (ops->call): what each answers is decided when it is made */
    int api_calls[FAKE_API_COUNT];
    int unreachable[FAKE_API_COUNT]; /* answer such calls with this transport status */
    char token[128];          /* stable_token's access_token; "" (default): "AT-<n>", n its calls */
    long expires_in;          /* stable_token's expires_in (7200) */
    long token_errcode;       /* stable_token refuses with this (0: it answers a token) */
    long check_errcode;       /* checksession: 0 or 87009 */
    char new_session_key[64]; /* resetusersessionkey's (FAKE_NEW_SESSION_KEY) */
    long phone_errcode;       /* getuserphonenumber refuses with this (0: phone_info) */
    int phone_invalid_first;  /* the first N getuserphonenumber calls answer 40001 */
    const char *phone_info;   /* its phone_info (FAKE_PHONE_INFO) */
    char last_name[64];       /* the last call's API name, path, body ("" for a GET) */
    char last_path[4096];
    char last_body[4096];
    int last_post;
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
/** Stop holding: the ops kept by fs->hold are answered on the loop's next pass. */
void fake_store_release(fake_store *fs);

/** A fake WeChat client on loop: every exchange answers FAKE_OPENID / FAKE_SESSION_KEY until
 *  fake_wechat_says() changes it; its server API calls answer as the fields above say. */
fake_wechat *fake_wechat_new(uv_loop_t *loop);
/** From now on WeChat answers errcode (0: success). */
void fake_wechat_says(fake_wechat *fw, long errcode);
/** Stop holding: the exchanges and calls kept by fw->hold are answered on the loop's next
 *  pass. */
void fake_wechat_release(fake_wechat *fw);

#endif /* WXS_SESSION_FAKES_H */
