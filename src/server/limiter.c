/* limiter.c: the login limiter of limiter.h: token buckets in a fixed-size hash table with a
 * least-recently-used list, behind one mutex. */
#include "limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define NIL UINT32_MAX
#define NS_PER_MINUTE 60e9

typedef struct entry {
    unsigned char key[LIMITER_KEY_BYTES];
    double tokens;
    uint64_t stamp_ns; /* when tokens was last brought up to date */
    uint32_t chain;    /* next entry in the same hash slot */
    uint32_t newer;    /* LRU neighbours */
    uint32_t older;
} entry;

struct limiter {
    pthread_mutex_t mu;
    double tokens_per_ns;
    double burst;
    uint64_t seed; /* keys the hash: a client cannot aim its addresses at one slot */
    uint32_t cap, used;
    uint32_t mask;  /* slots - 1 (slots: a power of two >= cap) */
    uint32_t *slot; /* first entry of each hash chain */
    entry *e;
    uint32_t newest, oldest;
};

limiter *limiter_new(double per_minute, double burst, uint32_t max_entries)
{
    limiter *l = NULL;
    if (!(per_minute >= 1) || !(burst >= 1) || max_entries == 0 || max_entries > (1u << 30))
        goto out;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        goto out;
    uint32_t slots = 1;
    while (slots < max_entries)
        slots <<= 1;
    l->slot = malloc((size_t)slots * sizeof *l->slot);
    l->e = calloc(max_entries, sizeof *l->e);
    if (l->slot == NULL || l->e == NULL || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->slot);
        free(l->e);
        free(l);
        l = NULL;
        goto out;
    }
    memset(l->slot, 0xff, (size_t)slots * sizeof *l->slot); /* every slot NIL */
    l->mask = slots - 1;
    l->cap = max_entries;
    l->tokens_per_ns = per_minute / NS_PER_MINUTE;
    l->burst = burst;
    l->newest = l->oldest = NIL;
    if (uv_random(NULL, NULL, &l->seed, sizeof l->seed, 0, NULL) != 0)
        l->seed = uv_hrtime() ^ (uint64_t)(uintptr_t)l;
out:
    return l;
}

void limiter_free(limiter *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slot);
    free(l->e);
    free(l);
}

