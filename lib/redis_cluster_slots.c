/* redis_cluster_slots.c: the Redis Cluster client's pure pieces (lib/redis_cluster.h): key
 * slots, CLUSTER SLOTS parsing and the redirection state machine; no I/O. */
#include "redis_cluster.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

uint16_t wxs__cluster_crc16(const char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((unsigned char)p[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned wxs__cluster_key_slot(const char *key, size_t n)
{
    const char *open = memchr(key, '{', n);
    const char *close = NULL;
    if (open != NULL)
        close = memchr(open + 1, '}', n - (size_t)(open + 1 - key));
    if (close != NULL && close > open + 1)
        return wxs__cluster_crc16(open + 1, (size_t)(close - open - 1)) & (WXS__CLUSTER_SLOTS - 1);
    return wxs__cluster_crc16(key, n) & (WXS__CLUSTER_SLOTS - 1);
}

/* The address of a redirection, "host:port" or "[v6]:port" in s[0..n), into out: the port
 * after the last ':', so a bare IPv6 address (as Redis writes it) parses; the host may be empty
 * (the node that answered). */
static int parse_addr(const char *s, size_t n, wxs__redis_addr *out)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL)
        return -1;
    size_t hlen = (size_t)(colon - s);
    const char *host = s;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    int port = wxs__redis_port_parse(colon + 1, (size_t)(s + n - colon - 1));
    if (port < 0 || hlen > WXS__REDIS_HOST_MAX)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= 0x20 || host[i] == 0x7f || host[i] == ',')
            return -1;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = port;
    return 0;
}

int wxs__cluster_map_node(wxs__cluster_map *m, const char *host, int port)
{
    size_t hlen = strlen(host);
    for (size_t i = 0; i < m->nprimaries; i++)
        if (m->primaries[i].port == port && strcmp(m->primaries[i].host, host) == 0)
            return (int)i;
    if (m->nprimaries == WXS__CLUSTER_MAX_PRIMARIES || hlen > WXS__REDIS_HOST_MAX)
        return -1;
    memcpy(m->primaries[m->nprimaries].host, host, hlen + 1);
    m->primaries[m->nprimaries].port = port;
    return (int)m->nprimaries++;
}

/* The primary of one CLUSTER SLOTS entry: [host, port, ...]. */
static int entry_primary(wxs__cluster_map *m, const redisReply *node, const char *asked_host)
{
    if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 ||
        node->element[0]->type != REDIS_REPLY_STRING ||
        node->element[1]->type != REDIS_REPLY_INTEGER || node->element[1]->integer < 1 ||
        node->element[1]->integer > 65535 || node->element[0]->len > WXS__REDIS_HOST_MAX)
        return -1;
    char host[WXS__REDIS_HOST_MAX + 1];
    const redisReply *h = node->element[0];
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    if (h->len == 0 || strcmp(host, "?") == 0)
        snprintf(host, sizeof host, "%s", asked_host);
    if (host[0] == '\0' || memchr(h->str, '\0', h->len) != NULL)
        return -1;
    return wxs__cluster_map_node(m, host, (int)node->element[1]->integer);
}

int wxs__cluster_map_parse(wxs__cluster_map *m, const redisReply *r, const char *asked_host)
{
    memset(m, 0, sizeof *m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        long long first = e->element[0]->integer, last = e->element[1]->integer;
        int idx = entry_primary(m, e->element[2], asked_host);
        if (idx < 0 || first < 0 || last < first || last >= WXS__CLUSTER_SLOTS)
            return -1;
        memset(m->owner + first, idx + 1, (size_t)(last - first + 1));
    }
    return 0;
}

static int error_is(const redisReply *r, const char *name)
{
    size_t n = strlen(name);
    return r->len >= n && memcmp(r->str, name, n) == 0 && (r->len == n || r->str[n] == ' ');
}

/* "<slot> <host>:<port>" after MOVED or ASK. */
static int parse_redirect(const char *s, size_t n, wxs__cluster_redirect *to)
{
    size_t i = 0;
    unsigned slot = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && slot < WXS__CLUSTER_SLOTS)
        slot = slot * 10 + (unsigned)(s[i++] - '0');
    if (i == 0 || i == n || s[i] != ' ' || slot >= WXS__CLUSTER_SLOTS)
        return -1;
    to->slot = slot;
    return parse_addr(s + i + 1, n - i - 1, &to->to);
}

wxs__cluster_action wxs__cluster_next(wxs__cluster_attempt *a, const redisReply *r, uint64_t now_ms,
                                      wxs__cluster_redirect *to)
{
    if (r == NULL)
        return WXS__CLUSTER_FAIL;
    if (r->type != REDIS_REPLY_ERROR)
        return WXS__CLUSTER_DONE;
    int moved = error_is(r, "MOVED"), ask = error_is(r, "ASK");
    if (moved || ask) {
        size_t skip = moved ? 6 : 4;
        if (a->redirects >= WXS__CLUSTER_MAX_REDIRECTS || r->len <= skip ||
            parse_redirect(r->str + skip, r->len - skip, to) < 0)
            return WXS__CLUSTER_FAIL;
        a->redirects++;
        return moved ? WXS__CLUSTER_MOVED : WXS__CLUSTER_ASK;
    }
    if (error_is(r, "TRYAGAIN") || error_is(r, "CLUSTERDOWN"))
        return now_ms + WXS__CLUSTER_RETRY_MS < a->deadline_ms ? WXS__CLUSTER_RETRY
                                                               : WXS__CLUSTER_FAIL;
    return WXS__CLUSTER_DONE;
}
