/* SCM_RIGHTS: send and receive bytes with attached fds. Received fds are close-on-exec
 * (MSG_CMSG_CLOEXEC) and never leak: a truncated message closes whatever fds came with it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "holdfast.h"

/* Room for the largest control message either side may see. */
#define FDS_CMSG_SPACE CMSG_SPACE(sizeof(int) * HF_MAX_FDS)

ssize_t hf_send_fds_to(int fd, const struct sockaddr_un *to, socklen_t to_len, const void *data, size_t len,
                       const int *fds, size_t nfds) {
  if (nfds > HF_MAX_FDS) return -EINVAL;
  union {
    char buf[FDS_CMSG_SPACE];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr msg = {
      .msg_name = (void *)to,
      .msg_namelen = to ? to_len : 0,
      .msg_iov = &iov,
      .msg_iovlen = 1,
  };
  if (nfds > 0) {
    memset(control.buf, 0, sizeof(control.buf));
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n == -1 && errno == EINTR);
  return n == -1 ? -errno : n;
}

ssize_t hf_send_fds(int fd, const void *data, size_t len, const int *fds, size_t nfds) {
  return hf_send_fds_to(fd, NULL, 0, data, len, fds, nfds);
}

ssize_t hf_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds, int *truncated) {
  union {
    char buf[FDS_CMSG_SPACE];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr msg = {
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control.buf,
      .msg_controllen = sizeof(control.buf),
  };
  *nfds = 0;
  *truncated = 0;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n == -1 && errno == EINTR);
  if (n == -1) return -errno;

  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    /* memcpy: CMSG_DATA need not be int-aligned for the compiler's liking. */
    for (size_t i = 0; i < count && *nfds < HF_MAX_FDS; i++)
      memcpy(&fds[(*nfds)++], CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
  }

  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    *truncated = 1;
    for (size_t i = 0; i < *nfds; i++) close(fds[i]);
    *nfds = 0;
  }
  return n;
}

int hf_recv_many_fds(int fd, uint8_t *buf, size_t slot, size_t count, int *fds, size_t *lens, size_t *nfds,
                     int *truncated) {
  if (count == 0 || count > HF_RECV_MANY_MAX) return -EINVAL;
  union {
    char buf[FDS_CMSG_SPACE];
    struct cmsghdr align;
  } control[HF_RECV_MANY_MAX];
  struct iovec iov[HF_RECV_MANY_MAX];
  struct mmsghdr msgs[HF_RECV_MANY_MAX];
  memset(msgs, 0, sizeof(msgs[0]) * count);
  for (size_t m = 0; m < count; m++) {
    iov[m] = (struct iovec){.iov_base = buf + m * slot, .iov_len = slot};
    msgs[m].msg_hdr.msg_iov = &iov[m];
    msgs[m].msg_hdr.msg_iovlen = 1;
    msgs[m].msg_hdr.msg_control = control[m].buf;
    msgs[m].msg_hdr.msg_controllen = sizeof(control[m].buf);
  }
  int got;
  do got = recvmmsg(fd, msgs, (unsigned int)count, MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL);
  while (got == -1 && errno == EINTR);
  if (got == -1) return -errno;

  /* Message m's fds go to fds + m * HF_MAX_FDS, so one message's fds never crowd out another's. */
  for (int m = 0; m < got; m++) {
    struct msghdr *msg = &msgs[m].msg_hdr;
    int *own = fds + (size_t)m * HF_MAX_FDS;
    size_t n = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL; cmsg = CMSG_NXTHDR(msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k && n < HF_MAX_FDS; i++) memcpy(&own[n++], CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
    }
    lens[m] = msgs[m].msg_len;
    truncated[m] = (msg->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    if (truncated[m]) {
      for (size_t i = 0; i < n; i++) close(own[i]);
      n = 0;
    }
    nfds[m] = n;
  }
  return got;
}
