// Requests that kill workers. A worker dying of an uncaught exception names the requests it had in
// progress; the same request (same client, same bytes) named by two workers in a row is poisoned: the next
// worker answers it with an error instead of running it. Named once, it is a suspect: the next worker
// commits it alone, so that a second crash names it and nothing else that happened to share its batch.
// The supervisor still never parses the protocol: it compares what workers report.
import type { Logger } from 'pino';
import type { ClientRecord } from '../shared/control/custody-records';
import type { FaultRequest } from '../shared/control/messages';
import type { Custody } from './custody';

const POISON_AFTER_CRASHES = 2;

export class PoisonRequests {
  readonly #seen = new Map<string, { request: FaultRequest; crashes: number }>();

  constructor(
    private readonly custody: Custody,
    private readonly log: Logger,
  ) {}

  /** A worker died of an uncaught exception while running these requests. */
  faulted(requests: readonly FaultRequest[], error: string): void {
    this.#prune();
    for (const request of requests) {
      const before = this.#seen.get(request.client);
      const crashes = before && before.request.digest === request.digest ? before.crashes + 1 : 1;
      this.#seen.set(request.client, { request, crashes });
      if (crashes !== POISON_AFTER_CRASHES) continue;
      const record = this.custody.get(request.client)?.record as ClientRecord | undefined;
      this.log.error(
        { client: request.client, clientPid: record?.peer.pid, clientUid: record?.peer.uid, program: request.program, procedure: request.procedureName, procedureNumber: request.procedure, serial: request.serial, length: request.length, error },
        'a request crashed two workers in a row; the next worker answers it with an error instead of running it',
      );
    }
  }

  /** What the next worker must know: requests to refuse, and clients whose next request goes alone. */
  forNextWorker(): { poisoned: FaultRequest[]; suspects: string[] } {
    this.#prune();
    const poisoned: FaultRequest[] = [];
    const suspects: string[] = [];
    for (const { request, crashes } of this.#seen.values()) {
      if (crashes >= POISON_AFTER_CRASHES) poisoned.push(request);
      else suspects.push(request.client);
    }
    return { poisoned, suspects };
  }

  // A client that is gone has nothing left to answer.
  #prune(): void {
    for (const client of this.#seen.keys()) if (!this.custody.has(client)) this.#seen.delete(client);
  }
}
