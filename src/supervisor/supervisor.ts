// The supervisor: owns the listening sockets, the pid file and custody of every lock and connection; runs
// one serving worker at a time (plus a warm standby) and replaces it live on request or when it dies.
// It never parses the lock protocol. Its status (status-keeper.ts), the upgrade in place
// (upgrade/in-place-upgrade.ts), the live swap (workers/live-swap.ts) and when to respawn a dead worker
// (workers/respawn-policy.ts) have files of their own; this file holds the workers' succession.
import type { Logger } from 'pino';
import type { FaultRequest, WorkerSettings } from '../shared/custody/messages';
import * as native from '../shared/platform/native';
import { setLevel } from '../shared/platform/log';
import { Custody } from './custody';
import { InPlaceUpgrade, STOPPING_REFUSAL } from './upgrade/in-place-upgrade';
import { Listener, unlinkBoundSocket } from './service/listeners';
import { STOP_TIMEOUT_MS, type SwapResult, swapWorkers } from './workers/live-swap';
import { PidFile } from './service/pid-file';
import type { CarriedCounters, CarriedWorkerState, StateDocument } from './upgrade/state-document';
import type { SupervisorStatus } from '../shared/custody/supervisor-status';
import { documentFromCustody } from './upgrade/state-snapshot';
import { PoisonRequests } from './workers/poison-requests';
import { RespawnPolicy, diedOfItsOwnFault } from './workers/respawn-policy';
import { StallWatchdog } from './workers/stall-watchdog';
import { StatusKeeper, type SupervisorCounters } from './status-keeper';
import { type AdminRequests, WorkerProcess } from './workers/worker-process';
import type { ClusterKeeper } from './cluster/cluster-keeper';

export interface SupervisorOptions {
  settings: WorkerSettings;
  listeners: Listener[];
  pidFile: PidFile | null;
  workerReadyTimeoutMs: number;
  /** A serving worker quiet this long while clients wait is replaced (see StallWatchdog). */
  workerStallTimeoutMs: number;
  stateFile: string;
  /** Called right before the exec of an upgrade (service-manager notification). */
  beforeExec?: () => void;
  /** Counters carried over from the image before the last exec. */
  upgrades?: number;
  workerRestarts?: number;
  counters?: CarriedCounters;
  /** The level an admin client set before the last exec, which this image keeps. */
  adminLogLevel?: 1 | 2 | 3 | 4;
  /** The worker that served on through the exec that started this image. */
  carriedWorker?: CarriedWorkerState;
  /** This image was started by an upgrade: status reports it once settled. */
  upgraded?: boolean;
}

export type { SwapResult };


