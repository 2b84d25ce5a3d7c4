// The native addon (holdfast.node, built from src/shared/platform/native/): its one TypeScript description
// and its loading. Every failed system call throws a SyscallError; a call that
// would block returns null (or false for a lock) instead. No policy here.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
import { SyscallError } from './syscall-error';

/** Byte-range lock kind: `'read'` is shared (F_RDLCK), `'write'` is exclusive (F_WRLCK). */
export type LockType = 'read' | 'write';

/** A lock that conflicts with a probed range. `len` 0 means "to the end of the file". */
export interface LockHolder {
  type: LockType;
  start: number;
  len: number;
  /** Holder's pid for a POSIX lock; -1 for an OFD lock (the kernel never names OFD holders). */
  pid: number;
}

/** Credentials of the process that connected a unix socket (SO_PEERCRED, taken at connect time). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** One message received by {@link Addon.recvWithFds}. */
export interface ReceivedMessage {
  data: Buffer;
  /** Received fds, owned by the caller, close-on-exec. Empty when `truncated`. */
  fds: number[];
  /** The message or its fds did not fit (MSG_TRUNC / MSG_CTRUNC); any fds that came were closed. */
  truncated: boolean;
}

/** How a child ended, from {@link Addon.waitpid}. Exactly one of `exitCode` and `signal` is non-null. */
export interface WaitResult {
  pid: number;
  exitCode: number | null;
  /** Name of the terminating signal, e.g. `'SIGKILL'`. */
  signal: string | null;
}

/** RLIMIT_NOFILE: `soft` is what binds; Infinity for RLIM_INFINITY. */
export interface NofileLimit {
  soft: number;
  hard: number;
}

/** What fstatat tells of a directory entry (the entry itself, a symlink included). */
export interface EntryStat {
  dev: bigint;
  ino: bigint;
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
}

/** Readiness callback of a Poller. On error `events` is 0 and the poller has stopped. */
export type PollCallback = (events: number, error: SyscallError | null) => void;

/** The addon's Poller object (see poller.ts for what each method means). */
export interface NativePoller {
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
}

/**
 * Shape of holdfast.node (registered in native/module.c). Fds passed in stay the caller's;
 * every fd handed back is owned by the caller and close-on-exec.
 */
export interface Addon {
  /** Installs what builds the error of a failed syscall (the loader below does, once). */
  setErrorFactory(factory: (code: string, errno: number, syscall: string, message: string) => Error): void;

  // Locks. All take a byte range (start, len >= 0; len 0 = to end of file) on an fd the caller owns.

  /**
   * Takes an OFD lock without waiting (F_OFD_SETLK). The lock belongs to the open file description: it lives
   * while any process holds an fd to it, and it conflicts even with other descriptions in this process.
   * @returns true when locked, false when another holder conflicts (EAGAIN/EACCES).
   * @throws SyscallError on any other failure (EBADF, ENOLCK, ...).
   */
  ofdTryLock(fd: number, type: LockType, start: number, len: number): boolean;
  /** Releases an OFD lock range (F_OFD_SETLK, F_UNLCK). Unlocking an unlocked range is not an error. */
  ofdUnlock(fd: number, start: number, len: number): void;
  /**
   * Asks which lock would block `type` on the range (F_OFD_GETLK), or null if none would. Locks held
   * through this same open file description never conflict. An OFD holder is reported with pid -1.
   */
  ofdGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null;
  /**
   * Takes a classic POSIX lock without waiting (F_SETLK), as virtlockd does. It belongs to this process and
   * vanishes when the process closes any fd of the file or exits: use only for interop and probes.
   * @returns true when locked, false on conflict (EAGAIN/EACCES).
   */
  posixTryLock(fd: number, type: LockType, start: number, len: number): boolean;
  /** Releases a POSIX lock range (F_SETLK, F_UNLCK). */
  posixUnlock(fd: number, start: number, len: number): void;
  /** Like {@link ofdGetLock} with F_GETLK: this process's own POSIX locks never conflict; POSIX holders have a pid. */
  posixGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null;
  /**
   * Takes an exclusive whole-file flock without waiting (LOCK_EX | LOCK_NB), as a pid file is locked. Like
   * an OFD lock it belongs to the open file description; taking it again through the same one succeeds.
   * @returns true when held, false when another description holds it (EWOULDBLOCK).
   */
  flockExclusive(fd: number): boolean;

  // Sockets

