// The only loader of the native addon (build/Release/holdfast.node): typed wrappers over the syscalls
// Node 20 lacks (OFD locks, SCM_RIGHTS, execve, pidfd, peer credentials) and SyscallError. No policy here.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';

/** A failed system call, shaped like Node's own errors: `code` is the errno name. */
export class SyscallError extends Error {
  /** errno name, e.g. `'EAGAIN'`. */
  readonly code: string;
  /** errno number (positive), e.g. 11. */
  readonly errno: number;
  /** The failed call, e.g. `'fcntl(F_OFD_SETLK)'`, `'sendmsg'`. */
  readonly syscall: string;

  constructor(code: string, errno: number, syscall: string, message = `${code}, ${syscall}`) {
    super(message);
    this.name = 'SyscallError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

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

/** One message received by {@link recvWithFds}. */
export interface ReceivedMessage {
  data: Buffer;
  /** Received fds, owned by the caller, close-on-exec. Empty when `truncated`. */
  fds: number[];
  /** The message or its fds did not fit (MSG_TRUNC / MSG_CTRUNC); any fds that came were closed. */
  truncated: boolean;
}

/** How a child ended, from {@link waitpid}. Exactly one of `exitCode` and `signal` is non-null. */
export interface WaitResult {
  pid: number;
  exitCode: number | null;
  /** Name of the terminating signal, e.g. `'SIGKILL'`. */
  signal: string | null;
}

/** Readiness callback of a {@link Poller}. On error `events` is 0 and the poller has stopped. */
export type PollCallback = (events: number, error: SyscallError | null) => void;

interface NativePoller {
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
}

/** RLIMIT_NOFILE: `soft` is what binds; Infinity for RLIM_INFINITY. */
export interface NofileLimit {
  soft: number;
  hard: number;
}

/** Shape of build/Release/holdfast.node (see src/shared/platform/native/binding.c). */
interface Addon {
  setErrorFactory(factory: (code: string, errno: number, syscall: string, message: string) => Error): void;
  ofdTryLock(fd: number, type: LockType, start: number, len: number): boolean;
  ofdUnlock(fd: number, start: number, len: number): void;
  ofdGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null;
  posixTryLock(fd: number, type: LockType, start: number, len: number): boolean;
  posixUnlock(fd: number, start: number, len: number): void;
  posixGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null;
  peerCred(fd: number): PeerCred;
  listenUnix(path: string, backlog: number): number;
  bindUnixDatagram(address: string): number;
  accept(listenFd: number): number | null;
  recv(fd: number, buf: Uint8Array, offset: number, length: number, peek: boolean): number | null;
  send(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  socketpairSeqpacket(): [number, number];
  sendWithFds(fd: number, data: Uint8Array, fds: readonly number[]): number | null;
  recvWithFds(fd: number, maxBytes: number): ReceivedMessage | null;
  notifySend(address: string, data: Uint8Array, fds: readonly number[]): void;
  setCloexec(fd: number, on: boolean): void;
  getCloexec(fd: number): boolean;
  setNonblock(fd: number, on: boolean): void;
  dupCloexec(fd: number): number;
  close(fd: number): void;
  openat(dirfd: number, name: string, flags: number, mode: number): number;
  fstatat(dirfd: number, name: string): EntryStat;
  unlinkat(dirfd: number, name: string): void;
  execve(path: string, argv: readonly string[], env: readonly string[]): never;
  pidfdOpen(pid: number): number;
  execLatchArm(): void;
  execLatchHold(): NodeJS.Signals | null;
  execLatchDisarm(): NodeJS.Signals[];
  blockGuardedSignals(block: boolean): void;
  signalGuardLoaded(): boolean;
  signalGuardTake(): NodeJS.Signals[];
  guardFaults(): void;
  signalGuardInstallHere(): void;
  pidfdSendSignal(pidfd: number, signal: number): void;
  peerPidfd(fd: number): number;
  waitpid(pid: number, noHang: boolean): WaitResult | null;
  setBatchScheduling(on: boolean): void;
  setPeekOffset(fd: number, offset: number): void;
  pipe(size: number): [number, number, number];
  splice(from: number, to: number, length: number): number | null;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number | null;
  queued(fd: number, outgoing: boolean): number;
  growSendBuffer(fd: number, bytes: number): number;
  epollCreate(): number;
  epollAdd(epfd: number, fd: number, id: number): void;
  epollDel(epfd: number, fd: number): void;
  epollTake(epfd: number, out: Int32Array): number;
  nofileLimit(pid: number): NofileLimit;
  setNofileLimit(soft: number, hard: number): void;
  countOpenFds(pid: number): number;
  Poller: new (fd: number, onEvent: PollCallback) => NativePoller;
}

/** The package root: the nearest directory above this file holding package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`holdfast: no package.json above ${__dirname}`);
  }
}

function loadAddon(): Addon {
  const file = join(packageRoot(), 'build', 'Release', 'holdfast.node');
  const addon = require(file) as Addon;
  const factory = (code: string, errno: number, syscall: string, message: string): Error => {
    const error = new SyscallError(code, errno, syscall, message);
    Error.captureStackTrace(error, factory); // start the stack at the caller of the native function
    return error;
  };
  addon.setErrorFactory(factory);
  return addon;
}

const addon = loadAddon();

// ---------------------------------------------------------------------------------------------------------
// Locks. All take a byte range (start, len >= 0; len 0 = to end of file) on an fd the caller owns.

/**
 * Takes an OFD lock without waiting (F_OFD_SETLK). The lock belongs to the open file description: it lives
 * while any process holds an fd to it, and it conflicts even with other descriptions in this process.
 * @returns true when locked, false when another holder conflicts (EAGAIN/EACCES).
 * @throws SyscallError on any other failure (EBADF, ENOLCK, ...).
 */
export function ofdTryLock(fd: number, type: LockType, start: number, len: number): boolean {
  return addon.ofdTryLock(fd, type, start, len);
}

/** Releases an OFD lock range (F_OFD_SETLK, F_UNLCK). Unlocking an unlocked range is not an error. */
export function ofdUnlock(fd: number, start: number, len: number): void {
  addon.ofdUnlock(fd, start, len);
}

/**
 * Asks which lock would block `type` on the range (F_OFD_GETLK), or null if none would. Locks held
 * through this same open file description never conflict. An OFD holder is reported with pid -1.
 */
export function ofdGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null {
  return addon.ofdGetLock(fd, type, start, len);
}

/**
 * Takes a classic POSIX lock without waiting (F_SETLK), as virtlockd does. It belongs to this process and
 * vanishes when the process closes any fd of the file or exits: use only for interop and probes.
 * @returns true when locked, false on conflict (EAGAIN/EACCES).
 */
export function posixTryLock(fd: number, type: LockType, start: number, len: number): boolean {
  return addon.posixTryLock(fd, type, start, len);
}

/** Releases a POSIX lock range (F_SETLK, F_UNLCK). */
export function posixUnlock(fd: number, start: number, len: number): void {
  addon.posixUnlock(fd, start, len);
}

/** Like {@link ofdGetLock} with F_GETLK: this process's own POSIX locks never conflict; POSIX holders have a pid. */
export function posixGetLock(fd: number, type: LockType, start: number, len: number): LockHolder | null {
  return addon.posixGetLock(fd, type, start, len);
}

// ---------------------------------------------------------------------------------------------------------
// Sockets

/** Peer credentials of a connected unix socket (SO_PEERCRED). */
export function peerCred(fd: number): PeerCred {
  return addon.peerCred(fd);
}

/**
 * Creates a listening unix stream socket bound to `path` ('@name' = abstract). Does not unlink a stale
 * path nor chmod the new one: the caller does both.
 * @returns a new fd, owned by the caller, close-on-exec and non-blocking.
 */
export function listenUnix(path: string, backlog: number): number {
  return addon.listenUnix(path, backlog);
}

/**
 * Creates a unix datagram socket bound to `address` ('@name' = abstract), to receive what
 * {@link notifySend} sends (tests, and the sd_notify side of things). Read it with {@link recvWithFds}.
 * @returns a new fd, owned by the caller, close-on-exec and non-blocking.
 */
export function bindUnixDatagram(address: string): number {
  return addon.bindUnixDatagram(address);
}

/**
 * Accepts one pending connection (accept4).
 * @returns a new fd owned by the caller, close-on-exec and non-blocking; null when none is pending.
 * @throws SyscallError on other failures (ECONNABORTED, EMFILE, ...): the caller decides.
 */
export function accept(listenFd: number): number | null {
  return addon.accept(listenFd);
}

/**
 * Reads up to `length` (>= 1) bytes into `buf` at `offset` without blocking (MSG_DONTWAIT, plus
 * MSG_PEEK when `peek`: the bytes stay queued).
 * @returns the byte count, 0 at orderly EOF, null when nothing is available (EAGAIN).
 * @throws SyscallError on other failures (ECONNRESET, ...).
 */
export function recv(fd: number, buf: Uint8Array, offset: number, length: number, peek: boolean): number | null {
  return addon.recv(fd, buf, offset, length, peek);
}

/**
 * Writes `length` bytes of `buf` from `offset` without blocking and without SIGPIPE
 * (MSG_DONTWAIT | MSG_NOSIGNAL). A stream socket may take fewer bytes than asked.
 * @returns the bytes sent, or null when the socket buffer is full (EAGAIN).
 * @throws SyscallError on other failures (EPIPE, ECONNRESET, ...).
 */
export function send(fd: number, buf: Uint8Array, offset: number, length: number): number | null {
  return addon.send(fd, buf, offset, length);
}

/**
 * Creates a connected pair of unix SOCK_SEQPACKET sockets (message boundaries kept, fds can travel).
 * @returns two new fds, both owned by the caller, close-on-exec and non-blocking.
 */
export function socketpairSeqpacket(): [number, number] {
  return addon.socketpairSeqpacket();
}

/** Most fds one message can carry (the kernel's SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;

/**
 * Sends one message with `fds` attached as SCM_RIGHTS (sendmsg, MSG_NOSIGNAL | MSG_DONTWAIT). The
 * receiver gets new fds to the same open file descriptions; the caller keeps and still owns `fds`.
 * An empty `data` needs at least one fd (a bare empty message would read as EOF on SEQPACKET).
 * @returns bytes sent, or null when the socket buffer is full (EAGAIN): nothing was sent.
 */
export function sendWithFds(fd: number, data: Uint8Array, fds: readonly number[]): number | null {
  return addon.sendWithFds(fd, data, fds);
}

/**
 * Receives one message and its fds (recvmsg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT; room for 253 fds).
 * Received fds are owned by the caller and close-on-exec. On SEQPACKET, empty `data` with no fds is EOF.
 * @returns the message, or null when none is queued (EAGAIN).
 */
export function recvWithFds(fd: number, maxBytes: number): ReceivedMessage | null {
  return addon.recvWithFds(fd, maxBytes);
}

/**
 * Sends one datagram (with optional fds, e.g. for `FDSTORE=1`) from a fresh, immediately closed AF_UNIX
 * SOCK_DGRAM socket to `address` — sd_notify's transport. '@name' is an abstract address. Never blocks:
 * a receiver with a full queue yields SyscallError EAGAIN. The caller keeps its `fds`.
 */
export function notifySend(address: string, data: Uint8Array, fds: readonly number[]): void {
  addon.notifySend(address, data, fds);
}

// ---------------------------------------------------------------------------------------------------------
// Fds

/** Sets or clears FD_CLOEXEC (a per-fd flag: other fds of the same file are unaffected). */
export function setCloexec(fd: number, on: boolean): void {
  addon.setCloexec(fd, on);
}

/** Whether FD_CLOEXEC is set. */
export function getCloexec(fd: number): boolean {
  return addon.getCloexec(fd);
}

/** Sets or clears O_NONBLOCK. That flag lives on the open file description: every holder of it sees the change. */
export function setNonblock(fd: number, on: boolean): void {
  addon.setNonblock(fd, on);
}

/**
 * Duplicates `fd` (F_DUPFD_CLOEXEC, lowest free number >= 3). The copy shares the open file description,
 * hence its OFD locks and O_NONBLOCK.
 * @returns a new fd, owned by the caller, close-on-exec.
 */
export function dupCloexec(fd: number): number {
  return addon.dupCloexec(fd);
}

/** Closes `fd`. EINTR counts as closed (Linux has released the number; retrying could close a reused one). */
export function close(fd: number): void {
  addon.close(fd);
}

// ---------------------------------------------------------------------------------------------------------
// Names inside an open directory (openat family). The last component is never followed if it is a symlink.

/** What {@link fstatAt} tells of a directory entry (the entry itself, a symlink included). */
export interface EntryStat {
  dev: bigint;
  ino: bigint;
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
}

/**
 * Opens `name` inside the directory `dirFd` (openat); O_NOFOLLOW and O_CLOEXEC are always added, so a
 * symlink there fails with ELOOP instead of being followed. `name` must be one path component to stay inside.
 * @throws SyscallError
 */
export function openAt(dirFd: number, name: string, flags: number, mode = 0o600): number {
  return addon.openat(dirFd, name, flags, mode);
}

/** lstat of `name` inside `dirFd` (fstatat with AT_SYMLINK_NOFOLLOW). @throws SyscallError (ENOENT if absent) */
export function fstatAt(dirFd: number, name: string): EntryStat {
  return addon.fstatat(dirFd, name);
}

/** Unlinks the file `name` inside `dirFd` (a symlink there is removed itself). @throws SyscallError */
export function unlinkAt(dirFd: number, name: string): void {
  addon.unlinkat(dirFd, name);
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/**
 * Replaces this process image, keeping the pid (execve). Only fds without FD_CLOEXEC survive, and Node marks
 * even 0-2 close-on-exec: clear it (setCloexec(fd, false)) on stdio and every fd to keep first.
 * Pending libuv pool work dies with the old image.
 * @throws SyscallError if the exec failed; on success it never returns.
 */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  return addon.execve(path, argv, env);
}

/**
 * Keeps a signal that asks for something (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2) from vanishing
 * in an exec: libuv catches a signal by writing to a pipe that the exec throws away. While armed, the addon
 * catches them instead and remembers them. Always disarm (a successful exec does it for you).
 */
export const execLatch = {
  /** From now on those signals are caught by the addon, not by libuv (so not by process.on handlers). */
  arm(): void {
    addon.execLatchArm();
  },
  /**
   * Blocks every guarded signal in this thread, for an exec that follows at once: one arriving later, and
   * any non-stop request already caught, stays pending through the exec and reaches the next image.
   * @returns the stop signal that already came (then do not exec), or null.
   */
  hold(): NodeJS.Signals | null {
    return addon.execLatchHold();
  },
  /** Unblocks the signals and gives libuv its handlers back. @returns the signals caught while armed. */
  disarm(): NodeJS.Signals[] {
    return addon.execLatchDisarm();
  },
};

/**
 * The signal guard: a library preloaded into every daemon image (LD_PRELOAD) that catches every signal
 * which could end the process, from before Node starts until JavaScript listens (see signal_guard.c).
 */
export const signalGuard = {
  /** Its path, for LD_PRELOAD. */
  path: join(packageRoot(), 'build', 'Release', 'signal_guard.so'),
  /** Whether this image was started with it. */
  loaded(): boolean {
    return addon.signalGuardLoaded();
  },
  /**
   * For an image started without it: installs the same handlers now (every guarded signal caught and
   * remembered). Call before any process.on listener for a signal: it replaces every handler.
   */
  installHere(): void {
    addon.signalGuardInstallHere();
  },
  /**
   * Wraps the handlers Node installed over the guard's for fault signals (SIGSEGV for WebAssembly traps):
   * one sent with kill() is then ignored, a real fault still crashes.
   */
  guardFaults(): void {
    addon.guardFaults();
  },
  /** The signals it caught since last asked (each once, however often it came); [] without the guard. */
  take(): NodeJS.Signals[] {
    return addon.signalGuardTake();
  },
};

/**
 * Blocks (or unblocks) every guarded signal in the calling thread. Blocked across an execve, they stay
 * pending until the next image's signal guard can catch them; Node itself starts with SIGUSR1 blocked
 * under --disable-sigusr1, which only an unblock lets reach a listener.
 */
export function blockGuardedSignals(block: boolean): void {
  addon.blockGuardedSignals(block);
}

/**
 * Opens a pidfd for `pid` (pidfd_open). It turns readable (see {@link Poller}) when the process exits, and
 * unlike a raw pid it can never come to name a recycled process.
 * @returns a new fd, owned by the caller, close-on-exec (always, for pidfds).
 */
export function pidfdOpen(pid: number): number {
  return addon.pidfdOpen(pid);
}

/**
 * Sends `signal` to the process `pidfd` refers to (pidfd_send_signal): never to another process that has
 * since taken its pid number.
 * @throws SyscallError ESRCH once that process has exited (even if a new one runs under the same pid).
 */
export function pidfdSendSignal(pidfd: number, signal: NodeJS.Signals): void {
  const number = osConstants.signals[signal];
  if (number === undefined) throw new TypeError(`unknown signal ${signal}`);
  addon.pidfdSendSignal(pidfd, number);
}

/**
 * A pidfd for the process at the other end of a connected unix socket (SO_PEERPIDFD, Linux 6.5+): the
 * process that connected, taken from the socket itself.
 * @returns a new fd, owned by the caller, close-on-exec.
 * @throws SyscallError (ENOPROTOOPT on kernels without it; ESRCH or ENODATA when the peer is gone or unknown).
 */
export function peerPidfd(fd: number): number {
  return addon.peerPidfd(fd);
}

/**
 * Reaps one specific child (waitpid(pid)). Never waits on -1: that would steal exits of children libuv
 * tracks, so use it only for children libuv does not know (e.g. spawned before a re-exec).
 * `noHang: false` blocks the whole event loop until the child exits.
 * @returns how it ended, or null with `noHang` while it still runs.
 * @throws SyscallError ECHILD when `pid` is not (or no longer) an unreaped child of this process.
 */
export function waitpid(pid: number, noHang: boolean): WaitResult | null {
  return addon.waitpid(pid, noHang);
}

// ---------------------------------------------------------------------------------------------------------
// Poller

/** Poller event bit: the fd is readable (or hung up). */
export const POLL_READABLE = 1;
/** Poller event bit: the fd is writable. */
export const POLL_WRITABLE = 2;
/** Poller event bit: the peer shut down its sending side (EPOLLRDHUP); data may still be queued. */
export const POLL_DISCONNECT = 4;

/**
 * Watches an fd for readiness on Node's event loop (a libuv uv_poll_t). The Poller never closes the fd and
 * keeps no copy of it: the caller owns it, and must close() the Poller before closing the fd.
 *
 * - Creating it sets O_NONBLOCK on the fd's open file description. It fails with SyscallError EEXIST if the
 *   loop already watches that fd number (e.g. a net.Socket on it: dup first) and EPERM for regular files.
 * - While started it keeps the event loop alive (unless unref()'d) and cannot be garbage collected.
 * - `onEvent` runs in its own async context; an exception it throws becomes an uncaught exception.
 * - On an error (libuv reports POLLERR as EBADF) it calls back with (0, error) and stops itself.
 */
export class Poller {
  /** Event bit: the fd is readable (or hung up). */
  static readonly READABLE = POLL_READABLE;
  /** Event bit: the fd is writable. */
  static readonly WRITABLE = POLL_WRITABLE;
  /** Event bit: the peer shut down its sending side; data may still be queued. */
  static readonly DISCONNECT = POLL_DISCONNECT;

  readonly #native: NativePoller;

  constructor(fd: number, onEvent: PollCallback) {
    this.#native = new addon.Poller(fd, onEvent);
  }

  /** Starts (or changes) watching for `events`, a non-empty combination of READABLE, WRITABLE and DISCONNECT. */
  start(events: number): void {
    this.#native.start(events);
  }

  /** Stops watching; start() may resume. Idempotent. */
  stop(): void {
    this.#native.stop();
  }

  /** Releases the watcher for good; no callback runs after this. Idempotent. */
  close(): void {
    this.#native.close();
  }

  /** Lets the event loop exit even while this Poller is started. */
  unref(): this {
    this.#native.unref();
    return this;
  }

  /** Undoes unref(): a started Poller keeps the loop alive again. */
  ref(): this {
    this.#native.ref();
    return this;
  }

  /** Whether the Poller (if started) would keep the event loop alive. False once closed. */
  hasRef(): boolean {
    return this.#native.hasRef();
  }
}

/**
 * Puts the calling thread under SCHED_BATCH (or back under SCHED_OTHER): it still gets its fair share of
 * CPU, but its wake-ups no longer preempt whatever runs. Children inherit it.
 */
export function setBatchScheduling(on: boolean): void {
  addon.setBatchScheduling(on);
}

// ---------------------------------------------------------------------------------------------------------
// The fd budget

/** RLIMIT_NOFILE of `pid` (0: this process), through prlimit(2). */
export function nofileLimit(pid = 0): NofileLimit {
  return addon.nofileLimit(pid);
}

/** Sets this process's RLIMIT_NOFILE (raising `hard` needs CAP_SYS_RESOURCE). */
export function setNofileLimit(soft: number, hard: number): void {
  addon.setNofileLimit(soft, hard);
}

/**
 * Open fds of `pid` (0: this process): the entries of /proc/<pid>/fd. Costs a directory read of that many
 * entries; needs one free fd itself (EMFILE at the limit).
 */
export function countOpenFds(pid = 0): number {
  return addon.countOpenFds(pid);
}

// ---------------------------------------------------------------------------------------------------------
// The reply relay: peeking at a moving offset, pipes and splice

/**
 * Turns on (offset >= 0) or off (-1) SO_PEEK_OFF for a stream socket: each MSG_PEEK read then starts at the
 * offset and advances it, and every consuming read — by any holder of the socket — moves it back by what it
 * consumed. So a reader can peek its way along the stream while someone else consumes behind it.
 */
export function setPeekOffset(fd: number, offset: number): void {
  addon.setPeekOffset(fd, offset);
}

/** A non-blocking, close-on-exec pipe, and the capacity the kernel granted (asked: `size` bytes). */
export function pipe(size: number): { read: number; write: number; capacity: number } {
  const [read, write, capacity] = addon.pipe(size);
  return { read, write, capacity };
}

/**
 * Moves up to `length` bytes from the pipe `from` into `to` (splice, non-blocking): the bytes leave the
 * pipe exactly as they are sent, so what stays in the pipe was not sent.
 * @returns bytes moved; null when either side would block.
 */
export function splice(from: number, to: number, length: number): number | null {
  return addon.splice(from, to, length);
}

/** read(2) into buf[offset, offset+length); 0 at end of file, null when it would block. */
export function read(fd: number, buf: Uint8Array, offset: number, length: number): number | null {
  return addon.read(fd, buf, offset, length);
}

/** write(2) from buf[offset, offset+length); null when it would block. */
export function write(fd: number, buf: Uint8Array, offset: number, length: number): number | null {
  return addon.write(fd, buf, offset, length);
}

/** What a socket sent that its peer has not read yet (SIOCOUTQ; buffer memory for unix sockets). */
export function queuedOut(fd: number): number {
  return addon.queued(fd, true);
}

/** Bytes queued for reading on a socket (SIOCINQ); unlike a peek it leaves SO_PEEK_OFF alone. */
export function queuedIn(fd: number): number {
  return addon.queued(fd, false);
}

/**
 * Raises a socket's SO_SNDBUF to `bytes` (past net.core.wmem_max when privileged); never lowers it.
 * Returns the size in effect (the kernel's doubled value).
 */
export function growSendBuffer(fd: number, bytes: number): number {
  return addon.growSendBuffer(fd, bytes);
}

/** Readiness callback of an {@link EdgeWatcher} entry: a mask of Poller.READABLE and Poller.DISCONNECT. */
export type EdgeCallback = (events: number) => void;

/**
 * Watches many fds, edge-triggered, through one epoll instance on Node's event loop: each callback runs
 * once per arrival of new data (or hang-up), not while data merely stays queued. A socket whose bytes are
 * only peeked stays readable, so a level-triggered watch would spin on it. The caller must read until it
 * would block (or remember that it stopped early), and must remove() an fd before closing it.
 */
export class EdgeWatcher {
  readonly #epfd: number;
  readonly #poller: Poller;
  readonly #callbacks = new Map<number, EdgeCallback>();
  readonly #events = new Int32Array(512);
  #nextId = 1;

  constructor() {
    this.#epfd = addon.epollCreate();
    this.#poller = new Poller(this.#epfd, () => this.#dispatch());
    this.#poller.start(Poller.READABLE);
  }

  /** Starts watching `fd`; returns the id to remove it with. */
  add(fd: number, callback: EdgeCallback): number {
    const id = this.#nextId++;
    addon.epollAdd(this.#epfd, fd, id);
    this.#callbacks.set(id, callback);
    return id;
  }

  /** Stops watching `fd` (call before closing it). */
  remove(id: number, fd: number): void {
    if (!this.#callbacks.delete(id)) return;
    try {
      addon.epollDel(this.#epfd, fd);
    } catch {
      // Already gone from the set (closed elsewhere): nothing left to remove.
    }
  }

  close(): void {
    this.#poller.close();
    this.#callbacks.clear();
    addon.close(this.#epfd);
  }

  #dispatch(): void {
    for (;;) {
      const n = addon.epollTake(this.#epfd, this.#events);
      for (let i = 0; i < n; i++) this.#callbacks.get(this.#events[2 * i]!)?.(this.#events[2 * i + 1]!);
      if (n < this.#events.length / 2) return;
    }
  }
}
