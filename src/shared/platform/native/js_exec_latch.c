/* The exec latch for JS (exec_latch.c): caught signals come back as Node's signal names. */
#define _GNU_SOURCE

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

static napi_value latched_signal(napi_env env, int sig) {
  return sig == 0 ? js_null(env) : signal_name(env, sig);
}

napi_value js_exec_latch_arm(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_exec_latch_arm();
  if (r < 0) return throw_syscall_error(env, -r, "sigaction");
  return js_undefined(env);
}

napi_value js_exec_latch_hold(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_exec_latch_hold();
  if (r < 0) return throw_syscall_error(env, -r, "pthread_sigmask");
  return latched_signal(env, r);
}

napi_value js_exec_latch_disarm(napi_env env, napi_callback_info info) {
  (void)info;
  return signal_names(env, hf_exec_latch_disarm());
}
