/* N-API glue for holdfast.h: argument checks, errno -> Error {code, errno, syscall}, and the Poller class.
 * It decides only what an expected errno means (EAGAIN -> null/false); the syscalls live in the other files. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <sys/resource.h>

#include "holdfast.h"

/* Largest offset or length a JS number carries exactly (Number.MAX_SAFE_INTEGER). */
#define MAX_SAFE_INTEGER 9007199254740991.0
/* recvWithFds allocates maxBytes up front; a SEQPACKET message is far smaller than this anyway. */
#define MAX_RECV_BYTES (64 * 1024 * 1024)

typedef struct {
  napi_ref error_factory; /* (code, errno, syscall, message) => Error, installed by native.ts */
  napi_ref callback_key;  /* symbol under which a Poller object keeps its callback */
} module_state;

/* ---------------------------------------------------------------------------------------------------------
 * Errors
 */

/* Surfaces a failed napi_* call as a JS exception (unless one is already pending) and returns NULL. */
static napi_value napi_failure(napi_env env) {
  /* Read the error info first: any further napi call overwrites it. */
  const napi_extended_error_info *info = NULL;
  char message[256] = "N-API call failed";
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message)
    snprintf(message, sizeof(message), "N-API call failed: %s", info->error_message);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, message);
  return NULL;
}

#define NAPI_CALL(env, call)                                                                                    \
  do {                                                                                                          \
    if ((call) != napi_ok) return napi_failure(env);                                                            \
  } while (0)

static module_state *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static napi_value new_string(napi_env env, const char *s) {
  napi_value v = NULL;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value new_int(napi_env env, int64_t n) {
  napi_value v = NULL;
  napi_create_int64(env, n, &v);
  return v;
}

static napi_value js_null(napi_env env) {
  napi_value v = NULL;
  napi_get_null(env, &v);
  return v;
}

static napi_value js_undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value js_bool(napi_env env, bool b) {
  napi_value v = NULL;
  napi_get_boolean(env, b, &v);
  return v;
}

/* Builds the Error for a failed syscall. `err` is a positive errno. Returns NULL with an exception
 * pending if even that failed. */
static napi_value make_syscall_error(napi_env env, int err, const char *syscall) {
  const char *code = strerrorname_np(err);
  const char *desc = strerrordesc_np(err);
  if (code == NULL) code = "UNKNOWN";
  if (desc == NULL) desc = "Unknown error";
  char message[256];
  snprintf(message, sizeof(message), "%s: %s, %s", code, desc, syscall);

  napi_value argv[4] = {new_string(env, code), new_int(env, err), new_string(env, syscall), new_string(env, message)};
  module_state *state = state_of(env);
  napi_value factory = NULL;
  if (state && state->error_factory) napi_get_reference_value(env, state->error_factory, &factory);
  napi_value error = NULL;
  if (factory != NULL) {
    napi_value global = NULL;
    napi_get_global(env, &global);
    if (napi_call_function(env, global, factory, 4, argv, &error) != napi_ok) return NULL;
    return error;
  }
  /* No factory installed (native.ts not in the loop): a plain Error with the same fields. */
  if (napi_create_error(env, argv[0], argv[3], &error) != napi_ok) return napi_failure(env);
  napi_set_named_property(env, error, "errno", argv[1]);
  napi_set_named_property(env, error, "syscall", argv[2]);
  return error;
}

static napi_value throw_syscall_error(napi_env env, int err, const char *syscall) {
  napi_value error = make_syscall_error(env, err, syscall);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

static bool throw_type_error(napi_env env, const char *code, const char *fmt, const char *name) {
  char message[256];
  snprintf(message, sizeof(message), fmt, name);
  napi_throw_type_error(env, code, message);
  return false;
}

/* ---------------------------------------------------------------------------------------------------------
 * Argument checks: each returns false with a TypeError or RangeError thrown.
 */

static bool arg_integer(napi_env env, napi_value v, const char *name, double min, double max, double *out) {
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

static bool arg_fd(napi_env env, napi_value v, const char *name, int *out) {
  double d;
  if (!arg_integer(env, v, name, 0, INT_MAX, &d)) return false;
  *out = (int)d;
  return true;
}

static bool arg_int64(napi_env env, napi_value v, const char *name, int64_t *out) {
  double d;
  if (!arg_integer(env, v, name, 0, MAX_SAFE_INTEGER, &d)) return false;
  *out = (int64_t)d;
  return true;
}

static bool arg_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type boolean", name);
  napi_get_value_bool(env, v, out);
  return true;
}

static bool arg_function(napi_env env, napi_value v, const char *name) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function)
    return throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"%s\" argument must be of type function", name);
  return true;
}

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

