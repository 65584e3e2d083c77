/* list.h: the one intrusive doubly linked list of the library and the programs: a circular list
 * with a sentinel head, the links embedded in the listed struct (as libuv's queue and the Linux
 * kernel's list do). Nothing allocates; every operation is O(1). */
#ifndef WXS_LIST_H
#define WXS_LIST_H

#include <stddef.h>

typedef struct wxs__list {
    struct wxs__list *next;
    struct wxs__list *prev;
} wxs__list;

/** The struct of type `type` whose member `member` is at `ptr` (any embedded member: a list
 *  link, a deferred call). */
#define WXS__CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/** The struct of type `type` whose member `member` is the link at `ptr`. */
#define wxs__list_entry(ptr, type, member) WXS__CONTAINER_OF(ptr, type, member)

/** Iterate the links of head; safe against unlinking the current link (it reads next first). */
#define wxs__list_each(pos, tmp, head)                                                             \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

/** An empty list (a head), or a link that is in no list. */
static inline void wxs__list_init(wxs__list *l)
{
    l->next = l;
    l->prev = l;
}

static inline int wxs__list_empty(const wxs__list *head)
{
    return head->next == head;
}

/** Append link at the tail of head. link must be in no list. */
static inline void wxs__list_push(wxs__list *head, wxs__list *link)
{
    link->prev = head->prev;
    link->next = head;
    head->prev->next = link;
    head->prev = link;
}

/** Unlink link from whatever list holds it and leave it as an empty, unlinked link; a link
 *  already unlinked (or only initialised) stays as it is. */
static inline void wxs__list_remove(wxs__list *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    wxs__list_init(link);
}

/** The first link of head, unlinked, or NULL when head is empty. */
static inline wxs__list *wxs__list_shift(wxs__list *head)
{
    if (wxs__list_empty(head))
        return NULL;
    wxs__list *first = head->next;
    wxs__list_remove(first);
    return first;
}

#endif /* WXS_LIST_H */
