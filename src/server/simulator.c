/* simulator.c: a stand-in for WeChat's jscode2session (contract in simulator.h): codes and test
 * users in hash tables, request parameters and replies, replies delayed by the latency or held by
 * an injected failure, /sns/jscode2session itself, route dispatch and a sim's lifetime. The
 * /__wxsim routes (login, stats, config, reset) are in simulator_admin.c. */
#include "simulator_impl.h"

#include "wxsession.h"

#include <http_parser.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CODE_LIFE_MS (5 * 60 * 1000ULL) /* a code expires 5 minutes after it is issued */
#define MAX_CODES 1000000               /* live codes; login answers 503 past this */
#define MAX_USERS 100000                /* test users; login answers 503 past this */
#define MAX_PARAM_BYTES 8192            /* a decoded query parameter */
#define HUGE_REPLY_BYTES (4 * 1024 * 1024)

/* ------------------------------------------------------------------ hash table */

typedef struct sim_user {
    hnode node;
    char name[MAX_USER_NAME + 1];
    char openid[OPENID_LEN + 1];
    char session_key[KEY_LEN + 1]; /* current: rotated by each login */
    long long minute;              /* wall-clock minute of minute_count */
    long long minute_count;        /* exchanges of this user's codes in that minute */
} sim_user;

struct sim_code {
    hnode node;
    char text[CODE_LEN + 1];
    sim_user *owner;
    char session_key[KEY_LEN + 1]; /* the owner's key when the code was issued */
    uint64_t issued_ms;
    int used;
    struct sim_code *fifo_next; /* issue order, oldest first */
};