/* A malloc'd NUL-terminated copy; the kernel would silently cut a name at an embedded NUL. */
static bool arg_string(napi_env env, napi_value v, const char *name, char **out, size_t *out_len) {
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

static bool arg_bytes(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
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
static bool arg_slice(napi_env env, napi_value *argv, size_t min_length, uint8_t **data, size_t *len) {
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

static bool arg_fd_array(napi_env env, napi_value v, const char *name, int *fds, size_t *nfds) {
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

/* NULL-terminated array of malloc'd strings, for execve. */
typedef struct {
  char **items;
  uint32_t count;
} string_list;

static void string_list_free(string_list *list) {
  if (list->items == NULL) return;
  for (uint32_t i = 0; i < list->count; i++) free(list->items[i]);
  free(list->items);
  list->items = NULL;
}

static bool arg_string_list(napi_env env, napi_value v, const char *name, uint32_t min_count, string_list *out) {
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

#define GET_ARGS(env, info, n, argv)                                                                            \
  napi_value argv[n];                                                                                           \
  do {                                                                                                          \
    size_t argc_ = n;                                                                                           \
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc_, argv, NULL, NULL));                                      \
  } while (0)

/* ---------------------------------------------------------------------------------------------------------
 * Locks
 */

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

static napi_value js_ofd_try_lock(napi_env env, napi_callback_info info) {
  return try_lock(env, info, hf_ofd_setlk, "fcntl(F_OFD_SETLK)");
}
static napi_value js_ofd_unlock(napi_env env, napi_callback_info info) {
  return unlock(env, info, hf_ofd_setlk, "fcntl(F_OFD_SETLK)");
}
static napi_value js_ofd_get_lock(napi_env env, napi_callback_info info) {
  return get_lock(env, info, hf_ofd_getlk, "fcntl(F_OFD_GETLK)");
}
static napi_value js_posix_try_lock(napi_env env, napi_callback_info info) {
  return try_lock(env, info, hf_posix_setlk, "fcntl(F_SETLK)");
}
static napi_value js_posix_unlock(napi_env env, napi_callback_info info) {
  return unlock(env, info, hf_posix_setlk, "fcntl(F_SETLK)");
}
static napi_value js_posix_get_lock(napi_env env, napi_callback_info info) {
  return get_lock(env, info, hf_posix_getlk, "fcntl(F_GETLK)");
}

/* ---------------------------------------------------------------------------------------------------------
 * Sockets
 */

static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
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

static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
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

static napi_value js_bind_unix_datagram(napi_env env, napi_callback_info info) {
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

static napi_value js_accept(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "listenFd", &fd)) return NULL;
  int r = hf_accept(fd);
  if (r == -EAGAIN) return js_null(env);
  if (r < 0) return throw_syscall_error(env, -r, "accept4");
  return new_int(env, r);
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
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

static napi_value js_send(napi_env env, napi_callback_info info) {
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

static napi_value js_socketpair_seqpacket(napi_env env, napi_callback_info info) {
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

static napi_value js_send_with_fds(napi_env env, napi_callback_info info) {
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

static napi_value js_recv_with_fds(napi_env env, napi_callback_info info) {
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
    return napi_failure(env);
  }
  return obj;
}

static napi_value js_notify_send(napi_env env, napi_callback_info info) {
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

/* ---------------------------------------------------------------------------------------------------------
 * Fds
 */

static napi_value js_set_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool on;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "on", &on)) return NULL;
  int r = hf_set_cloexec(fd, on);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_SETFD)");
  return js_undefined(env);
}

static napi_value js_get_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_get_cloexec(fd);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_GETFD)");
  return js_bool(env, r == 1);
}

