/* Processes: execve in place (same pid), pidfd_open, and waitpid on one named pid. Never waits on -1:
 * that would steal the exit status of children libuv is tracking. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "holdfast.h"

int hf_execve(const char *path, char *const argv[], char *const envp[]) {
  execve(path, argv, envp);
  return -errno;
}

/* Called through syscall(): glibc 2.36 has the wrapper, older ones do not. Pidfds are always
 * close-on-exec. */
int hf_pidfd_open(pid_t pid) {
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return fd == -1 ? -errno : (int)fd;
}

/* Signals the process a pidfd refers to: once that process is gone this fails with ESRCH, whatever now
 * runs under its old pid number. */
int hf_pidfd_send_signal(int pidfd, int sig) {
  long r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
  return r == -1 ? -errno : 0;
}

int hf_waitpid(pid_t pid, int no_hang, hf_wait_result *out) {
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, no_hang ? WNOHANG : 0);
  while (r == -1 && errno == EINTR);
  if (r == -1) return -errno;
  out->pid = r;
  out->exited = 0;
  out->exit_code = 0;
  out->term_signal = 0;
  if (r == 0) return 0;
  if (WIFEXITED(status)) {
    out->exited = 1;
    out->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out->term_signal = WTERMSIG(status);
  }
  return 0;
}

/* SCHED_BATCH: the scheduler stops letting this thread preempt others when it wakes up. For a process
 * that is off the latency-critical path, so its wake-ups do not steal the CPU of the one that is on it. */
int hf_set_batch_scheduling(int on) {
  struct sched_param param = {.sched_priority = 0};
  if (sched_setscheduler(0, on ? SCHED_BATCH : SCHED_OTHER, &param) == -1) return -errno;
  return 0;
}
