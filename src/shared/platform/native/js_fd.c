/* Descriptor flags and close for JS (fd.c). */
#define _GNU_SOURCE

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_set_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool on;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "on", &on)) return NULL;
  int r = hf_set_cloexec(fd, on);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_SETFD)");
  return js_undefined(env);
}

napi_value js_get_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_get_cloexec(fd);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_GETFD)");
  return js_bool(env, r == 1);
}

napi_value js_set_nonblock(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool on;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "on", &on)) return NULL;
  int r = hf_set_nonblock(fd, on);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_SETFL)");
  return js_undefined(env);
}

napi_value js_dup_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_dup_cloexec(fd);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_DUPFD_CLOEXEC)");
  return new_int(env, r);
}

napi_value js_close(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_close(fd);
  if (r < 0) return throw_syscall_error(env, -r, "close");
  return js_undefined(env);
}
