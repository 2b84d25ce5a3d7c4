// One client connection on a raw, non-blocking unix socket fd, as the worker sees it: it *peeks* whole
// frames and hands each to the handler, one request at a time (libvirt's nrequests_client_max = 1).
// It never consumes a request nor writes a reply: the supervisor does both once the request's effect is in
// custody, so a request this worker peeked but did not commit is still queued for the next worker.
import type { Logger } from 'pino';
import * as native from '../../shared/native';
import { LENGTH_WORD_SIZE, MessageHeader, decodeHeader, frameLengthProblem } from '../../shared/rpc/message';

/** Credentials of the peer, read once with SO_PEERCRED at accept. */
export type PeerCredentials = native.PeerCred;

export type CloseReason = 'eof' | 'error' | 'protocol' | 'server' | 'handoff';

/**
 * Handles one complete frame. `consume` is how many bytes of it are still queued in the socket (peeked):
 * whoever answers must consume them first. Resolves once the reply is out.
 */
export type FrameHandler = (connection: Connection, header: MessageHeader, frame: Buffer, consume: number) => void | Promise<void>;

/** Frames up to this size are peeked whole; a lock-protocol call never needs more than ~197 KiB. */
export const PEEK_LIMIT = 256 * 1024;
// A frame that arrives in pieces is re-peeked after these pauses (ms); a big one that stops growing is
// read the old way instead (a peer's socket buffer may be too small to queue it whole).
const PARTIAL_RETRY_MS = [1, 2, 4, 8, 16, 32, 64];
const PARTIAL_GIVE_UP_MS = 30_000;
const BIG_FRAME = 64 * 1024;

// Shared scratch space: the worker is single-threaded and each use is synchronous.
const peekBuffer = Buffer.allocUnsafe(PEEK_LIMIT);

export class Connection {
  readonly #poller: native.Poller;
  #closed = false;
  #busy = false;
  #paused = false;
  #partialTimer: NodeJS.Timeout | null = null;
  #partialSince = 0;
  #partialSeen = 0;
  #partialRetries = 0;
  #pump: (() => void) | null = null;
  /** The last request handed on whose reply the supervisor has not yet confirmed (it is consumed first). */
  #unconfirmed: Buffer | null = null;
  #pending = 0;

  readonly connectedAt: number;

