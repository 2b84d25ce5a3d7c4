// The supervisor's side of the cluster: the host lease (host-lease.ts), told to every worker as it changes,
// and fencing. When the lease's safe deadline passes without a renewal, every owner holding (or being
// granted) a cluster lock on this host is SIGKILLed at once, before etcd can expire the lease and let another
// host take its disks; and any cluster hold custody is handed later on a lease that is not the valid one has
// its owners killed as it arrives. The supervisor does this, not the worker: it holds custody's records and
// outlives a wedged or crashed worker. A configured watchdog device (watchdog.ts) is petted only while the
// lease is renewed, so that a supervisor that cannot fence (wedged, stopped) gets the host reset instead.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterSettings } from '../../shared/cluster/cluster-settings';
import { connectEtcd } from '../../shared/cluster/connect-etcd';
import { describeEtcdFailure } from '../../shared/cluster/etcd-failure';
import type { ClusterLease } from '../../shared/custody/messages';
import { FENCE_PIDS_LISTED, FENCES_REPORTED, type FenceReport, type SupervisorClusterStatus } from '../../shared/custody/supervisor-status';
import { type ResourceCluster, clusterOwnerPids } from '../../shared/custody/records/cluster-hold-record';
import type { ResourceRecord } from '../../shared/custody/records/resource-record';
import * as native from '../../shared/platform/native';
import type { Custody } from '../custody';
import { HostLease } from './host-lease';
import type { CarriedWatchdog, Watchdog, WatchdogStatus } from './watchdog';

import type { CarriedLease } from '../upgrade/state-document';

/** One fence, for `holdfast cluster` and the logs. */
export interface FenceEvent {
  /** Wall-clock ms. */
  at: number;
  leaseId: string | null;
  why: string;
  killed: number[];
  failed: number[];
}

const FENCE_EVENTS_KEPT = FENCES_REPORTED;
// A fence's reason names a resource: bounded, as it travels in the status.
const WHY_MAX = 1024;

/** Pets between renewals come at most this often: the lease's own keepalive interval. */
function petIntervalMs(settings: ClusterSettings): number {
  return settings.leaseTtlMs / 3;
}

export class ClusterKeeper {
  readonly #client: Etcd3;
  readonly lease: HostLease;
  readonly counters = { fences: 0, ownersKilled: 0, killFailures: 0 };
  readonly fences: FenceEvent[] = [];
  /** Whether a clean stop revokes the lease (its holds go with it): not while systemd's fd store keeps the locks. */
  revokeOnStop = true;
  /** Told each change of the lease, for the workers. */
  onLease: (lease: ClusterLease) => void = () => undefined;
  /** Told each change of what status() reports (a grant, renewal, lapse or fence), for `holdfast cluster`. */
  onStatusChange: () => void = () => undefined;
  /** Told each change of what a successor would resume (systemd's fd store keeps it beside its journal). */
  onCarryChange: (lease: CarriedLease | null) => void = () => undefined;

