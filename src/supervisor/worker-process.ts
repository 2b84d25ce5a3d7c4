// One worker process as the supervisor sees it: spawned with the control channel on its fd 3, handed the
// listening sockets, and considered serving only once it says "ready" within a bound.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ControlChannel } from '../shared/control/channel';
import { ListenerRef, SupervisorMessage, WorkerMessage, WorkerSettings, isWorkerMessage } from '../shared/control/messages';
import * as native from '../shared/native';
import type { Listener } from './listeners';

const WORKER_MAIN = path.join(__dirname, '..', 'worker', 'main.js');

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class WorkerProcess {
  readonly #child: ChildProcess;
  readonly #channel: ControlChannel<WorkerMessage, SupervisorMessage>;
  readonly exited: Promise<WorkerExit>;
  #ready: ((message: WorkerMessage) => void) | null = null;

  private constructor(
    readonly generation: number,
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
    this.#channel = new ControlChannel(ours, isWorkerMessage, {
      message: (message, fds) => {
        fds.forEach((fd) => native.close(fd));
        if (message.type === 'ready') {
          this.log.debug({ generation: message.generation, pid: message.pid }, 'worker reported ready');
          this.#ready?.(message);
        }
      },
      close: () => undefined,
    }, log);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Starts a worker and resolves once it serves every listener; rejects (and kills it) on timeout or exit. */
  static async start(generation: number, settings: WorkerSettings, listeners: Listener[], timeoutMs: number, log: Logger): Promise<WorkerProcess> {
    const worker = new WorkerProcess(generation, log);
    const refs: ListenerRef[] = listeners.map((l, i) => ({ name: l.name, fdIndex: i }));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not become ready within ${timeoutMs} ms`)), timeoutMs);
      worker.#ready = () => {
        clearTimeout(timer);
        resolve();
      };
      void worker.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`worker exited before it was ready (code ${exit.code}, signal ${exit.signal})`));
      });
    });
    worker.#channel.send({ type: 'init', generation, settings, listeners: refs }, listeners.map((l) => l.fd));
    try {
      await ready;
    } catch (err) {
      worker.kill('SIGKILL');
      throw err;
    }
    return worker;
  }

  /** Asks the worker to stop serving and exit; kills it if it does not within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<WorkerExit> {
    if (!this.#channel.closed) this.#channel.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    this.#channel.close();
    return exit;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  /** Releases our side of the channel once the worker is gone. */
  dispose(): void {
    this.#channel.close();
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
