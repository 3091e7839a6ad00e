#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include "tunnel_client.h"

int tc_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int tc_ppoll(struct pollfd *fds, unsigned long count, const sigset_t *mask) {
    return ppoll(fds, (nfds_t)count, NULL, mask);
}

// Lock-free, so a signal handler may read it; connections opened from several threads at
// once each store theirs (the last one wins, as documented for TransportReaper).
static _Atomic int watched_transport_group = 0;

void tc_watch_transport_group(int group) { atomic_store(&watched_transport_group, group); }

void tc_forget_transport_group(int group) {
    int expected = group;
    atomic_compare_exchange_strong(&watched_transport_group, &expected, 0);
}

int tc_watched_transport_group(void) { return atomic_load(&watched_transport_group); }
