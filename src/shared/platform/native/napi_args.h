/* Argument checks for functions called from JS, with Node's error codes and messages. Each returns false
 * with a TypeError or RangeError thrown; `name` is the argument's name in the message. */
#ifndef HOLDFAST_NAPI_ARGS_H
#define HOLDFAST_NAPI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

#include "napi_errors.h"

/* Largest offset or length a JS number carries exactly (Number.MAX_SAFE_INTEGER). */
#define MAX_SAFE_INTEGER 9007199254740991.0

/* Fetches the first n arguments into argv[n]; missing ones are undefined. */
#define GET_ARGS(env, info, n, argv)                                                                            \
  napi_value argv[n];                                                                                           \
  do {                                                                                                          \
    size_t argc_ = n;                                                                                           \
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc_, argv, NULL, NULL));                                      \
  } while (0)

/* A number that is an integer in [min, max]. */
bool arg_integer(napi_env env, napi_value v, const char *name, double min, double max, double *out);
bool arg_fd(napi_env env, napi_value v, const char *name, int *out);
/* A non-negative integer up to MAX_SAFE_INTEGER (an offset or a length). */
bool arg_int64(napi_env env, napi_value v, const char *name, int64_t *out);
bool arg_bool(napi_env env, napi_value v, const char *name, bool *out);
bool arg_function(napi_env env, napi_value v, const char *name);
/* A malloc'd NUL-terminated copy, for the caller to free; out_len may be NULL. */
bool arg_string(napi_env env, napi_value v, const char *name, char **out, size_t *out_len);
/* A Buffer or Uint8Array, borrowed: valid until the call returns to JS. */
bool arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len);
/* argv[0..2] as (buffer, offset, length), with length >= min_length and the slice inside the buffer. */
bool arg_slice(napi_env env, napi_value *argv, size_t min_length, uint8_t **data, size_t *len);
/* An array of at most HF_MAX_FDS fds, into fds[HF_MAX_FDS]. */
bool arg_fd_array(napi_env env, napi_value v, const char *name, int *fds, size_t *nfds);

/* NULL-terminated array of malloc'd strings, for execve. */
typedef struct {
  char **items;
  uint32_t count;
} string_list;

/* An array of at least min_count strings; on success the caller frees it with string_list_free (a failure
 * leaves nothing to free). */
bool arg_string_list(napi_env env, napi_value v, const char *name, uint32_t min_count, string_list *out);
void string_list_free(string_list *list);

#endif
