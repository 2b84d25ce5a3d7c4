/* The N-API layer's errors. Every helper throws a JS exception and returns NULL (or false), so a function
 * called from JS can `return throw_...(...)` the moment something fails. */
#ifndef HOLDFAST_NAPI_ERRORS_H
#define HOLDFAST_NAPI_ERRORS_H

#include <stdbool.h>
#include <stdio.h>

#include <node_api.h>

/* A failed napi_* call as a JS exception (unless one is already pending). */
napi_value throw_napi_failure(napi_env env);

#define NAPI_CALL(env, call)                                                                                    \
  do {                                                                                                          \
    if ((call) != napi_ok) return throw_napi_failure(env);                                                      \
  } while (0)

/* A failed syscall as Error {code, errno, syscall}, built by the factory native.ts installs (setErrorFactory)
 * so it is a SyscallError. `err` is a positive errno. */
napi_value make_syscall_error(napi_env env, int err, const char *syscall);
napi_value throw_syscall_error(napi_env env, int err, const char *syscall);

/* A TypeError with Node's `code`; `fmt` holds one %s for the argument's name. Inline, so the compiler sees
 * that `return throw_type_error(...)` is always false. */
static inline bool throw_type_error(napi_env env, const char *code, const char *fmt, const char *name) {
  char message[256];
  snprintf(message, sizeof(message), fmt, name);
  napi_throw_type_error(env, code, message);
  return false;
}

#endif
