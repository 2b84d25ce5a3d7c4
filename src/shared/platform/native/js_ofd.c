/* Byte-range locks for JS (ofd.c). A conflicting holder is an answer (false), not an error. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

/* 'read' or 'write'. */
static bool arg_lock_type(napi_env env, napi_value v, const char *name, hf_lock_type *out) {
  char buf[8];
  size_t len = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_string &&
      napi_get_value_string_utf8(env, v, buf, sizeof(buf), &len) == napi_ok) {
    if (strcmp(buf, "read") == 0) {
      *out = HF_LOCK_READ;
      return true;
    }
    if (strcmp(buf, "write") == 0) {
      *out = HF_LOCK_WRITE;
      return true;
    }
  }
  return throw_type_error(env, "ERR_INVALID_ARG_VALUE", "The \"%s\" argument must be 'read' or 'write'", name);
}

static napi_value lock_info_value(napi_env env, const hf_lock_info *info) {
  if (info->type == HF_LOCK_NONE) return js_null(env);
  napi_value obj;
  NAPI_CALL(env, napi_create_object(env, &obj));
  napi_set_named_property(env, obj, "type", new_string(env, info->type == HF_LOCK_READ ? "read" : "write"));
  napi_set_named_property(env, obj, "start", new_int(env, info->start));
  napi_set_named_property(env, obj, "len", new_int(env, info->len));
  napi_set_named_property(env, obj, "pid", new_int(env, info->pid));
  return obj;
}

typedef int (*setlk_fn)(int, hf_lock_type, int64_t, int64_t);
typedef int (*getlk_fn)(int, hf_lock_type, int64_t, int64_t, hf_lock_info *);

/* A conflicting holder is the expected case: false. Anything else is a real failure. */
static napi_value try_lock(napi_env env, napi_callback_info info, setlk_fn fn, const char *syscall) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  hf_lock_type type;
  int64_t start, len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_lock_type(env, argv[1], "type", &type) ||
      !arg_int64(env, argv[2], "start", &start) || !arg_int64(env, argv[3], "len", &len))
    return NULL;
  int r = fn(fd, type, start, len);
  if (r == -EAGAIN || r == -EACCES) return js_bool(env, false);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return js_bool(env, true);
}

static napi_value unlock(napi_env env, napi_callback_info info, setlk_fn fn, const char *syscall) {
  GET_ARGS(env, info, 3, argv);
  int fd;
  int64_t start, len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_int64(env, argv[1], "start", &start) ||
      !arg_int64(env, argv[2], "len", &len))
    return NULL;
  int r = fn(fd, HF_LOCK_NONE, start, len);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return js_undefined(env);
}

static napi_value get_lock(napi_env env, napi_callback_info info, getlk_fn fn, const char *syscall) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  hf_lock_type type;
  int64_t start, len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_lock_type(env, argv[1], "type", &type) ||
      !arg_int64(env, argv[2], "start", &start) || !arg_int64(env, argv[3], "len", &len))
    return NULL;
  hf_lock_info out;
  int r = fn(fd, type, start, len, &out);
  if (r < 0) return throw_syscall_error(env, -r, syscall);
  return lock_info_value(env, &out);
}

napi_value js_ofd_try_lock(napi_env env, napi_callback_info info) {
  return try_lock(env, info, hf_ofd_setlk, "fcntl(F_OFD_SETLK)");
}
napi_value js_ofd_unlock(napi_env env, napi_callback_info info) {
  return unlock(env, info, hf_ofd_setlk, "fcntl(F_OFD_SETLK)");
}
napi_value js_ofd_get_lock(napi_env env, napi_callback_info info) {
  return get_lock(env, info, hf_ofd_getlk, "fcntl(F_OFD_GETLK)");
}
napi_value js_posix_try_lock(napi_env env, napi_callback_info info) {
  return try_lock(env, info, hf_posix_setlk, "fcntl(F_SETLK)");
}
napi_value js_posix_unlock(napi_env env, napi_callback_info info) {
  return unlock(env, info, hf_posix_setlk, "fcntl(F_SETLK)");
}
napi_value js_posix_get_lock(napi_env env, napi_callback_info info) {
  return get_lock(env, info, hf_posix_getlk, "fcntl(F_GETLK)");
}

/* The pid file's lock: true when taken (or already this description's), false when held elsewhere. */
napi_value js_flock_exclusive(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_flock_exclusive(fd);
  if (r == -EWOULDBLOCK) return js_bool(env, false);
  if (r < 0) return throw_syscall_error(env, -r, "flock");
  return js_bool(env, true);
}
