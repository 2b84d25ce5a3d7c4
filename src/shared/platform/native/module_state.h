/* What the addon keeps per JS environment (main thread or worker), as N-API instance data: set up in
 * module.c, read by the errors (the factory) and the Poller (its callback key). */
#ifndef HOLDFAST_MODULE_STATE_H
#define HOLDFAST_MODULE_STATE_H

#include <node_api.h>

typedef struct {
  napi_ref error_factory; /* (code, errno, syscall, message) => Error, installed by native.ts */
  napi_ref callback_key;  /* symbol under which a Poller object keeps its callback */
} module_state;

static inline module_state *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

#endif
