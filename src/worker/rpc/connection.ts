// One client connection on a raw, non-blocking unix socket fd: reads whole frames, dispatches one request
// at a time (libvirt's nrequests_client_max = 1), writes replies with backpressure.
// A complete frame is only *peeked* until its reply is ready, so bytes the worker has not answered stay in
// the socket; that is what lets another worker (which shares the fd) answer them if this one dies.
import type { Logger } from 'pino';
import * as native from '../../shared/native';
import { LENGTH_WORD_SIZE, MessageHeader, decodeHeader, frameLengthProblem } from '../../shared/rpc/message';

/** Credentials of the peer, read once with SO_PEERCRED at accept. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export type CloseReason = 'eof' | 'error' | 'protocol' | 'server' | 'handoff';

/** Handles one complete frame; resolves to the reply bytes (null: nothing to send). */
export type FrameHandler = (connection: Connection, header: MessageHeader, frame: Buffer) => Buffer | null | Promise<Buffer | null>;

// Frames up to this size are peeked whole; bigger (never legitimate for the lock program) are read in pieces.
const PEEK_LIMIT = 64 * 1024;
// Shared scratch space: the worker is single-threaded and each use is synchronous.
const peekBuffer = Buffer.allocUnsafe(PEEK_LIMIT);

export class Connection {
  readonly #poller: native.Poller;
  #closed = false;
  #busy = false;
  /** Pieces of a frame that arrived in pieces (slow path), consumed from the socket already. */
  #partial: Buffer[] | null = null;
  #partialLength = 0;
  #pendingWrite: Buffer | null = null;
  #afterWrite: (() => void) | null = null;
  #pollingFor = 0;

  readonly connectedAt = Date.now();
  requests = 0;

  constructor(
    readonly id: number,
    readonly fd: number,
    readonly peer: PeerCredentials,
    private readonly onFrame: FrameHandler,
    private readonly onClose: (connection: Connection, reason: CloseReason) => void,
    private readonly log: Logger,
  ) {
    this.#poller = new native.Poller(fd, (events, error) => this.#onEvents(events, error));
    this.#poll(native.Poller.READABLE);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes our fd (never shuts the connection down: another process may hold the same socket). */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.close();
    native.close(this.fd);
    this.onClose(this, reason);
  }