export class Supervisor {
  readonly custody: Custody;
  #worker: WorkerProcess | null = null;
  #standby: WorkerProcess | null = null;
  #generation = 0;
  #stopping = false;
  #swapping: Promise<SwapResult> | null = null;
  readonly #respawn = new RespawnPolicy();
  #respawnTimer: NodeJS.Timeout | null = null;
  readonly #statusKeeper: StatusKeeper;
  readonly #upgrade: InPlaceUpgrade;
  readonly #adminRequests: AdminRequests = {
    action: (action) => this.#requested(action),
    logLevel: (level) => this.#logLevelChanged(level),
  };
  /** The level an admin client chose, if one did: it outlives workers and upgrades. */
  #adminLogLevel: 1 | 2 | 3 | 4 | null = null;
  /** The worker that reported ready and has served since (the one the stall watchdog may judge). */
  #readyWorker: WorkerProcess | null = null;
  readonly #watchdog: StallWatchdog;
  /**
   * Workers killed by the stall watchdog (their death is a fault of theirs, as a crash is), with the
   * suspect request they were stuck in, or else the clients left waiting.
   */
  readonly #stalled = new WeakMap<WorkerProcess, { running: FaultRequest | null; waiting: string[] }>();
  readonly #poison: PoisonRequests;
  #cluster: ClusterKeeper | null = null;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
  ) {
    this.custody = new Custody(log.child({ component: 'custody' }));
    this.#statusKeeper = new StatusKeeper(options);
    this.#upgrade = new InPlaceUpgrade({
      custody: this.custody,
      log,
      stateFile: options.stateFile,
      beforeExec: options.beforeExec,
      stopping: () => this.#stopping,
      swapping: () => this.#swapping,
      serving: () => this.#worker,
      keptFds: () => this.#keptFds(),
      document: (carried) => this.#document(carried),
      refused: (reason) => {
        this.#statusKeeper.upgradeRefused(reason);
        this.#publishStatus();
      },
    });
    if (options.adminLogLevel) this.#logLevelChanged(options.adminLogLevel, 'kept from before the upgrade');
    this.#poison = new PoisonRequests(this.custody, log);
    this.#watchdog = new StallWatchdog(
      {
        timeoutMs: options.workerStallTimeoutMs,
        custody: this.custody,
        // Never during a swap's drain or an upgrade (the worker is paused or carried on purpose).
        watched: () => (this.#stopping || this.#swapping || this.#upgrade.inProgress || this.#worker !== this.#readyWorker ? null : this.#worker),
        stalled: (worker) => {
          const running = worker.running;
          this.#stalled.set(worker, { running, waiting: running ? [] : this.custody.clientsWithUnansweredInput(1024) });
          worker.kill('SIGKILL');
        },
      },
      log,
    );
  }

  /** The cluster's host lease and fencing (a cluster is configured); set before start(). */
  useCluster(cluster: ClusterKeeper): void {
    this.#cluster = cluster;
    // The serving worker grants cluster holds only on the lease as it last heard of it.
    cluster.onLease = (lease) => this.#worker?.sendClusterLease(lease);
    // Its status rides in ours: each grant, renewal (every TTL/3), lapse and fence sends it once more.
    cluster.onStatusChange = () => this.#publishStatus();
  }

  get cluster(): ClusterKeeper | null {
    return this.#cluster;
  }

  /** Our status, which the worker reports (holdfast STATUS and METRICS). */
  #status(): SupervisorStatus {
    const status = this.#statusKeeper.status();
    if (this.#cluster) status.cluster = this.#cluster.status();
    return status;
  }

  /** The supervisor's counters, reported in its status and carried across upgrades. */
  get counters(): Readonly<SupervisorCounters> {
    return this.#statusKeeper.counters;
  }

  #publishStatus(): void {
    this.#worker?.sendStatus(this.#status(), null);
  }

  // The level set through `holdfast log-level` outlives the worker that took it: a swap, a respawn and an
  // upgrade keep it, and so does this process's own logging.
  #logLevelChanged(level: 1 | 2 | 3 | 4, why = 'changed by an admin client'): void {
    this.#adminLogLevel = level;
    this.options.settings.logLevel = level;
    setLevel(this.log, level);
    this.log.info({ priority: level }, `log level ${why}`);
  }

  // An admin client's request, relayed by the worker: answered at once with the status before it (the
  // asker waits for a counter to move past them), carried out right after (the worker must be free to drain).
  #requested(action: 'upgrade' | 'swap'): { accepted: boolean; reason: string | null; supervisor: SupervisorStatus } {
    const supervisor = this.#status();
    if (this.#stopping) return { accepted: false, reason: STOPPING_REFUSAL, supervisor };
    if (action === 'swap' && this.#upgrade.inProgress) return { accepted: false, reason: 'an upgrade is in progress', supervisor };
    setImmediate(() => void (action === 'swap' ? this.swap() : this.upgrade()));
    return { accepted: true, reason: null, supervisor };
  }

  /**
   * SIGUSR1: re-exec this process from the code on disk with every lock and connection. Resolves only if
   * the upgrade was refused (with why); the daemon then serves on, unchanged. A signal arriving while one
   * is in progress queues at most one more.
   */
  upgrade(): Promise<string> {
    return this.#upgrade.run();
  }

  #keptFds(): number[] {
    return [
      ...this.options.listeners.map((l) => l.fd),
      ...[...this.custody.entries()].map(([, e]) => e.fd).filter((fd): fd is number => fd !== null),
      ...(this.options.pidFile ? [this.options.pidFile.fd] : []),
      // The armed watchdog device: the next image pets it on; a close would not stop its timer.
      ...(this.#cluster?.keptFds() ?? []),
    ];
  }

  #document(carried?: CarriedWorkerState): StateDocument {
    // The next image reaps our children by pid, except a carried worker, which it adopts.
    const counters = this.#statusKeeper.counters;
    const children = [this.#worker, this.#standby].filter((w): w is WorkerProcess => w !== null && w.alive && w.pid !== carried?.pid);
    return documentFromCustody(
      {
        custody: this.custody.entries(),
        listeners: this.options.listeners,
        maxClients: this.options.settings.maxClients,
        adminMaxClients: this.options.settings.adminMaxClients,
        pidFileFd: this.options.pidFile?.fd ?? null,
        childPids: children.map((w) => w.pid).filter((pid): pid is number => pid !== undefined),
        generation: this.#generation,
        upgrades: counters.upgrades + 1,
        workerRestarts: counters.workerRestarts,
        counters: { upgradeRefusals: counters.upgradeRefusals, workerSwaps: counters.workerSwaps, swapFailures: counters.swapFailures },
        adminLogLevel: this.#adminLogLevel,
        carriedWorker: carried ?? null,
        clusterLease: this.#cluster?.carry() ?? null,
        clusterWatchdog: this.#cluster?.carryWatchdog() ?? null,
      },
      process.pid,
    );
  }

  async start(): Promise<void> {
    this.#watchdog.start();
    const carried = this.options.carriedWorker;
    if (carried) return this.#takeOverCarriedWorker(carried);
    const worker = this.#takeStandby();
    await this.#startWorker(worker);
    this.#upgradeSettled(null);
  }

  // After an upgrade: the old image's worker still serves. Adopt it, then replace it with one running the
  // code now on disk; if that fails, it serves on (never worse than before).
  async #takeOverCarriedWorker(carried: CarriedWorkerState): Promise<void> {
    const worker = WorkerProcess.adopt(this.custody, this.log, this.#adminRequests, carried);
    this.#worker = worker;
    this.#readyWorker = worker;
    this.#publishStatus();
    this.#generation = Math.max(this.#generation, carried.generation);
    void worker.exited.then((exit) => this.#onWorkerExit(worker, exit, Number.POSITIVE_INFINITY));
    const result = await this.swap();
    if (!result.ok) this.log.error({ reason: result.reason }, 'the worker of the previous image serves on: its replacement did not start');
    this.#upgradeSettled(result.ok ? null : `upgraded, but the worker of the previous image serves on: ${result.reason ?? 'unknown'}`);
  }

  // An upgrade that started this image is complete once a worker of the new code serves (or failed to).
  #upgradeSettled(note: string | null): void {
    if (!this.options.upgraded) return;
    this.#statusKeeper.upgradeSettled(note);
    this.#publishStatus();
  }

  /**
   * Replaces the serving worker with a fresh one running the code now on disk. The old one stops at a
   * message boundary first; if the new one does not serve within the bound, the old one resumes.
   */
  swap(): Promise<SwapResult> {
    if (this.#swapping) return this.#swapping;
    this.#swapping = this.#swap()
      .then((result) => {
        this.#statusKeeper.swapEnded(result.ok, result.reason);
        this.#publishStatus();
        return result;
      })
      .finally(() => (this.#swapping = null));
    return this.#swapping;
  }

  /** Passes a signal on to the serving and the standby worker (SIGHUP: they reopen their log files too). */
  signalWorkers(signal: NodeJS.Signals): void {
    for (const worker of [this.#worker, this.#standby]) worker?.signal(signal);
  }

  /** Clean stop: workers exit, custody fds close (locks end), bound sockets and pid file go away. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#watchdog.stop();
    if (this.#respawnTimer) clearTimeout(this.#respawnTimer);
    const workers = [this.#worker, this.#standby].filter((w): w is WorkerProcess => w !== null);
    this.#worker = null;
    this.#standby = null;
    await Promise.all(workers.map((w) => w.stop(STOP_TIMEOUT_MS)));
    this.custody.closeAll();
    // After the locks: with them gone, their etcd holds go too (unless systemd's fd store keeps the locks).
    await this.#cluster?.stop();
    for (const listener of this.options.listeners) {
      native.close(listener.fd);
      if (listener.boundPath) unlinkBoundSocket(listener.boundPath);
    }
    this.options.pidFile?.release();
  }

  #swap(): Promise<SwapResult> {
    return swapWorkers({
      log: this.log,
      serving: () => this.#worker,
      servingAgain: (worker) => (this.#worker = worker),
      takeStandby: () => this.#takeStandby(),
      spawnStandby: () => this.#spawnStandby(),
      startWorker: (worker) => this.#startWorker(worker),
      generation: () => this.#generation,
    });
  }

  async #startWorker(worker: WorkerProcess): Promise<void> {
    const generation = ++this.#generation;
    const startedAt = Date.now();
    // The predecessor's metrics if it drained (a swap); none after a crash.
    const predecessorMetrics = this.#worker?.metricsAtDrain ?? null;
    // A predecessor that drained vouches for every lock but those it named; else every lock is re-checked.
    const lockRecheck = this.#worker?.locksNotHeldAtDrain ?? null;
    worker.sendStatus(this.#status(), predecessorMetrics);
    this.#worker = worker;
    try {
      // Only while something is under suspicion: otherwise commits pay nothing for it.
      if (!this.#poison.empty) worker.answered = (client) => this.#poison.answered(client);
      await worker.start(generation, this.options.settings, this.options.listeners, this.options.workerReadyTimeoutMs, this.#poison.forNextWorker(), lockRecheck, this.#cluster?.current() ?? null);
    } catch (err) {
      if (this.#worker === worker) this.#worker = null;
      throw err;
    }
    this.log.info({ generation, workerPid: worker.pid, records: this.custody.size }, 'worker ready');
    this.#readyWorker = worker;
    void worker.exited.then((exit) => this.#onWorkerExit(worker, exit, Date.now() - startedAt));
    this.#spawnStandby();
  }

  // A standby worker is spawned ahead of need, so a swap or a crash does not wait for node to boot.
  #spawnStandby(): void {
    if (this.#standby || this.#stopping) return;
    let standby: WorkerProcess;
    try {
      standby = WorkerProcess.spawn(this.custody, this.log, this.#adminRequests);
    } catch (err) {
      // Out of fds or processes: the next swap or respawn spawns one on demand; never fail the caller.
      this.log.error({ err }, 'cannot spawn a standby worker now');
      return;
    }
    this.#standby = standby;
    void standby.exited.then((exit) => {
      if (this.#standby !== standby) return;
      this.#standby = null;
      standby.applyLastCommitsAndResendReplies();
      this.log.warn({ code: exit.code, signal: exit.signal }, 'standby worker died before use');
    });
  }

  #takeStandby(): WorkerProcess {
    const standby = this.#standby;
    this.#standby = null;
    return standby?.alive ? standby : WorkerProcess.spawn(this.custody, this.log, this.#adminRequests);
  }

  #onWorkerExit(worker: WorkerProcess, exit: { code: number | null; signal: string | null }, livedMs: number): void {
    worker.applyLastCommitsAndResendReplies();
    if (this.#stopping || this.#worker !== worker || this.#swapping) return;
    this.#worker = null;
    this.#statusKeeper.workerRestarted();
    this.log.warn({ generation: worker.generation, code: exit.code, signal: exit.signal, records: this.custody.size }, 'worker died; every lock and connection is still held, starting a new worker');
    const stalled = this.#stalled.get(worker);
    if (worker.fault) this.#poison.faulted(worker.fault.requests, worker.fault.error);
    else if (stalled?.running) this.#poison.faulted([stalled.running], 'stalled: it never returned');
    else if (stalled) this.#poison.stalled(stalled.waiting);
    this.#scheduleRespawn(livedMs, worker.fault !== null || this.#stalled.has(worker) || diedOfItsOwnFault(exit));
  }

  // A worker that keeps dying young (or of its own fault) is restarted with exponential backoff, with a
  // clear log line each time.
  #scheduleRespawn(livedMs: number, ownFault = false): void {
    const delay = this.#respawn.delayAfter(livedMs, ownFault);
    if (delay > 0) this.log.error({ failures: this.#respawn.failures, respawnInMs: delay }, 'worker crash-looping; backing off before the next start (locks stay held)');
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = null;
      if (this.#stopping) return;
      let next: WorkerProcess;
      try {
        next = this.#takeStandby();
      } catch (err) {
        // Out of fds or processes: try again, backing off like any failed start (custody holds on).
        this.log.error({ err }, 'cannot spawn a replacement worker now');
        this.#scheduleRespawn(0);
        return;
      }
      this.#startWorker(next).catch((err: unknown) => {
        this.log.error({ err }, 'replacement worker failed to start');
        if (!this.#stopping) this.#scheduleRespawn(0);
      });
    }, delay);
  }
}
