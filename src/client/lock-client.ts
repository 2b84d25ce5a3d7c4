// Typed client for the virtlockd lock protocol over a unix socket: one call in flight per
// connection (like libvirt's client), later calls queued in order, serials 0,1,2,...
// Also exposes raw calls and raw bytes so tests can probe a daemon with hostile input.

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { FrameReader } from './frame-reader';
import {
  LOCK_PROCEDURES,
  LOCK_PROGRAM,
  LOCK_PROGRAM_VERSION,
  LockProcedure,
  type LockProcedureInputs,
  type ProcedureEntry,
} from '../shared/protocol/lock-program';
import {
  MessageStatus,
  MessageType,
  decodeMessage,
  encodeMessage,
  type MessageHeader,
} from '../shared/protocol/message';
import { VirError } from '../shared/protocol/vir-error';
import type { XdrString } from '../shared/protocol/xdr';
import { uuidToBytes } from '../shared/protocol/uuid';
import { DaemonError } from './daemon-error';

export { bytesToUuid, uuidToBytes } from '../shared/protocol/uuid';

/** A reply (or any frame) as received: decoded header plus raw payload. */
export interface RawReply {
  header: MessageHeader;
  payload: Buffer;
}

/** Header overrides for {@link LockClient.call}; defaults make a well-formed lock-program CALL. */
export interface CallOptions {
  /** Program number; default {@link LOCK_PROGRAM}. */
  prog?: number;
  /** Program version; default {@link LOCK_PROGRAM_VERSION}. */
  vers?: number;
  /** Message type; default CALL. */
  type?: MessageType;
  /** Status word; default OK (libvirt rejects calls with any other status). */
  status?: MessageStatus;
  /** Serial to send instead of the next one from the connection's counter (the counter still advances). */
  serial?: number;
}

/** Options for {@link LockClient.connect}. */
export interface LockClientOptions {
  /** Aborts connecting; the promise then rejects with an AbortError. */
  signal?: AbortSignal;
}

/** Owner identity for {@link LockClient.register}. */
export interface LockOwnerSpec {
  /** Either a UUID string (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` or 32 hex digits) or 16 raw bytes. */
  uuid: string | Uint8Array;
  /** VM name; a Buffer is sent byte for byte. */
  name: XdrString;
  /** Non-zero owner id (virtlockd treats 0 as "not registered"). */
  id: number;
  /** Pid owning the leases. */
  pid: number;
}

/** A lock-protocol call was answered with an ERROR reply: code, domain and message as {@link DaemonError}. */
export class LockError extends DaemonError {
  override readonly name: string = 'LockError';
}

/**
 * The payload of an OK reply to `proc`; an ERROR reply is thrown as `ErrorClass` (with libvirt's code,
 * domain and message), any other status as a {@link ProtocolError}.
 */
export function okPayload(reply: RawReply, proc: number, ErrorClass: new (virError: VirError, proc: number) => DaemonError): Buffer {
  switch (reply.header.status) {
    case MessageStatus.OK:
      return reply.payload;
    case MessageStatus.ERROR:
      throw new ErrorClass(VirError.decode(reply.payload), proc);
    default:
      throw new ProtocolError(`reply to procedure ${proc} has unexpected status ${reply.header.status}`, reply);
  }
}

/** `code` of a {@link ConnectionClosedError} when the peer closed without a socket error. */
export const CONNECTION_CLOSED = 'ERR_CONNECTION_CLOSED';

/**
 * The connection ended while a call was pending or queued, or a call was made after it ended.
 * `code` is the socket error code when there was one (`ECONNRESET`, `EPIPE`, ...), else
 * {@link CONNECTION_CLOSED}.
 */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
  readonly code: string;

  constructor(code: string, cause?: Error) {
    super(code === CONNECTION_CLOSED ? 'connection closed' : `connection closed (${code})`, { cause });
    this.code = code;
  }
}

/** The peer sent something that is not a valid reply to the pending call. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** The offending frame, when one was received. */
  readonly reply: RawReply | undefined;

  constructor(message: string, reply?: RawReply) {
    super(message);
    this.reply = reply;
  }
}

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

type Job =
  | ({ kind: 'call'; frame: Buffer; serial: number } & Deferred<RawReply>)
  | ({ kind: 'raw'; bytes: Buffer } & Deferred<void>);

/**
 * A connection to a virtlockd-compatible daemon.
 *
 * Requests go out one at a time in call order: a call is written only after the previous call's
 * reply arrived (virtlockd serves one request per client at a time). The typed methods resolve
 * on an OK reply and reject with {@link LockError} on an ERROR reply; every pending or later call
 * rejects with {@link ConnectionClosedError} once the connection is gone.
 *
 * Events: `'close'` (no arguments) once the socket is closed, whoever closed it.
 */
