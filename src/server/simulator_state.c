/* simulator_state.c: the simulator's state and WeChat's decisions on it (contract in
 * simulator_impl.h): test users (openid, optional unionid, session_key) and issued codes in
 * hash tables, counters, injected failures, jscode2session's checks, the code /__wxsim/login
 * issues, and each user's current session_key with checksession's and resetusersessionkey's
 * decisions on it. No HTTP: callers hold the request.
 * Every function here expects the sim's lock held unless its comment says it takes it. */
#include "simulator_impl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define CODE_LIFE_MS (5 * 60 * 1000ULL) /* a code expires 5 minutes after it is issued */
#define MAX_CODES 1000000               /* live codes; login answers 503 past this */
#define MAX_USERS 100000                /* test users; login answers 503 past this */
#define HUGE_REPLY_BYTES (4 * 1024 * 1024)

/* ------------------------------------------------------------------ entries */

typedef struct sim_user {
    hnode node;
    char name[MAX_USER_NAME + 1];
    char openid[OPENID_LEN + 1];
    char unionid[OPENID_LEN + 1];  /* "" while the user has none */
    char session_key[KEY_LEN + 1]; /* the next code's: rotated by each login */
    char current_key[KEY_LEN + 1]; /* what WeChat holds: the latest exchange's, "" for none */
    hnode by_openid;               /* in users_by_openid */
    long long minute;              /* wall-clock minute of minute_count */
    long long minute_count;        /* exchanges of this user's codes in that minute */
} sim_user;

struct sim_code {
    hnode node;
    char text[CODE_LEN + 1];
    sim_user *owner;
    char session_key[KEY_LEN + 1]; /* the owner's key when the code was issued */
    char unionid[OPENID_LEN + 1];  /* the owner's unionid then ("" for none) */
    uint64_t issued_ms;
    int used;
    struct sim_code *fifo_next; /* issue order, oldest first */
};

/* ------------------------------------------------------------------ identifiers */

/* A fresh session_key: 16 random bytes in base64 (24 characters), like WeChat's. */
static int random_session_key(char out[KEY_LEN + 1])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

/* "o" + 27 characters of base64url(sha256(domain ":" user)): stable per domain and user. An
 * openid's domain is the appId (one per app and user), a unionid's "unionid" (one per user,
 * whatever the app, as WeChat's are per open-platform account; appIds start with "wx"). */
static void make_id(const char *domain, const char *name, char out[OPENID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    memset(md, 0, sizeof md);
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(ctx, domain, strlen(domain));
        EVP_DigestUpdate(ctx, ":", 1);
        EVP_DigestUpdate(ctx, name, strlen(name));
        EVP_DigestFinal_ex(ctx, md, NULL);
    }
    EVP_MD_CTX_free(ctx);
    out[0] = 'o';
    for (int i = 0; i < OPENID_LEN - 1; i++) {
        int bit = i * 6; /* 27 * 6 = 162 bits of the 256 */
        unsigned v = ((unsigned)md[bit / 8] << 8 | md[bit / 8 + 1]) >> (10 - bit % 8);
        out[i + 1] = alphabet[v & 63];
    }
    out[OPENID_LEN] = '\0';
}

/* ------------------------------------------------------------------ state (lock held) */

