/* notify.h: tell the service manager (systemd, Type=notify) what wxsessiond is doing. */
#ifndef WXS_SERVER_NOTIFY_H
#define WXS_SERVER_NOTIFY_H

/**
 * Send one sd_notify message (newline-separated VAR=value assignments, e.g. "READY=1\nSTATUS=up")
 * to the socket named by $NOTIFY_SOCKET. A no-op when the variable is unset or empty. Never
 * blocks and never fails the caller: a send that does not go through is logged once (debug for
 * the first failure, warn when the variable names no usable socket) and otherwise ignored.
 * Call from one thread at a time (wxsessiond: the main thread).
 */
void notify_send(const char *state);

/** notify_send() with a printf format; the message is cut at 1024 bytes. */
void notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
