// npm run soak: a randomized chaos run against a real holdfastd (worker kills, swaps, upgrades, signals, a
// stopped worker, fd pressure, client bursts and churn, owner deaths, hostile input) under a steady load of
// owner processes, with an independent prober watching every lock believed held. Prints a report and exits
// non-zero on any loss; the seed it prints replays the same choices.
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockClient } from '../../src/client/lock-client';
import { CHAOS_NAMES, runChaos, type ActionRecord, type ChaosEvent, type ChaosName } from './chaos';
import { runChurn } from './churn';
import type { SoakContext, SoakPaths } from './context';
import { startDaemon } from './daemon';
import { sleep, withDeadline } from './deadline';
import { runHostile } from './hostile';
import { Ledger } from './ledger';
import { OwnerPool } from './owner-pool';
import { startProber, type ProbeStats } from './prober';
import { servingWorker } from './proc';
import { Random } from './random';
import { failuresOf, formatReport, type MissRecord, type SoakReport } from './report';
import { Sampler, quietCounts, rssFlat, type QuietCounts } from './sampler';
import { Tally } from './tally';

interface SoakOptions {
  minutes: number;
  seed: number;
  clients: number;
  actions: ChaosName[];
  interval: number;
  churnRate: number;
  hostileRate: number;
  thinkMs: number;
  maxHeld: number;
  fdBurstMax: number;
  probePauseMs: number;
  json: boolean;
  keep: boolean;
}

const SHARED_FILES = 4;
const FIRST_FAKE_PID = 0x7ff00000;

function number(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
    return n;
  };
}

function actionList(value: string): ChaosName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 1 && names[0] === 'none') return [];
  for (const n of names) if (!(CHAOS_NAMES as string[]).includes(n)) throw new InvalidArgumentError(`unknown action ${n} (known: ${CHAOS_NAMES.join(', ')})`);
  return names as ChaosName[];
}

function parseOptions(argv: string[]): SoakOptions {
  const program = new Command('soak')
    .description('Randomized chaos run against a real holdfastd; exits non-zero on any lost lock, request or connection.')
    .option('--minutes <n>', 'how long to run', number(0.1), 60)
    .option('--seed <n>', 'seed of every random choice (printed; replays a run)', number(0))
    .option('--clients <n>', 'persistent owner processes', number(1), 6)
    .option('--actions <list>', `chaos actions to use, comma-separated, or none (default all: ${CHAOS_NAMES.join(',')})`, actionList)
    .option('--skip <list>', 'chaos actions to leave out, comma-separated', actionList)
    .option('--interval <s>', 'mean seconds between chaos actions', number(0.1), 10)
    .option('--churn-rate <n>', 'short-lived clients per second (0: none)', number(0), 2)
    .option('--hostile-rate <n>', 'hostile connections per minute besides the hostile action (0: none)', number(0), 6)
    .option('--think-ms <n>', 'owners pause up to this long between requests', number(0), 40)
    .option('--max-held <n>', 'locks an owner holds at most at once', number(1), 6)
    .option('--fd-burst-max <n>', 'fds one fd-pressure burst takes at most', number(8), 2000)
    .option('--probe-pause-ms <n>', 'pause between prober rounds (0: probe continuously)', number(0), 0)
    .option('--json', 'print the report as JSON')
    .option('--keep', 'keep the run dir (kept anyway when the run fails)')
    .parse(argv);
  const o = program.opts<{
    minutes: number; seed?: number; clients: number; actions?: ChaosName[]; skip?: ChaosName[]; interval: number; churnRate: number;
    hostileRate: number; thinkMs: number; maxHeld: number; fdBurstMax: number; probePauseMs: number; json?: boolean; keep?: boolean;
  }>();
  const skip = new Set(o.skip ?? []);
  return {
    minutes: o.minutes,
    seed: o.seed !== undefined ? Math.floor(o.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32),
    clients: Math.floor(o.clients),
    actions: (o.actions ?? CHAOS_NAMES).filter((a) => !skip.has(a)),
    interval: o.interval,
    churnRate: o.churnRate,
    hostileRate: o.hostileRate,
    thinkMs: Math.floor(o.thinkMs),
    maxHeld: Math.floor(o.maxHeld),
    fdBurstMax: Math.floor(o.fdBurstMax),
    probePauseMs: o.probePauseMs,
    json: o.json === true,
    keep: o.keep === true,
  };
}

