/* defer.h: deferred calls, the library's way to keep its callback rule (libuv's): a callback
 * never runs before the call that started it returns. An answer known at once (an anonymous
 * request, a store that is down, an SQLite read) is queued here and delivered right after the
 * loop's next I/O callbacks. */
#ifndef WXS_DEFER_H
#define WXS_DEFER_H

#include "list.h"

#include <stddef.h>
#include <uv.h>

typedef struct wxs__deferred wxs__deferred;
typedef void (*wxs__deferred_fn)(wxs__deferred *d);

/** One queued call. Embed it in the op that it answers (no allocation per call) and recover
 *  the op in fn with WXS__CONTAINER_OF. */
struct wxs__deferred {
    wxs__deferred *next;
    wxs__deferred_fn fn;
};

/** A queue of deferred calls on one loop. A uv_check handle runs the queue right after the
 *  loop's I/O callbacks; a uv_idle handle, started only while the queue is not empty, keeps the
 *  loop from blocking in poll with calls waiting. Embed it in its owner; both handles are active
 *  only while calls are queued, so an idle queue keeps no loop alive. */
typedef struct wxs__defer {
    uv_check_t check;
    uv_idle_t idle;
    wxs__deferred *head;
    wxs__deferred *tail;
    int closing;
    int draining; /* inside on_check: closing waits for the end of the pass */
    int open_handles;
    void (*closed)(void *arg);
    void *closed_arg;
} wxs__defer;

/** Bind q to loop. Returns 0 or WXS_EIO. */
int wxs__defer_init(wxs__defer *q, uv_loop_t *loop);

/** Queue fn(d) to run on a later pass of the loop, in queue order. d must stay alive until fn
 *  runs; fn may queue more calls (they run on a following pass). Not after
 *  wxs__defer_close(). */
void wxs__defer_call(wxs__defer *q, wxs__deferred *d, wxs__deferred_fn fn);

/** Start closing: the calls still queued run first, then the handles close and closed(arg)
 *  runs (never before this returns). Call once. */
void wxs__defer_close(wxs__defer *q, void (*closed)(void *arg), void *arg);

#endif /* WXS_DEFER_H */
