/* The reply relay's kernel calls: peek offsets on stream sockets, pipes, splice, queue sizes. A worker
 * reads requests with MSG_PEEK at a moving peek offset (the supervisor consumes them later) and moves each
 * reply from a pipe into the client socket with splice, so the pipe always shows what was not yet sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "holdfast.h"

int hf_set_peek_off(int fd, int offset) {
  if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &offset, sizeof(offset)) == -1) return -errno;
  return 0;
}

/* Non-blocking, close-on-exec; asks for `size` bytes of capacity and returns what the kernel granted. */
int hf_pipe(int out[2], int size) {
  if (pipe2(out, O_NONBLOCK | O_CLOEXEC) == -1) return -errno;
  if (size > 0) (void)fcntl(out[0], F_SETPIPE_SZ, size); /* above the per-user limit the default stays */
  int capacity = fcntl(out[0], F_GETPIPE_SZ);
  if (capacity == -1) {
    int err = errno;
    close(out[0]);
    close(out[1]);
    return -err;
  }
  return capacity;
}

ssize_t hf_splice(int from, int to, size_t len) {
  ssize_t n;
  do n = splice(from, NULL, to, NULL, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

ssize_t hf_read(int fd, void *buf, size_t len) {
  ssize_t n;
  do n = read(fd, buf, len);
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

ssize_t hf_write(int fd, const void *buf, size_t len) {
  ssize_t n;
  do n = write(fd, buf, len);
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

/* Bytes waiting to be read (SIOCINQ, also FIONREAD on pipes) or, for a socket, still unread by the peer
 * (SIOCOUTQ; for unix sockets this counts buffer memory, not payload bytes). */
int hf_queued(int fd, int outgoing) {
  int n = 0;
  if (ioctl(fd, outgoing ? SIOCOUTQ : SIOCINQ, &n) == -1) return -errno;
  return n;
}

static int hf_send_buffer_size(int fd) {
  int size = 0;
  socklen_t len = sizeof(size);
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) == -1) return -errno;
  return size;
}

/* Raises SO_SNDBUF to `bytes`: beyond net.core.wmem_max when privileged (SO_SNDBUFFORCE), else up to it.
 * Returns the size now in effect. */
int hf_grow_send_buffer(int fd, int bytes) {
  int current = hf_send_buffer_size(fd);
  if (current < 0 || current >= bytes) return current;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) == -1) {
    if (errno != EPERM) return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) == -1) return -errno;
  }
  return hf_send_buffer_size(fd);
}
