// Node without --disable-sigusr1 (20 and older) cannot keep a SIGUSR1 that lands before the first line from
// opening its inspector: holdfastd refuses to start there, with one line saying why, before anything else
// loads (checked against the machine's own Node when it is such a one). On a supported Node every image the
// daemon starts itself runs with the flag and the signal guard.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../fixtures/deadline';
import { HOLDFASTD, startHoldfast } from '../fixtures/holdfast-daemon';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';

// .ci/run fetches Node 20 for this and names it in HOLDFAST_OLD_NODE; elsewhere the machine's own node.
const OLD_NODE = process.env.HOLDFAST_OLD_NODE ?? '/usr/bin/node';
const WITHOUT_FLAG = join(__dirname, '..', 'fixtures', 'runtime-without-sigusr1-flag.js');

function canDisableSigusr1(node: string): boolean {
  const probe = spawnSync(node, ['-p', "process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')"], { encoding: 'utf8' });
  return probe.stdout.trim() === 'true';
}

/**
 * How to run holdfastd on a Node that cannot disable SIGUSR1: a real old one where the machine has it, else
 * this Node made to report the old runtime's flags (the refusal reads nothing else).
 */
function oldRuntime(): { node: string; args: string[] } {
  if (existsSync(OLD_NODE) && !canDisableSigusr1(OLD_NODE)) return { node: OLD_NODE, args: [] };
  // CI always has a real one (see above): never let the check pass there on the stand-in.
  assert.equal(process.env.HOLDFAST_OLD_NODE, undefined, `HOLDFAST_OLD_NODE=${OLD_NODE} is not a Node that lacks --disable-sigusr1`);
  return { node: process.execPath, args: ['--require', WITHOUT_FLAG] };
}

test('on a Node that cannot disable its SIGUSR1 inspector trigger, holdfastd refuses to start in one line', (t) => {
  const runtime = oldRuntime();
  t.diagnostic(`runtime: ${runtime.node} ${runtime.args.join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-old-node-'));
  try {
    const run = spawnSync(runtime.node, [...runtime.args, HOLDFASTD, '--run-dir', join(dir, 'run')], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 2, `exit ${run.status} (signal ${run.signal}): ${run.stderr}`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^holdfastd: Node v\d+\.\d+\.\d+ cannot keep SIGUSR1 from opening its inspector .* Node 22\.14\+ or 24$/);
    // Refused before doing anything: no run directory, socket or pid file.
    assert.equal(existsSync(join(dir, 'run')), false, `it created ${readdirSync(dir).join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function guarded(pid: number): { flag: boolean; guard: boolean } {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return { flag: argv.includes('--disable-sigusr1'), guard: readFileSync(`/proc/${pid}/maps`, 'utf8').includes('signal_guard.so') };
}

test('every process image the daemon starts runs guarded: --disable-sigusr1 and the signal guard preloaded', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-guarded-'));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
  try {
    const worker = await workerPid(daemon.pid);
    // A worker retitles itself (ps shows its role), which hides its argv: only the guard shows from outside.
    assert.equal(guarded(worker).guard, true, 'the worker');
    process.kill(daemon.pid, 'SIGUSR1');
    await waitFor(() => /upgraded: restored every lock and client/.test(daemon.logs()), 20_000, 'the upgrade');
    assert.deepEqual(guarded(daemon.pid), { flag: true, guard: true }, 'the supervisor after an upgrade');
    const next = await nextWorkerPid(daemon.pid, worker);
    assert.equal(guarded(next).guard, true, 'the worker of the new image');
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
