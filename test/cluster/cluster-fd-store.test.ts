// A supervisor SIGKILLed under systemd's fd store, on a cluster host: the store hands the lock fds back to
// the restarted holdfastd, and the lease file beside the fd-store journal tells it which etcd lease their
// holds hang on. Restarted in time, it goes on renewing that same lease: the hold and the owner stay, and
// another host is still refused the disk. Restarted after the lease's safe deadline, it fences at once
// (SIGKILLs the owner it got back as a detached owner), then takes a new lease; so it does without a lease
// file, for then nothing renews the lease the holds hang on.
//
// A test-local receiver plays systemd's notify socket and fd store (test/fixtures/notify-receiver.ts); host A
// runs in this process's mount namespace on the lockspace directory itself, host B in its own namespace with
// a private directory on the same path (test/fixtures/cluster-host.ts), so only etcd makes them conflict.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { DaemonError } from '../../src/client/daemon-error';
import { LockClient } from '../../src/client/lock-client';
import * as native from '../../src/shared/platform/native';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import type { FdStoreJournal } from '../../src/supervisor/fd-store/journal';
import { type ClusterHost, startClusterHost } from '../fixtures/cluster-host';
import { sleep, waitFor, waitForLog, within } from '../fixtures/deadline';
import { type ExclusiveHold, exclusiveHoldIn } from '../fixtures/etcd-holds';
import { clusterConfig } from '../fixtures/cluster-config';
import { type EtcdCluster, startEtcdCluster } from '../fixtures/etcd-cluster';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { NotifyReceiver } from '../fixtures/notify-receiver';
import { type OwnerProcess, startOwnerProcess } from '../fixtures/owner-process';
import { childPids, running } from '../fixtures/process-info';

// Keepalives go out every TTL/3 and the safe window is about TTL - 1 s: with 6 s, a restart at once (a kill,
// the workers' exit and a new process, about a second here) lands well within the window whatever the phase.
const TTL_MS = 6000;
// AUTOCREATE, exclusive: what libvirt asks for in a file lockspace.
const EXCLUSIVE = 2;
// sh execs node in its own pid, so LISTEN_PID names the daemon, as systemd sets it.
const LAUNCHER = ['sh', '-c', 'LISTEN_PID=$$ exec "$0" "$@"'];

let etcd: EtcdCluster;
let store: Etcd3;
let b: ClusterHost;
let shared: string;
let prefix: string;

function config(host: string): string {
  return clusterConfig({ endpoints: etcd.endpoints, lockspaces: [shared], hostId: host, ttlMs: TTL_MS, keyPrefix: prefix });
}

/** The libvirt error code an ACQUIRE got, or 0 if it was granted. */
async function acquireCode(client: LockClient, name: string): Promise<number> {
  try {
    await client.acquire(shared, name, EXCLUSIVE);
    return 0;
  } catch (err) {
    if (err instanceof DaemonError) return err.code;
    throw err;
  }
}

async function owner(socket: string, pid: number): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  await client.register({ uuid: randomUUID(), name: `vm-${pid}`, id: 1, pid });
  return client;
}

/** The etcd record of the exclusive hold of `name`: its owner and the lease it hangs on; or null. */
function exclusiveHold(name: string): Promise<ExclusiveHold | null> {
  return exclusiveHoldIn(store, prefix, shared, name);
}

