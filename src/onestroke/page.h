/* page.h: One Stroke's list answer, built drawing by drawing within a byte budget. Pure: no I/O.
 *
 * The answer is the whole HTTP body of a successful list:
 *   {"code":0,"msg":"success","data":[{"id":..,"actions":..,"createdAt":..,"updatedAt":..},...],
 *    "next":"<cursor>"|null}
 * with each drawing's actions JSON-escaped (at most twice its raw size: actions are JSON text, so
 * the only characters that need escaping are '"', '\\' and the whitespace \t \n \r, two bytes
 * each). The budget counts every byte of that answer: a drawing that would take the answer past
 * it is not added (the page is full and says where to go on with "next"), except the first,
 * which is always added whatever its size, so a page always holds at least one drawing and
 * paging always advances. The largest answer is therefore max(budget, the answer holding one
 * drawing) = max(paints.maxPageBytes, 2 x paints.maxActionsBytes + OS_PAGE_OVERHEAD).
 *
 * A page may count without storing (count_only, for HEAD): the same decisions and length, no
 * body. The drawing stores fill a page on their pool thread, so that the answer is built off the
 * loop and handed to the HTTP layer as is. */
#ifndef ONESTROKE_PAGE_H
#define ONESTROKE_PAGE_H

#include "paint.h"
#include "util.h"

#include <stddef.h>

/* The answer's bytes beyond the escaped actions of one drawing: the envelope, the drawing's id,
 * field names and times, and the "next" cursor. */
#define OS_PAGE_OVERHEAD 320

/* A page being built. Fields are read-only outside page.c. */
typedef struct os_page {
    wxs__buf body;            /* the answer so far (empty when count_only) */
    size_t len;               /* the answer's length so far (also when count_only) */
    size_t budget;            /* the most bytes the answer may take (the first drawing aside) */
    int count_only;           /* count the bytes, store none */
    size_t n;                 /* drawings added */
    int more;                 /* set by os_page_finish: drawings follow the last one */
    int finished;             /* os_page_finish succeeded */
    char next[OS_CURSOR_MAX]; /* the cursor after the last drawing added ("" before any) */
} os_page;

/** os_page_add's answer when the drawing does not fit: the page is full, the drawing was not
 *  added (never for a page's first drawing). */
#define OS_PAGE_FULL 1

/** Start an answer of at most budget bytes (the first drawing aside). count_only: compute the
 *  length, keep no body. Returns 0 or WXS_ENOMEM; free with os_page_free() either way. */
int os_page_init(os_page *pg, size_t budget, int count_only);

/** Add drawing p (id NUL-terminated, actions[0..actions_len)): 0 (added), OS_PAGE_FULL (not
 *  added: it would take the answer past the budget; never for the first drawing), WXS_ENOMEM
 *  or WXS_ETOOBIG (the answer would pass SIZE_MAX / 2). */
int os_page_add(os_page *pg, const os_paint *p);

/** Close the answer: "next" is the cursor after the last drawing when more != 0 and the page
 *  holds a drawing, else null. Returns 0 or WXS_ENOMEM. Then pg->body.data[0..pg->len) is the
 *  answer (NULL when count_only). */
int os_page_finish(os_page *pg, int more);

/** Release the page's memory; the page may be initialised again. */
void os_page_free(os_page *pg);

/** The bytes n bytes of s take once JSON-escaped as wxs__buf_add_json_escaped() writes them. */
size_t os_json_escaped_len(const char *s, size_t n);

#endif /* ONESTROKE_PAGE_H */
