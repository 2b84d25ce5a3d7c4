/* Every function the addon puts on its exports object (see module.c for their JS names), one group per
 * js_<topic>.c. Each is the N-API side of <topic>.c: it checks the arguments, makes the plain C call and
 * turns the result, or the errno, into a JS value or exception. */
#ifndef HOLDFAST_JS_EXPORTS_H
#define HOLDFAST_JS_EXPORTS_H

#include <node_api.h>

/* napi_errors.c */
napi_value js_set_error_factory(napi_env env, napi_callback_info info);

/* js_ofd.c */
napi_value js_ofd_try_lock(napi_env env, napi_callback_info info);
napi_value js_ofd_unlock(napi_env env, napi_callback_info info);
napi_value js_ofd_get_lock(napi_env env, napi_callback_info info);
napi_value js_posix_try_lock(napi_env env, napi_callback_info info);
napi_value js_posix_unlock(napi_env env, napi_callback_info info);
napi_value js_posix_get_lock(napi_env env, napi_callback_info info);
napi_value js_flock_exclusive(napi_env env, napi_callback_info info);

/* js_sock.c */
napi_value js_peer_cred(napi_env env, napi_callback_info info);
napi_value js_listen_unix(napi_env env, napi_callback_info info);
napi_value js_bind_unix_datagram(napi_env env, napi_callback_info info);
napi_value js_accept(napi_env env, napi_callback_info info);
napi_value js_recv(napi_env env, napi_callback_info info);
napi_value js_send(napi_env env, napi_callback_info info);
napi_value js_socketpair_seqpacket(napi_env env, napi_callback_info info);
napi_value js_notify_send(napi_env env, napi_callback_info info);

/* js_fdpass.c */
napi_value js_send_with_fds(napi_env env, napi_callback_info info);
napi_value js_recv_with_fds(napi_env env, napi_callback_info info);
napi_value js_recv_many_with_fds(napi_env env, napi_callback_info info);

/* js_fd.c */
napi_value js_set_cloexec(napi_env env, napi_callback_info info);
napi_value js_get_cloexec(napi_env env, napi_callback_info info);
napi_value js_set_nonblock(napi_env env, napi_callback_info info);
napi_value js_dup_cloexec(napi_env env, napi_callback_info info);
napi_value js_close(napi_env env, napi_callback_info info);

/* js_dirfd.c */
napi_value js_openat(napi_env env, napi_callback_info info);
napi_value js_fstatat(napi_env env, napi_callback_info info);
napi_value js_unlinkat(napi_env env, napi_callback_info info);

/* js_proc.c */
napi_value js_execve(napi_env env, napi_callback_info info);
napi_value js_pidfd_open(napi_env env, napi_callback_info info);
napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info);
napi_value js_peer_pidfd(napi_env env, napi_callback_info info);
napi_value js_waitpid(napi_env env, napi_callback_info info);
napi_value js_set_batch_scheduling(napi_env env, napi_callback_info info);

/* js_exec_latch.c */
napi_value js_exec_latch_arm(napi_env env, napi_callback_info info);
napi_value js_exec_latch_hold(napi_env env, napi_callback_info info);
napi_value js_exec_latch_disarm(napi_env env, napi_callback_info info);

/* js_signals.c */
napi_value js_block_guarded_signals(napi_env env, napi_callback_info info);
napi_value js_signal_guard_loaded(napi_env env, napi_callback_info info);
napi_value js_signal_guard_install_here(napi_env env, napi_callback_info info);
napi_value js_guard_faults(napi_env env, napi_callback_info info);
napi_value js_signal_guard_take(napi_env env, napi_callback_info info);

/* js_rlimit.c */
napi_value js_nofile_limit(napi_env env, napi_callback_info info);
napi_value js_set_nofile_limit(napi_env env, napi_callback_info info);
napi_value js_count_open_fds(napi_env env, napi_callback_info info);

/* js_relay.c */
napi_value js_set_peek_offset(napi_env env, napi_callback_info info);
napi_value js_pipe(napi_env env, napi_callback_info info);
napi_value js_splice(napi_env env, napi_callback_info info);
napi_value js_read(napi_env env, napi_callback_info info);
napi_value js_write(napi_env env, napi_callback_info info);
napi_value js_queued(napi_env env, napi_callback_info info);
napi_value js_grow_send_buffer(napi_env env, napi_callback_info info);

/* js_turn.c */
napi_value js_commit_turn(napi_env env, napi_callback_info info);

/* js_epoll.c */
napi_value js_epoll_create(napi_env env, napi_callback_info info);
napi_value js_epoll_add(napi_env env, napi_callback_info info);
napi_value js_epoll_del(napi_env env, napi_callback_info info);
napi_value js_epoll_take(napi_env env, napi_callback_info info);

/* js_poller.c: the Poller class (NULL with an exception pending on failure). */
napi_value js_poller_class(napi_env env);

#endif
