/* main.c: wxsessiond: one libuv loop per worker thread sharing the port through SO_REUSEPORT,
 * graceful stop on SIGTERM/SIGINT and the configuration read again on SIGHUP (settings.c). */
#include "metrics.h"
#include "notify.h"
#include "routes.h"
#include "settings.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define DEFAULT_API_BASE "https://api.weixin.qq.com"
#define RESERVED_FDS 64 /* stores, WeChat client, listeners, log: what is not a client socket */

typedef struct worker {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    uv_timer_t deadline;
    http_server *server;
    app app;
    int stopping;
} worker;

static struct {
    settings set; /* the configuration the workers run with */
    sim *sim;
    limiter *limiter; /* logins per client address, one table for every worker (limiter.h) */
    worker *workers;
    int nworkers;
    app **apps;             /* the workers' apps, for the metrics */
    metrics *metrics;       /* the /metrics listener on the main loop; NULL when off */
    internal_api *internal; /* its /access-token routes; NULL when off */
    int argc;               /* the command line, read again on SIGHUP */
    char **argv;
    uv_loop_t loop; /* the main thread's: signals only */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sighup;
} g;

/* Set one option while starting (the workers' configuration is not shared yet). */
static int set_opt(const char *name, const char *value)
{
    char err[256];
    if (wxs_config_set(g.set.cfg, name, value, err, sizeof err) < 0) {
        wxs_log(WXS_LOG_ERROR, "%s", err);
        return -1;
    }
    return 0;
}

static void setup_logging(const server_options *o)
{
    wxs_set_log_level(settings_log_level(o->log_level), strcmp(o->log_format, "json") == 0);
}

/* ---- workers */

static void worker_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void worker_server_stopped(void *arg)
{
    worker *w = arg;
    w->server = NULL;
    if (w->app.ctx != NULL) {
        wxs_ctx_free(w->app.ctx);
        w->app.ctx = NULL;
    }
    onestroke_free(w->app.onestroke);
    w->app.onestroke = NULL;
    uv_timer_stop(&w->deadline);
    uv_close((uv_handle_t *)&w->deadline, worker_handle_closed);
    uv_close((uv_handle_t *)&w->stop, worker_handle_closed);
}

/* The shutdown deadline passed with requests still in flight: cancel what the session layer
 * holds (they answer 503) so the server can finish stopping. */
static void worker_deadline(uv_timer_t *t)
{
    worker *w = t->data;
    if (w->app.ctx != NULL) {
        wxs_ctx_free(w->app.ctx);
        w->app.ctx = NULL;
    }
    onestroke_free(w->app.onestroke);
    w->app.onestroke = NULL;
}

static void worker_stop(uv_async_t *a)
{
    worker *w = a->data;
    if (w->stopping)
        return;
    w->stopping = 1;
    if (w->app.sim != NULL)
        sim_release_loop(w->app.sim, &w->loop);
    uv_timer_start(&w->deadline, worker_deadline, (uint64_t)g.set.server.shutdown_timeout_ms, 0);
    http_server_stop(w->server, worker_server_stopped, w);
}

