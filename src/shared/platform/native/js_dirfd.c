/* Names inside a directory fd for JS (dirfd.c). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

napi_value js_openat(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int dirfd;
  char *name;
  double flags, mode;
  if (!arg_fd(env, argv[0], "dirfd", &dirfd)) return NULL;
  if (!arg_integer(env, argv[2], "flags", 0, INT_MAX, &flags)) return NULL;
  if (!arg_integer(env, argv[3], "mode", 0, 07777, &mode)) return NULL;
  if (!arg_string(env, argv[1], "name", &name, NULL)) return NULL;
  int r = hf_openat_nofollow(dirfd, name, (int)flags, (unsigned)mode);
  free(name);
  if (r < 0) return throw_syscall_error(env, -r, "openat");
  return new_int(env, r);
}

napi_value js_fstatat(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int dirfd;
  char *name;
  if (!arg_fd(env, argv[0], "dirfd", &dirfd)) return NULL;
  if (!arg_string(env, argv[1], "name", &name, NULL)) return NULL;
  hf_stat st;
  int r = hf_fstatat_nofollow(dirfd, name, &st);
  free(name);
  if (r < 0) return throw_syscall_error(env, -r, "fstatat");
  napi_value obj, dev, ino;
  NAPI_CALL(env, napi_create_object(env, &obj));
  NAPI_CALL(env, napi_create_bigint_uint64(env, st.dev, &dev));
  NAPI_CALL(env, napi_create_bigint_uint64(env, st.ino, &ino));
  napi_set_named_property(env, obj, "dev", dev);
  napi_set_named_property(env, obj, "ino", ino);
  napi_set_named_property(env, obj, "mode", new_int(env, st.mode));
  napi_set_named_property(env, obj, "uid", new_int(env, st.uid));
  return obj;
}

napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int dirfd;
  char *name;
  if (!arg_fd(env, argv[0], "dirfd", &dirfd)) return NULL;
  if (!arg_string(env, argv[1], "name", &name, NULL)) return NULL;
  int r = hf_unlinkat(dirfd, name);
  free(name);
  if (r < 0) return throw_syscall_error(env, -r, "unlinkat");
  return js_undefined(env);
}
