// The real `holdfast` CLI binary against a real holdfastd: every command's table and --json output, `who`'s
// exit codes, locks held by several owner processes in different modes, answers that stay the same through
// a worker swap and a SIGUSR1-path upgrade (asked for by the CLI itself), OpenMetrics text, a refused
// non-root user, and no admin command ever dropping a lock.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import type { ActionResult } from '../../src/client/admin-client';
import type { ClientInfo, LockInfo, LockspaceInfo, SetLogLevelReply, StatusReply, WhoReply } from '../../src/shared/protocol/operations-program';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { probeLock } from '../fixtures/lock-prober';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js');
const SHARED = 1;
const AUTOCREATE = 2;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI binary (optionally as another user) and collects its exit code and output. */
function holdfast(args: string[], asUser?: string, cwd?: string): Promise<Run> {
  const [command, argv] = asUser
    ? ['setpriv', [`--reuid=${asUser}`, '--regid=nogroup', '--clear-groups', '--', process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    execFile(command, argv, { ...(cwd ? { cwd } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('holdfast CLI', () => {
  let dir: string;
  let daemon: HoldfastHandle;
  const owners: OwnerProcess[] = [];
  let disk1: string;
  let disk2: string;
  let free: string;
  let lockspace: string;

  const cli = (...args: string[]): Promise<Run> => holdfast(['--run-dir', dir, ...args]);
  async function json<T>(...args: string[]): Promise<T> {
    const run = await cli('--json', ...args);
    assert.equal(run.code, 0, `holdfast ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
    assert.equal(run.stderr, '');
    return JSON.parse(run.stdout) as T;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'holdfast-cli-'));
    daemon = await startHoldfast({ dir });
    disk1 = join(dir, 'disk1.img');
    disk2 = join(dir, 'disk2.img');
    free = join(dir, 'free.img');
    lockspace = join(dir, 'leases');
    for (const f of [disk1, disk2, free]) writeFileSync(f, '');
    mkdirSync(lockspace);
    const setup = await LockClient.connect(daemon.socket);
    await setup.createLockspace(lockspace);
    await setup.close();
    // One exclusive owner, two sharing one disk, one with an autocreated lease in a directory lockspace.
    owners.push(await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk1 }] }));
    owners.push(await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk2, flags: SHARED }] }));
    owners.push(await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk2, flags: SHARED }], restrict: true }));
    owners.push(await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace, name: 'lease-a', flags: AUTOCREATE }] }));
  });

  after(async () => {
    for (const owner of owners) await owner.dispose();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('status: table and JSON', async () => {
    const table = await cli('status');
    assert.equal(table.code, 0, table.stderr);
    for (const label of ['supervisor:', 'worker:', 'uptime:', 'clients:', 'locks held:', 'upgrades:', 'worker swaps:', 'worker restarts:']) {
      assert.match(table.stdout, new RegExp(`^${label}`, 'm'));
    }
    const status = await json<StatusReply>('status');
    assert.equal(status.supervisor?.pid, daemon.pid);
    assert.equal(status.locksHeld, 3);
    assert.equal(status.lockspaces, 1);
    assert.ok(status.clients.lock >= owners.length);
    assert.ok(status.clients.admin >= 1, 'the asking CLI is an admin client');
    assert.equal(status.supervisor?.version, status.worker.version);
    assert.notEqual(status.worker.pid, daemon.pid);
  });

  test('locks: every owner with name, UUID, pid and connection; filters by path and owner', async () => {
    const locks = await json<LockInfo[]>('locks');
    assert.equal(locks.length, 3);
    const [a, b, c, d] = owners as [OwnerProcess, OwnerProcess, OwnerProcess, OwnerProcess];
    const one = locks.find((l) => l.path === disk1)!;
    assert.equal(one.mode, 'exclusive');
    assert.equal(one.lockspace, '');
    assert.deepEqual(one.owners.map((o) => [o.pid, o.name]), [[a.pid, `owner-${a.pid}`]]);
    assert.match(one.owners[0]!.uuid!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(one.owners[0]!.clients.length, 1);
    const two = locks.find((l) => l.path === disk2)!;
    assert.equal(two.mode, 'shared');
    assert.deepEqual(two.owners.map((o) => o.pid).sort(), [b.pid, c.pid].sort());
    const lease = locks.find((l) => l.lockspace === lockspace)!;
    assert.equal(lease.resource, 'lease-a');
    assert.equal(lease.path, join(lockspace, 'lease-a'));
    assert.equal(lease.autocreate, true);
    assert.deepEqual(lease.owners.map((o) => o.pid), [d.pid]);

    assert.deepEqual((await json<LockInfo[]>('locks', '--path', disk2)).map((l) => l.path), [disk2]);
    assert.deepEqual((await json<LockInfo[]>('locks', '--owner', String(c.pid))).map((l) => l.path), [disk2]);
    assert.deepEqual((await json<LockInfo[]>('locks', '--owner', `owner-${a.pid}`)).map((l) => l.path), [disk1]);
    assert.deepEqual((await json<LockInfo[]>('locks', '--owner', one.owners[0]!.uuid!)).map((l) => l.path), [disk1]);
    assert.deepEqual(await json<LockInfo[]>('locks', '--path', free), []);

    const table = await cli('locks');
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PATH\s+MODE\s+OWNER\s+UUID\s+PID\s+CLIENT\s+ACQUIRED\s+LOCKSPACE$/);
    // disk2 has two owners: two rows.
    assert.equal(lines.length, 1 + 4);
    assert.match(table.stdout, new RegExp(`${disk1}\\s+exclusive\\s+owner-${a.pid}`));
    assert.match(table.stdout, /shared/);
  });

  test('clients, lockspaces: table and JSON', async () => {
    const clients = await json<ClientInfo[]>('clients');
    for (const owner of owners) {
      const mine = clients.filter((c) => c.server === 'virtlockd' && c.pid === owner.pid);
      assert.equal(mine.length, 1, `one lock connection of ${owner.pid}`);
      assert.equal(mine[0]!.owner?.name, `owner-${owner.pid}`);
      assert.equal(mine[0]!.locks, 1);
    }
    assert.equal(clients.find((c) => c.pid === owners[2]!.pid)!.restricted, true);
    assert.ok(clients.some((c) => c.server === 'admin'));
    const table = await cli('clients');
    assert.match(table.stdout.split('\n')[0]!, /^SERVER\s+ID\s+PID\s+UID\s+OWNER\s+UUID\s+OWNER-PID\s+LOCKS\s+RESTRICTED\s+CONNECTED$/);
    assert.match(table.stdout, new RegExp(`owner-${owners[0]!.pid}`));

    const lockspaces = await json<LockspaceInfo[]>('lockspaces');
    assert.deepEqual(lockspaces, [
      { path: '', resources: 2 },
      { path: lockspace, resources: 1 },
    ]);
    const ls = await cli('lockspaces');
    assert.match(ls.stdout, /^\(default\)\s+2$/m);
    assert.match(ls.stdout, new RegExp(`^${lockspace}\\s+1$`, 'm'));
  });

  test('who: 0 when free, 1 when held (naming the holder), 2 on errors', async () => {
    const held = await cli('who', disk1);
    assert.equal(held.code, 1, held.stderr);
    assert.match(held.stdout, new RegExp(`held exclusive`));
    assert.match(held.stdout, new RegExp(`owner-${owners[0]!.pid} uuid \\S+ pid ${owners[0]!.pid} \\(client \\d+\\)`));
    const freeRun = await cli('who', free);
    assert.equal(freeRun.code, 0, freeRun.stderr);
    assert.equal(freeRun.stdout, `${free} is free\n`);
    const heldJson = await cli('--json', 'who', disk2);
    assert.equal(heldJson.code, 1, heldJson.stderr);
    const who = JSON.parse(heldJson.stdout) as WhoReply;
    assert.equal(who.held, true);
    assert.equal(who.holders[0]!.owners.length, 2);
    // Relative paths are made absolute against the caller's cwd.
    const lease = await holdfast(['--run-dir', dir, 'who', join('leases', 'lease-a')], undefined, dir);
    assert.equal(lease.code, 1, lease.stderr);

    const noDaemon = await holdfast(['--admin-socket', join(dir, 'no-such-sock'), 'who', disk1]);
    assert.equal(noDaemon.code, 2, noDaemon.stderr);
    assert.equal(noDaemon.stdout, '');
    assert.match(noDaemon.stderr, /^holdfast: no admin socket at .*no-such-sock: is holdfastd running\?.*\n$/);
    const usage = await cli('who');
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /missing required argument/);
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 2, unknown.stderr);
  });

  test('metrics: OpenMetrics text ending in # EOF, counters named _total', async () => {
    const run = await cli('metrics');
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.endsWith('# EOF\n'), 'ends with # EOF');
    const types = new Map<string, string>();
    for (const line of run.stdout.split('\n')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
    }
    assert.ok(types.size > 0);
    const samples = run.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    for (const sample of samples) {
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(sample);
      assert.ok(m, `malformed sample: ${sample}`);
      assert.ok(Number.isFinite(Number(m[3])), `value of ${sample}`);
      const family = [...types.keys()].find((f) => m[1] === f || m[1]!.startsWith(`${f}_`));
      assert.ok(family, `sample without a family: ${sample}`);
      if (types.get(family) === 'counter') assert.equal(m[1], `${family}_total`, `counter sample ${sample}`);
    }
    for (const family of ['holdfast_requests', 'holdfast_worker_swaps', 'holdfast_reexecs', 'holdfast_worker_restarts', 'holdfast_owner_kills']) {
      assert.equal(types.get(family), 'counter', family);
    }
    assert.equal(types.get('holdfast_request_latency_seconds'), 'histogram');
    assert.match(run.stdout, /^holdfast_locks_held 3$/m);
    assert.match(run.stdout, /^holdfast_requests_total\{server="virtlockd",procedure="AcquireResource",outcome="ok"\} [1-9]\d*$/m);
  });

  test('log-level: changes the level and says what it was', async () => {
    const set = await json<SetLogLevelReply>('log-level', '2');
    assert.equal(set.level, 2);
    const back = await json<SetLogLevelReply>('log-level', String(set.previous));
    assert.deepEqual(back, { previous: 2, level: set.previous });
    const bad = await cli('log-level', 'loud');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^holdfast: holdfastd refused: .*unknown log level 'loud'/);
  });

  test('log-level and the swap counters outlive the worker and the image that took them: a swap and an upgrade keep them', async () => {
    const before = await json<StatusReply>('status');
    const wanted = before.logLevel === 1 ? 3 : 1;
    await json<SetLogLevelReply>('log-level', String(wanted));
    // Two swaps, so a count that restarted from zero at the upgrade could not pass for a carried one.
    for (let i = 0; i < 2; i++) {
      const swap = await cli('--json', 'swap-worker');
      assert.equal(swap.code, 0, swap.stderr);
    }
    const after = await json<StatusReply>('status');
    assert.notEqual(after.worker.pid, before.worker.pid);
    assert.equal(after.logLevel, wanted);
    assert.equal(after.supervisor!.workerSwaps, before.supervisor!.workerSwaps + 2);
    const upgrade = await cli('--json', 'upgrade');
    assert.equal(upgrade.code, 0, upgrade.stderr);
    const upgraded = await json<StatusReply>('status');
    assert.equal(upgraded.supervisor!.upgrades, before.supervisor!.upgrades + 1);
    assert.equal(upgraded.logLevel, wanted, 'the level an admin set survives the re-exec');
    assert.ok(upgraded.supervisor!.workerSwaps >= after.supervisor!.workerSwaps, 'swap count carried through the re-exec');
    await json<SetLogLevelReply>('log-level', String(before.logLevel));
  });

  test('who, locks and clients answer the same through a worker swap and an upgrade, both asked for by the CLI', async () => {
    // What legitimately changes: admin connections (each CLI run is one) and nothing else of these answers.
    const snapshot = async (): Promise<unknown> => ({
      locks: await json<LockInfo[]>('locks'),
      clients: (await json<ClientInfo[]>('clients')).filter((c) => c.server === 'virtlockd'),
      who: await Promise.all([disk1, disk2, free, join(lockspace, 'lease-a')].map(async (p) => {
        const run = await cli('--json', 'who', p);
        return { code: run.code, who: JSON.parse(run.stdout) as WhoReply };
      })),
      lockspaces: await json<LockspaceInfo[]>('lockspaces'),
    });
    const initial = await snapshot();
    const before = await json<StatusReply>('status');

    const swap = await cli('--json', 'swap-worker');
    assert.equal(swap.code, 0, swap.stderr);
    const swapped = JSON.parse(swap.stdout) as ActionResult;
    assert.equal(swapped.ok, true);
    assert.equal(swapped.reconnected, false, 'the admin connection survives the swap');
    assert.notEqual(swapped.status!.worker.pid, before.worker.pid);
    assert.ok(swapped.status!.worker.generation > before.worker.generation);
    assert.deepEqual(await snapshot(), initial);

    const table = await cli('swap-worker');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^worker of holdfastd \\(pid ${daemon.pid}\\) swapped: pid \\d+ -> pid \\d+ \\(generation \\d+\\)\n$`));

    const upgrade = await cli('--json', 'upgrade');
    assert.equal(upgrade.code, 0, upgrade.stderr);
    const upgraded = JSON.parse(upgrade.stdout) as ActionResult;
    assert.equal(upgraded.ok, true, `upgrade: ${upgraded.reason}`);
    assert.equal(upgraded.reconnected, false, 'the admin connection survives its own upgrade');
    assert.equal(upgraded.status!.supervisor!.pid, daemon.pid, 'same pid after the re-exec');
    assert.equal(upgraded.status!.supervisor!.upgrades, before.supervisor!.upgrades + 1);
    assert.equal(upgraded.outcome?.ok, true);
    assert.deepEqual(await snapshot(), initial);

    const again = await cli('upgrade');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^upgraded: holdfastd \(pid \d+\) now runs holdfast \S+; upgrades done: \d+\n$/);
    assert.deepEqual(await snapshot(), initial);
    // Requests counted before the swaps are still counted (carried through orderly handoffs).
    const metrics = await cli('metrics');
    assert.match(metrics.stdout, /^holdfast_requests_total\{server="virtlockd",procedure="AcquireResource",outcome="ok"\} [1-9]\d*$/m);
    assert.match(metrics.stdout, /^holdfast_reexecs_total [1-9]\d*$/m);
  });

  test('a non-root user is refused with one clear line and exit 2', { skip: process.getuid?.() !== 0 ? 'needs root to switch users' : false }, async () => {
    const socket = join(dir, 'holdfastd-admin-sock');
    const denied = await holdfast(['--admin-socket', socket, 'status'], 'nobody');
    assert.equal(denied.code, 2, denied.stderr);
    assert.equal(denied.stdout, '');
    assert.match(denied.stderr, /^holdfast: permission denied on .*: only the daemon's own user may use its admin socket \(you are uid \d+\)\n$/);
    // Let nobody reach the socket: the daemon itself refuses the peer (SO_PEERCRED).
    chmodSync(dir, 0o755);
    chmodSync(socket, 0o777);
    try {
      const refused = await holdfast(['--admin-socket', socket, 'who', disk1], 'nobody');
      assert.equal(refused.code, 2, refused.stderr);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, /^holdfast: holdfastd closed the connection on .*: it serves only its own user on the admin socket \(you are uid \d+\), or it stopped\n$/);
    } finally {
      chmodSync(socket, 0o600);
      chmodSync(dir, 0o700);
    }
  });

  test('no admin command dropped a lock', async () => {
    assert.equal((await probeLock(disk1)).ofd.canWrite, false, 'disk1 still locked');
    assert.equal((await probeLock(disk2)).ofd.canWrite, false, 'disk2 still locked');
    assert.equal((await probeLock(join(lockspace, 'lease-a'))).ofd.canWrite, false, 'lease still locked');
    for (const owner of owners) assert.equal(owner.alive(), true, `owner ${owner.pid} alive`);
    const status = await json<StatusReply>('status');
    assert.equal(status.locksHeld, 3);
  });
});

test('a refused upgrade: exit 1 with the reason, and the daemon serves on with its locks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-cli-refused-'));
  // A path under a regular file: the state document can never be written there.
  writeFileSync(join(dir, 'not-a-directory'), '');
  const daemon = await startHoldfast({ dir, extraArgs: ['--state-file', join(dir, 'not-a-directory', 'state.json')] });
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  const owner = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk }] });
  try {
    const refused = await holdfast(['--run-dir', dir, 'upgrade']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^holdfast: upgrade failed: .*cannot write the state document.*\n$/);
    const asJson = await holdfast(['--run-dir', dir, '--json', 'upgrade']);
    assert.equal(asJson.code, 1, asJson.stderr);
    const result = JSON.parse(asJson.stdout) as ActionResult;
    assert.equal(result.accepted, true);
    assert.equal(result.ok, false);
    assert.equal(result.status?.supervisor?.upgradeRefusals, 2);
    const who = await holdfast(['--run-dir', dir, 'who', disk]);
    assert.equal(who.code, 1, who.stderr);
    assert.equal((await probeLock(disk)).ofd.canWrite, false, 'the lock was dropped');
  } finally {
    await owner.dispose();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