static void worker_run(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* "cannot listen on host:port: reason", naming a port another process holds as such. */
static void log_listen_error(const char *host, int port, int rc)
{
    const char *fmt = strchr(host, ':') != NULL ? "cannot listen on [%s]:%d: %s%s"
                                                : "cannot listen on %s:%d: %s%s";
    if (rc == UV_EADDRINUSE)
        wxs_log(WXS_LOG_ERROR, fmt, host, port, "address in use",
                g.set.server.reuse_port ? " (another process holds it and does not share it)"
                                        : " (another process holds it; set reusePort to share it)");
    else
        wxs_log(WXS_LOG_ERROR, fmt, host, port, uv_strerror(rc), "");
}

static int worker_listen(worker *w, const char *host, int port)
{
    http_limits limits = {
        .header_bytes = (size_t)g.set.server.header_bytes,
        .body_bytes = (size_t)g.set.server.body_bytes,
        .max_connections = (unsigned)g.set.server.connections,
        .header_timeout_ms = (uint64_t)g.set.server.header_timeout_ms,
        .body_timeout_ms = (uint64_t)g.set.server.body_timeout_ms,
        .idle_timeout_ms = (uint64_t)g.set.server.idle_timeout_ms,
        .queued_bytes = (size_t)g.set.server.queued_bytes,
        /* answers still being written when the grace period ends are reset, never cut */
        .stop_grace_ms =
            g.set.server.shutdown_timeout_ms > 0 ? (uint64_t)g.set.server.shutdown_timeout_ms : 1,
        .request_ids = (int)g.set.server.log_access,
    };
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->stop, worker_stop);
    w->stop.data = w;
    uv_timer_init(&w->loop, &w->deadline);
    w->deadline.data = w;
    w->app.loop = &w->loop;
    w->app.cfg = g.set.cfg;
    w->app.sim = g.sim;
    w->app.route_base = g.set.server.route_base;
    w->app.route_base_len = strlen(w->app.route_base);
    w->app.gateway_path = g.set.server.gateway_path;
    w->app.gateway_path_len = strlen(w->app.gateway_path);
    w->app.log_access = (int)g.set.server.log_access;
    w->app.log_audit = (int)g.set.server.log_audit;
    int rc = http_server_start(&w->server, &w->loop, host, port, &limits, app_handle, &w->app);
    if (rc < 0) {
        log_listen_error(host, port, rc);
        return rc;
    }
    w->app.server = w->server;
    http_server_observe(w->server, app_observe);
    return 0;
}

/* Raise the soft limit on open files to the hard limit, and lower limits.connections when
 * the workers' connections could not all get a descriptor, keeping a tenth of the descriptors
 * for connections being refused (each is accepted, answered 503 and lingers briefly), so that a
 * connection past the limit is answered 503 rather than dropped by EMFILE. Returns 0 or -1. */
static int fit_connections_to_fd_limit(int nworkers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > (rlim_t)1 << 20)
            want = (rlim_t)1 << 20;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    long long budget = (long long)rl.rlim_cur - RESERVED_FDS - (long long)rl.rlim_cur / 10;
    long long per_worker = budget > nworkers ? budget / nworkers : 1;
    long long conns = g.set.server.connections;
    if (rl.rlim_cur == RLIM_INFINITY || conns <= per_worker)
        return 0;
    char value[24];
    snprintf(value, sizeof value, "%lld", per_worker);
    wxs_log(WXS_LOG_INFO,
            "limits.connections: %lld per worker (of %lld), to fit %d workers in an open-file "
            "limit of %llu (raise it with ulimit -n / LimitNOFILE)",
            per_worker, conns, nworkers, (unsigned long long)rl.rlim_cur);
    return set_opt("limits.connections", value);
}

/* The /metrics listener (metrics.port, 0: none) on the main loop, reading every worker. */
static int start_metrics(void)
{
    const char *host = g.set.server.metrics_listen;
    int port = (int)g.set.server.metrics_port;
    const char *shared = g.set.server.access_token_secret;
    if (port == 0 && shared != NULL && shared[0] != '\0')
        wxs_log(WXS_LOG_WARN, "accessToken.sharedSecret is set but metrics.port is 0: "
                              "GET /access-token is not served");
    if (port == 0)
        return 0;
    g.apps = calloc((size_t)g.nworkers, sizeof *g.apps);
    if (g.apps == NULL)
        return -1;
    for (int i = 0; i < g.nworkers; i++)
        g.apps[i] = &g.workers[i].app;
    const char *secret = g.set.server.access_token_secret;
    if (secret != NULL && secret[0] != '\0' && !g.set.sim_only) {
        char err[256] = "";
        if (internal_api_new(&g.internal, &g.loop, g.set.cfg, secret, err, sizeof err) < 0) {
            wxs_log(WXS_LOG_ERROR, "access-token endpoint: %s", err);
            return -1;
        }
    }
    int rc = g.set.server.reuse_port ? 0 : http_listen_probe(host, port);
    if (rc == 0)
        rc = metrics_start(&g.metrics, &g.loop, host, port, g.apps, g.nworkers,
                           g.set.sim_only ? NULL : wxs_config_get_str(g.set.cfg, "store"),
                           g.internal);
    if (rc < 0) {
        log_listen_error(host, port, rc);
        return -1;
    }
    wxs_log(WXS_LOG_INFO, "metrics on http://%s:%d/metrics", host, metrics_port(g.metrics));
    return 0;
}

