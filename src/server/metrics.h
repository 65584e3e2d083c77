/* metrics.h: GET /metrics in the Prometheus text format (version 0.0.4), on a listener of its
 * own (metrics.listen:metrics.port) on the main thread's loop, so it never shares the public
 * port: every worker's counters (the HTTP layer's, the routes', the session layer's), summed
 * when scraped. The families are listed in docs/operations.md. */
#ifndef WXS_METRICS_H
#define WXS_METRICS_H

#include "internal_api.h"
#include "routes.h"
#include "util.h"

typedef struct metrics metrics;

/** Listen on host:port (port 0: a free one) on loop and serve the counters of apps[0..n) (the
 *  workers'; each with its server set, and its ctx unless --simulator-only); store names the
 *  session store ("sqlite", "redis"; NULL: none); api serves its routes beside /metrics (NULL:
 *  none) and must live as long. apps must live until metrics_stop() is
 *  called. Returns 0 or a negative libuv error code. */
int metrics_start(metrics **out, uv_loop_t *loop, const char *host, int port, app *const *apps,
                  int n, const char *store, internal_api *api);
/** The port bound. */
int metrics_port(const metrics *m);
/** Stop listening and free m once its connections are closed; from then on apps are not read.
 *  NULL is a no-op. */
void metrics_stop(metrics *m);

/** The exposition text of apps[0..n) into b (for the listener and the tests). Returns 0 or a
 *  negative WXS_E* code (b's max reached, no memory). */
int metrics_render(wxs__buf *b, app *const *apps, int n, const char *store);

#endif /* WXS_METRICS_H */