function say(line: string): void {
  process.stderr.write(`[soak] ${line}\n`);
}

async function bounded<T>(what: string, work: Promise<T>, ms: number): Promise<T | null> {
  try {
    return await withDeadline(what, work, ms);
  } catch (err) {
    say(`${what}: ${(err as Error).message}`);
    return null;
  }
}

async function soak(opts: SoakOptions): Promise<SoakReport> {
  say(`seed ${opts.seed} · ${opts.minutes} min · ${opts.clients} owners · actions ${opts.actions.join(',') || 'none'}`);
  const runDir = mkdtempSync(join(tmpdir(), 'holdfast-soak-'));
  const paths: SoakPaths = {
    run: runDir,
    files: join(runDir, 'files'),
    lockspace: join(runDir, 'lockspace'),
    churnLockspace: join(runDir, 'churn-lockspace'),
    outside: join(runDir, 'outside'),
  };
  mkdirSync(paths.files);
  mkdirSync(paths.outside);
  const sharedFiles = Array.from({ length: SHARED_FILES }, (_, i) => join(paths.files, `shared-${i}.img`));
  for (const f of sharedFiles) writeFileSync(f, '');

  // Info level: swaps, upgrades, worker deaths and owner kills are in the log to read next to a failure.
  const daemon = await startDaemon(runDir, 'log_level = 2\n', false);
  say(`holdfastd pid ${daemon.pid}, run dir ${runDir}`);
  const tally = new Tally();
  const chaosLog: ChaosEvent[] = [];
  const misses: MissRecord[] = [];
  const prober = await startProber(opts.probePauseMs, (miss) => {
    const last = chaosLog[chaosLog.length - 1];
    const record = { ...miss, atS: Math.round((miss.atMs - tally.startedAt) / 100) / 10, after: last ? `${last.action} at ${last.atS} s` : null };
    if (misses.length < 50) misses.push(record);
    say(`MISS ${record.atS} s: ${miss.path} ${miss.kind} (last action: ${record.after ?? 'none'})`);
  });
  const ledger = new Ledger(prober);
  let running = true;
  let fakePid = FIRST_FAKE_PID;
  const ctx: SoakContext = {
    daemon,
    paths,
    sharedFiles,
    ledger,
    tally,
    random: new Random(opts.seed),
    nextFakePid: () => fakePid++,
    running: () => running && daemon.exit === null,
  };
  void daemon.exited.then((exit) => say(`holdfastd EXITED (code ${exit.code}, signal ${exit.signal})`));
  const interrupt = (): void => {
    say('interrupted: finishing the run early');
    running = false;
  };
  process.once('SIGINT', interrupt);

  // The lockspaces exist before anyone acquires in them.
  const setup = await LockClient.connect(daemon.socket);
  await setup.createLockspace(paths.lockspace);
  await setup.createLockspace(paths.churnLockspace);
  await setup.close();

  const pool = new OwnerPool(ctx, { owners: opts.clients, maxHeld: opts.maxHeld, thinkMs: opts.thinkMs });
  await pool.start();
  const quietBefore = await quietCounts(daemon.pid);
  const sampler = new Sampler(daemon.pid, tally.startedAt, () => ledger.size);
  sampler.start(2000);
  pool.go();

  const records = new Map<ChaosName, ActionRecord>();
  const background = [
    opts.churnRate > 0 ? runChurn(ctx, opts.churnRate, 20) : Promise.resolve(),
    opts.hostileRate > 0 ? runHostile(ctx, opts.hostileRate) : Promise.resolve(),
    runChaos(ctx, { killOwner: () => pool.killOne(), fdBurstMax: opts.fdBurstMax }, opts.actions, opts.interval * 1000, records, chaosLog, (e) => {
      if (!e.ok) say(`${e.atS} s ${e.action}: not done: ${e.note}`);
    }),
  ];
  const endAt = Date.now() + opts.minutes * 60_000;
  let nextProgress = Date.now() + 30_000;
  while (ctx.running() && Date.now() < endAt) {
    await sleep(200);
    if (Date.now() >= nextProgress) {
      nextProgress += 30_000;
      const s = sampler.samples[sampler.samples.length - 1];
      say(
        `${tally.since()} s: ${tally.requests + tally.local.requests} requests, ${ledger.size} held, ${misses.length} misses, ${tally.counts.lost} lost, ` +
          `${tally.counts.unanswered} unanswered, ${tally.counts.errors} errors, ${chaosLog.length} actions; supervisor ${s?.supervisorFds ?? '-'} fds`,
      );
    }
  }
  running = false;
  say('winding down');
  await bounded('background loops', Promise.all(background), 90_000);

  let quietAfter: QuietCounts | null = null;
  if (daemon.exit === null) {
    // A swap or upgrade started by the last action finishes before the quiet count.
    const deadline = Date.now() + 60_000;
    while (servingWorker(daemon.pid) === null && Date.now() < deadline) await sleep(100);
    await sleep(2000);
    if ((await bounded('owners releasing everything', pool.quiesce(), 90_000)) !== null) quietAfter = await quietCounts(daemon.pid);
  }
  await sampler.stop();
  const probeStats: ProbeStats = (await bounded('prober stats', prober.stop(), 10_000)) ?? { rounds: 0, probes: 0, missedProbes: -1, episodes: -1, watched: -1 };
  await bounded('owners stopping', pool.stop(), 30_000);
  process.off('SIGINT', interrupt);
  const exit = daemon.exit;
  await daemon.stop();
  tally.collect(tally.local);

  const mb = (s: { supervisorRss: number | null }): number | null => s.supervisorRss;
  const base: Omit<SoakReport, 'passed' | 'failures'> = {
    seed: opts.seed,
    plannedMinutes: opts.minutes,
    elapsedS: tally.since(),
    owners: opts.clients,
    actions: opts.actions,
    daemon: { pid: daemon.pid, exit, logFile: daemon.logFile, runDir },
    chaos: Object.fromEntries(records),
    requests: {
      made: tally.requests,
      answered: tally.replies,
      p50Ms: tally.latency.quantile(0.5),
      p99Ms: tally.latency.quantile(0.99),
      maxMs: tally.latency.maxMs,
    },
    prober: { ...probeStats, firstMisses: misses },
    losses: { ...tally.counts, details: { lost: tally.lost, unanswered: tally.unanswered, errors: tally.errors, duplicates: tally.duplicates, wrongFile: tally.wrongFile } },
    hostile: tally.hostile,
    ownersReplaced: pool.replaced,
    staleLocks: pool.stale,
    resources: {
      supervisorFds: sampler.verdict((s) => s.supervisorFds, () => true),
      workerFds: sampler.verdict((s) => s.workerFds, () => true),
      supervisorRss: sampler.verdict(mb, rssFlat),
      workerRss: sampler.verdict((s) => s.workerRss, rssFlat),
      quietBefore,
      quietAfter,
    },
    lastActions: chaosLog.slice(-8),
  };
  if (probeStats.missedProbes < 0) base.prober.missedProbes = base.prober.episodes = 0;
  const failures = failuresOf(base);
  if (probeStats.missedProbes < 0) failures.push('the prober did not report (it died?)');
  const report: SoakReport = { passed: failures.length === 0, failures, ...base };
  if (report.passed && !opts.keep) rmSync(runDir, { recursive: true, force: true });
  return report;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  const report = await soak(opts);
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  if (!report.passed) say(`FAILED (seed ${report.seed})`);
  process.exit(report.passed ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed to run: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