static napi_value js_set_nonblock(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool on;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "on", &on)) return NULL;
  int r = hf_set_nonblock(fd, on);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_SETFL)");
  return js_undefined(env);
}

static napi_value js_dup_cloexec(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_dup_cloexec(fd);
  if (r < 0) return throw_syscall_error(env, -r, "fcntl(F_DUPFD_CLOEXEC)");
  return new_int(env, r);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_close(fd);
  if (r < 0) return throw_syscall_error(env, -r, "close");
  return js_undefined(env);
}

/* ---------------------------------------------------------------------------------------------------------
 * Names inside a directory fd
 */

static napi_value js_openat(napi_env env, napi_callback_info info) {
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

static napi_value js_fstatat(napi_env env, napi_callback_info info) {
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

static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
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

/* ---------------------------------------------------------------------------------------------------------
 * Processes
 */

static napi_value js_execve(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  char *path;
  string_list args, envs;
  if (!arg_string(env, argv[0], "path", &path, NULL)) return NULL;
  if (!arg_string_list(env, argv[1], "argv", 1, &args)) {
    free(path);
    return NULL;
  }
  if (!arg_string_list(env, argv[2], "env", 0, &envs)) {
    free(path);
    string_list_free(&args);
    return NULL;
  }
  int r = hf_execve(path, args.items, envs.items);
  free(path);
  string_list_free(&args);
  string_list_free(&envs);
  return throw_syscall_error(env, -r, "execve");
}

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 1, INT_MAX, &pid)) return NULL;
  int r = hf_pidfd_open((pid_t)pid);
  if (r < 0) return throw_syscall_error(env, -r, "pidfd_open");
  return new_int(env, r);
}

static napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int pidfd;
  double sig;
  if (!arg_fd(env, argv[0], "pidfd", &pidfd) || !arg_integer(env, argv[1], "signal", 1, 64, &sig)) return NULL;
  int r = hf_pidfd_send_signal(pidfd, (int)sig);
  if (r < 0) return throw_syscall_error(env, -r, "pidfd_send_signal");
  return js_undefined(env);
}

static napi_value js_peer_pidfd(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int r = hf_peer_pidfd(fd);
  if (r < 0) return throw_syscall_error(env, -r, "getsockopt(SO_PEERPIDFD)");
  return new_int(env, r);
}

/* Names as Node's child_process spells them ('SIGIO', not glibc's 'SIGPOLL'). */
static napi_value signal_name(napi_env env, int sig) {
  char name[32];
  const char *abbrev = sig == SIGIO ? "IO" : sigabbrev_np(sig);
  if (abbrev) snprintf(name, sizeof(name), "SIG%s", abbrev);
  else if (sig >= SIGRTMIN && sig <= SIGRTMAX) snprintf(name, sizeof(name), "SIGRTMIN+%d", sig - SIGRTMIN);
  else snprintf(name, sizeof(name), "SIG%d", sig);
  return new_string(env, name);
}

static napi_value latched_signal(napi_env env, int sig) {
  return sig == 0 ? js_null(env) : signal_name(env, sig);
}

