// ACQUIRE + RELEASE of cluster resources (each a transaction in etcd before its reply) beside the same daemon's
// local resources, in alternating windows of the same run. Both are directory lockspaces acquired with
// AUTOCREATE; only the cluster one is in cluster_lockspaces. Each client is its own connection and owner,
// looping on its own resource; latency is per request (acquire or release), as in the rest of the bench.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LockClient } from '../../src/client/lock-client';
import type { ClusterHost } from '../../test/fixtures/cluster-host';
import { percentile, sleep } from '../throughput';
import { CLUSTER_TTL_MS, EXCLUSIVE, countedPids, cpuBetween, fakeOwner, median, readyHost, snapshotCpu, type ClusterBenchEnv } from './cluster-setup';

export interface CyclesOptions {
  rounds: number;
  windowMs: number;
  warmupMs: number;
  clientCounts: number[];
}

type Kind = 'cluster' | 'local';

interface CycleWindow {
  kind: Kind;
  clients: number;
  cyclesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  supervisorUs: number;
  workersUs: number;
  etcdUs: number;
  errors: number;
}

/** One counted window of `clients` connections looping ACQUIRE + RELEASE in `lockspace`. */
async function measureWindow(host: ClusterHost, env: ClusterBenchEnv, kind: Kind, lockspace: string, clients: number, opts: CyclesOptions): Promise<CycleWindow> {
  const connections: LockClient[] = await Promise.all(Array.from({ length: clients }, () => fakeOwner(host.socket, `bench-${kind}`)));
  const latencies: number[] = [];
  let cycles = 0;
  let errors = 0;
  let measuring = false;
  let running = true;
  const step = async (request: () => Promise<void>): Promise<void> => {
    const t0 = process.hrtime.bigint();
    try {
      await request();
    } catch {
      if (measuring) errors++;
    }
    if (measuring) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  const loops = connections.map(async (client, i) => {
    const name = `cycle-${clients}-${i}`;
    while (running) {
      await step(() => client.acquire(lockspace, name, EXCLUSIVE));
      await step(() => client.release(lockspace, name, 0));
      if (measuring) cycles++;
    }
  });
  await sleep(opts.warmupMs);
  const pids = countedPids(host, env.etcd);
  const before = snapshotCpu(pids);
  const t0 = process.hrtime.bigint();
  measuring = true;
  await sleep(opts.windowMs);
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = snapshotCpu(pids);
  running = false;
  await Promise.all(loops);
  await Promise.all(connections.map((c) => c.close()));
  const cpu = cpuBetween(before, after);
  latencies.sort((a, b) => a - b);
  const perCycleUs = (ns: number): number => (cycles > 0 ? ns / 1000 / cycles : NaN);
  return {
    kind,
    clients,
    cyclesPerSec: cycles / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    supervisorUs: perCycleUs(cpu.supervisorNs),
    workersUs: perCycleUs(cpu.workersNs),
    etcdUs: perCycleUs(cpu.etcdNs),
    errors,
  };
}

function fixed(value: number, digits: number): string {
  return Number.isNaN(value) ? '—' : value.toFixed(digits);
}

/** Runs the rounds on `host` (already in `env`) and returns the table. */
export async function clusterCyclesTable(host: ClusterHost, env: ClusterBenchEnv, opts: CyclesOptions): Promise<string> {
  const localLockspace = join(host.runDir, 'local-lockspace');
  mkdirSync(localLockspace, { recursive: true });
  await readyHost(host, host.sharedPath);
  await readyHost(host, localLockspace);
  const windows: CycleWindow[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Alternate which kind goes first, as the main rounds alternate daemons.
    const order: Kind[] = round % 2 === 0 ? ['cluster', 'local'] : ['local', 'cluster'];
    for (const clients of opts.clientCounts) {
      for (const kind of order) {
        windows.push(await measureWindow(host, env, kind, kind === 'cluster' ? host.sharedPath : localLockspace, clients, opts));
      }
    }
  }
  const rows = [
    `ACQUIRE + RELEASE on one host, cluster resources (an etcd transaction each, 3 members on loopback) beside local ones, Node client (medians over ${opts.rounds} rounds of ${opts.windowMs / 1000}-s windows; lease TTL ${CLUSTER_TTL_MS} ms):`,
    '',
    '| resources | clients | cycles/s | p50 (ms) | p99 (ms) | daemon CPU µs/cycle | supervisor | workers | etcd CPU µs/cycle (3 members) | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const kind of ['cluster', 'local'] as const) {
    for (const clients of opts.clientCounts) {
      const set = windows.filter((w) => w.kind === kind && w.clients === clients);
      const m = (pick: (w: CycleWindow) => number): number => median(set.map(pick));
      rows.push(
        `| ${kind} | ${clients} | ${Math.round(m((w) => w.cyclesPerSec)).toLocaleString('en-US')} | ${fixed(m((w) => w.p50Ms), 3)} | ${fixed(m((w) => w.p99Ms), 3)} | ` +
          `${fixed(m((w) => w.supervisorUs + w.workersUs), 1)} | ${fixed(m((w) => w.supervisorUs), 1)} | ${fixed(m((w) => w.workersUs), 1)} | ${fixed(m((w) => w.etcdUs), 1)} | ${set.reduce((n, w) => n + w.errors, 0)} |`,
      );
    }
  }
  return rows.join('\n');
}
