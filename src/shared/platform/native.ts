// The system calls Node lacks (OFD locks, SCM_RIGHTS, execve, pidfd, peer credentials, ...), as everyone
// imports them. Most are the addon's own functions (documented on the Addon interface in addon.ts); what
// is defined here adds something: a default, a conversion, a name, or the exec latch and signal guard
// grouped as objects. No policy here.
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { addon, NATIVE_BUILD_DIR, type EntryStat, type NofileLimit } from './addon';

export { SyscallError } from './syscall-error';
export type {
  EntryStat,
  LockHolder,
  LockType,
  NofileLimit,
  PeerCred,
  PollCallback,
  ReceivedMessage,
  WaitResult,
} from './addon';
export { Poller, POLL_DISCONNECT, POLL_READABLE, POLL_WRITABLE } from './poller';
export { EdgeWatcher, type EdgeCallback } from './edge-watcher';

export const {
  // Locks
  ofdTryLock,
  ofdUnlock,
  ofdGetLock,
  posixTryLock,
  posixUnlock,
  posixGetLock,
  flockExclusive,
  // Sockets
  peerCred,
  listenUnix,
  bindUnixDatagram,
  accept,
  recv,
  send,
  socketpairSeqpacket,
  sendWithFds,
  recvWithFds,
  recvManyWithFds,
  notifySend,
  // Fds
  setCloexec,
  getCloexec,
  setNonblock,
  dupCloexec,
  close,
  // Processes and signals
  execve,
  pidfdOpen,
  peerPidfd,
  waitpid,
  setBatchScheduling,
  blockGuardedSignals,
  // The fd budget
  setNofileLimit,
  // The reply relay
  setPeekOffset,
  splice,
  read,
  write,
  growSendBuffer,
  commitTurn,
} = addon;

/** Most fds one message can carry (the kernel's SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;

// ---------------------------------------------------------------------------------------------------------
// Names inside an open directory (openat family). The last component is never followed if it is a symlink.

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
// Processes and signals

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
  path: join(NATIVE_BUILD_DIR, 'signal_guard.so'),
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

// ---------------------------------------------------------------------------------------------------------
// The fd budget: this process unless told otherwise

/** RLIMIT_NOFILE of `pid` (0: this process), through prlimit(2). */
export function nofileLimit(pid = 0): NofileLimit {
  return addon.nofileLimit(pid);
}

/**
 * Open fds of `pid` (0: this process): the entries of /proc/<pid>/fd. Costs a directory read of that many
 * entries; needs one free fd itself (EMFILE at the limit).
 */
export function countOpenFds(pid = 0): number {
  return addon.countOpenFds(pid);
}

// ---------------------------------------------------------------------------------------------------------
// The reply relay

/** A non-blocking, close-on-exec pipe, and the capacity the kernel granted (asked: `size` bytes). */
export function pipe(size: number): { read: number; write: number; capacity: number } {
  const [read, write, capacity] = addon.pipe(size);
  return { read, write, capacity };
}

/** What a socket sent that its peer has not read yet (SIOCOUTQ; buffer memory for unix sockets). */
export function queuedOut(fd: number): number {
  return addon.queued(fd, true);
}

/** Bytes queued for reading on a socket (SIOCINQ); unlike a peek it leaves SO_PEEK_OFF alone. */
export function queuedIn(fd: number): number {
  return addon.queued(fd, false);
}
