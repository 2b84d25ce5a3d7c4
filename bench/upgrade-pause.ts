// The pause of a live upgrade (SIGUSR1 → re-exec) as clients feel it: with N held locks and M connected
// clients, a probe client issues requests back to back; the longest wait after the signal is the pause.
// Runs against holdfast and the real virtlockd alike (both upgrade in place on SIGUSR1).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockClient } from '../src/client/lock-client';
import type { DaemonHandle } from '../test/fixtures/daemon-handle';
import { percentile, sleep } from './throughput';

export interface UpgradePauseResult {
  locks: number;
  clients: number;
  pauseMs: number[];
  medianMs: number;
  /** Probe requests never answered (virtlockd drops requests in flight at the exec). */
  lost: number;
}

const OWNERS = 8;
const REQUEST_TIMEOUT_MS = 5000;
const WATCH_AFTER_SIGNAL_MS = 4000;

function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

async function registered(socket: string, n: number): Promise<LockClient> {
  const client = await LockClient.connect(socket);
  // Every client registers: virtlockd 9.0 cannot save an unregistered one and dies on SIGUSR1.
  await client.register({ uuid: uuid(0xb0000 + n), name: `bench-${n}`, id: n + 1, pid: 0x7ff40000 + n });
  return client;
}

/** Runs `trials` upgrades of a daemon started by `start` in `dir`. */
export async function measureUpgradePause(
  start: (dir: string) => Promise<DaemonHandle>,
  dir: string,
  opts: { locks: number; clients: number; trials: number },
): Promise<UpgradePauseResult> {
  const daemon = await start(dir);
  const conns: LockClient[] = [];
  try {
    for (let i = 0; i < OWNERS; i++) conns.push(await registered(daemon.socket, i));
    for (let i = 0; i < opts.locks; i++) {
      const file = join(dir, `held-${i}.img`);
      writeFileSync(file, '');
      await conns[i % OWNERS]!.acquire('', file, 0);
    }
    for (let i = OWNERS; i < opts.clients; i++) conns.push(await registered(daemon.socket, i));
    let probe = await registered(daemon.socket, 9999);
    const pauses: number[] = [];
    let lost = 0;
    for (let trial = 0; trial < opts.trials; trial++) {
      await sleep(1500);
      const signalled = process.hrtime.bigint();
      process.kill(daemon.pid, 'SIGUSR1');
      let longest = 0;
      while (Number(process.hrtime.bigint() - signalled) / 1e6 < WATCH_AFTER_SIGNAL_MS) {
        const t0 = process.hrtime.bigint();
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            probe.createLockspace(''),
            new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('lost')), REQUEST_TIMEOUT_MS))),
          ]);
          longest = Math.max(longest, Number(process.hrtime.bigint() - t0) / 1e6);
        } catch {
          // The reply never came: count it and carry on with a new connection.
          lost++;
          longest = Math.max(longest, REQUEST_TIMEOUT_MS);
          probe.destroy();
          probe = await registered(daemon.socket, 9999);
        } finally {
          clearTimeout(timer);
        }
      }
      pauses.push(longest);
    }
    probe.destroy();
    const sorted = [...pauses].sort((a, b) => a - b);
    return { locks: opts.locks, clients: opts.clients, pauseMs: pauses, medianMs: percentile(sorted, 0.5), lost };
  } finally {
    for (const c of conns) c.destroy();
    await daemon.stop();
  }
}
