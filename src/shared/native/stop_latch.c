/* The stop latch: a stop signal (SIGINT, SIGQUIT, SIGTERM) must never vanish in an upgrade's exec.
 *
 * libuv's own handler only writes the signal into a pipe that the event loop reads later; a signal caught
 * that way in the last instants before execve dies with the pipe, and the new image serves on as if nobody
 * had asked it to stop. While the latch is armed, the three signals are caught here instead and remembered.
 * hf_stop_latch_hold() then blocks them in the exec'ing thread and reports whether one already came: if so
 * the caller does not exec. One that comes later, on any other thread, is sent back to the exec'ing thread,
 * where it stays pending (blocked) through the exec; the next image unblocks it at start-up and stops. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "holdfast.h"

static const int stop_signals[] = {SIGINT, SIGQUIT, SIGTERM};
#define STOP_SIGNAL_COUNT (sizeof(stop_signals) / sizeof(stop_signals[0]))

static struct sigaction saved[STOP_SIGNAL_COUNT];
static int armed;
static volatile sig_atomic_t latched;   /* the first stop signal caught while armed; 0 if none */
static volatile sig_atomic_t hold_tid;  /* the thread holding the signals blocked for its exec; 0 if none */

static void stop_set(sigset_t *set) {
  sigemptyset(set);
  for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++) sigaddset(set, stop_signals[i]);
}

static void on_stop_signal(int sig) {
  int saved_errno = errno;
  if (latched == 0) latched = sig;
  pid_t holder = hold_tid;
  if (holder != 0 && holder != (pid_t)syscall(SYS_gettid)) syscall(SYS_tgkill, getpid(), holder, sig);
  errno = saved_errno;
}

int hf_stop_latch_arm(void) {
  if (armed) return -EALREADY;
  struct sigaction act = {0};
  act.sa_handler = on_stop_signal;
  act.sa_flags = SA_RESTART;
  stop_set(&act.sa_mask);
  latched = 0;
  hold_tid = 0;
  for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++) {
    if (sigaction(stop_signals[i], &act, &saved[i]) == -1) {
      int err = errno;
      while (i-- > 0) sigaction(stop_signals[i], &saved[i], NULL);
      return -err;
    }
  }
  armed = 1;
  return 0;
}

int hf_stop_latch_hold(void) {
  if (!armed) return -EINVAL;
  sigset_t set;
  stop_set(&set);
  hold_tid = (sig_atomic_t)syscall(SYS_gettid);
  int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (r != 0) {
    hold_tid = 0;
    return -r;
  }
  return latched;
}

int hf_stop_latch_disarm(void) {
  if (!armed) return 0;
  sigset_t set;
  stop_set(&set);
  hold_tid = 0;
  /* A signal forwarded to this thread while it held them is delivered now, to our handler. */
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++) sigaction(stop_signals[i], &saved[i], NULL);
  armed = 0;
  return latched;
}
