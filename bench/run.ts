// npm run bench: holdfast and the real virtlockd side by side in one run, printed as a markdown table.
// Installs nothing: virtlockd is skipped with a message when /usr/sbin/virtlockd is absent.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonHandle } from '../test/fixtures/daemon-handle';
import { startHoldfast } from '../test/fixtures/holdfast-daemon';
import { VIRTLOCKD_BINARY, startVirtlockd } from '../test/fixtures/virtlockd-daemon';
import { measureOwnerKillStall } from './owner-kill-stall';
import { swapPauseTable } from './swap-pause';
import { UpgradePauseResult, measureUpgradePause } from './upgrade-pause';
import { ThroughputResult, measureThroughput } from './throughput';

const CLIENT_COUNTS = [1, 4, 16];
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);

interface DaemonResults {
  name: string;
  throughput: ThroughputResult[];
  stallMs: number;
}

async function benchDaemon(name: string, start: (dir: string) => Promise<DaemonHandle>): Promise<DaemonResults> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-bench-${name}-`));
  const daemon = await start(dir);
  try {
    const throughput: ThroughputResult[] = [];
    for (const clients of CLIENT_COUNTS) throughput.push(await measureThroughput(daemon.socket, join(dir, 'files'), clients, DURATION_MS));
    const stall = await measureOwnerKillStall(daemon.socket, dir);
    return { name, throughput, stallMs: stall.maxWaitMs };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(results: DaemonResults[]): string {
  const rows = ['| daemon | clients | acquire+release cycles/s | p50 latency (ms) | p99 latency (ms) |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const r of results) {
    for (const t of r.throughput) {
      rows.push(`| ${r.name} | ${t.clients} | ${Math.round(t.cyclesPerSec).toLocaleString('en-US')} | ${t.p50Ms.toFixed(3)} | ${t.p99Ms.toFixed(3)} |`);
    }
  }
  rows.push('', '| daemon | longest wait of another client while an owner is killed (ms) |', '| --- | ---: |');
  for (const r of results) rows.push(`| ${r.name} | ${r.stallMs.toFixed(1)} |`);
  return rows.join('\n');
}

// SIGUSR1 upgrade pause, 1,000 held locks and 100 clients, both daemons.
async function upgradeTable(): Promise<string> {
  const rows = ['| daemon | held locks | clients | upgrade pause seen by clients, median (ms) | trials (ms) | requests lost |', '| --- | ---: | ---: | ---: | --- | ---: |'];
  const daemons: Array<[string, (dir: string) => Promise<DaemonHandle>]> = [['holdfast', (dir) => startHoldfast({ dir })]];
  if (existsSync(VIRTLOCKD_BINARY)) daemons.push(['virtlockd', (dir) => startVirtlockd({ dir })]);
  for (const [name, start] of daemons) {
    const dir = mkdtempSync(join(tmpdir(), `holdfast-bench-upgrade-${name}-`));
    try {
      const r: UpgradePauseResult = await measureUpgradePause(start, dir, { locks: 1000, clients: 100, trials: 3 });
      rows.push(`| ${name} | ${r.locks} | ${r.clients} | ${r.medianMs.toFixed(1)} | ${r.pauseMs.map((p) => p.toFixed(0)).join(', ')} | ${r.lost} |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const results: DaemonResults[] = [];
  results.push(await benchDaemon('holdfast', (dir) => startHoldfast({ dir })));
  if (existsSync(VIRTLOCKD_BINARY)) {
    results.push(await benchDaemon('virtlockd', (dir) => startVirtlockd({ dir })));
  } else {
    process.stdout.write(`(virtlockd skipped: ${VIRTLOCKD_BINARY} not installed; apt-get install libvirt-daemon to compare)\n`);
  }
  process.stdout.write(`${table(results)}\n\n`);
  process.stdout.write(`${await upgradeTable()}\n\n`);
  // holdfast only: virtlockd has no worker to swap.
  process.stdout.write(`${await swapPauseTable()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
