// fd pressure: a burst of connections and locks that takes the daemon close to its file descriptor budget, but
// not past it. The budget is the tightest of the supervisor's, the worker's and this process's soft
// RLIMIT_NOFILE headroom (each connection and each lock costs the daemon an fd); the burst uses a share of it,
// holds for a few seconds (the prober watching every lock), and lets everything go.
import { join } from 'node:path';
import { AcquireFlags } from '../../src/shared/protocol/lock-program';
import { LockClient } from '../../src/client/lock-client';
import type { SoakContext } from './context';
import { sleep } from './deadline';
import { fdCount, fdSoftLimit, servingWorker } from './proc';
import { RequestFailed } from './requests';

export interface FdPressureOptions {
  /** Share of the headroom to use (0..1). */
  share: number;
  /** Upper bound on fds one burst takes, whatever the headroom. */
  maxFds: number;
}

function headroom(pid: number | null): number {
  if (pid === null) return 0;
  const limit = fdSoftLimit(pid);
  const used = fdCount(pid);
  return limit === null || used === null ? 0 : limit - used;
}

const MAX_CONNECTIONS = 400;

let serial = 0;

export async function fdPressure(ctx: SoakContext, opts: FdPressureOptions): Promise<string> {
  const worker = servingWorker(ctx.daemon.pid);
  const room = Math.min(headroom(ctx.daemon.pid), headroom(worker), headroom(process.pid));
  const budget = Math.min(opts.maxFds, Math.floor(room * opts.share));
  if (budget < 8) return `no headroom (${room} fds)`;
  // A quarter of the budget in connections (under max_clients, 1024 by default), the rest in locks over them.
  const connections = Math.max(1, Math.min(MAX_CONNECTIONS, Math.floor(budget / 4)));
  const locks = budget - connections;
  const n = serial++;
  const holder = `fd-pressure-${n}`;
  const counter = ctx.tally.local;
  const clients: LockClient[] = [];
  const who = `fd pressure ${n}`;
  try {
    for (let i = 0; i < connections; i++) {
      const client = await counter.run('connect', () => LockClient.connect(ctx.daemon.socket));
      clients.push(client);
      const pid = ctx.nextFakePid();
      const uuid = Buffer.alloc(16);
      uuid.writeUInt32BE(0xfd, 0);
      uuid.writeUInt32BE(pid, 12);
      await counter.run('REGISTER', () => client.register({ uuid, name: `soak-${holder}-${i}`, id: 1, pid }));
    }
    // Each connection takes its share of the locks, all connections at once.
    await allSettled(
      clients.map(async (client, i) => {
        for (let k = i; k < locks; k += clients.length) {
          const name = `fd-${n}-${k}.img`;
          await counter.run(`ACQUIRE ${name}`, () => client.acquire(ctx.paths.churnLockspace, name, AcquireFlags.AUTOCREATE));
          ctx.ledger.held(join(ctx.paths.churnLockspace, name), holder);
        }
      }),
    );
    await sleep(ctx.random.int(1000, 5000));
    // Released one by one: a connection registered for a pid not its own keeps its locks when it hangs up.
    await allSettled(
      clients.map(async (client, i) => {
        for (let k = i; k < locks; k += clients.length) {
          const name = `fd-${n}-${k}.img`;
          await ctx.ledger.releasing(join(ctx.paths.churnLockspace, name), holder);
          await counter.run(`RELEASE ${name}`, () => client.release(ctx.paths.churnLockspace, name, 0));
        }
      }),
    );
    return `${connections} connections, ${locks} locks (headroom ${room})`;
  } catch (err) {
    if (err instanceof RequestFailed) ctx.tally.failed(who, err);
    else ctx.tally.record('errors', who, String(err));
    return `failed after ${clients.length} connections: ${(err as Error).message}`;
  } finally {
    await ctx.ledger.releasingAll(holder);
    await Promise.all(clients.map((c) => c.destroy()));
  }
}

// Like Promise.all, but only once every one has finished: nothing may still be acquiring when we clean up.
async function allSettled(work: Array<Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
