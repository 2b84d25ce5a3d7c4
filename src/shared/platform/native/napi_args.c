/* Argument checks for functions called from JS: each returns false with a TypeError or RangeError thrown. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#include "holdfast.h"
#include "napi_args.h"
#include "napi_errors.h"

bool arg_integer(napi_env env, napi_value v, const char *name, double min, double max, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type number", name);
  double d = 0;
  napi_get_value_double(env, v, &d);
  if (!isfinite(d) || floor(d) != d || d < min || d > max) {
    char message[256];
    snprintf(message, sizeof(message),
             "The value of \"%s\" is out of range. It must be an integer >= %.0f and <= %.0f. Received %.17g", name,
             min, max, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = d;
  return true;
}

bool arg_fd(napi_env env, napi_value v, const char *name, int *out) {
  double d;
  if (!arg_integer(env, v, name, 0, INT_MAX, &d)) return false;
  *out = (int)d;
  return true;
}

bool arg_int64(napi_env env, napi_value v, const char *name, int64_t *out) {
  double d;
  if (!arg_integer(env, v, name, 0, MAX_SAFE_INTEGER, &d)) return false;
  *out = (int64_t)d;
  return true;
}

bool arg_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type boolean", name);
  napi_get_value_bool(env, v, out);
  return true;
}

bool arg_function(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type function", name);
  return true;
}

/* A malloc'd NUL-terminated copy; the kernel would silently cut a name at an embedded NUL. */
bool arg_string(napi_env env, napi_value v, const char *name, char **out, size_t *out_len) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type string", name);
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *s = malloc(len + 1);
  if (s == NULL) {
    throw_syscall_error(env, ENOMEM, "malloc");
    return false;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (memchr(s, '\0', len) != NULL) {
    free(s);
    return throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument must not contain null bytes",
                            name);
  }
  *out = s;
  if (out_len) *out_len = len;
  return true;
}

bool arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, len, &ptr, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be a Buffer or Uint8Array",
                            name);
  *data = ptr;
  return true;
}

/* A slice (offset, length) of a byte array, checked against its size. */
bool arg_slice(napi_env env, napi_value *argv, size_t min_length, uint8_t **data, size_t *len) {
  uint8_t *base;
  size_t size;
  double offset, length;
  if (!arg_bytes(env, argv[0], "buffer", &base, &size)) return false;
  if (!arg_integer(env, argv[1], "offset", 0, (double)size, &offset)) return false;
  if (!arg_integer(env, argv[2], "length", (double)min_length, (double)size - offset, &length)) return false;
  *data = base + (size_t)offset;
  *len = (size_t)length;
  return true;
}

bool arg_fd_array(napi_env env, napi_value v, const char *name, int *fds, size_t *nfds) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be an array of fds", name);
  napi_get_array_length(env, v, &n);
  if (n > HF_MAX_FDS) {
    char message[128];
    snprintf(message, sizeof(message), "The \"%s\" argument holds %u fds; at most %d fit in one message", name, n,
             HF_MAX_FDS);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, v, i, &item) != napi_ok) return false;
    if (!arg_fd(env, item, name, &fds[i])) return false;
  }
  *nfds = n;
  return true;
}

void string_list_free(string_list *list) {
  if (list->items == NULL) return;
  for (uint32_t i = 0; i < list->count; i++) free(list->items[i]);
  free(list->items);
  list->items = NULL;
}

bool arg_string_list(napi_env env, napi_value v, const char *name, uint32_t min_count, string_list *out) {
  bool is_array = false;
  uint32_t n = 0;
  out->items = NULL;
  out->count = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be an array of strings", name);
  napi_get_array_length(env, v, &n);
  if (n < min_count)
    return throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument must not be empty", name);
  out->items = calloc((size_t)n + 1, sizeof(char *));
  if (out->items == NULL) {
    throw_syscall_error(env, ENOMEM, "malloc");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, v, i, &item) != napi_ok || !arg_string(env, item, name, &out->items[i], NULL)) {
      string_list_free(out);
      return false;
    }
    out->count = i + 1;
  }
  return true;
}
