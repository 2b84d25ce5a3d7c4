// One request as the soak makes it: under a deadline, counted, timed, and its failure sorted into what the
// promise rules out (no reply, connection dropped, protocol breach) or an error reply (which is a reply).
import { ConnectionClosedError, LockError } from '../../src/client/lock-client';
import { LatencyHistogram, type LatencySnapshot } from './latency';
import { UnansweredError, withDeadline } from './deadline';

export type Failure = 'unanswered' | 'closed' | 'error-reply' | 'protocol';

export class RequestFailed extends Error {
  override readonly name = 'RequestFailed';
  constructor(
    readonly kind: Failure,
    readonly what: string,
    cause: Error,
  ) {
    super(`${what}: ${cause.message}`, { cause });
  }
}

export function classify(err: unknown): Failure {
  if (err instanceof UnansweredError) return 'unanswered';
  if (err instanceof LockError) return 'error-reply';
  if (err instanceof ConnectionClosedError) return 'closed';
  return 'protocol';
}

/** Requests made and answered, and how long the answers took. */
export class RequestCounter {
  requests = 0;
  replies = 0;
  readonly latency = new LatencyHistogram();

  /** Runs `work` under the deadline; throws {@link RequestFailed}. */
  async run<T>(what: string, work: () => Promise<T>): Promise<T> {
    // Counted once settled (answered, refused, failed or past its deadline): a request still in flight
    // when the runner kills its owner on purpose is no loss of the daemon's, and must not look like one.
    const t0 = process.hrtime.bigint();
    const answered = (): void => {
      this.replies++;
      this.latency.record(Number(process.hrtime.bigint() - t0) / 1e6);
    };
    try {
      const result = await withDeadline(what, work());
      answered();
      return result;
    } catch (err) {
      const kind = classify(err);
      if (kind === 'error-reply' || kind === 'protocol') answered();
      throw new RequestFailed(kind, what, err as Error);
    } finally {
      this.requests++;
    }
  }

  /** What was counted since the last call (and start afresh): for the owner processes' reports. */
  take(): { requests: number; replies: number; latency: LatencySnapshot } {
    const delta = { requests: this.requests, replies: this.replies, latency: this.latency.snapshot() };
    this.requests = 0;
    this.replies = 0;
    this.latency.reset();
    return delta;
  }
}
