/* holdfast's plain C syscall layer: one tiny function per kernel call, no N-API types.
 * Every function returns >= 0 on success and a negative errno on failure; nothing here allocates JS state.
 * The N-API layer sits on top: napi_*.c (argument checks, errors, values), one js_<topic>.c per <topic>.c
 * (what JS calls), js_poller.c (the Poller class) and module.c (the exports table). */
#ifndef HOLDFAST_H
#define HOLDFAST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

/* Most fds the kernel lets one SCM_RIGHTS message carry (SCM_MAX_FD). */
#define HF_MAX_FDS 253

/* Lock kinds, independent of the F_*LCK values so callers need no <fcntl.h>. */
typedef enum { HF_LOCK_NONE = 0, HF_LOCK_READ = 1, HF_LOCK_WRITE = 2 } hf_lock_type;

typedef struct {
  hf_lock_type type; /* HF_LOCK_NONE: nothing conflicts with the probed range */
  int64_t start;
  int64_t len;
  int32_t pid; /* -1 for an OFD holder: the kernel never names one */
} hf_lock_info;

typedef struct {
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
} hf_cred;

typedef struct {
  int32_t pid;       /* 0: WNOHANG and the child is still running */
  int exited;        /* 1: exit_code is valid */
  int exit_code;
  int term_signal;   /* valid when exited == 0 and pid > 0 */
} hf_wait_result;

/* ofd.c — byte-range locks. HF_LOCK_NONE in set means unlock. A conflict is -EAGAIN or -EACCES. */
int hf_ofd_setlk(int fd, hf_lock_type type, int64_t start, int64_t len);
int hf_ofd_getlk(int fd, hf_lock_type type, int64_t start, int64_t len, hf_lock_info *out);
int hf_posix_setlk(int fd, hf_lock_type type, int64_t start, int64_t len);
int hf_posix_getlk(int fd, hf_lock_type type, int64_t start, int64_t len, hf_lock_info *out);
/* A whole-file exclusive flock without waiting (the pid file's); held elsewhere is -EWOULDBLOCK. */
int hf_flock_exclusive(int fd);

/* fd.c — descriptor flags and lifetime. */
int hf_set_cloexec(int fd, int on);
int hf_get_cloexec(int fd); /* 0 or 1 */
int hf_set_nonblock(int fd, int on);
int hf_dup_cloexec(int fd); /* lowest free fd >= 3 */
int hf_close(int fd);       /* EINTR counts as closed (Linux always releases the fd) */

/* sock.c — unix sockets. Every socket created here is close-on-exec. `address` of length `address_len`
 * names a filesystem path, or an abstract socket when it starts with '@'. Functions that make several calls
 * report which one failed in *failed_syscall. */
int hf_peer_cred(int fd, hf_cred *out);
int hf_listen_unix(const char *address, size_t address_len, int backlog, const char **failed_syscall);
int hf_bind_unix_dgram(const char *address, size_t address_len, const char **failed_syscall);
int hf_accept(int listen_fd); /* non-blocking, close-on-exec connection */
ssize_t hf_recv(int fd, void *buf, size_t len, int peek);
ssize_t hf_send(int fd, const void *buf, size_t len);
int hf_socketpair_seqpacket(int out[2]); /* non-blocking, close-on-exec */

int hf_notify_send(const char *address, size_t address_len, const void *data, size_t len, const int *fds,
                   size_t nfds, const char **failed_syscall);

/* fdpass.c — SCM_RIGHTS. Sends never block and never raise SIGPIPE. */
ssize_t hf_send_fds(int fd, const void *data, size_t len, const int *fds, size_t nfds);
/* Same, to an explicit destination (datagram sockets); `to` may be NULL. */
ssize_t hf_send_fds_to(int fd, const struct sockaddr_un *to, socklen_t to_len, const void *data, size_t len,
                       const int *fds, size_t nfds);
/* Receives into buf and fds[HF_MAX_FDS] (close-on-exec). On truncation the received fds are closed,
 * *nfds is 0 and *truncated is 1. */
ssize_t hf_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds, int *truncated);
/* Most messages hf_recv_many_fds takes in one call. */
#define HF_RECV_MANY_MAX 16
/* Receives up to `count` queued messages in one call (recvmmsg, never blocking): message m into
 * buf + m * slot (at most `slot` bytes), its length into lens[m], its fds (close-on-exec) into
 * fds + m * HF_MAX_FDS and their number into nfds[m]. A truncated message has truncated[m] 1, its fds closed
 * and nfds[m] 0. Returns how many messages came (at least 1), or -errno (-EAGAIN: none was queued). */
int hf_recv_many_fds(int fd, uint8_t *buf, size_t slot, size_t count, int *fds, size_t *lens, size_t *nfds,
                     int *truncated);

/* proc.c — processes. */
int hf_execve(const char *path, char *const argv[], char *const envp[]); /* returns only on failure */
int hf_pidfd_open(pid_t pid); /* close-on-exec (kernel default for pidfds) */
int hf_pidfd_send_signal(int pidfd, int sig);
int hf_peer_pidfd(int fd); /* SO_PEERPIDFD */
int hf_waitpid(pid_t pid, int no_hang, hf_wait_result *out);
int hf_set_batch_scheduling(int on); /* calling thread: SCHED_BATCH or back to SCHED_OTHER */

