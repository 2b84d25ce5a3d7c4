/* Byte-range locks: OFD (owned by the open file description, survives fd passing) and classic POSIX
 * (owned by the process; what virtlockd takes); and the pid file's whole-file flock. Non-blocking only: a
 * blocking wait would pin a thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "holdfast.h"

static short to_kernel_type(hf_lock_type type) {
  switch (type) {
    case HF_LOCK_READ: return F_RDLCK;
    case HF_LOCK_WRITE: return F_WRLCK;
    default: return F_UNLCK;
  }
}

static void fill_flock(struct flock *fl, hf_lock_type type, int64_t start, int64_t len) {
  memset(fl, 0, sizeof(*fl)); /* F_OFD_* insist on l_pid == 0 */
  fl->l_type = to_kernel_type(type);
  fl->l_whence = SEEK_SET;
  fl->l_start = (off_t)start;
  fl->l_len = (off_t)len;
}

static int setlk(int cmd, int fd, hf_lock_type type, int64_t start, int64_t len) {
  struct flock fl;
  fill_flock(&fl, type, start, len);
  return fcntl(fd, cmd, &fl) == -1 ? -errno : 0;
}

static int getlk(int cmd, int fd, hf_lock_type type, int64_t start, int64_t len, hf_lock_info *out) {
  struct flock fl;
  fill_flock(&fl, type, start, len);
  if (fcntl(fd, cmd, &fl) == -1) return -errno;
  out->type = fl.l_type == F_RDLCK ? HF_LOCK_READ : fl.l_type == F_WRLCK ? HF_LOCK_WRITE : HF_LOCK_NONE;
  out->start = fl.l_start;
  out->len = fl.l_len;
  out->pid = fl.l_pid;
  return 0;
}

int hf_ofd_setlk(int fd, hf_lock_type type, int64_t start, int64_t len) {
  return setlk(F_OFD_SETLK, fd, type, start, len);
}

int hf_ofd_getlk(int fd, hf_lock_type type, int64_t start, int64_t len, hf_lock_info *out) {
  return getlk(F_OFD_GETLK, fd, type, start, len, out);
}

int hf_posix_setlk(int fd, hf_lock_type type, int64_t start, int64_t len) {
  return setlk(F_SETLK, fd, type, start, len);
}

int hf_posix_getlk(int fd, hf_lock_type type, int64_t start, int64_t len, hf_lock_info *out) {
  return getlk(F_GETLK, fd, type, start, len, out);
}

int hf_flock_exclusive(int fd) {
  return flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
}
