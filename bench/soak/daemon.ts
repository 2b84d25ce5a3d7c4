// The holdfastd under soak: started from this checkout's build in a temporary run dir, its log written to a
// file there (an hour of it does not belong in memory), and watched for exit, which ends the run as a loss.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { sleep } from './deadline';

/** The compiled daemon entry point (this file runs from dist/bench/soak). */
const HOLDFASTD = join(__dirname, '..', '..', 'src', 'cli', 'holdfastd.js');

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  atMs: number;
}

export interface SoakDaemon {
  pid: number;
  socket: string;
  adminSocket: string;
  logFile: string;
  /** Set once the supervisor has exited. */
  exit: DaemonExit | null;
  exited: Promise<DaemonExit>;
  /** The last `bytes` of the daemon's log. */
  logTail(bytes?: number): string;
  stop(): Promise<DaemonExit>;
}

export async function startDaemon(runDir: string, config: string, verbose: boolean): Promise<SoakDaemon> {
  const confFile = join(runDir, 'holdfastd.conf');
  writeFileSync(confFile, config);
  const logFile = join(runDir, 'holdfastd.log');
  const logFd = openSync(logFile, 'a');
  const args = [HOLDFASTD, '--run-dir', runDir, '-f', confFile, ...(verbose ? ['-v'] : [])];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: runDir, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const socket = join(runDir, 'holdfastd-sock');
  const daemon: SoakDaemon = {
    pid: child.pid!,
    socket,
    adminSocket: join(runDir, 'holdfastd-admin-sock'),
    logFile,
    exit: null,
    exited: new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        daemon.exit = { code, signal, atMs: Date.now() };
        resolve(daemon.exit);
      }),
    ),
    logTail(bytes = 4000) {
      const text = readFileSync(logFile, 'utf8');
      return text.slice(Math.max(0, text.length - bytes));
    },
    async stop() {
      if (daemon.exit === null) child.kill('SIGTERM');
      return daemon.exited;
    },
  };
  const deadline = Date.now() + 20_000;
  while (!(await LockClient.answers(socket))) {
    if (daemon.exit !== null) throw new Error(`holdfastd exited during start-up (${JSON.stringify(daemon.exit)}):\n${daemon.logTail()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`holdfastd did not answer within 20 s:\n${daemon.logTail()}`);
    }
    await sleep(50);
  }
  return daemon;
}

