// One request of a lock-protocol connection, as the lock service handles it: the connection's lock state
// and the custody changes the request makes. Kept per connection and reused (one request at a time each);
// a request that changes nothing files no array at all, and the common one change files an array of one.
import type { Change } from '../custody-link';
import type { LockClientState } from './lock-client-state';

const NO_CHANGES: readonly Change[] = Object.freeze([]);

export class LockRequest {
  #changes: Change[] | null = null;

  constructor(readonly client: LockClientState) {}

  /** Files one change of the request in progress. */
  file(change: Change): void {
    if (this.#changes === null) this.#changes = [change];
    else this.#changes.push(change);
  }

  /** The request's changes, in order; the request starts over empty for the next one. */
  take(): readonly Change[] {
    const changes = this.#changes ?? NO_CHANGES;
    this.#changes = null;
    return changes;
  }
}
