/* The exec latch: a signal that asks holdfast for something (stop, upgrade, swap, reopen the logs) must
 * never vanish in an upgrade's exec.
 *
 * libuv's own handler only writes the signal into a pipe that the event loop reads later; a signal caught
 * that way in the last instants before execve dies with the pipe. While the latch is armed, those signals
 * are caught here instead and remembered. hf_exec_latch_hold() then blocks every guarded signal in the
 * exec'ing thread and reports whether a stop already came: if so the caller does not exec. Any other
 * request already caught is sent back to this thread, where it stays pending through the exec; one that
 * comes later, on any thread, is forwarded there too. The next image's signal guard unblocks them once its
 * handlers exist (signal_guard.c), and its first line acts on them. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guarded_signals.h"
#include "holdfast.h"

static const int latch_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
#define LATCH_SIGNAL_COUNT (sizeof(latch_signals) / sizeof(latch_signals[0]))

static struct sigaction saved[LATCH_SIGNAL_COUNT];
static int armed;
static uint64_t caught;                /* bit n-1: signal n came while armed */
static volatile sig_atomic_t hold_tid; /* the thread holding the signals blocked for its exec; 0 if none */

static int is_stop(int sig) { return sig == SIGINT || sig == SIGQUIT || sig == SIGTERM; }

static void on_latched_signal(int sig) {
  int saved_errno = errno;
  __atomic_fetch_or(&caught, UINT64_C(1) << (sig - 1), __ATOMIC_SEQ_CST);
  pid_t holder = hold_tid;
  if (holder != 0 && holder != (pid_t)syscall(SYS_gettid)) syscall(SYS_tgkill, getpid(), holder, sig);
  errno = saved_errno;
}

int hf_exec_latch_arm(void) {
  if (armed) return -EALREADY;
  struct sigaction act = {0};
  act.sa_handler = on_latched_signal;
  act.sa_flags = SA_RESTART;
  sigfillset(&act.sa_mask);
  __atomic_store_n(&caught, 0, __ATOMIC_SEQ_CST);
  hold_tid = 0;
  for (size_t i = 0; i < LATCH_SIGNAL_COUNT; i++) {
    if (sigaction(latch_signals[i], &act, &saved[i]) == -1) {
      int err = errno;
      while (i-- > 0) sigaction(latch_signals[i], &saved[i], NULL);
      return -err;
    }
  }
  armed = 1;
  return 0;
}

int hf_exec_latch_hold(void) {
  if (!armed) return -EINVAL;
  sigset_t guarded;
  hf_guarded_set(&guarded);
  pid_t self = (pid_t)syscall(SYS_gettid);
  hold_tid = self;
  int r = pthread_sigmask(SIG_BLOCK, &guarded, NULL);
  if (r != 0) {
    hold_tid = 0;
    return -r;
  }
  uint64_t already = __atomic_load_n(&caught, __ATOMIC_SEQ_CST);
  for (size_t i = 0; i < LATCH_SIGNAL_COUNT; i++) {
    int sig = latch_signals[i];
    if (!(already & (UINT64_C(1) << (sig - 1)))) continue;
    if (is_stop(sig)) return sig;
    /* Pending in this (blocking) thread: it crosses the exec and reaches the next image. */
    syscall(SYS_tgkill, getpid(), self, sig);
  }
  return 0;
}

uint64_t hf_exec_latch_disarm(void) {
  if (!armed) return 0;
  sigset_t guarded;
  hf_guarded_set(&guarded);
  hold_tid = 0;
  /* What was forwarded to this thread while it held them is delivered now, to our handler. */
  pthread_sigmask(SIG_UNBLOCK, &guarded, NULL);
  for (size_t i = 0; i < LATCH_SIGNAL_COUNT; i++) sigaction(latch_signals[i], &saved[i], NULL);
  armed = 0;
  return __atomic_exchange_n(&caught, 0, __ATOMIC_SEQ_CST);
}