  constructor(
    readonly settings: ClusterSettings,
    private readonly custody: Custody,
    private readonly log: Logger,
    resume: CarriedLease | null,
    /** The open watchdog device (cluster_watchdog_device), or null without one; this keeper disarms it on stop. */
    readonly watchdog: Watchdog | null = null,
  ) {
    this.#client = connectEtcd(settings);
    this.lease = new HostLease({
      client: this.#client,
      ttlMs: settings.leaseTtlMs,
      log,
      resume: resume ? { id: resume.id, lastAckSentNs: BigInt(resume.lastAckSentNs) } : null,
      describeFailure: (err) => describeEtcdFailure(err, settings),
    });
    this.lease.on('granted', (id: string) => {
      log.info({ leaseId: id, ttlMs: settings.leaseTtlMs }, 'cluster host lease granted');
      this.#publish();
    });
    this.lease.on('renewed', () => this.#publish());
    this.lease.on('deadline-passed', (id: string) => this.#fence(id, 'the host lease passed its safe deadline without a renewal'));
    // A fence follows at once ('deadline-passed'), and tells of the status after its signals.
    this.lease.on('lost', (id: string) => log.error({ leaseId: id }, 'etcd no longer knows the host lease'));
    // Custody tells us of every cluster resource it is handed: a hold on a stale lease is fenced at once.
    custody.onClusterResource = (record) => this.#check(record);
  }

  /**
   * Starts keeping the lease, then fences every cluster hold custody already has (from a state document, or
   * handed back by systemd's fd store) that is not on the lease now valid: nobody renews its lease, so etcd
   * will let another host take the disk while the owner still runs. A resumed lease already past its safe
   * deadline has fenced them all within lease.start(). `handedBack`: custody's locks came back from systemd's
   * fd store (their connections died with the old supervisor); an owner still pending then may have had its
   * grant answered, its hold's commit lost with the old process: nobody can say, so it is fenced too.
   */
  start(handedBack = false): void {
    this.lease.start();
    if (this.lease.status().state !== 'lapsed') this.#fenceStale(handedBack);
    // After start(): a resumed lease is held at once, and gets its first pet here.
    this.watchdog?.follow(this.lease, petIntervalMs(this.settings), this.settings.watchdogTimeoutMs ?? 0);
  }

  /** The lease as workers must know it. */
  current(): ClusterLease {
    const id = this.lease.id;
    const deadline = this.lease.deadlineNs;
    return { id, deadlineNs: id === null || deadline === null ? null : deadline.toString() };
  }

  /** The lease, the fence counters and the last fences, as the supervisor's status reports them. */
  status(): SupervisorClusterStatus {
    return {
      lease: this.lease.status(),
      fences: this.counters.fences,
      ownersKilled: this.counters.ownersKilled,
      killFailures: this.counters.killFailures,
      lastFences: this.fences.map(fenceReport),
    };
  }

  carry(): CarriedLease | null {
    const carried = this.lease.carry();
    return carried ? { id: carried.id, lastAckSentNs: carried.lastAckSentNs.toString() } : null;
  }

  /** The watchdog's state for status and metrics, or null without a watchdog. */
  watchdogStatus(): WatchdogStatus | null {
    return this.watchdog?.status() ?? null;
  }

  /** The open watchdog device for the next image of an upgrade, or null. */
  carryWatchdog(): CarriedWatchdog | null {
    return this.watchdog?.carry() ?? null;
  }

  /** fds an upgrade must keep open across its exec: the armed watchdog device (closing it would not stop it). */
  keptFds(): number[] {
    const fd = this.watchdog?.fd ?? null;
    return fd === null ? [] : [fd];
  }

  /** A clean stop: the watchdog disarmed first (a slow revoke must not reset the host), then the lease. */
  async stop(): Promise<void> {
    this.watchdog?.disarm();
    await this.lease.stop({ revoke: this.revokeOnStop });
    await this.#client.close();
  }

  // A fence tells of its status once its signals are sent (#kill), not before them.
  #publish(statusToo = true): void {
    this.onLease(this.current());
    this.onCarryChange(this.carry());
    if (statusToo) this.onStatusChange();
  }

  // Kills every owner of a cluster hold or pending hold in custody. Synchronous: nothing else runs before
  // every signal is sent.
  #fence(leaseId: string | null, why: string): void {
    const pids = new Set<number>();
    for (const [, entry] of this.custody.entries()) {
      const record = entry.record;
      if (record.kind === 'resource' && record.cluster) for (const pid of clusterOwnerPids(record.cluster)) pids.add(pid);
    }
    this.#publish(false);
    this.#kill([...pids], leaseId, why, true);
  }

