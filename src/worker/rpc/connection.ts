// One client connection on a raw, non-blocking unix socket fd, as the worker sees it. It reads the stream
// by *peeking* at a moving offset (SO_PEEK_OFF) and never consumes a request: the supervisor does, once the
// request's effect is in custody, so whatever this worker peeked but did not commit is still queued for the
// next worker. Frames are handed on one at a time (libvirt's nrequests_client_max = 1).
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { LENGTH_WORD_SIZE, MessageHeader, decodeHeader, frameLengthProblem } from '../../shared/protocol/message';
import type { FrameBudget } from './frame-budget';
import type { RequestSlot } from './request-slot';

/** Credentials of the peer, read once with SO_PEERCRED at accept. */
export type PeerCredentials = native.PeerCred;

export type CloseReason = 'eof' | 'error' | 'protocol' | 'server' | 'handoff';

/** A frame handler's answer when it calls `connection.replied()` (or `failed`) itself once the reply is out. */
export const REPLY_PENDING: unique symbol = Symbol('reply pending');

/**
 * Handles one complete frame. `consume` is how many bytes of it are still queued in the socket (peeked):
 * the supervisor consumes them when it applies the request's commit. Done once it returns, once the
 * promise it returns resolves, or — with REPLY_PENDING — once it calls `replied()` (no promise needed).
 */
export type FrameHandler = (
  connection: Connection,
  header: MessageHeader,
  frame: Buffer,
  consume: number,
) => void | Promise<void> | typeof REPLY_PENDING;

/** What a connection needs from its server: edge-triggered readiness and a custody barrier. */
export interface ConnectionContext {
  watcher: native.EdgeWatcher;
  /** Resolves once the supervisor has consumed every request committed so far. */
  barrier(): Promise<void>;
  onFrame: FrameHandler;
  onClose(connection: Connection, reason: CloseReason): void;
  /** Memory bounds for incoming frames, shared by every connection of the worker. */
  budget: FrameBudget;
  log: Logger;
}

/** Frames up to this size are peeked whole; a lock-protocol call never needs more than ~197 KiB. */
export const PEEK_LIMIT = 256 * 1024;
// A big frame that stops growing may be stuck behind our own unconsumed bytes (they count against the
// sender's buffer): after this pause it is read the consuming way instead.
const BIG_FRAME = 64 * 1024;
const BIG_FRAME_STALL_MS = 20;

// Shared scratch space: the worker is single-threaded and each use is synchronous.
const peekBuffer = Buffer.allocUnsafe(PEEK_LIMIT);

export class Connection {
  readonly #watchId: number;
  #closed = false;
  #busy = false;
  #paused = true;
  /** Peeked bytes not yet handed on (whole frames, then perhaps a partial one). */
  #buffer: Buffer | null = null;
  /** Readiness arrived that we have not read up to EAGAIN yet. */
  #unread = true;
  /** The peer shut down its side; what we have is all there will be. */
  #eof = false;
  /** Readiness said the peer hung up: read until a read says so too (no later edge will come). */
  #hangup = false;
  #stallTimer: NodeJS.Timeout | null = null;
  /** Runs while a started frame is incomplete; closes the connection when it fires (frame_deadline_ms). */
  #deadline: NodeJS.Timeout | null = null;
  /**
   * A frame too big to peek whole, being read the consuming way straight into `frame` (allocated at its
   * declared length; pages are only touched as bytes arrive). `reserved`: its share of the frame budget.
   */
  #consuming: { frame: Buffer; have: number; started: boolean; reserved: number } | null = null;

  readonly connectedAt: number;
  /** The request in progress, kept for the next one; the frame handler creates it on the first. */
  slot: RequestSlot | null = null;
  /** Reply memory sent since we last asked the kernel how much of it the client left unread. */
  outputSinceCheck = 0;

