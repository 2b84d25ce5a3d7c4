/* A worker turn's reply path in one call: the turn's replies into the reply pipe (one batch, behind its
 * header), the turn's commit to the supervisor, then each reply from the pipe into its client's socket.
 *
 * The ordering custody rests on is enforced here: no reply leaves before the commit that files its effect is
 * in the supervisor's queue. The commit is one SEQPACKET datagram, which sendmsg queues whole or not at all;
 * only a sendmsg that queued it lets a single splice run. Otherwise the pipe still holds the whole batch (its
 * header first) and the caller sends the commit another way before it splices. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

#include "holdfast.h"

/* Well under IOV_MAX; a longer batch goes in several writes. */
#define WRITEV_GROUP 512

/* The pipe is empty between batches and a batch fits in it, so each write takes everything or something is
 * badly wrong (-EIO for a short one). */
static int write_batch(int fd, const struct iovec *iov, size_t count) {
  for (size_t i = 0; i < count; i += WRITEV_GROUP) {
    size_t group = count - i < WRITEV_GROUP ? count - i : WRITEV_GROUP;
    size_t want = 0;
    for (size_t k = 0; k < group; k++) want += iov[i + k].iov_len;
    ssize_t n;
    do n = writev(fd, iov + i, (int)group);
    while (n == -1 && errno == EINTR);
    if (n == -1) return -errno;
    if ((size_t)n != want) return -EIO;
  }
  return 0;
}

/* Takes `len` bytes out of the pipe unsent. A pipe that runs dry first (-ENODATA) no longer matches the
 * batch it was given. */
static int skip(int pipe_read, size_t len) {
  char discard[4096];
  while (len > 0) {
    ssize_t n = hf_read(pipe_read, discard, len < sizeof(discard) ? len : sizeof(discard));
    if (n == 0 || n == -EAGAIN) return -ENODATA;
    if (n < 0) return (int)n;
    len -= (size_t)n;
  }
  return 0;
}

/* Splices one reply into its client: 0 once all of it is sent; else the errno that stopped it (the client is
 * gone, or its socket is full: EAGAIN) after the rest was skipped. A negative value is fatal (see skip). */
static int deliver(int pipe_read, int fd, size_t len, const char **failed_syscall) {
  while (len > 0) {
    ssize_t n = hf_splice(pipe_read, fd, len);
    if (n == 0) {
      *failed_syscall = "splice";
      return -ENODATA;
    }
    if (n < 0) {
      int r = skip(pipe_read, len);
      if (r < 0) {
        *failed_syscall = "read";
        return r;
      }
      return (int)-n;
    }
    len -= (size_t)n;
  }
  return 0;
}

int hf_commit_turn(const hf_turn *turn, int32_t *outcomes, const char **failed_syscall) {
  size_t batch_bytes = 0, reply_bytes = 0;
  for (size_t i = 0; i < turn->batch_count; i++) batch_bytes += turn->batch[i].iov_len;
  for (size_t i = 0; i < turn->target_count; i++) {
    if (turn->targets[2 * i + 1] <= 0) return -EINVAL;
    reply_bytes += (size_t)turn->targets[2 * i + 1];
  }
  /* The splices must take exactly what was written after the header. */
  if (batch_bytes != (turn->batch_count > 0 ? turn->header_bytes : 0) + reply_bytes) {
    *failed_syscall = "writev";
    return -EINVAL;
  }

  if (turn->batch_count > 0) {
    int r = write_batch(turn->pipe_write, turn->batch, turn->batch_count);
    if (r < 0) {
      *failed_syscall = "writev";
      return r;
    }
  }

  ssize_t sent = hf_send_fds(turn->control, turn->frame, turn->frame_len, turn->fds, turn->nfds);
  if (sent == -EAGAIN) return 0;
  if (sent < 0 || (size_t)sent != turn->frame_len) {
    *failed_syscall = "sendmsg";
    return sent < 0 ? (int)sent : -EMSGSIZE;
  }

  /* The commit is queued: from here on every reply may leave. */
  if (turn->batch_count > 0) {
    int r = skip(turn->pipe_read, turn->header_bytes);
    if (r < 0) {
      *failed_syscall = "read";
      return r;
    }
  }
  for (size_t i = 0; i < turn->target_count; i++) {
    int r = deliver(turn->pipe_read, turn->targets[2 * i], (size_t)turn->targets[2 * i + 1], failed_syscall);
    if (r < 0) return r;
    outcomes[i] = r;
  }
  return 1;
}
