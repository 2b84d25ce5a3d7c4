// One worker process as the supervisor sees it: spawned with the control channel on its fd 3 (and idle
// until told to start, so a standby worker costs no start-up time when needed), fed the custody snapshot
// and the listening sockets, then served: its commits are applied to custody and acknowledged.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ControlChannel, CONTROL_FDS_MAX } from '../shared/control/channel';
import type { ClientRecord } from '../shared/control/custody-records';
import { CommitEntry, RecordWithFd, SupervisorMessage, WorkerMessage, WorkerSettings, isWorkerMessage } from '../shared/control/messages';
import * as native from '../shared/native';
import type { Custody } from './custody';
import type { Listener } from './listeners';

const WORKER_MAIN = path.join(__dirname, '..', 'worker', 'main.js');
// How long node may take to boot a worker before it is considered failed.
const BOOT_TIMEOUT_MS = 30_000;
// Keep each snapshot datagram well under the channel's size limit.
const SNAPSHOT_CHUNK_BYTES = 96 * 1024;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class WorkerProcess {
  readonly #child: ChildProcess;
  readonly #channel: ControlChannel<WorkerMessage, SupervisorMessage>;
  readonly exited: Promise<WorkerExit>;
  #waiters = new Map<'booted' | 'ready' | 'drained', () => void>();
  /** Resolves once node has started and the worker listens on its channel (rejects if it dies first). */
  readonly booted: Promise<void>;
  #acks: number[] = [];
  #ackScheduled = false;
  generation = 0;

  private constructor(
    private readonly custody: Custody,
    private readonly log: Logger,
  ) {
    const [ours, theirs] = native.socketpairSeqpacket();
    // The child's end must survive the exec of node: spawn's stdio mapping dup2()s it to fd 3 for us.
    this.#child = spawn(process.execPath, [...workerNodeFlags(), WORKER_MAIN], {
      stdio: ['ignore', 'inherit', 'inherit', theirs],
      env: workerEnvironment(),
    });
    native.close(theirs);
    this.exited = new Promise((resolve) => this.#child.once('exit', (code, signal) => resolve({ code, signal })));
    this.#channel = new ControlChannel(ours, isWorkerMessage, { message: (m, fds) => this.#onMessage(m, fds), close: () => undefined }, log);
    this.booted = this.#expect('booted', BOOT_TIMEOUT_MS);
    this.booted.catch(() => undefined);
  }

  /** Starts a worker process that waits for `start` (node's own start-up happens meanwhile). */
  static spawn(custody: Custody, log: Logger): WorkerProcess {
    return new WorkerProcess(custody, log);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /**
   * Hands the worker every custody record (with dups of their fds) and the listeners, and resolves once
   * it serves; rejects on timeout or exit (the caller decides what to kill).
   */
  async start(generation: number, settings: WorkerSettings, listeners: Listener[], timeoutMs: number): Promise<void> {
    this.generation = generation;
    const ready = this.#expect('ready', timeoutMs);
    // Handled below; never an unhandled rejection if sending throws first (the supervisor must not die).
    ready.catch(() => undefined);
    const records: Array<{ entry: RecordWithFd; fd: number | null; size: number }> = [];
    let nextClientId = 1;
    for (const [, entry] of this.custody.entries()) {
      if (entry.record.kind === 'client') nextClientId = Math.max(nextClientId, (entry.record as ClientRecord).id + 1);
      records.push({ entry: { record: entry.record, fdIndex: null }, fd: entry.fd, size: JSON.stringify(entry.record).length + 32 });
    }
    await this.#sendSnapshot(records);
    this.#channel.send(
      { type: 'init', generation, settings, listeners: listeners.map((l, i) => ({ name: l.name, fdIndex: i })), expectedRecords: records.length, nextClientId },
      listeners.map((l) => l.fd),
      { dup: false },
    );
    await ready;
  }

  /** Asks the worker to stop at a message boundary; resolves once nothing of it is in flight. */
  drain(timeoutMs: number): Promise<void> {
    const drained = this.#expect('drained', timeoutMs);
    this.#channel.send({ type: 'drain' });
    return drained;
  }

  resume(): void {
    if (!this.#channel.closed) this.#channel.send({ type: 'resume' });
  }

  /** Asks the worker to exit; kills it if it does not within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<WorkerExit> {
    if (!this.#channel.closed && this.alive) this.#channel.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    this.dispose();
    return exit;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.#child.kill(signal);
  }

  /**
   * Releases our side of the channel once the worker is gone. Commits it sent before dying are still
   * queued in the socket: they were read (and applied) before the channel reported the hang-up.
   */
  dispose(): void {
    this.#channel.close();
  }

  // One chunk in the kernel at a time: a queued chunk holds dups of its fds, and a snapshot of every lock
  // queued at once would double the supervisor's fd use.
  async #sendSnapshot(records: Array<{ entry: RecordWithFd; fd: number | null; size: number }>): Promise<void> {
    let chunk: RecordWithFd[] = [];
    let fds: number[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      // Custody fds stay open until flushed (nothing changes custody while a worker starts): no dups.
      this.#channel.send({ type: 'adopt', records: chunk }, fds, { dup: false });
      chunk = [];
      fds = [];
      bytes = 0;
      await this.#channel.flushed();
    };
    for (const { entry, fd, size } of records) {
      if (bytes + size > SNAPSHOT_CHUNK_BYTES || (fd !== null && fds.length >= CONTROL_FDS_MAX)) await flush();
      chunk.push({ record: entry.record, fdIndex: fd === null ? null : fds.push(fd) - 1 });
      bytes += size;
    }
    await flush();
  }

  #expect(what: 'booted' | 'ready' | 'drained', timeoutMs: number): Promise<void> {
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
    switch (message.type) {
      case 'commit':
        return this.#applyCommit(message.entries, fds);
      case 'booted':
      case 'ready':
      case 'drained':
        fds.forEach((fd) => native.close(fd));
        this.#waiters.get(message.type)?.();
        return;
    }
  }

  #applyCommit(entries: CommitEntry[], fds: number[]): void {
    const used = new Set<number>();
    try {
      for (const entry of entries) this.custody.apply(entry, fds, used, () => this.#ack(entry.seq));
    } catch (err) {
      // A worker that names fds it did not send is broken; refuse the rest rather than guess.
      this.log.error({ err, generation: this.generation }, 'refusing a malformed commit from the worker');
    } finally {
      for (const fd of fds) if (!used.has(fd)) native.close(fd);
    }
  }

  // Acknowledgements go back in batches: one datagram per turn of the event loop.
  #ack(seq: number): void {
    this.#acks.push(seq);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      const seqs = this.#acks;
      this.#acks = [];
      if (!this.#channel.closed) this.#channel.send({ type: 'committed', seqs });
    });
  }
}

// Node 22.15+ can switch the SIGUSR1 inspector trigger off outright; on Node 20 the worker's first line
// installs a listener instead.
function workerNodeFlags(): string[] {
  return process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : [];
}

function workerEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  delete env.NOTIFY_SOCKET;
  return env;
}
