// A worker's process, as the supervisor starts or inherits it: spawned guarded with the control channel on
// its fd 3, or adopted from a previous image of ours (watched through a pidfd, reaped by pid). Either way
// the rest of the supervisor sees one handle and one exit promise.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { guardedNodeFlags, guardedPreload } from '../guarded-runtime';

const WORKER_MAIN = path.join(__dirname, '..', '..', 'worker', 'main.js');

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The process behind a worker: one we spawned, or one a previous image of ours spawned (adopted). */
export interface ProcessHandle {
  readonly pid: number | undefined;
  readonly alive: boolean;
  kill(signal: NodeJS.Signals): void;
}

/** Spawns a worker with `channelFd` as its fd 3 (the caller closes its copy). */
export function spawnWorker(channelFd: number): { handle: ProcessHandle; exited: Promise<WorkerExit> } {
  // The child's end must survive the exec of node: spawn's stdio mapping dup2()s it to fd 3 for us.
  const child = spawn(process.execPath, [...guardedNodeFlags(profilingFlags()), WORKER_MAIN], {
    stdio: ['ignore', 'inherit', 'inherit', channelFd],
    env: workerEnvironment(),
  });
  const handle: ProcessHandle = {
    get pid() {
      return child.pid;
    },
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill: (signal) => child.kill(signal),
  };
  const exited = new Promise<WorkerExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { handle, exited };
}

// A worker we did not spawn (this image did not exist yet): its exit is seen through a pidfd and reaped by
// pid, never with waitpid(-1).
export function adoptWorker(pid: number, log: Logger): { handle: ProcessHandle; exited: Promise<WorkerExit> } {
  let alive = true;
  const exited = new Promise<WorkerExit>((resolve) => {
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(pid);
    } catch (err) {
      log.error({ err, workerPid: pid }, 'the carried worker is already gone');
      alive = false;
      resolve({ code: null, signal: null });
      return;
    }
    const poller = new native.Poller(pidfd, () => {
      let status: ReturnType<typeof native.waitpid> = null;
      try {
        status = native.waitpid(pid, true);
        if (status === null) return;
      } catch (err) {
        log.debug({ workerPid: pid, err }, 'the carried worker was not ours to reap');
      }
      poller.close();
      native.close(pidfd);
      alive = false;
      resolve({ code: status?.exitCode ?? null, signal: (status?.signal ?? null) as NodeJS.Signals | null });
    });
    poller.start(native.Poller.READABLE);
  });
  const handle: ProcessHandle = {
    pid,
    get alive() {
      return alive;
    },
    kill(signal) {
      if (alive) process.kill(pid, signal);
    },
  };
  return { handle, exited };
}

// For profiling a worker (--perf-basic-prof, --trace-gc: flags NODE_OPTIONS refuses or that would also
// slow the supervisor): HOLDFAST_WORKER_NODE_FLAGS, split on spaces, goes on the worker's command line.
function profilingFlags(): string[] {
  return (process.env.HOLDFAST_WORKER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag.startsWith('--'));
}

// Workers run guarded like the supervisor (see guarded-runtime): no signal ends one before its first line.
function workerEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: guardedPreload(process.env.LD_PRELOAD) };
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  delete env.NOTIFY_SOCKET;
  return env;
}
