// What the worker was doing, for the moment it dies of an uncaught exception: the requests in progress
// (one per connection at most), the one running right now if any. A dying worker names them to the
// supervisor, which counts how often the same request kills a worker; one that crashed two in a row comes
// back in the next worker's `init` as poisoned, and is answered with an error instead of being run.
import { createHash } from 'node:crypto';
import type { FaultRequest } from '../shared/custody/messages';
import { type MessageHeader, decodeHeader } from '../shared/protocol/message';

/** A procedure's name, looked up only when a request is described (never on the common path). */
export type ProcedureNamer = (header: MessageHeader) => string;

export class FaultWitness {
  /** Each client's request in progress, as its whole frame (the header is read again only to describe it). */
  readonly #inProgress = new Map<string, Buffer>();
  #running: string | null = null;
  readonly #poisoned = new Map<string, FaultRequest>();
  readonly #suspects = new Set<string>();

  constructor(private readonly nameOf: ProcedureNamer) {}

  /** The supervisor's list from `init`: each applies to its client's first request only. */
  setPoisoned(requests: readonly FaultRequest[]): void {
    for (const request of requests) this.#poisoned.set(request.client, request);
  }

  /** Clients whose next request is announced before it runs (see InitMessage.suspects). */
  setSuspects(clients: readonly string[]): void {
    for (const client of clients) this.#suspects.add(client);
  }

  /** The request to announce if this client is a suspect (its first request here only). */
  suspect(client: string, header: MessageHeader, frame: Buffer): FaultRequest | null {
    if (this.#suspects.size === 0 || !this.#suspects.delete(client)) return null;
    return this.#describe(client, header, frame);
  }

  /** If this (a client's first request here) is one that crashed two workers, what the supervisor knew of it. */
  poisoned(client: string, frame: Buffer): FaultRequest | null {
    if (this.#poisoned.size === 0) return null;
    const known = this.#poisoned.get(client);
    if (!known) return null;
    this.#poisoned.delete(client);
    return known.digest === digest(frame) ? known : null;
  }

  /** A request starts; it runs synchronously until `ran`, and is in progress until `done`. */
  begin(client: string, frame: Buffer): void {
    this.#inProgress.set(client, frame);
    this.#running = client;
  }

  ran(): void {
    this.#running = null;
  }

  done(client: string): void {
    this.#inProgress.delete(client);
  }

  /**
   * The likely culprits of a crash: the request running right now; else those of the batch being
   * committed (`sending`); else every request in progress.
   */
  culprits(sending: readonly string[]): FaultRequest[] {
    let clients: string[];
    if (this.#running !== null) clients = [this.#running];
    else if (sending.length > 0) clients = sending.filter((c) => this.#inProgress.has(c));
    else clients = [...this.#inProgress.keys()];
    return clients.slice(0, 1024).map((client) => {
      const frame = this.#inProgress.get(client)!;
      return this.#describe(client, decodeHeader(frame), frame);
    });
  }

  #describe(client: string, header: MessageHeader, frame: Buffer): FaultRequest {
    return { client, program: header.prog, procedure: header.proc, procedureName: this.nameOf(header), serial: header.serial, length: frame.length, digest: digest(frame) };
  }
}

function digest(frame: Buffer): string {
  return createHash('sha256').update(frame).digest('hex');
}