/* Drops codes issued more than CODE_LIFE_MS ago (oldest first). */
static void purge_codes(sim *s, uint64_t now)
{
    while (s->fifo_head != NULL && now - s->fifo_head->issued_ms > CODE_LIFE_MS) {
        sim_code *c = s->fifo_head;
        s->fifo_head = c->fifo_next;
        if (s->fifo_head == NULL)
            s->fifo_tail = NULL;
        sim__table_remove(&s->codes, &c->node);
        free(c);
    }
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* User name, created (in both tables) when new; NULL when the table is full or out of
 * memory. */
static sim_user *user_get(sim *s, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = sim__hash(s->seed, name, len);
    sim_user *u = (sim_user *)sim__table_find(&s->users, h, name, len);
    if (u != NULL || s->users.count >= MAX_USERS)
        return u;
    u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    memcpy(u->name, name, len + 1);
    make_id(s->app_id, name, u->openid);
    u->node = (hnode){.hash = h, .key = u->name, .keylen = len};
    u->by_openid = (hnode){
        .hash = sim__hash(s->seed, u->openid, OPENID_LEN), .key = u->openid, .keylen = OPENID_LEN};
    if (sim__table_insert(&s->users, &u->node) < 0) {
        free(u);
        return NULL;
    }
    if (sim__table_insert(&s->users_by_openid, &u->by_openid) < 0) {
        sim__table_remove(&s->users, &u->node);
        free(u);
        return NULL;
    }
    return u;
}

/* The user whose openid is openid, or NULL. */
static sim_user *user_by_openid(sim *s, const char *openid)
{
    size_t len = openid != NULL ? strlen(openid) : 0;
    hnode *n = len == OPENID_LEN ? sim__table_find(&s->users_by_openid,
                                                   sim__hash(s->seed, openid, len), openid, len)
                                 : NULL;
    return n != NULL ? (sim_user *)((char *)n - offsetof(sim_user, by_openid)) : NULL;
}

/* Issues a fresh code for u (with its new session_key) into text_out; 0 or -1. */
static int code_issue(sim *s, sim_user *u, char text_out[CODE_LEN + 1])
{
    sim_code *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    do {
        if (sim__random_text(c->text, CODE_LEN) < 0) {
            free(c);
            return -1;
        }
        c->node.hash = sim__hash(s->seed, c->text, CODE_LEN);
    } while (sim__table_find(&s->codes, c->node.hash, c->text, CODE_LEN) != NULL);
    c->node.key = c->text;
    c->node.keylen = CODE_LEN;
    c->owner = u;
    memcpy(c->session_key, u->session_key, sizeof c->session_key);
    memcpy(c->unionid, u->unionid, sizeof c->unionid);
    c->issued_ms = now_ms();
    if (sim__table_insert(&s->codes, &c->node) < 0) {
        free(c);
        return -1;
    }
    if (s->fifo_tail != NULL)
        s->fifo_tail->fifo_next = c;
    else
        s->fifo_head = c;
    s->fifo_tail = c;
    s->codes_issued++;
    memcpy(text_out, c->text, CODE_LEN + 1);
    return 0;
}

static void count_failure(sim *s, int errcode)
{
    for (size_t i = 0; i < N_ERRCODES; i++)
        if (known_errcodes[i] == errcode)
            s->failed[i]++;
}

int sim__take_failure(sim *s, fail_mode mode)
{
    if (s->fail != mode || s->fail_count == 0)
        return 0;
    if (s->fail_count > 0)
        s->fail_count--;
    if (s->fail_count == 0)
        s->fail = FAIL_NONE;
    return 1;
}

sim_api_settings sim__api_defaults(void)
{
    return (sim_api_settings){.token_lifetime_s = 7200,
                              .token_renew_s = 300,
                              .token_quota_per_minute = 10000,
                              .phone_quota = -1,
                              .phone_per_minute = 10000};
}

void sim__forget_all(sim *s)
{
    sim__table_clear(&s->codes);
    sim__table_drop(&s->users_by_openid); /* its nodes are in the users' entries */
    sim__table_clear(&s->users);
    s->fifo_head = NULL;
    s->fifo_tail = NULL;
    s->exchanges = 0;
    s->succeeded = 0;
    s->codes_issued = 0;
    memset(s->failed, 0, sizeof s->failed);
    s->latency_ms = s->default_latency_ms;
    s->fail = FAIL_NONE;
    s->fail_count = 0;
    s->api = sim__api_defaults();
    memset(&s->api_stats, 0, sizeof s->api_stats);
}

/* Issues a code for name, first giving the user a new session_key (fresh, or key_override) and,
 * with unionid 1, its unionid (0: none from now on; -1: as before). Fills *out. 0, or an HTTP
 * status for the failure. For /__wxsim/login; takes the lock. */
int sim__login_issue(sim *s, const char *name, const char *key_override, int unionid,
                     sim_login_ids *out)
{
    int status = 0;
    pthread_mutex_lock(&s->lock);
    purge_codes(s, now_ms());
    sim_user *u = s->codes.count < MAX_CODES ? user_get(s, name) : NULL;
    if (u != NULL && unionid == 1)
        make_id("unionid", name, u->unionid);
    else if (u != NULL && unionid == 0)
        u->unionid[0] = '\0';
    if (u != NULL && key_override != NULL)
        memcpy(u->session_key, key_override, KEY_LEN + 1);
    else if (u == NULL || random_session_key(u->session_key) < 0)
        status = 503;
    if (status == 0 && code_issue(s, u, out->code) < 0)
        status = 503;
    if (status == 0) {
        memcpy(out->session_key, u->session_key, KEY_LEN + 1);
        memcpy(out->openid, u->openid, OPENID_LEN + 1);
        memcpy(out->unionid, u->unionid, OPENID_LEN + 1);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* ------------------------------------------------------------------ jscode2session */

static int str_equal(const char *a, const char *b)
{
    size_t al = a != NULL ? strlen(a) : 0, bl = strlen(b);
    return a != NULL && al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

/* WeChat's checks, in its order, on a request that reached the logic (lock held): 0 with
 * *found set when the code may be exchanged, else the errcode and *errmsg. */
static int exchange_check(sim *s, const sim_exchange_params *ep, sim_code **found,
                          const char **errmsg)
{
    *errmsg = "invalid appid";
    if (!str_equal(ep->appid, s->app_id))
        return 40013;
    *errmsg = "invalid appsecret";
    if (!str_equal(ep->secret, s->app_secret))
        return 40125;
    *errmsg = "invalid grant_type";
    if (!str_equal(ep->grant_type, "authorization_code"))
        return 40002;
    size_t len = ep->js_code != NULL ? strlen(ep->js_code) : 0;
    sim_code *c = NULL;
    if (len > 0)
        c = (sim_code *)sim__table_find(&s->codes, sim__hash(s->seed, ep->js_code, len),
                                        ep->js_code, len);
    *errmsg = "invalid code";
    if (c == NULL || now_ms() - c->issued_ms > CODE_LIFE_MS)
        return 40029;
    *errmsg = "code been used";
    if (c->used)
        return 40163;
    sim_user *u = c->owner;
    long long minute = (long long)time(NULL) / 60;
    if (u->minute != minute) {
        u->minute = minute;
        u->minute_count = 0;
    }
    u->minute_count++;
    *errmsg = "api minute-quota reach limit  mustslower  retry next minute";
    if (s->quota_per_minute > 0 && u->minute_count > s->quota_per_minute)
        return 45011;
    *errmsg = "system error";
    if (sim__take_failure(s, FAIL_BUSY))
        return -1;
    *found = c;
    return 0;
}

/* The jscode2session reply for a request that reached the logic (lock held). A rejected code
 * stays usable (only a success marks it used). */
static void exchange_decide(sim *s, const sim_exchange_params *ep, reply *r)
{
    sim_code *c = NULL;
    const char *errmsg = NULL;
    int errcode = exchange_check(s, ep, &c, &errmsg);
    char body[192];
    int n;
    if (errcode != 0) {
        n = snprintf(body, sizeof body, "{\"errcode\":%d,\"errmsg\":\"%s\"}", errcode, errmsg);
        count_failure(s, errcode);
    } else {
        c->used = 1;
        memcpy(c->owner->current_key, c->session_key, sizeof c->session_key);
        s->succeeded++;
        n = snprintf(body, sizeof body, "{\"session_key\":\"%s\",\"openid\":\"%s\"%s%s%s}",
                     c->session_key, c->owner->openid, c->unionid[0] ? ",\"unionid\":\"" : "",
                     c->unionid, c->unionid[0] ? "\"" : "");
    }
    sim__reply_set(r, 200, NULL, body, (size_t)n);
}

/* A transport-level failure injected before WeChat's logic: 1 when one applies (r set, or
 * *hold set for "hang"). Lock held. */
static int injected_fault(sim *s, reply *r, int *hold)
{
    if (sim__take_failure(s, FAIL_HANG)) {
        *hold = 1;
    } else if (sim__take_failure(s, FAIL_HTTP500)) {
        sim__reply_set(r, 500, "text/plain; charset=utf-8", "internal error", 14);
    } else if (sim__take_failure(s, FAIL_GARBAGE)) {
        sim__reply_set(r, 200, "text/html; charset=utf-8", "<html>not json", 14);
    } else if (sim__take_failure(s, FAIL_HUGE)) {
        r->status = 200;
        r->len = HUGE_REPLY_BYTES;
        r->body = malloc(HUGE_REPLY_BYTES + 1);
        if (r->body != NULL) {
            memset(r->body, 'x', HUGE_REPLY_BYTES);
            memcpy(r->body, "{\"padding\":\"", 12);
            memcpy(r->body + HUGE_REPLY_BYTES - 2, "\"}", 3);
        }
    } else {
        return 0;
    }
    return 1;
}

void sim__exchange(sim *s, const sim_exchange_params *ep, reply *r, int *hold)
{
    s->exchanges++;
    if (!injected_fault(s, r, hold))
        exchange_decide(s, ep, r);
}

/* ------------------------------------------------------------------ session keys */

int sim__user_openid(sim *s, const char *name, char openid[OPENID_LEN + 1])
{
    sim_user *u = user_get(s, name);
    if (u == NULL)
        return -1;
    memcpy(openid, u->openid, OPENID_LEN + 1);
    return 0;
}

/* 1 when signature is the lowercase hex of hmac_sha256(key = the key text, message ""). */
static int signature_matches(const char *key, const char *signature)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char want[2 * EVP_MAX_MD_SIZE + 1] = "";
    int ok = 0;
    if (signature == NULL || key[0] == '\0' ||
        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)"", 0, md, &md_len) ==
            NULL)
        goto out;
    for (unsigned int i = 0; i < md_len; i++) {
        want[2 * i] = hex[md[i] >> 4];
        want[2 * i + 1] = hex[md[i] & 15];
    }
    want[2 * md_len] = '\0';
    ok = strlen(signature) == 2 * md_len && CRYPTO_memcmp(signature, want, 2 * md_len) == 0;
out:
    OPENSSL_cleanse(md, sizeof md);
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

int sim__session_check(sim *s, const char *openid, const char *signature)
{
    sim_user *u = user_by_openid(s, openid);
    return u != NULL && signature_matches(u->current_key, signature) ? 0 : 87009;
}

int sim__session_reset(sim *s, const char *openid, const char *signature, char key_out[KEY_LEN + 1])
{
    sim_user *u = user_by_openid(s, openid);
    if (u == NULL || !signature_matches(u->current_key, signature))
        return 87009;
    if (random_session_key(u->current_key) < 0)
        return -1;
    memcpy(key_out, u->current_key, KEY_LEN + 1);
    return 0;
}

int sim__session_rotate(sim *s, const char *name, char openid_out[OPENID_LEN + 1],
                        char key_out[KEY_LEN + 1])
{
    size_t len = strlen(name);
    sim_user *u = (sim_user *)sim__table_find(&s->users, sim__hash(s->seed, name, len), name, len);
    if (u == NULL)
        return 404;
    if (random_session_key(u->current_key) < 0)
        return 503;
    memcpy(openid_out, u->openid, OPENID_LEN + 1);
    memcpy(key_out, u->current_key, KEY_LEN + 1);
    return 0;
}
