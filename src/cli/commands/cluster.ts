// `holdfast cluster`: this host's part of the cluster: its id and key prefix, what is cluster-wide, each etcd
// endpoint asked on its own, the host lease, the cluster holds of this host and the fences. Exit 1 with one
// line when no cluster is configured (like a refusal: the question does not apply to this daemon).
import type { Command } from 'commander';
import type { ClusterInfo, ClusterLeaseStatus } from '../../shared/protocol/operations-program';
import { EXIT, GlobalOptions, printJson, printLines, withAdmin } from '../cli-context';
import { formatTime, table } from '../text-format';

/** The line printed (on stderr) when the daemon has no cluster. */
export const NO_CLUSTER = 'no cluster is configured in this holdfastd (cluster_etcd_endpoints is not set)';

export function registerCluster(program: Command): void {
  program
    .command('cluster')
    .description("this host's part of the cluster: etcd endpoints and their health, the host lease, cluster holds, fences")
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const cluster = await withAdmin(opts, (c) => c.cluster());
      if (opts.json) printJson(cluster);
      if (!cluster.configured) {
        if (!opts.json) process.stderr.write(`holdfast: ${NO_CLUSTER}\n`);
        process.exitCode = EXIT.HELD_OR_REFUSED;
        return;
      }
      if (!opts.json) printLines(clusterLines(cluster));
    });
}

/** The table form: a summary, then the endpoints, the holds and the fences, each a table. */
export function clusterLines(c: ClusterInfo): string[] {
  const r = c.requests;
  const scope = [
    ...c.lockspaces.map((l) => `lockspace ${l}`),
    ...c.pathPrefixes.map((p) => `files under ${p}`),
  ];
  const lines = [
    `host:         ${c.hostId} (etcd keys under ${c.keyPrefix})`,
    `cluster-wide: ${scope.length > 0 ? scope.join(', ') : 'nothing'}`,
    `lease:        ${leaseText(c.lease)}`,
    `keepalives:   ${c.lease.keepalivesSent} sent, ${c.lease.keepalivesAcked} acknowledged; safe deadline passed ${c.lease.deadlinesPassed} time(s)`,
    `holds:        ${c.holdCounts.exclusive} exclusive, ${c.holdCounts.shared} shared, ${c.holdCounts.pending} pending`,
    `requests:     ${r.granted} granted, ${r.busy} busy, ${r.unavailable} unavailable, ${r.lateGrants} late; ${r.released} released, ${r.releaseRetries} release retries`,
    `fences:       ${c.fences ? `${c.fences.total}, ${c.fences.ownersKilled} owner(s) killed, ${c.fences.killFailures} kill failure(s)` : 'not known yet'}`,
    '',
    ...table(
      ['ENDPOINT', 'HEALTH', 'VERSION', 'LEADER', 'ERROR'],
      c.endpoints.map((e) => [e.endpoint, e.healthy ? 'healthy' : 'UNHEALTHY', e.version ?? '-', e.leader === null ? '-' : e.leader ? 'yes' : 'no', e.error ?? '-']),
    ),
  ];
  lines.push('');
  if (c.holds.length === 0) lines.push('no cluster holds on this host');
  else {
    lines.push(
      ...table(
        ['LOCKSPACE', 'RESOURCE', 'PID', 'MODE', 'TOKEN'],
        c.holds.map((h) => [h.lockspace === '' ? '(default)' : h.lockspace, h.resource, String(h.pid), h.mode, h.token ?? 'pending']),
      ),
    );
  }
  const fences = c.fences?.last ?? [];
  if (fences.length > 0) {
    lines.push(
      '',
      ...table(
        ['FENCED AT', 'LEASE', 'KILLED', 'FAILED', 'WHY'],
        fences.map((f) => [formatTime(f.at), f.leaseId ?? '-', pidsText(f.killed, f.killedCount), pidsText(f.failed, f.failedCount), f.why]),
      ),
    );
  }
  return lines;
}

function leaseText(l: ClusterLeaseStatus): string {
  const ttl = `ttl ${l.ttlMs / 1000}s`;
  const renewed = l.lastRenewedAt === null ? 'not renewed yet' : `renewed ${formatTime(l.lastRenewedAt)}`;
  switch (l.state) {
    case 'granting':
      return `granting (no lease from etcd yet), ${ttl}`;
    case 'held':
      return `held, id ${l.id}, ${l.msLeft === null ? '?' : (l.msLeft / 1000).toFixed(1)}s to its safe deadline, ${renewed}, ${ttl}`;
    case 'lapsed':
      return `LAPSED${l.id === null ? '' : `, id ${l.id}`}, ${renewed}, ${ttl}`;
  }
}

function pidsText(pids: number[], count: number): string {
  if (count === 0) return '-';
  return count > pids.length ? `${pids.join(',')} (+${count - pids.length} more)` : pids.join(',');
}