/** Seconds etcd gives the lease still (-1 once it expired or was revoked). */
async function leaseTtl(id: string): Promise<number> {
  return Number((await store.leaseClient.leaseTimeToLive({ ID: id })).TTL);
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

interface StoreHost {
  dir: string;
  socket: string;
  receiver: NotifyReceiver;
  journalFile: string;
  leaseFile: string;
  /** Starts holdfastd as systemd would: the listening socket, and (after a crash) every fd the store keeps. */
  start(handBack: boolean): Promise<HoldfastHandle>;
  /** SIGKILLs the supervisor and waits until it and its workers are gone. */
  kill(daemon: HoldfastHandle): Promise<void>;
}

/** Host A of a test: a holdfastd under a store-keeping receiver, with the socket kept by the test. */
async function withStoreHost(name: string, body: (host: StoreHost, owners: OwnerProcess[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-${name}-`));
  const receiver = new NotifyReceiver(undefined, { storeFds: true });
  const socket = join(dir, 'activated-sock');
  const listenFd = native.listenUnix(socket, 64);
  const daemons: HoldfastHandle[] = [];
  const owners: OwnerProcess[] = [];
  const host: StoreHost = {
    dir,
    socket,
    receiver,
    journalFile: join(dir, 'holdfastd-fd-store.json'),
    leaseFile: join(dir, 'holdfastd-fd-store.json.lease'),
    async start(handBack) {
      const stored = handBack ? receiver.stored : [];
      const daemon = await startHoldfast({
        dir,
        socket,
        config: config('host-a'),
        launcher: LAUNCHER,
        inheritFds: [listenFd, ...stored.map((s) => s.fd)],
        env: { NOTIFY_SOCKET: receiver.address, LISTEN_FDS: String(1 + stored.length), LISTEN_FDNAMES: ['holdfastd.socket', ...stored.map((s) => s.name)].join(':') },
      });
      daemons.push(daemon);
      return daemon;
    },
    async kill(daemon) {
      const workers = childPids(daemon.pid);
      assert.ok(workers.length >= 1, 'no worker under the supervisor');
      process.kill(daemon.pid, 'SIGKILL');
      await within(30_000, 'the killed supervisor to exit', daemon.exited);
      await waitFor(() => workers.every((pid) => !running(pid)), 20_000, 'the killed supervisor\'s workers to exit', 20);
    },
  };
  try {
    await body(host, owners);
  } finally {
    for (const o of owners) await o.dispose();
    for (const daemon of daemons) await daemon.stop();
    native.close(listenFd);
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts host A, and an owner there holding `disk`; resolves once the store, the journal and the lease file know it all. */
async function holdOnA(host: StoreHost, owners: OwnerProcess[], disk: string): Promise<{ daemon: HoldfastHandle; holder: OwnerProcess; lease: string }> {
  const daemon = await host.start(false);
  const setup = await LockClient.connect(host.socket);
  await setup.createLockspace(shared);
  setup.close();
  // The first ACQUIRE may come before the first lease: the cluster is then unavailable, and it is asked again.
  const probe = await owner(host.socket, 0x7e200000 + Math.floor(Math.random() * 0xffff));
  const probeName = `lease-probe-${randomUUID()}`;
  await waitFor(async () => (await acquireCode(probe, probeName)) === 0, 15_000, 'host A to hold a lease', 100);
  await probe.release(shared, probeName);
  probe.close();
  const holder = await startOwnerProcess({ socket: host.socket, acquire: [{ lockspace: shared, name: disk, flags: EXCLUSIVE }] });
  owners.push(holder);
  const hold = await exclusiveHold(disk);
  assert.ok(hold, 'no hold in etcd');
  assert.equal(hold.pid, holder.pid);
  // The supervisor applies the hold's commit a moment after the owner has its reply: wait until it has
  // (fd-store/cluster-journal.test.ts shows the journal names it from that moment on).
  await waitFor(() => readJson<FdStoreJournal>(host.journalFile)?.locks.some((l) => l.name === disk && l.cluster?.holds.some((h) => h.lease === hold.lease && h.pid === holder.pid)), 20_000, 'the journal to list the hold', 20);
  await waitFor(() => readJson<{ id: string }>(host.leaseFile)?.id === hold.lease, 20_000, 'the lease file to name the lease', 20);
  return { daemon, holder, lease: hold.lease };
}

before(async () => {
  etcd = await startEtcdCluster();
  store = new Etcd3({ hosts: etcd.endpoints });
  shared = realpathSync(mkdtempSync(join(tmpdir(), 'holdfast-cluster-fdstore-')));
  mkdirSync(shared, { recursive: true });
  prefix = `/holdfast-test-${randomUUID()}/`;
  b = await startClusterHost({ name: 'b', sharedPath: shared, config: config('host-b') });
  const client = await LockClient.connect(b.socket);
  await client.createLockspace(shared);
  client.close();
});

after(async () => {
  await b?.close();
  store?.close();
  await etcd?.close();
  rmSync(shared, { recursive: true, force: true });
});

test('supervisor SIGKILLed and restarted at once from the fd store: the same lease goes on being renewed, the hold and its owner stay, another host is refused', async () => {
  await withStoreHost('cluster-fdstore-resume', async (host, owners) => {
    const disk = 'disk-resume';
    const { daemon, holder, lease } = await holdOnA(host, owners, disk);
    const before = await exclusiveHold(disk);

    await host.kill(daemon);
    const restarted = await host.start(true);
    await waitForLog(restarted.logs, /lock re-adopted from the systemd fd store; held while its owner lives/, 1, 20_000);
    assert.match(restarted.logs(), new RegExp(`"lease":"${lease}"[^\\n]*resuming the host lease`));

    const other = await owner(b.socket, 0x7e200001);
    try {
      // Two TTLs: unrenewed, etcd would have expired the lease (and the hold with it) by then.
      for (let i = 0; i < 4; i++) {
        await sleep(TTL_MS / 2);
        assert.ok((await leaseTtl(lease)) > 0, `etcd no longer keeps lease ${lease} (${i * TTL_MS / 2 + TTL_MS / 2} ms after the restart):\n${restarted.logs()}`);
        assert.deepEqual(await exclusiveHold(disk), before, 'the hold changed after the restart');
        assert.ok(holder.alive(), 'the owner died after the restart');
        assert.equal(await acquireCode(other, disk), VirErrorCode.RESOURCE_BUSY, 'host B was granted the disk that host A holds');
      }
      // Renewed by this process, and its successor would resume the same lease.
      assert.equal(readJson<{ id: string }>(host.leaseFile)?.id, lease);
      assert.doesNotMatch(restarted.logs(), /fenced|host lease granted/);

      // The owner's exit is still seen: the lock and the hold go, and host B gets the disk.
      await holder.dispose();
      await waitFor(async () => (await exclusiveHold(disk)) === null, 10_000, 'the hold of the exited owner to go', 20);
      assert.equal(await acquireCode(other, disk), 0);
      await other.release(shared, disk);
    } finally {
      other.close();
    }
  });
});

test('supervisor SIGKILLed and restarted after the lease\'s safe deadline: the owner handed back is fenced at once, then a new lease is taken', async () => {
  await withStoreHost('cluster-fdstore-lapsed', async (host, owners) => {
    const disk = 'disk-lapsed';
    const { daemon, holder, lease } = await holdOnA(host, owners, disk);

    await host.kill(daemon);
    // Past the TTL: etcd has expired the lease and its hold (nothing fences meanwhile: no supervisor runs).
    await waitFor(async () => (await leaseTtl(lease)) <= 0, 4 * TTL_MS, `etcd to expire lease ${lease}`, 100);
    assert.ok(holder.alive());

    const restarted = await host.start(true);
    const exit = await within(10_000, 'the owner handed back to be fenced', holder.exited);
    assert.equal(exit.signal, 'SIGKILL');
    assert.match(restarted.logs(), /lock re-adopted from the systemd fd store; held while its owner lives/);
    // Fenced because the resumed lease was past its safe deadline (not merely for a hold on an unknown lease).
    assert.match(restarted.logs(), new RegExp(`"lease":"${lease}"[^\\n]*resuming the host lease`));
    assert.match(restarted.logs(), new RegExp(`"leaseId":"${lease}","why":"the host lease passed its safe deadline[^\\n]*"killed":\\[${holder.pid}\\][^\\n]*fenced: SIGKILLed 1 owner`));

    // A new lease, renewed, and named in the lease file; the fenced owner's lock and store entry go.
    await waitForLog(restarted.logs, /host lease granted/, 1, 15_000);
    await waitFor(() => {
      const id = readJson<{ id: string }>(host.leaseFile)?.id;
      return id !== undefined && id !== lease;
    }, 15_000, 'the lease file to name a new lease', 20);
    const fresh = readJson<{ id: string }>(host.leaseFile)!.id;
    assert.ok((await leaseTtl(fresh)) > 0);
    await waitFor(() => host.receiver.stored.length === 0, 20_000, 'the fenced owner\'s lock fd to leave the store', 20);

    // Host A serves cluster locks on its new lease; the disk is free for host B.
    const other = await owner(b.socket, 0x7e200002);
    try {
      assert.equal(await acquireCode(other, disk), 0);
      await other.release(shared, disk);
    } finally {
      other.close();
    }
  });
});

test('supervisor SIGKILLed and its lease file lost: the owner handed back, on a lease nobody renews, is fenced at once', async () => {
  await withStoreHost('cluster-fdstore-nolease', async (host, owners) => {
    const disk = 'disk-nolease';
    const { daemon, holder, lease } = await holdOnA(host, owners, disk);

    await host.kill(daemon);
    rmSync(host.leaseFile);
    const restarted = await host.start(true);
    // The hold's lease still lives in etcd, but nothing renews it now: it would expire under a running owner.
    const exit = await within(10_000, 'the owner handed back to be fenced', holder.exited);
    assert.equal(exit.signal, 'SIGKILL');
    assert.match(restarted.logs(), new RegExp(`"why":"cluster holds taken over at start-up are not on the lease[^\\n]*"killed":\\[${holder.pid}\\][^\\n]*fenced: SIGKILLed 1 owner`));
    assert.doesNotMatch(restarted.logs(), /resuming the host lease/);
    await waitForLog(restarted.logs, /host lease granted/, 1, 15_000);
    assert.notEqual(readJson<{ id: string }>(host.leaseFile)?.id, lease);
    await waitFor(() => host.receiver.stored.length === 0, 20_000, 'the fenced owner\'s lock fd to leave the store', 20);
  });
});
