// Worker liveness: a serving worker that shows no sign of life (no message at all, not even an answer to a
// ping) for the stall timeout while some client waits for an answer is stopped or wedged, and nobody else
// would notice. The supervisor then kills it and replaces it as after a crash. Nothing here parses the
// protocol: "a client waits" means a client socket holds bytes no commit has answered.
import type { Logger } from 'pino';
import type { Custody } from '../custody';
import type { WorkerProcess } from './worker-process';

export interface StallWatchdogOptions {
  timeoutMs: number;
  custody: Custody;
  /** The worker to watch now, or null while it must not be judged (none serving, a swap, an upgrade). */
  watched(): WorkerProcess | null;
  /** Called once for a worker judged stalled (the caller kills it). */
  stalled(worker: WorkerProcess, quietMs: number): void;
}

export class StallWatchdog {
  readonly #interval: number;
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #lastWatched: WorkerProcess | null = null;

  constructor(
    private readonly options: StallWatchdogOptions,
    private readonly log: Logger,
  ) {
    // Four looks per timeout: a stall is seen between 1 and 1.25 timeouts after the last sign of life.
    this.#interval = Math.max(25, Math.floor(options.timeoutMs / 4));
  }

  start(): void {
    if (this.#timer) return;
    this.#lastTick = Date.now();
    this.#timer = setInterval(() => this.#tick(), this.#interval);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    const now = Date.now();
    // We ourselves were held up (stopped, or busy): what the worker sent may still be unread, so start over.
    const late = now - this.#lastTick > 2 * this.#interval;
    this.#lastTick = now;
    const worker = this.options.watched();
    // A worker newly watched (or watched again after a pause: a swap's drain, an upgrade) gets a fresh start.
    if (worker !== this.#lastWatched || late) {
      this.#lastWatched = worker;
      if (worker) worker.heardAt = now;
      return;
    }
    if (!worker || !worker.alive) return;
    const quietMs = now - worker.heardAt;
    if (quietMs < this.#interval) return;
    if (quietMs < this.options.timeoutMs || worker.hasUnreadMessages) {
      worker.ping();
      return;
    }
    // Quiet for the whole timeout. Stopped while nobody waits is harmless: it may be woken and serve on.
    if (!this.options.custody.hasUnansweredInput()) {
      worker.ping();
      return;
    }
    this.log.error({ generation: worker.generation, workerPid: worker.pid, quietMs }, 'worker stalled: no sign of life while clients wait for answers; killing and replacing it (locks stay held)');
    this.#lastWatched = null;
    this.options.stalled(worker, quietMs);
  }
}
