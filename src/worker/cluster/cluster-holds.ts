// The worker's cluster holds: which resources are cluster-wide, the host lease the supervisor keeps (and its
// safe deadline), the etcd keys this worker counts as its own, and the step an ACQUIRE of a cluster resource
// takes after its local lock: a hold in etcd, granted only while the lease is safely alive.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterSettings } from '../../shared/cluster/cluster-settings';
import { describeEtcdFailure } from '../../shared/cluster/etcd-failure';
import type { ClusterHold, ResourceCluster } from '../../shared/custody/records/cluster-hold-record';
import { VirError, VirErrorCode, VirErrorDomain } from '../../shared/protocol/vir-error';
import type { LockResource } from '../lock/resource';
import { ClusterScope } from './cluster-scope';
import { ClusterUnavailable, EtcdHolds, HeldElsewhere } from './etcd-holds';
import { holdKeys } from './hold-keys';
import { testClusterGate } from '../test-faults';

/** The host lease as the supervisor last described it. */
export interface LeaseView {
  /** etcd's lease id (decimal), or null while there is none this host may use. */
  id: string | null;
  /** Monotonic ns (process.hrtime.bigint) after which the lease may no longer be relied on. */
  deadlineNs: bigint | null;
}

/** Who asks for a hold, as etcd records it. */
export interface HoldOwner {
  pid: number;
  name: string;
  uuid: string;
}

// A release whose delete failed is retried this often until it lands (or the lease expires and takes it).
const RETRY_DROP_MS = 1000;

export class ClusterHolds {
  readonly scope: ClusterScope;
  readonly #etcd: EtcdHolds;
  #lease: LeaseView = { id: null, deadlineNs: null };
  /** etcd keys of the holds this worker has. */
  readonly #live = new Set<string>();
  /** etcd keys being asked for: not stale to the sweep (the answer may be on its way). */
  readonly #asking = new Set<string>();
  /** Holds whose delete failed: retried until etcd takes it. */
  readonly #undropped = new Map<string, ClusterHold>();
  #retryTimer: NodeJS.Timeout | null = null;
  // Stale holds of this host on a lease (a predecessor killed between etcd's commit and custody's) would
  // block every other host for as long as the lease lives: looked for once per worker and lease.
  #swept: string | null = null;
  /** Counters for metrics. */
  readonly counts = { granted: 0, busy: 0, unavailable: 0, lateGrants: 0, released: 0, releaseRetries: 0 };

  constructor(
    readonly settings: ClusterSettings,
    private readonly client: Etcd3,
    private readonly log: Logger,
  ) {
    this.scope = new ClusterScope(settings);
    this.#etcd = new EtcdHolds(client, settings.hostId, log);
  }

  get lease(): LeaseView {
    return this.#lease;
  }

  setLease(lease: LeaseView): void {
    const newId = lease.id !== null && lease.id !== this.#swept;
    this.#lease = lease;
    if (newId) this.#sweep(lease.id!);
  }

