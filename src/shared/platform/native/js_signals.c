/* Guarded signals and the preloaded signal guard for JS (signals.c). */
#define _GNU_SOURCE

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_block_guarded_signals(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  bool block;
  if (!arg_bool(env, argv[0], "block", &block)) return NULL;
  int r = hf_block_guarded_signals(block);
  if (r < 0) return throw_syscall_error(env, -r, "pthread_sigmask");
  return js_undefined(env);
}

napi_value js_signal_guard_loaded(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, hf_guard_loaded(), &out));
  return out;
}

napi_value js_signal_guard_install_here(napi_env env, napi_callback_info info) {
  (void)info;
  hf_guard_install_here();
  return js_undefined(env);
}

napi_value js_guard_faults(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_guard_faults();
  if (r < 0) return throw_syscall_error(env, -r, "sigaction");
  return js_undefined(env);
}

napi_value js_signal_guard_take(napi_env env, napi_callback_info info) {
  (void)info;
  return signal_names(env, hf_guard_take());
}
