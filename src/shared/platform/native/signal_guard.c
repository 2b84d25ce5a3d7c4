/* The signal guard: a tiny library every holdfast process image is started with (LD_PRELOAD), so that no
 * signal can end it in the instants before its first line of JavaScript runs.
 *
 * Between execve and that first line, Node puts every disposition back to the default (terminate, for most
 * signals), clears the signal mask, and on Node 20 even turns SIGUSR1 into "open the inspector". A handler
 * installed by a library's constructor is the one thing it leaves in place. So this constructor catches every
 * guarded signal (see guarded_signals.h) and only remembers it; the JS side installs its own listeners, asks
 * the addon which signals came meanwhile (hf_signal_guard_take) and acts on them then. An image exec'ed
 * by holdfast starts with the guarded signals blocked (the exec latch): they stay pending until the handlers
 * below exist, and are unblocked here, so not even the dynamic loader's instants are open. */
#define _GNU_SOURCE
#include <signal.h>

#include "guarded_signals.h"

static uint64_t latched; /* bit n-1: signal n came and was held for the JS side */

static void on_guarded_signal(int sig, siginfo_t *info, void *context) {
  (void)context;
  hf_guard_catch(sig, info, &latched);
}

__attribute__((constructor)) static void hf_signal_guard_install(void) { hf_guard_install(on_guarded_signal); }

/* Signals caught since the last call, as a bit set (bit n-1 for signal n); clears them. Found by the addon
 * with dlsym: its presence also proves the guard was preloaded. */
__attribute__((visibility("default"))) uint64_t hf_signal_guard_take(void) {
  return __atomic_exchange_n(&latched, 0, __ATOMIC_SEQ_CST);
}
