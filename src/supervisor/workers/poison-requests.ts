// Requests that kill workers. A worker dying of an uncaught exception names the requests it had in
// progress; the same request (same client, same bytes) named by two workers in a row is poisoned: the next
// worker answers it with an error instead of running it. Named once, it is a suspect: the next worker
// commits it alone, so that a second crash names it and nothing else that happened to share its batch.
// The supervisor still never parses the protocol: it compares what workers report.
import type { Logger } from 'pino';
import type { ClientRecord } from '../../shared/custody/records/client-record';
import type { FaultRequest } from '../../shared/custody/messages';
import type { Custody } from '../custody';

const POISON_AFTER_CRASHES = 2;
const UNKNOWN_DIGEST = '';

export class PoisonRequests {
  readonly #seen = new Map<string, { request: FaultRequest; crashes: number }>();

  constructor(
    private readonly custody: Custody,
    private readonly log: Logger,
  ) {}

  /** A worker died of an uncaught exception (or was killed as stalled) while running these requests. */
  faulted(requests: readonly FaultRequest[], error: string): void {
    this.#prune();
    for (const request of requests) {
      const before = this.#seen.get(request.client);
      // A stall names waiting clients only (UNKNOWN_DIGEST): whatever their head request is, it matches.
      const same = before && (before.request.digest === request.digest || before.request.digest === UNKNOWN_DIGEST);
      const crashes = same ? before.crashes + 1 : 1;
      this.#seen.set(request.client, { request, crashes });
      if (crashes !== POISON_AFTER_CRASHES) continue;
      const record = this.custody.get(request.client)?.record as ClientRecord | undefined;
      this.log.error(
        { client: request.client, clientPid: record?.peer.pid, clientUid: record?.peer.uid, program: request.program, procedure: request.procedureName, procedureNumber: request.procedure, serial: request.serial, length: request.length, error },
        'a request crashed or wedged two workers in a row; the next worker answers it with an error instead of running it',
      );
    }
  }

  /**
   * A worker was killed as stalled and had announced no suspect request: every client left waiting is a
   * suspect (its next request is announced, so a second stall names the culprit).
   */
  stalled(waiting: readonly string[]): void {
    this.faulted(
      waiting.filter((client) => !this.#seen.has(client)).map((client) => ({ client, program: 0, procedure: 0, procedureName: 'unknown', serial: 0, length: 0, digest: UNKNOWN_DIGEST })),
      'stalled',
    );
  }

  /** A commit answered this client's request: whatever it was, it no longer kills workers. */
  answered(client: string): void {
    this.#seen.delete(client);
  }

  get empty(): boolean {
    return this.#seen.size === 0;
  }

  /** What the next worker must know: requests to refuse, and clients whose next request goes alone. */
  forNextWorker(): { poisoned: FaultRequest[]; suspects: string[] } {
    this.#prune();
    const poisoned: FaultRequest[] = [];
    const suspects: string[] = [];
    for (const { request, crashes } of this.#seen.values()) {
      if (crashes >= POISON_AFTER_CRASHES && request.digest !== UNKNOWN_DIGEST) poisoned.push(request);
      else suspects.push(request.client);
    }
    return { poisoned, suspects };
  }

  // A client that is gone has nothing left to answer.
  #prune(): void {
    for (const client of this.#seen.keys()) if (!this.custody.has(client)) this.#seen.delete(client);
  }
}
