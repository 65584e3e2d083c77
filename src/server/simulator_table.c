/* simulator_table.c: what the simulator's state files share (contract in simulator_impl.h): a
 * chained hash table of nodes embedded in their entries, a seeded hash, and the random texts
 * (codes, tokens) that key them. Calls nothing of the simulator's. */
#include "simulator_impl.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

uint64_t sim__hash(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a, seeded */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

hnode *sim__table_find(const table *t, uint64_t hash, const char *key, size_t len)
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

int sim__table_insert(table *t, hnode *n)
{
    if (t->count >= t->nbuckets && table_grow(t) < 0)
        return -1;
    hnode **head = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->next = *head;
    *head = n;
    t->count++;
    return 0;
}

void sim__table_remove(table *t, hnode *n)
{
    if (t->nbuckets == 0)
        return;
    hnode **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
    while (*pp != NULL && *pp != n)
        pp = &(*pp)->next;
    if (*pp == n) {
        *pp = n->next;
        t->count--;
    }
}

void sim__table_drop(table *t)
{
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

void sim__table_clear(table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        hnode *n = t->buckets[i];
        while (n != NULL) {
            hnode *next = n->next;
            free(n);
            n = next;
        }
    }
    sim__table_drop(t);
}

int sim__random_text(char *out, size_t n)
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
