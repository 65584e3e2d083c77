/* redis_uv.h: hiredis's async context on a libuv loop, without the per-command epoll_ctl calls
 * of the adapter hiredis ships (adapters/libuv.h restarts its poll handle for every command,
 * and libuv turns each restart into an EPOLL_CTL_DEL and an EPOLL_CTL_ADD).
 *
 * Writes: commands queued during one loop iteration are written together right before the loop
 * waits for I/O (a uv_prepare handle), with no poll for writability unless the socket's buffer
 * is full. Reads: the socket stays polled for readability while hiredis wants replies. */
#ifndef WXS_REDIS_UV_H
#define WXS_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/** Attach ac (connecting or connected) to loop. REDIS_OK or REDIS_ERR (out of memory, or a
 *  descriptor libuv refuses); on REDIS_ERR nothing is attached and the caller frees ac. */
int wxs__redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

/** 1 when ac's connect, still in progress for hiredis, has already failed on the socket (e.g.
 *  ECONNREFUSED while Redis restarts), else 0. The adapter hands the poll error that reports it
 *  to hiredis at once; callers check this on their timeout tick as the fallback, so a refused
 *  connect never waits for the connect timeout. */
int wxs__redis_uv_connect_failed(const redisAsyncContext *ac);

#endif /* WXS_REDIS_UV_H */
