/* internal_api.h: the internal listener's routes beside /metrics (internal_api.c): the app's
 * access_token for other services (docs/operations.md "access_token"). */
#ifndef WXS_INTERNAL_API_H
#define WXS_INTERNAL_API_H

#include "http.h"
#include "wxsession.h"

typedef struct internal_api internal_api;

/** Routes served with a session context of their own on loop (the main thread's), behind the
 *  shared secret (copied). cfg must outlive it. 0, or a negative WXS_E* with err set. */
int internal_api_new(internal_api **out, uv_loop_t *loop, const wxs_config *cfg, const char *secret,
                     char *err, size_t errlen);
/** Serve req when its path is one of these routes (GET /access-token, POST
 *  /access-token/invalid): 1 (answered now or later). 0, untouched, for other paths or a NULL
 *  api. */
int internal_api_handle(internal_api *api, http_req *req);
/** Close the context; in-flight requests are answered (503). NULL is a no-op. */
void internal_api_free(internal_api *api);

#endif /* WXS_INTERNAL_API_H */
