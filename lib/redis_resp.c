/* redis_resp.c: RESP encoding of Redis commands (lib/redis_resp.h). */
#include "redis_resp.h"

size_t wxs__resp_u64(char *out, unsigned long long v)
{
    char t[20];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    return n;
}

/* "<type><n>\r\n": an array's or a bulk string's header. */
static int add_len(wxs__buf *b, char type, size_t n)
{
    char line[24];
    size_t k = 0;
    line[k++] = type;
    k += wxs__resp_u64(line + k, n);
    line[k++] = '\r';
    line[k++] = '\n';
    return wxs__buf_add(b, line, k);
}

int wxs__resp_encode(wxs__buf *b, int argc, const wxs__resp_arg *argv)
{
    int rc = add_len(b, '*', (size_t)argc);
    for (int i = 0; i < argc && rc == 0; i++) {
        rc = add_len(b, '$', argv[i].alen + argv[i].blen);
        if (rc == 0)
            rc = wxs__buf_add(b, argv[i].a, argv[i].alen);
        if (rc == 0 && argv[i].blen > 0)
            rc = wxs__buf_add(b, argv[i].b, argv[i].blen);
        if (rc == 0)
            rc = wxs__buf_add(b, "\r\n", 2);
    }
    return rc;
}
