/* simulator.c: the simulator's serving side (contract in simulator.h): route dispatch,
 * /sns/jscode2session, replies sent now, after the latency or held by an injected failure, and
 * a sim's lifetime. The decisions are in simulator_state.c, parameters and replies in
 * simulator_reply.c, the /__wxsim routes in simulator_admin.c and stable_token with the
 * access_token APIs in simulator_api.c (each reached through its table). */
#include "server_reasons.h"
#include "simulator_impl.h"
#include "wxsession.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A request answered later: delayed by the latency timer or held by a "hang" failure. */
struct pending {
    http_req *req;
    uv_loop_t *loop;
    reply r;
    int has_timer;
    uv_timer_t timer;
    struct sim *s;
    wxs__list link; /* in s->pending while nobody has answered it */
};

static void send_reply(http_req *req, reply *r)
{
    if (r->body == NULL)
        http_respond_error(req, 500, WXS_REASON_INTERNAL, "out of memory");
    else
        http_respond(req, r->status, r->content_type, r->body, r->len, 0);
    free(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------------ pending requests */

static void pending_destroy(pending *p)
{
    free(p->r.body);
    free(p);
}

static void pending_closed(uv_handle_t *h)
{
    pending_destroy(h->data);
}

/* Frees p once its timer (if any) has closed. */
static void pending_release(pending *p)
{
    if (!p->has_timer)
        pending_destroy(p);
    else if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, pending_closed);
    else
        pending_destroy(p); /* its loop already closed the handle and finished */
}

/* Takes p off the sim's list; 1 when it was there (nobody else answered it yet). */
static int pending_unlink(pending *p)
{
    sim *s = p->s;
    pthread_mutex_lock(&s->lock);
    int linked = !wxs__list_empty(&p->link);
    wxs__list_remove(&p->link);
    pthread_mutex_unlock(&s->lock);
    return linked;
}

static void pending_on_timer(uv_timer_t *t)
{
    pending *p = t->data;
    if (!pending_unlink(p))
        return;
    send_reply(p->req, &p->r);
    pending_release(p);
}

/* The client went away: the request must still be answered (the server discards it). */
static void pending_on_abort(void *arg, http_req *req)
{
    pending *p = arg;
    if (!pending_unlink(p))
        return;
    http_respond_error(req, 503, HTTP_REASON_CLIENT_GONE, "client went away");
    pending_release(p);
}

/* Answers req with r now, after latency_ms on loop, or (hold) only when the client leaves or
 * the simulator is freed. Takes r's body. */
static void deliver(sim *s, uv_loop_t *loop, http_req *req, reply *r, int hold,
                    long long latency_ms)
{
    pending *p = NULL;
    if (hold || latency_ms > 0)
        p = calloc(1, sizeof *p);
    if (p == NULL) {
        send_reply(req, r);
        return;
    }
    p->req = req;
    p->loop = loop;
    p->r = *r;
    p->s = s;
    if (!hold) {
        uv_update_time(loop); /* the loop's cached time may be stale */
        uv_timer_init(loop, &p->timer);
        p->has_timer = 1;
        p->timer.data = p;
        uv_timer_start(&p->timer, pending_on_timer, (uint64_t)latency_ms, 0);
    }
    pthread_mutex_lock(&s->lock);
    wxs__list_push(&s->pending, &p->link);
    pthread_mutex_unlock(&s->lock);
    http_req_on_abort(req, pending_on_abort, p);
    if (http_req_aborted(req)) /* gone already: on_abort will not be called */
        pending_on_abort(p, req);
}

/* /sns/jscode2session: WeChat's answer (simulator_state.c decides it), sent after the latency
 * or held by an injected "hang". */
static void handle_exchange(sim *s, uv_loop_t *loop, http_req *req)
{
    sim_exchange_params ep = {0};
    reply r = {0};
    int hold = 0;
    sim__req_param(req, "appid", &ep.appid);
    sim__req_param(req, "secret", &ep.secret);
    sim__req_param(req, "js_code", &ep.js_code);
    sim__req_param(req, "grant_type", &ep.grant_type);
    pthread_mutex_lock(&s->lock);
    long long latency = s->latency_ms;
    sim__exchange(s, &ep, &r, &hold);
    pthread_mutex_unlock(&s->lock);
    free(ep.appid);
    free(ep.secret);
    free(ep.js_code);
    free(ep.grant_type);
    deliver(s, loop, req, &r, hold, latency);
}

/* ------------------------------------------------------------------ public */

static int path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

int sim_handle(sim *s, uv_loop_t *loop, http_req *req)
{
    size_t len = 0;
    const char *path = http_req_path(req, &len);
    reply r = {0};
    if (path_is(path, len, "/sns/jscode2session")) {
        handle_exchange(s, loop, req);
        return 1;
    }
    const sim_route *route = sim__api_routes;
    while (route->path != NULL && !path_is(path, len, route->path))
        route++;
    if (route->path != NULL) {
        route->handle(s, req, &r);
        send_reply(req, &r);
        return 1;
    }
    if (!(len >= 8 && memcmp(path, "/__wxsim", 8) == 0 && (len == 8 || path[8] == '/')))
        return 0;
    route = sim__admin_routes;
    while (route->path != NULL && !path_is(path, len, route->path))
        route++;
    if (route->path != NULL)
        route->handle(s, req, &r);
    else
        sim__reply_error(&r, 404, HTTP_REASON_NOT_FOUND, "no such simulator route");
    send_reply(req, &r);
    return 1;
}

sim *sim_new(const sim_options *opts)
{
    sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->app_id = strdup(opts->app_id != NULL ? opts->app_id : "");
    s->app_secret = strdup(opts->app_secret != NULL ? opts->app_secret : "");
    s->default_latency_ms = opts->latency_ms > 0 ? opts->latency_ms : 0;
    s->latency_ms = s->default_latency_ms;
    s->quota_per_minute = opts->quota_per_minute;
    s->api = sim__api_defaults();
    wxs__list_init(&s->pending);
    if (s->app_id == NULL || s->app_secret == NULL ||
        RAND_bytes((unsigned char *)&s->seed, sizeof s->seed) != 1 ||
        pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s->app_id);
        free(s->app_secret);
        free(s);
        return NULL;
    }
    return s;
}

