// How long a live worker swap (SIGUSR2) stalls clients, with many locks held and many clients connected:
// the longest single request latency a probing client sees from the trigger until the new worker serves,
// beside the supervisor's own figure (its "worker swapped" log line). Runnable alone: prints a markdown table.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockClient } from '../src/client/lock-client';
import { startHoldfast, type HoldfastHandle } from '../test/fixtures/holdfast-daemon';
import { childPids, commandLine, workerPid } from '../test/fixtures/process-info';
import { sleep } from './throughput';

export interface SwapPauseOptions {
  /** Locks held across the swap (AUTOCREATE resources in one directory lockspace). */
  locks: number;
  /** Idle registered connections besides the lock owners and the probe. */
  clients: number;
  /** Run dir for the daemon; the caller creates and removes it. */
  dir: string;
  /** Swaps to measure; default 5. */
  trials?: number;
}

export interface SwapPauseResult {
  locks: number;
  clients: number;
  /** Per trial: the longest wait of one probe request between the trigger and the new worker serving. */
  pauseMs: number[];
  medianMs: number;
  maxMs: number;
  /** Per trial: the supervisor's own pause (drain of the old worker to the new one ready), from its log. */
  supervisorPauseMs: number[];
  supervisorMedianMs: number;
  /** Median CPU time of the pause, where the daemon reports it: the supervisor's, and the new worker's start. */
  supervisorCpuMedianMs: number | null;
  workerStartCpuMedianMs: number | null;
}

const OWNERS = 8;
const DEFAULT_TRIALS = 5;
// A swap that has not completed within this long has failed (the supervisor's drain bound is 2 s).
const SWAP_DEADLINE_MS = 60_000;
// After the standby worker exists, let its node start-up finish before the next trigger.
const SETTLE_MS = 1000;

/** Starts a daemon in `opts.dir`, fills it with locks and clients, swaps its worker `trials` times and measures each pause. */
export async function measureSwapPause(opts: SwapPauseOptions): Promise<SwapPauseResult> {
  const trials = opts.trials ?? DEFAULT_TRIALS;
  const daemon = await startHoldfast({ dir: opts.dir, extraArgs: ['-v'] });
  const connections: LockClient[] = [];
  try {
    const lockspace = join(opts.dir, 'locks');
    mkdirSync(lockspace, { recursive: true });
    const owners = await Promise.all(Array.from({ length: OWNERS }, (_, i) => registered(daemon.socket, `owner-${i}`, i + 1)));
    connections.push(...owners);
    await owners[0]!.createLockspace(lockspace);
    await Promise.all(
      owners.map(async (owner, o) => {
        for (let i = o; i < opts.locks; i += OWNERS) await owner.acquire(lockspace, `disk-${i}.img`, 2 /* AUTOCREATE */);
      }),
    );
    // Connect in modest batches: a burst of hundreds would only measure the listen backlog.
    for (let i = 0; i < opts.clients; i += 25) {
      const batch = Array.from({ length: Math.min(25, opts.clients - i) }, (_, j) => registered(daemon.socket, `idle-${i + j}`, 1000 + i + j));
      connections.push(...(await Promise.all(batch)));
    }
    const probe = await LockClient.connect(daemon.socket);
    connections.push(probe);

    const pauseMs: number[] = [];
    const supervisorPauseMs: number[] = [];
    const supervisorCpuMs: number[] = [];
    const workerStartCpuMs: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const before = await workerPid(daemon.pid);
      await standbyBooted(daemon.pid);
      const { clientMs, supervisorMs, supervisorCpu, workerStartCpu } = await swapOnce(daemon, probe, before, trial + 1);
      pauseMs.push(clientMs);
      supervisorPauseMs.push(supervisorMs);
      if (supervisorCpu !== null) supervisorCpuMs.push(supervisorCpu);
      if (workerStartCpu !== null) workerStartCpuMs.push(workerStartCpu);
    }
    return {
      locks: opts.locks,
      clients: opts.clients,
      pauseMs,
      medianMs: median(pauseMs),
      maxMs: Math.max(...pauseMs),
      supervisorPauseMs,
      supervisorMedianMs: median(supervisorPauseMs),
      supervisorCpuMedianMs: supervisorCpuMs.length > 0 ? median(supervisorCpuMs) : null,
      workerStartCpuMedianMs: workerStartCpuMs.length > 0 ? median(workerStartCpuMs) : null,
    };
  } finally {
    await Promise.all(connections.map((c) => c.destroy()));
    await daemon.stop();
  }
}

/**
 * One swap: signal at t0, then probe back to back; the pause is the longest single request until one
 * request has certainly been served by the new worker (one more after its pid shows up).
 */
