/* redis_addr.c: the host:port list parser of lib/redis_addr.h (redis.sentinels,
 * redis.cluster). */
#include "redis_addr.h"

#include <stdio.h>
#include <string.h>

static int reason(char *why, size_t whylen, const char *text)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "%s", text);
    return -1;
}

int wxs__redis_port_parse(const char *s, size_t n)
{
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* One "host:port" or "[v6]:port" entry s[0..n) (spaces trimmed) into *out (NULL: check only).
 * 0 or -1 with a reason. */
static int parse_entry(const char *s, size_t n, wxs__redis_addr *out, char *why, size_t whylen)
{
    const char *host = s, *colon;
    size_t host_len;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close + 1 >= s + n || close[1] != ':')
            return reason(why, whylen, "an IPv6 entry must be [address]:port");
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        if (colon == NULL)
            return reason(why, whylen, "each entry must be host:port");
        host_len = (size_t)(colon - s);
        if (memchr(s, ':', host_len) != NULL)
            return reason(why, whylen, "write an IPv6 address in brackets: [address]:port");
    }
    if (host_len == 0)
        return reason(why, whylen, "an entry has an empty host");
    if (host_len > WXS__REDIS_HOST_MAX)
        return reason(why, whylen, "a host is longer than 255 bytes");
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= 0x20 || c == 0x7f || c == ',' || c == '[' || c == ']')
            return reason(why, whylen, "a host holds a space, a control character or a bracket");
    }
    int port = wxs__redis_port_parse(colon + 1, (size_t)(s + n - colon - 1));
    if (port < 0)
        return reason(why, whylen, "a port must be 1..65535");
    if (out != NULL) {
        memcpy(out->host, host, host_len);
        out->host[host_len] = '\0';
        out->port = port;
    }
    return 0;
}

int wxs__redis_addr_list_parse(const char *list, wxs__redis_addr *out, size_t cap, size_t *n,
                               char *why, size_t whylen)
{
    size_t count = 0;
    int rc = 0;
    const char *p = list != NULL ? list : "";
    while (*p == ' ')
        p++;
    if (*p == '\0')
        goto out;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && p[0] == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0) {
            rc = reason(why, whylen, "an entry is empty");
            goto out;
        }
        if (count == WXS__REDIS_ADDR_LIST_MAX || (out != NULL && count == cap)) {
            rc = reason(why, whylen, "more than 16 entries");
            goto out;
        }
        rc = parse_entry(p, len, out != NULL ? &out[count] : NULL, why, whylen);
        if (rc < 0)
            goto out;
        count++;
        if (end == NULL)
            break;
        p = end + 1;
    }
out:
    if (n != NULL)
        *n = rc == 0 ? count : 0;
    return rc;
}
