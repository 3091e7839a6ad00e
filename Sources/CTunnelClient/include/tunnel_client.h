// The few C library calls the client needs that Swift's Glibc module does not import
// (they need _GNU_SOURCE). Only Sources/TunnelClient/SystemCalls.swift calls them.
#ifndef TUNNEL_CLIENT_H
#define TUNNEL_CLIENT_H
#include <poll.h>
#include <signal.h>

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start, so a transport started
/// by another thread at the same moment cannot inherit them.
int tc_pipe_cloexec(int fds[2]);

/// ppoll without a time limit, with `mask` as the signal mask while it waits: signals
/// blocked until then can only arrive while it waits, never just before.
int tc_ppoll(struct pollfd *fds, unsigned long count, const sigset_t *mask);

#endif