async function swapOnce(
  daemon: HoldfastHandle,
  probe: LockClient,
  oldWorker: number,
  swapsSoFar: number,
): Promise<{ clientMs: number; supervisorMs: number; supervisorCpu: number | null; workerStartCpu: number | null }> {
  const logOffset = daemon.logs().length;
  let longest = 0;
  const timed = async (): Promise<void> => {
    const t = process.hrtime.bigint();
    await probe.createLockspace('');
    longest = Math.max(longest, Number(process.hrtime.bigint() - t) / 1e6);
  };
  const t0 = Date.now();
  process.kill(daemon.pid, 'SIGUSR2');
  while (!newWorkerServes(daemon.pid, oldWorker)) {
    const failure = swapFailure(daemon, logOffset);
    if (failure) throw new Error(`swap ${swapsSoFar} failed: ${failure}`);
    if (Date.now() - t0 > SWAP_DEADLINE_MS) throw new Error(`swap ${swapsSoFar}: no new worker within ${SWAP_DEADLINE_MS} ms`);
    await timed();
  }
  await timed();
  // The log line is written just before the old worker is told to stop; it may trail the pid change a little.
  let swapped: Record<string, unknown> | undefined;
  while ((swapped = logLines(daemon.logs().slice(logOffset)).find((l) => l.msg === 'worker swapped' && typeof l.pauseMs === 'number')) === undefined) {
    if (Date.now() - t0 > SWAP_DEADLINE_MS) throw new Error(`swap ${swapsSoFar}: no "worker swapped" log line`);
    await sleep(5);
  }
  const serving = logLines(daemon.logs().slice(logOffset)).find((l) => l.msg === 'worker serving');
  return {
    clientMs: longest,
    supervisorMs: swapped.pauseMs as number,
    supervisorCpu: typeof swapped.pauseCpuMs === 'number' ? swapped.pauseCpuMs : null,
    workerStartCpu: typeof serving?.startCpuMs === 'number' ? serving.startCpuMs : null,
  };
}

async function registered(socket: string, name: string, id: number): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  // A pid that is never ours: a disconnect never makes the daemon kill the bench.
  await client.register({ uuid: '00000000-0000-4000-8000-00000000500a', name, id, pid: 0x7ff00000 + id });
  return client;
}

/** A child titled serving that is not the old worker. */
function newWorkerServes(supervisorPid: number, oldWorker: number): boolean {
  return childPids(supervisorPid).some((pid) => pid !== oldWorker && commandLine(pid).startsWith('holdfastd-worker serving'));
}

/** Waits until the old worker is gone and a standby exists, then lets node finish booting it. */
async function standbyBooted(supervisorPid: number): Promise<void> {
  const deadline = Date.now() + SWAP_DEADLINE_MS;
  for (;;) {
    const titles = childPids(supervisorPid).map(commandLine);
    const serving = titles.filter((t) => t.startsWith('holdfastd-worker serving')).length;
    const standby = titles.filter((t) => t.startsWith('holdfastd-worker standby')).length;
    if (serving === 1 && standby === 1 && titles.length === 2) break;
    if (Date.now() > deadline) throw new Error(`supervisor ${supervisorPid} children never settled: ${JSON.stringify(titles)}`);
    await sleep(20);
  }
  await sleep(SETTLE_MS);
}

function logLines(text: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line still being written.
    }
  }
  return lines;
}

function swapFailure(daemon: HoldfastHandle, logOffset: number): string | null {
  const text = daemon.logs().slice(logOffset);
  const line = logLines(text).find((l) => typeof l.msg === 'string' && /swap (refused|failed)|worker died|failed to start/.test(l.msg));
  if (line) return JSON.stringify(line);
  const { exitCode, signalCode } = daemon.process;
  if (exitCode !== null || signalCode !== null) return `the supervisor exited (code ${exitCode}, signal ${signalCode}); its log since the trigger:\n${text}`;
  return null;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const TABLE_LOCKS = (process.env.BENCH_SWAP_LOCKS ?? '1,1000,10000').split(',').map(Number);
const TABLE_CLIENTS = 100;
const TRIALS = Number(process.env.BENCH_SWAP_TRIALS ?? DEFAULT_TRIALS);

/** Runs the swap-pause measurement for 1, 1,000 and 10,000 held locks with 100 idle clients; a markdown table. */
export async function swapPauseTable(): Promise<string> {
  const rows = [
    "| held locks | clients | pause seen by clients, median (ms) | max (ms) | supervisor's pause (ms) | supervisor's CPU in the pause (ms) | new worker's CPU from init to serving (ms) |",
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const notes: string[] = [];
  for (const locks of TABLE_LOCKS) {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-swap-'));
    try {
      const r = await measureSwapPause({ locks, clients: TABLE_CLIENTS, dir, trials: TRIALS });
      const cpu = (ms: number | null): string => (ms === null ? 'n/a' : ms.toFixed(1));
      rows.push(
        `| ${locks.toLocaleString('en-US')} | ${r.clients} | ${r.medianMs.toFixed(1)} | ${r.maxMs.toFixed(1)} | ${r.supervisorMedianMs.toFixed(1)} | ${cpu(r.supervisorCpuMedianMs)} | ${cpu(r.workerStartCpuMedianMs)} |`,
      );
    } catch (err) {
      rows.push(`| ${locks.toLocaleString('en-US')} | ${TABLE_CLIENTS} | failed | failed | failed | failed | failed |`);
      notes.push(`${locks.toLocaleString('en-US')} locks: ${(err as Error).message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rows.push('', `Medians over ${TRIALS} swaps each (supervisor's pause: median of its "worker swapped" pauseMs).`);
  return [...rows, ...notes.map((n) => `- ${n}`)].join('\n');
}

if (require.main === module) {
  swapPauseTable().then(
    (table) => process.stdout.write(`${table}\n`),
    (err: unknown) => {
      process.stderr.write(`swap-pause bench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
