/* metrics.c: the /metrics listener and the exposition text (metrics.h). Families are named
 * wxsession_*, with units in their names (_seconds, _total); no label holds a code, a token, an
 * openId or a secret: labels are routes, status classes, results, errcodes, store names. */
#include "metrics.h"
#include "counter.h"
#include "settings.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_TEXT_MAX (1 << 20)

struct metrics {
    http_server *server;
    app *const *apps;
    int n;
    const char *store;
    internal_api *api;
};

/* ---- the text */

/* "# HELP" and "# TYPE" lines of a family. */
static int family(wxs__buf *b, const char *name, const char *type, const char *help)
{
    return wxs__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram's lines (cumulative buckets, +Inf, sum in seconds, count) with extra labels
 * ("" or `store="redis",op="get"`). */
static int histogram(wxs__buf *b, const char *name, const char *labels, const wxs_histogram *h)
{
    uint64_t cumulative = 0;
    const char *sep = labels[0] != '\0' ? "," : "";
    int rc = 0;
    for (int i = 0; rc == 0 && i < WXS_STATS_BOUNDS; i++) {
        cumulative += h->buckets[i];
        rc = wxs__buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                             (double)wxs_stats_bound_us(i) / 1e6, (unsigned long long)cumulative);
    }
    if (rc == 0)
        rc = wxs__buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                             (unsigned long long)h->count);
    if (rc == 0)
        rc = wxs__buf_printf(b, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %llu\n", name,
                             labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                             (double)h->sum_us / 1e6, name, labels[0] ? "{" : "", labels,
                             labels[0] ? "}" : "", (unsigned long long)h->count);
    return rc;
}

/* A counter family with one line per label value of a wxs_stats family. */
static int by_label(wxs__buf *b, const char *name, const char *help, const char *label,
                    wxs_stats_family fam, const uint64_t *values, int n)
{
    int rc = family(b, name, "counter", help);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = wxs__buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, wxs_stats_label(fam, i),
                             (unsigned long long)values[i]);
    return rc;
}

