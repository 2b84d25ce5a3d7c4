/* The fd budget: RLIMIT_NOFILE of this or another process (prlimit), and how many fds a process has open
 * (the entries of /proc/<pid>/fd). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

#include "holdfast.h"

int hf_nofile_get(pid_t pid, uint64_t *soft, uint64_t *hard) {
  struct rlimit old;
  if (prlimit(pid, RLIMIT_NOFILE, NULL, &old) == -1) return -errno;
  *soft = old.rlim_cur;
  *hard = old.rlim_max;
  return 0;
}

int hf_nofile_set(uint64_t soft, uint64_t hard) {
  struct rlimit limit = {.rlim_cur = soft, .rlim_max = hard};
  if (setrlimit(RLIMIT_NOFILE, &limit) == -1) return -errno;
  return 0;
}

/* Needs one free fd itself (for the directory): at the limit this fails with -EMFILE. */
int64_t hf_count_fds(pid_t pid) {
  char path[64];
  if (pid == 0) snprintf(path, sizeof(path), "/proc/self/fd");
  else snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *dir = opendir(path);
  if (dir == NULL) return -errno;
  int64_t count = 0;
  struct dirent *entry;
  errno = 0;
  while ((entry = readdir(dir)) != NULL)
    if (entry->d_name[0] != '.') count++;
  int err = errno;
  closedir(dir);
  if (err != 0) return -err;
  /* Our own look at /proc/self/fd is not one of the process's fds. */
  return pid == 0 ? count - 1 : count;
}
