/* redis_sentinel.h: finding the Redis primary through Sentinel, on a libuv loop: ask the
 * Sentinels in turn (SENTINEL get-master-addr-by-name) and follow +switch-master on a subscribed
 * connection to one of them. The parsers of the replies involved are pure, for unit tests. */
#ifndef WXS_REDIS_SENTINEL_H
#define WXS_REDIS_SENTINEL_H

#include "internal.h"
#include "redis_addr.h"

#include <uv.h>

struct redisReply; /* hiredis */

/** The reply to SENTINEL get-master-addr-by-name: a two-element array (host, port) -> 0 and
 *  *out; a nil (the Sentinel does not know the name), an error or any other shape -> -1. */
int wxs__sentinel_parse_master(const struct redisReply *r, wxs__redis_addr *out);

/** A message on the +switch-master channel (["message", "+switch-master", "<name> <old-host>
 *  <old-port> <new-host> <new-port>"]): 0 and *out (the new primary) when it is about
 *  master_name; 1 for any other message of the subscription (the subscribe confirmation, another
 *  master's switch); -1 when malformed. */
int wxs__sentinel_parse_switch(const struct redisReply *r, const char *master_name,
                               wxs__redis_addr *out);

/** The reply to ROLE: 1 when its first element is "master", 0 for another role ("slave",
 *  "sentinel"), -1 for an error reply or any other shape. */
int wxs__redis_role_is_master(const struct redisReply *r);

typedef struct wxs__sentinel wxs__sentinel;

/** The outcome of wxs__sentinel_discover: status 0 and the primary's address (borrowed for the
 *  callback), or WXS_ESTORE (no Sentinel answered with an address) and NULL. */
typedef void (*wxs__sentinel_found_cb)(void *arg, int status, const wxs__redis_addr *primary);

/** A Sentinel announced a new primary (+switch-master for our master), or primary is NULL: the
 *  subscription was re-established after a loss, so a switch may have been missed. */
typedef void (*wxs__sentinel_switch_cb)(void *arg, const wxs__redis_addr *primary);

/** Settings of a wxs__sentinel; strings are copied by wxs__sentinel_new. */
typedef struct wxs__sentinel_options {
    const char *sentinels;   /* the redis.sentinels list (lib/redis_addr.h), at least one entry */
    const char *master_name; /* non-empty */
    const char *password;    /* AUTH to each Sentinel when non-empty; never logged */
    uint64_t timeout_ms;     /* connect and reply timeout per Sentinel */
    wxs__sentinel_switch_cb on_switch;
    void *arg; /* for on_switch and wxs__sentinel_close's closed */
} wxs__sentinel_options;

/** A Sentinel client on loop; starts the +switch-master subscription at once (to the first
 *  Sentinel that accepts it, moving to the next when it drops). 0, WXS_EINVAL (a bad list or
 *  name), WXS_ENOMEM. */
int wxs__sentinel_new(wxs__sentinel **out, uv_loop_t *loop, const wxs__sentinel_options *opt);

/** Ask the Sentinels in turn, starting with the one that last answered, for the primary's
 *  address; cb is called once, later on the loop (never before this returns). One discovery at
 *  a time: WXS_EINVAL while one is in progress; WXS_ECANCELED once closing. */
int wxs__sentinel_discover(wxs__sentinel *s, wxs__sentinel_found_cb cb, void *arg);

/** Start closing: no callback of s runs after this (a discovery in progress is dropped without
 *  its callback); closed(opt->arg) runs on the loop once s's handles are closed and its memory
 *  released. NULL: no-op. */
void wxs__sentinel_close(wxs__sentinel *s, void (*closed)(void *arg));

#endif /* WXS_REDIS_SENTINEL_H */
