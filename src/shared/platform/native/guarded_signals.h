/* The signals no holdfast process may die of: every catchable signal whose default action ends a process.
 * Shared by the preloaded signal guard (signal_guard.c), which catches them from the first instant of an
 * image, and by the exec latch (exec_latch.c), which holds them blocked across an upgrade's execve. */
#ifndef HOLDFAST_GUARDED_SIGNALS_H
#define HOLDFAST_GUARDED_SIGNALS_H

#include <signal.h>
#include <stdint.h>
#include <string.h>

/* Raised by a real fault in this process (not sent with kill): must keep its default action, or the
 * faulting instruction would run again forever. */
static inline int hf_is_fault_signal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS ||
         sig == SIGABRT;
}

static inline int hf_is_guarded_signal(int sig) {
  switch (sig) {
    /* Cannot be caught; or their default action is not to end the process (stop, continue, ignore). */
    case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGCONT: case SIGTSTP: case SIGTTIN: case SIGTTOU:
    case SIGURG: case SIGWINCH:
      return 0;
    default:
      /* 32 and 33 are glibc's own (thread cancellation, setxid): SIGRTMIN starts above them. */
      return (sig >= 1 && sig < 32) || (sig >= SIGRTMIN && sig <= SIGRTMAX);
  }
}

static inline void hf_guarded_set(sigset_t *set) {
  sigemptyset(set);
  for (int sig = 1; sig <= SIGRTMAX; sig++)
    if (hf_is_guarded_signal(sig)) sigaddset(set, sig);
}

/* The body of a guard's handler: a real fault (raised by the kernel) gets its default course when the
 * instruction runs again; anything else is only remembered in *latch (bit n-1 for signal n). */
static inline void hf_guard_catch(int sig, const siginfo_t *info, uint64_t *latch) {
  if (hf_is_fault_signal(sig) && info->si_code > 0) {
    signal(sig, SIG_DFL);
    return;
  }
  __atomic_fetch_or(latch, UINT64_C(1) << (sig - 1), __ATOMIC_SEQ_CST);
}

/* Installs `handler` for every guarded signal, then unblocks them all: whatever an exec kept pending is
 * delivered to it now. */
static inline void hf_guard_install(void (*handler)(int, siginfo_t *, void *)) {
  struct sigaction act;
  memset(&act, 0, sizeof(act));
  act.sa_sigaction = handler;
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&act.sa_mask);
  sigset_t guarded;
  hf_guarded_set(&guarded);
  for (int sig = 1; sig <= SIGRTMAX && sig <= 64; sig++)
    if (sigismember(&guarded, sig)) sigaction(sig, &act, NULL);
  sigprocmask(SIG_UNBLOCK, &guarded, NULL);
}

#endif
