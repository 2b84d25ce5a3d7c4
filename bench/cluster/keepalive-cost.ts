// What keeping cluster holds alive costs: a host's holds all hang on its one etcd lease, so the supervisor's
// keepalives (one every TTL/3) and its CPU while idle should not change between 10 holds and 10,000. Each
// count is held over a fixed window (3 TTLs by default) with no requests; the keepalives are counted where
// they land (etcd's leader counts lease renewals) and the leases in etcd are listed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { LockClient } from '../../src/client/lock-client';
import type { ClusterHost } from '../../test/fixtures/cluster-host';
import { startHoldfast } from '../../test/fixtures/holdfast-daemon';
import { childPids } from '../../test/fixtures/process-info';
import { sleep } from '../throughput';
import { CLUSTER_TTL_MS, EXCLUSIVE, countedPids, cpuBetween, fakeOwner, leaseRenewals, readyHost, snapshotCpu, type ClusterBenchEnv } from './cluster-setup';

export interface KeepaliveOptions {
  /** Held locks of each row. */
  holdCounts: number[];
  windowMs: number;
  /** Connections (owners) the holds are spread over, each acquiring its share back to back. */
  connections: number;
}

interface HeldWindow {
  holds: number;
  acquireMs: number;
  releaseMs: number;
  supervisorUsPerSec: number;
  workersUsPerSec: number;
  etcdUsPerSec: number;
  keepalives: number;
  leases: number;
  holdKeys: number;
}

/** Acquires `holds` cluster resources over `connections` owners, all owners at once; resolves with the time taken. */
async function acquireAll(clients: LockClient[], lockspace: string, holds: number, tag: string): Promise<number> {
  const t0 = performance.now();
  // One request in flight per connection (as libvirt's client): each owner's share queued behind the other.
  await Promise.all(clients.map(async (client, c) => {
    for (let i = c; i < holds; i += clients.length) await client.acquire(lockspace, `${tag}-${i}`, EXCLUSIVE);
  }));
  return performance.now() - t0;
}

async function releaseAll(clients: LockClient[], lockspace: string, holds: number, tag: string): Promise<number> {
  const t0 = performance.now();
  await Promise.all(clients.map(async (client, c) => {
    for (let i = c; i < holds; i += clients.length) await client.release(lockspace, `${tag}-${i}`, 0);
  }));
  return performance.now() - t0;
}

async function heldWindow(host: ClusterHost, env: ClusterBenchEnv, store: Etcd3, holds: number, opts: KeepaliveOptions): Promise<HeldWindow> {
  const clients = await Promise.all(Array.from({ length: Math.min(opts.connections, holds) }, () => fakeOwner(host.socket, 'bench-hold')));
  const tag = `held-${holds}`;
  try {
    const acquireMs = await acquireAll(clients, host.sharedPath, holds, tag);
    // Let the commits and the etcd writes of the burst settle before the quiet window.
    await sleep(1000);
    const pids = countedPids(host, env.etcd);
    const renewalsBefore = await leaseRenewals(env.etcd);
    const before = snapshotCpu(pids);
    const t0 = process.hrtime.bigint();
    await sleep(opts.windowMs);
    const after = snapshotCpu(pids);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const keepalives = (await leaseRenewals(env.etcd)) - renewalsBefore;
    const cpu = cpuBetween(before, after);
    const leases = (await store.leaseClient.leaseLeases({})).leases.length;
    const holdKeys = await store.getAll().prefix(env.prefix).count();
    const releaseMs = await releaseAll(clients, host.sharedPath, holds, tag);
    return {
      holds,
      acquireMs,
      releaseMs,
      supervisorUsPerSec: cpu.supervisorNs / 1000 / seconds,
      workersUsPerSec: cpu.workersNs / 1000 / seconds,
      etcdUsPerSec: cpu.etcdNs / 1000 / seconds,
      keepalives,
      leases,
      holdKeys,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** The same idle window on a holdfastd without cluster_* keys: what the supervisor spends anyway. */
async function plainWindow(windowMs: number): Promise<{ supervisorUsPerSec: number; workersUsPerSec: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-plain-'));
  const daemon = await startHoldfast({ dir });
  try {
    await sleep(1000);
    const pids = { supervisor: daemon.pid, workers: childPids(daemon.pid), etcd: [] };
    const before = snapshotCpu(pids);
    const t0 = process.hrtime.bigint();
    await sleep(windowMs);
    const after = snapshotCpu(pids);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuBetween(before, after);
    return { supervisorUsPerSec: cpu.supervisorNs / 1000 / seconds, workersUsPerSec: cpu.workersNs / 1000 / seconds };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each hold count in turn on `host`, the only host of `env` while this runs; returns the table. */
export async function keepaliveCostTable(host: ClusterHost, env: ClusterBenchEnv, opts: KeepaliveOptions): Promise<string> {
  await readyHost(host, host.sharedPath);
  const store = new Etcd3({ hosts: env.etcd.endpoints });
  const rows: HeldWindow[] = [];
  const plain = await plainWindow(opts.windowMs);
  try {
    for (const holds of opts.holdCounts) rows.push(await heldWindow(host, env, store, holds, opts));
  } finally {
    store.close();
  }
  const lines = [
    `Cluster holds kept alive on one host, idle for ${(opts.windowMs / 1000).toFixed(0)} s (3 × the ${CLUSTER_TTL_MS}-ms TTL; a keepalive every TTL/3); holds acquired over ${opts.connections} owner connections at once:`,
    '',
    '| held cluster locks | time to acquire them (s) | acquires/s | supervisor CPU µs/s | workers CPU µs/s | keepalives in the window | leases in etcd | hold keys in etcd | etcd CPU µs/s (3 members) | time to release them (s) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| no cluster configured | — | — | ${plain.supervisorUsPerSec.toFixed(0)} | ${plain.workersUsPerSec.toFixed(0)} | 0 | — | — | — | — |`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.holds.toLocaleString('en-US')} | ${(r.acquireMs / 1000).toFixed(2)} | ${Math.round(r.holds / (r.acquireMs / 1000)).toLocaleString('en-US')} | ${r.supervisorUsPerSec.toFixed(0)} | ${r.workersUsPerSec.toFixed(0)} | ` +
        `${r.keepalives} | ${r.leases} | ${r.holdKeys.toLocaleString('en-US')} | ${r.etcdUsPerSec.toFixed(0)} | ${(r.releaseMs / 1000).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}
