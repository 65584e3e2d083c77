/* redis_resp.h: Redis commands encoded as RESP (pure, no I/O): what redisFormatCommand builds,
 * without its printf-style parse, which was a third of the code-only path's instructions. */
#ifndef WXS_REDIS_RESP_H
#define WXS_REDIS_RESP_H

#include "internal.h"

#include <string.h>

/** One command argument: the bytes of a, then those of b (a prefixed key needs no copy). */
typedef struct wxs__resp_arg {
    const char *a;
    size_t alen;
    const char *b;
    size_t blen;
} wxs__resp_arg;

#define RSTR(s) ((wxs__resp_arg){(s), strlen(s), NULL, 0})
#define RBYTES(p, n) ((wxs__resp_arg){(p), (n), NULL, 0})

/** Append argv (argc arguments) to b as one RESP array of bulk strings. 0, or WXS_ENOMEM /
 *  WXS_ETOOBIG from b (b then holds part of the command). */
int wxs__resp_encode(wxs__buf *b, int argc, const wxs__resp_arg *argv);

/** The decimal digits of v into out (room for 20 bytes, no NUL); returns their count. */
size_t wxs__resp_u64(char *out, unsigned long long v);

#endif /* WXS_REDIS_RESP_H */
