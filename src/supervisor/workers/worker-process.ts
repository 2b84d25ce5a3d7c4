// One worker process as the supervisor sees it, and what the supervisor tells it: spawned with the control
// channel on its fd 3 (and idle until told to start, so a standby worker costs no start-up time when
// needed), fed the custody snapshot and the listening sockets, then served, drained, resumed, paced, carried
// across an exec or stopped. Its process (worker-spawn.ts), the snapshot it is sent (snapshot-sender.ts)
// and its commits and reply pipe (commit-intake.ts) each have a file of their own. When it is gone, its
// last commits are read from the channel and the replies it never sent are recovered from its reply pipe.
import type { Logger } from 'pino';
import { ControlChannel } from '../../shared/custody/channel';
import { COMMIT_CODEC_VERSION } from '../../shared/custody/commit-codec';
import { type ClusterLease, FaultRequest, SupervisorMessage, WorkerMetricsSnapshot, WorkerMessage, WorkerSettings, isWorkerMessage } from '../../shared/custody/messages';
import type { SupervisorStatus } from '../../shared/custody/supervisor-status';
import type { CarriedWorkerState } from '../upgrade/state-document';
import * as native from '../../shared/platform/native';
import { CommitIntake } from './commit-intake';
import type { Custody } from '../custody';
import type { Listener } from '../service/listeners';
import { SnapshotSender } from './snapshot-sender';
import { type ProcessHandle, type WorkerExit, adoptWorker, spawnWorker } from './worker-spawn';

export type { WorkerExit };

// While we re-execute, a carried worker commits at most this often (see PaceMessage): a client's requests
// then wait up to this long for their replies, instead of piling up until its send buffer fills.
const CARRIED_COMMIT_EVERY_MS = 2;
// The worker's side of the channel holds what it commits meanwhile: 4 MiB is about a second of commits
// from 16 busy clients (the default 208 KiB fills in tens of milliseconds).
const CHANNEL_SEND_BUFFER_BYTES = 4 * 1024 * 1024;
// How long node may take to boot a worker before it is considered failed.
const BOOT_TIMEOUT_MS = 30_000;
// The reply pipe's size: a turn's replies travel as one batch inside it.
const REPLY_PIPE_BYTES = 1024 * 1024;

/** What an admin client asks the supervisor for through a worker (see holdfast's admin program). */
export interface AdminRequests {
  /** An upgrade or a swap: taken or refused (and why), with the supervisor's status from before it acted. */
  action(action: 'upgrade' | 'swap'): { accepted: boolean; reason: string | null; supervisor: SupervisorStatus };
  /** The log level changed: workers started later keep it. */
  logLevel(level: 1 | 2 | 3 | 4): void;
}

export class WorkerProcess {
  readonly #child: ProcessHandle;
  readonly #channel: ControlChannel<WorkerMessage, SupervisorMessage>;
  readonly exited: Promise<WorkerExit>;
  #waiters = new Map<'booted' | 'ready' | 'drained' | 'committing JSON', () => void>();
  /** We told this worker to commit in binary (it may have, or may be about to). */
  #toldBinary = false;
  /** Resolves once node has started and the worker listens on its channel (rejects if it dies first). */
  readonly booted: Promise<void>;
  // Booted: its signal intake is installed (before that, a signal could meet the default action in the
  // instant between the spawn's fork and the exec of node).
  #listening = false;
  readonly #commits: CommitIntake;
  readonly #snapshot: SnapshotSender;
  #settled = false;
  generation = 0;
  /** The metrics this worker reported when it last drained, for its successor. */
  metricsAtDrain: WorkerMetricsSnapshot | null = null;
  /**
   * Drained and not resumed since: the custody keys of the locks it reported not holding (it vouched for
   * every other one), so its successor re-checks only these. null: not drained, or it did not say.
   */
  locksNotHeldAtDrain: string[] | null = null;
  /** What the worker said it was doing when an uncaught exception killed it (null: it never said). */
  fault: { error: string; requests: FaultRequest[] } | null = null;
  /** A suspect request the worker announced and has not returned from yet (see RunningMessage). */
  running: FaultRequest | null = null;
  /** When a message from this worker last arrived (its sign of life for the stall watchdog). */
  heardAt = Date.now();

