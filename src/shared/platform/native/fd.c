/* Descriptor flags and lifetime: close-on-exec, non-blocking, dup, close. Never opens anything new
 * except the close-on-exec duplicate. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "holdfast.h"

int hf_set_cloexec(int fd, int on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1) return -errno;
  int wanted = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (wanted != flags && fcntl(fd, F_SETFD, wanted) == -1) return -errno;
  return 0;
}

int hf_get_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1) return -errno;
  return (flags & FD_CLOEXEC) ? 1 : 0;
}

/* O_NONBLOCK lives on the open file description: every holder of a dup sees the change. */
int hf_set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return -errno;
  int wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) == -1) return -errno;
  return 0;
}

/* Minimum 3 so a duplicate can never land on stdio that happens to be closed. */
int hf_dup_cloexec(int fd) {
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return r == -1 ? -errno : r;
}

/* Linux releases the fd even when close() reports EINTR; retrying could close a reused number. */
int hf_close(int fd) {
  if (close(fd) == -1 && errno != EINTR) return -errno;
  return 0;
}
