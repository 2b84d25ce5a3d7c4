// One client load against a lock daemon, as the CPU rounds drive it: prepared (connected and registered), started,
// counted over a window the bench times, and stopped. Each client shape (bench/node-load.ts, bench/native-load.ts)
// implements it.

/** What a load did inside its counted window. */
export interface LoadOutcome {
  /** Acquire+release cycles completed inside the window. */
  cycles: number;
  /** Replies with an error status inside the window. */
  errors: number;
  /** Per request (acquire or release), ms; NaN when the shape does not time requests. */
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the client processes inside the window, ns. */
  clientCpuNs: number;
}

/** A prepared load: every connection is open and registered, nothing is sent yet. */
export interface Load {
  /** Starts every connection's acquire/release loop (not yet counted). */
  go(): void;
  /** Starts counting. */
  mark(): void;
  /** Stops counting at once (synchronously), so a sample taken right after closes the same window. */
  endWindow(): void;
  /** Stops the loops, closes the connections and reports the window. */
  finish(): Promise<LoadOutcome>;
}

/** A client shape: how many processes hold how many connections. */
export interface LoadShape {
  /** Short key for BENCH_SHAPES. */
  key: string;
  /** Table heading. */
  title: string;
  /** Prepares `clients` connections on `socket`, each on its own file under `dir`; `idBase` keeps owners distinct. */
  prepare(socket: string, dir: string, clients: number, idBase: number): Promise<Load>;
}

/** Merges latency histograms (bucket lower bound in µs -> count) and reads a percentile in ms. */
export function histogramPercentileMs(histogram: Map<number, number>, q: number): number {
  const buckets = [...histogram.entries()].sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return NaN;
  const rank = Math.floor(q * total);
  let seen = 0;
  for (const [us, n] of buckets) {
    seen += n;
    if (seen > rank) return us / 1000;
  }
  return buckets[buckets.length - 1]![0] / 1000;
}