/* A signal bit set (bit n-1 for signal n) as an array of names. */
static napi_value signal_names(napi_env env, uint64_t bits) {
  napi_value out;
  NAPI_CALL(env, napi_create_array(env, &out));
  uint32_t n = 0;
  for (int sig = 1; sig <= 64; sig++) {
    if (!(bits & (UINT64_C(1) << (sig - 1)))) continue;
    NAPI_CALL(env, napi_set_element(env, out, n++, signal_name(env, sig)));
  }
  return out;
}

static napi_value js_exec_latch_arm(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_exec_latch_arm();
  if (r < 0) return throw_syscall_error(env, -r, "sigaction");
  return js_undefined(env);
}

static napi_value js_exec_latch_hold(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_exec_latch_hold();
  if (r < 0) return throw_syscall_error(env, -r, "pthread_sigmask");
  return latched_signal(env, r);
}

static napi_value js_exec_latch_disarm(napi_env env, napi_callback_info info) {
  (void)info;
  return signal_names(env, hf_exec_latch_disarm());
}

static napi_value js_block_guarded_signals(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  bool block;
  if (!arg_bool(env, argv[0], "block", &block)) return NULL;
  int r = hf_block_guarded_signals(block);
  if (r < 0) return throw_syscall_error(env, -r, "pthread_sigmask");
  return js_undefined(env);
}

static napi_value js_signal_guard_loaded(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, hf_guard_loaded(), &out));
  return out;
}

static napi_value js_signal_guard_install_here(napi_env env, napi_callback_info info) {
  (void)info;
  hf_guard_install_here();
  return js_undefined(env);
}

static napi_value js_guard_faults(napi_env env, napi_callback_info info) {
  (void)info;
  int r = hf_guard_faults();
  if (r < 0) return throw_syscall_error(env, -r, "sigaction");
  return js_undefined(env);
}

static napi_value js_signal_guard_take(napi_env env, napi_callback_info info) {
  (void)info;
  return signal_names(env, hf_guard_take());
}

static napi_value js_waitpid(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  double pid;
  bool no_hang;
  /* pid >= 1 only: waiting on -1 or a process group would reap libuv's children behind its back. */
  if (!arg_integer(env, argv[0], "pid", 1, INT_MAX, &pid) || !arg_bool(env, argv[1], "noHang", &no_hang))
    return NULL;
  hf_wait_result res;
  int r = hf_waitpid((pid_t)pid, no_hang, &res);
  if (r < 0) return throw_syscall_error(env, -r, "waitpid");
  if (res.pid == 0) return js_null(env);
  napi_value obj;
  NAPI_CALL(env, napi_create_object(env, &obj));
  napi_set_named_property(env, obj, "pid", new_int(env, res.pid));
  napi_set_named_property(env, obj, "exitCode", res.exited ? new_int(env, res.exit_code) : js_null(env));
  napi_set_named_property(env, obj, "signal", res.exited ? js_null(env) : signal_name(env, res.term_signal));
  return obj;
}

/* ---------------------------------------------------------------------------------------------------------
 * The fd budget
 */

/* RLIM_INFINITY as Infinity; any real limit fits a double exactly. */
static napi_value limit_value(napi_env env, uint64_t v) {
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, v == (uint64_t)RLIM_INFINITY ? INFINITY : (double)v, &out));
  return out;
}

static napi_value js_nofile_limit(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 0, INT_MAX, &pid)) return NULL;
  uint64_t soft, hard;
  int r = hf_nofile_get((pid_t)pid, &soft, &hard);
  if (r < 0) return throw_syscall_error(env, -r, "prlimit");
  napi_value result;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_set_named_property(env, result, "soft", limit_value(env, soft)));
  NAPI_CALL(env, napi_set_named_property(env, result, "hard", limit_value(env, hard)));
  return result;
}

static napi_value js_set_nofile_limit(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  double soft, hard;
  if (!arg_integer(env, argv[0], "soft", 0, MAX_SAFE_INTEGER, &soft) || !arg_integer(env, argv[1], "hard", 0, MAX_SAFE_INTEGER, &hard)) return NULL;
  int r = hf_nofile_set((uint64_t)soft, (uint64_t)hard);
  if (r < 0) return throw_syscall_error(env, -r, "setrlimit(RLIMIT_NOFILE)");
  return js_undefined(env);
}