static uint32_t hash_key(const limiter *l, const unsigned char *key)
{
    uint64_t h = l->seed;
    for (int i = 0; i < LIMITER_KEY_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h ^= w;
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (uint32_t)h & l->mask;
}

static void lru_unlink(limiter *l, uint32_t i)
{
    entry *x = &l->e[i];
    if (x->newer != NIL)
        l->e[x->newer].older = x->older;
    else
        l->newest = x->older;
    if (x->older != NIL)
        l->e[x->older].newer = x->newer;
    else
        l->oldest = x->newer;
}

static void lru_push_newest(limiter *l, uint32_t i)
{
    entry *x = &l->e[i];
    x->newer = NIL;
    x->older = l->newest;
    if (l->newest != NIL)
        l->e[l->newest].newer = i;
    l->newest = i;
    if (l->oldest == NIL)
        l->oldest = i;
}

/* Remove entry i from its hash chain. */
static void chain_unlink(limiter *l, uint32_t i)
{
    uint32_t *p = &l->slot[hash_key(l, l->e[i].key)];
    while (*p != i)
        p = &l->e[*p].chain;
    *p = l->e[i].chain;
}

/* The entry for key, made the newest; a new one (full bucket) when absent, taking the oldest's
 * place when the table is full. Called with the lock held. */
static entry *find_or_add(limiter *l, const unsigned char *key, uint64_t now_ns)
{
    uint32_t h = hash_key(l, key);
    uint32_t i = l->slot[h];
    while (i != NIL && memcmp(l->e[i].key, key, LIMITER_KEY_BYTES) != 0)
        i = l->e[i].chain;
    if (i != NIL) {
        lru_unlink(l, i);
    } else {
        if (l->used < l->cap) {
            i = l->used++;
        } else {
            i = l->oldest;
            lru_unlink(l, i);
            chain_unlink(l, i);
        }
        entry *x = &l->e[i];
        memcpy(x->key, key, LIMITER_KEY_BYTES);
        x->tokens = l->burst;
        x->stamp_ns = now_ns;
        x->chain = l->slot[h];
        l->slot[h] = i;
    }
    lru_push_newest(l, i);
    return &l->e[i];
}

/* Whole seconds until a bucket holding tokens (< 1) holds 1: rounded up, at least 1. */
static unsigned retry_seconds(const limiter *l, double tokens)
{
    double s = (1 - tokens) / l->tokens_per_ns / 1e9;
    unsigned whole = (unsigned)s;
    if (whole < s || whole == 0)
        whole++;
    return whole;
}

int limiter_take(limiter *l, const unsigned char key[LIMITER_KEY_BYTES], uint64_t now_ns,
                 unsigned *retry_after_s)
{
    int allowed;
    pthread_mutex_lock(&l->mu);
    entry *x = find_or_add(l, key, now_ns);
    if (now_ns > x->stamp_ns) {
        x->tokens += (double)(now_ns - x->stamp_ns) * l->tokens_per_ns;
        if (x->tokens > l->burst)
            x->tokens = l->burst;
        x->stamp_ns = now_ns;
    }
    allowed = x->tokens >= 1;
    if (allowed)
        x->tokens -= 1;
    else if (retry_after_s != NULL)
        *retry_after_s = retry_seconds(l, x->tokens);
    pthread_mutex_unlock(&l->mu);
    return allowed;
}

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void key_from_v4(const struct in_addr *a, unsigned char key[LIMITER_KEY_BYTES])
{
    memcpy(key, v4_mapped, sizeof v4_mapped);
    memcpy(key + 12, a, 4);
}

/* An IPv4 client on a dual-stack socket keeps its whole address; IPv6 its /64. */
static void key_from_v6(const struct in6_addr *a, unsigned char key[LIMITER_KEY_BYTES])
{
    const unsigned char *b = a->s6_addr;
    memset(key, 0, LIMITER_KEY_BYTES);
    memcpy(key, b, memcmp(b, v4_mapped, sizeof v4_mapped) == 0 ? 16 : 8);
}

int limiter_key_from_sockaddr(const struct sockaddr *sa, unsigned char key[LIMITER_KEY_BYTES])
{
    int rc = 0;
    if (sa->sa_family == AF_INET)
        key_from_v4(&((const struct sockaddr_in *)sa)->sin_addr, key);
    else if (sa->sa_family == AF_INET6)
        key_from_v6(&((const struct sockaddr_in6 *)sa)->sin6_addr, key);
    else
        rc = -1;
    return rc;
}

int limiter_forwarded_text(const char *value, size_t len, char *text)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (value == NULL)
        return -1;
    size_t start = len;
    while (start > 0 && value[start - 1] != ',')
        start--;
    while (start < len && (value[start] == ' ' || value[start] == '\t'))
        start++;
    while (len > start && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len - start == 0 || len - start >= INET6_ADDRSTRLEN)
        return -1;
    memcpy(text, value + start, len - start);
    text[len - start] = '\0';
    return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1 ? 0 : -1;
}

int limiter_key_from_forwarded(const char *value, size_t len, unsigned char key[LIMITER_KEY_BYTES])
{
    char text[INET6_ADDRSTRLEN];
    struct in_addr v4;
    struct in6_addr v6;
    int rc = -1;
    if (limiter_forwarded_text(value, len, text) < 0)
        goto out;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        key_from_v4(&v4, key);
        rc = 0;
    } else if (inet_pton(AF_INET6, text, &v6) == 1) {
        key_from_v6(&v6, key);
        rc = 0;
    }
out:
    return rc;
}
