// A persistent lock owner in a process of its own (what QEMU is to virtlockd): one connection, REGISTERed
// with its own pid, acquiring and releasing exclusive locks on its own files, shared locks on files every
// owner shares and AUTOCREATE resources in a directory lockspace, at random, for as long as the soak runs.
// Every reply must come exactly once and in time; the daemon closing the connection, or signalling the
// process as an owner that went away, is a loss. It asks the runner before each release (the prober must
// stop looking first). The same file is the child (run with the flag) and the runner's handle.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';
import { LockClient } from '../../src/client/lock-client';
import type { LatencySnapshot } from './latency';
import { Random } from './random';
import { RequestCounter, RequestFailed } from './requests';
import { sleep } from './deadline';

export interface OwnerConfig {
  index: number;
  socket: string;
  /** Files (existing) only this owner locks, exclusively, in the direct lockspace. */
  exclusive: string[];
  /** Files (existing) every owner locks shared. */
  shared: string[];
  /** Directory lockspace for AUTOCREATE resources. */
  lockspace: string;
  /** AUTOCREATE names of this owner's. */
  autocreate: string[];
  maxHeld: number;
  /** Pause between requests: uniform in [0, thinkMs]. */
  thinkMs: number;
  seed: number;
}

/** Owner → runner. */
export type OwnerMessage =
  | { t: 'ready' }
  | { t: 'held'; path: string }
  | { t: 'releasing'; id: number; path: string }
  | { t: 'stats'; requests: number; replies: number; latency: LatencySnapshot; duplicates: number }
  | { t: 'failed'; kind: RequestFailed['kind']; what: string; fatal: boolean }
  | { t: 'quiet' }
  | { t: 'closed' }
  | { t: 'sigterm' }
  | { t: 'stopped' };

/** Runner → owner. */
type RunnerMessage = { t: 'release-ok'; id: number } | { t: 'go' } | { t: 'quiesce' } | { t: 'stop' };

export interface OwnerHandle {
  index: number;
  pid: number;
  /** The holder name in the ledger. */
  holder: string;
  /** Set when the runner has decided to let this owner go (a kill, a stop): its events no longer count. */
  leaving: boolean;
  send(m: RunnerMessage): void;
  kill(): Promise<void>;
  exited: Promise<void>;
}

const FLAG = '--soak-owner';