static napi_value js_count_open_fds(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double pid;
  if (!arg_integer(env, argv[0], "pid", 0, INT_MAX, &pid)) return NULL;
  int64_t n = hf_count_fds((pid_t)pid);
  if (n < 0) return throw_syscall_error(env, (int)-n, "opendir(/proc/pid/fd)");
  return new_int(env, n);
}

/* ---------------------------------------------------------------------------------------------------------
 * Reply relay and edge-triggered readiness
 */

static napi_value js_set_batch_scheduling(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  bool on;
  if (!arg_bool(env, argv[0], "on", &on)) return NULL;
  int r = hf_set_batch_scheduling(on);
  if (r < 0) return throw_syscall_error(env, -r, "sched_setscheduler");
  return js_undefined(env);
}

static napi_value js_set_peek_offset(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  double offset;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_integer(env, argv[1], "offset", -1, INT_MAX, &offset)) return NULL;
  int r = hf_set_peek_off(fd, (int)offset);
  if (r < 0) return throw_syscall_error(env, -r, "setsockopt");
  return js_undefined(env);
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  double size;
  if (!arg_integer(env, argv[0], "size", 0, INT_MAX, &size)) return NULL;
  int fds[2];
  int capacity = hf_pipe(fds, (int)size);
  if (capacity < 0) return throw_syscall_error(env, -capacity, "pipe2");
  napi_value result;
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &result));
  NAPI_CALL(env, napi_set_element(env, result, 0, new_int(env, fds[0])));
  NAPI_CALL(env, napi_set_element(env, result, 1, new_int(env, fds[1])));
  NAPI_CALL(env, napi_set_element(env, result, 2, new_int(env, capacity)));
  return result;
}

static napi_value js_splice(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 3, argv);
  int from, to;
  double len;
  if (!arg_fd(env, argv[0], "from", &from) || !arg_fd(env, argv[1], "to", &to) ||
      !arg_integer(env, argv[2], "length", 1, INT_MAX, &len))
    return NULL;
  ssize_t n = hf_splice(from, to, (size_t)len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "splice");
  return new_int(env, n);
}

static napi_value js_read(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *data;
  size_t len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 1, &data, &len)) return NULL;
  ssize_t n = hf_read(fd, data, len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "read");
  return new_int(env, n);
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 4, argv);
  int fd;
  uint8_t *data;
  size_t len;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_slice(env, argv + 1, 0, &data, &len)) return NULL;
  ssize_t n = hf_write(fd, data, len);
  if (n == -EAGAIN) return js_null(env);
  if (n < 0) return throw_syscall_error(env, (int)-n, "write");
  return new_int(env, n);
}

static napi_value js_queued(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  bool outgoing;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_bool(env, argv[1], "outgoing", &outgoing)) return NULL;
  int n = hf_queued(fd, outgoing);
  if (n < 0) return throw_syscall_error(env, -n, "ioctl");
  return new_int(env, n);
}

static napi_value js_grow_send_buffer(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int fd;
  double bytes;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_integer(env, argv[1], "bytes", 1, INT32_MAX, &bytes)) return NULL;
  int n = hf_grow_send_buffer(fd, (int)bytes);
  if (n < 0) return throw_syscall_error(env, -n, "setsockopt");
  return new_int(env, n);
}

static napi_value js_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = hf_epoll_create();
  if (fd < 0) return throw_syscall_error(env, -fd, "epoll_create1");
  return new_int(env, fd);
}

