/* The fd budget for JS (rlimit.c). */
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <sys/resource.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

/* RLIM_INFINITY as Infinity; any real limit fits a double exactly. */
static napi_value limit_value(napi_env env, uint64_t v) {
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, v == (uint64_t)RLIM_INFINITY ? INFINITY : (double)v, &out));
  return out;
}

napi_value js_nofile_limit(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 0, INT_MAX, &pid)) return NULL;
  uint64_t soft, hard;
  int r = hf_nofile_get((pid_t)pid, &soft, &hard);
  if (r < 0) return throw_syscall_error(env, -r, "prlimit");
  napi_value result;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_set_named_property(env, result, "soft", limit_value(env, soft)));
  NAPI_CALL(env, napi_set_named_property(env, result, "hard", limit_value(env, hard)));
  return result;
}

napi_value js_set_nofile_limit(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  double soft, hard;
  if (!arg_integer(env, argv[0], "soft", 0, MAX_SAFE_INTEGER, &soft) || !arg_integer(env, argv[1], "hard", 0, MAX_SAFE_INTEGER, &hard)) return NULL;
  int r = hf_nofile_set((uint64_t)soft, (uint64_t)hard);
  if (r < 0) return throw_syscall_error(env, -r, "setrlimit(RLIMIT_NOFILE)");
  return js_undefined(env);
}

napi_value js_count_open_fds(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 0, INT_MAX, &pid)) return NULL;
  int64_t n = hf_count_fds((pid_t)pid);
  if (n < 0) return throw_syscall_error(env, (int)-n, "opendir(/proc/pid/fd)");
  return new_int(env, n);
}
