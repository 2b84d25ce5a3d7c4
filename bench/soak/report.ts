// The soak's verdict and its report: what ran, what the chaos did, what the clients and the prober saw, how
// fds and memory went, and the list of failures (empty when the daemon kept its promise throughout).
import type { ActionRecord, ChaosEvent, ChaosName } from './chaos';
import type { DaemonExit } from './daemon';
import type { ProbeMiss, ProbeStats } from './prober';
import { QUIET_FD_SLACK, RSS_SLACK, type QuietCounts, type SeriesVerdict } from './sampler';
import type { LossEvent, Tally } from './tally';

export interface MissRecord extends ProbeMiss {
  atS: number;
  /** The chaos action that ran last before the miss. */
  after: string | null;
}

export interface SoakReport {
  passed: boolean;
  failures: string[];
  seed: number;
  plannedMinutes: number;
  elapsedS: number;
  owners: number;
  actions: ChaosName[];
  daemon: { pid: number; exit: DaemonExit | null; logFile: string; runDir: string };
  chaos: Record<string, ActionRecord>;
  requests: { made: number; answered: number; p50Ms: number; p99Ms: number; maxMs: number };
  prober: ProbeStats & { firstMisses: MissRecord[] };
  losses: Tally['counts'] & { details: Record<string, LossEvent[]> };
  hostile: Record<string, Record<string, number>>;
  ownersReplaced: number;
  staleLocks: string[];
  resources: {
    supervisorFds: SeriesVerdict | null;
    supervisorRss: SeriesVerdict | null;
    workerFds: SeriesVerdict | null;
    workerRss: SeriesVerdict | null;
    quietBefore: QuietCounts;
    quietAfter: QuietCounts | null;
  };
  lastActions: ChaosEvent[];
}

