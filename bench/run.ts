// npm run bench: holdfast and the real virtlockd side by side in one run, printed as a markdown table.
// Installs nothing: virtlockd is skipped with a message when /usr/sbin/virtlockd is absent.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonHandle } from '../test/fixtures/daemon-handle';
import { startHoldfast } from '../test/fixtures/holdfast-daemon';
import { VIRTLOCKD_BINARY, startVirtlockd } from '../test/fixtures/virtlockd-daemon';
import { clusterPart } from './cluster/cluster-part';
import { runCpuRounds, type BenchDaemon } from './cpu-rounds';
import { caveats, ratioTable, shapeTable } from './cpu-tables';
import type { LoadShape } from './load';
import { compileLockClient, nativeShape, pythonLockClient } from './native-load';
import { measureOwnerKillStall } from './owner-kill-stall';
import { swapPauseTable } from './swap-pause';
import { UpgradePauseResult, measureUpgradePause } from './upgrade-pause';
import { nodeClientShape } from './throughput';

const CLIENT_COUNTS = (process.env.BENCH_CLIENTS ?? '1,4,16').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1000);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 300);
const SHAPE_KEYS = (process.env.BENCH_SHAPES ?? 'c-procs,c-one,py-procs,node').split(',');
/** Where to write every window's numbers as JSON (per round, per process), if set. */
const JSON_OUT = process.env.BENCH_JSON;
/** Which parts to run: throughput (with the owner-kill stall), upgrade, swap, cluster (bench/cluster/). */
const PARTS = (process.env.BENCH_PARTS ?? 'throughput,upgrade,swap,cluster').split(',');
/** Held locks for the upgrade-pause table, one row per daemon and count. */
const UPGRADE_LOCKS = (process.env.BENCH_UPGRADE_LOCKS ?? '1000').split(',').map(Number);

/** The client shapes asked for; the C ones only when a compiler exists (its build dir goes into `scratch`). */
function clientShapes(scratch: string[]): LoadShape[] {
  const shapes: LoadShape[] = [];
  const compiled = compileLockClient();
  if ('binary' in compiled) {
    scratch.push(compiled.dir);
    shapes.push(nativeShape([compiled.binary], 'c-procs', 'independent C client processes, one connection each', (clients) => clients));
    shapes.push(nativeShape([compiled.binary], 'c-one', "one C process holding every connection (libvirtd's shape)", () => 1));
  } else {
    process.stdout.write(`(C client shapes skipped: ${compiled.skipped})\n`);
  }
  const python = pythonLockClient();
  if ('command' in python) {
    shapes.push(nativeShape(python.command, 'py-procs', 'independent Python client processes, one connection each (blocking calls)', (clients) => clients));
  } else if (SHAPE_KEYS.includes('py-procs')) {
    process.stdout.write(`(Python client shape skipped: ${python.skipped})\n`);
  }
  shapes.push(nodeClientShape);
  return shapes.filter((s) => SHAPE_KEYS.includes(s.key));
}

async function startDaemon(name: BenchDaemon['name'], start: (dir: string) => Promise<DaemonHandle>): Promise<BenchDaemon> {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-bench-${name}-`));
  return { name, handle: await start(dir), dir };
}

async function stopDaemon(daemon: BenchDaemon): Promise<void> {
  await daemon.handle.stop();
  rmSync(daemon.dir, { recursive: true, force: true });
}

/** Throughput by CPU in alternating rounds, then the owner-kill stall, both daemons running side by side. */
async function throughputAndStall(): Promise<string> {
  const daemons: BenchDaemon[] = [];
  const scratch: string[] = [];
  try {
    daemons.push(await startDaemon('holdfast', (dir) => startHoldfast({ dir })));
    if (existsSync(VIRTLOCKD_BINARY)) {
      daemons.push(await startDaemon('virtlockd', (dir) => startVirtlockd({ dir })));
    } else {
      process.stdout.write(`(virtlockd skipped: ${VIRTLOCKD_BINARY} not installed; apt-get install libvirt-daemon to compare)\n`);
    }
    const shapes = clientShapes(scratch);
    const measurements = await runCpuRounds(daemons, { rounds: ROUNDS, durationMs: DURATION_MS, warmupMs: WARMUP_MS, clientCounts: CLIENT_COUNTS, shapes });
    if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(measurements, null, 1)}\n`);
    const sections = shapes.map((shape) => shapeTable(shape, measurements, CLIENT_COUNTS, daemons.map((d) => d.name)));
    if (daemons.length > 1) sections.push(ratioTable(shapes, measurements, CLIENT_COUNTS));
    const notes = caveats(measurements);
    if (notes.length > 0) sections.push(notes.join('\n'));
    const stall = ['| daemon | longest wait of another client while an owner is killed (ms) |', '| --- | ---: |'];
    for (const d of daemons) stall.push(`| ${d.name} | ${(await measureOwnerKillStall(d.handle.socket, d.dir)).maxWaitMs.toFixed(1)} |`);
    sections.push(stall.join('\n'));
    return sections.join('\n\n');
  } finally {
    for (const d of daemons) await stopDaemon(d);
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  }
}

// SIGUSR1 upgrade pause, 1,000 held locks (BENCH_UPGRADE_LOCKS) and 100 clients, both daemons.
async function upgradeTable(): Promise<string> {
  const rows = ['| daemon | held locks | clients | upgrade pause seen by clients, median (ms) | trials (ms) | requests lost |', '| --- | ---: | ---: | ---: | --- | ---: |'];
  const daemons: Array<[string, (dir: string) => Promise<DaemonHandle>]> = [['holdfast', (dir) => startHoldfast({ dir })]];
  if (existsSync(VIRTLOCKD_BINARY)) daemons.push(['virtlockd', (dir) => startVirtlockd({ dir })]);
  for (const locks of UPGRADE_LOCKS) {
    for (const [name, start] of daemons) {
      const dir = mkdtempSync(join(tmpdir(), `holdfast-bench-upgrade-${name}-`));
      try {
        const r: UpgradePauseResult = await measureUpgradePause(start, dir, { locks, clients: 100, trials: 3 });
        rows.push(`| ${name} | ${r.locks} | ${r.clients} | ${r.medianMs.toFixed(1)} | ${r.pauseMs.map((p) => p.toFixed(0)).join(', ')} | ${r.lost} |`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  if (PARTS.includes('throughput')) process.stdout.write(`${await throughputAndStall()}\n\n`);
  if (PARTS.includes('upgrade')) process.stdout.write(`${await upgradeTable()}\n\n`);
  // holdfast only: virtlockd has no worker to swap.
  if (PARTS.includes('swap')) process.stdout.write(`${await swapPauseTable()}\n`);
  // holdfast only: virtlockd has no cluster locks.
  if (PARTS.includes('cluster')) process.stdout.write(`\n${await clusterPart()}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
