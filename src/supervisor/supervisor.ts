// The supervisor: owns the listening sockets and the pid file, runs one worker at a time and replaces it
// when it dies. It never parses the lock protocol.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { WorkerSettings } from '../shared/control/messages';
import * as native from '../shared/native';
import { Listener } from './listeners';
import { PidFile } from './pid-file';
import { WorkerProcess } from './worker-process';

export interface SupervisorOptions {
  settings: WorkerSettings;
  listeners: Listener[];
  pidFile: PidFile | null;
  workerReadyTimeoutMs: number;
}

// A worker that dies within this long of starting counts towards the crash-loop backoff.
const CRASH_LOOP_WINDOW_MS = 10_000;
const BACKOFF_MAX_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export class Supervisor {
  #worker: WorkerProcess | null = null;
  #generation = 0;
  #stopping = false;
  #quickDeaths = 0;
  #respawnTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
  ) {}

  get workerPid(): number | undefined {
    return this.#worker?.pid;
  }

  async start(): Promise<void> {
    this.#worker = await this.#spawn();
  }

  /** Clean stop: the worker exits, sockets we bound are unlinked, the pid file is released. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#respawnTimer) clearTimeout(this.#respawnTimer);
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.stop(STOP_TIMEOUT_MS);
    for (const listener of this.options.listeners) {
      native.close(listener.fd);
      if (listener.boundPath) fs.rmSync(listener.boundPath, { force: true });
    }
    this.options.pidFile?.release();
  }

  async #spawn(): Promise<WorkerProcess> {
    const generation = ++this.#generation;
    const startedAt = Date.now();
    const worker = await WorkerProcess.start(generation, this.options.settings, this.options.listeners, this.options.workerReadyTimeoutMs, this.log);
    this.log.info({ generation, workerPid: worker.pid }, 'worker ready');
    void worker.exited.then((exit) => this.#onWorkerExit(worker, exit, Date.now() - startedAt));
    return worker;
  }

  #onWorkerExit(worker: WorkerProcess, exit: { code: number | null; signal: string | null }, livedMs: number): void {
    worker.dispose();
    if (this.#stopping || this.#worker !== worker) return;
    this.#worker = null;
    this.log.warn({ generation: worker.generation, code: exit.code, signal: exit.signal }, 'worker died');
    this.#scheduleRespawn(livedMs);
  }

  // A worker that keeps dying young is restarted with exponential backoff, with a clear log line each time.
  #scheduleRespawn(livedMs: number): void {
    this.#quickDeaths = livedMs < CRASH_LOOP_WINDOW_MS ? this.#quickDeaths + 1 : 0;
    const delay = this.#quickDeaths <= 1 ? 0 : Math.min(BACKOFF_MAX_MS, 100 * 2 ** (this.#quickDeaths - 1));
    if (delay > 0) this.log.error({ failures: this.#quickDeaths, respawnInMs: delay }, 'worker crash-looping; backing off before the next start');
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = null;
      this.#spawn().then(
        (next) => {
          if (this.#stopping) void next.stop(STOP_TIMEOUT_MS);
          else this.#worker = next;
        },
        (err: unknown) => {
          this.log.error({ err }, 'replacement worker failed to start');
          if (!this.#stopping) this.#scheduleRespawn(0);
        },
      );
    }, delay);
  }
}
