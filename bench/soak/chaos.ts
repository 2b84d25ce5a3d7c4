// The chaos actions, each one thing an unlucky operator or a crashing machine does to a running daemon.
// An action resolves with a short note of what it did, or throws if it could not be done (a refused swap,
// say): that is counted against the action, not as a loss. Losses show in the clients and the prober.
import { AdminClient } from '../../src/client/admin-client';
import type { SoakContext } from './context';
import { sleep } from './deadline';
import { fdPressure } from './fd-pressure';
import { burst } from './churn';
import { hostileRound } from './hostile';
import { servingWorker } from './proc';

export interface ChaosDeps {
  killOwner(): Promise<string>;
  fdBurstMax: number;
}

export type ChaosAction = (ctx: SoakContext, deps: ChaosDeps) => Promise<string>;

function signalSupervisor(signal: NodeJS.Signals): ChaosAction {
  return async (ctx) => {
    process.kill(ctx.daemon.pid, signal);
    return `${signal} to supervisor ${ctx.daemon.pid}`;
  };
}

function worker(ctx: SoakContext): number {
  const pid = servingWorker(ctx.daemon.pid);
  if (pid === null) throw new Error('no serving worker right now');
  return pid;
}

/** Admin swaps and upgrades wait for the outcome; one that the supervisor refuses or fails is thrown. */
function admin(what: 'swap' | 'upgrade'): ChaosAction {
  return async (ctx) => {
    const client = await AdminClient.connect(ctx.daemon.adminSocket);
    try {
      const result = what === 'swap' ? await client.swapWorker({ timeoutMs: 60_000 }) : await client.upgrade({ timeoutMs: 60_000 });
      if (!result.ok) throw new Error(`${what} ${result.accepted ? 'failed' : 'refused'}: ${result.reason ?? 'no reason given'}`);
      return `${what} done${result.reconnected ? ' (admin reconnected)' : ''}`;
    } finally {
      await client.close();
    }
  };
}

export const CHAOS_ACTIONS = {
  /** SIGKILL of the serving worker (a crash). */
  kill: async (ctx) => {
    const pid = worker(ctx);
    process.kill(pid, 'SIGKILL');
    return `SIGKILL to worker ${pid}`;
  },
  /** SIGUSR2: live worker swap. */
  swap: signalSupervisor('SIGUSR2'),
  /** SIGUSR1: upgrade in place (re-exec of the supervisor). */
  upgrade: signalSupervisor('SIGUSR1'),
  /** SIGHUP, as a closing terminal or a careless `kill -HUP` sends it. */
  hup: signalSupervisor('SIGHUP'),
  /** SIGSTOP of the serving worker for a moment, then SIGCONT (a wedged worker). */
  stop: async (ctx) => {
    const pid = worker(ctx);
    const ms = ctx.random.int(50, 3000);
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Replaced meanwhile.
      }
    }
    return `worker ${pid} stopped for ${ms} ms`;
  },
  /** `holdfast swap-worker`. */
  'admin-swap': admin('swap'),
  /** `holdfast upgrade`. */
  'admin-upgrade': admin('upgrade'),
  /** A burst of connections and locks close to the fd budget. */
  'fd-pressure': (ctx, deps) => fdPressure(ctx, { share: 0.5, maxFds: deps.fdBurstMax }),
  /** A crowd of short clients at once. */
  burst: (ctx) => burst(ctx, ctx.random.int(20, 100)),
  /** SIGKILL of a persistent owner (a VM crashing): its locks must come free, the others' not. */
  'owner-kill': (_ctx, deps) => deps.killOwner(),
  /** Every hostile input once, back to back. */
  hostile: (ctx) => hostileRound(ctx),
} satisfies Record<string, ChaosAction>;

export type ChaosName = keyof typeof CHAOS_ACTIONS;
export const CHAOS_NAMES = Object.keys(CHAOS_ACTIONS) as ChaosName[];

export interface ActionRecord {
  runs: number;
  failures: number;
  /** First few failure reasons. */
  reasons: string[];
}

/** Recent actions, so a miss or a loss can be read next to what just happened. */
export interface ChaosEvent {
  atS: number;
  action: ChaosName;
  note: string;
  ok: boolean;
}

/** Runs actions picked at random from `enabled` at random intervals (mean `meanIntervalMs`) while the run lasts. */
export async function runChaos(
  ctx: SoakContext,
  deps: ChaosDeps,
  enabled: ChaosName[],
  meanIntervalMs: number,
  records: Map<ChaosName, ActionRecord>,
  log: ChaosEvent[],
  onEvent: (e: ChaosEvent) => void,
): Promise<void> {
  for (const name of enabled) records.set(name, { runs: 0, failures: 0, reasons: [] });
  if (enabled.length === 0) return;
  while (ctx.running()) {
    await sleep(ctx.random.exponential(meanIntervalMs));
    if (!ctx.running() || ctx.daemon.exit) break;
    const action = ctx.random.pick(enabled);
    const record = records.get(action)!;
    record.runs++;
    let event: ChaosEvent;
    const atS = ctx.tally.since();
    try {
      event = { atS, action, note: await CHAOS_ACTIONS[action](ctx, deps), ok: true };
    } catch (err) {
      record.failures++;
      const reason = (err as Error).message;
      if (record.reasons.length < 5) record.reasons.push(reason);
      event = { atS, action, note: reason, ok: false };
    }
    log.push(event);
    onEvent(event);
  }
}