  #check(record: ResourceRecord): void {
    const stale = this.#staleOwners(record.cluster!, new Set());
    if (stale.size > 0) this.#kill([...stale], this.lease.id, `a cluster hold of ${record.name} is not on the host's valid lease`, false);
  }

  #fenceStale(handedBack: boolean): void {
    const stale = new Set<number>();
    const pending = new Set<number>();
    for (const [, entry] of this.custody.entries()) {
      const record = entry.record;
      if (record.kind !== 'resource' || !record.cluster) continue;
      this.#staleOwners(record.cluster, stale);
      if (handedBack) for (const pid of record.cluster.pending) pending.add(pid);
    }
    if (stale.size > 0) this.#kill([...stale], this.lease.id, 'cluster holds taken over at start-up are not on the lease this process holds or resumes', false);
    if (pending.size > 0) this.#kill([...pending], this.lease.id, 'owners handed back by the fd store while their cluster hold was being asked for (their grant may have been answered, its hold lost with the old process)', false);
  }

  /** Adds to `into` the owners of `cluster` whose hold is not on the valid lease (and, without one, the pending). */
  #staleOwners(cluster: ResourceCluster, into: Set<number>): Set<number> {
    const valid = this.lease.id;
    for (const hold of cluster.holds) if (hold.lease !== valid) into.add(hold.pid);
    if (valid === null) for (const pid of cluster.pending) into.add(pid);
    return into;
  }

  // `always`: a deadline's fence is recorded even when nobody was left to kill.
  #kill(pids: number[], leaseId: string | null, why: string, always: boolean): void {
    const killed: number[] = [];
    const failed: number[] = [];
    const connections = this.#ownConnections();
    for (const pid of pids) {
      if (pid <= 1 || pid === process.pid) continue;
      const outcome = this.#sigkill(pid, connections.get(pid));
      if (outcome === 'killed') killed.push(pid);
      else if (outcome === 'failed') failed.push(pid);
    }
    if (!always && killed.length === 0 && failed.length === 0) return;
    this.counters.fences++;
    this.counters.ownersKilled += killed.length;
    this.counters.killFailures += failed.length;
    this.fences.push({ at: Date.now(), leaseId, why, killed, failed });
    if (this.fences.length > FENCE_EVENTS_KEPT) this.fences.shift();
    this.log.error({ leaseId, why, killed, failed }, `fenced: SIGKILLed ${killed.length} owner(s) holding cluster locks`);
    this.onStatusChange();
  }

  // A pidfd from the owner's own lock connection where custody has one (it cannot name a reused pid), else
  // one opened by pid.
  #sigkill(pid: number, connection: number | undefined): 'killed' | 'gone' | 'failed' {
    let pidfd: number | null = null;
    try {
      pidfd = (connection === undefined ? null : this.#peerPidfd(connection)) ?? native.pidfdOpen(pid);
      native.pidfdSendSignal(pidfd, 'SIGKILL');
      return 'killed';
    } catch (err) {
      // ESRCH: it is already gone, which is what a fence wants.
      return (err as { code?: string }).code === 'ESRCH' ? 'gone' : 'failed';
    } finally {
      if (pidfd !== null) native.close(pidfd);
    }
  }

  // Client sockets by their peer's pid, gathered once per fence: a fence of N owners among M records scans
  // custody once, not N times.
  #ownConnections(): Map<number, number> {
    const byPid = new Map<number, number>();
    for (const [, entry] of this.custody.entries()) {
      const record = entry.record;
      if (record.kind === 'client' && entry.fd !== null && !byPid.has(record.peer.pid)) byPid.set(record.peer.pid, entry.fd);
    }
    return byPid;
  }

  #peerPidfd(socket: number): number | null {
    try {
      return native.peerPidfd(socket);
    } catch {
      return null;
    }
  }
}

/** A fence as the status carries it: its reason and pid lists bounded, the counts whole. */
export function fenceReport(event: FenceEvent): FenceReport {
  return {
    at: event.at,
    leaseId: event.leaseId,
    why: event.why.length > WHY_MAX ? `${event.why.slice(0, WHY_MAX - 1)}…` : event.why,
    killed: event.killed.slice(0, FENCE_PIDS_LISTED),
    failed: event.failed.slice(0, FENCE_PIDS_LISTED),
    killedCount: event.killed.length,
    failedCount: event.failed.length,
  };
}
