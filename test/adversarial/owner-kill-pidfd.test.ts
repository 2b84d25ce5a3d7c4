// Owner kills go through a pidfd taken from the owner's socket, never through its pid number. The owner
// may be gone by the time a kill starts (a worker replacing a crashed one handles the disconnect late) and
// its pid number may then name another process: that process must not be signalled. Modelled with the real
// kernel: the owner connects and exits, and the killer is handed the pid of a live bystander (as if the
// pid had been recycled) with the owner's socket.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import * as native from '../../src/shared/platform/native';
import { OwnerKiller } from '../../src/worker/lock/owner-killer';
import { sleep, waitFor, within } from '../fixtures/deadline';

const log = pino({ level: 'silent' });
const timings = { termGraceMs: 200, giveUpMs: 1000 };

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

// A process that connects to `socket` and stays until its stdin closes (or it is signalled).
function connector(socket: string): ChildProcess {
  const script = `const s = require('net').connect(${JSON.stringify(socket)}, () => process.stdout.write('up')); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  return spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function accepted(listenFd: number): Promise<number> {
  return waitFor(() => native.accept(listenFd), 5_000, 'a connection');
}

test('pidfd_send_signal reaches the process, then refuses once it is gone', async () => {
  const child = spawn('sleep', ['30']);
  const pidfd = native.pidfdOpen(child.pid!);
  try {
    native.pidfdSendSignal(pidfd, 'SIGTERM');
    assert.deepEqual(await within(5_000, 'sleep exit', exitOf(child)), { code: null, signal: 'SIGTERM' });
    assert.throws(() => native.pidfdSendSignal(pidfd, 'SIGTERM'), (err: unknown) => (err as { code?: string }).code === 'ESRCH');
  } finally {
    native.close(pidfd);
  }
});

test('a departed owner\'s pid, now naming another process, is never signalled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-kill-'));
  const socket = join(dir, 'sock');
  const listenFd = native.listenUnix(socket, 8);
  const bystander = spawn('sleep', ['30']);
  let owner: ChildProcess | null = null;
  const fds: number[] = [];
  try {
    // The departed owner: connected, then exited (and reaped).
    owner = connector(socket);
    const departed = owner;
    fds.push(await accepted(listenFd));
    departed.stdin!.end();
    await within(5_000, 'owner exit', exitOf(departed));

    const killer = new OwnerKiller(timings, log);
    const result = await within(5_000, 'kill', killer.kill(bystander.pid!, fds[0]!));
    assert.equal(result, 'gone');
    // A signal sent before kill() settled ends `sleep` at once; 300 ms is ample for its exit to reach us.
    await sleep(300);
    assert.equal(bystander.exitCode, null, 'the bystander was not signalled');
    assert.equal(bystander.signalCode, null, 'the bystander was not signalled');

    // Control: a live owner on its own socket is killed.
    owner = connector(socket);
    const live = owner;
    fds.push(await accepted(listenFd));
    await within(5_000, 'owner connected', new Promise((r) => live.stdout!.once('data', r)));
    assert.equal(await within(5_000, 'kill', killer.kill(live.pid!, fds[1]!)), 'exited');
    assert.deepEqual(await within(5_000, 'owner exit', exitOf(live)), { code: null, signal: 'SIGTERM' });
  } finally {
    bystander.kill('SIGKILL');
    owner?.kill('SIGKILL');
    for (const fd of [listenFd, ...fds]) native.close(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
