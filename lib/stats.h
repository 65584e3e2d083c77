/* stats.h: counting into a context's wxs_stats (wxsession.h) from its loop thread, with the
 * counters of util/counter.h; wxs_ctx_stats_add reads them from any thread. */
#ifndef WXS_STATS_H
#define WXS_STATS_H

#include "counter.h"
#include "wxsession.h"

#include <uv.h>

/** Record one observation of us microseconds into h. */
void wxs__observe(wxs_histogram *h, uint64_t us);

/** The time now for a latency, in nanoseconds (uv_hrtime: the monotonic clock, no syscall). */
static inline uint64_t wxs__now_ns(void)
{
    return uv_hrtime();
}

/** Record the time since start_ns (wxs__now_ns) into h. */
static inline void wxs__observe_since(wxs_histogram *h, uint64_t start_ns)
{
    wxs__observe(h, (wxs__now_ns() - start_ns) / 1000);
}

#endif /* WXS_STATS_H */