export function spawnOwner(config: OwnerConfig, onMessage: (owner: OwnerHandle, m: OwnerMessage) => void): OwnerHandle {
  const child: ChildProcess = fork(__filename, [FLAG, JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: OwnerHandle = {
    index: config.index,
    pid: child.pid!,
    holder: `owner-${config.index}-${child.pid}`,
    leaving: false,
    send(m) {
      if (child.connected) child.send(m);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    exited,
  };
  child.on('message', (m: OwnerMessage) => onMessage(handle, m));
  return handle;
}

// ---- child side ----

interface Target {
  lockspace: string;
  name: string;
  path: string;
  flags: number;
}

async function runOwner(config: OwnerConfig): Promise<void> {
  const send = (m: OwnerMessage): void => {
    if (process.connected) process.send!(m);
  };
  // The daemon signals an owner whose connection it saw close with locks held: for us that is a loss.
  process.on('SIGTERM', () => send({ t: 'sigterm' }));
  process.on('disconnect', () => process.exit(0));
  const random = new Random(config.seed);
  const counter = new RequestCounter();
  const releaseOks = new Map<number, () => void>();
  let nextId = 1;
  let closing = false;
  // Phases the runner moves us through: wait for 'go', run, release everything and idle, close.
  const phase = { go: deferred(), quiesce: deferred(), stop: deferred() };
  process.on('message', (m: RunnerMessage) => {
    if (m.t === 'release-ok') {
      releaseOks.get(m.id)?.();
      releaseOks.delete(m.id);
    } else {
      // A later phase implies the earlier ones.
      for (const name of ['go', 'quiesce', 'stop'] as const) {
        phase[name].resolve();
        if (name === m.t) break;
      }
    }
  });

  let client: LockClient;
  try {
    client = await LockClient.connect(config.socket);
  } catch (err) {
    send({ t: 'failed', kind: 'closed', what: `connect: ${(err as Error).message}`, fatal: true });
    return;
  }
  void client.closed.then(() => {
    if (!closing) send({ t: 'closed' });
  });
  const report = (): void => send({ t: 'stats', ...counter.take(), duplicates: client.unclaimedReplies });
  const timer = setInterval(report, 1000);

  const targets: Target[] = [
    ...config.exclusive.map((path) => ({ lockspace: '', name: path, path, flags: 0 })),
    ...config.shared.map((path) => ({ lockspace: '', name: path, path, flags: AcquireFlags.SHARED })),
    ...config.autocreate.map((name) => ({ lockspace: config.lockspace, name, path: join(config.lockspace, name), flags: AcquireFlags.AUTOCREATE })),
  ];
  const held = new Set<Target>();
  const release = async (target: Target): Promise<void> => {
    const id = nextId++;
    await new Promise<void>((resolve) => {
      releaseOks.set(id, resolve);
      send({ t: 'releasing', id, path: target.path });
    });
    held.delete(target);
    await counter.run(`RELEASE ${target.path}`, () => client.release(target.lockspace, target.name, 0));
  };

  try {
    const uuid = Buffer.alloc(16);
    uuid.writeUInt32BE(0x50a4, 0);
    uuid.writeUInt32BE(process.pid, 12);
    await counter.run('REGISTER', () => client.register({ uuid, name: `soak-owner-${config.index}`, id: 1, pid: process.pid }));
    await counter.run('CREATE_LOCKSPACE', () => client.createLockspace(config.lockspace));
    send({ t: 'ready' });
    await phase.go.promise;
    while (!phase.quiesce.done) {
      const free = targets.filter((t) => !held.has(t));
      const roll = random.next();
      if (free.length > 0 && held.size < config.maxHeld && (held.size === 0 || roll < 0.45)) {
        const target = random.pick(free);
        try {
          await counter.run(`ACQUIRE ${target.path}`, () => client.acquire(target.lockspace, target.name, target.flags));
          held.add(target);
          send({ t: 'held', path: target.path });
        } catch (err) {
          // An error reply is a failure but the connection lives on; anything else ends this owner.
          if (!(err instanceof RequestFailed) || err.kind !== 'error-reply') throw err;
          send({ t: 'failed', kind: err.kind, what: err.message, fatal: false });
        }
      } else if (held.size > 0 && roll < 0.9) {
        await release(random.pick([...held]));
      } else {
        // A request that changes nothing: the connection still answers.
        await counter.run('CREATE_LOCKSPACE ""', () => client.createLockspace(''));
      }
      await sleep(random.int(0, config.thinkMs));
    }
    for (const target of [...held]) await release(target);
    report();
    send({ t: 'quiet' });
    await phase.stop.promise;
    closing = true;
    await client.close();
    await new Promise<void>((resolve) => process.send!({ t: 'stopped' } satisfies OwnerMessage, () => resolve()));
    process.exit(0);
  } catch (err) {
    const e = err instanceof RequestFailed ? err : new RequestFailed('protocol', 'owner', err as Error);
    send({ t: 'failed', kind: e.kind, what: e.message, fatal: true });
    report();
    // Hold still: the runner stops probing our files before it kills us.
  } finally {
    clearInterval(timer);
  }
}

function deferred(): { promise: Promise<void>; resolve(): void; done: boolean } {
  const d = { done: false } as { promise: Promise<void>; resolve(): void; done: boolean };
  d.promise = new Promise<void>((resolve) => {
    d.resolve = () => {
      d.done = true;
      resolve();
    };
  });
  return d;
}

if (require.main === module && process.argv[2] === FLAG) {
  runOwner(JSON.parse(process.argv[3]!) as OwnerConfig).catch((err: unknown) => {
    process.send?.({ t: 'failed', kind: 'protocol', what: `owner crashed: ${(err as Error).stack ?? String(err)}`, fatal: true } satisfies OwnerMessage);
  });
}
