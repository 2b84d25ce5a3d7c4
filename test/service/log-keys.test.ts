// Every JSON line a daemon writes in a representative life (start, clients, locks, a refused admin call, a
// log-level change, a worker swap, an upgrade, an owner that disconnects holding a lock, a stop) has each
// key once: scanned raw, since JSON.parse keeps the last of two and hides the first. The daemon's pid is
// `pid`; a client's or owner's has its own name. The start line names every socket and the pid file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { duplicateKeys } from '../fixtures/duplicate-keys';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { startOwnerProcess } from '../fixtures/owner-process';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js');

function holdfast(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
  });
}

type Line = Record<string, unknown> & { msg: string };

test('no JSON log line of a representative run carries a key twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-log-keys-'));
  try {
    // Debug: every line the daemon has, from supervisor and workers, on its stderr.
    const daemon = await startHoldfast({ dir, config: 'log_level = 1\n' });
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, '');
    const owner = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk }] }).catch(async (err: unknown) => {
      await daemon.stop();
      throw err;
    });
    try {
      const cli = (...args: string[]) => holdfast(['--run-dir', dir, ...args]);
      for (const args of [['status'], ['locks'], ['who', disk], ['log-level', '3'], ['log-level', '1'], ['swap-worker'], ['upgrade']]) {
        const run = await cli(...args);
        assert.ok(run.code === 0 || (args[0] === 'who' && run.code === 1), `holdfast ${args.join(' ')}: ${run.code} ${run.stderr}`);
      }
      assert.equal((await cli('log-level', 'loud')).code, 2);
      // An owner gone with its lock: the daemon kills nothing (it is gone) but logs the release.
      await owner.dispose();
      await cli('status');
    } finally {
      await owner.dispose();
      await daemon.stop();
    }

    const raw = daemon.logs().split('\n').filter((l) => l !== '');
    assert.ok(raw.length > 20, `a run of this size logs more than ${raw.length} lines`);
    const lines: Line[] = [];
    for (const text of raw) {
      assert.deepEqual(duplicateKeys(text), [], `duplicate keys in: ${text}`);
      lines.push(JSON.parse(text) as Line);
    }
    const find = (msg: string): Line[] => lines.filter((l) => l.msg === msg);

    for (const l of lines) assert.ok(l.pid === daemon.pid || typeof l.pid === 'number', 'every line has the writer\'s pid');
    const serving = find('holdfastd serving');
    assert.ok(serving.length >= 1);
    assert.equal(serving[0]!.pid, daemon.pid);
    assert.equal(serving[0]!.socket, join(dir, 'holdfastd-sock'));
    assert.equal(serving[0]!.adminSocket, join(dir, 'holdfastd-admin-sock'));
    assert.equal(serving[0]!.pidFile, join(dir, 'holdfastd.pid'));
    const connected = find('client connected');
    assert.ok(connected.some((l) => l.peerPid === owner.pid), 'the owner\'s pid is its peerPid');
    assert.ok(connected.every((l) => l.pid !== owner.pid), 'pid stays the writer\'s');
    const changed = find('log level changed by an admin client');
    // Set to warning, then back to debug: only the second change passes the info threshold (worker and supervisor).
    assert.ok(changed.length >= 1);
    assert.ok(changed.every((l) => l.level === 30 && l.priority === 1), JSON.stringify(changed));
    assert.ok(changed.some((l) => l.previousPriority === 3));
    assert.ok(find('worker swapped').length >= 1);
    assert.ok(lines.some((l) => /^upgraded/.test(l.msg)), 'the upgrade is logged');
    const stopped = find('stopped');
    assert.equal(stopped.length, 1);
    assert.equal(stopped[0]!.pid, daemon.pid);
    assert.equal(stopped[0]!.signal, 'SIGTERM');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
