/* alloc.c: the replaceable allocator, bounded buffers and the error table. */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wxs_malloc_fn alloc_malloc = malloc;
static wxs_realloc_fn alloc_realloc = realloc;
static wxs_calloc_fn alloc_calloc = calloc;
static wxs_free_fn alloc_free = free;

int wxs_replace_allocator(wxs_malloc_fn m, wxs_realloc_fn r, wxs_calloc_fn c, wxs_free_fn f)
{
    if (m == NULL || r == NULL || c == NULL || f == NULL)
        return WXS_EINVAL;
    alloc_malloc = m;
    alloc_realloc = r;
    alloc_calloc = c;
    alloc_free = f;
    return 0;
}

void *wxs__malloc(size_t size)
{
    return alloc_malloc(size);
}

void *wxs__realloc(void *ptr, size_t size)
{
    return alloc_realloc(ptr, size);
}

void *wxs__calloc(size_t count, size_t size)
{
    return alloc_calloc(count, size);
}

void wxs__free(void *ptr)
{
    if (ptr != NULL)
        alloc_free(ptr);
}

char *wxs__strndup(const char *s, size_t len)
{
    char *p = wxs__malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *wxs__strdup(const char *s)
{
    return wxs__strndup(s, strlen(s));
}

/* ---- errors */

const char *wxs_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define WXS__ERR_MSG(name, value, msg)                                                             \
    case value:                                                                                    \
        return msg;
        WXS_ERRNO_MAP(WXS__ERR_MSG)
#undef WXS__ERR_MSG
    }
    return "unknown error";
}

const char *wxs_err_name(int err)
{
    switch (err) {
    case 0:
        return "WXS_OK";
#define WXS__ERR_NAME(name, value, msg)                                                            \
    case value:                                                                                    \
        return "WXS_E" #name;
        WXS_ERRNO_MAP(WXS__ERR_NAME)
#undef WXS__ERR_NAME
    }
    return "WXS_EUNKNOWN";
}

/* ---- bounded buffer */

void wxs__buf_init(wxs__buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(wxs__buf *b, size_t n)
{
    if (n > b->max - b->len || b->len + n + 1 < n)
        return WXS_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = wxs__realloc(b->data, cap);
    if (p == NULL)
        return WXS_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int wxs__buf_add(wxs__buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int wxs__buf_adds(wxs__buf *b, const char *s)
{
    return wxs__buf_add(b, s, strlen(s));
}

int wxs__buf_printf(wxs__buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WXS_EINVAL;
    if ((size_t)n < sizeof small)
        return wxs__buf_add(b, small, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int wxs__buf_add_json_escaped(wxs__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        int rc = wxs__buf_add(b, s + start, i - start);
        if (rc < 0)
            return rc;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        /* clang-format off */
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        /* clang-format on */
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        rc = wxs__buf_add(b, esc, elen);
        if (rc < 0)
            return rc;
        start = i + 1;
    }
    return wxs__buf_add(b, s + start, n - start);
}

void wxs__buf_reset(wxs__buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void wxs__buf_free(wxs__buf *b)
{
    wxs__free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *wxs__buf_take(wxs__buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    if (p == NULL)
        p = wxs__strndup("", 0);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
