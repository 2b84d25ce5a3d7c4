// The control channel between supervisor and worker: one SOCK_SEQPACKET socket carrying JSON messages with
// fds attached (SCM_RIGHTS). Every incoming message is validated before anyone sees it; an invalid one is
// logged and refused (its fds closed), never acted on.
import type { Logger } from 'pino';
import * as native from '../native';

/** Largest datagram we read; bigger payloads must be chunked by the sender. */
export const CONTROL_DATAGRAM_MAX = 192 * 1024;
/** Most fds one datagram may carry (kernel limit SCM_MAX_FD is 253). */
export const CONTROL_FDS_MAX = 253;

export type Validator<T> = (value: unknown) => value is T;

export interface ControlChannelEvents<In> {
  /** A valid message arrived. The handler owns `fds` (close-on-exec) and must close what it does not keep. */
  message(message: In, fds: number[]): void;
  /** The peer closed its end, or the socket failed. */
  close(): void;
}

export class ControlChannel<In, Out> {
  readonly #poller: native.Poller;
  readonly #queue: Array<{ data: Buffer; fds: number[]; owned: boolean }> = [];
  readonly #flushWaiters: Array<() => void> = [];
  #closed = false;
  #coalesceTimer: NodeJS.Timeout | null = null;

  /**
   * Takes ownership of `fd` (a non-blocking SEQPACKET socket). With `coalesceMs`, incoming messages are
   * read at most once per that many ms, all at once: for a reader that is off everyone's critical path
   * and would otherwise wake (and take a CPU) for every message.
   */
  constructor(
    readonly fd: number,
    private readonly isIncoming: Validator<In>,
    private readonly events: ControlChannelEvents<In>,
    private readonly log: Logger,
    private readonly options: { coalesceMs?: number } = {},
  ) {
    this.#poller = new native.Poller(fd, (mask, error) => this.#onEvents(mask, error));
    this.#watch();
  }

  // What to wait for: room to send while messages are queued; input, or while coalescing only a hang-up.
  #watch(): void {
    this.#poller.start((this.#queue.length > 0 ? native.Poller.WRITABLE : 0) | (this.#coalesceTimer ? native.Poller.DISCONNECT : native.Poller.READABLE));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a message; the kernel gives the peer its own copies of `fds`, which stay ours to close. A message
   * that has to wait (the peer is not reading) is queued with dups of its fds, so the caller may close its
   * fds at once. `{ dup: false }` is for fds that stay open until the message is flushed: the supervisor must
   * not dup and close the fd of a file it holds a POSIX lock on (a virtlockd's), since any close drops that
   * lock.
   * @returns true when the message is already in the kernel (in the peer's queue, fds included).
   */
  send(message: Out, fds: readonly number[] = [], options: { dup?: boolean } = {}): boolean {
    if (this.#closed) throw new Error('control channel is closed');
    const data = Buffer.from(JSON.stringify(message));
    if (data.length > CONTROL_DATAGRAM_MAX) throw new RangeError(`control message of ${data.length} bytes is too large`);
    if (fds.length > CONTROL_FDS_MAX) throw new RangeError(`control message with ${fds.length} fds is too large`);
    // Sent at once when nothing is queued ahead; only a message left waiting needs dups of its fds.
    if (this.#queue.length === 0 && this.#sendNow(data, fds)) return true;
    if (this.#closed) return false;
    const dup = options.dup ?? true;
    this.#queue.push({ data, fds: dup ? fds.map((fd) => native.dupCloexec(fd)) : [...fds], owned: dup });
    this.#flush();
    return false;
  }

  /** Reads and delivers every message already queued for us (a dead peer's last words), then closes. */
  drainAndClose(): void {
    if (this.#closed) return;
    this.#receiveAll();
    this.close();
  }

  /** Resolves once every queued message has been handed to the kernel (or the channel closed). */
  flushed(): Promise<void> {
    if (this.#queue.length === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#coalesceTimer) clearTimeout(this.#coalesceTimer);
    this.#poller.close();
    for (const item of this.#queue.splice(0)) if (item.owned) item.fds.forEach((fd) => native.close(fd));
    native.close(this.fd);
    for (const wake of this.#flushWaiters.splice(0)) wake();
    this.events.close();
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (!this.#sendNow(head.data, head.fds)) {
        if (!this.#closed) this.#watch();
        return;
      }
      this.#queue.shift();
      if (head.owned) head.fds.forEach((fd) => native.close(fd));
    }
    for (const wake of this.#flushWaiters.splice(0)) wake();
    if (!this.#closed) this.#watch();
  }

  /** Hands one message to the kernel: false when it would block, or when sending failed (then closed). */
  #sendNow(data: Buffer, fds: readonly number[]): boolean {
    try {
      return native.sendWithFds(this.fd, data, fds) !== null;
    } catch (err) {
      // The peer is gone (our supervisor re-executed, or the worker died): its reader reports that; it is
      // not a failure of ours to shout about.
      const code = (err as { code?: string }).code;
      if (code === 'EPIPE' || code === 'ECONNRESET') this.log.debug({ code }, 'control channel peer gone');
      else this.log.error({ err }, 'control channel send failed');
      this.close();
      return false;
    }
  }

  #onEvents(mask: number, error: Error | null): void {
    if (this.#closed) return;
    if (error) {
      // libuv reports a hang-up as a poll error; whatever the peer sent before it is still queued and
      // must be read (a dead worker's last commits), then the read itself reports the end.
      this.#receiveAll();
      this.close();
      return;
    }
    if ((mask & native.Poller.WRITABLE) !== 0) this.#flush();
    if (this.#closed) return;
    // The peer hung up: read its last words now (the read reports the end and closes).
    if ((mask & native.Poller.DISCONNECT) !== 0) return this.#receiveAll();
    if ((mask & native.Poller.READABLE) === 0) return;
    const coalesceMs = this.options.coalesceMs ?? 0;
    if (coalesceMs === 0) return this.#receiveAll();
    if (this.#coalesceTimer) return;
    // Stop watching for input until the timer; a hang-up still wakes us at once.
    this.#coalesceTimer = setTimeout(() => {
      this.#coalesceTimer = null;
      if (this.#closed) return;
      this.#watch();
      this.#receiveAll();
    }, coalesceMs);
    this.#watch();
  }

  #receiveAll(): void {
    while (!this.#closed) {
      let datagram: ReturnType<typeof native.recvWithFds>;
      try {
        datagram = native.recvWithFds(this.fd, CONTROL_DATAGRAM_MAX);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'ECONNRESET') this.log.error({ err }, 'control channel receive failed');
        this.close();
        return;
      }
      if (datagram === null) return;
      if (datagram.data.length === 0 && datagram.fds.length === 0) {
        this.close();
        return;
      }
      this.#deliver(datagram.data, datagram.fds, datagram.truncated);
    }
  }

  #deliver(data: Buffer, fds: number[], truncated: boolean): void {
    let message: unknown;
    try {
      if (truncated) throw new Error('datagram truncated');
      message = JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.log.error({ err, bytes: data.length }, 'refusing an unreadable control message');
      fds.forEach((fd) => native.close(fd));
      return;
    }
    if (!this.isIncoming(message)) {
      this.log.error({ type: (message as { type?: unknown })?.type }, 'refusing a control message that fails its schema');
      fds.forEach((fd) => native.close(fd));
      return;
    }
    this.events.message(message, fds);
  }
}
