// fds and resident memory of the supervisor and the serving worker, sampled through the run, and the verdict
// on whether they stayed flat. Two kinds of evidence: the sampled series (baseline window at the start
// against the same-length window at the end), and quiet counts taken with every owner connected and nothing
// held, before the chaos and after it (a leaked fd shows there exactly).
import { fdCount, rssBytes, servingWorker } from './proc';
import { sleep } from './deadline';

export interface Sample {
  atS: number;
  supervisorFds: number | null;
  supervisorRss: number | null;
  workerPid: number | null;
  workerFds: number | null;
  workerRss: number | null;
  held: number;
}

export interface QuietCounts {
  supervisorFds: number;
  workerFds: number;
}

export interface SeriesVerdict {
  /** Median of the baseline window (the first 5 minutes, or the first quarter of a shorter run). */
  baseline: number;
  /** Median of the same-length window at the end. */
  end: number;
  max: number;
  min: number;
  flat: boolean;
}

/** RSS is flat if the end window's median is within 25% + 16 MiB of the baseline window's. */
export const RSS_SLACK = { ratio: 1.25, bytes: 16 * 1024 * 1024 };
/** Quiet fd counts are flat if the one after the chaos is at most this many above the one before. */
export const QUIET_FD_SLACK = 4;
const BASELINE_MS = 5 * 60_000;

export class Sampler {
  readonly samples: Sample[] = [];
  #stopped = false;
  #loop: Promise<void> | null = null;

  constructor(
    private readonly supervisorPid: number,
    private readonly startedAt: number,
    private readonly held: () => number,
  ) {}

  start(intervalMs: number): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        this.take();
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  take(): Sample {
    const workerPid = servingWorker(this.supervisorPid);
    const sample: Sample = {
      atS: (Date.now() - this.startedAt) / 1000,
      supervisorFds: fdCount(this.supervisorPid),
      supervisorRss: rssBytes(this.supervisorPid),
      workerPid,
      workerFds: workerPid === null ? null : fdCount(workerPid),
      workerRss: workerPid === null ? null : rssBytes(workerPid),
      held: this.held(),
    };
    this.samples.push(sample);
    return sample;
  }

  /** Baseline vs end of one series; `slack` decides what counts as flat. */
  verdict(pick: (s: Sample) => number | null, flat: (baseline: number, end: number) => boolean): SeriesVerdict | null {
    const points = this.samples.flatMap((s) => {
      const v = pick(s);
      return v === null ? [] : [{ atS: s.atS, v }];
    });
    if (points.length < 2) return null;
    const lastS = points[points.length - 1]!.atS;
    const windowS = Math.min(BASELINE_MS / 1000, lastS / 4);
    const baseline = median(points.filter((p) => p.atS <= points[0]!.atS + windowS).map((p) => p.v));
    const end = median(points.filter((p) => p.atS >= lastS - windowS).map((p) => p.v));
    const values = points.map((p) => p.v);
    return { baseline, end, max: Math.max(...values), min: Math.min(...values), flat: flat(baseline, end) };
  }
}

export function rssFlat(baseline: number, end: number): boolean {
  return end <= baseline * RSS_SLACK.ratio + RSS_SLACK.bytes;
}

/** fd counts once they have stopped moving (closing connections settle asynchronously); bounded by 15 s. */
export async function quietCounts(supervisorPid: number): Promise<QuietCounts> {
  const read = (): QuietCounts => {
    const worker = servingWorker(supervisorPid);
    return { supervisorFds: fdCount(supervisorPid) ?? -1, workerFds: worker === null ? -1 : fdCount(worker) ?? -1 };
  };
  let last = read();
  const deadline = Date.now() + 15_000;
  for (let unchanged = 0; unchanged < 10 && Date.now() < deadline; ) {
    await sleep(100);
    const next = read();
    unchanged = next.supervisorFds === last.supervisorFds && next.workerFds === last.workerFds ? unchanged + 1 : 0;
    last = next;
  }
  return last;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
