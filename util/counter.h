/* counter.h: counters one thread writes and any thread reads: relaxed atomic loads and stores,
 * no read-modify-write, so a count is a plain add on x86-64 and a reader elsewhere sees whole
 * values (never a torn one), without locks. For metrics. */
#ifndef WXS_COUNTER_H
#define WXS_COUNTER_H

#include <stdint.h>

/** Add n to a counter that only the calling thread writes. */
static inline void wxs__count_add(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void wxs__count(uint64_t *c)
{
    wxs__count_add(c, 1);
}

/** Read a counter written by another thread. */
static inline uint64_t wxs__count_load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif /* WXS_COUNTER_H */
