// Hostile input, each on a connection of its own: garbage frames, impossible length words, a frame started and
// abandoned, calls to other programs, and names no well-behaved client sends (a byte that is not UTF-8, NUL,
// overlong, "..", a symlink planted in a directory lockspace). Each is expected to be refused or have its
// connection closed; none may disturb anyone else. An OK reply that locked some other file than the one named
// is a loss (the named file is free while its client believes it held).
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AcquireFlags, LOCK_PROGRAM } from '../../src/shared/protocol/lock-program';
import { LockClient, type RawReply } from '../../src/client/lock-client';
import { MessageStatus } from '../../src/shared/protocol/message';
import { ofdGetLock } from '../../src/shared/platform/native';
import type { SoakContext } from './context';
import { sleep } from './deadline';

/** How a hostile input ended. 'accepted' is not a loss by itself, but a finding the report lists. */
export type HostileOutcome = 'refused' | 'closed' | 'ignored' | 'accepted' | 'wrong-file';

type HostileCase = (ctx: SoakContext, client: LockClient, n: number) => Promise<HostileOutcome>;

const WAIT_MS = 3000;

const CASES: Record<string, HostileCase> = {
  'garbage frame': async (ctx, client) => {
    const body = Buffer.alloc(ctx.random.int(24, 200));
    for (let i = 0; i < body.length; i++) body[i] = ctx.random.int(0, 255);
    const frame = Buffer.concat([lengthWord(body.length + 4), body]);
    return rawOutcome(client, frame);
  },
  'oversized length': (_ctx, client) => rawOutcome(client, Buffer.concat([lengthWord(0x7fffffff), Buffer.alloc(64)])),
  'undersized length': (_ctx, client) => rawOutcome(client, Buffer.concat([lengthWord(3), Buffer.alloc(8)])),
  'abandoned frame': async (ctx, client) => {
    // Declares 1 MiB, sends a quarter, goes silent for a while, then leaves.
    await client.sendRaw(Buffer.concat([lengthWord(1 << 20), Buffer.alloc(1 << 18)]));
    return Promise.race([client.closed.then(() => 'closed' as const), sleep(ctx.random.int(1000, 5000)).then(() => 'ignored' as const)]);
  },
  'other program': async (_ctx, client) => replyOutcome(await orClosed(client.call(1, Buffer.alloc(0), { prog: LOCK_PROGRAM ^ 0x5a5a }))),
  'acquire unregistered': async (ctx, client) => {
    const path = ctx.random.pick(ctx.sharedFiles);
    return lockOutcome(() => client.acquire('', path, AcquireFlags.SHARED));
  },
  'name with byte 0xff': async (ctx, client, n) => {
    await register(ctx, client);
    const lockspace = ctx.paths.churnLockspace;
    const name = Buffer.concat([Buffer.from(`hostile-${n}-`), Buffer.from([0xff]), Buffer.from('.img')]);
    try {
      const outcome = await lockOutcome(() => client.acquire(lockspace, name, AcquireFlags.AUTOCREATE));
      if (outcome !== 'accepted') return outcome;
      // Accepted: the file with exactly these bytes must be the one locked.
      const exact = Buffer.concat([Buffer.from(`${lockspace}/`), name]);
      const ok = lockedAt(exact);
      await lockOutcome(() => client.release(lockspace, name, 0));
      if (!ok) {
        ctx.tally.record('wrongFile', `hostile ${n}`, `ACQUIRE of ${exact.toString('latin1')} (byte 0xff) answered OK but that file is not locked`);
        return 'wrong-file';
      }
      return 'accepted';
    } finally {
      removeMatching(lockspace, `hostile-${n}-`);
    }
  },
  'name with NUL': async (ctx, client, n) => {
    await register(ctx, client);
    return lockOutcome(() => client.acquire(ctx.paths.churnLockspace, `hostile-${n}-a\0b.img`, AcquireFlags.AUTOCREATE));
  },
  'name over NAME_MAX': async (ctx, client, n) => {
    await register(ctx, client);
    return lockOutcome(() => client.acquire(ctx.paths.churnLockspace, `hostile-${n}-${'x'.repeat(300)}`, AcquireFlags.AUTOCREATE));
  },
  'name over the string limit': async (ctx, client) => {
    await register(ctx, client);
    return lockOutcome(() => client.acquire('', `/${'y'.repeat(70_000)}`, 0));
  },
  'name with ..': async (ctx, client, n) => {
    await register(ctx, client);
    return lockOutcome(() => client.acquire(ctx.paths.churnLockspace, `../hostile-${n}-escape.img`, AcquireFlags.AUTOCREATE));
  },
  'symlink in lockspace': async (ctx, client, n) => {
    await register(ctx, client);
    const lockspace = ctx.paths.churnLockspace;
    const target = join(ctx.paths.outside, `target-${n}.img`);
    const name = `hostile-${n}-link.img`;
    writeFileSync(target, '');
    symlinkSync(target, join(lockspace, name));
    try {
      const outcome = await lockOutcome(() => client.acquire(lockspace, name, AcquireFlags.AUTOCREATE));
      if (outcome === 'accepted') await lockOutcome(() => client.release(lockspace, name, 0));
      return outcome;
    } finally {
      rmSync(join(lockspace, name), { force: true });
      rmSync(target, { force: true });
    }
  },
};

