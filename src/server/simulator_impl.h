/* simulator_impl.h: the simulator's insides, private to its files (the contract is in
 * simulator.h): the sim struct, the reply a route builds, and what each file offers the ones
 * above it. Calls go one way only:
 *   simulator.c (serving, dispatch) -> simulator_admin.c (the /__wxsim routes, by their table)
 *                                   -> simulator_api.c (the access_token APIs, by their table)
 *   simulator.c, simulator_admin.c, simulator_api.c
 *                                   -> simulator_state.c (users, codes, session keys),
 *                                      simulator_token.c (access_tokens),
 *                                      simulator_phone.c (phone codes): state and decisions,
 *                                      no HTTP
 *   the state files                 -> simulator_table.c (hash table, random texts)
 *   all of them                     -> simulator_reply.c (parameters and replies)
 * The state files call none of each other; simulator_table.c and simulator_reply.c call none of
 * the others. */
#ifndef WXS_SIMULATOR_IMPL_H
#define WXS_SIMULATOR_IMPL_H

#include "simulator.h"

#include "list.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_USER_NAME 64
#define CODE_LEN 32
#define KEY_LEN 24    /* base64 of 16 bytes */
#define OPENID_LEN 28 /* "o" + 27 */
#define TOKEN_LEN 136 /* an access_token: WeChat's are about 140 characters */
#define PHONE_MAX 20  /* digits of a phone number without its country code */
#define COUNTRY_MAX 4 /* digits of a country code */

typedef enum { FAIL_NONE, FAIL_HANG, FAIL_HTTP500, FAIL_GARBAGE, FAIL_HUGE, FAIL_BUSY } fail_mode;

/* Errcodes jscode2session answers, in the order stats lists them. */
static const int known_errcodes[] = {40013, 40125, 40002, 40029, 40163, 45011, -1};
#define N_ERRCODES (sizeof known_errcodes / sizeof known_errcodes[0])

/* Errcodes stable_token and the access_token APIs answer, in the order stats lists them. */
static const int api_errcodes[] = {40013, 40125, 40002, 44002, 47001,   43001, 43002, 45009, 41001,
                                   40001, 42001, 40029, 45011, 1400001, 40097, 87009, -1};
#define N_API_ERRCODES (sizeof api_errcodes / sizeof api_errcodes[0])

/* Chained hash table node, embedded first in each entry; key points into the entry. */
typedef struct hnode {
    struct hnode *next;
    uint64_t hash;
    const char *key;
    size_t keylen;
} hnode;

typedef struct table {
    hnode **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first insert */
    size_t count;
} table;

/* A reply to send: now, after the latency, or (held) never. */
typedef struct reply {
    int status;
    const char *content_type; /* NULL: JSON */
    char *body;               /* malloc'd */
    size_t len;
} reply;

typedef struct sim_code sim_code;   /* an issued code (simulator_state.c) */
typedef struct sim_token sim_token; /* an issued access_token (simulator_token.c) */
typedef struct sim_phone sim_phone; /* an issued phone code (simulator_phone.c) */
typedef struct pending pending;     /* a request answered later (simulator.c) */

/* The access_token APIs' settings: /__wxsim/config changes them, /__wxsim/reset restores
 * sim_api_defaults(). */
typedef struct sim_api_settings {
    long long token_lifetime_s;       /* a new token's life (7200) */
    long long token_renew_s;          /* the last seconds of a token's life in which normal
                                         mode hands out a new one (300); < token_lifetime_s */
    long long token_quota_per_minute; /* stable_token answers with a token per minute (10000) */
    long long phone_quota;            /* successful phone number calls in all, -1: unlimited */
    long long phone_per_minute;       /* phone number calls per minute (10000) */
} sim_api_settings;

/* The access_token APIs' counters (/__wxsim/stats; /__wxsim/reset zeroes them). */
typedef struct sim_api_stats {
    long long token_fetches;       /* stable_token calls answered with a token */
    long long tokens_issued;       /* distinct tokens created */
    long long force_refreshes;     /* stable_token calls with force_refresh answered a token */
    long long token_invalidations; /* /__wxsim/invalidate-token calls */
    long long api_calls;           /* calls of the APIs that take an access_token */
    long long phone_calls, phone_numbers, session_checks, session_resets;
    long long token_errors[N_API_ERRCODES]; /* stable_token's errcodes */
    long long api_errors[N_API_ERRCODES];   /* the access_token APIs' errcodes */
} sim_api_stats;

