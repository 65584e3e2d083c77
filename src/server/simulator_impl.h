/* simulator_impl.h: the simulator's insides, private to its files (the contract is in
 * simulator.h): the sim struct, the reply a route builds, and what each file offers the ones
 * above it. Calls go one way only:
 *   simulator.c (serving, dispatch) -> simulator_admin.c (the /__wxsim routes, by their table)
 *   simulator.c, simulator_admin.c  -> simulator_state.c (state and decisions, no HTTP)
 *   all three                      -> simulator_reply.c (parameters and replies)
 * simulator_state.c and simulator_reply.c call none of the others but state -> reply. */
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

typedef enum { FAIL_NONE, FAIL_HANG, FAIL_HTTP500, FAIL_GARBAGE, FAIL_HUGE, FAIL_BUSY } fail_mode;

/* Errcodes jscode2session answers, in the order stats lists them. */
static const int known_errcodes[] = {40013, 40125, 40002, 40029, 40163, 45011, -1};
#define N_ERRCODES (sizeof known_errcodes / sizeof known_errcodes[0])

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

typedef struct sim_code sim_code; /* an issued code (simulator_state.c) */
typedef struct pending pending;   /* a request answered later (simulator.c) */

struct sim {
    pthread_mutex_t lock; /* guards everything below */
    char *app_id;
    char *app_secret;
    long long default_latency_ms;
    long long quota_per_minute;
    uint64_t seed;
    table users;
    table codes;
    sim_code *fifo_head, *fifo_tail;
    long long exchanges, succeeded, codes_issued;
    long long failed[N_ERRCODES];
    long long latency_ms;
    fail_mode fail;
    long long fail_count; /* -1: until changed */
    wxs__list pending;    /* pending.link: requests answered later, oldest first */
};

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

/* ---- simulator_state.c: state and decisions (the lock held unless said otherwise) */

/* What a jscode2session request asked; every field malloc'd or NULL. */
typedef struct sim_exchange_params {
    char *appid, *secret, *js_code, *grant_type;
} sim_exchange_params;

/* Counts an exchange and sets r to WeChat's reply to it: an injected failure (a 500, garbage, a
 * huge body, or *hold set for "hang"), else jscode2session's decision (a success marks the code
 * used). */
void sim__exchange(sim *s, const sim_exchange_params *ep, reply *r, int *hold);

/* Forgets codes, users, counters and injected failures. */
void sim__forget_all(sim *s);

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

/* ---- simulator_admin.c: the /__wxsim routes, each setting r (simulator.c sends it) */

typedef struct sim_admin_route {
    const char *path; /* "/__wxsim/login" */
    void (*handle)(sim *s, http_req *req, reply *r);
} sim_admin_route;

/* The routes, ended by {NULL, NULL}. */
extern const sim_admin_route sim__admin_routes[];

#endif /* WXS_SIMULATOR_IMPL_H */
