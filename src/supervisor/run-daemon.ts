// Starts the daemon from a resolved configuration: logger, pid file, listening sockets, the supervisor
// and its worker, and the signals that stop it. Returns once serving; the process then lives on its handles.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { HoldfastConfig } from '../shared/config/schema';
import type { WorkerSettings } from '../shared/control/messages';
import { createLogger } from '../shared/log';
import { HOLDFAST_VERSION } from '../shared/version';
import { Listener, bindListener, takeActivatedListeners } from './listeners';
import { PidFile } from './pid-file';
import { Supervisor } from './supervisor';

export interface RunOptions {
  daemonize: boolean;
  /** Exit after this many seconds with no clients and no locks; 0 = never. */
  idleTimeoutSec: number;
}

// Set in the environment of the background child of --daemon: the fd to write "ready" to.
const READY_FD_VARIABLE = 'HOLDFASTD_READY_FD';

export async function runDaemon(config: HoldfastConfig, options: RunOptions): Promise<void> {
  if (options.daemonize) return daemonize();
  const log = createLogger({
    name: 'holdfastd',
    level: config.log_level,
    format: config.log_format,
    outputs: config.log_outputs,
    filters: config.log_filters,
  });
  let pidFile: PidFile | null = null;
  let listeners: Listener[] = [];
  try {
    pidFile = PidFile.acquire(config.pid_file);
    listeners = takeActivatedListeners(process.env, log);
    if (!listeners.some((l) => l.name === 'lock')) listeners.push(await bindListener('lock', config.socket_path, log));
  } catch (err) {
    log.fatal({ err }, `cannot start: ${(err as Error).message}`);
    pidFile?.release();
    process.exitCode = 1;
    return;
  }

  const supervisor = new Supervisor({ settings: workerSettings(config), listeners, pidFile, workerReadyTimeoutMs: config.worker_ready_timeout_ms }, log);
  installStopSignals(supervisor, log);
  try {
    await supervisor.start();
  } catch (err) {
    log.fatal({ err }, 'the first worker failed to start');
    await supervisor.stop();
    process.exitCode = 1;
    return;
  }
  log.info({ version: HOLDFAST_VERSION, pid: process.pid, socket: listeners.find((l) => l.name === 'lock')?.boundPath ?? 'activated' }, 'holdfastd serving');
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

function workerSettings(config: HoldfastConfig): WorkerSettings {
  const euid = process.geteuid?.() ?? 0;
  return {
    maxClients: config.max_clients,
    adminMaxClients: config.admin_max_clients,
    allowedUid: euid,
    ownerKillTermGraceMs: config.owner_kill_term_grace_ms,
    ownerKillGiveUpMs: config.owner_kill_give_up_ms,
    logLevel: config.log_level,
    logFormat: config.log_format,
    logOutputs: config.log_outputs,
    logFilters: config.log_filters,
  };
}

// SIGINT/SIGQUIT/SIGTERM quit, as virtlockd's. (SIGUSR1 is the upgrade signal, installed at start-up.)
function installStopSignals(supervisor: Supervisor, log: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    supervisor.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
  // SIGUSR2: swap the worker for a fresh one live (what `holdfast swap-worker` sends).
  process.on('SIGUSR2', () => {
    if (stopping) return;
    void supervisor.swap().then((result) => {
      if (!result.ok) log.error({ reason: result.reason }, 'worker swap requested by SIGUSR2 failed');
    });
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
      process.stderr.write(`holdfastd: the background daemon exited during start-up (code ${code})\n`);
      process.exit(1);
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
