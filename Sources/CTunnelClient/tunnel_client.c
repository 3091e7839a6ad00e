#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include "tunnel_client.h"

int tc_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int tc_ppoll(struct pollfd *fds, unsigned long count, const sigset_t *mask) {
    return ppoll(fds, (nfds_t)count, NULL, mask);
}