  constructor(
    readonly id: number,
    readonly fd: number,
    readonly peer: PeerCredentials,
    connectedAt: number,
    private readonly context: ConnectionContext,
  ) {
    this.connectedAt = connectedAt;
    this.#watchId = context.watcher.add(fd, (events) => this.#onReadable(events));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while a request of this connection is being handled. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Starts (or resumes) reading requests. Between requests, everything this worker committed has been
   * consumed by the supervisor, so reading starts again from the head of the socket's queue: a worker that
   * adopted the connection (or one that took it over and gave it back) may have moved the peek offset.
   */
  start(): void {
    if (this.#closed) return;
    const resuming = this.#paused;
    this.#paused = false;
    // Only after a pause: while serving, a reply can be out before the supervisor consumed its request.
    if (resuming && !this.#busy && !this.#consuming) {
      this.#buffer = null;
      this.#eof = false;
      try {
        native.setPeekOffset(this.fd, 0);
      } catch (err) {
        this.context.log.debug({ client: this.id, code: (err as { code?: string }).code }, 'client socket unusable');
        return this.close('error');
      }
      this.#unread = true;
    }
    this.#pump();
  }

  /** Stops reading new requests; one already being handled completes. */
  pause(): void {
    this.#paused = true;
    this.#clearStall();
    // A consumed frame keeps its deadline: it goes on arriving while paused. A peeked one is re-read on start.
    if (!this.#consuming) this.#clearDeadline();
  }

  /** Closes our fd (never shuts the connection down: the supervisor holds the same socket). */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearStall();
    this.#clearDeadline();
    this.#dropConsuming();
    this.#buffer = null;
    this.context.watcher.remove(this.#watchId, this.fd);
    // The hook may still ask the socket about its peer (a pidfd for killing a departed owner): our fd goes after.
    try {
      this.context.onClose(this, reason);
    } finally {
      native.close(this.fd);
    }
  }

  #onReadable(events: number): void {
    this.#unread = true;
    if ((events & native.Poller.DISCONNECT) !== 0) this.#hangup = true;
    if (this.#consuming) return this.#consumeRest();
    this.#pump();
  }

  // Hands on the next whole frame, peeking for more as needed.
  #pump(): void {
    while (!this.#closed && !this.#paused && !this.#busy && !this.#consuming) {
      const frameLength = this.#frameLength();
      if (frameLength === null) return; // closed for a bad length
      const have = this.#buffer?.length ?? 0;
      if (frameLength > 0 && have >= frameLength) {
        const buffer = this.#buffer!;
        // Usually the peek brought exactly one frame: hand on the buffer itself, not a view of it.
        const frame = have === frameLength ? buffer : buffer.subarray(0, frameLength);
        this.#buffer = have > frameLength ? buffer.subarray(frameLength) : null;
        this.#clearStall();
        this.#clearDeadline();
        this.#handle(frame, frameLength);
        continue;
      }
      if (frameLength > PEEK_LIMIT) return this.#switchToConsuming(frameLength);
      if (!this.#unread || !this.#peek(PEEK_LIMIT - have)) {
        if (this.#eof) return this.close('eof');
        if (have > 0) this.#watchStall(frameLength);
        return;
      }
    }
  }

  /** The length of the frame at the head of the buffer; 0 if not known yet; null if it closed the connection. */
  #frameLength(): number | null {
    const buffer = this.#buffer;
    if (!buffer || buffer.length < LENGTH_WORD_SIZE) return 0;
    const length = buffer.readUInt32BE(0);
    const problem = frameLengthProblem(length);
    if (problem !== null) {
      // libvirt closes the connection on a length it cannot accept; so do we.
      this.context.log.warn({ client: this.id, length }, `dropping client: ${problem}`);
      this.close('protocol');
      return null;
    }
    const max = this.context.budget.limits.maxBytesPerClient;
    if (length > max) {
      this.context.log.warn({ client: this.id, length, max }, 'dropping client: frame longer than max_frame_bytes_per_client');
      this.close('protocol');
      return null;
    }
    return length;
  }

  /** Peeks up to `room` more bytes; false when nothing came (would block, or end of stream). */
  #peek(room: number): boolean {
    let n: number | null;
    try {
      n = native.recv(this.fd, peekBuffer, 0, Math.max(1, room), true);
    } catch (err) {
      this.context.log.debug({ client: this.id, code: (err as { code?: string }).code }, 'client socket read failed');
      this.close('error');
      return false;
    }
    if (n === null) {
      this.#unread = false;
      return false;
    }
    if (n === 0) {
      this.#unread = false;
      this.#eof = true;
      return false;
    }
    // A short read emptied the queue; new bytes will raise a new edge, so no need to ask again now (but
    // a hang-up already signalled raises none: then read on until the read itself reports it).
    if (n < room && !this.#hangup) this.#unread = false;
    // One copy out of the shared peek buffer either way.
    const bytes = peekBuffer.subarray(0, n);
    this.#buffer = this.#buffer ? Buffer.concat([this.#buffer, bytes]) : Buffer.from(bytes);
    return true;
  }

  // A partial frame: wait for readiness, within the frame deadline; a big one that stalls is read the
  // consuming way.
  #watchStall(frameLength: number): void {
    this.#armDeadline(frameLength);
    if (frameLength <= BIG_FRAME || this.#stallTimer) return;
    const seen = this.#buffer?.length ?? 0;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = null;
      if (this.#closed || this.#paused || this.#busy || this.#consuming) return;
      if ((this.#buffer?.length ?? 0) !== seen) return this.#pump();
      this.#switchToConsuming(frameLength);
    }, BIG_FRAME_STALL_MS);
  }

  #clearStall(): void {
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  // Started once per frame, when the worker first waits for more of it: a stalled or trickling peer holds
  // its memory (and, for a big frame, part of the shared budget) no longer than this.
  #armDeadline(frameLength: number): void {
    if (this.#deadline) return;
    const deadlineMs = this.context.budget.limits.deadlineMs;
    this.#deadline = setTimeout(() => {
      this.#deadline = null;
      if (this.#closed) return;
      const have = this.#consuming?.have ?? this.#buffer?.length ?? 0;
      this.context.log.warn({ client: this.id, have, length: frameLength, deadlineMs }, 'dropping client: frame not completed within frame_deadline_ms');
      this.close('protocol');
    }, deadlineMs);
  }

  #clearDeadline(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
  }

  // For frames no lock call needs: once the supervisor has consumed every earlier request, consume this
  // one as it comes (so it is not crash-safe, but it is never a legitimate one). A frame over PEEK_LIMIT has
  // its declared length reserved in the worker's frame budget first, and no room closes the connection; one
  // within it (a lock call stuck behind our own unconsumed bytes) never waits on the budget.
  #switchToConsuming(length: number): void {
    this.#clearStall();
    const budget = this.context.budget;
    const reserved = length > PEEK_LIMIT ? length : 0;
    if (!budget.take(reserved)) {
      this.context.log.warn(
        { client: this.id, length, held: budget.held, max: budget.limits.maxBytesTotal },
        'dropping client: its frame does not fit in max_frame_bytes_total',
      );
      return this.close('protocol');
    }
    this.#armDeadline(length);
    const peeked = this.#buffer;
    this.#buffer = null;
    // Its own allocation (never the shared pool), so that it can be released at once on close.
    const frame = Buffer.allocUnsafeSlow(length);
    const have = peeked ? peeked.copy(frame, 0) : 0;
    this.#consuming = { frame, have, started: false, reserved };
    void this.context.barrier().then(() => {
      if (this.#closed || !this.#consuming) return;
      try {
        // Our peeked bytes are now the head of the queue: consume them (we keep our copy).
        let left = have;
        while (left > 0) {
          const n = native.recv(this.fd, peekBuffer, 0, Math.min(left, PEEK_LIMIT), false);
          if (n === null || n === 0) throw new Error('peeked bytes vanished');
          left -= n;
        }
      } catch {
        return this.close('error');
      }
      this.#consuming.started = true;
      this.#consumeRest();
    });
  }

  #consumeRest(): void {
    const consuming = this.#consuming;
    // Until the barrier, the head of the queue may still be requests the supervisor has to consume.
    if (this.#closed || !consuming || !consuming.started) return;
    const { frame } = consuming;
    try {
      while (consuming.have < frame.length) {
        const n = native.recv(this.fd, frame, consuming.have, frame.length - consuming.have, false);
        if (n === null) return;
        if (n === 0) return this.close('eof');
        consuming.have += n;
      }
    } catch {
      return this.close('error');
    }
    this.#consuming = null;
    this.context.budget.give(consuming.reserved);
    this.#clearDeadline();
    this.#handle(frame, 0);
    this.#pump();
  }

  // A big frame that will never be handed on: give back its budget and its memory now, not at some later GC.
  #dropConsuming(): void {
    const consuming = this.#consuming;
    if (!consuming) return;
    this.#consuming = null;
    this.context.budget.give(consuming.reserved);
    detach(consuming.frame);
  }

