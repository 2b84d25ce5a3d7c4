// Request latencies as a log-bucketed histogram: an hour of requests in a few hundred counters, mergeable
// across the owner processes, good enough for p50/p99 (each bucket is 5% wide).

const MIN_MS = 0.01;
const RATIO = 1.05;
const BUCKETS = 400; // up to 0.01 × 1.05^400 ≈ 3e6 ms

export interface LatencySnapshot {
  counts: number[];
  maxMs: number;
}

export class LatencyHistogram {
  readonly counts = new Array<number>(BUCKETS).fill(0);
  maxMs = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(RATIO)));
    this.counts[i]!++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  merge(other: LatencySnapshot): void {
    other.counts.forEach((c, i) => (this.counts[i]! += c));
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
  }

  snapshot(): LatencySnapshot {
    return { counts: [...this.counts], maxMs: this.maxMs };
  }

  reset(): void {
    this.counts.fill(0);
    this.maxMs = 0;
  }

  /** Upper edge of the bucket holding quantile q (0..1); 0 when empty. */
  quantile(q: number): number {
    const total = this.total;
    if (total === 0) return 0;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= q * total) return Math.min(this.maxMs, MIN_MS * RATIO ** i);
    }
    return this.maxMs;
  }
}
