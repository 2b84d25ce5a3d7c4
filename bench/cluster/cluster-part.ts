// BENCH_PARTS=cluster: cluster lockspaces against a real 3-member etcd on loopback. Three tables: cluster
// cycles beside local ones, the keepalive cost of 10 vs 10,000 holds, and failover after a host dies. Needs
// /usr/bin/etcd and root (each host is a holdfastd in its own mount namespace); skipped with a note otherwise.
import { existsSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startClusterHost } from '../../test/fixtures/cluster-host';
import { startEtcdCluster } from '../../test/fixtures/etcd-cluster';
import { clusterCyclesTable } from './cluster-cycles';
import { CLUSTER_TTL_MS, clusterConfig, newClusterEnv } from './cluster-setup';
import { failoverTable } from './failover';
import { keepaliveCostTable } from './keepalive-cost';

const ETCD = '/usr/bin/etcd';

const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 3);
const WINDOW_MS = Number(process.env.BENCH_CLUSTER_WINDOW_MS ?? 2000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 300);
const CLIENTS = (process.env.BENCH_CLUSTER_CLIENTS ?? '1,4').split(',').map(Number);
const HOLDS = (process.env.BENCH_CLUSTER_HOLDS ?? '10,10000').split(',').map(Number);
const FAILOVER_TRIALS = Number(process.env.BENCH_CLUSTER_FAILOVER_TRIALS ?? 5);

/** Why the part cannot run here, or null. */
function missing(): string | null {
  if (!existsSync(ETCD)) return `${ETCD} not installed (apt-get install etcd-server)`;
  if (process.getuid?.() !== 0) return 'needs root (each host runs in its own mount namespace)';
  return null;
}

export async function clusterPart(): Promise<string> {
  const why = missing();
  if (why !== null) return `(cluster part skipped: ${why})`;
  const started = performance.now();
  const loadAtStart = loadavg()[0]!;
  const etcd = await startEtcdCluster();
  const env = newClusterEnv(etcd);
  const sections: string[] = [];
  try {
    const host = await startClusterHost({ name: 'bench', sharedPath: env.shared, config: clusterConfig(env, 'bench-host') });
    try {
      sections.push(await clusterCyclesTable(host, env, { rounds: ROUNDS, windowMs: WINDOW_MS, warmupMs: WARMUP_MS, clientCounts: CLIENTS }));
      sections.push(await keepaliveCostTable(host, env, { holdCounts: HOLDS, windowMs: 3 * CLUSTER_TTL_MS, connections: 100 }));
    } finally {
      await host.close();
    }
    sections.push(await failoverTable(env, FAILOVER_TRIALS));
  } finally {
    await etcd.close();
    rmSync(env.shared, { recursive: true, force: true });
  }
  sections.push(`(cluster part: ${((performance.now() - started) / 1000).toFixed(0)} s; 1-minute load average ${loadAtStart.toFixed(1)} at its start, ${loadavg()[0]!.toFixed(1)} at its end)`);
  return sections.join('\n\n');
}
