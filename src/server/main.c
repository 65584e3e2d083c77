/* main.c: wxsessiond: configuration, one libuv loop per worker thread sharing the port through
 * SO_REUSEPORT, the embedded default (--dev) and graceful stop on SIGTERM/SIGINT. */
#include "routes.h"
#include "server_options.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define DEV_APP_ID "wx0000000000000dev"
#define DEV_APP_SECRET "0000000000000000000000000000dev0"
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
    wxs_config *cfg;
    server_options opts; /* the server's own options, filled by cfg */
    sim *sim;
    worker *workers;
    int nworkers;
    int sim_only;
    uv_loop_t loop; /* the main thread's: signals only */
    uv_signal_t sigterm;
    uv_signal_t sigint;
} g;

static struct onestroke_options onestroke_opts; /* One Stroke's options, filled by g.cfg */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: wxsessiond [--config FILE] [--dev] [--simulator-only] [--OPTION=VALUE ...]\n"
            "\n"
            "  --config FILE     read a JSON config file (keys as in docs/config.md)\n"
            "  --dev             embedded default: SQLite store, the built-in WeChat simulator\n"
            "                    and a development appId/appSecret; no Redis, no WeChat account\n"
            "  --simulator-only  serve only the WeChat simulator (for tests and benchmarks)\n"
            "  --check-config    print the effective configuration (secrets hidden) and exit\n"
            "  --help, --version\n"
            "\n"
            "Options (defaults < config file < WXS_* environment < flags):\n");
    wxs_config_print_help(g.cfg, out);
}

static int set_opt(const char *name, const char *value)
{
    char err[256];
    if (wxs_config_set(g.cfg, name, value, err, sizeof err) < 0) {
        fprintf(stderr, "wxsessiond: %s\n", err);
        return -1;
    }
    return 0;
}

/* Parse argv in two passes: modes and --config first, then option flags, so that flags win
 * over the file whatever their order. Returns 0 to go on, 1 to exit 0, -1 to exit 2. */
static int configure(int argc, char **argv)
{
    const char *config_path = NULL;
    int dev = 0, check = 0;
    char err[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("wxsessiond %s\n", WXS_VERSION);
            return 1;
        } else if (strcmp(a, "--dev") == 0) {
            dev = 1;
        } else if (strcmp(a, "--simulator-only") == 0) {
            g.sim_only = 1;
        } else if (strcmp(a, "--check-config") == 0) {
            check = 1;
        } else if (strcmp(a, "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        }
    }
    if (dev || g.sim_only) {
        if (set_opt("simulator.enabled", "true") < 0 || set_opt("appId", DEV_APP_ID) < 0 ||
            set_opt("appSecret", DEV_APP_SECRET) < 0)
            return -1;
    }
    if (dev && set_opt("sqlite.path", "wxsession-dev.db") < 0)
        return -1;
    if (config_path != NULL && wxs_config_load_file(g.cfg, config_path, err, sizeof err) < 0) {
        fprintf(stderr, "wxsessiond: %s\n", err);
        return -1;
    }
    if (wxs_config_load_env(g.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "wxsessiond: %s\n", err);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "wxsessiond: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        if (strcmp(a, "--dev") == 0 || strcmp(a, "--simulator-only") == 0 ||
            strcmp(a, "--check-config") == 0 || strncmp(a, "--config=", 9) == 0)
            continue;
        const char *eq = strchr(a, '=');
        char name[128];
        const char *value;
        if (eq != NULL) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a - 2), a + 2);
            value = eq + 1;
        } else if (i + 1 < argc) {
            snprintf(name, sizeof name, "%s", a + 2);
            value = argv[++i];
        } else {
            fprintf(stderr, "wxsessiond: option '%s' needs a value\n", a);
            return -1;
        }
        if (set_opt(name, value) < 0)
            return -1;
    }
    /* the simulator answers for the development app: it needs no real credentials */
    if (g.opts.simulator && wxs_config_get_str(g.cfg, "appId")[0] == '\0' &&
        set_opt("appId", DEV_APP_ID) < 0)
        return -1;
    if (g.opts.simulator && wxs_config_get_str(g.cfg, "appSecret")[0] == '\0' &&
        set_opt("appSecret", DEV_APP_SECRET) < 0)
        return -1;
    if (wxs_config_validate(g.cfg, err, sizeof err) < 0) {
        fprintf(stderr, "wxsessiond: %s\n", err);
        return -1;
    }
    if (check) {
        wxs_config_dump(g.cfg, stdout);
        printf("config ok\n");
        return 1;
    }
    return 0;
}

static void setup_logging(void)
{
    const char *level = g.opts.log_level;
    const char *format = g.opts.log_format;
    wxs_log_level l = WXS_LOG_INFO;
    if (strcmp(level, "debug") == 0)
        l = WXS_LOG_DEBUG;
    else if (strcmp(level, "warn") == 0)
        l = WXS_LOG_WARN;
    else if (strcmp(level, "error") == 0)
        l = WXS_LOG_ERROR;
    wxs_set_log(NULL, NULL, l, strcmp(format, "json") == 0);
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
    uv_timer_start(&w->deadline, worker_deadline, (uint64_t)g.opts.shutdown_timeout_ms, 0);
    http_server_stop(w->server, worker_server_stopped, w);
}

