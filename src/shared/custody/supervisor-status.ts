// What the supervisor reports about itself to the worker (its status message and action answers on the control channel),
// which the worker passes on in the operations program's STATUS reply.

/** How the last upgrade or worker swap ended. */
export interface ActionOutcome {
  /** When it ended, ms since the epoch. */
  at: number;
  ok: boolean;
  /** Why it failed; null when it succeeded (an upgrade may succeed with a note). */
  reason: string | null;
}

/** What the supervisor knows and tells the worker (STATUS `supervisor`). */
export interface SupervisorStatus {
  version: string;
  pid: number;
  /** Upgrades (supervisor re-execs) completed since the daemon started; survives upgrades. */
  upgrades: number;
  /** Upgrades refused since this supervisor image started. */
  upgradeRefusals: number;
  /** Worker swaps completed since this supervisor image started. */
  workerSwaps: number;
  /** Worker swaps that failed (the old worker served on) since this supervisor image started. */
  swapFailures: number;
  /** Workers replaced after a crash since the daemon started; survives upgrades. */
  workerRestarts: number;
  /** Set in a new image only once a worker of the new code serves (or could not be started). */
  lastUpgrade: ActionOutcome | null;
  lastSwap: ActionOutcome | null;
  /** The host lease and fencing; absent without a cluster. */
  cluster?: SupervisorClusterStatus;
}

/** The host lease as the supervisor keeps it (supervisor/cluster/host-lease.ts). */
export interface ClusterLeaseStatus {
  /** granting: no lease yet (etcd not reached); held: alive; lapsed: its safe deadline passed. */
  state: 'granting' | 'held' | 'lapsed';
  /** etcd's lease id in decimal; null while there is none. */
  id: string | null;
  ttlMs: number;
  /** Until the lease's safe deadline, when the status was taken; null without a lease. */
  msLeft: number | null;
  /** The last acknowledged renewal, ms since the epoch; null before the first. */
  lastRenewedAt: number | null;
  keepalivesSent: number;
  keepalivesAcked: number;
  /** Times the safe deadline passed without a renewal (each one fenced this host's cluster owners). */
  deadlinesPassed: number;
}

/**
 * One fence: owners SIGKILLed because the host lease lapsed or a hold arrived on a stale lease. A fence may
 * kill many owners: the pids listed are the first FENCE_PIDS_LISTED, the counts are whole.
 */
export interface FenceReport {
  /** ms since the epoch. */
  at: number;
  leaseId: string | null;
  why: string;
  killed: number[];
  failed: number[];
  killedCount: number;
  failedCount: number;
}

/** At most this many pids of a fence travel in the status (the control channel's datagrams are bounded). */
export const FENCE_PIDS_LISTED = 64;
/** At most this many fences travel in the status, the newest last. */
export const FENCES_REPORTED = 16;

/** The supervisor's side of the cluster (STATUS `supervisor.cluster`), when a cluster is configured. */
export interface SupervisorClusterStatus {
  lease: ClusterLeaseStatus;
  /** Since this supervisor image started. */
  fences: number;
  ownersKilled: number;
  killFailures: number;
  /** The last fences, oldest first. */
  lastFences: FenceReport[];
}
