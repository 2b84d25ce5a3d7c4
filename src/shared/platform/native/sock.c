/* Unix sockets: listen, accept, peer credentials, plain recv/send, socketpair and the one-shot notify
 * datagram. Everything created here is close-on-exec; nothing here unlinks or chmods a path. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "holdfast.h"

/* A leading '@' means the abstract namespace: the kernel wants a leading NUL and the exact length,
 * without a terminating NUL (this is how systemd spells NOTIFY_SOCKET). */
static int unix_address(const char *address, size_t address_len, struct sockaddr_un *out, socklen_t *out_len) {
  memset(out, 0, sizeof(*out));
  out->sun_family = AF_UNIX;
  if (address_len == 0) return -EINVAL;
  if (address[0] == '@') {
    if (address_len > sizeof(out->sun_path)) return -ENAMETOOLONG;
    memcpy(out->sun_path + 1, address + 1, address_len - 1);
    *out_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + address_len);
  } else {
    if (address_len >= sizeof(out->sun_path)) return -ENAMETOOLONG;
    memcpy(out->sun_path, address, address_len);
    *out_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + address_len + 1);
  }
  return 0;
}

/* Closes fd keeping the errno that made us give up on it. */
static int fail_and_close(int fd, int err) {
  close(fd);
  return err;
}

int hf_peer_cred(int fd, hf_cred *out) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) return -errno;
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return 0;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* A pidfd for the process that connected (Linux 6.5+): the peer itself, taken from the socket, so it can
 * never name a later process that reuses the peer's pid. Close-on-exec, as pidfds always are. */
int hf_peer_pidfd(int fd) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == -1) return -errno;
  return pidfd;
}

static int bound_socket(int type, const char *address, size_t address_len, const char **failed_syscall) {
  struct sockaddr_un addr;
  socklen_t addr_len;
  int r = unix_address(address, address_len, &addr, &addr_len);
  if (r < 0) {
    *failed_syscall = "bind";
    return r;
  }
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    *failed_syscall = "socket";
    return -errno;
  }
  if (bind(fd, (struct sockaddr *)&addr, addr_len) == -1) {
    *failed_syscall = "bind";
    return fail_and_close(fd, -errno);
  }
  return fd;
}

int hf_listen_unix(const char *address, size_t address_len, int backlog, const char **failed_syscall) {
  int fd = bound_socket(SOCK_STREAM, address, address_len, failed_syscall);
  if (fd < 0) return fd;
  if (listen(fd, backlog) == -1) {
    *failed_syscall = "listen";
    return fail_and_close(fd, -errno);
  }
  return fd;
}

int hf_bind_unix_dgram(const char *address, size_t address_len, const char **failed_syscall) {
  return bound_socket(SOCK_DGRAM, address, address_len, failed_syscall);
}

int hf_accept(int listen_fd) {
  int fd;
  do fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd == -1 && errno == EINTR);
  return fd == -1 ? -errno : fd;
}

ssize_t hf_recv(int fd, void *buf, size_t len, int peek) {
  ssize_t n;
  do n = recv(fd, buf, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

ssize_t hf_send(int fd, const void *buf, size_t len) {
  ssize_t n;
  do n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

int hf_socketpair_seqpacket(int out[2]) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, out) == -1) return -errno;
  return 0;
}

/* sd_notify's transport: a fresh unbound datagram socket per message. The receiver (systemd) turns on
 * SO_PASSCRED itself, so our credentials travel without asking. MSG_DONTWAIT: a stuck receiver must not
 * stall the caller; a full queue surfaces as -EAGAIN. */
int hf_notify_send(const char *address, size_t address_len, const void *data, size_t len, const int *fds,
                   size_t nfds, const char **failed_syscall) {
  struct sockaddr_un addr;
  socklen_t addr_len;
  int r = unix_address(address, address_len, &addr, &addr_len);
  if (r < 0) {
    *failed_syscall = "sendmsg";
    return r;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    *failed_syscall = "socket";
    return -errno;
  }
  ssize_t n = hf_send_fds_to(fd, &addr, addr_len, data, len, fds, nfds);
  close(fd);
  if (n < 0) {
    *failed_syscall = "sendmsg";
    return (int)n;
  }
  return 0;
}
