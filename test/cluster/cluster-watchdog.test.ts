// cluster_watchdog_device against a real 3-member etcd. No watchdog device exists in the test machine (and
// a real one would reset it), so a FIFO stands in for it: the daemon opens and writes it as it would the
// device, and the test reads every byte as it comes, which shows what is written and when. The host reaches
// etcd through severable proxies (test/fixtures/severable-proxy.ts), as in cluster-locks.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { constants, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ClusterHost, startClusterHost } from '../fixtures/cluster-host';
import { occurrences, sleep, waitFor, waitForLog } from '../fixtures/deadline';
import { clusterConfig } from '../fixtures/cluster-config';
import { type EtcdCluster, startEtcdCluster } from '../fixtures/etcd-cluster';
import { type SeverableProxy, startSeverableProxy } from '../fixtures/severable-proxy';

const TTL_MS = 3000;
/** The longest a renewed lease goes without a pet. */
const PET_INTERVAL_MS = TTL_MS / 3;
const O_CLOEXEC = 0o2000000;

let etcd: EtcdCluster;
let proxies: SeverableProxy[];
let host: ClusterHost;
let dir: string;
let device: string;
/** Every byte the daemon wrote to the stand-in device, in order. */
let written = '';
/** The daemon's last write end closed. */
let closed = false;
let reader: net.Socket;

/** The fds of `pid` open on `path`. */
function fdsOn(pid: number, path: string): number[] {
  return readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
}

function fdFlags(pid: number, fd: number): number {
  const line = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('flags:'))!;
  return parseInt(line.split(/\s+/)[1]!, 8);
}

const pets = (): number => occurrences(written, /\./);

before(async () => {
  etcd = await startEtcdCluster();
  proxies = await Promise.all(etcd.endpoints.map((url) => startSeverableProxy(url)));
  dir = mkdtempSync(join(tmpdir(), 'holdfast-watchdog-'));
  device = join(dir, 'watchdog');
  assert.equal(spawnSync('mkfifo', [device]).status, 0, 'mkfifo');
  // The read end first (non-blocking, so it opens alone): the daemon's write-only open then does not block.
  const readFd = openSync(device, constants.O_RDONLY | constants.O_NONBLOCK);
  const shared = join(dir, 'lockspace');
  host = await startClusterHost({
    name: 'wd',
    sharedPath: shared,
    config: clusterConfig({
      endpoints: proxies.map((p) => p.url),
      lockspaces: [shared],
      hostId: 'host-wd',
      ttlMs: TTL_MS,
      keyPrefix: `/holdfast-test-${randomUUID()}/`,
      // TTL 3000: a timeout from 1500 to 1870 (watchdogTimeoutRange).
      extra: [`cluster_watchdog_device = ${JSON.stringify(device)}`, 'cluster_watchdog_timeout_ms = 1700'],
    }),
  });
  // Read only now that the daemon holds the write end (a FIFO without a writer reads as its end).
  reader = new net.Socket({ fd: readFd, readable: true, writable: false });
  reader.on('data', (chunk: Buffer) => (written += chunk.toString('latin1')));
  reader.on('end', () => (closed = true));
});

after(async () => {
  await host?.close();
  reader?.destroy();
  await Promise.all((proxies ?? []).map((p) => p.close()));
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the device is petted while the lease is renewed, never after its safe deadline passed, and again once a lease is granted', async () => {
  await waitFor(() => pets() >= 3, 15_000, () => `three pets of a leased host (written: ${JSON.stringify(written)})`);
  assert.match(written, /^\.+$/, 'only pets, no magic close');
  for (const proxy of proxies) proxy.sever();
  try {
    await waitForLog(host.logs, /host lease past its safe deadline/, 1, 2 * TTL_MS);
    // A pet written before the deadline is in the FIFO before the log line: let the reader catch up.
    await sleep(200);
    const atDeadline = pets();
    // Three pet intervals with no lease: the timer between renewals would have written by now.
    await sleep(3 * PET_INTERVAL_MS);
    assert.equal(pets(), atDeadline, 'the device was petted without a lease');
  } finally {
    for (const proxy of proxies) proxy.heal();
  }
  const lapsed = pets();
  await waitForLog(host.logs, /cluster host lease granted/, 2, 15_000);
  await waitFor(() => pets() > lapsed, 2 * PET_INTERVAL_MS, 'a pet after the new lease was granted');
  assert.match(written, /^\.+$/, 'only pets, no magic close');
  assert.equal(closed, false, 'the device was closed');
});

test('SIGUSR1: the new image pets the same open device, never disarmed nor closed across the exec', async () => {
  const [fd, ...others] = fdsOn(host.pid, device);
  assert.ok(fd !== undefined && others.length === 0, `one fd on the device, not ${[fd, ...others].join(', ')}`);
  process.kill(host.pid, 'SIGUSR1');
  await waitForLog(host.logs, /upgraded: restored every lock and client/, 1, 15_000);
  await waitForLog(host.logs, /cluster watchdog device kept across the upgrade/, 1, 1000);
  assert.deepEqual(fdsOn(host.pid, device), [fd], 'the same fd, and no second open');
  assert.notEqual(fdFlags(host.pid, fd) & O_CLOEXEC, 0, 'adopted: close-on-exec again');
  const upgraded = pets();
  await waitFor(() => pets() > upgraded, 2 * PET_INTERVAL_MS + 1000, 'a pet from the new image');
  assert.match(written, /^\.+$/, 'a magic close came with the upgrade');
  // Had the old image's fd closed at the exec, the FIFO would have had no writer for a moment: its end.
  assert.equal(closed, false, 'the device was closed across the exec');
});

test('a clean stop disarms the device: the magic character, then the close', async () => {
  await host.stop();
  await waitFor(() => closed, 5000, 'the device to be closed');
  assert.match(written, /^\.+V$/, 'pets, then V as the last byte');
  assert.match(host.logs(), /cluster watchdog device disarmed/);
});
