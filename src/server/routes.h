/* routes.h: wxsessiond's request routing: health, the WeChat simulator (when on) and the
 * application's routes under routeBasePath, each behind the session layer. */
#ifndef WXS_ROUTES_H
#define WXS_ROUTES_H

#include "http.h"
#include "simulator.h"
#include "wxsession.h"

/* One per worker: everything a request handler needs on that worker's loop. */
typedef struct app {
    uv_loop_t *loop;
    const wxs_config *cfg;
    wxs_ctx *ctx; /* NULL in --simulator-only mode */
    sim *sim;     /* shared by all workers; NULL when the simulator is off */
    const char *route_base;
    size_t route_base_len;
} app;

/** The http_handler_fn of wxsessiond (app is an `app *`). */
void app_handle(void *app, http_req *req);

#endif /* WXS_ROUTES_H */