static void worker_run(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static int worker_listen(worker *w, const char *host, int port)
{
    http_limits limits = {
        .header_bytes = (size_t)g.opts.header_bytes,
        .body_bytes = (size_t)g.opts.body_bytes,
        .max_connections = (unsigned)g.opts.connections,
        .header_timeout_ms = (uint64_t)g.opts.header_timeout_ms,
        .body_timeout_ms = (uint64_t)g.opts.body_timeout_ms,
        .idle_timeout_ms = (uint64_t)g.opts.idle_timeout_ms,
    };
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->stop, worker_stop);
    w->stop.data = w;
    uv_timer_init(&w->loop, &w->deadline);
    w->deadline.data = w;
    w->app.loop = &w->loop;
    w->app.cfg = g.cfg;
    w->app.sim = g.sim;
    w->app.route_base = g.opts.route_base;
    w->app.route_base_len = strlen(w->app.route_base);
    int rc = http_server_start(&w->server, &w->loop, host, port, &limits, app_handle, &w->app);
    if (rc < 0)
        fprintf(stderr, "wxsessiond: cannot listen on %s:%d: %s\n", host, port, uv_strerror(rc));
    return rc;
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
    long long conns = g.opts.connections;
    if (rl.rlim_cur == RLIM_INFINITY || conns <= per_worker)
        return 0;
    char value[24];
    snprintf(value, sizeof value, "%lld", per_worker);
    fprintf(stderr,
            "wxsessiond: limits.connections lowered from %lld to %lld per worker: %d workers "
            "and an open-file limit of %llu (raise it with ulimit -n / LimitNOFILE)\n",
            conns, per_worker, nworkers, (unsigned long long)rl.rlim_cur);
    return set_opt("limits.connections", value);
}

static int start_workers(void)
{
    const char *host = g.opts.listen;
    int port = (int)g.opts.port;
    int n = (int)g.opts.workers;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    if (fit_connections_to_fd_limit(n) < 0)
        return -1;
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
    if (g.opts.simulator &&
        strcmp(wxs_config_get_str(g.cfg, "wechat.apiBase"), DEFAULT_API_BASE) == 0) {
        char base[128];
        snprintf(base, sizeof base, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
                 port);
        if (set_opt("wechat.apiBase", base) < 0)
            return -1;
    }
    for (int i = 0; i < n && !g.sim_only; i++) {
        char err[256];
        int rc = wxs_ctx_new(&g.workers[i].app.ctx, &g.workers[i].loop, g.cfg, err, sizeof err);
        if (rc == 0)
            rc = onestroke_new(&g.workers[i].app.onestroke, &g.workers[i].loop, &onestroke_opts,
                               g.cfg, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "wxsessiond: %s\n", err);
            return -1;
        }
    }
    const char *base = g.opts.route_base;
    fprintf(stderr, "wxsessiond %s: %s on http://%s:%d%s/ (workers %d, store %s, simulator %s)\n",
            WXS_VERSION, g.sim_only ? "WeChat simulator" : "serving", host, port,
            g.sim_only ? "" : base, n, g.sim_only ? "-" : wxs_config_get_str(g.cfg, "store"),
            g.opts.simulator ? "on" : "off");
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    for (int i = 0; i < n; i++)
        if (uv_thread_create(&g.workers[i].thread, worker_run, &g.workers[i]) != 0)
            return -1;
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    fprintf(stderr, "wxsessiond: %s, stopping\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (int i = 0; i < g.nworkers; i++)
        uv_async_send(&g.workers[i].stop);
    uv_signal_stop(&g.sigterm);
    uv_signal_stop(&g.sigint);
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

int main(int argc, char **argv)
{
    int status = 2;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE a write fails with EFBIG: a store error */
    g.cfg = wxs_config_new();
    if (g.cfg == NULL || wxs_config_register(g.cfg, &server_option_table, &g.opts) < 0 ||
        wxs_config_register(g.cfg, &onestroke_option_table, &onestroke_opts) < 0) {
        fprintf(stderr, "wxsessiond: out of memory\n");
        wxs_config_free(g.cfg);
        return 2;
    }
    int rc = configure(argc, argv);
    if (rc != 0) {
        status = rc > 0 ? 0 : 2;
        goto out;
    }
    setup_logging();
    if (g.opts.simulator) {
        sim_options so = {
            .app_id = wxs_config_get_str(g.cfg, "appId"),
            .app_secret = wxs_config_get_str(g.cfg, "appSecret"),
            .latency_ms = g.opts.sim_latency_ms,
            .quota_per_minute = g.opts.sim_quota_per_minute,
        };
        g.sim = sim_new(&so);
        if (g.sim == NULL)
            goto out;
    }
    uv_loop_init(&g.loop);
    uv_signal_init(&g.loop, &g.sigterm);
    uv_signal_init(&g.loop, &g.sigint);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    if (start_workers() < 0) {
        /* threads not started yet (or the last failed): stop what listens, free, exit 2 */
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
    uv_run(&g.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < g.nworkers; i++) {
        uv_thread_join(&g.workers[i].thread);
        finish_loop(&g.workers[i].loop);
    }
    finish_loop(&g.loop);
    fprintf(stderr, "wxsessiond: stopped\n");
    status = 0;
out:
    sim_free(g.sim);
    free(g.workers);
    wxs_config_free(g.cfg);
    return status;
}