  #sweep(lease: string): void {
    this.#swept = lease;
    this.#etcd.sweep(lease, (key) => this.#live.has(key) || this.#asking.has(key)).then(
      (n) => {
        if (n > 0) this.log.warn({ leaseId: lease, deleted: n }, 'deleted stale cluster holds of this host that no owner holds');
      },
      (err: unknown) => {
        // Tried again at the next lease; meanwhile an ACQUIRE meeting a stale hold deletes it itself.
        this.log.warn({ leaseId: lease, err: (err as Error).message }, 'cannot look for stale cluster holds now');
        if (this.#swept === lease) this.#swept = null;
      },
    );
  }

  /** Whether `lockspace`'s resource at `path` is cluster-wide. */
  covers(lockspace: string, path: string): boolean {
    return this.scope.covers(lockspace, path);
  }

  /** A resource handed over by custody: its holds are this worker's own from now on. */
  adopt(cluster: ResourceCluster): void {
    for (const hold of cluster.holds) this.#live.add(hold.key);
  }

  /**
   * Asks etcd for `owner`'s hold of `resource` (its local lock is already taken). Resolves with the hold;
   * rejects with the VirError the client gets: RESOURCE_BUSY when another host holds it, OPERATION_FAILED
   * naming the cluster when etcd cannot grant it now. Nothing is held in etcd after a rejection.
   */
  async hold(lockspace: string, resource: LockResource, owner: HoldOwner): Promise<ClusterHold> {
    const lease = this.#usableLease(resource.name);
    const keys = holdKeys(this.settings.keyPrefix, this.settings.hostId, lockspace, resource.name);
    const value = { host: this.settings.hostId, lockspace, name: resource.name, path: resource.path, shared: resource.shared, owner, at: Date.now() };
    const key = resource.shared ? `${keys.ownSharedPrefix}${owner.pid}` : keys.exclusive;
    this.#asking.add(key);
    let hold: ClusterHold;
    try {
      // The key asked for may be in etcd already, left by a predecessor that never got to answer: that
      // one is stale (this worker holds the local lock it stands for), unless this worker has it.
      hold = await this.#etcd.take({ keys, shared: resource.shared, value }, lease, (k) => this.#live.has(k) || (k !== key && this.#asking.has(k)));
      this.#live.add(key);
    } catch (err) {
      throw this.#refusal(err, resource.name);
    } finally {
      this.#asking.delete(key);
    }
    await testClusterGate();
    // Committed, but the lease's safe deadline may have passed meanwhile: the supervisor is fencing (or
    // about to), so this grant must not stand.
    const deadline = this.#lease.deadlineNs;
    if (this.#lease.id !== lease || deadline === null || process.hrtime.bigint() >= deadline) {
      this.counts.lateGrants++;
      this.release(hold);
      throw this.#unavailable(resource.name, 'the host lease lapsed while the hold was being recorded');
    }
    this.counts.granted++;
    return hold;
  }

  /** Deletes a hold (its owner released, died or never got it); retried in the background until it lands. */
  release(hold: ClusterHold): Promise<void> {
    this.#live.delete(hold.key);
    this.counts.released++;
    return this.#drop(hold);
  }

  #drop(hold: ClusterHold): Promise<void> {
    return this.#etcd.drop(hold).catch((err: unknown) => {
      this.log.warn({ key: hold.key, err: (err as Error).message }, 'cluster hold not deleted yet (etcd unreachable); retrying');
      this.#undropped.set(hold.key, hold);
      this.#retryTimer ??= setTimeout(() => this.#retryDrops(), RETRY_DROP_MS);
    });
  }

  /** Stops background retries (the worker is stopping; its successor deletes what is left as stale). */
  close(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    void this.client.close();
  }

  #retryDrops(): void {
    this.#retryTimer = null;
    const holds = [...this.#undropped.values()];
    this.#undropped.clear();
    for (const hold of holds) {
      // Taken again meanwhile (same key, a new hold): that one is live, this delete would be refused anyway.
      if (this.#live.has(hold.key)) continue;
      this.counts.releaseRetries++;
      void this.#drop(hold);
    }
  }

  /** The refusal an ACQUIRE of `name` gets now for want of a usable lease, or null if the lease is usable. */
  refusalWithoutLease(name: string): VirError | null {
    try {
      this.#usableLease(name);
      return null;
    } catch (err) {
      return err as VirError;
    }
  }

  #usableLease(name: string): string {
    const { id, deadlineNs } = this.#lease;
    if (id === null) throw this.#unavailable(name, 'this host holds no lease in the cluster (etcd not reached yet, or the lease lapsed)');
    if (deadlineNs === null || process.hrtime.bigint() >= deadlineNs) throw this.#unavailable(name, 'the host lease is past its safe deadline');
    return id;
  }

  #refusal(err: unknown, name: string): VirError {
    if (err instanceof HeldElsewhere) {
      this.counts.busy++;
      this.log.info({ resource: name, holder: err.holder?.host, holderPid: err.holder?.owner.pid }, 'cluster resource held by another host');
      // virtlockd's own words for a held resource: libvirt treats the two alike.
      return VirError.resourceBusy(`Lockspace resource '${name}' is locked`);
    }
    const reason = describeEtcdFailure(err instanceof ClusterUnavailable ? err.reason : err, this.settings);
    return this.#unavailable(name, reason);
  }

  #unavailable(name: string, reason: string): VirError {
    this.counts.unavailable++;
    return VirError.report(
      VirErrorCode.OPERATION_FAILED,
      VirErrorDomain.LOCKSPACE,
      `cluster lock store unavailable (etcd ${this.settings.endpoints.join(', ')}): ${reason}; resource '${name}' not acquired`,
    );
  }
}
