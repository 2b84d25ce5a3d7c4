// Acquire+release throughput and latency against one lock daemon socket: N concurrent clients, each on its
// own connection and its own file, looping ACQUIRE then RELEASE for a fixed time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockClient } from '../src/client/lock-client';

export interface ThroughputResult {
  clients: number;
  cyclesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

const UUID = '00000000-0000-4000-8000-00000000be0c';

/** Runs `clients` loops for `durationMs` after a short warm-up; latency is per request (acquire or release). */
export async function measureThroughput(socket: string, dir: string, clients: number, durationMs: number): Promise<ThroughputResult> {
  mkdirSync(dir, { recursive: true });
  const connections = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const client = await LockClient.connect(socket);
      // A pid that is not ours: the daemon will never try to kill the bench on disconnect.
      await client.register({ uuid: UUID, name: `bench-${i}`, id: i + 1, pid: 0x7ffff000 + i });
      const file = join(dir, `disk-${clients}-${i}.img`);
      writeFileSync(file, '');
      return { client, file };
    }),
  );
  const latencies: number[] = [];
  let cycles = 0;
  let measuring = false;
  let running = true;
  const loops = connections.map(async ({ client, file }) => {
    while (running) {
      const t0 = process.hrtime.bigint();
      await client.acquire('', file, 0);
      const t1 = process.hrtime.bigint();
      await client.release('', file, 0);
      const t2 = process.hrtime.bigint();
      if (measuring) {
        cycles++;
        latencies.push(Number(t1 - t0) / 1e6, Number(t2 - t1) / 1e6);
      }
    }
  });
  await sleep(Math.min(500, durationMs / 4));
  measuring = true;
  const start = process.hrtime.bigint();
  await sleep(durationMs);
  measuring = false;
  const elapsedSec = Number(process.hrtime.bigint() - start) / 1e9;
  running = false;
  await Promise.all(loops);
  await Promise.all(connections.map(({ client }) => client.close()));
  latencies.sort((a, b) => a - b);
  return { clients, cyclesPerSec: cycles / elapsedSec, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
