/* notify.c: systemd's sd_notify protocol spoken directly: READY=1, RELOADING=1, STOPPING=1.
 *
 * Why not libsystemd's sd_notify(): the protocol is one datagram of text on an AF_UNIX socket
 * whose path is in $NOTIFY_SOCKET (an abstract name when it starts with '@'), documented as a
 * stable interface (sd_notify(3), "Protocol" in systemd's docs). Speaking it is these few lines
 * with no dependency, so the server builds and runs where libsystemd is absent (other init
 * systems, containers, a developer's build tree) and nothing more has to be linked or packaged. */
#include "notify.h"

#include "wxsession.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MESSAGE 1024

static int failed_once; /* a failure is logged once: a later one says nothing new */

static void log_failure(wxs_log_level level, const char *what, int err)
{
    if (failed_once)
        return;
    failed_once = 1;
    wxs_log(level, "NOTIFY_SOCKET: %s: %s (the service manager is not told)", what, strerror(err));
}

/* Fill addr from $NOTIFY_SOCKET's value: a path ("/run/systemd/notify") or an abstract name
 * ("@name": a leading NUL instead of the '@'). Returns the address length, or 0 when the value
 * is no such name. */
static socklen_t notify_address(const char *name, struct sockaddr_un *addr)
{
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof addr->sun_path)
        return 0;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, name, len);
    if (name[0] == '@') {
        addr->sun_path[0] = '\0';
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)sizeof *addr;
}

void notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr;
    int fd = -1;
    if (name == NULL || name[0] == '\0')
        goto out;
    socklen_t addrlen = notify_address(name, &addr);
    if (addrlen == 0) {
        log_failure(WXS_LOG_WARN, "not a socket path or @name", EINVAL);
        goto out;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_failure(WXS_LOG_DEBUG, "socket", errno);
        goto out;
    }
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
               addrlen) < 0)
        log_failure(WXS_LOG_WARN, "send", errno);
out:
    if (fd >= 0)
        close(fd);
}

void notify_sendf(const char *fmt, ...)
{
    char message[MAX_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    notify_send(message);
}
