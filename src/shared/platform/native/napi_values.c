/* Signal numbers as the names Node uses for them. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>

#include "napi_errors.h"
#include "napi_values.h"

/* Names as Node's child_process spells them ('SIGIO', not glibc's 'SIGPOLL'). */
napi_value signal_name(napi_env env, int sig) {
  char name[32];
  const char *abbrev = sig == SIGIO ? "IO" : sigabbrev_np(sig);
  if (abbrev) snprintf(name, sizeof(name), "SIG%s", abbrev);
  else if (sig >= SIGRTMIN && sig <= SIGRTMAX) snprintf(name, sizeof(name), "SIGRTMIN+%d", sig - SIGRTMIN);
  else snprintf(name, sizeof(name), "SIG%d", sig);
  return new_string(env, name);
}

/* A signal bit set (bit n-1 for signal n) as an array of names. */
napi_value signal_names(napi_env env, uint64_t bits) {
  napi_value out;
  NAPI_CALL(env, napi_create_array(env, &out));
  uint32_t n = 0;
  for (int sig = 1; sig <= 64; sig++) {
    if (!(bits & (UINT64_C(1) << (sig - 1)))) continue;
    NAPI_CALL(env, napi_set_element(env, out, n++, signal_name(env, sig)));
  }
  return out;
}