static napi_value js_epoll_add(napi_env env, napi_callback_info info) {
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

static napi_value js_epoll_del(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 2, argv);
  int epfd, fd;
  if (!arg_fd(env, argv[0], "epfd", &epfd) || !arg_fd(env, argv[1], "fd", &fd)) return NULL;
  int r = hf_epoll_del(epfd, fd);
  if (r < 0) return throw_syscall_error(env, -r, "epoll_ctl");
  return js_undefined(env);
}

static napi_value js_epoll_take(napi_env env, napi_callback_info info) {
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

/* ---------------------------------------------------------------------------------------------------------
 * Poller: a JS object over hf_poll.
 *
 * Lifetime: the JS object is held by a reference that is strong while the watcher is started (a started
 * watcher keeps its callback alive, like any libuv handle) and weak otherwise. The callback lives as a
 * symbol-keyed property of the object, so a stopped Poller that closes over itself can still be collected.
 * The struct is freed when both sides are done: the finalizer ran (js_gone) and the uv handle is closed.
 */

typedef struct {
  napi_env env;
  hf_poll *poll; /* NULL once close was requested (or init failed) */
  napi_ref self;
  napi_async_context async;
  bool strong;
  bool js_gone;
  bool uv_closed;
} poller;

static void poller_set_strong(poller *p, bool strong) {
  if (p->strong == strong || p->self == NULL) return;
  uint32_t count;
  if (strong) napi_reference_ref(p->env, p->self, &count);
  else napi_reference_unref(p->env, p->self, &count);
  p->strong = strong;
}

static void poller_on_closed(void *data) {
  poller *p = data;
  p->uv_closed = true;
  if (p->js_gone) free(p);
}

static void poller_close(poller *p) {
  if (p->poll == NULL) return;
  hf_poll_close(p->poll, poller_on_closed);
  p->poll = NULL;
  poller_set_strong(p, false);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  poller *p = data;
  p->js_gone = true;
  if (p->self) napi_delete_reference(env, p->self);
  p->self = NULL;
  if (p->async) napi_async_destroy(env, p->async);
  p->async = NULL;
  if (p->poll) {
    hf_poll_close(p->poll, poller_on_closed); /* frees p from the loop */
    p->poll = NULL;
  } else if (p->uv_closed) {
    free(p);
  }
}

/* Runs from the loop. An exception from the callback becomes an uncaught exception, as for any
 * Node event callback. */
static void poller_on_event(hf_poll *poll, int status, int events, void *data) {
  (void)poll;
  poller *p = data;
  if (p->poll == NULL || p->js_gone) return; /* closed: no callback after close() */
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  napi_value self = NULL, callback = NULL, key = NULL, error = NULL;
  module_state *state = state_of(env);
  napi_get_reference_value(env, p->self, &self);
  if (status < 0) poller_set_strong(p, false); /* libuv stopped the watcher before reporting the error */
  if (self != NULL && state != NULL && napi_get_reference_value(env, state->callback_key, &key) == napi_ok &&
      napi_get_property(env, self, key, &callback) == napi_ok) {
    error = status < 0 ? make_syscall_error(env, -status, "uv_poll") : js_null(env);
    if (error != NULL) {
      napi_value argv[2] = {new_int(env, status < 0 ? 0 : events), error};
      napi_value result;
      napi_make_callback(env, p->async, self, callback, 2, argv, &result);
    }
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

static poller *poller_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
    napi_failure(env);
    return NULL;
  }
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "Value of \"this\" must be of type Poller");
    return NULL;
  }
  return data;
}

