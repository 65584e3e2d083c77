/* redis_uv.c: hiredis's async context driven by a libuv loop (see redis_uv.h). */
#include "redis_uv.h"

#include "internal.h"

#include <sys/socket.h>

typedef struct redis_uv {
    redisAsyncContext *ac; /* NULL once hiredis has let go of the context */
    uv_poll_t poll;
    uv_prepare_t flush;
    int polled;      /* events the poll handle watches now */
    int want_read;   /* hiredis awaits replies */
    int want_write;  /* hiredis has output queued */
    int write_stuck; /* a flush left output behind: wait for writability */
    int open_handles;
} redis_uv;

static void on_poll(uv_poll_t *h, int status, int events);

/* Bring the poll handle in line with what is wanted; no libuv call when nothing changes. */
static void update_poll(redis_uv *r)
{
    int events = (r->want_read ? UV_READABLE | UV_DISCONNECT : 0) |
                 (r->want_write && r->write_stuck ? UV_WRITABLE : 0);
    if (events == r->polled)
        return;
    if (events == 0)
        uv_poll_stop(&r->poll);
    else if (uv_poll_start(&r->poll, events, on_poll) != 0)
        return; /* unchanged; the command timeout of the store notices a dead connection */
    r->polled = events;
}

/* Readable or writable: hand the event to hiredis. An error on the socket (a reset from a
 * killed Redis, a refused connect) comes as status < 0, and libuv has stopped the handle then:
 * hiredis is made to read, which fails with the socket's error and tears the connection down
 * (every pending command ends with a NULL reply at once, the disconnect callback runs). EOF
 * comes as readability (or UV_DISCONNECT) and ends the same way. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    redis_uv *r = h->data;
    if (status < 0) {
        r->polled = 0; /* libuv stopped the handle */
        if (r->ac != NULL)
            redisAsyncHandleRead(r->ac);
        if (r->ac != NULL)
            update_poll(r); /* no error read after all: watch again */
        return;
    }
    if (r->ac != NULL && (events & (UV_READABLE | UV_DISCONNECT)))
        redisAsyncHandleRead(r->ac);
    if (r->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(r->ac);
}

/* Before the loop blocks: write what this iteration queued. While the connect is in progress
 * writability is what tells that it completed, so the write waits for the poll then. */
static void on_flush(uv_prepare_t *h)
{
    redis_uv *r = h->data;
    uv_prepare_stop(h);
    if (r->ac == NULL || !r->want_write)
        return;
    if (!(r->ac->c.flags & REDIS_CONNECTED)) {
        r->write_stuck = 1;
        update_poll(r);
        return;
    }
    redisAsyncHandleWrite(r->ac); /* calls del_write once everything is written */
    if (r->ac != NULL && r->want_write) {
        r->write_stuck = 1;
        update_poll(r);
    }
}

static void add_read(void *data)
{
    redis_uv *r = data;
    r->want_read = 1;
    update_poll(r);
}

static void del_read(void *data)
{
    redis_uv *r = data;
    r->want_read = 0;
    update_poll(r);
}

static void add_write(void *data)
{
    redis_uv *r = data;
    r->want_write = 1;
    if (!r->write_stuck)
        uv_prepare_start(&r->flush, on_flush);
}

static void del_write(void *data)
{
    redis_uv *r = data;
    r->want_write = 0;
    r->write_stuck = 0;
    update_poll(r);
}

static void on_closed(uv_handle_t *h)
{
    redis_uv *r = h->data;
    if (--r->open_handles == 0)
        wxs__free(r);
}

static void cleanup(void *data)
{
    redis_uv *r = data;
    r->ac = NULL;
    uv_close((uv_handle_t *)&r->poll, on_closed);
    uv_close((uv_handle_t *)&r->flush, on_closed);
}

int wxs__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL)
        return REDIS_ERR;
    redis_uv *r = wxs__calloc(1, sizeof *r);
    if (r == NULL)
        return REDIS_ERR;
    if (uv_poll_init(loop, &r->poll, ac->c.fd) != 0) {
        wxs__free(r);
        return REDIS_ERR;
    }
    uv_prepare_init(loop, &r->flush);
    r->poll.data = r;
    r->flush.data = r;
    r->open_handles = 2;
    r->ac = ac;
    ac->ev.data = r;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return REDIS_OK;
}

int wxs__redis_uv_connect_failed(const redisAsyncContext *ac)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (ac->c.fd < 0 || getsockopt(ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return 0;
    return err != 0;
}
