// The CPU rounds as markdown: one table per client shape (medians over rounds), then the same-round ratios.
import { ROLES, median, type Measurement } from './cpu-rounds';
import type { LoadShape } from './load';

const DASH = '—';

function fixed(value: number, digits: number): string {
  return Number.isNaN(value) ? DASH : value.toFixed(digits);
}

function medianOf(rows: Measurement[], pick: (m: Measurement) => number | undefined): number {
  return median(rows.map(pick).filter((v): v is number => v !== undefined));
}

/** Per shape: median cycles/s, daemon CPU µs per cycle (total and by process), switches and latency per daemon and client count. */
export function shapeTable(shape: LoadShape, measurements: Measurement[], clientCounts: number[], daemons: string[]): string {
  const rows = [
    `Client shape: ${shape.title} (medians over ${roundsOf(measurements)} rounds)`,
    '',
    '| daemon | clients | cycles/s | daemon CPU µs/cycle | supervisor | serving worker | standby | voluntary switches/cycle | involuntary switches/cycle | client CPU µs/cycle | p50 (ms) | p99 (ms) | req/turn |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const daemon of daemons) {
    for (const clients of clientCounts) {
      const set = measurements.filter((m) => m.shape === shape.key && m.daemon === daemon && m.clients === clients);
      if (set.length === 0) continue;
      const byRole = ROLES.map((role) => (daemon === 'holdfast' ? fixed(medianOf(set, (m) => m.cpuUsPerCycleByRole[role] ?? 0), 1) : DASH));
      rows.push(
        `| ${daemon} | ${clients} | ${Math.round(medianOf(set, (m) => m.cyclesPerSec)).toLocaleString('en-US')} | ${fixed(medianOf(set, (m) => m.cpuUsPerCycle), 1)} | ` +
          `${byRole.join(' | ')} | ${fixed(medianOf(set, (m) => m.voluntaryPerCycle), 2)} | ${fixed(medianOf(set, (m) => m.involuntaryPerCycle), 2)} | ` +
          `${fixed(medianOf(set, (m) => m.clientCpuUsPerCycle), 1)} | ${fixed(medianOf(set, (m) => m.p50Ms), 3)} | ${fixed(medianOf(set, (m) => m.p99Ms), 3)} | ${fixed(medianOf(set, (m) => m.requestsPerTurn), 2)} |`,
      );
    }
  }
  return rows.join('\n');
}

/** holdfast / virtlockd within each round, then the median over rounds. */
export function ratioTable(shapes: LoadShape[], measurements: Measurement[], clientCounts: number[]): string {
  const rows = [
    `holdfast / virtlockd, median of same-round ratios (${roundsOf(measurements)} rounds)`,
    '',
    '| client shape | clients | rate ratio | CPU/cycle ratio | rate ratio by round |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const shape of shapes) {
    for (const clients of clientCounts) {
      const rate: number[] = [];
      const cpu: number[] = [];
      for (const hf of measurements.filter((m) => m.daemon === 'holdfast' && m.shape === shape.key && m.clients === clients)) {
        const vl = measurements.find((m) => m.daemon === 'virtlockd' && m.shape === shape.key && m.clients === clients && m.round === hf.round);
        if (!vl) continue;
        rate.push(hf.cyclesPerSec / vl.cyclesPerSec);
        cpu.push(hf.cpuUsPerCycle / vl.cpuUsPerCycle);
      }
      if (rate.length === 0) continue;
      rows.push(`| ${shape.key} | ${clients} | ${fixed(median(rate), 2)} | ${fixed(median(cpu), 2)} | ${rate.map((r) => r.toFixed(2)).join(', ')} |`);
    }
  }
  return rows.join('\n');
}

/** Anything that makes a window's numbers less than clean: errors, exited threads, a worker change. */
export function caveats(measurements: Measurement[]): string[] {
  const notes: string[] = [];
  for (const m of measurements) {
    const what = [
      m.errors > 0 ? `${m.errors} error replies` : '',
      m.exitedTasks > 0 ? `${m.exitedTasks} daemon threads exited inside the window (their last time is not counted)` : '',
      m.note,
    ].filter(Boolean);
    if (what.length > 0) notes.push(`- ${m.daemon}, ${m.shape}, ${m.clients} clients, round ${m.round + 1}: ${what.join('; ')}`);
  }
  return notes;
}

function roundsOf(measurements: Measurement[]): number {
  return new Set(measurements.map((m) => m.round)).size;
}