static napi_value js_poller_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self, new_target;
  size_t argc = 2;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  NAPI_CALL(env, napi_get_new_target(env, info, &new_target));
  if (new_target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED",
                          "Class constructor Poller cannot be invoked without 'new'");
    return NULL;
  }
  int fd;
  if (!arg_fd(env, argv[0], "fd", &fd) || !arg_function(env, argv[1], "onEvent")) return NULL;

  module_state *state = state_of(env);
  napi_value key;
  NAPI_CALL(env, napi_get_reference_value(env, state->callback_key, &key));
  napi_property_descriptor callback_prop = {.name = key, .value = argv[1], .attributes = napi_default};
  NAPI_CALL(env, napi_define_properties(env, self, 1, &callback_prop));

  poller *p = calloc(1, sizeof(*p));
  if (p == NULL) return throw_syscall_error(env, ENOMEM, "malloc");
  p->env = env;
  p->uv_closed = true; /* nothing to close until hf_poll_new succeeds */
  if (napi_wrap(env, self, p, poller_finalize, NULL, NULL) != napi_ok) {
    free(p);
    return napi_failure(env);
  }
  /* From here on the finalizer owns p. */
  NAPI_CALL(env, napi_create_reference(env, self, 0, &p->self));
  NAPI_CALL(env, napi_async_init(env, self, new_string(env, "holdfast.Poller"), &p->async));

  struct uv_loop_s *loop;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  int r = hf_poll_new(loop, fd, poller_on_event, p, &p->poll);
  if (r < 0) return throw_syscall_error(env, -r, "uv_poll_init");
  p->uv_closed = false;
  return self;
}

static napi_value js_poller_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  poller *p = poller_this(env, info, &argc, argv);
  if (p == NULL) return NULL;
  if (argc < 1) argv[0] = js_undefined(env);
  double events;
  if (!arg_integer(env, argv[0], "events", 1, HF_POLL_READABLE | HF_POLL_WRITABLE | HF_POLL_DISCONNECT, &events)) return NULL;
  if (p->poll == NULL) {
    napi_throw_error(env, "ERR_POLLER_CLOSED", "Poller is closed");
    return NULL;
  }
  int r = hf_poll_start(p->poll, (int)events);
  if (r < 0) return throw_syscall_error(env, -r, "uv_poll_start");
  poller_set_strong(p, true);
  return js_undefined(env);
}

static napi_value js_poller_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller *p = poller_this(env, info, &argc, NULL);
  if (p == NULL) return NULL;
  if (p->poll != NULL) {
    hf_poll_stop(p->poll);
    poller_set_strong(p, false);
  }
  return js_undefined(env);
}

static napi_value js_poller_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller *p = poller_this(env, info, &argc, NULL);
  if (p == NULL) return NULL;
  poller_close(p);
  return js_undefined(env);
}

static napi_value js_poller_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller *p = poller_this(env, info, &argc, NULL);
  if (p == NULL) return NULL;
  if (p->poll != NULL) hf_poll_ref(p->poll, 1);
  return js_undefined(env);
}

static napi_value js_poller_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller *p = poller_this(env, info, &argc, NULL);
  if (p == NULL) return NULL;
  if (p->poll != NULL) hf_poll_ref(p->poll, 0);
  return js_undefined(env);
}

static napi_value js_poller_has_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller *p = poller_this(env, info, &argc, NULL);
  if (p == NULL) return NULL;
  return js_bool(env, p->poll != NULL && hf_poll_has_ref(p->poll));
}

/* ---------------------------------------------------------------------------------------------------------
 * Module
 */

static napi_value js_set_error_factory(napi_env env, napi_callback_info info) {
  GET_ARGS(env, info, 1, argv);
  if (!arg_function(env, argv[0], "factory")) return NULL;
  module_state *state = state_of(env);
  if (state->error_factory) napi_delete_reference(env, state->error_factory);
  state->error_factory = NULL;
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &state->error_factory));
  return js_undefined(env);
}

static void module_state_free(napi_env env, void *data, void *hint) {
  (void)hint;
  module_state *state = data;
  if (state->error_factory) napi_delete_reference(env, state->error_factory);
  if (state->callback_key) napi_delete_reference(env, state->callback_key);
  free(state);
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}

