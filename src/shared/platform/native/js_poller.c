/* The Poller class: a JS object over hf_poll (poll.c).
 *
 * Lifetime: the JS object is held by a reference that is strong while the watcher is started (a started
 * watcher keeps its callback alive, like any libuv handle) and weak otherwise. The callback lives as a
 * symbol-keyed property of the object, so a stopped Poller that closes over itself can still be collected.
 * The struct is freed when both sides are done: the finalizer ran (js_gone) and the uv handle is closed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <node_api.h>

#include "holdfast.h"
#include "js_exports.h"
#include "module_state.h"
#include "napi_args.h"
#include "napi_errors.h"
#include "napi_values.h"

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
    throw_napi_failure(env);
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
    return throw_napi_failure(env);
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

#define METHOD(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default_method, NULL}

napi_value js_poller_class(napi_env env) {
  module_state *state = state_of(env);
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
  return poller_class;
}