  constructor(
    readonly id: number,
    readonly fd: number,
    readonly peer: PeerCredentials,
    connectedAt: number,
    private readonly onFrame: FrameHandler,
    private readonly onClose: (connection: Connection, reason: CloseReason) => void,
    private readonly log: Logger,
  ) {
    this.connectedAt = connectedAt;
    this.#poller = new native.Poller(fd, (events, error) => this.#onEvents(events, error));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while a request of this connection is being handled or awaits the supervisor. */
  get busy(): boolean {
    return this.#busy || this.#pending > 0;
  }

  /** Starts (or resumes) reading requests. */
  start(): void {
    this.#paused = false;
    if (!this.#closed && !this.#busy) this.#poller.start(native.Poller.READABLE);
  }

  /** Stops reading new requests; one already being handled completes. */
  pause(): void {
    this.#paused = true;
    this.#clearPartial();
    if (!this.#closed) this.#poller.stop();
  }

  /** Closes our fd (never shuts the connection down: the supervisor holds the same socket). */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearPartial();
    this.#poller.close();
    native.close(this.fd);
    this.onClose(this, reason);
  }

  #onEvents(events: number, error: Error | null): void {
    if (this.#pump) return this.#pump();
    if (this.#closed || this.#busy || this.#paused) return;
    // A poll error is how libuv reports a hang-up or reset; the next read tells which.
    if (error || (events & native.Poller.READABLE) !== 0) this.#peek(false);
    // Waiting on a partial frame, the peer stopped sending: the rest will never come.
    else if ((events & native.Poller.DISCONNECT) !== 0) this.#peek(true);
  }

  #peek(peerDone: boolean): void {
    let n: number | null;
    try {
      n = native.recv(this.fd, peekBuffer, 0, PEEK_LIMIT, true);
    } catch (err) {
      this.log.debug({ client: this.id, code: (err as { code?: string }).code }, 'client socket read failed');
      return this.close('error');
    }
    if (n === null) return;
    if (n === 0) return this.close('eof');
    const length = n >= LENGTH_WORD_SIZE ? peekBuffer.readUInt32BE(0) : 0;
    if (n >= LENGTH_WORD_SIZE) {
      const problem = frameLengthProblem(length);
      if (problem !== null) {
        // libvirt closes the connection on a length it cannot accept; so do we.
        this.log.warn({ client: this.id, length }, `dropping client: ${problem}`);
        return this.close('protocol');
      }
      if (length <= n) {
        this.#clearPartial();
        // Still the request we handed on: the supervisor has not consumed it yet. Wait for its word.
        if (this.#unconfirmed && length === this.#unconfirmed.length && peekBuffer.subarray(0, length).equals(this.#unconfirmed)) {
          this.#poller.stop();
          return;
        }
        return this.#handle(Buffer.from(peekBuffer.subarray(0, length)), length);
      }
    }
    if (peerDone) return this.close('eof');
    this.#waitForRest(n, length);
  }

  // Level-triggered polling would spin on a partial frame, so stop polling and look again shortly.
  #waitForRest(have: number, length: number): void {
    const now = Date.now();
    if (have !== this.#partialSeen) {
      this.#partialSeen = have;
      this.#partialSince = now;
      this.#partialRetries = 0;
    }
    const stalledMs = now - this.#partialSince;
    if (length > PEEK_LIMIT || (length > BIG_FRAME && stalledMs >= 50)) return this.#readWhole(length);
    if (stalledMs >= PARTIAL_GIVE_UP_MS) {
      this.log.warn({ client: this.id, have, length }, 'dropping client: incomplete frame for too long');
      return this.close('protocol');
    }
    // Readable stays true while the partial frame sits there; only a hang-up is worth waking for.
    this.#poller.start(native.Poller.DISCONNECT);
    const delay = PARTIAL_RETRY_MS[Math.min(this.#partialRetries++, PARTIAL_RETRY_MS.length - 1)]!;
    this.#partialTimer = setTimeout(() => {
      this.#partialTimer = null;
      if (this.#closed || this.#paused || this.#busy) return;
      this.#poller.start(native.Poller.READABLE);
      this.#peek(false);
    }, delay);
  }

  #clearPartial(): void {
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    this.#partialTimer = null;
    this.#partialSeen = 0;
  }

  // The old way, for frames no lock call can need: consume them as they come (such a request is not
  // crash-safe, but it is never a legitimate one). Memory follows the bytes that actually arrive.
  #readWhole(length: number): void {
    this.#clearPartial();
    this.#busy = true;
    this.#poller.stop();
    const chunks: Buffer[] = [];
    let have = 0;
    const pump = (): void => {
      if (this.#closed) return;
      try {
        while (have < length) {
          const n = native.recv(this.fd, peekBuffer, 0, Math.min(length - have, PEEK_LIMIT), false);
          if (n === null) {
            this.#poller.start(native.Poller.READABLE);
            return;
          }
          if (n === 0) return this.close('eof');
          chunks.push(Buffer.from(peekBuffer.subarray(0, n)));
          have += n;
        }
      } catch {
        return this.close('error');
      }
      this.#pump = null;
      this.#poller.stop();
      this.#handle(Buffer.concat(chunks, length), 0);
    };
    // Until the frame is complete, readiness events feed the pump instead of #peek.
    this.#pump = pump;
    pump();
  }

  #handle(frame: Buffer, consume: number): void {
    this.#busy = true;
    let header: MessageHeader;
    try {
      header = decodeHeader(frame);
    } catch {
      this.log.warn({ client: this.id }, 'dropping client: undecodable message header');
      return this.close('protocol');
    }
    this.#poller.stop();
    let done: void | Promise<void>;
    try {
      done = this.onFrame(this, header, frame, consume);
    } catch (err) {
      this.log.error({ client: this.id, err }, 'frame handler failed; dropping client');
      return this.close('error');
    }
    if (done instanceof Promise) {
      // Read on at once: the supervisor consumes this request before it answers, and the next peek tells
      // a new request from this one (the reply's confirmation is off the client's critical path).
      this.#unconfirmed = consume > 0 ? frame : null;
      this.#pending++;
      done.then(
        () => {
          this.#pending--;
          if (this.#unconfirmed === frame) this.#unconfirmed = null;
          this.#idle();
        },
        (err: unknown) => {
          this.log.error({ client: this.id, err }, 'frame handler failed; dropping client');
          this.close('error');
        },
      );
      if (this.#unconfirmed) this.#idle();
      else this.#poller.stop();
    } else {
      this.#idle();
    }
  }

  #idle(): void {
    this.#busy = false;
    if (!this.#closed && !this.#paused) this.#poller.start(native.Poller.READABLE);
  }
}
