/* limiter.h: the login limiter: a token bucket per client address, one table for the whole
 * process (every worker thread), of bounded size.
 *
 * Each client address has a bucket of `burst` tokens that refills at `per_minute` tokens a
 * minute; a login takes one token, and a login finding the bucket empty is refused. Addresses
 * are keyed as 16 bytes: IPv4 as its IPv4-mapped IPv6 form, IPv6 by its /64 prefix (one host
 * usually holds a whole /64, so a client cannot mint fresh addresses in it). The table holds at
 * most `max_entries` addresses; past that, the one used least recently is forgotten (it comes
 * back with a full bucket), so memory is bounded whatever the number of clients.
 *
 * One table with a mutex rather than one per worker: the kernel spreads one client's
 * connections over the workers (SO_REUSEPORT hashes each connection), so per-worker tables would
 * give a client up to workers x burst, and dividing the rate by the workers would refuse clients
 * whose connections happen to meet on one worker. The lock is held for one hash lookup, only on
 * logins (each of which costs a WeChat call anyway). */
#ifndef WXS_LIMITER_H
#define WXS_LIMITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMITER_KEY_BYTES 16
#define LIMITER_DEFAULT_ENTRIES 65536

typedef struct limiter limiter;

/** A new limiter: per_minute tokens a minute into buckets of burst tokens (both >= 1), at most
 *  max_entries addresses (>= 1). The table is allocated whole here (about 52 bytes an entry:
 *  3.3 MiB for 65,536). Returns NULL when out of memory or for a bad argument. */
limiter *limiter_new(double per_minute, double burst, uint32_t max_entries);

/** Free l; NULL is a no-op. No thread may be in limiter_take. */
void limiter_free(limiter *l);

/** Take one token from key's bucket at now_ns (a monotonic clock in nanoseconds, e.g.
 *  uv_hrtime()). Returns 1 when taken (allowed), 0 when the bucket is empty (refused); then
 *  *retry_after_s (may be NULL) is the whole seconds until a token is back, at least 1.
 *  Thread-safe. */
int limiter_take(limiter *l, const unsigned char key[LIMITER_KEY_BYTES], uint64_t now_ns,
                 unsigned *retry_after_s);

/** key from a socket address (AF_INET or AF_INET6). Returns 0, or -1 for another family. */
int limiter_key_from_sockaddr(const struct sockaddr *sa, unsigned char key[LIMITER_KEY_BYTES]);

/** key from X-Forwarded-For's last entry (value, len: the header's value): the entry a proxy
 *  such as nginx (proxy_add_x_forwarded_for) appended, the address it saw. The entry must be a
 *  plain IPv4 or IPv6 address (spaces around it allowed). Returns 0, or -1 when the value is
 *  empty or its last entry is not an address (the caller then uses the peer's). Pure. */
int limiter_key_from_forwarded(const char *value, size_t len, unsigned char key[LIMITER_KEY_BYTES]);
/** X-Forwarded-For's last entry, as limiter_key_from_forwarded takes it, as text into text
 *  (INET6_ADDRSTRLEN bytes). Returns 0, or -1 as limiter_key_from_forwarded does. Pure. */
int limiter_forwarded_text(const char *value, size_t len, char *text);

#endif /* WXS_LIMITER_H */
