/* onestroke.h: One Stroke (一笔到底), the demo app on libwxsession: one object per worker loop
 * owning that loop's drawing store (paints.store), and the drawing API the app's routes call
 * (DESIGN.md section 3). Every call is scoped to one user's openId, the one the session layer
 * authenticated (wxs_auth_result.openid): nobody reads, overwrites or deletes another user's
 * drawing. A drawing id is 1..64 bytes of [A-Za-z0-9_-]; its actions are an opaque string of
 * valid JSON text, at most paints.maxActionsBytes.
 *
 * Callbacks follow the library's rule: a call that returns < 0 never calls its callback; one
 * that returns 0 calls it exactly once, on the loop thread, never before it returns. */
#ifndef ONESTROKE_H
#define ONESTROKE_H

#include "options.h"

#include <uv.h>
#include <wxsession.h>

typedef struct onestroke onestroke;

/** Create the app on loop: opens the drawing store named by opts->store (the sqlite store in the
 *  file named by the library's sqlite.path). opts is borrowed and must outlive the app; cfg is
 *  read during this call only (sqlite.path, limits.jsonDepth). Returns 0, or WXS_ECONFIG
 *  (unknown store, no path...), WXS_ESTORE, WXS_ENOMEM with a reason in err. */
int onestroke_new(onestroke **out, uv_loop_t *loop, const struct onestroke_options *opts,
                  const wxs_config *cfg, char *err, size_t errlen);

/** Start closing: calls in flight end with their callbacks (status WXS_ECANCELED where they
 *  cannot finish), later calls return WXS_ECANCELED; the memory goes once the last callback has
 *  run. Run the loop until it has no active requests before uv_loop_close(). NULL is a no-op. */
void onestroke_free(onestroke *os);

/** The largest page a request may ask for (paints.maxPageSize). */
unsigned onestroke_max_page_size(const onestroke *os);
/** The deepest JSON nesting accepted in a request body (limits.jsonDepth). */
int onestroke_json_depth(const onestroke *os);

/** answer: the whole success answer of a list, {"code":0,"msg":"success","data":[{"id",
 *  "actions","createdAt","updatedAt"},...],"next":"<cursor>"|null} (newest first; next: the
 *  cursor of the following page, or null on the last), len bytes, at most paints.maxPageBytes
 *  unless its one drawing alone is larger (then at most 2 x paints.maxActionsBytes + 320). Built
 *  on the thread pool; borrowed for the callback. NULL (len still the answer's length) for a
 *  count_only list, NULL with len 0 when status < 0. */
typedef void (*onestroke_list_cb)(void *arg, int status, const char *answer, size_t len);
typedef void (*onestroke_done_cb)(void *arg, int status);

/** List openid's drawings after cursor (NULL or "" = the first page): limit 0 means
 *  paints.pageSize; over paints.maxPageSize or a malformed cursor: WXS_EINVAL (no callback).
 *  A page also ends early, with a next cursor, at paints.maxPageBytes (see the callback).
 *  count_only (for HEAD): the answer's length only, no answer held. Callback statuses: 0,
 *  WXS_ESTORE (store down), WXS_ECANCELED, WXS_ENOMEM. */
int onestroke_list(onestroke *os, const char *openid, const char *cursor, unsigned limit,
                   int count_only, onestroke_list_cb cb, void *arg);

/** Save (insert or replace) openid's drawing. Checked before anything is stored, answered by
 *  the return value (no callback): WXS_EINVAL bad id, WXS_ETOOBIG actions too large, WXS_EPARSE
 *  actions not JSON (or nested past limits.jsonDepth). Callback statuses: 0, WXS_ETOOBIG (the
 *  user has paints.maxPerUser drawings), WXS_ESTORE, WXS_ECANCELED. actions are copied. */
int onestroke_save(onestroke *os, const char *openid, const char *id, const char *actions,
                   size_t actions_len, onestroke_done_cb cb, void *arg);

/** Delete openid's drawing id: WXS_EINVAL bad id (no callback); callback statuses 0,
 *  WXS_ENOTFOUND (the user has no such drawing), WXS_ESTORE, WXS_ECANCELED. */
int onestroke_delete(onestroke *os, const char *openid, const char *id, onestroke_done_cb cb,
                     void *arg);

#endif /* ONESTROKE_H */
