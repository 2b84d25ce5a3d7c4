// While the daemon kills a disconnected owner that ignores SIGTERM, how long does another client wait?
// virtlockd kills on its only thread (up to 3 s); holdfast should not stall at all.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockClient } from '../src/client/lock-client';
import { startOwnerProcess } from '../test/fixtures/owner-process';
import { sleep } from './throughput';

export interface StallResult {
  /** Longest wait of a bystander request while the owner was being killed. */
  maxWaitMs: number;
  requests: number;
}

export async function measureOwnerKillStall(socket: string, dir: string): Promise<StallResult> {
  const disk = join(dir, 'owner-kill.img');
  writeFileSync(disk, '');
  const owner = await startOwnerProcess({ socket, acquire: [{ lockspace: '', name: disk }], ignoreTerm: true });
  const bystander = await LockClient.connect(socket);
  await bystander.register({ uuid: '00000000-0000-4000-8000-0000000057a1', name: 'bystander', id: 99, pid: 0x7fffe000 });
  let maxWaitMs = 0;
  let requests = 0;
  let running = true;
  const probing = (async () => {
    while (running) {
      const t0 = process.hrtime.bigint();
      await bystander.createLockspace('');
      const waited = Number(process.hrtime.bigint() - t0) / 1e6;
      maxWaitMs = Math.max(maxWaitMs, waited);
      requests++;
      await sleep(1);
    }
  })();
  await sleep(50);
  await owner.closeConnection();
  await owner.exited;
  await sleep(100);
  running = false;
  await probing;
  await bystander.close();
  return { maxWaitMs, requests };
}
