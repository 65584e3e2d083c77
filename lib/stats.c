/* stats.c: the statistics' histogram buckets, label names and the reader that sums contexts
 * (wxsession.h, "statistics"). */
#include "stats.h"
#include "ctx.h"

/* 100 us to 10 s: a Redis or SQLite operation lands in the first buckets, a WeChat call in the
 * middle ones, a timeout in the last. */
static const uint64_t bounds_us[WXS_STATS_BOUNDS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

uint64_t wxs_stats_bound_us(int i)
{
    return i >= 0 && i < WXS_STATS_BOUNDS ? bounds_us[i] : 0;
}

void wxs__observe(wxs_histogram *h, uint64_t us)
{
    int i = 0;
    while (i < WXS_STATS_BOUNDS && us > bounds_us[i])
        i++;
    wxs__count(&h->buckets[i]);
    wxs__count(&h->count);
    wxs__count_add(&h->sum_us, us);
}

static const char *const login_labels[WXS_LOGIN_RESULTS] = {
    "ok",
    "exchange_failed",
    "untrusted_raw_data",
    "malformed_raw_data",
    "code_too_long",
    "raw_data_too_large",
    "bad_openid",
    "store_unavailable",
    "internal",
    "shutting_down",
};
static const char *const lookup_labels[WXS_LOOKUP_RESULTS] = {
    "ok", "session_expired", "store_unavailable", "internal", "shutting_down",
};
static const char *const exchange_labels[WXS_EXCHANGE_RESULTS] = {
    "0", "-1", "40029", "40163", "40226", "45011", "other", "timeout", "bad_reply", "network",
};
static const char *const store_op_labels[WXS_STORE_OPS] = {"get", "write", "claim"};

const char *wxs_stats_label(wxs_stats_family family, int i)
{
    switch (family) {
    case WXS_STATS_LOGIN:
        return i >= 0 && i < WXS_LOGIN_RESULTS ? login_labels[i] : NULL;
    case WXS_STATS_LOOKUP:
        return i >= 0 && i < WXS_LOOKUP_RESULTS ? lookup_labels[i] : NULL;
    case WXS_STATS_EXCHANGE:
        return i >= 0 && i < WXS_EXCHANGE_RESULTS ? exchange_labels[i] : NULL;
    case WXS_STATS_STORE_OP:
        return i >= 0 && i < WXS_STORE_OPS ? store_op_labels[i] : NULL;
    }
    return NULL;
}

static void add_counters(uint64_t *sum, const uint64_t *c, int n)
{
    for (int i = 0; i < n; i++)
        sum[i] += wxs__count_load(&c[i]);
}

static void add_histogram(wxs_histogram *sum, const wxs_histogram *h)
{
    add_counters(sum->buckets, h->buckets, WXS_STATS_BOUNDS + 1);
    sum->count += wxs__count_load(&h->count);
    sum->sum_us += wxs__count_load(&h->sum_us);
}

void wxs_ctx_stats_add(const wxs_ctx *ctx, wxs_stats *sum)
{
    if (ctx == NULL || sum == NULL)
        return;
    const wxs_stats *s = &ctx->stats;
    add_counters(sum->logins, s->logins, WXS_LOGIN_RESULTS);
    add_counters(sum->lookups, s->lookups, WXS_LOOKUP_RESULTS);
    add_counters(sum->exchanges, s->exchanges, WXS_EXCHANGE_RESULTS);
    add_histogram(&sum->exchange_latency, &s->exchange_latency);
    sum->joined_local += wxs__count_load(&s->joined_local);
    sum->joined_store += wxs__count_load(&s->joined_store);
    for (int i = 0; i < WXS_STORE_OPS; i++)
        add_histogram(&sum->store_latency[i], &s->store_latency[i]);
    add_counters(sum->store_errors, s->store_errors, WXS_STORE_OPS);
}