static int start_workers(void)
{
    const char *host = g.set.server.listen;
    int port = (int)g.set.server.port;
    int n = (int)g.set.server.workers;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    if (fit_connections_to_fd_limit(n) < 0)
        return -1;
    /* the workers' sockets share the port (SO_REUSEPORT), which would let them join another
     * process's: refuse a taken port unless reusePort asks to share it */
    int probe = g.set.server.reuse_port ? 0 : http_listen_probe(host, port);
    if (probe < 0) {
        log_listen_error(host, port, probe);
        return -1;
    }
    g.workers = calloc((size_t)n, sizeof *g.workers);
    if (g.workers == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        if (worker_listen(&g.workers[i], host, port) < 0)
            return -1;
        g.nworkers = i + 1;
        port = http_server_port(g.workers[i].server); /* port 0: the others join the first's */
    }
    /* the simulator on our own port stands in for WeChat unless apiBase says otherwise */
    if (g.set.server.simulator &&
        strcmp(wxs_config_get_str(g.set.cfg, "wechat.apiBase"), DEFAULT_API_BASE) == 0) {
        char base[128];
        snprintf(base, sizeof base, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
                 port);
        if (set_opt("wechat.apiBase", base) < 0)
            return -1;
    }
    if (!g.set.sim_only) {
        g.limiter = limiter_new((double)g.set.server.logins_per_minute,
                                (double)g.set.server.login_burst, LIMITER_DEFAULT_ENTRIES);
        if (g.limiter == NULL)
            return -1;
    }
    for (int i = 0; i < n && !g.set.sim_only; i++) {
        char err[256];
        int rc = wxs_ctx_new(&g.workers[i].app.ctx, &g.workers[i].loop, g.set.cfg, err, sizeof err);
        if (rc == 0)
            rc = onestroke_new(&g.workers[i].app.onestroke, &g.workers[i].loop, &g.set.onestroke,
                               g.set.cfg, err, sizeof err);
        if (rc < 0) {
            wxs_log(WXS_LOG_ERROR, "%s", err);
            return -1;
        }
        g.workers[i].app.limiter = g.limiter;
        g.workers[i].app.trust_forwarded = (int)g.set.server.trust_forwarded;
        if (app_start_readiness(&g.workers[i].app, i, &g.workers[(i + 1) % n].app) < 0)
            return -1;
    }
    if (start_metrics() < 0)
        return -1;
    const char *base = g.set.server.route_base;
    wxs_log(WXS_LOG_INFO,
            "wxsessiond %s: %s on http://%s:%d%s/ (workers %d, store %s, simulator %s)",
            WXS_VERSION, g.set.sim_only ? "WeChat simulator" : "serving", host, port,
            g.set.sim_only ? "" : base, n,
            g.set.sim_only ? "-" : wxs_config_get_str(g.set.cfg, "store"),
            g.set.server.simulator ? "on" : "off");
    wxs_log(WXS_LOG_INFO, "listening on %s:%d", host, port);
    for (int i = 0; i < n; i++)
        if (uv_thread_create(&g.workers[i].thread, worker_run, &g.workers[i]) != 0)
            return -1;
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    wxs_log(WXS_LOG_INFO, "%s, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_send("STOPPING=1\nSTATUS=stopping: finishing the requests in flight");
    metrics_stop(g.metrics); /* first: it reads the workers, which now begin to free */
    g.metrics = NULL;
    internal_api_free(g.internal); /* its requests in flight are answered (503) */
    g.internal = NULL;
    for (int i = 0; i < g.nworkers; i++)
        uv_async_send(&g.workers[i].stop);
    uv_signal_stop(&g.sigterm);
    uv_signal_stop(&g.sigint);
    uv_signal_stop(&g.sighup);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void finish_loop(uv_loop_t *loop)
{
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

/* SIGHUP: read the configuration again, whole (file, environment, flags), and apply what a
 * running server can change: log.level and log.format. The rest takes effect at the next start;
 * a configuration that does not read leaves everything as it is. Never stops the server. */
static void on_sighup(uv_signal_t *s, int signum)
{
    settings fresh;
    char err[512];
    notify_send("RELOADING=1\nSTATUS=reading the configuration again");
    int rc = settings_read(&fresh, g.argc, g.argv, err, sizeof err);
    if (rc != SETTINGS_RUN) {
        wxs_log(WXS_LOG_ERROR, "SIGHUP: the configuration does not read (%s); nothing changed",
                rc < 0 ? err : "a mode that exits");
        notify_send("READY=1\nSTATUS=serving; the last reload failed: the configuration does "
                    "not read (see the log)");
        return;
    }
    setup_logging(&fresh.server);
    wxs_log(WXS_LOG_INFO,
            "SIGHUP: configuration read again: log.level %s, log.format %s; other options take "
            "effect at the next start",
            fresh.server.log_level, fresh.server.log_format);
    notify_send("READY=1\nSTATUS=serving; configuration read again");
    settings_free(&fresh);
}

int main(int argc, char **argv)
{
    int status = 2;
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE a write fails with EFBIG: a store error */
    g.argc = argc;
    g.argv = argv;
    int rc = settings_read(&g.set, argc, argv, err, sizeof err);
    if (rc != SETTINGS_RUN) {
        if (rc < 0) /* before the log format is known: plain text */
            fprintf(stderr, "wxsessiond: %s\n", err);
        return rc == SETTINGS_EXIT ? 0 : 2;
    }
    setup_logging(&g.set.server);
    char unknown[512];
    if (wxs_config_unknown_env(g.set.cfg, unknown, sizeof unknown) > 0)
        wxs_log(WXS_LOG_WARN, "ignoring unknown environment variables: %s", unknown);
    if (g.set.server.simulator) {
        sim_options so = {
            .app_id = wxs_config_get_str(g.set.cfg, "appId"),
            .app_secret = wxs_config_get_str(g.set.cfg, "appSecret"),
            .latency_ms = g.set.server.sim_latency_ms,
            .quota_per_minute = g.set.server.sim_quota_per_minute,
        };
        g.sim = sim_new(&so);
        if (g.sim == NULL)
            goto out;
    }
    uv_loop_init(&g.loop);
    uv_signal_init(&g.loop, &g.sigterm);
    uv_signal_init(&g.loop, &g.sigint);
    uv_signal_init(&g.loop, &g.sighup);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sighup, on_sighup, SIGHUP);
    if (start_workers() < 0) {
        /* threads not started yet (or the last failed): stop what listens, free, exit 2 */
        metrics_stop(g.metrics);
        g.metrics = NULL;
        internal_api_free(g.internal);
        g.internal = NULL;
        for (int i = 0; i < g.nworkers; i++) {
            if (g.workers[i].app.ctx != NULL)
                wxs_ctx_free(g.workers[i].app.ctx);
            onestroke_free(g.workers[i].app.onestroke);
            if (g.workers[i].server != NULL)
                http_server_stop(g.workers[i].server, NULL, NULL);
            finish_loop(&g.workers[i].loop);
        }
        finish_loop(&g.loop);
        goto out;
    }
    /* every worker listens and runs: ready, while the stores may still be connecting */
    notify_sendf("READY=1\nSTATUS=serving on %s:%d (stores connect and retry by themselves: "
                 "see /readyz)",
                 g.set.server.listen, g.nworkers > 0 ? http_server_port(g.workers[0].server) : 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < g.nworkers; i++) {
        uv_thread_join(&g.workers[i].thread);
        finish_loop(&g.workers[i].loop);
    }
    finish_loop(&g.loop);
    wxs_log(WXS_LOG_INFO, "stopped");
    status = 0;
out:
    limiter_free(g.limiter);
    sim_free(g.sim);
    free(g.apps);
    free(g.workers);
    settings_free(&g.set);
    return status;
}
