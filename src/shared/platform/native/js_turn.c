/* A worker turn's reply path in one call for JS (turn.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

/* Batches up to this many pieces need no allocation. */
#define BATCH_ON_STACK 64

static bool arg_int32_array(napi_env env, napi_value v, const char *name, int32_t **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, length, &ptr, NULL, NULL) != napi_ok || type != napi_int32_array)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be an Int32Array", name);
  *data = ptr;
  return true;
}

/* commitTurn(pipeWrite, pipeRead, control, batch, headerBytes, frame, fds, targets, targetCount, outcomes):
 * true when committed (outcomes filled), null when the commit would block. */
napi_value js_commit_turn(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 10, argv);
  double pipe_write, pipe_read, header_bytes, target_count;
  int control;
  bool is_array = false;
  uint32_t batch_count = 0;
  uint8_t *frame;
  size_t frame_len;
  int fds[HF_MAX_FDS];
  size_t nfds = 0;
  int32_t *targets, *outcomes;
  size_t targets_len, outcomes_len;
  if (!arg_integer(env, argv[0], "pipeWrite", -1, INT_MAX, &pipe_write) ||
      !arg_integer(env, argv[1], "pipeRead", -1, INT_MAX, &pipe_read) || !arg_fd(env, argv[2], "control", &control))
    return NULL;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array) {
    throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be an array of Uint8Arrays", "batch");
    return NULL;
  }
  NAPI_CALL(env, napi_get_array_length(env, argv[3], &batch_count));
  if (!arg_integer(env, argv[4], "headerBytes", 0, INT_MAX, &header_bytes) ||
      !arg_bytes(env, argv[5], "frame", &frame, &frame_len) || !arg_fd_array(env, argv[6], "fds", fds, &nfds) ||
      !arg_int32_array(env, argv[7], "targets", &targets, &targets_len) ||
      !arg_integer(env, argv[8], "targetCount", 0, (double)(targets_len / 2), &target_count) ||
      !arg_int32_array(env, argv[9], "outcomes", &outcomes, &outcomes_len))
    return NULL;
  if (outcomes_len < (size_t)target_count) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "The \"outcomes\" argument is shorter than targetCount");
    return NULL;
  }
  if (frame_len == 0) {
    /* On SEQPACKET the receiver could not tell it from EOF. */
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "The \"frame\" argument must not be empty");
    return NULL;
  }

  struct iovec on_stack[BATCH_ON_STACK];
  struct iovec *iov = on_stack;
  if (batch_count > BATCH_ON_STACK && (iov = malloc(sizeof(*iov) * batch_count)) == NULL)
    return throw_syscall_error(env, ENOMEM, "malloc");
  for (uint32_t i = 0; i < batch_count; i++) {
    napi_value item;
    uint8_t *data;
    size_t len;
    if (napi_get_element(env, argv[3], i, &item) != napi_ok || !arg_bytes(env, item, "batch", &data, &len)) {
      if (iov != on_stack) free(iov);
      return NULL;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }

  hf_turn turn = {
      .pipe_write = (int)pipe_write,
      .pipe_read = (int)pipe_read,
      .control = control,
      .batch = iov,
      .batch_count = batch_count,
      .header_bytes = (size_t)header_bytes,
      .frame = frame,
      .frame_len = frame_len,
      .fds = fds,
      .nfds = nfds,
      .targets = targets,
      .target_count = (size_t)target_count,
  };
  const char *failed_syscall = "commit_turn";
  int r = hf_commit_turn(&turn, outcomes, &failed_syscall);
  if (iov != on_stack) free(iov);
  if (r == 0) return js_null(env);
  if (r < 0) return throw_syscall_error(env, -r, failed_syscall);
  return js_bool(env, true);
}
