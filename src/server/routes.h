/* routes.h: wxsessiond's request routing: health, the WeChat simulator (when on) and the
 * application's routes under routeBasePath, each behind the session layer. */
#ifndef WXS_ROUTES_H
#define WXS_ROUTES_H

#include "http.h"
#include "limiter.h"
#include "onestroke.h"
#include "simulator.h"
#include "wxsession.h"

/* The routes, as the metrics count requests (route_names: their labels). */
enum route_id {
    ROUTE_OTHER = 0, /* no route: 404, the redirect to the page, the HTTP layer's own answers */
    ROUTE_LIVEZ,
    ROUTE_READYZ, /* and /healthz */
    ROUTE_SIMULATOR,
    ROUTE_PAGE, /* the embedded web page's files */
    ROUTE_SESSION,
    ROUTE_PAINTS_LIST,
    ROUTE_PAINTS_SAVE,
    ROUTE_PAINTS_DELETE,
    ROUTE_LOGIN, /* the token protocol */
    ROUTE_ME,
    ROUTE_LOGOUT,
    ROUTE_DECRYPT,
    ROUTE_PHONE,   /* POST /phone (phone_route.c) */
    ROUTE_GATEWAY, /* gateway.authPath: nginx auth_request (gateway.c) */
    ROUTE_COUNT
};
extern const char *const route_names[ROUTE_COUNT];

/* One per worker: everything a request handler needs on that worker's loop. */
typedef struct app {
    uv_loop_t *loop;
    const wxs_config *cfg;
    wxs_ctx *ctx;         /* NULL in --simulator-only mode */
    onestroke *onestroke; /* the One Stroke app on this loop; NULL when ctx is */
    sim *sim;             /* shared by all workers; NULL when the simulator is off */
    const char *route_base;
    size_t route_base_len;
    const char *gateway_path; /* gateway.authPath; "" or NULL: no gateway endpoint */
    size_t gateway_path_len;
    limiter *limiter;    /* logins per client address, shared by all workers; NULL: no limit */
    int trust_forwarded; /* the client address is X-Forwarded-For's last entry */
    int log_access;      /* an access line per answer (app_observe) */
    int log_audit;       /* an audit line per login */
    http_server *server; /* this worker's, for the metrics */
    /* answers by route and status class (index 1..5), counted on the worker's loop
     * (util/counter.h), read by the metrics */
    uint64_t requests[ROUTE_COUNT][6];
    /* readiness, for /readyz on any worker: this worker's store readiness as its own loop last
     * saw it (published after every loop iteration), and the next worker's app in a ring */
    _Atomic int store_ready;
    struct app *next_worker;
    int worker_index; /* 0.. in start order */
    uv_check_t publish_ready;
} app;

typedef struct route_call route_call;
typedef void (*route_fn)(route_call *call, const wxs_auth_result *auth);

/* A request on its way through the session layer to its route. */
struct route_call {
    app *app;
    http_req *req;
    route_fn route;
};

/* Static web assets embedded at build time (generated web_assets.c). */
typedef struct web_asset {
    const char *path; /* below routeBasePath, e.g. "/index.html", "/client/wxsession.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} web_asset;
extern const web_asset web_assets[];
extern const size_t web_assets_count;

/** The http_handler_fn of wxsessiond (app is an `app *`). */
void app_handle(void *app, http_req *req);
/** A login costs a token of the client address's bucket (limiter.h): 1 when taken (or there is
 *  no limiter), else 0 after answering 429 (or 503 when the client's address is gone). */
int routes_take_login(app *a, http_req *req);

/** Its http_observer_fn: counts the answer and writes the access line (log_access). */
void app_observe(void *app, http_req *req, int status, size_t len);

/** Before a's worker thread runs (a->loop, a->ctx set): publish a's store readiness after every
 *  iteration of its loop (an unreferenced uv_check_t: it keeps no loop alive, and is closed with
 *  the loop's other handles), and join a ring of workers whose /readyz reports every worker's
 *  store: index numbers a's worker (0.. in start order), next is the next worker's app (a
 *  itself for one worker). Returns 0 or a negative libuv error code. */
int app_start_readiness(app *a, int index, app *next);

#endif /* WXS_ROUTES_H */