/* The HTTP layer's and the routes' families. */
static int render_http(wxs__buf *b, app *const *apps, int n)
{
    static const char *const classes[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    uint64_t req[ROUTE_COUNT][6] = {{0}}, own[6] = {0};
    http_stats hs = {0};
    for (int w = 0; w < n; w++) {
        for (int r = 0; r < ROUTE_COUNT; r++)
            for (int c = 1; c < 6; c++)
                req[r][c] += wxs__count_load(&apps[w]->requests[r][c]);
        const http_stats *s = http_server_stats(apps[w]->server);
        hs.accepted += wxs__count_load(&s->accepted);
        hs.closed += wxs__count_load(&s->closed);
        hs.rejected_limit += wxs__count_load(&s->rejected_limit);
        hs.rejected_memory += wxs__count_load(&s->rejected_memory);
        hs.reset_budget += wxs__count_load(&s->reset_budget);
        hs.reset_stalled += wxs__count_load(&s->reset_stalled);
        for (int c = 1; c < 6; c++)
            own[c] += wxs__count_load(&s->own_answers[c]);
    }
    int rc = family(b, "wxsession_http_requests_total", "counter",
                    "Answers by route and status class (route \"none\": the HTTP layer's own "
                    "error answers to requests no route saw)");
    for (int r = 0; rc == 0 && r <= ROUTE_COUNT; r++)
        for (int c = 2; rc == 0 && c < 6; c++)
            rc =
                wxs__buf_printf(b, "wxsession_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                                r < ROUTE_COUNT ? route_names[r] : "none", classes[c],
                                (unsigned long long)(r < ROUTE_COUNT ? req[r][c] : own[c]));
    if (rc == 0)
        rc = family(b, "wxsession_http_connections", "gauge", "Client connections open now");
    if (rc == 0)
        rc = wxs__buf_printf(b, "wxsession_http_connections %llu\n",
                             (unsigned long long)(hs.accepted - hs.closed));
    if (rc == 0)
        rc = family(b, "wxsession_http_connections_accepted_total", "counter",
                    "Client connections taken in to be served");
    if (rc == 0)
        rc = wxs__buf_printf(b, "wxsession_http_connections_accepted_total %llu\n",
                             (unsigned long long)hs.accepted);
    if (rc == 0)
        rc = family(b, "wxsession_http_connections_rejected_total", "counter",
                    "Client connections refused (max_connections: answered 503 over "
                    "limits.connections; out_of_memory: closed at once) or reset (output_budget: "
                    "over limits.queuedBytes; stalled_output: the client stopped reading)");
    if (rc == 0)
        rc = wxs__buf_printf(
            b,
            "wxsession_http_connections_rejected_total{reason=\"max_connections\"} %llu\n"
            "wxsession_http_connections_rejected_total{reason=\"out_of_memory\"} %llu\n"
            "wxsession_http_connections_rejected_total{reason=\"output_budget\"} %llu\n"
            "wxsession_http_connections_rejected_total{reason=\"stalled_output\"} %llu\n",
            (unsigned long long)hs.rejected_limit, (unsigned long long)hs.rejected_memory,
            (unsigned long long)hs.reset_budget, (unsigned long long)hs.reset_stalled);
    return rc;
}

/* The session layer's families (wxs_stats of every worker's context). */
static int render_session(wxs__buf *b, app *const *apps, int n, const char *store)
{
    wxs_stats st;
    char labels[64];
    int up = 1;
    memset(&st, 0, sizeof st);
    for (int w = 0; w < n; w++) {
        wxs_ctx_stats_add(apps[w]->ctx, &st);
        up = up && atomic_load_explicit(&apps[w]->store_ready, memory_order_relaxed);
    }
    int rc = by_label(b, "wxsession_logins_total", "Logins (a code with rawData) by result",
                      "result", WXS_STATS_LOGIN, st.logins, WXS_LOGIN_RESULTS);
    if (rc == 0)
        rc = by_label(b, "wxsession_session_lookups_total",
                      "Code-only requests (session look-ups) by result", "result", WXS_STATS_LOOKUP,
                      st.lookups, WXS_LOOKUP_RESULTS);
    if (rc == 0)
        rc = by_label(b, "wxsession_wechat_exchanges_total",
                      "Calls to WeChat's code2Session by errcode, or timeout, bad_reply, network",
                      "errcode", WXS_STATS_EXCHANGE, st.exchanges, WXS_EXCHANGE_RESULTS);
    if (rc == 0)
        rc = family(b, "wxsession_wechat_exchange_duration_seconds", "histogram",
                    "Time of the calls to WeChat's code2Session");
    if (rc == 0)
        rc = histogram(b, "wxsession_wechat_exchange_duration_seconds", "", &st.exchange_latency);
    if (rc == 0)
        rc = family(b, "wxsession_exchange_joins_total", "counter",
                    "Logins served by an exchange already under way (single-flight): local, on "
                    "this process; store, claimed by another worker or instance");
    if (rc == 0)
        rc = wxs__buf_printf(b,
                             "wxsession_exchange_joins_total{where=\"local\"} %llu\n"
                             "wxsession_exchange_joins_total{where=\"store\"} %llu\n",
                             (unsigned long long)st.joined_local,
                             (unsigned long long)st.joined_store);
    if (rc == 0)
        rc = family(b, "wxsession_store_operation_duration_seconds", "histogram",
                    "Time of the session store's operations (get: look-up, write: a login's "
                    "session, claim: a code's single-flight claim)");
    for (int op = 0; rc == 0 && op < WXS_STORE_OPS; op++) {
        snprintf(labels, sizeof labels, "store=\"%s\",op=\"%s\"", store,
                 wxs_stats_label(WXS_STATS_STORE_OP, op));
        rc = histogram(b, "wxsession_store_operation_duration_seconds", labels,
                       &st.store_latency[op]);
    }
    if (rc == 0)
        rc = family(b, "wxsession_store_operation_errors_total", "counter",
                    "Session store operations that failed");
    for (int op = 0; rc == 0 && op < WXS_STORE_OPS; op++)
        rc = wxs__buf_printf(b,
                             "wxsession_store_operation_errors_total{store=\"%s\",op=\"%s\"} "
                             "%llu\n",
                             store, wxs_stats_label(WXS_STATS_STORE_OP, op),
                             (unsigned long long)st.store_errors[op]);
    if (rc == 0)
        rc = family(b, "wxsession_store_up", "gauge",
                    "1 when every worker's session store connection is ready, else 0");
    if (rc == 0)
        rc = wxs__buf_printf(b, "wxsession_store_up{store=\"%s\"} %d\n", store, up);
    return rc;
}

int metrics_render(wxs__buf *b, app *const *apps, int n, const char *store)
{
    int rc = family(b, "wxsession_build_info", "gauge",
                    "The running wxsessiond's version and "
                    "commit, as labels; always 1");
    if (rc == 0)
        rc = wxs__buf_printf(b, "wxsession_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                             WXS_VERSION, wxs_build_commit);
    if (rc == 0)
        rc = render_http(b, apps, n);
    if (rc == 0 && store != NULL)
        rc = render_session(b, apps, n, store);
    return rc;
}

/* ---- the listener */

static void handle(void *arg, http_req *req)
{
    metrics *m = arg;
    size_t len;
    const char *path = http_req_path(req, &len);
    int method = http_req_method(req);
    if ((len != 8 || memcmp(path, "/metrics", 8) != 0) && internal_api_handle(m->api, req))
        return;
    if (len != 8 || memcmp(path, "/metrics", 8) != 0) {
        http_respond_error(req, 404, "ERR_NOT_FOUND",
                           "no such route (this listener serves /metrics and, with "
                           "accessToken.sharedSecret set, /access-token)");
        return;
    }
    if (method != HTTP_GET && method != HTTP_HEAD) {
        http_respond_error(req, 405, "ERR_METHOD_NOT_ALLOWED", "use GET");
        return;
    }
    wxs__buf b;
    wxs__buf_init(&b, METRICS_TEXT_MAX);
    if (metrics_render(&b, m->apps, m->n, m->store) < 0)
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "the metrics do not fit");
    else
        http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, 0);
    wxs__buf_free(&b);
}

int metrics_start(metrics **out, uv_loop_t *loop, const char *host, int port, app *const *apps,
                  int n, const char *store, internal_api *api)
{
    /* scrapers send small GETs: small limits, few connections */
    http_limits limits = {.header_bytes = 8192, .body_bytes = 1024, .max_connections = 64};
    metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return UV_ENOMEM;
    m->apps = apps;
    m->n = n;
    m->store = store;
    m->api = api;
    int rc = http_server_start(&m->server, loop, host, port, &limits, handle, m);
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int metrics_port(const metrics *m)
{
    return http_server_port(m->server);
}

static void stopped(void *arg)
{
    free(arg);
}

void metrics_stop(metrics *m)
{
    if (m != NULL)
        http_server_stop(m->server, stopped, m);
}