export const HOSTILE_CASES = Object.keys(CASES);

let serial = 0;

/** One hostile case (picked at random) on a fresh connection; its outcome goes to the tally. */
export async function hostileClient(ctx: SoakContext, which?: string): Promise<string> {
  const name = which ?? ctx.random.pick(HOSTILE_CASES);
  const n = serial++;
  let client: LockClient;
  try {
    client = await LockClient.connect(ctx.daemon.socket);
  } catch (err) {
    ctx.tally.hostileOutcome(name, `connect failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return name;
  }
  try {
    ctx.tally.hostileOutcome(name, await CASES[name]!(ctx, client, n));
  } catch (err) {
    ctx.tally.hostileOutcome(name, `threw: ${(err as Error).message.slice(0, 80)}`);
  } finally {
    await client.destroy();
  }
  return name;
}

/** Every hostile case once. */
export async function hostileRound(ctx: SoakContext): Promise<string> {
  for (const name of HOSTILE_CASES) await hostileClient(ctx, name);
  return `${HOSTILE_CASES.length} cases`;
}

/** Hostile clients at random (mean `perMinute`) while the run lasts. */
export async function runHostile(ctx: SoakContext, perMinute: number): Promise<void> {
  mkdirSync(ctx.paths.outside, { recursive: true });
  while (ctx.running()) {
    await sleep(ctx.random.exponential(60_000 / perMinute));
    if (ctx.running()) await hostileClient(ctx);
  }
}

function lengthWord(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

async function register(ctx: SoakContext, client: LockClient): Promise<void> {
  const pid = ctx.nextFakePid();
  const uuid = Buffer.alloc(16);
  uuid.writeUInt32BE(0xbad, 0);
  uuid.writeUInt32BE(pid, 12);
  await client.register({ uuid, name: `soak-hostile-${pid}`, id: 1, pid });
}

// Whatever the bytes provoke: a reply, the connection closed, or (after a while) nothing.
async function rawOutcome(client: LockClient, bytes: Buffer): Promise<HostileOutcome> {
  await client.sendRaw(bytes).catch(() => undefined);
  return replyOutcome(await orClosed(client.waitReply()));
}

async function orClosed(reply: Promise<RawReply>): Promise<RawReply | 'closed' | 'ignored'> {
  return Promise.race([reply.catch(() => 'closed' as const), sleep(WAIT_MS).then(() => 'ignored' as const)]);
}

function replyOutcome(reply: RawReply | 'closed' | 'ignored'): HostileOutcome {
  if (reply === 'closed' || reply === 'ignored') return reply;
  return reply.header.status === MessageStatus.OK ? 'accepted' : 'refused';
}

async function lockOutcome(call: () => Promise<void>): Promise<HostileOutcome> {
  const result = await Promise.race([
    call().then(
      () => 'accepted' as const,
      (err: Error) => (err.name === 'LockError' ? ('refused' as const) : ('closed' as const)),
    ),
    sleep(WAIT_MS * 10).then(() => 'ignored' as const),
  ]);
  return result;
}

function lockedAt(path: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false;
  }
  try {
    return ofdGetLock(fd, 'write', 0, 1) !== null;
  } finally {
    closeSync(fd);
  }
}

// Removes whatever files a name case left behind, whatever bytes the daemon made of the name.
function removeMatching(dir: string, prefix: string): void {
  const p = Buffer.from(prefix);
  for (const entry of readdirSync(dir, { encoding: 'buffer' })) {
    if (entry.subarray(0, p.length).equals(p)) rmSync(Buffer.concat([Buffer.from(`${dir}/`), entry]), { force: true });
  }
}