struct sim {
    pthread_mutex_t lock; /* guards everything below */
    char *app_id;
    char *app_secret;
    long long default_latency_ms;
    long long quota_per_minute;
    uint64_t seed;
    table users;
    table users_by_openid; /* an index over users' nodes (by_openid) */
    table codes;
    sim_code *fifo_head, *fifo_tail;
    table tokens;
    sim_token *token_head, *token_tail; /* issue order, oldest first */
    sim_token *token_current;           /* what normal mode answers while it has time left */
    long long token_minute, token_minute_count;
    table phones;
    sim_phone *phone_head, *phone_tail; /* issue order, oldest first */
    long long phone_minute, phone_minute_count;
    sim_api_settings api;
    sim_api_stats api_stats;
    long long exchanges, succeeded, codes_issued;
    long long failed[N_ERRCODES];
    long long latency_ms;
    fail_mode fail;
    long long fail_count; /* -1: until changed */
    wxs__list pending;    /* pending.link: requests answered later, oldest first */
};

/* ---- simulator_table.c: hash table and random texts */

/* FNV-1a of p, seeded (s->seed: table keys are not predictable). */
uint64_t sim__hash(uint64_t seed, const char *p, size_t n);
/* The node with key, or NULL. */
hnode *sim__table_find(const table *t, uint64_t hash, const char *key, size_t len);
/* Adds n (its hash, key and keylen set); 0, or -1 when out of memory. */
int sim__table_insert(table *t, hnode *n);
/* Takes n out (a no-op when it is not in t). */
void sim__table_remove(table *t, hnode *n);
/* Frees every node (each the first member of a malloc'd entry) and the buckets. */
void sim__table_clear(table *t);
/* Frees the buckets only: for an index whose nodes another table's entries own. */
void sim__table_drop(table *t);
/* n random characters of [0-9A-Za-z] (unbiased) and a NUL into out; 0, or -1 (no randomness). */
int sim__random_text(char *out, size_t n);

/* ---- simulator_reply.c: parameters and replies */

/* A parameter from the query, or for a POST from a form-encoded body. Returns 1 (*out
 * malloc'd), 0 when absent, -1 when the value is malformed or too long. */
int sim__req_param(http_req *req, const char *name, char **out);

/* Sets r to status, content_type (NULL: JSON) and a copy of body. 0, or -1 (a 500 with no body)
 * when out of memory. */
int sim__reply_set(reply *r, int status, const char *content_type, const char *body, size_t len);

/* Sets r to doc as compact JSON (a 500 when doc is NULL or not dumped); takes doc's reference. */
void sim__reply_json(reply *r, int status, json_t *doc);

/* Sets r to {"error":{"code","message"}}. */
void sim__reply_error(reply *r, int status, const char *code, const char *message);

/* Sets r to WeChat's error answer: 200 {"errcode","errmsg"}. */
void sim__reply_errcode(reply *r, int errcode, const char *errmsg);

/* ---- simulator_state.c: state and decisions (the lock held unless said otherwise) */

/* What a jscode2session request asked; every field malloc'd or NULL. */
typedef struct sim_exchange_params {
    char *appid, *secret, *js_code, *grant_type;
} sim_exchange_params;

/* Counts an exchange and sets r to WeChat's reply to it: an injected failure (a 500, garbage, a
 * huge body, or *hold set for "hang"), else jscode2session's decision (a success marks the code
 * used). */
void sim__exchange(sim *s, const sim_exchange_params *ep, reply *r, int *hold);

/* Forgets codes, users, every counter (the access_token APIs' too) and injected failures, and
 * restores the settings /__wxsim/config changes. Tokens and phone codes are forgotten by
 * sim__tokens_forget and sim__phones_forget. */
void sim__forget_all(sim *s);

/* The access_token APIs' settings at start and after /__wxsim/reset. */
sim_api_settings sim__api_defaults(void);

/* Consumes one use of the injected failure when it is mode; 1 when it applies now. */
int sim__take_failure(sim *s, fail_mode mode);

/* What a login issued: the code and the user's identifiers and session_key at that moment. */
typedef struct sim_login_ids {
    char code[CODE_LEN + 1];
    char session_key[KEY_LEN + 1];
    char openid[OPENID_LEN + 1];
    char unionid[OPENID_LEN + 1]; /* "" when the user has none */
} sim_login_ids;

