/* redis_cluster.h: a small Redis Cluster client on hiredis 0.14's async API: key slots (CRC16
 * with hash tags), the slot map from CLUSTER SLOTS, one connection per primary on one loop,
 * commands routed by slot with MOVED, ASK, TRYAGAIN and CLUSTERDOWN followed.
 *
 * The pure pieces (slot, map parsing, the redirection state machine; lib/redis_cluster_slots.c;
 * the seed list is parsed by lib/redis_addr.h) take bytes or a parsed reply and do no I/O, so unit
 * tests drive them without sockets; the client is lib/redis_cluster.c. */
#ifndef WXS_REDIS_CLUSTER_H
#define WXS_REDIS_CLUSTER_H

#include "internal.h"
#include "redis_addr.h"
#include "redis_resp.h"

#include <stdint.h>
#include <uv.h>

struct redisReply; /* hiredis: only the client's source includes it */

#define WXS__CLUSTER_SLOTS 16384
#define WXS__CLUSTER_MAX_PRIMARIES 64
#define WXS__CLUSTER_MAX_REDIRECTS 5 /* MOVED / ASK hops of one command */
#define WXS__CLUSTER_RETRY_MS 50     /* wait before resending after TRYAGAIN / CLUSTERDOWN */

/* ---- pure pieces */

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as the Redis Cluster spec. */
uint16_t wxs__cluster_crc16(const char *p, size_t n);

/** The hash slot of a key (0..16383) as the spec defines it: when the key holds a '{' followed
 *  later by a '}' with at least one byte between the first '{' and the first '}' after it, only
 *  those bytes are hashed; otherwise the whole key is. */
unsigned wxs__cluster_key_slot(const char *key, size_t n);

/** The slot map: the primaries, and for each slot the index + 1 of its primary (0: no owner). */
typedef struct wxs__cluster_map {
    wxs__redis_addr primaries[WXS__CLUSTER_MAX_PRIMARIES];
    size_t nprimaries;
    uint8_t owner[WXS__CLUSTER_SLOTS];
} wxs__cluster_map;

/** Fill m from a CLUSTER SLOTS reply r (an array of [start, end, [host, port, id...],
 *  replicas...]): the first node of each range is its primary. A primary given with an empty
 *  host or "?" (an unknown endpoint) is taken to live on asked_host, the node that answered.
 *  0, or -1 for a reply of another shape, a slot out of range, or more than
 *  WXS__CLUSTER_MAX_PRIMARIES primaries (m then holds nothing usable). */
int wxs__cluster_map_parse(wxs__cluster_map *m, const struct redisReply *r, const char *asked_host);

/** Index of addr among m's primaries, adding it when absent: -1 when the table is full. */
int wxs__cluster_map_node(wxs__cluster_map *m, const char *host, int port);

/** What to do with a command's reply (the redirection state machine). */
typedef enum wxs__cluster_action {
    WXS__CLUSTER_DONE,  /* the reply is the command's answer (an error reply included) */
    WXS__CLUSTER_MOVED, /* the slot lives on `to` now: note it in the map, refresh the map, resend
                           there */
    WXS__CLUSTER_ASK,   /* resend once to `to`, preceded by ASKING; the map stays */
    WXS__CLUSTER_RETRY, /* TRYAGAIN / CLUSTERDOWN: resend to the same slot after
                           WXS__CLUSTER_RETRY_MS */
    WXS__CLUSTER_FAIL,  /* give up with WXS_ESTORE: the connection was lost (reply NULL; the map
                           is refreshed), too many redirections, no time left for a retry, a
                           redirection that does not parse */
} wxs__cluster_action;

/** One command's progress through redirections. */
typedef struct wxs__cluster_attempt {
    uint64_t deadline_ms; /* first send + the command timeout: no retry is started past it */
    int redirects;        /* MOVED and ASK replies followed so far */
} wxs__cluster_attempt;

/** Where a MOVED or ASK reply sends the command. host is empty when the reply named none (the
 *  node that answered is meant). */
typedef struct wxs__cluster_redirect {
    unsigned slot;
    wxs__redis_addr to;
} wxs__cluster_redirect;

/** The next step for a command given its reply r (NULL: the connection was lost) at now_ms;
 *  counts the redirection in a and fills to for MOVED and ASK. Pure. */
wxs__cluster_action wxs__cluster_next(wxs__cluster_attempt *a, const struct redisReply *r,
                                      uint64_t now_ms, wxs__cluster_redirect *to);

/* ---- the client */

typedef struct wxs__cluster wxs__cluster;

/** What a command's reply was, flattened (the store's commands answer with one of these):
 *  type is hiredis's REDIS_REPLY_STRING, _STATUS, _INTEGER or _NIL; str is borrowed for the
 *  duration of the callback. */
typedef struct wxs__cluster_reply {
    int type;
    long long integer;
    const char *str;
    size_t len;
} wxs__cluster_reply;

/** A command's answer: status 0 with r, or WXS_ESTORE (the cluster did not answer usefully: an
 *  error reply, which is logged by its error name, a lost connection, a timeout, a WAIT that
 *  found too few replicas; the outcome of a write is then unknown) or WXS_ECANCELED (closed)
 *  with r NULL. */
typedef void (*wxs__cluster_cb)(void *arg, int status, const wxs__cluster_reply *r);

typedef struct wxs__cluster_opts {
    const char *seeds;        /* redis.cluster: a host:port list (lib/redis_addr.h) */
    const char *password;     /* AUTH on every connection when non-empty */
    uint64_t timeout_ms;      /* connect and command timeout, retries included */
    long long wait_replicas;  /* > 0: WXS__CLUSTER_WRITE commands wait for this many */
    uint64_t wait_timeout_ms; /* WAIT's own timeout */
} wxs__cluster_opts;

/** Open a client on loop and start loading the slot map from the seeds (in turn). 0 (the
 *  cluster may come up later: commands fail with WXS_ESTORE until their slot's primary is
 *  connected), WXS_ECONFIG with a reason in err (a bad or empty seed list), WXS_ENOMEM. */
int wxs__cluster_open(wxs__cluster **out, uv_loop_t *loop, const wxs__cluster_opts *opts, char *err,
                      size_t errlen);

/** Start closing: commands in flight end with WXS_ECANCELED once the handles have closed, then
 *  closed(arg) runs (never before this returns) and the client is freed. NULL: no-op. */
void wxs__cluster_close(wxs__cluster *cl, void (*closed)(void *arg), void *arg);

/** 1 when the map is loaded and every primary in it is connected (and authenticated). */
int wxs__cluster_ready(const wxs__cluster *cl);

#define WXS__CLUSTER_WRITE 1 /* a write: followed by WAIT when wait_replicas > 0 */

/** Send argv (argc arguments; name says what it is in logs, e.g. "GET") to the primary of slot
 *  and call cb once with its answer, on the loop, never before this returns. The command is
 *  copied. With WXS__CLUSTER_WRITE and wait_replicas > 0 it is acknowledged only after
 *  `WAIT wait_replicas wait_timeout_ms`, on the same connection, counts that many replicas.
 *  Returns 0, or WXS_ENOMEM / WXS_ETOOBIG (over 4 MiB encoded) / WXS_ECANCELED (closing)
 *  without calling cb. */
int wxs__cluster_command(wxs__cluster *cl, unsigned slot, int flags, const char *name, int argc,
                         const wxs__resp_arg *argv, wxs__cluster_cb cb, void *arg);

#endif /* WXS_REDIS_CLUSTER_H */
