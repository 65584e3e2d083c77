/* page.c: One Stroke's list answer within a byte budget (see page.h). Pure. */
#include "page.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char head[] = "{\"code\":0,\"msg\":\"success\",\"data\":[";
static const char tail_null[] = "],\"next\":null}";
/* The longest tail: `],"next":"<cursor>"}` with the longest cursor. */
#define TAIL_MAX (sizeof "],\"next\":\"\"}" - 1 + OS_CURSOR_MAX - 1)

size_t os_json_escaped_len(const char *s, size_t n)
{
    size_t len = n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            len += 1;
        else if (c < 0x20)
            len += 5;
    }
    return len;
}

/* Append n bytes unless counting only. */
static int put(os_page *pg, const char *s, size_t n)
{
    int rc = pg->count_only ? 0 : wxs__buf_add(&pg->body, s, n);
    if (rc == 0)
        pg->len += n;
    return rc;
}

int os_page_init(os_page *pg, size_t budget, int count_only)
{
    memset(pg, 0, sizeof *pg);
    wxs__buf_init(&pg->body, SIZE_MAX / 2);
    pg->budget = budget;
    pg->count_only = count_only;
    return put(pg, head, sizeof head - 1);
}

/* The drawing's JSON is `,{"id":"<id>","actions":"` + escaped actions + `","createdAt":<ms>,
 * "updatedAt":<ms>}` (no comma before the first). The fixed parts are formatted first so that
 * the whole size is known before anything is appended. */
int os_page_add(os_page *pg, const os_paint *p)
{
    char open[OS_PAINT_ID_MAX + 32], close[80];
    int olen = snprintf(open, sizeof open, "%s{\"id\":\"%.*s\",\"actions\":\"", pg->n ? "," : "",
                        OS_PAINT_ID_MAX, p->id);
    int clen = snprintf(close, sizeof close, "\",\"createdAt\":%lld,\"updatedAt\":%lld}",
                        (long long)p->created_at_ms, (long long)p->updated_at_ms);
    if (olen < 0 || clen < 0 || (size_t)olen >= sizeof open || (size_t)clen >= sizeof close)
        return WXS_EINVAL; /* cannot happen: an id is at most 64 bytes, times are int64 */
    size_t esc = os_json_escaped_len(p->actions, p->actions_len);
    size_t item = (size_t)olen + esc + (size_t)clen;
    if (esc > SIZE_MAX / 4 || item > SIZE_MAX / 2 - pg->len - TAIL_MAX)
        return WXS_ETOOBIG;
    if (pg->n > 0 && pg->len + item + TAIL_MAX > pg->budget)
        return OS_PAGE_FULL;
    int rc = put(pg, open, (size_t)olen);
    if (rc == 0 && !pg->count_only)
        rc = wxs__buf_add_json_escaped(&pg->body, p->actions, p->actions_len);
    if (rc == 0) {
        pg->len += esc;
        rc = put(pg, close, (size_t)clen);
    }
    if (rc < 0)
        return rc;
    pg->n++;
    os_cursor_encode(p, pg->next);
    return 0;
}

int os_page_finish(os_page *pg, int more)
{
    char tail[TAIL_MAX + 1];
    int rc;
    pg->more = more && pg->n > 0;
    if (pg->more) {
        int n = snprintf(tail, sizeof tail, "],\"next\":\"%s\"}", pg->next);
        rc = put(pg, tail, (size_t)n);
    } else {
        rc = put(pg, tail_null, sizeof tail_null - 1);
    }
    pg->finished = rc == 0;
    return rc;
}

void os_page_free(os_page *pg)
{
    wxs__buf_free(&pg->body);
    pg->len = 0;
    pg->n = 0;
    pg->finished = 0;
}
