// A lock client program as a load: the C client (bench/native/lock-client.c) in two shapes, N processes with one
// connection each (independent clients) or one process holding N connections (libvirtd's shape), and the Python
// client (bench/python/lock-client.py), which speaks the same control protocol, as independent processes. The C
// client is compiled once per bench run with whichever C compiler exists; without one the C shapes are skipped,
// as the Python one is without python3.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sampleProcess, usageBetween, type ProcessSample } from './cpu-sample';
import { histogramPercentileMs, type Load, type LoadOutcome, type LoadShape } from './load';

/** The C source, from dist/bench at run time. */
const SOURCE = join(__dirname, '..', '..', 'bench', 'native', 'lock-client.c');

/** What the client prints when it stops (one JSON line). */
interface ClientReport {
  connections: number;
  cycles: number;
  requests: number;
  errors: number;
  elapsedNs: number;
  p50Ms: number;
  p99Ms: number;
  /** Bucket lower bound in µs -> requests. */
  latencyUs: Record<string, number>;
}

/** Compiles the client into a temporary directory `dir` (the caller removes it); says why not if it could not. */
export function compileLockClient(): { binary: string; dir: string } | { skipped: string } {
  const compiler = ['cc', 'gcc', 'clang'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);
  if (!compiler) return { skipped: 'no C compiler (cc, gcc or clang) on PATH' };
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-client-'));
  const binary = join(dir, 'lock-client');
  const built = spawnSync(compiler, ['-O2', '-Wall', '-o', binary, SOURCE], { encoding: 'utf8' });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skipped: `${compiler} failed on ${SOURCE}: ${built.stderr.trim()}` };
  }
  return { binary, dir };
}

/** The Python client, from dist/bench at run time. */
const PYTHON_SOURCE = join(__dirname, '..', '..', 'bench', 'python', 'lock-client.py');

/** The command that runs the Python client, or why it cannot run here. */
export function pythonLockClient(): { command: string[] } | { skipped: string } {
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  if (found.status !== 0 || !found.stdout.trim()) return { skipped: 'no python3 on PATH' };
  return { command: [found.stdout.trim(), PYTHON_SOURCE] };
}

/**
 * N processes of `connectionsEach` connections; `processes(clients)` says how many for a client count.
 * `command` is the client program and any arguments before its own (an interpreter and its script).
 */
export function nativeShape(command: readonly string[], key: string, title: string, processes: (clients: number) => number): LoadShape {
  return {
    key,
    title,
    prepare: async (socket, dir, clients, idBase) => {
      mkdirSync(dir, { recursive: true });
      const count = processes(clients);
      const each = clients / count;
      const children = await Promise.all(Array.from({ length: count }, (_, p) => startClient(command, socket, join(dir, 'disk-'), each, idBase + p * each)));
      return nativeLoad(children);
    },
  };
}

interface RunningClient {
  child: ChildProcess;
  /** Resolves with the client's last stdout line. */
  report: Promise<string>;
}

async function startClient(command: readonly string[], socket: string, prefix: string, connections: number, idBase: number): Promise<RunningClient> {
  const [program, ...leading] = command;
  const child = spawn(program!, [...leading, socket, prefix, String(connections), String(idBase)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout! });
  // 'close', not 'exit': only then has every line of its stdout been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let last = '';
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      last = line;
      if (line === 'ready') resolve();
    });
    void exited.then((code) => reject(new Error(`lock-client exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
  const report = exited.then((code) => {
    if (code !== 0) throw new Error(`lock-client exited with ${code}: ${stderr.trim()}`);
    return last;
  });
  report.catch(() => {}); // read in finish(); a failure before that surfaces through `ready`
  await ready;
  return { child, report };
}

function nativeLoad(clients: RunningClient[]): Load {
  const send = (letter: string): void => {
    for (const { child } of clients) child.stdin!.write(`${letter}\n`);
  };
  const sample = (): ProcessSample[] => clients.map(({ child }) => sampleProcess(child.pid!));
  let atMark: ProcessSample[] = [];
  let clientCpuNs = 0;
  return {
    go: () => send('g'),
    mark() {
      send('m');
      atMark = sample();
    },
    endWindow() {
      // Sampled before the stop letter: a client exits soon after it.
      const atEnd = sample();
      send('s');
      clientCpuNs = atEnd.reduce((sum, s, i) => sum + usageBetween(atMark[i]!, s).cpuNs, 0);
    },
    async finish(): Promise<LoadOutcome> {
      for (const { child } of clients) child.stdin!.end();
      const reports = (await Promise.all(clients.map((c) => c.report))).map((line) => JSON.parse(line) as ClientReport);
      const histogram = new Map<number, number>();
      for (const r of reports) for (const [us, n] of Object.entries(r.latencyUs)) histogram.set(Number(us), (histogram.get(Number(us)) ?? 0) + n);
      return {
        cycles: reports.reduce((sum, r) => sum + r.cycles, 0),
        errors: reports.reduce((sum, r) => sum + r.errors, 0),
        p50Ms: histogramPercentileMs(histogram, 0.5),
        p99Ms: histogramPercentileMs(histogram, 0.99),
        clientCpuNs,
      };
    },
  };
}
