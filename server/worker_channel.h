/* worker_channel.h - the control channel between the supervisor and one
 * worker: a SOCK_SEQPACKET socketpair carrying fixed-size messages, some
 * with a file descriptor (SCM_RIGHTS). When the supervisor dies the worker
 * reads end-of-file and drains; when a worker dies the supervisor does.
 *
 * Reload is two-phase so that all workers switch or none does:
 *   supervisor → MAP(plugin map fd), PREPARE(n, config fd)
 *                                        each worker builds generation n
 *   worker     → PREPARED(n, ok, reason)
 *   supervisor → COMMIT(n) when every worker prepared it, else ABORT(n)
 *   worker     → COMMITTED(n)
 * A new worker says READY(n) once generation n is loaded and accepts no
 * connection until the supervisor answers GO (never, if n was replaced
 * meanwhile: it is retired instead); RECYCLE(reason) when it wants to be
 * replaced (max_requests, stuck threads, RSS). */
#ifndef PH_WORKER_CHANNEL_H
#define PH_WORKER_CHANNEL_H

#include <stdint.h>

typedef enum ph_ctl_type {
    PH_CTL_READY = 1,
    PH_CTL_PREPARE,
    PH_CTL_PREPARED,
    PH_CTL_COMMIT,
    PH_CTL_COMMITTED,
    PH_CTL_ABORT,
    PH_CTL_RECYCLE,
    PH_CTL_MAP,           /* supervisor → worker: the plugin map (fd) for the next PREPARE */
    PH_CTL_GO,            /* supervisor → worker: start accepting connections */
} ph_ctl_type;

typedef struct ph_ctl_msg {
    uint32_t type;        /* ph_ctl_type */
    int32_t ok;           /* PREPARED: 1 prepared, 0 refused */
    uint64_t generation;
    char text[1536];      /* PREPARED refusal or RECYCLE reason */
} ph_ctl_msg;

/* Create the pair, both ends non-blocking and close-on-exec: sv[0] for
 * the supervisor, sv[1] for the worker (the child clears its
 * close-on-exec flag before exec). Returns 0 or -1 (errno set). */
int ph_ctl_pair(int sv[2]);

/* Send `msg` with `fd` attached (-1 for none). Non-blocking socket
 * buffers hold many messages; returns 0, or -1 when the peer is gone or
 * the buffer is full (errno set). Any thread owning the fd. */
int ph_ctl_send(int sock, const ph_ctl_msg *msg, int fd);

/* Send a message of `type` with `generation`, `ok` and printf text. */
int ph_ctl_sendf(int sock, ph_ctl_type type, uint64_t generation, int ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Receive one message; an attached fd goes to *fd (else -1). Returns 1
 * for a message, 0 at end-of-file (the peer closed or died), -1 when
 * nothing is there yet (EAGAIN) or on error (errno set). */
int ph_ctl_recv(int sock, ph_ctl_msg *msg, int *fd);

#endif