  #handle(frame: Buffer, consume: number): void {
    this.#busy = true;
    let header: MessageHeader;
    try {
      header = decodeHeader(frame);
    } catch {
      this.context.log.warn({ client: this.id }, 'dropping client: undecodable message header');
      return this.close('protocol');
    }
    let done: void | Promise<void> | typeof REPLY_PENDING;
    try {
      done = this.context.onFrame(this, header, frame, consume);
    } catch (err) {
      return this.failed(err);
    }
    if (done === REPLY_PENDING) return;
    if (done instanceof Promise) done.then(this.replied, this.failed);
    else this.#busy = false;
  }

  /** The request's reply is out: read on. Bound once, so that it can be handed on as a callback. */
  readonly replied = (): void => {
    this.#busy = false;
    this.#pump();
  };

  /** Handling a frame failed past its error reply: drop the client. Bound once, like `replied`. */
  readonly failed = (err: unknown): void => {
    this.context.log.error({ client: this.id, err }, 'frame handler failed; dropping client');
    this.close('error');
  };
}

// Frees a Buffer's memory now (it must own its whole ArrayBuffer and be referenced nowhere else).
function detach(buffer: Buffer): void {
  const arrayBuffer = buffer.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (buffer.byteOffset === 0 && buffer.byteLength === arrayBuffer.byteLength) arrayBuffer.transfer?.(0);
}
