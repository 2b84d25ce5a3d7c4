// Signals swept across an upgrade's exec window (issue cases 1-3): from the SIGUSR1 that starts it, through
// the execve, to well past the new image's first line, a signal lands every half millisecond. Under a
// 16-client load with locks held: no held lock is ever free (independent prober), every request is answered
// exactly once, nothing opens Node's inspector, the supervisor keeps its pid, its fds come back to the
// baseline and its memory and the worker's stay where they were. A stop signal swept the same way stops
// the daemon, whatever the instant.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LockClient } from '../../src/client/lock-client';
import { sleep, waitFor } from '../fixtures/deadline';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { inspectorListening } from '../fixtures/inspector';
import { runSignalStorm } from '../fixtures/signal-storm';
import { residentMiB, workerPid } from '../fixtures/process-info';
import { underLoad } from '../custody/custody-harness';

const UPGRADED = /upgraded: restored every lock and client/g;
// Long enough to span the exec by far: the exec comes after the pre-exec check of the new image, which also
// checks the configuration it will read (about 1.3 s into the storm, seen under a SIGUSR2 storm).
const STORM_MS = 3000;

for (const signal of ['SIGUSR2', 'SIGHUP', 'SIGUSR1'] as const) {
  test(`${signal} every 0.5 ms across an upgrade's exec: nothing lost, no inspector, same pid`, { timeout: 60_000 }, async (t) => {
    await underLoad(`storm-${signal}`, async ({ daemon }) => {
      const upgradesBefore = (daemon.logs().match(UPGRADED) ?? []).length;
      const rssBefore = residentMiB(daemon.pid) + residentMiB(await workerPid(daemon.pid));
      const storm = runSignalStorm({ pid: daemon.pid, signal, stepMs: 0.5, durationMs: STORM_MS });
      await storm.ready;
      if (signal !== 'SIGUSR1') process.kill(daemon.pid, 'SIGUSR1');
      const report = await storm.report;
      t.diagnostic(`sent ${report.sent} (${report.sentBeforeExec} before the exec, ${report.sentAfterExec} after, the last ${report.lastAfterExecMs?.toFixed(1)} ms after it)`);
      assert.equal(report.targetGone, false, `the supervisor died of ${signal}:\n${daemon.logs().slice(-2000)}`);
      assert.notEqual(report.execSeenAtMs, null, 'the storm never saw the exec');
      assert.ok(report.sentBeforeExec > 0 && (report.lastAfterExecMs ?? 0) >= 300, 'the storm did not span the exec window');
      await waitFor(() => (daemon.logs().match(UPGRADED) ?? []).length > upgradesBefore, 20_000, 'the upgrade');
      await workerPid(daemon.pid, 15_000);
      assert.equal(inspectorListening(), false, 'something listens on 9229');
      assert.equal(daemon.process.exitCode, null);
      assert.equal(daemon.process.signalCode, null);
      // A storm queues, it never piles up: the new image and its worker (fresh, then warmed by the load)
      // stay within half again of what the old ones held.
      await sleep(1000);
      const rssAfter = residentMiB(daemon.pid) + residentMiB(await workerPid(daemon.pid, 15_000));
      t.diagnostic(`RSS of supervisor + worker: ${rssBefore.toFixed(1)} MiB before, ${rssAfter.toFixed(1)} MiB after`);
      assert.ok(rssAfter <= rssBefore * 1.5 + 16, `RSS grew from ${rssBefore.toFixed(1)} to ${rssAfter.toFixed(1)} MiB`);
    }, (s) => t.diagnostic(s));
  });
}

// Sweep points after the exec (ms): the first instants (dynamic loader, Node's own start-up) in fine steps,
// then the restore and the first line.
const STOP_OFFSETS = [0, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256];

test('SIGTERM at any instant after an upgrade\'s exec stops the daemon', { timeout: 120_000 }, async (t) => {
  for (const offsetMs of STOP_OFFSETS) {
    const dir = mkdtempSync(join(tmpdir(), 'holdfast-stop-sweep-'));
    const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
    try {
      const sender = runSignalStorm({ pid: daemon.pid, signal: 'SIGTERM', offsetMs, durationMs: 10_000 });
      await sender.ready;
      process.kill(daemon.pid, 'SIGUSR1');
      const report = await sender.report;
      assert.notEqual(report.execSeenAtMs, null, `no exec seen (offset ${offsetMs} ms)`);
      assert.equal(report.sent, 1);
      const exit = await Promise.race([daemon.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000).unref())]);
      t.diagnostic(`offset ${offsetMs} ms: ${JSON.stringify(exit)}`);
      // A stop: the graceful one, or (from Node's own start-up until the first line) Node's SIGTERM exit.
      assert.ok(exit !== 'still running' && (exit.code === 0 || exit.signal === 'SIGTERM'), `offset ${offsetMs} ms: ${JSON.stringify(exit)}\n${daemon.logs().slice(-2000)}`);
    } finally {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

// Every signal whose default action would end a process, sent to the supervisor and to the serving worker
// while a lock is held: both live on, the lock stays held, the daemon answers. (SIGUSR1/SIGUSR2 act and are
// covered above; the stop signals stop.)
const FATAL_BY_DEFAULT = ['SIGHUP', 'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGIO', 'SIGPWR', 'SIGSYS', 'SIGSTKFLT', 'SIGTRAP', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT', 'SIGPIPE', 'SIGXFSZ'] as const;
const REALTIME = [34, 40, 50, 64];

test('no signal with a fatal default action ends the supervisor or a worker', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-fatal-signals-'));
  const daemon = await startHoldfast({ dir, extraArgs: ['-v'] });
  try {
    const holder = await LockClient.connect(daemon.socket);
    await holder.register({ uuid: '00000000-0000-4000-8000-00000000a11f', name: 'holder', id: 7, pid: 0x7ff10001 });
    const disk = join(dir, 'disk.img');
    await holder.acquire('', disk, 2 /* AUTOCREATE */);
    const worker = await workerPid(daemon.pid);
    for (const target of [daemon.pid, worker]) {
      for (const signal of FATAL_BY_DEFAULT) process.kill(target, signal);
      for (const signo of REALTIME) process.kill(target, signo);
    }
    // A signal's default action takes effect when the process is next scheduled, long before 500 ms, and
    // the child's exit reaches us soon after: a death shows here.
    await sleep(500);
    assert.equal(daemon.process.exitCode, null, daemon.logs().slice(-2000));
    assert.equal(await workerPid(daemon.pid), worker, 'the worker died of a signal');
    // The lock is still held: a second owner is refused.
    const other = await LockClient.connect(daemon.socket);
    await other.register({ uuid: '00000000-0000-4000-8000-00000000a120', name: 'other', id: 8, pid: 0x7ff10002 });
    await assert.rejects(other.acquire('', disk, 0), /busy/i);
    await other.close();
    await holder.close();
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
