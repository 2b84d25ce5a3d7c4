// What `holdfast cluster` and the cluster metrics read from the worker: the cluster holds of this host (from
// the lock model), the host lease as the supervisor last told it (its time left counted now, from the
// deadline the worker was told), and each etcd endpoint asked on its own.
import type { SupervisorStatus } from '../../shared/custody/supervisor-status';
import type { ClusterHoldInfo, ClusterLeaseStatus, ClusterReply } from '../../shared/protocol/operations-program';
import type { ClusterHolds } from '../cluster/cluster-holds';
import { endpointHealth } from '../cluster/endpoint-health';
import type { LockService } from '../lock/lock-service';
import type { LockResource } from '../lock/resource';

/** A lockspace as these reports read it (the registry's lockspaces). */
export interface LockspaceView {
  readonly directory: string | null;
  readonly resources: ReadonlyMap<string, LockResource>;
}

/** Holds on this host by kind. */
export interface ClusterHoldCounts {
  exclusive: number;
  shared: number;
  pending: number;
}

/** Every owner's cluster hold (held or pending), in (lockspace, resource, pid) order. */
export function clusterHoldList(lockspaces: Iterable<LockspaceView>): ClusterHoldInfo[] {
  const list: ClusterHoldInfo[] = [];
  for (const lockspace of lockspaces) {
    const directory = lockspace.directory ?? '';
    for (const resource of lockspace.resources.values()) {
      const part = resource.cluster;
      if (part === null) continue;
      const mode = resource.shared ? 'shared' : 'exclusive';
      const base = { lockspace: directory, resource: resource.name, path: resource.path, mode } as const;
      for (const hold of part.holds) list.push({ ...base, pid: hold.pid, state: 'held', token: hold.token, lease: hold.lease });
      for (const pid of part.pending) list.push({ ...base, pid, state: 'pending', token: null, lease: null });
    }
  }
  const key = (h: ClusterHoldInfo): string => `${h.lockspace}\u0000${h.resource}`;
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.pid - b.pid));
}

/** Counts without building the list (metrics asks at every scrape). */
export function clusterHoldCounts(lockspaces: Iterable<LockspaceView>): ClusterHoldCounts {
  const counts = { exclusive: 0, shared: 0, pending: 0 };
  for (const lockspace of lockspaces) {
    for (const resource of lockspace.resources.values()) {
      const part = resource.cluster;
      if (part === null) continue;
      if (resource.shared) counts.shared += part.holds.length;
      else counts.exclusive += part.holds.length;
      counts.pending += part.pending.length;
    }
  }
  return counts;
}

/**
 * The host lease: the supervisor's account of it, with the time left counted now from the deadline the worker
 * holds (both on CLOCK_MONOTONIC). Before the supervisor's status reaches a new worker, only what the worker knows.
 */
export function leaseNow(cluster: ClusterHolds, supervisor: SupervisorStatus | null): ClusterLeaseStatus {
  const { id, deadlineNs } = cluster.lease;
  const msLeft = id === null || deadlineNs === null ? null : Math.max(0, Math.round(Number(deadlineNs - process.hrtime.bigint()) / 1e6));
  const told = supervisor?.cluster?.lease;
  if (told) return { ...told, msLeft: told.id === id ? msLeft : told.msLeft };
  return {
    state: id === null ? 'granting' : msLeft === 0 ? 'lapsed' : 'held',
    id,
    ttlMs: cluster.settings.leaseTtlMs,
    msLeft,
    lastRenewedAt: null,
    keepalivesSent: 0,
    keepalivesAcked: 0,
    deadlinesPassed: 0,
  };
}

/** The CLUSTER answer; endpoints are asked in parallel, each for at most about a second. */
export async function clusterReport(lock: LockService, supervisor: SupervisorStatus | null): Promise<ClusterReply> {
  const cluster = lock.cluster;
  if (cluster === null) return { configured: false };
  const endpoints = await endpointHealth(cluster.settings);
  // Read after the wait: the holds and the lease as they are when the answer leaves.
  const holds = clusterHoldList(lock.registry.all());
  const sup = supervisor?.cluster;
  return {
    configured: true,
    hostId: cluster.settings.hostId,
    keyPrefix: cluster.settings.keyPrefix,
    lockspaces: [...cluster.settings.lockspaces],
    pathPrefixes: [...cluster.settings.pathPrefixes],
    endpoints,
    lease: leaseNow(cluster, supervisor),
    holdCounts: clusterHoldCounts(lock.registry.all()),
    holds,
    requests: { ...cluster.counts },
    fences: sup ? { total: sup.fences, ownersKilled: sup.ownersKilled, killFailures: sup.killFailures, last: sup.lastFences } : null,
  };
}
