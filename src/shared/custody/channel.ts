// The control channel between supervisor and worker: one SOCK_SEQPACKET socket carrying JSON messages with
// fds attached (SCM_RIGHTS), and the per-request ones in a binary form where both ends know it. Every incoming message is validated before anyone sees it; an invalid one is
// logged and refused (its fds closed), never acted on.
//
// A message too big for one datagram (bytes or fds) goes as fragments: every one but the last starts with
// FRAGMENT_MORE (a byte JSON text never holds raw), and the receiver acts on nothing until the last one is
// in. So a sender that dies halfway leaves only fragments, which the receiver discards with their fds: the
// message never happened, as if it had died just before sending it.
import type { Logger } from 'pino';
import * as native from '../platform/native';
import { isBinaryFrame } from './commit-codec';

/** Largest datagram we read; bigger messages are sent as fragments. */
export const CONTROL_DATAGRAM_MAX = 192 * 1024;
/** Most fds one datagram may carry (kernel limit SCM_MAX_FD is 253); a message with more is fragmented. */
export const CONTROL_FDS_MAX = 253;
/** Largest message, reassembled: far beyond any custody snapshot or commit (a million locks is ~150 MB). */
export const CONTROL_MESSAGE_MAX = 512 * 1024 * 1024;
// Bytes of a message per fragment: well inside a datagram.
const FRAGMENT_BYTES = 128 * 1024;
const FRAGMENT_MORE = 0x01;
// Datagrams read per receive call (each in a slot of CONTROL_DATAGRAM_MAX bytes, whose pages the kernel
// touches only as far as it writes).
const RECEIVE_SLOTS = 8;
// Per slot in a receive's metadata: length, truncated, fd count; then room for every fd of every slot.
const META_PER_SLOT = 3;
const MORE_MARK = Buffer.from([FRAGMENT_MORE]);

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
  /** Fragments of a message received so far; `refused` once it grew past CONTROL_MESSAGE_MAX. */
  #partial: { chunks: Buffer[]; bytes: number; fds: number[]; refused: boolean } | null = null;
  #readingPaused = false;
  #log: Logger;
  /**
   * The last receive call's datagrams (see native recvManyWithFds), reused from call to call, and which of
   * them is delivered next: a handler that reads this channel again (drainAndClose) goes on from there.
   */
  #inbox: Buffer | null = null;
  readonly #meta = new Int32Array(RECEIVE_SLOTS * (META_PER_SLOT + CONTROL_FDS_MAX));
  #batchCount = 0;
  #batchNext = 0;
  #batchFdAt = 0;

  /**
   * Takes ownership of `fd` (a non-blocking SEQPACKET socket). With `decodeBinary`, a binary frame
   * (commit-codec.ts) is decoded by it instead of parsed as JSON; it throws on anything malformed.
   */
  constructor(
    readonly fd: number,
    private readonly isIncoming: Validator<In>,
    private readonly events: ControlChannelEvents<In>,
    log: Logger,
    private readonly options: { decodeBinary?: (data: Buffer) => In } = {},
  ) {
    this.#log = log;
    this.#poller = new native.Poller(fd, (mask, error) => this.#onEvents(mask, error));
    this.#watch();
  }

  // What to wait for: room to send while messages are queued; input, unless reading is paused.
  #watch(): void {
    const input = this.#readingPaused ? 0 : native.Poller.READABLE;
    const mask = (this.#queue.length > 0 ? native.Poller.WRITABLE : 0) | input;
    if (mask === 0) this.#poller.stop();
    else this.#poller.start(mask);
  }

  /**
   * Logs through `log` from now on: a worker opens its channel with a bootstrap logger, before the
   * supervisor has sent the configured log settings.
   */
  logTo(log: Logger): void {
    this.#log = log;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * True while the channel holds messages it has read and not delivered: part of a fragmented message whose
   * rest is still queued, or datagrams of a receive batch a throwing handler left behind. Either would be
   * lost to a next image that takes the socket over.
   */
  get assembling(): boolean {
    return this.#partial !== null || this.#batchNext < this.#batchCount;
  }

  /**
   * Leaves incoming messages in the socket (sending goes on): for a channel the next image of the process
   * takes over, which must find every message we have not acted on still queued.
   */
  pauseReading(): void {
    if (this.#closed) return;
    this.#readingPaused = true;
    this.#watch();
  }

  resumeReading(): void {
    if (this.#closed || !this.#readingPaused) return;
    this.#readingPaused = false;
    this.#watch();
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
    return this.sendFrame(Buffer.from(JSON.stringify(message)), fds, options);
  }

  /** Sends a message already encoded (a binary frame, see commit-codec.ts); otherwise as `send`. */
  sendFrame(data: Buffer, fds: readonly number[] = [], options: { dup?: boolean } = {}): boolean {
    if (this.#closed) throw new Error('control channel is closed');
    if (data.length > CONTROL_MESSAGE_MAX) throw new RangeError(`control message of ${data.length} bytes is too large`);
    const datagrams = fragments(data, fds);
    // Sent at once when nothing is queued ahead; only what is left waiting needs dups of its fds.
    let sent = 0;
    if (this.#queue.length === 0) while (sent < datagrams.length && this.#sendNow(datagrams[sent]!.data, datagrams[sent]!.fds)) sent++;
    if (sent === datagrams.length) return true;
    if (this.#closed) return false;
    const dup = options.dup ?? true;
    for (const d of datagrams.slice(sent)) this.#queue.push({ data: d.data, fds: dup ? d.fds.map((fd) => native.dupCloexec(fd)) : [...d.fds], owned: dup });
    this.#flush();
    return false;
  }

  /**
   * Whether a frame of `bytes` with `fdCount` fds would go out as one datagram sent at once (nothing queued
   * ahead of it, channel open): the caller may then hand exactly that datagram to the kernel itself on `fd`
   * (as the worker's one-call turn does) and fall back to sendFrame if the kernel did not take it.
   */
  sendsWhole(bytes: number, fdCount: number): boolean {
    return !this.#closed && this.#queue.length === 0 && bytes > 0 && bytes <= CONTROL_DATAGRAM_MAX && fdCount <= CONTROL_FDS_MAX;
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
    this.#poller.close();
    for (const item of this.#queue.splice(0)) if (item.owned) item.fds.forEach((fd) => native.close(fd));
    // A message whose last fragment never came never happened.
    this.#partial?.fds.forEach((fd) => native.close(fd));
    this.#partial = null;
    // Datagrams received but never delivered: their fds are ours to close.
    while (this.#batchNext < this.#batchCount) {
      const fdCount = this.#meta[META_PER_SLOT * this.#batchNext++ + 2]!;
      for (let i = 0; i < fdCount; i++) native.close(this.#meta[this.#batchFdAt++]!);
    }
    this.#inbox = null;
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
      if (code === 'EPIPE' || code === 'ECONNRESET') this.#log.debug({ code }, 'control channel peer gone');
      else this.#log.error({ err }, 'control channel send failed');
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
    // Input, or the peer hung up (read its last words now: the read reports the end and closes).
    if ((mask & (native.Poller.READABLE | native.Poller.DISCONNECT)) !== 0) this.#receiveAll();
  }

  /**
   * Reads every datagram queued now, several per system call, and delivers each in order.
   * Re-entered from a handler (drainAndClose), it first delivers the rest of the batch being delivered.
   */
  #receiveAll(): void {
    const meta = this.#meta;
    while (!this.#closed) {
      if (this.#batchNext === this.#batchCount) {
        this.#inbox ??= Buffer.allocUnsafeSlow(RECEIVE_SLOTS * CONTROL_DATAGRAM_MAX);
        let count: number | null;
        try {
          count = native.recvManyWithFds(this.fd, this.#inbox, CONTROL_DATAGRAM_MAX, meta);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'ECONNRESET') this.#log.error({ err }, 'control channel receive failed');
          this.close();
          return;
        }
        if (count === null) return;
        this.#batchCount = count;
        this.#batchNext = 0;
        this.#batchFdAt = META_PER_SLOT * count;
      }
      const slot = this.#batchNext++;
      const length = meta[META_PER_SLOT * slot]!;
      const truncated = meta[META_PER_SLOT * slot + 1] === 1;
      const fdCount = meta[META_PER_SLOT * slot + 2]!;
      const fds: number[] = [];
      for (let i = 0; i < fdCount; i++) fds.push(meta[this.#batchFdAt++]!);
      if (length === 0 && fdCount === 0) {
        this.close();
        return;
      }
      const at = slot * CONTROL_DATAGRAM_MAX;
      // The slot is reused by the next receive: whatever outlives this call (a fragment) is copied.
      this.#assemble(this.#inbox!.subarray(at, at + length), fds, truncated);
    }
  }

  // Collects fragments; hands on a whole message (the last fragment, or a datagram on its own).
  #assemble(data: Buffer, fds: number[], truncated: boolean): void {
    const more = data.length > 0 && data[0] === FRAGMENT_MORE;
    if (!more && this.#partial === null) return this.#deliver(data, fds, truncated);
    const partial = (this.#partial ??= { chunks: [], bytes: 0, fds: [], refused: false });
    const chunk = more ? data.subarray(1) : data;
    partial.refused ||= truncated || partial.bytes + chunk.length > CONTROL_MESSAGE_MAX;
    if (partial.refused) fds.forEach((fd) => native.close(fd));
    else {
      partial.chunks.push(Buffer.from(chunk));
      partial.bytes += chunk.length;
      partial.fds.push(...fds);
    }
    if (more) return;
    this.#partial = null;
    if (partial.refused) {
      partial.fds.forEach((fd) => native.close(fd));
      this.#log.error({ bytes: partial.bytes }, 'refusing a fragmented control message: truncated or too large');
      return;
    }
    this.#deliver(Buffer.concat(partial.chunks, partial.bytes), partial.fds, false);
  }

  #deliver(data: Buffer, fds: number[], truncated: boolean): void {
    const decodeBinary = this.options.decodeBinary;
    if (decodeBinary && !truncated && isBinaryFrame(data)) {
      // Decoding checks every field as the schema would; whatever it refuses is refused like JSON that fails.
      let decoded: In;
      try {
        decoded = decodeBinary(data);
      } catch (err) {
        this.#log.error({ err, bytes: data.length }, 'refusing an unreadable control message');
        fds.forEach((fd) => native.close(fd));
        return;
      }
      this.events.message(decoded, fds);
      return;
    }
    let message: unknown;
    try {
      if (truncated) throw new Error('datagram truncated');
      message = JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.#log.error({ err, bytes: data.length }, 'refusing an unreadable control message');
      fds.forEach((fd) => native.close(fd));
      return;
    }
    if (!this.isIncoming(message)) {
      this.#log.error({ type: (message as { type?: unknown })?.type }, 'refusing a control message that fails its schema');
      fds.forEach((fd) => native.close(fd));
      return;
    }
    this.events.message(message, fds);
  }
}

// One datagram, or fragments that each fit one (bytes and fds); every fragment but the last is marked.
function fragments(data: Buffer, fds: readonly number[]): Array<{ data: Buffer; fds: readonly number[] }> {
  if (data.length <= CONTROL_DATAGRAM_MAX && fds.length <= CONTROL_FDS_MAX) return [{ data, fds }];
  const count = Math.max(Math.ceil(data.length / FRAGMENT_BYTES), Math.ceil(fds.length / CONTROL_FDS_MAX));
  // Every fragment carries at least one byte: an empty datagram without fds would read as end of stream.
  if (data.length < count) throw new RangeError(`control message of ${data.length} bytes cannot carry ${fds.length} fds`);
  const out: Array<{ data: Buffer; fds: readonly number[] }> = [];
  for (let i = 0; i < count; i++) {
    const bytes = data.subarray(Math.floor((i * data.length) / count), Math.floor(((i + 1) * data.length) / count));
    const part = fds.slice(Math.floor((i * fds.length) / count), Math.floor(((i + 1) * fds.length) / count));
    out.push({ data: i < count - 1 ? Buffer.concat([MORE_MARK, bytes]) : bytes, fds: part });
  }
  return out;
}
