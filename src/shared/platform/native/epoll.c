/* Edge-triggered readiness for many fds through one epoll instance, which the JS side watches with a
 * single libuv poll handle. Edge-triggered matters: a socket whose bytes were only peeked stays readable,
 * and a level-triggered watch would spin on it until someone consumes them. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "holdfast.h"

int hf_epoll_create(void) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return fd == -1 ? -errno : fd;
}

int hf_epoll_add(int epfd, int fd, uint32_t id) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = id};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) return -errno;
  return 0;
}

/* Must run before the fd is closed: another process holding the same socket keeps the registration alive. */
int hf_epoll_del(int epfd, int fd) {
  if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == -1) return -errno;
  return 0;
}

/* Never blocks. Fills out[2*i] = id, out[2*i+1] = HF_POLL_* bits; returns how many. */
int hf_epoll_take(int epfd, int32_t *out, int max) {
  struct epoll_event events[256];
  if (max > 256) max = 256;
  int n;
  do n = epoll_wait(epfd, events, max, 0);
  while (n == -1 && errno == EINTR);
  if (n == -1) return -errno;
  for (int i = 0; i < n; i++) {
    uint32_t e = events[i].events;
    out[2 * i] = (int32_t)events[i].data.u64;
    out[2 * i + 1] = ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? HF_POLL_READABLE : 0) | ((e & (EPOLLRDHUP | EPOLLHUP)) ? HF_POLL_DISCONNECT : 0);
  }
  return n;
}
