/* Processes for JS (proc.c): exec, pidfds, waitpid, scheduling. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_execve(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  char *path;
  string_list args, envs;
  if (!arg_string(env, argv[0], "path", &path, NULL)) return NULL;
  if (!arg_string_list(env, argv[1], "argv", 1, &args)) {
    free(path);
    return NULL;
  }
  if (!arg_string_list(env, argv[2], "env", 0, &envs)) {
    free(path);
    string_list_free(&args);
    return NULL;
  }
  int r = hf_execve(path, args.items, envs.items);
  free(path);
  string_list_free(&args);
  string_list_free(&envs);
  return throw_syscall_error(env, -r, "execve");
}

napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 1, INT_MAX, &pid)) return NULL;
  int r = hf_pidfd_open((pid_t)pid);
  if (r < 0) return throw_syscall_error(env, -r, "pidfd_open");
  return new_int(env, r);
}

napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int pidfd;
  double sig;
  if (!arg_fd(env, argv[0], "pidfd", &pidfd) || !arg_integer(env, argv[1], "signal", 1, 64, &sig)) return NULL;
  int r = hf_pidfd_send_signal(pidfd, (int)sig);
  if (r < 0) return throw_syscall_error(env, -r, "pidfd_send_signal");
  return js_undefined(env);
}

napi_value js_peer_pidfd(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_peer_pidfd(fd);
  if (r < 0) return throw_syscall_error(env, -r, "getsockopt(SO_PEERPIDFD)");
  return new_int(env, r);
}

napi_value js_waitpid(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  double pid;
  bool no_hang;
  /* pid >= 1 only: waiting on -1 or a process group would reap libuv's children behind its back. */
  if (!arg_integer(env, argv[0], "pid", 1, INT_MAX, &pid) || !arg_bool(env, argv[1], "noHang", &no_hang))
    return NULL;
  hf_wait_result res;
  int r = hf_waitpid((pid_t)pid, no_hang, &res);
  if (r < 0) return throw_syscall_error(env, -r, "waitpid");
  if (res.pid == 0) return js_null(env);
  napi_value obj;
  NAPI_CALL(env, napi_create_object(env, &obj));
  napi_set_named_property(env, obj, "pid", new_int(env, res.pid));
  napi_set_named_property(env, obj, "exitCode", res.exited ? new_int(env, res.exit_code) : js_null(env));
  napi_set_named_property(env, obj, "signal", res.exited ? js_null(env) : signal_name(env, res.term_signal));
  return obj;
}

napi_value js_set_batch_scheduling(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  bool on;
  if (!arg_bool(env, argv[0], "on", &on)) return NULL;
  int r = hf_set_batch_scheduling(on);
  if (r < 0) return throw_syscall_error(env, -r, "sched_setscheduler");
  return js_undefined(env);
}
