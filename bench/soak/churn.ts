// Short-lived clients: connect, REGISTER an owner pid that is not theirs (as libvirtd does for a QEMU), take a
// few locks (AUTOCREATE in their own lockspace, or shared on the common files), release them and leave. By
// virtlockd's rule a connection whose peer is not its owner keeps its locks when it hangs up, so these always
// release first; hanging up holding locks is the owner processes' part (owner-kill). Run continuously at a
// modest rate, and in bursts by the chaos.
import { AcquireFlags } from '../../src/shared/protocol/lock-program';
import { LockClient } from '../../src/client/lock-client';
import { join } from 'node:path';
import type { SoakContext } from './context';
import { sleep } from './deadline';
import { RequestFailed } from './requests';

let serial = 0;

/** One churn client's whole life. Losses go to the tally; never throws. */
export async function churnClient(ctx: SoakContext, label: string): Promise<void> {
  const { tally, ledger, random, paths } = ctx;
  const n = serial++;
  const who = `${label} ${n}`;
  const holder = `${label}-${n}`;
  const counter = tally.local;
  let client: LockClient | null = null;
  let leaving = false;
  try {
    client = await counter.run('connect', () => LockClient.connect(ctx.daemon.socket)).catch((err: RequestFailed) => {
      throw new RequestFailed('closed', 'connect', err.cause as Error);
    });
    const c = client;
    const pid = ctx.nextFakePid();
    const uuid = Buffer.alloc(16);
    uuid.writeUInt32BE(0xc4a2, 0);
    uuid.writeUInt32BE(pid, 12);
    await counter.run('REGISTER', () => c.register({ uuid, name: `soak-${holder}`, id: 1, pid }));
    const held: Array<{ lockspace: string; name: string; path: string }> = [];
    const ops = random.int(1, 4);
    for (let i = 0; i < ops; i++) {
      const target = random.chance(0.7)
        ? { lockspace: paths.churnLockspace, name: `churn-${n}-${i}.img`, path: join(paths.churnLockspace, `churn-${n}-${i}.img`), flags: AcquireFlags.AUTOCREATE }
        : { ...sharedTarget(ctx), flags: AcquireFlags.SHARED };
      if (held.some((h) => h.path === target.path)) continue;
      await counter.run(`ACQUIRE ${target.path}`, () => c.acquire(target.lockspace, target.name, target.flags));
      held.push(target);
      ledger.held(target.path, holder);
      if (random.chance(0.3)) await sleep(random.int(0, 200));
    }
    for (const h of held) {
      await ledger.releasing(h.path, holder);
      await counter.run(`RELEASE ${h.path}`, () => c.release(h.lockspace, h.name, 0));
    }
    leaving = true;
    if (c.unclaimedReplies > 0) tally.record('duplicates', who, `${c.unclaimedReplies} unclaimed replies`);
    await c.close();
  } catch (err) {
    if (err instanceof RequestFailed) tally.failed(who, err);
    else tally.record('errors', who, String(err));
  } finally {
    if (!leaving) await ledger.releasingAll(holder);
    await client?.destroy();
  }
}

function sharedTarget(ctx: SoakContext): { lockspace: string; name: string; path: string } {
  const path = ctx.random.pick(ctx.sharedFiles);
  return { lockspace: '', name: path, path };
}

/** Churn clients arriving at random (mean `perSecond`), at most `maxConcurrent` at once, while the run lasts. */
export async function runChurn(ctx: SoakContext, perSecond: number, maxConcurrent: number): Promise<void> {
  const active = new Set<Promise<void>>();
  while (ctx.running()) {
    await sleep(ctx.random.exponential(1000 / perSecond));
    if (!ctx.running()) break;
    if (active.size >= maxConcurrent) continue;
    const life = churnClient(ctx, 'churn').finally(() => active.delete(life));
    active.add(life);
  }
  await Promise.all(active);
}

/** A crowd arriving at once. */
export async function burst(ctx: SoakContext, clients: number): Promise<string> {
  await Promise.all(Array.from({ length: clients }, () => churnClient(ctx, 'burst')));
  return `${clients} clients`;
}
