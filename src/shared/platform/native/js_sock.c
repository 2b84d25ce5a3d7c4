/* Unix sockets for JS (sock.c). A non-blocking call that would block returns null. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  hf_cred cred;
  int r = hf_peer_cred(fd, &cred);
  if (r < 0) return throw_syscall_error(env, -r, "getsockopt(SO_PEERCRED)");
  napi_value obj;
  NAPI_CALL(env, napi_create_object(env, &obj));
  napi_set_named_property(env, obj, "pid", new_int(env, cred.pid));
  napi_set_named_property(env, obj, "uid", new_int(env, cred.uid));
  napi_set_named_property(env, obj, "gid", new_int(env, cred.gid));
  return obj;
}

napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  char *address;
  size_t address_len;
  double backlog;
  if (!arg_string(env, argv[0], "path", &address, &address_len)) return NULL;
  if (!arg_integer(env, argv[1], "backlog", 0, INT_MAX, &backlog)) {
    free(address);
    return NULL;
  }
  const char *syscall = "socket";
  int r = hf_listen_unix(address, address_len, (int)backlog, &syscall);
  free(address);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return new_int(env, r);
}

napi_value js_bind_unix_datagram(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  char *address;
  size_t address_len;
  if (!arg_string(env, argv[0], "address", &address, &address_len)) return NULL;
  const char *syscall = "socket";
  int r = hf_bind_unix_dgram(address, address_len, &syscall);
  free(address);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return new_int(env, r);
}

napi_value js_accept(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "listenFd", &fd)) return NULL;
  int r = hf_accept(fd);
  if (r == -EAGAIN) return js_null(env);
  if (r < 0) return throw_syscall_error(env, -r, "accept4");
  return new_int(env, r);
}

napi_value js_recv(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 5, argv);
  int fd;
  uint8_t *data;
  size_t len;
  bool peek;
  /* length >= 1: a zero-byte read would look exactly like EOF. */
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 1, &data, &len) ||
      !arg_bool(env, argv[4], "peek", &peek))
    return NULL;
  ssize_t n = hf_recv(fd, data, len, peek);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "recv");
  return new_int(env, n);
}

napi_value js_send(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *data;
  size_t len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 0, &data, &len)) return NULL;
  ssize_t n = hf_send(fd, data, len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "send");
  return new_int(env, n);
}

napi_value js_socketpair_seqpacket(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  int r = hf_socketpair_seqpacket(fds);
  if (r < 0) return throw_syscall_error(env, -r, "socketpair");
  napi_value pair;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &pair));
  napi_set_element(env, pair, 0, new_int(env, fds[0]));
  napi_set_element(env, pair, 1, new_int(env, fds[1]));
  return pair;
}

napi_value js_notify_send(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  char *address;
  size_t address_len;
  uint8_t *data;
  size_t len;
  int fds[HF_MAX_FDS];
  size_t nfds = 0;
  if (!arg_bytes(env, argv[1], "data", &data, &len) || !arg_fd_array(env, argv[2], "fds", fds, &nfds) ||
      !arg_string(env, argv[0], "address", &address, &address_len))
    return NULL;
  const char *syscall = "socket";
  int r = hf_notify_send(address, address_len, data, len, fds, nfds, &syscall);
  free(address);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return js_undefined(env);
}
