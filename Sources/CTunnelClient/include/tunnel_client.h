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

/// The process group of the transport started last (0: none), for the signal handler that
/// ends it with tunnel: an atomic, as several threads may start transports at once.
void tc_watch_transport_group(int group);
/// Forgets `group` if it is still the one watched.
void tc_forget_transport_group(int group);
/// The group watched, or 0.
int tc_watched_transport_group(void);

#endif
