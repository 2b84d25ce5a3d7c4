/* C values as JS values. The tiny constructors ignore N-API failure: the caller's next call reports it. */
#ifndef HOLDFAST_NAPI_VALUES_H
#define HOLDFAST_NAPI_VALUES_H

#include <stdbool.h>
#include <stdint.h>

#include <node_api.h>

static inline napi_value new_string(napi_env env, const char *s) {
  napi_value v = NULL;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static inline napi_value new_int(napi_env env, int64_t n) {
  napi_value v = NULL;
  napi_create_int64(env, n, &v);
  return v;
}

static inline napi_value js_null(napi_env env) {
  napi_value v = NULL;
  napi_get_null(env, &v);
  return v;
}

static inline napi_value js_undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

static inline napi_value js_bool(napi_env env, bool b) {
  napi_value v = NULL;
  napi_get_boolean(env, b, &v);
  return v;
}

/* A signal number as Node names it, e.g. 'SIGTERM'. */
napi_value signal_name(napi_env env, int sig);
/* A signal bit set (bit n-1 for signal n) as an array of names. */
napi_value signal_names(napi_env env, uint64_t bits);

#endif
