/* The addon's side of signal safety: blocking the guarded signals around an exec, and reading what the
 * preloaded signal guard (signal_guard.c, a separate library) caught before JavaScript could listen. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "guarded_signals.h"
#include "holdfast.h"

int hf_block_guarded_signals(int block) {
  sigset_t guarded;
  hf_guarded_set(&guarded);
  return -pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &guarded, NULL);
}

typedef uint64_t (*guard_take_fn)(void);

static guard_take_fn guard_take(void) {
  /* The guard is in the global scope only when it was preloaded into this image. */
  return (guard_take_fn)dlsym(RTLD_DEFAULT, "hf_signal_guard_take");
}

int hf_guard_loaded(void) { return guard_take() != NULL; }

/* An image started without the preloaded guard (the first start, by hand or by a service manager) gets the
 * same handlers from here, at its first line: from then on it is as safe as a guarded one. */
static uint64_t latched_here;

static void on_guarded_signal_here(int sig, siginfo_t *info, void *context) {
  (void)context;
  hf_guard_catch(sig, info, &latched_here);
}

void hf_guard_install_here(void) { hf_guard_install(on_guarded_signal_here); }

uint64_t hf_guard_take(void) {
  guard_take_fn take = guard_take();
  return (take ? take() : 0) | __atomic_exchange_n(&latched_here, 0, __ATOMIC_SEQ_CST);
}

/* Faults sent with kill(): Node installs its own SIGSEGV handler (for WebAssembly traps) after the guard's,
 * and that one turns a SIGSEGV from kill(1) into a crash. Wrap whatever handles a fault signal now: a sent
 * one is ignored, a real one goes where it went before. */
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
#define FAULT_SIGNAL_COUNT (sizeof(fault_signals) / sizeof(fault_signals[0]))
static struct sigaction chained[FAULT_SIGNAL_COUNT];

static void on_fault(int sig, siginfo_t *info, void *context) {
  if (info->si_code <= 0) return; /* sent by a process (SI_USER, SI_TKILL, SI_QUEUE): not a fault */
  for (size_t i = 0; i < FAULT_SIGNAL_COUNT; i++) {
    if (fault_signals[i] != sig) continue;
    if ((chained[i].sa_flags & SA_SIGINFO) && chained[i].sa_sigaction) {
      chained[i].sa_sigaction(sig, info, context);
      return;
    }
    if (chained[i].sa_handler != SIG_DFL && chained[i].sa_handler != SIG_IGN) {
      chained[i].sa_handler(sig);
      return;
    }
  }
  /* The default action, when the faulting instruction runs again. */
  signal(sig, SIG_DFL);
}

int hf_guard_faults(void) {
  struct sigaction act;
  memset(&act, 0, sizeof(act));
  act.sa_sigaction = on_fault;
  act.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&act.sa_mask);
  for (size_t i = 0; i < FAULT_SIGNAL_COUNT; i++) {
    struct sigaction current;
    if (sigaction(fault_signals[i], NULL, &current) == -1) return -errno;
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fault) continue; /* already wrapped */
    chained[i] = current;
    if (sigaction(fault_signals[i], &act, NULL) == -1) return -errno;
  }
  return 0;
}
