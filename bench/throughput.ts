// The project's Node client as a load: N concurrent clients in this process, each on its own connection and its
// own file, looping ACQUIRE then RELEASE. Latency is per request (acquire or release), taken around each await.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LockClient } from '../src/client/lock-client';
import type { Load, LoadOutcome, LoadShape } from './load';

const UUID = '00000000-0000-4000-8000-00000000be0c';

export const nodeClientShape: LoadShape = {
  key: 'node',
  title: "the project's Node client, all connections in the bench process",
  prepare: prepareNodeLoad,
};

async function prepareNodeLoad(socket: string, dir: string, clients: number, idBase: number): Promise<Load> {
  mkdirSync(dir, { recursive: true });
  const connections = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const id = idBase + i;
      const client = await LockClient.connect(socket);
      // A pid that is not ours: the daemon will never try to kill the bench on disconnect.
      await client.register({ uuid: UUID, name: `bench-${id}`, id, pid: 0x7ffff000 + id });
      const file = join(dir, `disk-${id}.img`);
      writeFileSync(file, '');
      return { client, file };
    }),
  );
  const latencies: number[] = [];
  let cycles = 0;
  let errors = 0;
  let measuring = false;
  let running = true;
  let cpuAtMark: NodeJS.CpuUsage | null = null;
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  let loops: Array<Promise<void>> = [];
  const step = async (request: () => Promise<unknown>, into: number[]): Promise<void> => {
    const t0 = process.hrtime.bigint();
    try {
      await request();
    } catch {
      if (measuring) errors++;
    }
    if (measuring) into.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  return {
    go() {
      loops = connections.map(async ({ client, file }) => {
        while (running) {
          await step(() => client.acquire('', file, 0), latencies);
          await step(() => client.release('', file, 0), latencies);
          if (measuring) cycles++;
        }
      });
    },
    mark() {
      measuring = true;
      cpuAtMark = process.cpuUsage();
    },
    endWindow() {
      measuring = false;
      if (cpuAtMark) cpu = process.cpuUsage(cpuAtMark);
    },
    async finish(): Promise<LoadOutcome> {
      running = false;
      await Promise.all(loops);
      await Promise.all(connections.map(({ client }) => client.close()));
      latencies.sort((a, b) => a - b);
      return { cycles, errors, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), clientCpuNs: (cpu.user + cpu.system) * 1000 };
    },
  };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
