// Failover: host A's owner holds a disk; A's supervisor, its workers and the owner are SIGKILLed together (a
// host dying); host B asks for the disk every ~20 ms. Nothing releases the hold: B is granted it when etcd
// expires A's lease, between 2/3 of a TTL and a TTL after A's last keepalive, plus etcd's expiry check.
import type { LockClient } from '../../src/client/lock-client';
import { VirErrorCode } from '../../src/shared/protocol/vir-error';
import { type ClusterHost, startClusterHost } from '../../test/fixtures/cluster-host';
import { childPids } from '../../test/fixtures/process-info';
import { sleep } from '../throughput';
import { CLUSTER_TTL_MS, EXCLUSIVE, acquireCode, clusterConfig, fakeOwner, median, readyHost, type ClusterBenchEnv } from './cluster-setup';

const RETRY_MS = 20;
/** A bound on a trial, not a measurement: far past any lease expiry. */
const GIVE_UP_MS = 4 * CLUSTER_TTL_MS + 10_000;

/** One trial on a fresh host A: ms from the kill to B's grant. */
async function trial(env: ClusterBenchEnv, b: ClusterHost, other: LockClient, n: number): Promise<number> {
  const a = await startClusterHost({ name: `failover-a${n}`, sharedPath: env.shared, config: clusterConfig(env, `bench-failover-a${n}`) });
  const disk = `failover-disk-${n}`;
  try {
    await readyHost(a, a.sharedPath);
    const owner = await a.startOwner({ acquire: [{ lockspace: a.sharedPath, name: disk, flags: EXCLUSIVE }] });
    try {
      const code = await acquireCode(other, b.sharedPath, disk);
      if (code !== VirErrorCode.RESOURCE_BUSY) throw new Error(`host B got code ${code} for a disk host A holds (expected RESOURCE_BUSY)`);
      // A random point in A's keepalive cycle, as a real crash would be.
      await sleep(Math.random() * (CLUSTER_TTL_MS / 3));
      // The daemon first, so no worker of A sees its owner die and releases the hold.
      const victims = [a.pid, ...childPids(a.pid), owner.pid];
      const killedAt = performance.now();
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      for (;;) {
        const askedAt = performance.now();
        const got = await acquireCode(other, b.sharedPath, disk);
        if (got === 0) break;
        if (got !== VirErrorCode.RESOURCE_BUSY) throw new Error(`host B's ACQUIRE failed with code ${got}`);
        if (askedAt - killedAt > GIVE_UP_MS) throw new Error(`host B was not granted the disk within ${GIVE_UP_MS} ms of the kill`);
        await sleep(Math.max(0, RETRY_MS - (performance.now() - askedAt)));
      }
      const grantedMs = performance.now() - killedAt;
      await other.release(b.sharedPath, disk, 0);
      return grantedMs;
    } finally {
      await owner.dispose();
    }
  } finally {
    await a.close();
  }
}

export async function failoverTable(env: ClusterBenchEnv, trials: number): Promise<string> {
  const b = await startClusterHost({ name: 'failover-b', sharedPath: env.shared, config: clusterConfig(env, 'bench-failover-b') });
  const times: number[] = [];
  try {
    await readyHost(b, b.sharedPath);
    const other = await fakeOwner(b.socket, 'bench-failover-b');
    try {
      for (let n = 0; n < trials; n++) times.push(await trial(env, b, other, n));
    } finally {
      await other.close();
    }
  } finally {
    await b.close();
  }
  const goal = CLUSTER_TTL_MS + 2000;
  return [
    '| system | lease TTL | kill of the holding host → other host granted, median (s) | trials (s) | worst (s) | within TTL + 2 s |',
    '| --- | ---: | ---: | --- | ---: | --- |',
    `| holdfast + etcd (3 members, loopback) | ${(CLUSTER_TTL_MS / 1000).toFixed(1)} s | ${(median(times) / 1000).toFixed(2)} | ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} | ${(Math.max(...times) / 1000).toFixed(2)} | ${times.every((t) => t <= goal) ? 'yes' : 'no'} |`,
    '| sanlock (defaults, documented) | io_timeout 10 s | ~140 (host_dead) | — | — | — |',
    '| NFS v4 locks (Linux nfsd default, documented) | lease 90 s | up to ~90 | — | — | — |',
    '',
    `holdfast: supervisor, workers and owner of host A SIGKILLed together at a random point of A's keepalive cycle; host B retries ACQUIRE every ${RETRY_MS} ms; ` +
      `${trials} trials, each with a new host A. sanlock and NFS are not measured here: their rows are the failover times their documentation gives ` +
      '(sanlock: a host is dead 8 × io_timeout + 60 s = 140 s after its last renewal, about 2 minutes; Linux nfsd: a dead client\'s locks go when its lease of 90 s lapses).',
  ].join('\n');
}
