/* access.c: what wxsessiond records of each answer: the count by route and status class (for
 * the metrics), the access line (log.access) and the audit line of each login (log.audit). No
 * line holds a code, a rawData, a query string or a secret; the openId is hashed. */
#include "access.h"
#include "util.h"

#include "counter.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define PATH_LOGGED_MAX 256 /* longer paths are cut in the access line */

const char *const route_names[ROUTE_COUNT] = {
    "other",
    "/livez",
    "/readyz",
    "/__wxsim",
    "page",
    "/session",
    "/session/paints/list",
    "/session/paints/save",
    "/session/paints/delete",
    "/login",
    "/me",
    "/logout",
    "/decrypt",
    [ROUTE_PHONE] = "/phone",
    [ROUTE_GATEWAY] = "gateway",
};

void access_client(const app *a, http_req *req, char out[INET6_ADDRSTRLEN])
{
    struct sockaddr_storage peer;
    if (a->trust_forwarded) {
        size_t len = 0;
        const char *fwd = http_req_header(req, "x-forwarded-for", &len);
        if (limiter_forwarded_text(fwd, len, out) == 0)
            return;
    }
    strcpy(out, "-");
    if (http_req_peer(req, &peer) < 0)
        return;
    if (peer.ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)&peer, out, INET6_ADDRSTRLEN);
    else if (peer.ss_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)&peer, out, INET6_ADDRSTRLEN);
}

/* The access line: client, method, path (no query), status, body bytes, milliseconds since the
 * request's first byte, the request id. */
static void access_line(app *a, http_req *req, int status, size_t len)
{
    char client[INET6_ADDRSTRLEN], path[PATH_LOGGED_MAX + 1], st[8], bytes[24], ms[32];
    size_t plen = 0;
    const char *p = http_req_path(req, &plen);
    if (plen > PATH_LOGGED_MAX)
        plen = PATH_LOGGED_MAX;
    memcpy(path, p, plen);
    path[plen] = '\0';
    access_client(a, req, client);
    uint64_t us = uv_hrtime() / 1000 - http_req_start_us(req);
    snprintf(st, sizeof st, "%d", status);
    snprintf(bytes, sizeof bytes, "%zu", len);
    snprintf(ms, sizeof ms, "%llu.%03llu", (unsigned long long)(us / 1000),
             (unsigned long long)(us % 1000));
    const wxs_log_field f[] = {
        {"client", client, 0},       {"method", http_method_name(http_req_method(req)), 0},
        {"path", path, 0},           {"status", st, 1},
        {"bytes", bytes, 1},         {"ms", ms, 1},
        {"id", http_req_id(req), 0},
    };
    wxs_log_event(WXS_LOG_INFO, "access", f, sizeof f / sizeof f[0]);
}

void app_observe(void *arg, http_req *req, int status, size_t len)
{
    app *a = arg;
    unsigned route = http_req_tag(req);
    if (route >= ROUTE_COUNT)
        route = ROUTE_OTHER;
    if (status >= 100 && status < 600)
        wxs__count(&a->requests[route][status / 100]);
    if (a->log_access)
        access_line(a, req, status, len);
}

void access_audit(const app *a, http_req *req, const char *event, const char *result,
                  const char *openid)
{
    char client[INET6_ADDRSTRLEN], hash[65] = "";
    access_client(a, req, client);
    if (openid != NULL && openid[0] != '\0') {
        wxs__sha256_hex(openid, strlen(openid), hash);
        hash[16] = '\0';
    }
    const wxs_log_field f[] = {
        {"result", result != NULL ? result : "unknown", 0},
        {hash[0] != '\0' ? "openIdHash" : NULL, hash, 0},
        {"client", client, 0},
        {http_req_id(req)[0] != '\0' ? "id" : NULL, http_req_id(req), 0},
    };
    wxs_log_event(WXS_LOG_INFO, event, f, sizeof f / sizeof f[0]);
}

void access_audit_login(const app *a, http_req *req, const wxs_auth_result *auth)
{
    access_audit(a, req, "login", wxs_stats_label(WXS_STATS_LOGIN, auth->result),
                 auth->kind == WXS_AUTH_USER ? auth->openid : NULL);
}
