/* Paths relative to an open directory, never following a symlink in the last component: how a directory
 * lockspace opens, inspects and removes its resource files without being led outside the directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "holdfast.h"

int hf_openat_nofollow(int dirfd, const char *name, int flags, unsigned mode) {
  int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
  return fd < 0 ? -errno : fd;
}

int hf_fstatat_nofollow(int dirfd, const char *name, hf_stat *out) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  out->dev = (uint64_t)st.st_dev;
  out->ino = (uint64_t)st.st_ino;
  out->mode = (uint32_t)st.st_mode;
  out->uid = (uint32_t)st.st_uid;
  return 0;
}

int hf_unlinkat(int dirfd, const char *name) {
  return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}