/* A request answered later: delayed by the latency timer or held by a "hang" failure. */
struct pending {
    http_req *req;
    uv_loop_t *loop;
    reply r;
    int has_timer;
    uv_timer_t timer;
    struct sim *s;
    struct pending *prev, *next;
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

/* "o" + 27 characters of base64url(sha256(appid ":" user)): stable per app and user. */
static void make_openid(const char *app_id, const char *name, char out[OPENID_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    memset(md, 0, sizeof md);
    if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(ctx, app_id, strlen(app_id));
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

/* ------------------------------------------------------------------ request parameters */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes a form-encoded value ('+' is a space, %XX strict, no NUL) into a malloc'd string
 * that is valid UTF-8. NULL when malformed, over MAX_PARAM_BYTES or out of memory. */
static char *form_decode(const char *p, size_t n)
{
    char *out = n <= MAX_PARAM_BYTES * 3 ? malloc(n + 1) : NULL;
    size_t o = 0;
    if (out == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hex_value(p[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                goto fail;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0)
            goto fail;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    json_t *check = json_stringn(out, o); /* jansson validates UTF-8 */
    if (check == NULL || o > MAX_PARAM_BYTES)
        goto fail;
    json_decref(check);
    return out;
fail:
    free(out);
    return NULL;
}

/* The first value of name in a form-encoded string. Returns 1 (*out malloc'd), 0 when absent,
 * -1 when the value is malformed or too long. */
static int form_param(const char *s, size_t len, const char *name, char **out)
{
    size_t nlen = strlen(name);
    *out = NULL;
    for (size_t i = 0; s != NULL && i < len;) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - s) : len;
        if (end - i > nlen && memcmp(s + i, name, nlen) == 0 && s[i + nlen] == '=') {
            *out = form_decode(s + i + nlen + 1, end - i - nlen - 1);
            return *out != NULL ? 1 : -1;
        }
        if (end - i == nlen && memcmp(s + i, name, nlen) == 0) {
            *out = form_decode("", 0);
            return *out != NULL ? 1 : -1;
        }
        i = end + 1;
    }
    return 0;
}

/* A parameter from the query, or for a POST from a form-encoded body. Same returns. */
int sim__req_param(http_req *req, const char *name, char **out)
{
    size_t len = 0;
    const char *q = http_req_query(req, &len);
    int rc = form_param(q, q != NULL ? len : 0, name, out);
    if (rc != 0 || http_req_method(req) != HTTP_POST)
        return rc;
    const char *body = http_req_body(req, &len);
    if (len == 0 || body[0] == '{')
        return 0;
    return form_param(body, len, name, out);
}

/* ------------------------------------------------------------------ replies */

int sim__reply_set(reply *r, int status, const char *content_type, const char *body, size_t len)
{
    r->status = status;
    r->content_type = content_type;
    r->body = malloc(len + 1);
    r->len = len;
    if (r->body == NULL) {
        r->status = 500;
        r->len = 0;
        return -1;
    }
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    return 0;
}

void sim__reply_json(reply *r, int status, json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL)
        sim__reply_set(r, 500, NULL, "{\"error\":{\"code\":\"ERR_INTERNAL\"}}", 33);
    else
        sim__reply_set(r, status, NULL, text, strlen(text));
    free(text);
    json_decref(doc);
}

void sim__reply_error(reply *r, int status, const char *code, const char *message)
{
    sim__reply_json(r, status,
                    json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

static void send_reply(http_req *req, reply *r)
{
    if (r->body == NULL)
        http_respond_error(req, 500, "ERR_INTERNAL", "out of memory");
    else
        http_respond(req, r->status, r->content_type, r->body, r->len, 0);
    free(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------------ pending requests */

static void pending_destroy(pending *p)
{
    free(p->r.body);
    free(p);
}

static void pending_closed(uv_handle_t *h)
{
    pending_destroy(h->data);
}

/* Frees p once its timer (if any) has closed. */
static void pending_release(pending *p)
{
    if (!p->has_timer)
        pending_destroy(p);
    else if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, pending_closed);
    else
        pending_destroy(p); /* its loop already closed the handle and finished */
}

/* Takes p off the sim's list; 1 when it was there (nobody else answered it yet). */
static int pending_unlink(pending *p)
{
    sim *s = p->s;
    pthread_mutex_lock(&s->lock);
    int linked = p->prev != NULL || s->pending == p;
    if (linked) {
        if (p->prev != NULL)
            p->prev->next = p->next;
        else
            s->pending = p->next;
        if (p->next != NULL)
            p->next->prev = p->prev;
        p->prev = NULL;
        p->next = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    return linked;
}

static void pending_on_timer(uv_timer_t *t)
{
    pending *p = t->data;
    if (!pending_unlink(p))
        return;
    send_reply(p->req, &p->r);
    pending_release(p);
}

/* The client went away: the request must still be answered (the server discards it). */
static void pending_on_abort(void *arg, http_req *req)
{
    pending *p = arg;
    if (!pending_unlink(p))
        return;
    http_respond_error(req, 503, "ERR_CLIENT_GONE", "client went away");
    pending_release(p);
}

/* Answers req with r now, after latency_ms on loop, or (hold) only when the client leaves or
 * the simulator is freed. Takes r's body. */
static void deliver(sim *s, uv_loop_t *loop, http_req *req, reply *r, int hold,
                    long long latency_ms)
{
    pending *p = NULL;
    if (hold || latency_ms > 0)
        p = calloc(1, sizeof *p);
    if (p == NULL) {
        send_reply(req, r);
        return;
    }
    p->req = req;
    p->loop = loop;
    p->r = *r;
    p->s = s;
    if (!hold) {
        uv_update_time(loop); /* the loop's cached time may be stale */
        uv_timer_init(loop, &p->timer);
        p->has_timer = 1;
        p->timer.data = p;
        uv_timer_start(&p->timer, pending_on_timer, (uint64_t)latency_ms, 0);
    }
    pthread_mutex_lock(&s->lock);
    p->next = s->pending;
    if (s->pending != NULL)
        s->pending->prev = p;
    s->pending = p;
    pthread_mutex_unlock(&s->lock);
    http_req_on_abort(req, pending_on_abort, p);
    if (http_req_aborted(req)) /* gone already: on_abort will not be called */
        pending_on_abort(p, req);
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
    make_openid(s->app_id, name, u->openid);
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

/* Issues a code for name, first giving the user a new session_key (fresh, or key_override).
 * 0, or an HTTP status for the failure. For /__wxsim/login; takes the lock. */
int sim__login_issue(sim *s, const char *name, const char *key_override,
                     char code_out[CODE_LEN + 1], char key_out[KEY_LEN + 1],
                     char openid_out[OPENID_LEN + 1])
{
    int status = 0;
    pthread_mutex_lock(&s->lock);
    purge_codes(s, now_ms());
    sim_user *u = s->codes.count < MAX_CODES ? user_get(s, name) : NULL;
    if (u != NULL && key_override != NULL)
        memcpy(u->session_key, key_override, KEY_LEN + 1);
    else if (u == NULL || random_session_key(u->session_key) < 0)
        status = 503;
    if (status == 0 && code_issue(s, u, code_out) < 0)
        status = 503;
    if (status == 0) {
        memcpy(key_out, u->session_key, KEY_LEN + 1);
        memcpy(openid_out, u->openid, OPENID_LEN + 1);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* ------------------------------------------------------------------ jscode2session */

typedef struct exchange_params {
    char *appid, *secret, *js_code, *grant_type;
} exchange_params;

static int str_equal(const char *a, const char *b)
{
    size_t al = a != NULL ? strlen(a) : 0, bl = strlen(b);
    return a != NULL && al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

/* WeChat's checks, in its order, on a request that reached the logic (lock held): 0 with
 * *found set when the code may be exchanged, else the errcode and *errmsg. */
static int exchange_check(sim *s, const exchange_params *ep, sim_code **found, const char **errmsg)
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
static void exchange_decide(sim *s, const exchange_params *ep, reply *r)
{
    sim_code *c = NULL;
    const char *errmsg = NULL;
    int errcode = exchange_check(s, ep, &c, &errmsg);
    char body[160];
    int n;
    if (errcode != 0) {
        n = snprintf(body, sizeof body, "{\"errcode\":%d,\"errmsg\":\"%s\"}", errcode, errmsg);
        count_failure(s, errcode);
    } else {
        c->used = 1;
        s->succeeded++;
        n = snprintf(body, sizeof body, "{\"session_key\":\"%s\",\"openid\":\"%s\"}",
                     c->session_key, c->owner->openid);
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

static void handle_exchange(sim *s, uv_loop_t *loop, http_req *req)
{
    exchange_params ep = {0};
    reply r = {0};
    int hold = 0;
    sim__req_param(req, "appid", &ep.appid);
    sim__req_param(req, "secret", &ep.secret);
    sim__req_param(req, "js_code", &ep.js_code);
    sim__req_param(req, "grant_type", &ep.grant_type);
    pthread_mutex_lock(&s->lock);
    s->exchanges++;
    long long latency = s->latency_ms;
    if (!injected_fault(s, &r, &hold))
        exchange_decide(s, &ep, &r);
    pthread_mutex_unlock(&s->lock);
    free(ep.appid);
    free(ep.secret);
    free(ep.js_code);
    free(ep.grant_type);
    deliver(s, loop, req, &r, hold, latency);
}

/* ------------------------------------------------------------------ public */

static int path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

int sim_handle(sim *s, uv_loop_t *loop, http_req *req)
{
    size_t len = 0;
    const char *path = http_req_path(req, &len);
    reply r = {0};
    if (path_is(path, len, "/sns/jscode2session")) {
        handle_exchange(s, loop, req);
        return 1;
    }
    if (!(len >= 8 && memcmp(path, "/__wxsim", 8) == 0 && (len == 8 || path[8] == '/')))
        return 0;
    if (path_is(path, len, "/__wxsim/login"))
        sim__handle_login(s, req, &r);
    else if (path_is(path, len, "/__wxsim/stats"))
        sim__handle_stats(s, &r);
    else if (path_is(path, len, "/__wxsim/config"))
        sim__handle_config(s, req, &r);
    else if (path_is(path, len, "/__wxsim/reset"))
        sim__handle_reset(s, req, &r);
    else
        sim__reply_error(&r, 404, "ERR_NOT_FOUND", "no such simulator route");
    send_reply(req, &r);
    return 1;
}

sim *sim_new(const sim_options *opts)
{
    sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->app_id = strdup(opts->app_id != NULL ? opts->app_id : "");
    s->app_secret = strdup(opts->app_secret != NULL ? opts->app_secret : "");
    s->default_latency_ms = opts->latency_ms > 0 ? opts->latency_ms : 0;
    s->latency_ms = s->default_latency_ms;
    s->quota_per_minute = opts->quota_per_minute;
    if (s->app_id == NULL || s->app_secret == NULL ||
        RAND_bytes((unsigned char *)&s->seed, sizeof s->seed) != 1 ||
        pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->app_id);
        free(s->app_secret);
        free(s);
        return NULL;
    }
    return s;
}

/* Answers the held and delayed requests of loop (NULL: of every loop) with 503, closing their
 * connections. Runs on that loop's thread (or after the loops have finished). */
static void release_pending(sim *s, uv_loop_t *loop)
{
    static const char gone[] =
        "{\"error\":{\"code\":\"ERR_SHUTTING_DOWN\",\"message\":\"simulator stopped\"}}";
    pending *taken = NULL;
    pthread_mutex_lock(&s->lock);
    for (pending *p = s->pending, *next; p != NULL; p = next) {
        next = p->next;
        if (loop != NULL && p->loop != loop)
            continue;
        if (p->prev != NULL)
            p->prev->next = p->next;
        else
            s->pending = p->next;
        if (p->next != NULL)
            p->next->prev = p->prev;
        p->prev = NULL;
        p->next = taken;
        taken = p;
    }
    pthread_mutex_unlock(&s->lock);
    while (taken != NULL) {
        pending *p = taken;
        taken = p->next;
        http_respond(p->req, 503, NULL, gone, sizeof gone - 1, 1);
        if (p->has_timer)
            uv_timer_stop(&p->timer);
        pending_release(p);
    }
}

/* For a worker that is stopping: answers the requests its loop holds so that its server can
 * finish. Call on that loop's thread. */
void sim_release_loop(sim *s, uv_loop_t *loop)
{
    if (s != NULL && loop != NULL)
        release_pending(s, loop);
}

/* Answers held and delayed requests with 503 (closing their connections) and frees the state.
 * Call it on the thread of the loop that holds them, or after that loop has finished. */
void sim_free(sim *s)
{
    if (s == NULL)
        return;
    release_pending(s, NULL);
    sim__forget_all(s);
    pthread_mutex_destroy(&s->lock);
    OPENSSL_cleanse(s->app_secret, strlen(s->app_secret));
    free(s->app_id);
    free(s->app_secret);
    free(s);
}