/* rlimit.c — the fd budget. pid 0: this process. RLIM_INFINITY comes back as is. */
int hf_nofile_get(pid_t pid, uint64_t *soft, uint64_t *hard);
int hf_nofile_set(uint64_t soft, uint64_t hard);
int64_t hf_count_fds(pid_t pid); /* open fds of pid (0: this process, not counting the look itself) */

/* exec_latch.c — keeps a signal that asks for something (stop, upgrade, swap, reopen logs) from vanishing in
 * an upgrade's exec (see exec_latch.c). arm: catch SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and SIGUSR2
 * here instead of libuv. hold: block every guarded signal in the calling thread for its exec; returns the
 * stop signal already caught (do not exec), or 0. disarm: unblock, give libuv its handlers back, and return
 * the signals caught while armed (bit n-1 for signal n). */
int hf_exec_latch_arm(void);
int hf_exec_latch_hold(void);
uint64_t hf_exec_latch_disarm(void);

/* signals.c — block (1) or unblock (0) every guarded signal in the calling thread; the preloaded signal
 * guard's latch: whether it is there, and the signals it caught since last asked (bit n-1 for signal n). */
int hf_block_guarded_signals(int block);
int hf_guard_loaded(void);
void hf_guard_install_here(void); /* the guard's handlers, for an image started without it */
uint64_t hf_guard_take(void);
/* Wraps the current handlers of SIGSEGV, SIGBUS, SIGILL and SIGFPE: one sent by kill() is ignored, a real
 * fault goes on to the handler it had. */
int hf_guard_faults(void);

/* poll.c — a readiness watcher on a libuv loop. The watcher never closes or keeps the fd. */
typedef struct hf_poll hf_poll;
typedef void (*hf_poll_cb)(hf_poll *poll, int status, int events, void *data);
typedef void (*hf_poll_closed_cb)(void *data);
#define HF_POLL_READABLE 1
#define HF_POLL_WRITABLE 2
#define HF_POLL_DISCONNECT 4 /* the peer shut down its sending side (EPOLLRDHUP) */
/* `loop` is a uv_loop_t*. On success *out is owned by the caller until hf_poll_close's callback ran. */
int hf_poll_new(void *loop, int fd, hf_poll_cb cb, void *data, hf_poll **out);
int hf_poll_start(hf_poll *poll, int events);
int hf_poll_stop(hf_poll *poll);
void hf_poll_ref(hf_poll *poll, int on);
int hf_poll_has_ref(const hf_poll *poll);
/* Stops and releases the watcher; `closed` runs once from the loop, after which the memory is gone. */
void hf_poll_close(hf_poll *poll, hf_poll_closed_cb closed);

/* relay.c — the worker's request and reply path (see relay.c). */
int hf_set_peek_off(int fd, int offset);
int hf_pipe(int out[2], int size); /* returns the capacity granted */
ssize_t hf_splice(int from, int to, size_t len);
ssize_t hf_read(int fd, void *buf, size_t len);
ssize_t hf_write(int fd, const void *buf, size_t len);
int hf_queued(int fd, int outgoing);
int hf_grow_send_buffer(int fd, int bytes);

/* turn.c — a worker turn's reply path in one call (see turn.c for the ordering it enforces). */
typedef struct {
  int pipe_write;
  int pipe_read;
  int control;                /* the control channel (SEQPACKET, non-blocking) */
  const struct iovec *batch;  /* the batch as written to the pipe: header, then the replies in target order */
  size_t batch_count;         /* 0: no replies go through the pipe this turn */
  size_t header_bytes;        /* taken out of the pipe unsent, before the first reply */
  const void *frame;          /* the commit: one datagram */
  size_t frame_len;
  const int *fds;
  size_t nfds;
  const int32_t *targets;     /* (client fd, reply length) pairs, in pipe order */
  size_t target_count;
} hf_turn;
/* Writes the batch, sends the commit and, only if the commit is queued, splices every reply. Returns 1 when
 * committed, with outcomes[i] 0 for a reply sent whole, else the errno that stopped it (its unsent bytes
 * taken out of the pipe); 0 when the commit would block (nothing sent or spliced, the batch stays in the
 * pipe); a negative errno, naming the call in *failed_syscall, on a failure. */
int hf_commit_turn(const hf_turn *turn, int32_t *outcomes, const char **failed_syscall);

/* epoll.c — edge-triggered readiness of many fds, for one libuv watch on the epoll fd. */
int hf_epoll_create(void);
int hf_epoll_add(int epfd, int fd, uint32_t id);
int hf_epoll_del(int epfd, int fd);
int hf_epoll_take(int epfd, int32_t *out, int max);

/* dirfd.c — names inside an open directory. O_NOFOLLOW and O_CLOEXEC are always added to open's flags;
 * stat does not follow a symlink; unlink removes a file (not a directory). */
typedef struct {
  uint64_t dev;
  uint64_t ino;
  uint32_t mode;
  uint32_t uid;
} hf_stat;
int hf_openat_nofollow(int dirfd, const char *name, int flags, unsigned mode);
int hf_fstatat_nofollow(int dirfd, const char *name, hf_stat *out);
int hf_unlinkat(int dirfd, const char *name);

#endif
