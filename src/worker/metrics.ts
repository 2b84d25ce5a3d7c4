// The worker's metrics: requests by server, procedure and outcome, a sampled request-latency histogram and
// owner kills, plus the OpenMetrics text of `holdfast metrics`. Per request it costs one map lookup and an
// increment; one request in LATENCY_SAMPLE_EVERY is timed (two hrtime reads). Counters travel to the next
// worker through an orderly handoff (drain → supervisor → its status message) and start again after a worker crash.
import type { WorkerMetricsSnapshot } from '../shared/custody/messages';
import type { FdUse } from '../shared/platform/fd-budget';
import type { SupervisorStatus } from '../shared/custody/supervisor-status';
import type { TurnCounter } from './custody-link';
import type { ClusterLeaseStatus } from '../shared/custody/supervisor-status';
import type { ClusterHolds } from './cluster/cluster-holds';

/** The cluster numbers of the metrics text, when a cluster is configured. */
export interface ClusterGauges {
  /** This worker's hold requests and releases (ClusterHolds.counts). */
  requests: Readonly<ClusterHolds['counts']>;
  /** Holds on this host now. */
  holds: { exclusive: number; shared: number; pending: number };
  /** The host lease, with the supervisor's keepalive counters. */
  lease: ClusterLeaseStatus;
}

/** Upper bounds of the latency buckets, in seconds (+Inf is implied). */
export const LATENCY_BOUNDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Only one request in this many is timed (a power of two). */
export const LATENCY_SAMPLE_EVERY = 8;

/** The live numbers the metrics text reports besides the counters. */
export interface MetricsGauges {
  locksHeld: number;
  lockClients: number;
  adminClients: number;
  lockspaces: number;
  generation: number;
  supervisor: SupervisorStatus | null;
  fds: { supervisor: FdUse | null; worker: FdUse } | null;
  /** null without a cluster: no holdfast_cluster_* family then. */
  cluster: ClusterGauges | null;
}

interface RequestCount {
  ok: number;
  error: number;
}

export class WorkerMetrics implements TurnCounter {
  readonly #requests = new Map<string, Map<string, RequestCount>>();
  #buckets = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  #latencySum = 0;
  #latencyCount = 0;
  #tick = 0;
  ownerKills: Record<string, number> = {};
  /** Turns of this worker that committed, and the requests they answered (not carried to the next worker). */
  turns = 0;
  turnRequests = 0;

  /** Counts one committed turn (see CustodyLink). */
  turn(requests: number): void {
    this.turns++;
    this.turnRequests += requests;
  }

  /** Counts one answered request. */
  request(server: string, procedure: string, ok: boolean): void {
    const count = this.#count(server, procedure);
    if (ok) count.ok++;
    else count.error++;
  }