export class LockClient extends EventEmitter {
  readonly #socket: net.Socket;
  readonly #reader = new FrameReader();
  readonly #queue: Job[] = [];
  #inFlight: Extract<Job, { kind: 'call' }> | null = null;
  readonly #unclaimed: Buffer[] = [];
  readonly #replyWaiters: Deferred<RawReply>[] = [];
  #nextSerial = 0;
  #closedError: Error | null = null;
  #socketErrorCode: string | null = null;
  #failure: Error | null = null;
  readonly #closed: Promise<void>;

  private constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#onClose();
        resolve();
        this.emit('close');
      });
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // Errors always lead to 'close'; remember the code for the rejection we give callers.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#socketErrorCode ??= err.code ?? null;
    });
  }

  /**
   * Connects to the daemon's unix socket.
   * @throws the socket error (e.g. `ENOENT`, `ECONNREFUSED`, `EACCES`) if connecting fails
   */
  static connect(socketPath: string, opts: LockClientOptions = {}): Promise<LockClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath, ...(opts.signal ? { signal: opts.signal } : {}) });
      const onError = (err: Error): void => {
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new LockClient(socket));
      });
    });
  }

  /**
   * Wraps an already connected stream socket (e.g. one end of a socketpair). The client takes
   * over the socket: do not read from it or attach 'data' listeners elsewhere.
   * @throws TypeError if the socket is already destroyed (its 'close' would never be seen)
   */
  /**
   * Whether a daemon answers a lock call on `socketPath`. A bound socket alone proves nothing (the socket
   * exists before a worker serves); CREATE_LOCKSPACE of the default lockspace is a harmless call.
   */
  static async answers(socketPath: string): Promise<boolean> {
    let client: LockClient | null = null;
    try {
      client = await LockClient.connect(socketPath);
      await client.createLockspace('');
      return true;
    } catch {
      return false;
    } finally {
      client?.destroy();
    }
  }

  static fromSocket(socket: net.Socket): LockClient {
    if (socket.destroyed) throw new TypeError('cannot wrap a destroyed socket');
    return new LockClient(socket);
  }

  /** The underlying socket (for tests that need to poke at it; do not read from it). */
  get socket(): net.Socket {
    return this.#socket;
  }

  /** Resolves once the connection is closed, by either side. Never rejects. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** True once the connection has closed. */
  get isClosed(): boolean {
    return this.#closedError !== null;
  }

  /** Replies that arrived when no call was waiting (a correct daemon never sends any). */
  get unclaimedReplies(): number {
    return this.#unclaimed.length;
  }

  /** The serial the next call will use. */
  get nextSerial(): number {
    return this.#nextSerial;
  }

  // --- typed procedures ----------------------------------------------------------------

  /** REGISTER: identify the lock owner of this connection. */
  async register(owner: LockOwnerSpec, flags = 0): Promise<void> {
    const uuid = typeof owner.uuid === 'string' ? uuidToBytes(owner.uuid) : owner.uuid;
    return this.#invoke(LockProcedure.REGISTER, { owner: { uuid, name: owner.name, id: owner.id, pid: owner.pid }, flags });
  }

  /** RESTRICT: refuse every further call on this connection. */
  async restrict(flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.RESTRICT, { flags });
  }

  /** NEW: create a directory lockspace (needs REGISTER first). */
  async newLockspace(path: XdrString, flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.NEW, { path, flags });
  }

  /** CREATE_RESOURCE: create (touch) the resource file `name` in `lockspace`. */
  async createResource(lockspace: XdrString, name: XdrString, flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.CREATE_RESOURCE, { path: lockspace, name, flags });
  }

  /** DELETE_RESOURCE: unlink the resource file `name` in `lockspace`. */
  async deleteResource(lockspace: XdrString, name: XdrString, flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.DELETE_RESOURCE, { path: lockspace, name, flags });
  }

  /** ACQUIRE_RESOURCE: lock `name` in `lockspace` for the registered owner pid (flags: AcquireFlags). */
  async acquire(lockspace: XdrString, name: XdrString, flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.ACQUIRE_RESOURCE, { path: lockspace, name, flags });
  }

  /** RELEASE_RESOURCE: drop the registered owner pid's hold on `name` in `lockspace`. */
  async release(lockspace: XdrString, name: XdrString, flags = 0): Promise<void> {
    return this.#invoke(LockProcedure.RELEASE_RESOURCE, { path: lockspace, name, flags });
  }

  /** CREATE_LOCKSPACE: create a directory lockspace; idempotent, needs no REGISTER. */
  async createLockspace(path: XdrString): Promise<void> {
    return this.#invoke(LockProcedure.CREATE_LOCKSPACE, { path });
  }

  // --- raw access ----------------------------------------------------------------------

  /**
   * Sends a call with an arbitrary procedure number and payload (queued like every call) and
   * resolves with the reply frame whatever its status; decode an ERROR payload with
   * `VirError.decode`. Rejects with {@link ProtocolError} if the next frame is not a REPLY with
   * the call's serial. Only use it for messages the daemon answers, or the queue stalls.
   */
  async call(proc: number, payload: Uint8Array = Buffer.alloc(0), opts: CallOptions = {}): Promise<RawReply> {
    if (this.#closedError) throw this.#closedError;
    const serial = opts.serial ?? this.#nextSerial;
    const frame = encodeMessage(
      {
        prog: opts.prog ?? LOCK_PROGRAM,
        vers: opts.vers ?? LOCK_PROGRAM_VERSION,
        proc,
        type: opts.type ?? MessageType.CALL,
        serial,
        status: opts.status ?? MessageStatus.OK,
      },
      payload,
    );
    // Every call consumes a serial, like libvirt's client, even when `opts.serial` overrides it.
    this.#nextSerial = (this.#nextSerial + 1) >>> 0;
    return new Promise<RawReply>((resolve, reject) => {
      this.#queue.push({ kind: 'call', frame, serial, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Writes `bytes` as they are, in queue order, without expecting a reply; resolves once written.
   * If the bytes do provoke a reply, collect it with {@link waitReply} before making further
   * calls, or that reply would be taken as the next call's.
   */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    if (this.#closedError) throw this.#closedError;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'raw', bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), resolve, reject });
      this.#pump();
    });
  }

  /**
   * The next frame that no call claimed (e.g. the reply provoked by {@link sendRaw}); waits for
   * one if none has arrived yet. Rejects with {@link ConnectionClosedError} if the connection ends.
   */
  waitReply(): Promise<RawReply> {
    const frame = this.#unclaimed.shift();
    if (frame) {
      try {
        return Promise.resolve(decodeMessage(frame));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.#closedError) return Promise.reject(this.#closedError);
    return new Promise<RawReply>((resolve, reject) => this.#replyWaiters.push({ resolve, reject }));
  }

  /**
   * Closes the connection after everything already written has been flushed, and resolves when
   * the socket is closed. Pending and queued calls reject with {@link ConnectionClosedError}.
   */
  close(): Promise<void> {
    if (!this.#socket.destroyed) this.#socket.end(() => this.#socket.destroy());
    return this.#closed;
  }

  /** Closes the connection at once, discarding unwritten data. */
  destroy(): Promise<void> {
    this.#socket.destroy();
    return this.#closed;
  }

  // --- internals -----------------------------------------------------------------------

  // Args encoded as the lock program's table says.
  async #invoke<P extends LockProcedure>(proc: P, args: LockProcedureInputs[P]): Promise<void> {
    const spec = LOCK_PROCEDURES[proc] as ProcedureEntry<P>;
    okPayload(await this.call(proc, spec.encode(args)), proc, LockError);
  }

  #pump(): void {
    while (this.#inFlight === null && this.#queue.length > 0 && !this.#closedError) {
      const job = this.#queue.shift()!;
      if (job.kind === 'call') {
        this.#inFlight = job;
        this.#socket.write(job.frame);
      } else {
        this.#socket.write(job.bytes, (err) => {
          if (err) job.reject(this.#closedError ?? new ConnectionClosedError(errorCode(err), err));
          else job.resolve();
        });
      }
    }
  }

  #onData(chunk: Buffer): void {
    this.#reader.push(chunk);
    try {
      for (let frame = this.#reader.next(); frame !== null; frame = this.#reader.next()) {
        this.#onFrame(frame);
      }
    } catch (err) {
      // A length word libvirt would refuse: the stream is unusable, as in libvirt's client.
      this.#failure = err as Error;
      this.#socket.destroy();
    }
  }

  #onFrame(frame: Buffer): void {
    const call = this.#inFlight;
    if (call) {
      this.#inFlight = null;
      const reply = decodeMessage(frame);
      if (reply.header.type !== MessageType.REPLY || reply.header.serial !== call.serial) {
        call.reject(new ProtocolError(
          `expected REPLY with serial ${call.serial}, got type ${reply.header.type} serial ${reply.header.serial}`,
          reply,
        ));
      } else {
        call.resolve(reply);
      }
      this.#pump();
      return;
    }
    const waiter = this.#replyWaiters.shift();
    if (waiter) waiter.resolve(decodeMessage(frame));
    else this.#unclaimed.push(frame);
  }

  #onClose(): void {
    this.#closedError = this.#failure ?? new ConnectionClosedError(this.#socketErrorCode ?? CONNECTION_CLOSED);
    const err = this.#closedError;
    this.#inFlight?.reject(err);
    this.#inFlight = null;
    for (const job of this.#queue.splice(0)) job.reject(err);
    for (const waiter of this.#replyWaiters.splice(0)) waiter.reject(err);
  }
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? CONNECTION_CLOSED;
}