/** Everything the promise rules out, as one line each. */
export function failuresOf(r: Omit<SoakReport, 'passed' | 'failures'>): string[] {
  const f: string[] = [];
  if (r.daemon.exit) f.push(`holdfastd exited (code ${r.daemon.exit.code}, signal ${r.daemon.exit.signal}) after the last action shown below`);
  if (r.prober.missedProbes > 0) f.push(`${r.prober.episodes} time(s) a lock believed held was free (${r.prober.missedProbes} probes)`);
  if (r.losses.lost > 0) f.push(`${r.losses.lost} connection(s) lost`);
  if (r.losses.unanswered > 0) f.push(`${r.losses.unanswered} request(s) unanswered`);
  if (r.losses.errors > 0) f.push(`${r.losses.errors} error reply(ies) to well-formed requests`);
  if (r.losses.duplicates > 0) f.push(`${r.losses.duplicates} stray or duplicate reply(ies)`);
  if (r.losses.wrongFile > 0) f.push(`${r.losses.wrongFile} hostile ACQUIRE(s) answered OK on another file than the one named`);
  const missing = r.requests.made - r.requests.answered - r.losses.lost - r.losses.unanswered;
  if (missing > 0) f.push(`${missing} request(s) neither answered nor accounted for`);
  if (r.staleLocks.length > 0) f.push(`${r.staleLocks.length} lock(s) still held long after their owner died`);
  const { quietBefore, quietAfter } = r.resources;
  if (quietAfter === null) f.push('no quiet fd count after the run (the daemon was not serving)');
  else {
    if (quietAfter.supervisorFds - quietBefore.supervisorFds > QUIET_FD_SLACK) f.push(`supervisor fds grew from ${quietBefore.supervisorFds} to ${quietAfter.supervisorFds} (quiet, nothing held)`);
    if (quietAfter.workerFds - quietBefore.workerFds > QUIET_FD_SLACK) f.push(`worker fds grew from ${quietBefore.workerFds} to ${quietAfter.workerFds} (quiet, nothing held)`);
  }
  if (r.resources.supervisorRss && !r.resources.supervisorRss.flat) f.push(`supervisor RSS not flat: ${mib(r.resources.supervisorRss.baseline)} → ${mib(r.resources.supervisorRss.end)} MiB`);
  if (r.resources.workerRss && !r.resources.workerRss.flat) f.push(`worker RSS not flat: ${mib(r.resources.workerRss.baseline)} → ${mib(r.resources.workerRss.end)} MiB`);
  return f;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`, ...rows.map((r) => line(r.map(String)))].join('\n');
}

function series(name: string, v: SeriesVerdict | null, unit: (n: number) => string): Array<string | number> {
  if (!v) return [name, '-', '-', '-', '-', '-'];
  return [name, unit(v.baseline), unit(v.end), unit(v.min), unit(v.max), v.flat ? 'yes' : 'NO'];
}

/** The human-readable report (markdown tables). */
export function formatReport(r: SoakReport): string {
  const out: string[] = [];
  out.push(`# holdfast soak: ${r.passed ? 'PASSED' : 'FAILED'}`);
  out.push('');
  out.push(`seed ${r.seed} · ${(r.elapsedS / 60).toFixed(1)} of ${r.plannedMinutes} minutes · ${r.owners} owner processes · actions: ${r.actions.join(', ') || 'none'}`);
  out.push(`replay: npm run soak -- --seed ${r.seed} --minutes ${r.plannedMinutes} --clients ${r.owners} --actions ${r.actions.join(',') || 'none'}`);
  out.push('');
  out.push('## Chaos');
  out.push(table(['action', 'runs', 'could not be done'], Object.entries(r.chaos).map(([name, a]) => [name, a.runs, a.failures ? `${a.failures} (${a.reasons[0]})` : 0])));
  out.push('');
  out.push('## Checks');
  out.push(
    table(['check', 'result'], [
      ['requests made / answered', `${r.requests.made} / ${r.requests.answered}`],
      ['latency p50 / p99 / max (ms)', `${r.requests.p50Ms.toFixed(2)} / ${r.requests.p99Ms.toFixed(2)} / ${r.requests.maxMs.toFixed(0)}`],
      ['prober rounds / probes', `${r.prober.rounds} / ${r.prober.probes}`],
      ['held locks seen free (times / probes)', `${r.prober.episodes} / ${r.prober.missedProbes}`],
      ['lost connections', r.losses.lost],
      ['unanswered requests (30 s deadline)', r.losses.unanswered],
      ['error replies to good requests', r.losses.errors],
      ['stray or duplicate replies', r.losses.duplicates],
      ['OK on another file than named', r.losses.wrongFile],
      ['owners killed and replaced', r.ownersReplaced],
      ['locks held after their owner died', r.staleLocks.length],
      ['daemon', r.daemon.exit ? `EXITED (code ${r.daemon.exit.code}, signal ${r.daemon.exit.signal})` : 'running throughout'],
    ]),
  );
  out.push('');
  out.push('## fds and memory');
  const count = (n: number): string => String(Math.round(n));
  out.push(
    table(['series', 'start', 'end', 'min', 'max', 'flat'], [
      series('supervisor fds', r.resources.supervisorFds, count),
      series('worker fds', r.resources.workerFds, count),
      series('supervisor RSS (MiB)', r.resources.supervisorRss, mib),
      series('worker RSS (MiB)', r.resources.workerRss, mib),
    ]),
  );
  const q = r.resources;
  out.push('');
  out.push(
    `quiet fds (owners connected, nothing held): supervisor ${q.quietBefore.supervisorFds} → ${q.quietAfter?.supervisorFds ?? '-'}, worker ${q.quietBefore.workerFds} → ${q.quietAfter?.workerFds ?? '-'} (flat: at most +${QUIET_FD_SLACK}); ` +
      `RSS flat: end-window median ≤ start-window median × ${RSS_SLACK.ratio} + ${RSS_SLACK.bytes / 1024 / 1024} MiB (windows: first and last 5 minutes, or quarter of a shorter run)`,
  );
  out.push('');
  out.push('## Hostile input');
  const outcomes = [...new Set(Object.values(r.hostile).flatMap((o) => Object.keys(o)))].sort();
  out.push(table(['case', ...outcomes], Object.entries(r.hostile).map(([name, o]) => [name, ...outcomes.map((k) => o[k] ?? 0)])));
  if (r.failures.length > 0) {
    out.push('');
    out.push('## Failures');
    for (const f of r.failures) out.push(`- ${f}`);
    const details = Object.entries(r.losses.details).flatMap(([kind, list]) => list.slice(0, 5).map((e) => `- ${kind} at ${e.atS} s, ${e.who}: ${e.what}`));
    if (details.length > 0) out.push('', 'first losses:', ...details);
    if (r.prober.firstMisses.length > 0) out.push('', 'first misses:', ...r.prober.firstMisses.slice(0, 10).map((m) => `- ${m.atS} s: ${m.path} ${m.kind} (last action: ${m.after ?? 'none'})`));
    if (r.staleLocks.length > 0) out.push('', 'stale locks:', ...r.staleLocks.slice(0, 5).map((s) => `- ${s}`));
    if (r.lastActions.length > 0) out.push('', 'last actions:', ...r.lastActions.map((e) => `- ${e.atS} s ${e.action}: ${e.note}${e.ok ? '' : ' (not done)'}`));
    out.push('', `daemon log: ${r.daemon.logFile} (run dir kept: ${r.daemon.runDir})`);
  }
  return out.join('\n');
}
