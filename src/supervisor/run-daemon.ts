// Starts the daemon from a resolved configuration: logger, pid file, listening sockets, the supervisor
// and its worker, and the signals that stop it. Returns once serving; the process then lives on its handles.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { HoldfastConfig } from './config/schema';
import type { ClusterSettings } from '../shared/cluster/cluster-settings';
import { MIN_NOFILE, WORKER_FD_RESERVE } from '../shared/platform/fd-budget';
import { createLogger, reopenLogFiles } from '../shared/platform/log';
import { onSignal } from '../shared/platform/signal-intake';
import type { StateDocument } from './upgrade/state-document';
import { StateDocumentError, readStateFile } from './upgrade/state-file';
import { HOLDFAST_VERSION } from '../shared/platform/version';
import { fdStoreJournalPath } from '../shared/platform/paths';
import { FdStore } from './fd-store/fd-store';
import type { ClusterKeeper } from './cluster/cluster-keeper';
import { type Watchdog, takeWatchdog } from './cluster/watchdog';
import { leaseJournalPath, readLeaseJournal, writeLeaseJournal } from './fd-store/lease-journal';
import { readJournal } from './fd-store/journal';
import { adoptStoredFds } from './fd-store/adopt-stored-fds';
import { Listener, StoredLockFd, bindListener, takeActivatedListeners } from './service/listeners';
import { PidFile } from './service/pid-file';
import { boundPathOf } from './service/bound-path';
import { ensurePrivateDir } from './service/private-dir';
import { STARTUP_FAILED_EXIT, reportStartupFailure } from './service/startup-failure';
import { REEXEC_VARIABLE } from './upgrade/reexec';
import { type AdoptedAfterExec, adoptAfterExec } from './upgrade/adopt-after-exec';
import * as native from '../shared/platform/native';
import { ServiceNotifier } from './service/notify';
import { Supervisor } from './supervisor';
import { workerSettings } from './worker-settings';

export interface RunOptions {
  daemonize: boolean;
  /** Exit after this many seconds with no clients and no locks; 0 = never. */
  idleTimeoutSec: number;
  /** -v: a start-up failure prints its stack too. */
  verbose: boolean;
  /** The cluster_* keys resolved (cluster-settings-from-config.ts), or null: no cluster. */
  cluster: ClusterSettings | null;
}

// Set in the environment of the background child of --daemon: the fd to write "ready" to.
const READY_FD_VARIABLE = 'HOLDFASTD_READY_FD';

/**
 * Raises the soft RLIMIT_NOFILE to the hard one: the worker runs a fixed reserve below it (fd-budget.ts).
 * Returns why the daemon cannot serve under this limit, or null.
 */
function raiseFdLimit(log: Logger): string | null {
  const { soft, hard } = native.nofileLimit();
  try {
    if (soft < hard) native.setNofileLimit(hard, hard);
  } catch (err) {
    log.warn({ err, soft, hard }, 'cannot raise the soft limit of open files to the hard one');
  }
  const limit = native.nofileLimit().soft;
  log.info({ limit, workerLimit: limit - WORKER_FD_RESERVE }, 'open files limit');
  return limit < MIN_NOFILE ? `the limit of open files (${limit}) is below the ${MIN_NOFILE} holdfast needs (LimitNOFILE=, ulimit -n)` : null;
}