  private constructor(
    private readonly custody: Custody,
    log: Logger,
    private readonly requests: AdminRequests,
    carried?: CarriedWorkerState,
  ) {
    let ours: number;
    if (carried) {
      // A worker that kept serving while our previous image exec'ed us: its channel and pipe came along.
      for (const fd of [carried.channelFd, carried.replyPipe.read, carried.replyPipe.write]) native.setCloexec(fd, true);
      ours = carried.channelFd;
      const adopted = adoptWorker(carried.pid, log);
      this.#child = adopted.handle;
      this.exited = adopted.exited;
      this.generation = carried.generation;
    } else {
      let theirs: number;
      [ours, theirs] = native.socketpairSeqpacket();
      // Room for the commits a worker queues while we re-execute (see PaceMessage); best effort.
      try {
        native.growSendBuffer(theirs, CHANNEL_SEND_BUFFER_BYTES);
      } catch (err) {
        log.debug({ err }, 'cannot grow the worker channel\'s send buffer');
      }
      const spawned = spawnWorker(theirs);
      native.close(theirs);
      this.#child = spawned.handle;
      this.exited = spawned.exited;
    }
    // Commits are read at each readiness (one read takes every queued commit, up to 8 per system call).
    // Reading once a millisecond instead ran the supervisor in bursts (a millisecond of commits at a time)
    // that delayed clients and the worker, and left that many requests unconsumed in each client's socket
    // for the worker's peeks to walk past (SO_PEEK_OFF): at 4 clients the daemon spent ~17% more CPU per
    // cycle and p99 doubled; at 16 it saved ~8% CPU per cycle at a worse p99.
    this.#channel = new ControlChannel(ours, isWorkerMessage, { message: (m, fds) => this.#onMessage(m, fds), close: () => undefined }, log, {
      decodeBinary: (data) => this.#commits.decode(data),
    });
    this.#commits = new CommitIntake(custody, this.#channel, log, () => this.generation, carried ? { replyPipe: carried.replyPipe, lastBatch: carried.lastBatch } : null);
    this.#snapshot = new SnapshotSender(custody, this.#channel);
    void this.exited.then(() => this.#snapshot.close());
    // A worker carried through our exec was told to commit as JSON (our predecessor could not know what we
    // read): we read binary. (A worker older than the binary form refuses this message, logs it, and
    // carries on in JSON.)
    if (carried) this.#announceCodecs(true);
    this.booted = carried ? Promise.resolve() : this.#expect('booted', BOOT_TIMEOUT_MS);
    this.booted.then(() => (this.#listening = true), () => undefined);
  }

  /** Starts a worker process that waits for `start` (node's own start-up happens meanwhile). */
  static spawn(custody: Custody, log: Logger, requests: AdminRequests): WorkerProcess {
    return new WorkerProcess(custody, log, requests);
  }

  /** Takes over the serving worker a previous image of ours carried across its exec. */
  static adopt(custody: Custody, log: Logger, requests: AdminRequests, carried: CarriedWorkerState): WorkerProcess {
    return new WorkerProcess(custody, log, requests, carried);
  }

  /**
   * Has the worker commit as JSON from now on, and resolves true once every binary commit it sent is in our
   * channel ahead of its answer (the channel keeps order), false if it did not answer in `timeoutMs`. Before
   * a carry: the next image may be older, and a binary commit it cannot read would lose its requests.
   */
  async commitAsJson(timeoutMs: number): Promise<boolean> {
    if (!this.#toldBinary) return true;
    if (this.#channel.closed || !this.alive) return false;
    const switched = this.#expect('committing JSON', timeoutMs);
    this.#announceCodecs(false);
    try {
      await switched;
      return true;
    } catch {
      // An older worker does not answer (it refuses the message); it never committed in binary anyway.
      return false;
    }
  }

  /**
   * What the next image needs to adopt this worker while it keeps serving through our exec, or null if it
   * cannot be carried (not serving, or replies we still owe would be lost). Sends owed acknowledgements.
   */
  carry(): { state: CarriedWorkerState; fds: number[] } | null {
    const pid = this.#child.pid;
    // Fragments of a commit already read would be lost with this image: the worker drains instead.
    const replyPipe = this.#commits.replyPipe;
    if (!replyPipe || !this.alive || pid === undefined || this.#channel.closed || this.#channel.assembling) return null;
    // Whatever it commits from here on waits for the next image, which may be older: JSON only (see
    // commitAsJson, which the caller awaited first).
    if (this.#toldBinary) return null;
    this.#commits.flushAcks();
    this.pace(CARRIED_COMMIT_EVERY_MS);
    // From here on everything it commits waits in the channel for the next image, fragments whole.
    this.#channel.pauseReading();
    const state: CarriedWorkerState = { pid, generation: this.generation, channelFd: this.#channel.fd, replyPipe: { ...replyPipe }, lastBatch: this.#commits.lastBatch };
    return { state, fds: [this.#channel.fd, replyPipe.read, replyPipe.write] };
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#child.alive;
  }

  /** Told of every client whose request a commit answers (set while some request is under suspicion). */
  set answered(listener: ((client: string) => void) | null) {
    this.#commits.answered = listener;
  }

  /**
   * Hands the worker every custody record (with dups of their fds) and the listeners, and resolves once
   * it serves; rejects on timeout or exit (the caller decides what to kill).
   */
  async start(
    generation: number,
    settings: WorkerSettings,
    listeners: Listener[],
    timeoutMs: number,
    faults: { poisoned: FaultRequest[]; suspects: string[] } = { poisoned: [], suspects: [] },
    lockRecheck: string[] | null = null,
    clusterLease: ClusterLease | null = null,
  ): Promise<void> {
    this.generation = generation;
    const ready = this.#expect('ready', timeoutMs);
    // Handled below; never an unhandled rejection if sending throws first (the supervisor must not die).
    ready.catch(() => undefined);
    // It reads every client socket from its head: nothing answered may still be queued there.
    this.custody.consumeAll();
    // Whatever changed since stage() (everything, if it never ran); custody cannot change meanwhile.
    try {
      await this.#snapshot.send(false);
    } finally {
      this.#snapshot.close();
    }
    const nextClientId = this.#snapshot.nextClientId;
    const pipe = native.pipe(REPLY_PIPE_BYTES);
    this.#commits.usePipe(pipe);
    this.#announceCodecs(true);
    this.#channel.send(
      {
        type: 'init',
        generation,
        settings,
        listeners: listeners.map((l, i) => ({ name: l.name, fdIndex: i })),
        expectedRecords: this.custody.size,
        nextClientId,
        replyPipe: { read: listeners.length, write: listeners.length + 1, capacity: pipe.capacity },
        poisoned: faults.poisoned,
        suspects: faults.suspects,
        ...(lockRecheck === null ? {} : { lockRecheck }),
        ...(clusterLease === null ? {} : { clusterLease }),
      },
      [...listeners.map((l) => l.fd), pipe.read, pipe.write],
      { dup: false },
    );
    await ready;
  }

  /** Tells the worker the cluster's host lease as it is now. */
  sendClusterLease(lease: ClusterLease): void {
    if (!this.#channel.closed && this.alive) this.#channel.send({ type: 'cluster-lease', ...lease });
  }

  /** Tells the worker the supervisor's status, and its predecessor's metrics if any. */
  sendStatus(status: SupervisorStatus, predecessorMetrics: WorkerMetricsSnapshot | null): void {
    if (!this.#channel.closed && this.alive) this.#channel.send({ type: 'facts', supervisor: status, counters: predecessorMetrics });
  }

  /** Asks the worker to stop at a message boundary; resolves once nothing of it is in flight. */
  drain(timeoutMs: number): Promise<void> {
    const drained = this.#expect('drained', timeoutMs);
    this.#channel.send({ type: 'drain' });
    return drained;
  }

  resume(): void {
    this.locksNotHeldAtDrain = null;
    this.custody.consumeAll();
    if (!this.#channel.closed) this.#channel.send({ type: 'resume' });
    this.#announceCodecs(true);
  }

  /** The exec after carry() failed: this image reads the worker's commits again, each turn. */
  keep(): void {
    this.#channel.resumeReading();
    this.#announceCodecs(true);
    this.pace(0);
  }

  /** Asks for a sign of life (a `pong`, which moves heardAt). */
  ping(): void {
    if (!this.#channel.closed && this.alive) this.#channel.send({ type: 'ping' });
  }

  /** True if messages from the worker wait in our end of the channel, not yet read. */
  get hasUnreadMessages(): boolean {
    if (this.#channel.closed) return false;
    try {
      return native.queuedIn(this.#channel.fd) > 0;
    } catch {
      return false;
    }
  }

  /** Tells the worker whether to commit in our binary form (CodecsMessage) or as JSON. */
  #announceCodecs(binary: boolean): void {
    if (this.#channel.closed) return;
    this.#channel.send({ type: 'codecs', commit: binary ? [COMMIT_CODEC_VERSION] : [] });
    // Told JSON, it may still have binary commits in flight until it answers (commitAsJson).
    if (binary) this.#toldBinary = true;
  }

  /** Sets how often, at most, the worker commits (0: every turn); see PaceMessage. */
  pace(commitEveryMs: number): void {
    if (!this.#channel.closed) this.#channel.send({ type: 'pace', commitEveryMs });
  }

  /** Asks the worker to exit; kills it if it does not within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<WorkerExit> {
    if (!this.#channel.closed && this.alive) this.#channel.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    this.applyLastCommitsAndResendReplies();
    return exit;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.#child.kill(signal);
  }

  /** Passes on a signal that asks something of the worker (SIGHUP), once it listens for signals. */
  signal(signal: NodeJS.Signals): void {
    if (this.#listening) this.kill(signal);
  }

  /**
   * Once the worker is gone (or drained for good): applies the commits it sent before dying, which are
   * still queued in the channel, then sends the replies its pipe shows it never sent, and lets both go.
   * Must run before another worker reads the same clients. Idempotent.
   */
  applyLastCommitsAndResendReplies(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#channel.drainAndClose();
    this.#commits.resendUnsentReplies();
  }

  /**
   * Before a swap stops the serving worker: sends this (booted, not yet serving) worker the whole custody
   * snapshot, while clients are still served. start() then sends only what changed since, so the pause
   * of a swap no longer grows with the number of locks held.
   */
  async stage(): Promise<void> {
    await this.#snapshot.send(true);
  }

  #expect(what: 'booted' | 'ready' | 'drained' | 'committing JSON', timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(what);
        reject(new Error(`worker did not report ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(what, () => {
        clearTimeout(timer);
        this.#waiters.delete(what);
        resolve();
      });
      void this.exited.then((exit) => {
        clearTimeout(timer);
        if (this.#waiters.delete(what)) reject(new Error(`worker exited before it was ${what} (code ${exit.code}, signal ${exit.signal})`));
      });
    });
  }

  #onMessage(message: WorkerMessage, fds: number[]): void {
    this.heardAt = Date.now();
    // Any message after `running` means that request returned.
    this.running = message.type === 'running' ? message.request : null;
    switch (message.type) {
      case 'running':
      case 'pong':
        fds.forEach((fd) => native.close(fd));
        return;
      case 'fault':
        fds.forEach((fd) => native.close(fd));
        this.fault = { error: message.error, requests: message.requests };
        return;
      case 'commit':
        return this.#commits.take(message, fds);
      case 'log-level':
        fds.forEach((fd) => native.close(fd));
        this.requests.logLevel(message.level);
        return;
      case 'action': {
        fds.forEach((fd) => native.close(fd));
        // Always answered: an unanswered request would keep the worker from ever draining.
        const result = this.requests.action(message.action);
        if (!this.#channel.closed) this.#channel.send({ type: 'action-result', id: message.id, ...result });
        return;
      }
      case 'codecs':
        fds.forEach((fd) => native.close(fd));
        if (message.commit.length === 0) {
          this.#toldBinary = false;
          this.#waiters.get('committing JSON')?.();
        }
        return;
      case 'booted':
      case 'ready':
      case 'drained':
        if (message.type === 'drained' && message.counters) this.metricsAtDrain = message.counters;
        if (message.type === 'drained') this.locksNotHeldAtDrain = message.locksNotHeld ?? null;
        fds.forEach((fd) => native.close(fd));
        this.#waiters.get(message.type)?.();
        return;
    }
  }
}
