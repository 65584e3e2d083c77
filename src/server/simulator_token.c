/* simulator_token.c: the simulator's access_tokens (contract in simulator_impl.h): every token
 * issued with its expiry in a bounded table, the current one, cgi-bin/stable_token's decisions
 * (normal mode, force_refresh, the minute quota) and the check every access_token API makes.
 * No HTTP; the sim's lock held throughout. */
#include "simulator_impl.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define MAX_TOKENS 10000 /* tokens kept; the oldest is dropped past this */
#define KEEP_EXPIRED_MS                                                                            \
    (3600 * 1000ULL) /* an expired token answers 42001 this long, then 40001                       \
                      */

struct sim_token {
    hnode node;
    char text[TOKEN_LEN + 1];
    uint64_t expires_ms; /* monotonic */
    sim_token *next;     /* issue order */
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static int str_equal(const char *a, const char *b)
{
    size_t al = a != NULL ? strlen(a) : 0, bl = strlen(b);
    return a != NULL && al == bl && CRYPTO_memcmp(a, b, al) == 0;
}

/* Drops the oldest token. */
static void drop_oldest(sim *s)
{
    sim_token *t = s->token_head;
    s->token_head = t->next;
    if (s->token_head == NULL)
        s->token_tail = NULL;
    if (s->token_current == t)
        s->token_current = NULL;
    sim__table_remove(&s->tokens, &t->node);
    free(t);
}

/* Drops the oldest tokens while they expired over KEEP_EXPIRED_MS ago or the table is full. */
static void purge(sim *s, uint64_t now)
{
    while (s->token_head != NULL &&
           (s->tokens.count >= MAX_TOKENS || now >= s->token_head->expires_ms + KEEP_EXPIRED_MS))
        drop_oldest(s);
}

/* A new token, the current one from now on, living the configured lifetime. 0 or -1. */
static int token_new(sim *s, uint64_t now)
{
    sim_token *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    purge(s, now);
    do {
        if (sim__random_text(t->text, TOKEN_LEN) < 0) {
            free(t);
            return -1;
        }
        t->node.hash = sim__hash(s->seed, t->text, TOKEN_LEN);
    } while (sim__table_find(&s->tokens, t->node.hash, t->text, TOKEN_LEN) != NULL);
    t->node.key = t->text;
    t->node.keylen = TOKEN_LEN;
    t->expires_ms = now + (uint64_t)s->api.token_lifetime_s * 1000;
    if (sim__table_insert(&s->tokens, &t->node) < 0) {
        free(t);
        return -1;
    }
    if (s->token_tail != NULL)
        s->token_tail->next = t;
    else
        s->token_head = t;
    s->token_tail = t;
    s->token_current = t;
    s->api_stats.tokens_issued++;
    return 0;
}

/* Forgets every token: each answers 40001 from now on. */
static void forget_tokens(sim *s)
{
    sim__table_clear(&s->tokens);
    s->token_head = s->token_tail = s->token_current = NULL;
}

void sim__tokens_forget(sim *s)
{
    forget_tokens(s);
    s->token_minute = 0;
    s->token_minute_count = 0;
}

int sim__token_invalidate(sim *s)
{
    forget_tokens(s);
    s->api_stats.token_invalidations++;
    return token_new(s, now_ms());
}

/* WeChat's checks before a token is answered: 0, or the errcode and *errmsg. Counts the fetch
 * in the minute's quota when it passes. */
static int fetch_check(sim *s, const sim_token_params *tp, const char **errmsg)
{
    *errmsg = "invalid appid";
    if (!str_equal(tp->appid, s->app_id))
        return 40013;
    *errmsg = "invalid appsecret";
    if (!str_equal(tp->secret, s->app_secret))
        return 40125;
    *errmsg = "invalid grant_type";
    if (!str_equal(tp->grant_type, "client_credential"))
        return 40002;
    long long minute = (long long)time(NULL) / 60;
    if (s->token_minute != minute) {
        s->token_minute = minute;
        s->token_minute_count = 0;
    }
    *errmsg = "reach max api daily quota limit";
    if (s->token_minute_count >= s->api.token_quota_per_minute)
        return 45009;
    s->token_minute_count++;
    return 0;
}

int sim__token_fetch(sim *s, const sim_token_params *tp, char token_out[TOKEN_LEN + 1],
                     long long *expires_in, const char **errmsg)
{
    int errcode = fetch_check(s, tp, errmsg);
    uint64_t now = now_ms();
    if (errcode != 0)
        goto out;
    if (tp->force_refresh)
        forget_tokens(s);
    sim_token *t = s->token_current; /* NULL after a force_refresh */
    uint64_t renew_ms = (uint64_t)s->api.token_renew_s * 1000;
    *errmsg = "system error";
    errcode = -1;
    if ((t == NULL || t->expires_ms <= now + renew_ms) && token_new(s, now) < 0)
        goto out;
    t = s->token_current;
    memcpy(token_out, t->text, TOKEN_LEN + 1);
    *expires_in = (long long)((t->expires_ms - now) / 1000);
    s->api_stats.token_fetches++;
    if (tp->force_refresh)
        s->api_stats.force_refreshes++;
    *errmsg = "ok";
    errcode = 0;
out:
    return errcode;
}

int sim__token_check(sim *s, const char *token, const char **errmsg)
{
    size_t len = token != NULL ? strlen(token) : 0;
    *errmsg = "access_token missing";
    if (len == 0)
        return 41001;
    sim_token *t = NULL;
    if (len == TOKEN_LEN)
        t = (sim_token *)sim__table_find(&s->tokens, sim__hash(s->seed, token, len), token, len);
    *errmsg = "invalid credential, access_token is invalid or not latest";
    if (t == NULL)
        return 40001;
    *errmsg = "access_token expired";
    if (now_ms() >= t->expires_ms)
        return 42001;
    *errmsg = "ok";
    return 0;
}