/* Issues a code for name, first giving the user a new session_key (fresh, or key_override) and,
 * with unionid 1, a unionid derived from the name (0: none from now on; -1: as before). Fills
 * *out. 0, or an HTTP status for the failure. Takes the lock itself. */
int sim__login_issue(sim *s, const char *name, const char *key_override, int unionid,
                     sim_login_ids *out);

/* The openid of user name (the one /__wxsim/login gives), creating the user when new. 0, or
 * -1 when the user table is full or out of memory. */
int sim__user_openid(sim *s, const char *name, char openid[OPENID_LEN + 1]);

/* checksession's decision: 0 when signature is the hex of hmac_sha256(key = the openid's
 * current session_key (what its latest jscode2session answered), message ""), else 87009 (also
 * for an openid with no current key). */
int sim__session_check(sim *s, const char *openid, const char *signature);

/* resetusersessionkey's: checks signature as sim__session_check, then gives the openid a new
 * random current key (into key_out). 0, 87009, or -1 (no randomness). */
int sim__session_reset(sim *s, const char *openid, const char *signature,
                       char key_out[KEY_LEN + 1]);

/* /__wxsim/rotate-session-key: a new random current key for user name (into key_out and its
 * openid into openid_out), the app not told. 0, or an HTTP status: 404 no such user, 503. */
int sim__session_rotate(sim *s, const char *name, char openid_out[OPENID_LEN + 1],
                        char key_out[KEY_LEN + 1]);

/* ---- simulator_token.c: access_tokens (the lock held) */

/* What a stable_token request asked; strings borrowed (the request's), NULL when absent. */
typedef struct sim_token_params {
    const char *grant_type, *appid, *secret;
    int force_refresh;
} sim_token_params;

/* stable_token's decision: 0 with the token answered (token_out) and its remaining life in
 * seconds (*expires_in), else the errcode and *errmsg (40013, 40125, 40002, 45009; -1 when out
 * of memory or randomness). Counts fetches and tokens. */
int sim__token_fetch(sim *s, const sim_token_params *tp, char token_out[TOKEN_LEN + 1],
                     long long *expires_in, const char **errmsg);

/* The check every access_token API makes: 0 when token is valid, else 41001 (missing or
 * empty), 40001 (unknown, or invalidated by a force_refresh), 42001 (expired), and *errmsg. */
int sim__token_check(sim *s, const char *token, const char **errmsg);

/* What another party's force_refresh does: a new current token, every earlier one invalid at
 * once. 0, or -1 when out of memory or randomness. */
int sim__token_invalidate(sim *s);

/* Forgets every token and the quota's count. */
void sim__tokens_forget(sim *s);

/* ---- simulator_phone.c: phone codes (the lock held) */

/* A phone number: digits only; country without "+". */
typedef struct sim_phone_info {
    char pure[PHONE_MAX + 1];
    char country[COUNTRY_MAX + 1];
    char openid[OPENID_LEN + 1];
} sim_phone_info;

/* Issues a phone code (as the getPhoneNumber button) for info's user into code_out: single
 * use, valid 5 minutes. 0, or -1 when the table is full or out of memory. */
int sim__phone_issue(sim *s, const sim_phone_info *info, char code_out[CODE_LEN + 1]);

/* Looks code up for getuserphonenumber: 0 with *out filled when it is issued, unused, under 5
 * minutes old and (openid non-NULL) issued for openid; else 40029. Does not use it up. */
int sim__phone_find(sim *s, const char *code, const char *openid, sim_phone_info *out);

/* Uses code up (after a successful answer). */
void sim__phone_use(sim *s, const char *code);

/* Forgets every phone code. */
void sim__phones_forget(sim *s);

/* A route: handle sets r, simulator.c sends it. */
typedef struct sim_route {
    const char *path; /* "/__wxsim/login" */
    void (*handle)(sim *s, http_req *req, reply *r);
} sim_route;

/* ---- simulator_admin.c: the /__wxsim routes, ended by {NULL, NULL} */
extern const sim_route sim__admin_routes[];

/* ---- simulator_api.c: stable_token and the access_token APIs, ended by {NULL, NULL} */
extern const sim_route sim__api_routes[];

#endif /* WXS_SIMULATOR_IMPL_H */
