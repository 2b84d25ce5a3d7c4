// sd_notify as systemd would see it: a test-local datagram socket plays $NOTIFY_SOCKET.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Poller, bindUnixDatagram, close, recvWithFds } from '../../src/shared/native';
import { startHoldfast } from '../fixtures/holdfast-daemon';

test('READY=1 once serving; RELOADING=1 then READY=1 around a SIGUSR1 upgrade; MAINPID stays the supervisor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-notify-'));
  const address = `@holdfast-test-notify-${process.pid}`;
  const fd = bindUnixDatagram(address);
  const received: string[] = [];
  const poller = new Poller(fd, () => {
    for (let m = recvWithFds(fd, 4096); m !== null; m = recvWithFds(fd, 4096)) received.push(m.data.toString());
  });
  poller.start(Poller.READABLE);
  const daemon = await startHoldfast({ dir, env: { NOTIFY_SOCKET: address } });
  try {
    const waitFor = async (pattern: RegExp, count: number): Promise<void> => {
      for (let i = 0; i < 1500 && received.filter((r) => pattern.test(r)).length < count; i++) await new Promise((r) => setTimeout(r, 20));
    };
    await waitFor(/READY=1/, 1);
    assert.match(received[0] ?? '', /^READY=1\nMAINPID=\d+\nSTATUS=serving/);
    assert.ok(received[0]!.includes(`MAINPID=${daemon.pid}`));
    process.kill(daemon.pid, 'SIGUSR1');
    await waitFor(/READY=1/, 2);
    const states = received.map((r) => r.split('\n')[0]);
    assert.deepEqual(states, ['READY=1', 'RELOADING=1', 'READY=1']);
    assert.match(received[1]!, /MONOTONIC_USEC=\d+/);
    assert.ok(received[2]!.includes(`MAINPID=${daemon.pid}`), 'the supervisor pid changed across the upgrade');
  } finally {
    await daemon.stop();
    poller.close();
    close(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