/* Answers the held and delayed requests of loop (NULL: of every loop) with 503, closing their
 * connections. Runs on that loop's thread (or after the loops have finished). */
static void release_pending(sim *s, uv_loop_t *loop)
{
    static const char gone[] =
        "{\"error\":{\"code\":\"ERR_SHUTTING_DOWN\",\"message\":\"simulator stopped\"}}";
    wxs__list taken;
    wxs__list *pos, *tmp, *l;
    wxs__list_init(&taken);
    pthread_mutex_lock(&s->lock);
    wxs__list_each(pos, tmp, &s->pending)
    {
        pending *p = wxs__list_entry(pos, pending, link);
        if (loop != NULL && p->loop != loop)
            continue;
        wxs__list_remove(&p->link);
        wxs__list_push(&taken, &p->link);
    }
    pthread_mutex_unlock(&s->lock);
    /* taken is this thread's own: only p's loop thread ever unlinks p */
    while ((l = wxs__list_shift(&taken)) != NULL) {
        pending *p = wxs__list_entry(l, pending, link);
        http_respond(p->req, 503, NULL, gone, sizeof gone - 1, 1);
        if (p->has_timer)
            uv_timer_stop(&p->timer);
        pending_release(p);
    }
}

/* For a worker that is stopping: answers the requests its loop holds so that its server can
 * finish. Call on that loop's thread. */
void sim_release_loop(sim *s, uv_loop_t *loop)
{
    if (s != NULL && loop != NULL)
        release_pending(s, loop);
}

/* Answers held and delayed requests with 503 (closing their connections) and frees the state.
 * Call it on the thread of the loop that holds them, or after that loop has finished. */
void sim_free(sim *s)
{
    if (s == NULL)
        return;
    release_pending(s, NULL);
    sim__forget_all(s);
    sim__tokens_forget(s);
    sim__phones_forget(s);
    pthread_mutex_destroy(&s->lock);
    OPENSSL_cleanse(s->app_secret, strlen(s->app_secret));
    free(s->app_id);
    free(s->app_secret);
    free(s);
}