  #onEvents(events: number, error: Error | null): void {
    if (this.#closed) return;
    if (error) {
      this.log.debug({ client: this.id, err: error }, 'poll error on client socket');
      this.close('error');
      return;
    }
    if ((events & native.Poller.WRITABLE) !== 0 && this.#pendingWrite) this.#flush();
    if ((events & native.Poller.READABLE) !== 0 && !this.#busy) this.#read();
  }

  #read(): void {
    try {
      if (this.#partial) this.#readSlow();
      else this.#readFast();
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.log.debug({ client: this.id, code }, 'client socket read failed');
      this.close('error');
    }
  }

  // Peek: if a whole frame is already queued, handle it without consuming it.
  #readFast(): void {
    const n = native.recv(this.fd, peekBuffer, 0, PEEK_LIMIT, true);
    if (n === null) return;
    if (n === 0) return this.close('eof');
    if (n < LENGTH_WORD_SIZE) return this.#startSlow();
    const length = peekBuffer.readUInt32BE(0);
    if (!this.#validLength(length)) return;
    if (n < length) return this.#startSlow();
    this.#handle(Buffer.from(peekBuffer.subarray(0, length)), length);
  }

  #startSlow(): void {
    this.#partial = [];
    this.#partialLength = 0;
    this.#readSlow();
  }

  // Consume what is there until the frame is complete. Memory grows with the bytes that actually
  // arrived, never with the length a peer announces (up to 32 MiB per libvirt's limit).
  #readSlow(): void {
    const chunks = this.#partial!;
    for (;;) {
      const frameLength = this.#partialLength >= LENGTH_WORD_SIZE ? Buffer.concat(chunks, LENGTH_WORD_SIZE).readUInt32BE(0) : 0;
      const want = frameLength === 0 ? LENGTH_WORD_SIZE - this.#partialLength : frameLength - this.#partialLength;
      if (want === 0) break;
      const n = native.recv(this.fd, peekBuffer, 0, Math.min(want, PEEK_LIMIT), false);
      if (n === null) return;
      if (n === 0) return this.close('eof');
      chunks.push(Buffer.from(peekBuffer.subarray(0, n)));
      this.#partialLength += n;
      if (frameLength === 0 && this.#partialLength === LENGTH_WORD_SIZE && !this.#validLength(Buffer.concat(chunks).readUInt32BE(0))) return;
    }
    const frame = Buffer.concat(chunks, this.#partialLength);
    this.#partial = null;
    this.#partialLength = 0;
    this.#handle(frame, 0);
  }

  // libvirt closes the connection on a length it cannot accept; so do we.
  #validLength(length: number): boolean {
    const problem = frameLengthProblem(length);
    if (problem === null) return true;
    this.log.warn({ client: this.id, length }, `dropping client: ${problem}`);
    this.close('protocol');
    return false;
  }

  /** Handles a frame; `unconsumed` bytes of it are still in the socket and are consumed before replying. */
  #handle(frame: Buffer, unconsumed: number): void {
    this.#busy = true;
    this.requests++;
    let header: MessageHeader;
    try {
      header = decodeHeader(frame);
    } catch {
      this.log.warn({ client: this.id }, 'dropping client: undecodable message header');
      return this.close('protocol');
    }
    let result: Buffer | null | Promise<Buffer | null>;
    try {
      result = this.onFrame(this, header, frame);
    } catch (err) {
      this.log.error({ client: this.id, err }, 'frame handler failed; dropping client');
      return this.close('error');
    }
    if (result instanceof Promise) {
      // Nothing more is read from this client until its reply is out (one request in flight).
      this.#poll(0);
      result.then(
        (reply) => this.#finish(reply, unconsumed),
        (err: unknown) => {
          this.log.error({ client: this.id, err }, 'frame handler failed; dropping client');
          this.close('error');
        },
      );
    } else {
      this.#finish(result, unconsumed);
    }
  }

  #finish(reply: Buffer | null, unconsumed: number): void {
    if (this.#closed) return;
    try {
      if (unconsumed > 0) consume(this.fd, unconsumed);
    } catch {
      return this.close('error');
    }
    if (reply) this.#write(reply, () => this.#idle());
    else this.#idle();
  }

  #idle(): void {
    this.#busy = false;
    // Re-arm only if a write or an async handler stopped reading: epoll_ctl on every request costs.
    if (!this.#closed && this.#pollingFor !== native.Poller.READABLE) this.#poll(native.Poller.READABLE);
  }

  #poll(events: number): void {
    this.#pollingFor = events;
    if (events === 0) this.#poller.stop();
    else this.#poller.start(events);
  }

  #write(bytes: Buffer, then: () => void): void {
    this.#pendingWrite = bytes;
    this.#afterWrite = then;
    this.#flush();
  }

  #flush(): void {
    const bytes = this.#pendingWrite!;
    let sent: number | null;
    try {
      sent = native.send(this.fd, bytes, 0, bytes.length);
    } catch (err) {
      this.log.debug({ client: this.id, code: (err as { code?: string }).code }, 'client socket write failed');
      return this.close('error');
    }
    if (sent === bytes.length) {
      const then = this.#afterWrite!;
      this.#pendingWrite = null;
      this.#afterWrite = null;
      then();
      return;
    }
    // The peer is not reading: wait for room, and read nothing more meanwhile.
    if (sent !== null) this.#pendingWrite = bytes.subarray(sent);
    this.#poll(native.Poller.WRITABLE);
  }
}

// The peeked bytes are known to be queued, so a plain read consumes exactly them.
function consume(fd: number, length: number): void {
  let left = length;
  while (left > 0) {
    const n = native.recv(fd, peekBuffer, 0, Math.min(left, PEEK_LIMIT), false);
    if (n === null || n === 0) throw new Error('peeked bytes vanished from the socket');
    left -= n;
  }
}
