// A live swap (SIGUSR2, `holdfast swap-worker`, and the last step of an upgrade): a standby worker boots
// and receives the custody snapshot while the serving one still serves; then the serving worker stops at a
// message boundary, the standby receives only what changed meanwhile and starts. If it does not become
// ready in time, the old worker resumes: a swap never leaves the daemon worse off than before.
import type { Logger } from 'pino';
import type { WorkerProcess } from './worker-process';

export interface SwapResult {
  ok: boolean;
  /** Trigger to first moment the new worker serves. */
  pauseMs: number;
  reason?: string;
}

/** A serving worker that does not stop at a message boundary within this long keeps serving. */
export const DRAIN_TIMEOUT_MS = 2_000;
export const STOP_TIMEOUT_MS = 5_000;

/** What a swap needs of the supervisor. */
export interface SwapHost {
  readonly log: Logger;
  serving(): WorkerProcess | null;
  /** The old worker serves on after all (the new one failed to start). */
  servingAgain(worker: WorkerProcess): void;
  /** The standby worker, or a freshly spawned one. @throws when none can be spawned now */
  takeStandby(): WorkerProcess;
  spawnStandby(): void;
  /** Makes `worker` the serving worker; rejects if it does not become ready. */
  startWorker(worker: WorkerProcess): Promise<void>;
  generation(): number;
}

/** Replaces the serving worker with a fresh one running the code now on disk. */
export async function swapWorkers(host: SwapHost): Promise<SwapResult> {
  const { log } = host;
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  const current = host.serving();
  let next: WorkerProcess;
  try {
    next = host.takeStandby();
  } catch (err) {
    // Out of fds or processes: the serving worker serves on.
    log.error({ err }, 'worker swap refused: cannot spawn a worker now');
    return { ok: false, pauseMs: elapsed(), reason: (err as Error).message };
  }
  // Let node boot the new worker, and hand it the custody snapshot, while the old one still serves: the
  // pause starts only after that, and covers only what changed meanwhile.
  try {
    await next.booted;
    await next.stage();
  } catch (err) {
    next.kill('SIGKILL');
    host.spawnStandby();
    log.error({ err }, 'worker swap refused: the new worker did not boot');
    return { ok: false, pauseMs: elapsed(), reason: (err as Error).message };
  }
  const pauseStarted = process.hrtime.bigint();
  // Our CPU time in the pause too: on a busy machine the wall-clock pause mostly measures the scheduler.
  const pauseCpuStarted = process.cpuUsage();
  if (current) {
    try {
      await current.drain(DRAIN_TIMEOUT_MS);
    } catch (err) {
      if (current.alive) {
        next.kill('SIGKILL');
        current.resume();
        log.error({ err }, 'worker swap refused: the serving worker did not drain');
        host.spawnStandby();
        return { ok: false, pauseMs: elapsed(), reason: (err as Error).message };
      }
      // It died while draining: once its last commits and unsent replies are settled, the swap doubles
      // as its replacement.
      current.applyLastCommitsAndResendReplies();
    }
  }
  try {
    await host.startWorker(next);
  } catch (err) {
    next.kill('SIGKILL');
    if (current?.alive) {
      current.resume();
      host.servingAgain(current);
    }
    log.error({ err }, 'worker swap failed: the new worker did not become ready; the old one serves on');
    host.spawnStandby();
    return { ok: false, pauseMs: elapsed(), reason: (err as Error).message };
  }
  const pauseMs = Number(process.hrtime.bigint() - pauseStarted) / 1e6;
  const cpu = process.cpuUsage(pauseCpuStarted);
  log.info({ generation: host.generation(), workerPid: next.pid, pauseMs, pauseCpuMs: (cpu.user + cpu.system) / 1000 }, 'worker swapped');
  if (current?.alive) void current.stop(STOP_TIMEOUT_MS);
  return { ok: true, pauseMs };
}
