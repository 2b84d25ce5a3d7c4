// Readiness of one fd on Node's event loop: the addon's uv_poll_t watcher (native/js_poller.c) as a class.
import { addon, type NativePoller, type PollCallback } from './addon';

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