  #count(server: string, procedure: string): RequestCount {
    let byProcedure = this.#requests.get(server);
    if (!byProcedure) this.#requests.set(server, (byProcedure = new Map()));
    let count = byProcedure.get(procedure);
    if (!count) byProcedure.set(procedure, (count = { ok: 0, error: 0 }));
    return count;
  }

  /** True for the requests that should be timed. */
  sample(): boolean {
    return (++this.#tick & (LATENCY_SAMPLE_EVERY - 1)) === 0;
  }

  /** Records one timed request, in nanoseconds. */
  observe(nanoseconds: bigint): void {
    const seconds = Number(nanoseconds) / 1e9;
    let i = 0;
    while (i < LATENCY_BOUNDS.length && seconds > LATENCY_BOUNDS[i]!) i++;
    this.#buckets[i]!++;
    this.#latencySum += seconds;
    this.#latencyCount++;
  }

  /** Counts how an owner kill ended ('started' when one begins). */
  ownerKill(result: string): void {
    this.ownerKills[result] = (this.ownerKills[result] ?? 0) + 1;
  }

  /** Everything cumulative, for the next worker. */
  snapshot(): WorkerMetricsSnapshot {
    const requests: WorkerMetricsSnapshot['requests'] = [];
    for (const [server, byProcedure] of this.#requests) {
      for (const [procedure, c] of byProcedure) requests.push({ server, procedure, ok: c.ok, error: c.error });
    }
    return { requests, latencyBuckets: [...this.#buckets], latencySum: this.#latencySum, latencyCount: this.#latencyCount, ownerKills: { ...this.ownerKills } };
  }

  /** Continues from a predecessor's counters (added to whatever was counted meanwhile). */
  restore(counters: WorkerMetricsSnapshot): void {
    for (const r of counters.requests) {
      const count = this.#count(r.server, r.procedure);
      count.ok += r.ok;
      count.error += r.error;
    }
    if (counters.latencyBuckets.length === this.#buckets.length) {
      this.#buckets = this.#buckets.map((n, i) => n + counters.latencyBuckets[i]!);
      this.#latencySum += counters.latencySum;
      this.#latencyCount += counters.latencyCount;
    }
    for (const [result, n] of Object.entries(counters.ownerKills)) this.ownerKills[result] = (this.ownerKills[result] ?? 0) + n;
  }

  /** The OpenMetrics text exposition. */
  render(g: MetricsGauges): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string): void => {
      out.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${help}`);
    };
    family('holdfast_locks_held', 'gauge', 'Resources currently locked, across lockspaces.');
    out.push(`holdfast_locks_held ${g.locksHeld}`);
    family('holdfast_clients', 'gauge', 'Connected clients by server.');
    out.push(`holdfast_clients{server="virtlockd"} ${g.lockClients}`, `holdfast_clients{server="admin"} ${g.adminClients}`);
    family('holdfast_lockspaces', 'gauge', 'Directory lockspaces (the default lockspace not counted).');
    out.push(`holdfast_lockspaces ${g.lockspaces}`);
    family('holdfast_worker_generation', 'gauge', 'Generation of the serving worker.');
    out.push(`holdfast_worker_generation ${g.generation}`);
    const fdUses = [['supervisor', g.fds?.supervisor], ['worker', g.fds?.worker]] as const;
    family('holdfast_open_fds', 'gauge', 'Open file descriptors, by process.');
    for (const [name, use] of fdUses) if (use) out.push(`holdfast_open_fds{process="${name}"} ${use.used}`);
    family('holdfast_max_fds', 'gauge', 'The soft RLIMIT_NOFILE, by process (the worker\'s is kept below the supervisor\'s).');
    for (const [name, use] of fdUses) if (use) out.push(`holdfast_max_fds{process="${name}"} ${use.limit}`);

    family('holdfast_requests', 'counter', 'Requests answered, by server, procedure and outcome. Carried through worker swaps and upgrades that hand the worker over; reset when a worker crashes.');
    for (const [server, byProcedure] of [...this.#requests].sort(([a], [b]) => a.localeCompare(b))) {
      for (const [procedure, c] of [...byProcedure].sort(([a], [b]) => a.localeCompare(b))) {
        const labels = `server="${escapeLabel(server)}",procedure="${escapeLabel(procedure)}"`;
        out.push(`holdfast_requests_total{${labels},outcome="ok"} ${c.ok}`, `holdfast_requests_total{${labels},outcome="error"} ${c.error}`);
      }
    }
    family('holdfast_request_latency_seconds', 'histogram', `Time from a request's arrival to its reply reaching the client's socket, for one request in ${LATENCY_SAMPLE_EVERY}. Carried like holdfast_requests.`);
    let cumulative = 0;
    LATENCY_BOUNDS.forEach((bound, i) => {
      cumulative += this.#buckets[i]!;
      out.push(`holdfast_request_latency_seconds_bucket{le="${bound}"} ${cumulative}`);
    });
    cumulative += this.#buckets[LATENCY_BOUNDS.length]!;
    out.push(`holdfast_request_latency_seconds_bucket{le="+Inf"} ${cumulative}`);
    out.push(`holdfast_request_latency_seconds_count ${this.#latencyCount}`, `holdfast_request_latency_seconds_sum ${this.#latencySum}`);

    family('holdfast_owner_kills', 'counter', 'Owners killed because their connection dropped while holding locks, by result (started, exited, killed, gone, survived). Carried like holdfast_requests.');
    for (const result of ['started', 'exited', 'killed', 'gone', 'survived']) out.push(`holdfast_owner_kills_total{result="${result}"} ${this.ownerKills[result] ?? 0}`);

    family('holdfast_worker_turns', 'counter', 'Turns of the serving worker that committed to custody (a turn answers what one wake-up brought). Since this worker started.');
    out.push(`holdfast_worker_turns_total ${this.turns}`);
    family('holdfast_worker_turn_requests', 'counter', 'Requests answered by those turns (divided by holdfast_worker_turns_total: requests per turn). Since this worker started.');
    out.push(`holdfast_worker_turn_requests_total ${this.turnRequests}`);

    const s = g.supervisor;
    family('holdfast_worker_swaps', 'counter', 'Live worker swaps since this supervisor image started, by outcome.');
    out.push(`holdfast_worker_swaps_total{outcome="ok"} ${s?.workerSwaps ?? 0}`, `holdfast_worker_swaps_total{outcome="failed"} ${s?.swapFailures ?? 0}`);
    family('holdfast_reexecs', 'counter', 'Supervisor re-execs (upgrades) completed since the daemon started.');
    out.push(`holdfast_reexecs_total ${s?.upgrades ?? 0}`);
    family('holdfast_upgrade_refusals', 'counter', 'Upgrades refused since this supervisor image started.');
    out.push(`holdfast_upgrade_refusals_total ${s?.upgradeRefusals ?? 0}`);
    family('holdfast_worker_restarts', 'counter', 'Workers replaced after they died, since the daemon started.');
    out.push(`holdfast_worker_restarts_total ${s?.workerRestarts ?? 0}`);
    if (g.cluster) renderCluster(g.cluster, s, family, out);
    out.push('# EOF');
    return `${out.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

// The holdfast_cluster_* families: the worker's hold requests (since it started), the holds now, and the
// supervisor's lease and fences (as its last status told).
function renderCluster(c: ClusterGauges, s: SupervisorStatus | null, family: (name: string, type: string, help: string) => void, out: string[]): void {
  const r = c.requests;
  family('holdfast_cluster_holds_requested', 'counter', 'Cluster hold requests of the serving worker by result: granted, busy (held by another host), unavailable (etcd or the lease), late (committed after the lease lapsed, then released). Since this worker started.');
  for (const [result, n] of [['granted', r.granted], ['busy', r.busy], ['unavailable', r.unavailable], ['late', r.lateGrants]] as const) {
    out.push(`holdfast_cluster_holds_requested_total{result="${result}"} ${n}`);
  }
  family('holdfast_cluster_releases', 'counter', 'Cluster holds deleted from etcd (released, owner gone or never granted). Since this worker started.');
  out.push(`holdfast_cluster_releases_total ${r.released}`);
  family('holdfast_cluster_release_retries', 'counter', 'Deletes of cluster holds tried again after etcd could not be reached. Since this worker started.');
  out.push(`holdfast_cluster_release_retries_total ${r.releaseRetries}`);
  family('holdfast_cluster_holds', 'gauge', 'Cluster holds of owners on this host, by state: exclusive and shared (committed in etcd), pending (being asked for).');
  for (const [state, n] of [['exclusive', c.holds.exclusive], ['shared', c.holds.shared], ['pending', c.holds.pending]] as const) {
    out.push(`holdfast_cluster_holds{state="${state}"} ${n}`);
  }
  family('holdfast_cluster_lease_held', 'gauge', '1 while this host holds a lease in etcd it may grant on, else 0.');
  out.push(`holdfast_cluster_lease_held ${c.lease.state === 'held' ? 1 : 0}`);
  family('holdfast_cluster_lease_ms_left', 'gauge', "Milliseconds until the host lease's safe deadline (0 without a lease).");
  out.push(`holdfast_cluster_lease_ms_left ${c.lease.msLeft ?? 0}`);
  family('holdfast_cluster_lease_keepalives_sent', 'counter', 'Keepalives of the host lease sent to etcd by the supervisor.');
  out.push(`holdfast_cluster_lease_keepalives_sent_total ${c.lease.keepalivesSent}`);
  family('holdfast_cluster_lease_keepalives_acked', 'counter', 'Keepalives of the host lease etcd acknowledged.');
  out.push(`holdfast_cluster_lease_keepalives_acked_total ${c.lease.keepalivesAcked}`);
  family('holdfast_cluster_lease_deadlines_passed', 'counter', "Times the host lease's safe deadline passed without a renewal.");
  out.push(`holdfast_cluster_lease_deadlines_passed_total ${c.lease.deadlinesPassed}`);
  const f = s?.cluster;
  family('holdfast_cluster_fences', 'counter', 'Fences: owners of cluster holds SIGKILLed at once (the lease lapsed, or a hold came on a stale lease). Since this supervisor image started.');
  out.push(`holdfast_cluster_fences_total ${f?.fences ?? 0}`);
  family('holdfast_cluster_owners_killed', 'counter', 'Owners killed by fences. Since this supervisor image started.');
  out.push(`holdfast_cluster_owners_killed_total ${f?.ownersKilled ?? 0}`);
  family('holdfast_cluster_kill_failures', 'counter', 'Owners a fence could not signal. Since this supervisor image started.');
  out.push(`holdfast_cluster_kill_failures_total ${f?.killFailures ?? 0}`);
}
