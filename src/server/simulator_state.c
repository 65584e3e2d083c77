/* simulator_state.c: the simulator's state and WeChat's decisions on it (contract in
 * simulator_impl.h): test users (openid, optional unionid, session_key) and issued codes in
 * hash tables, counters, injected failures, jscode2session's checks and the code
 * /__wxsim/login issues. No HTTP: callers hold the request.
 * Every function here expects the sim's lock held unless its comment says it takes it. */
#include "simulator_impl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define CODE_LIFE_MS (5 * 60 * 1000ULL) /* a code expires 5 minutes after it is issued */
#define MAX_CODES 1000000               /* live codes; login answers 503 past this */
#define MAX_USERS 100000                /* test users; login answers 503 past this */
#define HUGE_REPLY_BYTES (4 * 1024 * 1024)

/* ------------------------------------------------------------------ hash table */

typedef struct sim_user {
    hnode node;
    char name[MAX_USER_NAME + 1];
    char openid[OPENID_LEN + 1];
    char unionid[OPENID_LEN + 1];  /* "" while the user has none */
    char session_key[KEY_LEN + 1]; /* current: rotated by each login */
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

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a, seeded */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static hnode *table_find(const table *t, uint64_t hash, const char *key, size_t len)
{
    if (t->nbuckets == 0)
        return NULL;
    for (hnode *n = t->buckets[hash & (t->nbuckets - 1)]; n != NULL; n = n->next)
        if (n->hash == hash && n->keylen == len && memcmp(n->key, key, len) == 0)
            return n;
    return NULL;
}

/* Doubles the bucket array (from 1024) once it holds as many nodes as buckets. */
static int table_grow(table *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024;
    hnode **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        hnode *n = t->buckets[i];
        while (n != NULL) {
            hnode *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    return 0;
}

static int table_insert(table *t, hnode *n)
{
    if (t->count >= t->nbuckets && table_grow(t) < 0)
        return -1;
    hnode **head = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->next = *head;
    *head = n;
    t->count++;
    return 0;
}

static void table_remove(table *t, hnode *n)
{
    hnode **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
    while (*pp != NULL && *pp != n)
        pp = &(*pp)->next;
    if (*pp == n) {
        *pp = n->next;
        t->count--;
    }
}

/* Frees every node (each is the first member of a malloc'd entry) and the buckets. */
static void table_clear(table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        hnode *n = t->buckets[i];
        while (n != NULL) {
            hnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ identifiers */

/* n random characters of [0-9A-Za-z] (unbiased), like WeChat's codes. */
static int random_code(char *out, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char buf[64];
    size_t have = 0;
    while (have < n) {
        if (RAND_bytes(buf, sizeof buf) != 1)
            return -1;
        for (size_t i = 0; i < sizeof buf && have < n; i++)
            if (buf[i] < 248) /* 248 = 4 * 62 */
                out[have++] = alphabet[buf[i] % 62];
    }
    out[n] = '\0';
    return 0;
}

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
        table_remove(&s->codes, &c->node);
        free(c);
    }
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static sim_user *user_get(sim *s, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = hash_bytes(s->seed, name, len);
    sim_user *u = (sim_user *)table_find(&s->users, h, name, len);
    if (u != NULL || s->users.count >= MAX_USERS)
        return u;
    u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    memcpy(u->name, name, len + 1);
    make_id(s->app_id, name, u->openid);
    u->node = (hnode){.hash = h, .key = u->name, .keylen = len};
    if (table_insert(&s->users, &u->node) < 0) {
        free(u);
        return NULL;
    }
    return u;
}

/* Issues a fresh code for u (with its new session_key) into text_out; 0 or -1. */
static int code_issue(sim *s, sim_user *u, char text_out[CODE_LEN + 1])
{
    sim_code *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    do {
        if (random_code(c->text, CODE_LEN) < 0) {
            free(c);
            return -1;
        }
        c->node.hash = hash_bytes(s->seed, c->text, CODE_LEN);
    } while (table_find(&s->codes, c->node.hash, c->text, CODE_LEN) != NULL);
    c->node.key = c->text;
    c->node.keylen = CODE_LEN;
    c->owner = u;
    memcpy(c->session_key, u->session_key, sizeof c->session_key);
    memcpy(c->unionid, u->unionid, sizeof c->unionid);
    c->issued_ms = now_ms();
    if (table_insert(&s->codes, &c->node) < 0) {
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

/* Consumes one use of the injected failure when it is mode; 1 when it applies now. */
static int take_failure(sim *s, fail_mode mode)
{
    if (s->fail != mode || s->fail_count == 0)
        return 0;
    if (s->fail_count > 0)
        s->fail_count--;
    if (s->fail_count == 0)
        s->fail = FAIL_NONE;
    return 1;
}

void sim__forget_all(sim *s)
{
    table_clear(&s->codes);
    table_clear(&s->users);
    s->fifo_head = NULL;
    s->fifo_tail = NULL;
    s->exchanges = 0;
    s->succeeded = 0;
    s->codes_issued = 0;
    memset(s->failed, 0, sizeof s->failed);
    s->latency_ms = s->default_latency_ms;
    s->fail = FAIL_NONE;
    s->fail_count = 0;
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
        c = (sim_code *)table_find(&s->codes, hash_bytes(s->seed, ep->js_code, len), ep->js_code,
                                   len);
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
    if (take_failure(s, FAIL_BUSY))
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
    if (take_failure(s, FAIL_HANG)) {
        *hold = 1;
    } else if (take_failure(s, FAIL_HTTP500)) {
        sim__reply_set(r, 500, "text/plain; charset=utf-8", "internal error", 14);
    } else if (take_failure(s, FAIL_GARBAGE)) {
        sim__reply_set(r, 200, "text/html; charset=utf-8", "<html>not json", 14);
    } else if (take_failure(s, FAIL_HUGE)) {
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
