/* http_setup.c: what an HTTP server starts from (contract in http_conn.h and http.h): its
 * listening socket (the address, the taken-port probe, SO_REUSEPORT) and its limits with their
 * defaults. Sockets only: no connection, no loop. */
#include "http_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_HEADER_BYTES 16384
#define DEFAULT_BODY_BYTES 1048576
#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_BODY_TIMEOUT_MS 30000
#define DEFAULT_QUEUED_BYTES ((size_t)64 << 20)
#define DEFAULT_STOP_GRACE_MS 10000

/* host:port as a socket address and its length; UV_EINVAL for a host that is no IP address. */
static int socket_address(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) != 0)
        return UV_EINVAL;
    *len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    return 0;
}

int http_listen_probe(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    int fd;
    int rc = socket_address(host, port, &ss, &len);

    if (rc < 0 || port == 0)
        return rc;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int http__listen_socket(const char *host, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    int fd;
    int rc = socket_address(host, port, &ss, &len);

    if (rc < 0)
        return rc;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (ss.ss_family == AF_INET)
        *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
        *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return 0;
}

void http__limits_with_defaults(http_limits *out, const http_limits *in)
{
    http_limits zero = {0};

    *out = in != NULL ? *in : zero;
    if (out->header_bytes == 0)
        out->header_bytes = DEFAULT_HEADER_BYTES;
    if (out->body_bytes == 0)
        out->body_bytes = DEFAULT_BODY_BYTES;
    if (out->max_connections == 0)
        out->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (out->header_timeout_ms == 0)
        out->header_timeout_ms = DEFAULT_HEADER_TIMEOUT_MS;
    if (out->idle_timeout_ms == 0)
        out->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
    if (out->body_timeout_ms == 0)
        out->body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
    if (out->queued_bytes == 0)
        out->queued_bytes = DEFAULT_QUEUED_BYTES;
    if (out->stop_grace_ms == 0)
        out->stop_grace_ms = DEFAULT_STOP_GRACE_MS;
}