export async function runDaemon(config: HoldfastConfig, options: RunOptions): Promise<void> {
  if (options.daemonize) return daemonize();
  const log = createLogger({
    name: 'holdfastd',
    level: config.log_level,
    format: config.log_format,
    outputs: config.log_outputs,
    filters: config.log_filters,
  });
  // The supervisor's death drops every lock: a bug must cost a log line, never the process.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection in the supervisor (kept running)'));
  process.on('uncaughtException', (err) => log.fatal({ err }, 'uncaught exception in the supervisor (kept running)'));
  // First, before any worker exists: it takes the watchdog variables out of the environment workers get.
  // The watchdog is pinged from now on, through a restore that may take a while.
  const notifier = new ServiceNotifier(process.env, log);
  notifier.startWatchdog();
  const reexecuted = process.env[REEXEC_VARIABLE] === '1';
  delete process.env[REEXEC_VARIABLE];
  const failed = (cause: unknown): void => reportStartupFailure(log, cause, { verbose: options.verbose, logOutputs: config.log_outputs });
  const fdRefusal = raiseFdLimit(log);
  // An image that inherited locks holds them whatever the limit; a fresh start refuses to serve nobody.
  if (fdRefusal && !reexecuted) {
    failed(new Error(fdRefusal));
    return;
  }
  // A fresh start refuses directories others can write (they could plant a state document or a symlink).
  // After an exec the previous image checked them; refusing now would only drop the inherited locks.
  if (!reexecuted) {
    try {
      ensurePrivateDir(path.dirname(config.state_file), { create: false, what: 'state document and fd-store journal' });
    } catch (err) {
      failed(err);
      return;
    }
  }
  let restored: AdoptedAfterExec | null = null;
  try {
    const document = readPreviousState(config.state_file, log);
    if (document) restored = adoptAfterExec(document, { pidFile: config.pid_file, socket: config.socket_path, adminSocket: config.admin_socket_path }, log);
  } catch (err) {
    if (reexecuted) return holdWhatWasInherited(err, log, notifier);
    log.error({ err }, 'cannot restore from the state document; starting afresh');
  }
  if (reexecuted && !restored) return holdWhatWasInherited(new Error('no state document after an exec'), log, notifier);

  let pidFile: PidFile | null = restored?.pidFile ?? null;
  try {
    pidFile ??= PidFile.acquire(config.pid_file);
  } catch (err) {
    failed(err);
    return;
  }
  // Opened once this process is the run dir's only daemon (the pid file), before anything is bound.
  let watchdog: Watchdog | null;
  try {
    watchdog = takeWatchdog(options.cluster?.watchdogDevice ?? null, restored?.clusterWatchdog ?? null, log.child({ component: 'cluster' }));
  } catch (err) {
    // An operator who configured a watchdog counts on it: a fresh start without it refuses. An image that
    // inherited locks holds them without it rather than drop them, and says so.
    if (!reexecuted) {
      failed(err);
      pidFile.release();
      return;
    }
    log.error({ err }, 'serving WITHOUT the cluster watchdog device');
    watchdog = null;
  }
  let listeners: Listener[] = restored?.listeners ?? [];
  // Lock fds systemd's fd store hands back after a crash or restart (mixed with the sockets).
  const storedLocks: StoredLockFd[] = [];
  try {
    if (!restored) listeners = takeActivatedListeners(process.env, log, storedLocks);
    if (!listeners.some((l) => l.name === 'lock')) listeners.push(await bindListener('lock', config.socket_path, log));
    if (!listeners.some((l) => l.name === 'admin')) listeners.push(await bindListener('admin', config.admin_socket_path, log));
  } catch (err) {
    failed(err);
    watchdog?.disarm();
    pidFile.release();
    return;
  }

  let fdStore: FdStore | null = null;
  // The supervisor is off the clients' path (workers answer them): its wake-ups must not preempt them.
  try {
    native.setBatchScheduling(true);
  } catch (err) {
    log.warn({ err }, 'cannot switch the supervisor to batch scheduling; carrying on');
  }
  const supervisor = new Supervisor(
    {
      settings: workerSettings(config, options.cluster),
      listeners,
      pidFile,
      workerReadyTimeoutMs: config.worker_ready_timeout_ms,
      workerStallTimeoutMs: config.worker_stall_timeout_ms,
      stateFile: config.state_file,
      beforeExec: () => {
        // The next image learns from the journal what the store holds.
        fdStore?.flush();
        notifier.reloading();
        pauseBeforeExecForTests();
      },
      upgrades: restored?.upgrades,
      workerRestarts: restored?.workerRestarts,
      counters: restored?.counters,
      adminLogLevel: restored?.adminLogLevel,
      ...(restored?.carriedWorker ? { carriedWorker: restored.carriedWorker } : {}),
      upgraded: reexecuted && restored !== null,
    },
    log,
  );
  if (restored) {
    supervisor.custody.adopt(restored.custody);
    log.info({ records: restored.custody.length, upgrades: restored.upgrades }, reexecuted ? 'upgraded: restored every lock and client from the state document' : 'adopted the state document of a previous daemon');
  }
  const clusterSettings = options.cluster;
  const journalFile = fdStoreJournalPath(config.state_file);
  // The lease comes from the state document after an exec, or from beside the fd-store journal when
  // systemd handed lock fds back (a restart after a crash or a kill).
  const leaseFile = leaseJournalPath(journalFile);
  const carriedLease = restored?.clusterLease ?? (clusterSettings && storedLocks.length > 0 ? readLeaseJournal(leaseFile, log) : null);
  const cluster = clusterSettings ? new (loadClusterKeeper())(clusterSettings, supervisor.custody, log.child({ component: 'cluster' }), carriedLease, watchdog) : null;
  if (cluster) supervisor.useCluster(cluster);
  const fromStore = storedLocks.length > 0 ? adoptStoredFds(storedLocks, readJournal(journalFile, log), (key) => supervisor.custody.has(key), log) : null;
  if (fromStore) {
    supervisor.custody.adopt(fromStore.entries);
    log.info({ handedBack: storedLocks.length, records: fromStore.entries.length }, 'adopted the lock fds handed back by the systemd fd store');
  }
  fdStore = FdStore.start(process.env, journalFile, supervisor.custody, reexecuted ? 'journal' : fromStore?.inStore ?? new Map(), log.child({ component: 'fd-store' }));
  // Exiting (a clean stop included) leaves the store as it is: the journal must say what it holds.
  process.on('exit', () => fdStore?.flush());
  if (cluster) {
    // The fd store keeps the locks over a restart: their holds must outlive this process as well.
    cluster.revokeOnStop = fdStore === null;
    if (fdStore !== null) cluster.onCarryChange = (lease) => {
      try {
        writeLeaseJournal(leaseFile, lease);
      } catch (err) {
        log.error({ err, file: leaseFile }, 'cannot write the cluster lease file');
      }
    };
    cluster.start(fromStore !== null && !reexecuted);
  }
  const describe = (): string => `serving; ${supervisor.custody.count('client')} clients, ${supervisor.custody.count('resource')} locks held`;
  installSignals(supervisor, log, notifier, describe);
  try {
    await supervisor.start();
  } catch (err) {
    failed(new Error(`the first worker failed to start: ${(err as Error).message}`));
    await supervisor.stop();
    // Exit even if the failed worker still holds its end of the channel open: nothing here serves.
    process.exit(STARTUP_FAILED_EXIT);
  }
  // Every path an operator may look for; `pid` is the daemon's own, in every line.
  const socketOf = (name: string): string => {
    const l = listeners.find((x) => x.name === name);
    return l?.boundPath ?? (l ? boundPathOf(l.fd) : null) ?? 'activated';
  };
  const activated = listeners.filter((l) => l.boundPath === null).map((l) => l.name);
  log.info(
    {
      version: HOLDFAST_VERSION,
      socket: socketOf('lock'),
      adminSocket: socketOf('admin'),
      ...(activated.length > 0 ? { activatedBy: 'systemd', activated } : {}),
      pidFile: config.pid_file,
      stateFile: config.state_file,
    },
    'holdfastd serving',
  );
  notifier.ready(describe());
  notifier.followStatus(describe);
  signalReadyToParent();
  if (options.idleTimeoutSec > 0) exitWhenIdle(supervisor, options.idleTimeoutSec, log);
}

