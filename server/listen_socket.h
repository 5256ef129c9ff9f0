/* listen_socket.h - the listening socket: bound once by the supervisor,
 * before any worker exists, and shared by every worker (each accepts from
 * it), so a connection queued in the kernel survives a worker's death and
 * no connection waits for a worker that is down. */
#ifndef PH_LISTEN_SOCKET_H
#define PH_LISTEN_SOCKET_H

#include <stddef.h>
#include <stdint.h>

/* Bind and listen on host:port (non-blocking, SO_REUSEADDR, not
 * close-on-exec: workers inherit it). Returns the fd, or -1 with the
 * reason in err. */
int ph_listen_bind(const char *host, uint16_t port, char *err, size_t errlen);

/* "127.0.0.1:8080" or "[::1]:8080" for the bound socket `fd` into out;
 * returns out. */
const char *ph_listen_describe(int fd, char *out, size_t outlen);

/* True when `fd` is a listening stream socket (an inherited fd is
 * checked before it is trusted). */
int ph_listen_is_listening(int fd);

#endif
