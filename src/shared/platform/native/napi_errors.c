/* The N-API layer's errors: a failed napi_* call, a failed syscall as a SyscallError (through the factory
 * native.ts installs with setErrorFactory), and argument TypeErrors. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <node_api.h>

#include "js_exports.h"
#include "module_state.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

/* Surfaces a failed napi_* call as a JS exception (unless one is already pending) and returns NULL. */
napi_value throw_napi_failure(napi_env env) {
  /* Read the error info first: any further napi call overwrites it. */
  const napi_extended_error_info *info = NULL;
  char message[256] = "N-API call failed";
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message)
    snprintf(message, sizeof(message), "N-API call failed: %s", info->error_message);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, message);
  return NULL;
}

/* Builds the Error for a failed syscall. `err` is a positive errno. Returns NULL with an exception
 * pending if even that failed. */
napi_value make_syscall_error(napi_env env, int err, const char *syscall) {
  const char *code = strerrorname_np(err);
  const char *desc = strerrordesc_np(err);
  if (code == NULL) code = "UNKNOWN";
  if (desc == NULL) desc = "Unknown error";
  char message[256];
  snprintf(message, sizeof(message), "%s: %s, %s", code, desc, syscall);

  napi_value argv[4] = {new_string(env, code), new_int(env, err), new_string(env, syscall), new_string(env, message)};
  module_state *state = state_of(env);
  napi_value factory = NULL;
  if (state && state->error_factory) napi_get_reference_value(env, state->error_factory, &factory);
  napi_value error = NULL;
  if (factory != NULL) {
    napi_value global = NULL;
    napi_get_global(env, &global);
    if (napi_call_function(env, global, factory, 4, argv, &error) != napi_ok) return NULL;
    return error;
  }
  /* No factory installed (native.ts not in the loop): a plain Error with the same fields. */
  if (napi_create_error(env, argv[0], argv[3], &error) != napi_ok) return throw_napi_failure(env);
  napi_set_named_property(env, error, "errno", argv[1]);
  napi_set_named_property(env, error, "syscall", argv[2]);
  return error;
}

napi_value throw_syscall_error(napi_env env, int err, const char *syscall) {
  napi_value error = make_syscall_error(env, err, syscall);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

napi_value js_set_error_factory(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  if (!arg_function(env, argv[0], "factory")) return NULL;
  module_state *state = state_of(env);
  if (state->error_factory) napi_delete_reference(env, state->error_factory);
  state->error_factory = NULL;
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &state->error_factory));
  return js_undefined(env);
}
