/* The addon's registration: its per-environment state and the table of functions on its exports object. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include <node_api.h>

#include "js_exports.h"
#include "module_state.h"
#include "napi_errors.h"

static void module_state_free(napi_env env, void *data, void *hint) {
  (void)hint;
  module_state *state = data;
  if (state->error_factory) napi_delete_reference(env, state->error_factory);
  if (state->callback_key) napi_delete_reference(env, state->callback_key);
  free(state);
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

NAPI_MODULE_INIT() {
  module_state *state = calloc(1, sizeof(*state));
  if (state == NULL) return throw_syscall_error(env, ENOMEM, "malloc");
  if (napi_set_instance_data(env, state, module_state_free, NULL) != napi_ok) {
    free(state);
    return throw_napi_failure(env);
  }
  napi_value poller_class = js_poller_class(env);
  if (poller_class == NULL) return NULL;

  napi_property_descriptor fns[] = {
      FN("setErrorFactory", js_set_error_factory),
      FN("ofdTryLock", js_ofd_try_lock),
      FN("ofdUnlock", js_ofd_unlock),
      FN("ofdGetLock", js_ofd_get_lock),
      FN("posixTryLock", js_posix_try_lock),
      FN("posixUnlock", js_posix_unlock),
      FN("posixGetLock", js_posix_get_lock),
      FN("flockExclusive", js_flock_exclusive),
      FN("peerCred", js_peer_cred),
      FN("listenUnix", js_listen_unix),
      FN("bindUnixDatagram", js_bind_unix_datagram),
      FN("accept", js_accept),
      FN("recv", js_recv),
      FN("send", js_send),
      FN("socketpairSeqpacket", js_socketpair_seqpacket),
      FN("sendWithFds", js_send_with_fds),
      FN("recvWithFds", js_recv_with_fds),
      FN("recvManyWithFds", js_recv_many_with_fds),
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
      FN("commitTurn", js_commit_turn),
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