NAPI_MODULE_INIT() {
  module_state *state = calloc(1, sizeof(*state));
  if (state == NULL) return throw_syscall_error(env, ENOMEM, "malloc");
  if (napi_set_instance_data(env, state, module_state_free, NULL) != napi_ok) {
    free(state);
    return napi_failure(env);
  }
  napi_value key;
  NAPI_CALL(env, napi_create_symbol(env, new_string(env, "holdfast.Poller.onEvent"), &key));
  NAPI_CALL(env, napi_create_reference(env, key, 1, &state->callback_key));

  napi_property_descriptor poller_methods[] = {
      METHOD("start", js_poller_start), METHOD("stop", js_poller_stop),   METHOD("close", js_poller_close),
      METHOD("ref", js_poller_ref),     METHOD("unref", js_poller_unref), METHOD("hasRef", js_poller_has_ref),
  };
  napi_value poller_class;
  NAPI_CALL(env, napi_define_class(env, "Poller", NAPI_AUTO_LENGTH, js_poller_new, NULL,
                                   sizeof(poller_methods) / sizeof(poller_methods[0]), poller_methods,
                                   &poller_class));

  napi_property_descriptor fns[] = {
      FN("setErrorFactory", js_set_error_factory),
      FN("ofdTryLock", js_ofd_try_lock),
      FN("ofdUnlock", js_ofd_unlock),
      FN("ofdGetLock", js_ofd_get_lock),
      FN("posixTryLock", js_posix_try_lock),
      FN("posixUnlock", js_posix_unlock),
      FN("posixGetLock", js_posix_get_lock),
      FN("peerCred", js_peer_cred),
      FN("listenUnix", js_listen_unix),
      FN("bindUnixDatagram", js_bind_unix_datagram),
      FN("accept", js_accept),
      FN("recv", js_recv),
      FN("send", js_send),
      FN("socketpairSeqpacket", js_socketpair_seqpacket),
      FN("sendWithFds", js_send_with_fds),
      FN("recvWithFds", js_recv_with_fds),
      FN("notifySend", js_notify_send),
      FN("setCloexec", js_set_cloexec),
      FN("getCloexec", js_get_cloexec),
      FN("setNonblock", js_set_nonblock),
      FN("dupCloexec", js_dup_cloexec),
      FN("close", js_close),
      FN("openat", js_openat),
      FN("fstatat", js_fstatat),
      FN("unlinkat", js_unlinkat),
      FN("execve", js_execve),
      FN("pidfdOpen", js_pidfd_open),
      FN("execLatchArm", js_exec_latch_arm),
      FN("execLatchHold", js_exec_latch_hold),
      FN("execLatchDisarm", js_exec_latch_disarm),
      FN("blockGuardedSignals", js_block_guarded_signals),
      FN("signalGuardLoaded", js_signal_guard_loaded),
      FN("signalGuardTake", js_signal_guard_take),
      FN("guardFaults", js_guard_faults),
      FN("signalGuardInstallHere", js_signal_guard_install_here),
      FN("pidfdSendSignal", js_pidfd_send_signal),
      FN("peerPidfd", js_peer_pidfd),
      FN("waitpid", js_waitpid),
      FN("setBatchScheduling", js_set_batch_scheduling),
      FN("setPeekOffset", js_set_peek_offset),
      FN("pipe", js_pipe),
      FN("splice", js_splice),
      FN("read", js_read),
      FN("write", js_write),
      FN("queued", js_queued),
      FN("growSendBuffer", js_grow_send_buffer),
      FN("epollCreate", js_epoll_create),
      FN("epollAdd", js_epoll_add),
      FN("epollDel", js_epoll_del),
      FN("epollTake", js_epoll_take),
      FN("nofileLimit", js_nofile_limit),
      FN("setNofileLimit", js_set_nofile_limit),
      FN("countOpenFds", js_count_open_fds),
      {"Poller", NULL, NULL, NULL, NULL, poller_class, napi_enumerable, NULL},
  };
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns));
  return exports;
}