  /** Peer credentials of a connected unix socket (SO_PEERCRED). */
  peerCred(fd: number): PeerCred;
  /**
   * Creates a listening unix stream socket bound to `path` ('@name' = abstract). Does not unlink a stale
   * path nor chmod the new one: the caller does both.
   * @returns a new fd, owned by the caller, close-on-exec and non-blocking.
   */
  listenUnix(path: string, backlog: number): number;
  /**
   * Creates a unix datagram socket bound to `address` ('@name' = abstract), to receive what
   * {@link notifySend} sends (tests, and the sd_notify side of things). Read it with {@link recvWithFds}.
   * @returns a new fd, owned by the caller, close-on-exec and non-blocking.
   */
  bindUnixDatagram(address: string): number;
  /**
   * Accepts one pending connection (accept4).
   * @returns a new fd owned by the caller, close-on-exec and non-blocking; null when none is pending.
   * @throws SyscallError on other failures (ECONNABORTED, EMFILE, ...): the caller decides.
   */
  accept(listenFd: number): number | null;
  /**
   * Reads up to `length` (>= 1) bytes into `buf` at `offset` without blocking (MSG_DONTWAIT, plus
   * MSG_PEEK when `peek`: the bytes stay queued).
   * @returns the byte count, 0 at orderly EOF, null when nothing is available (EAGAIN).
   * @throws SyscallError on other failures (ECONNRESET, ...).
   */
  recv(fd: number, buf: Uint8Array, offset: number, length: number, peek: boolean): number | null;
  /**
   * Writes `length` bytes of `buf` from `offset` without blocking and without SIGPIPE
   * (MSG_DONTWAIT | MSG_NOSIGNAL). A stream socket may take fewer bytes than asked.
   * @returns the bytes sent, or null when the socket buffer is full (EAGAIN).
   * @throws SyscallError on other failures (EPIPE, ECONNRESET, ...).
   */
  send(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  /**
   * Creates a connected pair of unix SOCK_SEQPACKET sockets (message boundaries kept, fds can travel).
   * @returns two new fds, both owned by the caller, close-on-exec and non-blocking.
   */
  socketpairSeqpacket(): [number, number];
  /**
   * Sends one message with `fds` attached as SCM_RIGHTS (sendmsg, MSG_NOSIGNAL | MSG_DONTWAIT). The
   * receiver gets new fds to the same open file descriptions; the caller keeps and still owns `fds`.
   * An empty `data` needs at least one fd (a bare empty message would read as EOF on SEQPACKET).
   * @returns bytes sent, or null when the socket buffer is full (EAGAIN): nothing was sent.
   */
  sendWithFds(fd: number, data: Uint8Array, fds: readonly number[]): number | null;
  /**
   * Receives one message and its fds (recvmsg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT; room for 253 fds).
   * Received fds are owned by the caller and close-on-exec. On SEQPACKET, empty `data` with no fds is EOF.
   * @returns the message, or null when none is queued (EAGAIN).
   */
  recvWithFds(fd: number, maxBytes: number): ReceivedMessage | null;
  /**
   * Receives every queued message up to as many as fit (recvmmsg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT; at most
   * 16 a call): message m into `buffer` at m * slotBytes (a longer one is truncated), and into `meta`:
   * meta[3m] its length, meta[3m + 1] 1 if truncated (or its fds did not fit; any that came were closed),
   * meta[3m + 2] its fd count; the fds follow from meta[3 * count] on, in message order, owned by the caller
   * and close-on-exec. `meta` needs 256 entries per slot. On SEQPACKET, length 0 with no fds is EOF.
   * @returns how many messages came, or null when none is queued (EAGAIN).
   */
  recvManyWithFds(fd: number, buffer: Uint8Array, slotBytes: number, meta: Int32Array): number | null;
  /**
   * Sends one datagram (with optional fds, e.g. for `FDSTORE=1`) from a fresh, immediately closed AF_UNIX
   * SOCK_DGRAM socket to `address` — sd_notify's transport. '@name' is an abstract address. Never blocks:
   * a receiver with a full queue yields SyscallError EAGAIN. The caller keeps its `fds`.
   */
  notifySend(address: string, data: Uint8Array, fds: readonly number[]): void;

  // Fds

  /** Sets or clears FD_CLOEXEC (a per-fd flag: other fds of the same file are unaffected). */
  setCloexec(fd: number, on: boolean): void;
  /** Whether FD_CLOEXEC is set. */
  getCloexec(fd: number): boolean;
  /** Sets or clears O_NONBLOCK. That flag lives on the open file description: every holder of it sees the change. */
  setNonblock(fd: number, on: boolean): void;
  /**
   * Duplicates `fd` (F_DUPFD_CLOEXEC, lowest free number >= 3). The copy shares the open file description,
   * hence its OFD locks and O_NONBLOCK.
   * @returns a new fd, owned by the caller, close-on-exec.
   */
  dupCloexec(fd: number): number;
  /** Closes `fd`. EINTR counts as closed (Linux has released the number; retrying could close a reused one). */
  close(fd: number): void;

  // Names inside an open directory (openat family); native.ts exports them as openAt, fstatAt, unlinkAt.

  /** openat with O_NOFOLLOW and O_CLOEXEC always added. */
  openat(dirfd: number, name: string, flags: number, mode: number): number;
  /** fstatat with AT_SYMLINK_NOFOLLOW. */
  fstatat(dirfd: number, name: string): EntryStat;
  /** unlinkat of a file (not a directory). */
  unlinkat(dirfd: number, name: string): void;

  // Processes

  /**
   * Replaces this process image, keeping the pid (execve). Only fds without FD_CLOEXEC survive, and Node marks
   * even 0-2 close-on-exec: clear it (setCloexec(fd, false)) on stdio and every fd to keep first.
   * Pending libuv pool work dies with the old image.
   * @throws SyscallError if the exec failed; on success it never returns.
   */
  execve(path: string, argv: readonly string[], env: readonly string[]): never;
  /**
   * Opens a pidfd for `pid` (pidfd_open). It turns readable (see Poller) when the process exits, and
   * unlike a raw pid it can never come to name a recycled process.
   * @returns a new fd, owned by the caller, close-on-exec (always, for pidfds).
   */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal with a signal number; native.ts's pidfdSendSignal takes the signal's name. */
  pidfdSendSignal(pidfd: number, signal: number): void;
  /**
   * A pidfd for the process at the other end of a connected unix socket (SO_PEERPIDFD, Linux 6.5+): the
   * process that connected, taken from the socket itself.
   * @returns a new fd, owned by the caller, close-on-exec.
   * @throws SyscallError (ENOPROTOOPT on kernels without it; ESRCH or ENODATA when the peer is gone or unknown).
   */
  peerPidfd(fd: number): number;
  /**
   * Reaps one specific child (waitpid(pid)). Never waits on -1: that would steal exits of children libuv
   * tracks, so use it only for children libuv does not know (e.g. spawned before a re-exec).
   * `noHang: false` blocks the whole event loop until the child exits.
   * @returns how it ended, or null with `noHang` while it still runs.
   * @throws SyscallError ECHILD when `pid` is not (or no longer) an unreaped child of this process.
   */
  waitpid(pid: number, noHang: boolean): WaitResult | null;
  /**
   * Puts the calling thread under SCHED_BATCH (or back under SCHED_OTHER): it still gets its fair share of
   * CPU, but its wake-ups no longer preempt whatever runs. Children inherit it.
   */
  setBatchScheduling(on: boolean): void;

  // Signals: the exec latch and the signal guard (native.ts's execLatch and signalGuard say what they are for)

  execLatchArm(): void;
  execLatchHold(): NodeJS.Signals | null;
  execLatchDisarm(): NodeJS.Signals[];
  /**
   * Blocks (or unblocks) every guarded signal in the calling thread. Blocked across an execve, they stay
   * pending until the next image's signal guard can catch them; Node itself starts with SIGUSR1 blocked
   * under --disable-sigusr1, which only an unblock lets reach a listener.
   */
  blockGuardedSignals(block: boolean): void;
  signalGuardLoaded(): boolean;
  signalGuardTake(): NodeJS.Signals[];
  guardFaults(): void;
  signalGuardInstallHere(): void;

  // The fd budget

  /** RLIMIT_NOFILE of `pid` (0: this process), through prlimit(2). */
  nofileLimit(pid: number): NofileLimit;
  /** Sets this process's RLIMIT_NOFILE (raising `hard` needs CAP_SYS_RESOURCE). */
  setNofileLimit(soft: number, hard: number): void;
  /**
   * Open fds of `pid` (0: this process): the entries of /proc/<pid>/fd. Costs a directory read of that many
   * entries; needs one free fd itself (EMFILE at the limit).
   */
  countOpenFds(pid: number): number;

  // The reply relay: peeking at a moving offset, pipes and splice

  /**
   * Turns on (offset >= 0) or off (-1) SO_PEEK_OFF for a stream socket: each MSG_PEEK read then starts at the
   * offset and advances it, and every consuming read — by any holder of the socket — moves it back by what it
   * consumed. So a reader can peek its way along the stream while someone else consumes behind it.
   */
  setPeekOffset(fd: number, offset: number): void;
  /** pipe2 (non-blocking, close-on-exec) asking for `size` bytes: [read end, write end, capacity granted]. */
  pipe(size: number): [number, number, number];
  /**
   * Moves up to `length` bytes from the pipe `from` into `to` (splice, non-blocking): the bytes leave the
   * pipe exactly as they are sent, so what stays in the pipe was not sent.
   * @returns bytes moved; null when either side would block.
   */
  splice(from: number, to: number, length: number): number | null;
  /** read(2) into buf[offset, offset+length); 0 at end of file, null when it would block. */
  read(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  /** write(2) from buf[offset, offset+length); null when it would block. */
  write(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  /** Bytes a socket has queued: outgoing (SIOCOUTQ) or incoming (SIOCINQ). */
  queued(fd: number, outgoing: boolean): number;
  /**
   * Raises a socket's SO_SNDBUF to `bytes` (past net.core.wmem_max when privileged); never lowers it.
   * Returns the size in effect (the kernel's doubled value).
   */
  growSendBuffer(fd: number, bytes: number): number;
  /**
   * A worker turn's reply path in one call (native/turn.c): writes `batch` (a header of `headerBytes`, then
   * the replies) into the pipe `pipeWrite`, sends `frame` with `fds` as one datagram on `control`, and only
   * if that datagram was queued whole takes the header out of `pipeRead` and splices each reply to its
   * client: `targets` holds `targetCount` (client fd, reply length) pairs in pipe order. A pipe fd may be -1
   * when `batch` is empty.
   * @returns true when committed, `outcomes[i]` then 0 for a reply sent whole, else the errno that stopped
   * it (EAGAIN: the socket was full; its unsent bytes were taken out of the pipe); null when the commit
   * would block (nothing sent or spliced; the pipe holds the whole batch).
   * @throws SyscallError naming the failed call (`writev`, `sendmsg`, `read`, `splice`).
   */
  commitTurn(
    pipeWrite: number,
    pipeRead: number,
    control: number,
    batch: readonly Uint8Array[],
    headerBytes: number,
    frame: Uint8Array,
    fds: readonly number[],
    targets: Int32Array,
    targetCount: number,
    outcomes: Int32Array,
  ): true | null;

  // Edge-triggered readiness (edge-watcher.ts)

  /** epoll_create1(EPOLL_CLOEXEC). */
  epollCreate(): number;
  /** Watches `fd` for input and hang-up, edge-triggered, reported under `id`. */
  epollAdd(epfd: number, fd: number, id: number): void;
  epollDel(epfd: number, fd: number): void;
  /** Takes ready events without waiting into `out` as (id, events) pairs; returns how many pairs. */
  epollTake(epfd: number, out: Int32Array): number;

  /** A readiness watcher on Node's event loop (see poller.ts). */
  Poller: new (fd: number, onEvent: PollCallback) => NativePoller;
}

/** The package root: the nearest directory above this file holding package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`holdfast: no package.json above ${__dirname}`);
  }
}

/**
 * The directory of the addon this package loads, and of the signal guard library beside it: build/Release
 * when it was built here (a checkout, or an install that had to compile), else prebuilds/linux-<arch>/ as
 * shipped in the package. node-gyp-build chooses, as its install step did.
 */
const ADDON_PATH = nodeGypBuild.resolve(packageRoot());
export const NATIVE_BUILD_DIR = dirname(ADDON_PATH);

function loadAddon(): Addon {
  const addon = require(ADDON_PATH) as Addon;
  const factory = (code: string, errno: number, syscall: string, message: string): Error => {
    const error = new SyscallError(code, errno, syscall, message);
    Error.captureStackTrace(error, factory); // start the stack at the caller of the native function
    return error;
  };
  addon.setErrorFactory(factory);
  return addon;
}

/** The loaded addon, its errors SyscallErrors. */
export const addon: Addon = loadAddon();
