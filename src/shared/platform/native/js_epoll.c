/* Edge-triggered readiness of many fds for JS (epoll.c). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = hf_epoll_create();
  if (fd < 0) return throw_syscall_error(env, -fd, "epoll_create1");
  return new_int(env, fd);
}

napi_value js_epoll_add(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  int epfd, fd;
  double id;
  if (!arg_fd(env, argv[0], "epfd", &epfd) || !arg_fd(env, argv[1], "fd", &fd) ||
      !arg_integer(env, argv[2], "id", 0, INT32_MAX, &id))
    return NULL;
  int r = hf_epoll_add(epfd, fd, (uint32_t)id);
  if (r < 0) return throw_syscall_error(env, -r, "epoll_ctl");
  return js_undefined(env);
}

napi_value js_epoll_del(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int epfd, fd;
  if (!arg_fd(env, argv[0], "epfd", &epfd) || !arg_fd(env, argv[1], "fd", &fd)) return NULL;
  int r = hf_epoll_del(epfd, fd);
  if (r < 0) return throw_syscall_error(env, -r, "epoll_ctl");
  return js_undefined(env);
}

napi_value js_epoll_take(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int epfd;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = NULL;
  if (!arg_fd(env, argv[0], "epfd", &epfd)) return NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &ptr, NULL, NULL) != napi_ok || type != napi_int32_array) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be an Int32Array", "out");
    return NULL;
  }
  int n = hf_epoll_take(epfd, ptr, (int)(length / 2));
  if (n < 0) return throw_syscall_error(env, -n, "epoll_wait");
  return new_int(env, n);
}
