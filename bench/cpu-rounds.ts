// Throughput by CPU: every client shape and client count against holdfast and virtlockd in alternating rounds,
// with each daemon process's CPU time and context switches over the counted window (from /proc). Rates on a
// shared VM swing 2–5× between runs; CPU per cycle, switches per cycle and same-round ratios hold much better.
import { join } from 'node:path';
import { AdminClient } from '../src/client/admin-client';
import type { DaemonHandle } from '../test/fixtures/daemon-handle';
import { childPids, commandLine, workerPid } from '../test/fixtures/process-info';
import { sampleProcess, usageBetween, type ProcessSample } from './cpu-sample';
import type { LoadShape } from './load';
import { sleep } from './throughput';

/** A daemon under test and how to find its processes. */
export interface BenchDaemon {
  name: 'holdfast' | 'virtlockd';
  handle: DaemonHandle;
  /** Its working dir (client files go under it). */
  dir: string;
}

/** One process of a daemon, by role: virtlockd has one; holdfast a supervisor, its serving worker and a standby. */
interface DaemonProcess {
  role: string;
  pid: number;
}

export const ROLES = ['supervisor', 'worker', 'standby'] as const;

async function daemonProcesses(daemon: BenchDaemon): Promise<DaemonProcess[]> {
  if (daemon.name === 'virtlockd') return [{ role: 'virtlockd', pid: daemon.handle.pid }];
  const supervisor = daemon.handle.pid;
  const worker = await workerPid(supervisor);
  const others = childPids(supervisor).filter((pid) => pid !== worker && commandLine(pid).startsWith('holdfastd-worker'));
  return [{ role: 'supervisor', pid: supervisor }, { role: 'worker', pid: worker }, ...others.map((pid) => ({ role: 'standby', pid }))];
}

/** One counted window. */
export interface Measurement {
  daemon: string;
  shape: string;
  clients: number;
  round: number;
  cyclesPerSec: number;
  /** Daemon CPU per cycle, µs: all processes, and by role. */
  cpuUsPerCycle: number;
  cpuUsPerCycleByRole: Record<string, number>;
  voluntaryPerCycle: number;
  involuntaryPerCycle: number;
  /** Switches per cycle by role: [voluntary, involuntary]. */
  switchesPerCycleByRole: Record<string, [number, number]>;
  clientCpuUsPerCycle: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Daemon threads that exited inside the window (their time after the first sample is not counted). */
  exitedTasks: number;
  /** holdfast: requests the serving worker answered per turn that committed (from its metrics); NaN otherwise. */
  requestsPerTurn: number;
  /** Set when the serving worker changed inside the window (the numbers then mix two workers). */
  note: string;
}

export interface RoundsOptions {
  rounds: number;
  durationMs: number;
  warmupMs: number;
  clientCounts: number[];
  shapes: LoadShape[];
}

/** Runs every round; round r measures holdfast first when r is even, virtlockd first when odd. */
export async function runCpuRounds(daemons: BenchDaemon[], opts: RoundsOptions): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  let idBase = 1;
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? daemons : [...daemons].reverse();
    for (const shape of opts.shapes) {
      for (const clients of opts.clientCounts) {
        for (const daemon of order) {
          measurements.push(await measureOnce(daemon, shape, clients, round, idBase, opts));
          idBase += clients;
        }
      }
    }
  }
  return measurements;
}

async function measureOnce(daemon: BenchDaemon, shape: LoadShape, clients: number, round: number, idBase: number, opts: RoundsOptions): Promise<Measurement> {
  const load = await shape.prepare(daemon.handle.socket, join(daemon.dir, 'files'), clients, idBase);
  const processes = await daemonProcesses(daemon);
  load.go();
  await sleep(opts.warmupMs);
  const turnsBefore = await workerTurns(daemon);
  const before: ProcessSample[] = processes.map((p) => sampleProcess(p.pid));
  load.mark();
  const start = process.hrtime.bigint();
  await sleep(opts.durationMs);
  load.endWindow();
  const elapsedSec = Number(process.hrtime.bigint() - start) / 1e9;
  const after: ProcessSample[] = processes.map((p) => sampleProcess(p.pid));
  const turnsAfter = await workerTurns(daemon);
  const outcome = await load.finish();
  const now = await daemonProcesses(daemon);
  const swapped = processes.find((p) => p.role === 'worker')?.pid !== now.find((p) => p.role === 'worker')?.pid;

  const cycles = Math.max(outcome.cycles, 1);
  const byRole: Record<string, number> = {};
  const switchesByRole: Record<string, [number, number]> = {};
  let cpuNs = 0;
  let voluntary = 0;
  let involuntary = 0;
  let exitedTasks = 0;
  processes.forEach((p, i) => {
    const usage = usageBetween(before[i]!, after[i]!);
    byRole[p.role] = (byRole[p.role] ?? 0) + usage.cpuNs / 1000 / cycles;
    const [v, n] = switchesByRole[p.role] ?? [0, 0];
    switchesByRole[p.role] = [v + usage.voluntary / cycles, n + usage.involuntary / cycles];
    cpuNs += usage.cpuNs;
    voluntary += usage.voluntary;
    involuntary += usage.involuntary;
    exitedTasks += usage.exitedTasks;
  });
  return {
    daemon: daemon.name,
    shape: shape.key,
    clients,
    round,
    cyclesPerSec: outcome.cycles / elapsedSec,
    cpuUsPerCycle: cpuNs / 1000 / cycles,
    cpuUsPerCycleByRole: byRole,
    voluntaryPerCycle: voluntary / cycles,
    involuntaryPerCycle: involuntary / cycles,
    switchesPerCycleByRole: switchesByRole,
    clientCpuUsPerCycle: outcome.clientCpuNs / 1000 / cycles,
    p50Ms: outcome.p50Ms,
    p99Ms: outcome.p99Ms,
    errors: outcome.errors,
    exitedTasks,
    requestsPerTurn: turnsBefore && turnsAfter ? (turnsAfter.requests - turnsBefore.requests) / (turnsAfter.turns - turnsBefore.turns) : NaN,
    note: swapped ? 'worker changed inside the window' : '',
  };
}

/** The serving worker's turn counters (holdfast_worker_turns_total and its requests), read the way `holdfast metrics` does. */
async function workerTurns(daemon: BenchDaemon): Promise<{ turns: number; requests: number } | null> {
  if (daemon.name !== 'holdfast' || !daemon.handle.adminSocket) return null;
  const admin = await AdminClient.connect(daemon.handle.adminSocket);
  try {
    const text = await admin.metrics();
    const value = (name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line ? Number(line.slice(name.length + 1)) : NaN;
    };
    return { turns: value('holdfast_worker_turns_total'), requests: value('holdfast_worker_turn_requests_total') };
  } finally {
    await admin.close();
  }
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
