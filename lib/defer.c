/* defer.c: deferred calls on a uv_check handle, with a uv_idle handle that keeps the loop from
 * blocking while calls wait (lib/defer.h). */
#include "defer.h"

#include "wxsession.h"

#include <stddef.h>

static void on_handle_closed(uv_handle_t *h)
{
    wxs__defer *q = h->data;
    if (--q->open_handles == 0)
        q->closed(q->closed_arg);
}

static void close_handles(wxs__defer *q)
{
    uv_close((uv_handle_t *)&q->check, on_handle_closed);
    uv_close((uv_handle_t *)&q->idle, on_handle_closed);
}

/* Run the calls queued before this pass; calls they queue wait for the next pass, so a chain
 * of deferred calls never starves the loop's I/O. */
static void on_check(uv_check_t *h)
{
    wxs__defer *q = h->data;
    wxs__deferred *d = q->head;
    q->head = q->tail = NULL;
    q->draining = 1;
    while (d != NULL) {
        wxs__deferred *next = d->next;
        d->fn(d);
        d = next;
    }
    q->draining = 0;
    if (q->head != NULL)
        return;
    uv_check_stop(&q->check);
    uv_idle_stop(&q->idle);
    if (q->closing)
        close_handles(q);
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its being active is what counts: the loop polls without blocking */
}

int wxs__defer_init(wxs__defer *q, uv_loop_t *loop)
{
    *q = (wxs__defer){0};
    if (uv_check_init(loop, &q->check) != 0)
        return WXS_EIO;
    uv_idle_init(loop, &q->idle);
    q->check.data = q;
    q->idle.data = q;
    q->open_handles = 2;
    return 0;
}

void wxs__defer_call(wxs__defer *q, wxs__deferred *d, wxs__deferred_fn fn)
{
    d->next = NULL;
    d->fn = fn;
    if (q->tail != NULL) {
        q->tail->next = d;
    } else {
        q->head = d;
        uv_check_start(&q->check, on_check);
        uv_idle_start(&q->idle, on_idle);
    }
    q->tail = d;
}

void wxs__defer_close(wxs__defer *q, void (*closed)(void *arg), void *arg)
{
    q->closing = 1;
    q->closed = closed;
    q->closed_arg = arg;
    if (q->head == NULL && !q->draining)
        close_handles(q);
}
