// What the cluster part of the bench shares: one real 3-member etcd on loopback (test/fixtures/etcd-cluster.ts),
// a lockspace path every host names, the holdfastd.conf text of a cluster host, clients registered as owners
// whose pids no process has (a fence can never kill the bench), and CPU samples of daemon and etcd processes.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { DaemonError } from '../../src/client/daemon-error';
import type { ClusterHost } from '../../test/fixtures/cluster-host';
import { waitFor } from '../../test/fixtures/deadline';
import type { EtcdCluster } from '../../test/fixtures/etcd-cluster';
import { childPids } from '../../test/fixtures/process-info';
import { sampleProcess, usageBetween, type ProcessSample } from '../cpu-sample';

/** AUTOCREATE, exclusive: how libvirt acquires a disk in a file lockspace. */
export const EXCLUSIVE = 2;
/**
 * The lease TTL of every host in this part. etcd counts whole seconds; 5 s is enough for a loopback etcd with
 * its short raft timings, and the failover table compares against it.
 */
export const CLUSTER_TTL_MS = Number(process.env.BENCH_CLUSTER_TTL_MS ?? 5000);

// Owner pids above any pid_max (2^22 at most): the daemon can never signal a process of ours through them.
let nextFakePid = 0x7e000000;

export interface ClusterBenchEnv {
  etcd: EtcdCluster;
  /** The lockspace directory every host names (each sees its own private directory there). */
  shared: string;
  /** etcd key prefix of this run. */
  prefix: string;
}

export function newClusterEnv(etcd: EtcdCluster): ClusterBenchEnv {
  return { etcd, shared: mkdtempSync(join(tmpdir(), 'holdfast-bench-cluster-lockspace-')), prefix: `/holdfast-bench-${randomUUID()}/` };
}

/** holdfastd.conf of one host of `env` (the shared lockspace is cluster-wide; nothing else is). */
export function clusterConfig(env: ClusterBenchEnv, hostId: string, sharedPath: string = env.shared): string {
  return [
    `cluster_etcd_endpoints = [ ${env.etcd.endpoints.map((e) => JSON.stringify(e)).join(', ')} ]`,
    `cluster_lockspaces = [ ${JSON.stringify(sharedPath)} ]`,
    `cluster_host_id = "${hostId}"`,
    `cluster_lease_ttl_ms = ${CLUSTER_TTL_MS}`,
    `cluster_key_prefix = "${env.prefix}"`,
    '',
  ].join('\n');
}

/** A connection to `socket` registered as an owner of its own (a pid no process has). */
export async function fakeOwner(socket: string, name: string): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  const pid = nextFakePid++;
  await client.register({ uuid: randomUUID(), name: `${name}-${pid}`, id: 1, pid });
  return client;
}

/** The libvirt error code an ACQUIRE got, or 0 if it was granted. */
export async function acquireCode(client: LockClient, lockspace: string, name: string): Promise<number> {
  try {
    await client.acquire(lockspace, name, EXCLUSIVE);
    return 0;
  } catch (err) {
    if (err instanceof DaemonError) return err.code;
    throw err;
  }
}

/** Creates `lockspace` on the host and waits until it holds a lease (before that, cluster ACQUIREs are refused). */
export async function readyHost(host: ClusterHost, lockspace: string): Promise<void> {
  const probe = await fakeOwner(host.socket, 'lease-probe');
  try {
    await probe.createLockspace(lockspace);
    const name = `lease-probe-${randomUUID()}`;
    await waitFor(async () => (await acquireCode(probe, lockspace, name)) === 0, 30_000, `host ${host.name} to hold a lease`, 100);
    await probe.release(lockspace, name);
  } finally {
    await probe.close();
  }
}

/** The processes whose CPU a table counts, by role. */
export interface CountedPids {
  supervisor: number;
  workers: number[];
  etcd: number[];
}

export function countedPids(host: ClusterHost, etcd: EtcdCluster): CountedPids {
  return { supervisor: host.pid, workers: childPids(host.pid), etcd: etcd.members.map((m) => m.pid).filter((p): p is number => p !== null) };
}

export interface CpuSnapshot {
  pids: CountedPids;
  samples: Map<number, ProcessSample>;
}

export function snapshotCpu(pids: CountedPids): CpuSnapshot {
  const samples = new Map<number, ProcessSample>();
  for (const pid of [pids.supervisor, ...pids.workers, ...pids.etcd]) samples.set(pid, sampleProcess(pid));
  return { pids, samples };
}

/** CPU ns by role between two snapshots of the same pids (a worker that exited in between counts what it had). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { supervisorNs: number; workersNs: number; etcdNs: number } {
  const ns = (pid: number): number => {
    const a = before.samples.get(pid);
    const b = after.samples.get(pid);
    return a && b ? usageBetween(a, b).cpuNs : 0;
  };
  const sum = (pids: number[]): number => pids.reduce((total, pid) => total + ns(pid), 0);
  return { supervisorNs: ns(before.pids.supervisor), workersNs: sum(before.pids.workers), etcdNs: sum(before.pids.etcd) };
}

/** Lease renewals etcd's leader counted (etcd_debugging_lease_renewed_total, summed over members). */
export async function leaseRenewals(etcd: EtcdCluster): Promise<number> {
  let total = 0;
  for (const url of etcd.endpoints) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^etcd_debugging_lease_renewed_total\s+(\S+)/m.exec(text);
    if (m) total += Number(m[1]);
  }
  return total;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
