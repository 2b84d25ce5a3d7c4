/* The signals no holdfast process may die of: every catchable signal whose default action ends a process.
 * Shared by the preloaded signal guard (signal_guard.c), which catches them from the first instant of an
 * image, and by the exec latch (exec_latch.c), which holds them blocked across an upgrade's execve. */
#ifndef HOLDFAST_GUARDED_SIGNALS_H
#define HOLDFAST_GUARDED_SIGNALS_H

#include <signal.h>

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

#endif
