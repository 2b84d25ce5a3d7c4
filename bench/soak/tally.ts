// The soak's account of every request and every loss, fed by the owner processes (over IPC), the churn and
// burst clients and the chaos actions. A loss is anything the promise rules out: an unanswered request, a
// connection the daemon dropped, an error reply to a well-formed request, a duplicate reply.
import { LatencyHistogram, type LatencySnapshot } from './latency';
import { RequestCounter, type RequestFailed } from './requests';

/** One loss, with when it happened (ms since the run started) and what. */
export interface LossEvent {
  atS: number;
  who: string;
  what: string;
}

/** A request count delta as the owner processes send it. */
export interface RequestDelta {
  requests: number;
  replies: number;
  latency: LatencySnapshot;
}

const KEPT = 50;

export class Tally {
  readonly startedAt = Date.now();
  requests = 0;
  replies = 0;
  readonly latency = new LatencyHistogram();
  /** Persistent owner connections closed by the daemon (or owners signalled by it). */
  readonly lost: LossEvent[] = [];
  readonly unanswered: LossEvent[] = [];
  /** Error replies (or protocol errors) to requests a correct daemon answers OK. */
  readonly errors: LossEvent[] = [];
  readonly duplicates: LossEvent[] = [];
  /** Hostile requests answered OK that locked some other file than the one named. */
  readonly wrongFile: LossEvent[] = [];
  /** Hostile cases and how each ended, counted. */
  readonly hostile: Record<string, Record<string, number>> = {};
  /** Requests made by clients of this process (churn, bursts). */
  readonly local = new RequestCounter();
  readonly counts = { lost: 0, unanswered: 0, errors: 0, duplicates: 0, wrongFile: 0 };

  since(): number {
    return Math.round((Date.now() - this.startedAt) / 100) / 10;
  }

  record(kind: keyof Tally['counts'], who: string, what: string): void {
    this.counts[kind]++;
    const list = kind === 'lost' ? this.lost : kind === 'unanswered' ? this.unanswered : kind === 'errors' ? this.errors : kind === 'duplicates' ? this.duplicates : this.wrongFile;
    // Keep the first ones: the first loss is the one to explain.
    if (list.length < KEPT) list.push({ atS: this.since(), who, what });
  }

  hostileOutcome(kind: string, outcome: string): void {
    const outcomes = (this.hostile[kind] ??= {});
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }

  add(delta: RequestDelta): void {
    this.requests += delta.requests;
    this.replies += delta.replies;
    this.latency.merge(delta.latency);
  }

  /** Takes in what a counter of this process has counted since last time. */
  collect(counter: RequestCounter): void {
    this.add(counter.take());
  }

  /** Books a failed request of a well-behaved client as the loss it is. */
  failed(who: string, err: RequestFailed): void {
    // A reply with another serial than the call's is a stray or duplicate reply.
    const kind = err.kind === 'unanswered' ? 'unanswered' : err.kind === 'closed' ? 'lost' : err.kind === 'protocol' ? 'duplicates' : 'errors';
    this.record(kind, who, err.message);
  }
}
