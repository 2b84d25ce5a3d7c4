/* The reply relay's kernel calls for JS (relay.c). A call that would block returns null. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_set_peek_offset(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  double offset;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_integer(env, argv[1], "offset", -1, INT_MAX, &offset)) return NULL;
  int r = hf_set_peek_off(fd, (int)offset);
  if (r < 0) return throw_syscall_error(env, -r, "setsockopt");
  return js_undefined(env);
}

napi_value js_pipe(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double size;
  if (!arg_integer(env, argv[0], "size", 0, INT_MAX, &size)) return NULL;
  int fds[2];
  int capacity = hf_pipe(fds, (int)size);
  if (capacity < 0) return throw_syscall_error(env, -capacity, "pipe2");
  napi_value result;
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &result));
  NAPI_CALL(env, napi_set_element(env, result, 0, new_int(env, fds[0])));
  NAPI_CALL(env, napi_set_element(env, result, 1, new_int(env, fds[1])));
  NAPI_CALL(env, napi_set_element(env, result, 2, new_int(env, capacity)));
  return result;
}

napi_value js_splice(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  int from, to;
  double len;
  if (!arg_fd(env, argv[0], "from", &from) || !arg_fd(env, argv[1], "to", &to) ||
      !arg_integer(env, argv[2], "length", 1, INT_MAX, &len))
    return NULL;
  ssize_t n = hf_splice(from, to, (size_t)len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "splice");
  return new_int(env, n);
}

napi_value js_read(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *data;
  size_t len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 1, &data, &len)) return NULL;
  ssize_t n = hf_read(fd, data, len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "read");
  return new_int(env, n);
}

napi_value js_write(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *data;
  size_t len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 0, &data, &len)) return NULL;
  ssize_t n = hf_write(fd, data, len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "write");
  return new_int(env, n);
}

napi_value js_queued(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool outgoing;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "outgoing", &outgoing)) return NULL;
  int n = hf_queued(fd, outgoing);
  if (n < 0) return throw_syscall_error(env, -n, "ioctl");
  return new_int(env, n);
}

napi_value js_grow_send_buffer(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  double bytes;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_integer(env, argv[1], "bytes", 1, INT32_MAX, &bytes)) return NULL;
  int n = hf_grow_send_buffer(fd, (int)bytes);
  if (n < 0) return throw_syscall_error(env, -n, "setsockopt");
  return new_int(env, n);
}