// -t: like virtlockd's --timeout, exit once nobody has been connected and nothing locked for that long.
function exitWhenIdle(supervisor: Supervisor, seconds: number, log: Logger): void {
  let idleSince = Date.now();
  const timer = setInterval(() => {
    // Custody is the truth: every served client and every held lock has a record there.
    if (supervisor.custody.count('client') > 0 || supervisor.custody.count('resource') > 0) {
      idleSince = Date.now();
      return;
    }
    if (Date.now() - idleSince < seconds * 1000) return;
    clearInterval(timer);
    log.info({ idleSeconds: seconds }, 'idle timeout: stopping');
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
}

// Every start reads the state document if there is one, as virtlockd does: ours after an exec, or a
// virtlockd's when holdfastd is exec'ed in its place. One meant for another pid is set aside.
function readPreviousState(file: string, log: Logger): StateDocument | null {
  try {
    return readStateFile(file, { expectedMagic: String(process.pid), remove: true });
  } catch (err) {
    if (err instanceof StateDocumentError && err.reason === 'missing') return null;
    // No directory to read it from: nothing to restore (binding there says what is wrong, in one line).
    if (err instanceof StateDocumentError && !isDirectory(path.dirname(file))) return null;
    if (err instanceof StateDocumentError && err.reason === 'foreign-magic') {
      log.warn({ file, renamedTo: err.renamedTo }, `${err.message}; starting afresh`);
      return null;
    }
    throw err;
  }
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

// After a failed restore this process may hold inherited lock fds it cannot account for. Exiting would
// drop those locks: stay alive holding them, and say so, for an operator to decide.
function holdWhatWasInherited(err: unknown, log: Logger, notifier: ServiceNotifier): void {
  // READY=1, so that systemd does not time the start out and kill us; the watchdog keeps being pinged.
  notifier.ready('restore after an upgrade failed: holding every inherited lock fd, serving nothing (see the log)');
  log.fatal({ err }, 'restore after an exec failed: holding every inherited fd and serving nothing; do not kill this process without fencing the host');
  setInterval(() => undefined, 1 << 30);
}

// SIGINT/SIGQUIT/SIGTERM quit, as virtlockd's; SIGUSR1 upgrades, SIGUSR2 swaps the worker; SIGHUP reopens
// the log files. Any of them that came earlier (even before the first line: see signal-intake) is handled now.
function installSignals(supervisor: Supervisor, log: Logger, notifier: ServiceNotifier, describe: () => string): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    notifier.stopping();
    supervisor.stop().then(
      () => {
        log.info({ signal }, 'stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(STARTUP_FAILED_EXIT);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGTERM'] as const) onSignal(signal, () => stop(signal));
  // SIGUSR1: upgrade the whole daemon in place.
  onSignal('SIGUSR1', () => {
    if (stopping) return;
    // Resolves only when the upgrade was refused: still serving on the old code.
    void supervisor.upgrade().then(() => notifier.ready(`${describe()} (upgrade refused, see the log)`));
  });
  // SIGUSR2: swap the worker for a fresh one live (what `holdfast swap-worker` sends).
  onSignal('SIGUSR2', () => {
    if (stopping) return;
    supervisor.swap().then(
      (result) => {
        if (!result.ok) log.error({ reason: result.reason }, 'worker swap requested by SIGUSR2 failed');
      },
      (err: unknown) => log.error({ err }, 'worker swap failed'),
    );
  });
  // SIGHUP: what logrotate sends a daemon. Never a stop: virtlockd dies of it, and every lock with it.
  onSignal('SIGHUP', () => {
    reopenLogFiles();
    supervisor.signalWorkers('SIGHUP');
    log.info('SIGHUP: reopened the log files');
  });
}

// -d: run the same command line without -d in a new session, and return once it reports ready.
function daemonize(): Promise<void> {
  const args = process.argv.slice(1).filter((a) => a !== '-d' && a !== '--daemon');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    // The background daemon has no terminal: its logs go where log_outputs says (stderr is discarded).
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [READY_FD_VARIABLE]: '3' },
  });
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGTERM'] as const) onSignal(signal, () => process.exit(1));
  return new Promise((resolve) => {
    const readyPipe = child.stdio[3] as NodeJS.ReadableStream;
    let said = '';
    readyPipe.on('data', (chunk: Buffer) => (said += chunk.toString()));
    readyPipe.on('end', () => {
      if (said.startsWith('ready')) {
        child.unref();
        resolve();
        process.exit(0);
      }
    });
    child.once('exit', (code) => {
      process.stderr.write(`holdfastd: the background daemon exited during start-up (code ${code}); its log says why (log_outputs)\n`);
      process.exit(STARTUP_FAILED_EXIT);
    });
  });
}

function signalReadyToParent(): void {
  const fd = Number(process.env[READY_FD_VARIABLE]);
  delete process.env[READY_FD_VARIABLE];
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    fs.writeSync(fd, 'ready\n');
    fs.closeSync(fd);
  } catch {
    // The parent is gone; nothing to tell.
  }
}

// Tests only: hold the upgrade this long just before its exec, where no JS signal handler can run, to show
// that a stop signal arriving there is not lost.
function pauseBeforeExecForTests(): void {
  const ms = Number(process.env.HOLDFASTD_TEST_EXEC_PAUSE_MS ?? 0);
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// The cluster keeper brings etcd3 and its gRPC stack (~260 ms to load): only a daemon with a cluster loads it.
function loadClusterKeeper(): typeof ClusterKeeper {
  return (require('./cluster/cluster-keeper') as typeof import('./cluster/cluster-keeper')).ClusterKeeper;
}
