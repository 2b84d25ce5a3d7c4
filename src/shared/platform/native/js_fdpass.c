/* Messages carrying fds for JS (fdpass.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

/* recvWithFds allocates maxBytes up front; a SEQPACKET message is far smaller than this anyway. */
#define MAX_RECV_BYTES (64 * 1024 * 1024)

napi_value js_send_with_fds(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  int fd;
  uint8_t *data;
  size_t len;
  int fds[HF_MAX_FDS];
  size_t nfds = 0;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bytes(env, argv[1], "data", &data, &len) ||
      !arg_fd_array(env, argv[2], "fds", fds, &nfds))
    return NULL;
  if (len == 0 && nfds == 0) {
    /* On SEQPACKET the receiver could not tell it from EOF. */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "An empty message must carry at least one fd");
    return NULL;
  }
  ssize_t n = hf_send_fds(fd, data, len, fds, nfds);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "sendmsg");
  return new_int(env, n);
}

napi_value js_recv_with_fds(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  double max_bytes;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_integer(env, argv[1], "maxBytes", 1, MAX_RECV_BYTES, &max_bytes))
    return NULL;
  uint8_t *buf = malloc((size_t)max_bytes);
  if (buf == NULL) return throw_syscall_error(env, ENOMEM, "malloc");
  int fds[HF_MAX_FDS];
  size_t nfds = 0;
  int truncated = 0;
  ssize_t n = hf_recv_fds(fd, buf, (size_t)max_bytes, fds, &nfds, &truncated);
  if (n < 0) {
    free(buf);
    if (n == -EAGAIN) return js_null(env);
    return throw_syscall_error(env, (int)-n, "recvmsg");
  }
  /* Once received, the fds exist in this process: build the result without any early return that could
   * drop them on the floor. */
  napi_value obj = NULL, data = NULL, fd_array = NULL;
  bool ok = napi_create_buffer_copy(env, (size_t)n, buf, NULL, &data) == napi_ok &&
            napi_create_array_with_length(env, nfds, &fd_array) == napi_ok &&
            napi_create_object(env, &obj) == napi_ok;
  free(buf);
  for (size_t i = 0; ok && i < nfds; i++)
    ok = napi_set_element(env, fd_array, (uint32_t)i, new_int(env, fds[i])) == napi_ok;
  if (ok)
    ok = napi_set_named_property(env, obj, "data", data) == napi_ok &&
         napi_set_named_property(env, obj, "fds", fd_array) == napi_ok &&
         napi_set_named_property(env, obj, "truncated", js_bool(env, truncated != 0)) == napi_ok;
  if (!ok) {
    for (size_t i = 0; i < nfds; i++) hf_close(fds[i]);
    return throw_napi_failure(env);
  }
  return obj;
}

/* recvManyWithFds(fd, buffer, slotBytes, meta): messages into slots of `buffer`, and for message m
 * meta[3m] its length, meta[3m + 1] 1 if truncated, meta[3m + 2] its fd count; the fds follow at
 * meta[3 * count ...] in message order. No allocation per message: the caller reuses both arrays. */
napi_value js_recv_many_with_fds(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *buf;
  size_t size;
  double slot;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t meta_len = 0;
  void *meta_ptr = NULL;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bytes(env, argv[1], "buffer", &buf, &size) ||
      !arg_integer(env, argv[2], "slotBytes", 1, MAX_RECV_BYTES, &slot))
    return NULL;
  if (napi_is_typedarray(env, argv[3], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[3], &type, &meta_len, &meta_ptr, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"meta\" argument must be an Int32Array");
    return NULL;
  }
  size_t count = size / (size_t)slot;
  if (count > HF_RECV_MANY_MAX) count = HF_RECV_MANY_MAX;
  if (count == 0 || meta_len < count * (3 + HF_MAX_FDS)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "buffer must hold a slot, and meta 3 + 253 entries per slot");
    return NULL;
  }
  int *fds = malloc(sizeof(int) * HF_MAX_FDS * count);
  if (fds == NULL) return throw_syscall_error(env, ENOMEM, "malloc");
  size_t lens[HF_RECV_MANY_MAX], nfds[HF_RECV_MANY_MAX];
  int truncated[HF_RECV_MANY_MAX];
  int got = hf_recv_many_fds(fd, buf, (size_t)slot, count, fds, lens, nfds, truncated);
  if (got < 0) {
    free(fds);
    if (got == -EAGAIN) return js_null(env);
    return throw_syscall_error(env, -got, "recvmmsg");
  }
  /* The fds exist in this process now: everything below hands them over without an early return. */
  int32_t *meta = meta_ptr;
  size_t at = 3 * (size_t)got;
  for (int m = 0; m < got; m++) {
    meta[3 * m] = (int32_t)lens[m];
    meta[3 * m + 1] = truncated[m];
    meta[3 * m + 2] = (int32_t)nfds[m];
    for (size_t i = 0; i < nfds[m]; i++) meta[at++] = fds[(size_t)m * HF_MAX_FDS + i];
  }
  free(fds);
  return new_int(env, got);
}
