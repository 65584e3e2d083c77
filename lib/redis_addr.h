/* redis_addr.h: a Redis node's address, and the one parser of the "host:port,host:port" lists
 * that name Redis nodes in the config (redis.sentinels, redis.cluster). Pure, no I/O. */
#ifndef WXS_REDIS_ADDR_H
#define WXS_REDIS_ADDR_H

#include <stddef.h>

#define WXS__REDIS_HOST_MAX 255     /* bytes of a host name or address, without the NUL */
#define WXS__REDIS_ADDR_LIST_MAX 16 /* entries of one list */

/** A Redis node's address. */
typedef struct wxs__redis_addr {
    char host[WXS__REDIS_HOST_MAX + 1];
    int port;
} wxs__redis_addr;

/** The decimal port (1..65535) in s[0..n), or -1 for anything else (a sign, a space, no
 *  digits, more than 5 digits, out of range). */
int wxs__redis_port_parse(const char *s, size_t n);

/** Parse a comma-separated "host:port" list: spaces around entries are ignored; an IPv6 address
 *  is written in brackets ("[::1]:26379"). Fills out (up to cap entries) and *n (n may be
 *  NULL). 0 (an empty or all-space list gives *n == 0: callers that need a node check *n), or
 *  -1 with a reason in why that never quotes the value (an empty entry, a missing or bad port,
 *  a bad or too long host, more than WXS__REDIS_ADDR_LIST_MAX or cap entries). out may be NULL
 *  to check only. */
int wxs__redis_addr_list_parse(const char *list, wxs__redis_addr *out, size_t cap, size_t *n,
                               char *why, size_t whylen);

#endif /* WXS_REDIS_ADDR_H */
