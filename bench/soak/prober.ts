// The independent prober: a process of its own that polls byte 0 of every file the soak believes held with
// F_OFD_GETLK for a conflicting write lock, round after round, and reports each instant one was free. It takes
// no lock itself, so what it sees is the daemon's custody only. The same file is the child (run with the flag)
// and the parent-side handle.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { ofdGetLock } from '../../src/shared/platform/native';

/** The first sample of an episode in which a believed-held file was free (or gone). */
export interface ProbeMiss {
  path: string;
  atMs: number;
  kind: 'free' | 'missing';
}

export interface ProbeStats {
  /** Rounds over every watched file. */
  rounds: number;
  /** File probes made. */
  probes: number;
  /** Probes that found a believed-held file free. */
  missedProbes: number;
  /** Distinct stretches of time in which one file was free. */
  episodes: number;
  watched: number;
}

type ToProber = { t: 'watch'; path: string } | { t: 'unwatch'; path: string; id: number } | { t: 'stats'; id: number } | { t: 'stop'; id: number };
type FromProber = { t: 'ready' } | { t: 'ack'; id: number; stats?: ProbeStats } | ({ t: 'miss' } & ProbeMiss);

export interface Prober {
  /** Start probing `path` (its lock is held as of now). */
  watch(path: string): void;
  /** Stop probing `path`; resolves once the prober will not look at it again (only then may it be released). */
  unwatch(path: string): Promise<void>;
  stats(): Promise<ProbeStats>;
  stop(): Promise<ProbeStats>;
}

const FLAG = '--soak-prober';

export async function startProber(pauseMs: number, onMiss: (miss: ProbeMiss) => void): Promise<Prober> {
  const child: ChildProcess = fork(__filename, [FLAG, String(pauseMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const acks = new Map<number, { resolve(stats?: ProbeStats): void; reject(err: Error): void }>();
  let nextId = 1;
  let gone: Error | null = null;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: FromProber) => {
      if (m.t === 'ready') resolve();
      else if (m.t === 'miss') onMiss({ path: m.path, atMs: m.atMs, kind: m.kind });
      else if (m.t === 'ack') {
        acks.get(m.id)?.resolve(m.stats);
        acks.delete(m.id);
      }
    });
    child.once('exit', (code, signal) => {
      gone = new Error(`the prober exited (code ${code}, signal ${signal})`);
      reject(gone);
      // Nobody may go on believing a release is safe: the soak fails loudly instead.
      for (const waiter of acks.values()) waiter.reject(gone);
      acks.clear();
    });
  });
  await ready;
  const request = (message: ToProber & { id: number }): Promise<ProbeStats | undefined> => {
    if (gone) return Promise.reject(gone);
    return new Promise((resolve, reject) => {
      acks.set(message.id, { resolve, reject });
      child.send(message);
    });
  };
  return {
    watch(path) {
      if (!gone) child.send({ t: 'watch', path } satisfies ToProber);
    },
    async unwatch(path) {
      await request({ t: 'unwatch', path, id: nextId++ });
    },
    async stats() {
      return (await request({ t: 'stats', id: nextId++ }))!;
    },
    async stop() {
      const stats = (await request({ t: 'stop', id: nextId++ }))!;
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
      return stats;
    },
  };
}

// ---- child side ----

interface Watched {
  fd: number;
  free: boolean;
}

function probe(pauseMs: number): void {
  const watched = new Map<string, Watched>();
  const stats: ProbeStats = { rounds: 0, probes: 0, missedProbes: 0, episodes: 0, watched: 0 };
  const send = (m: FromProber): void => {
    process.send!(m);
  };
  const open = (path: string): number => {
    try {
      return openSync(path, 'r+');
    } catch {
      return -1;
    }
  };
  const missed = (path: string, w: Watched, kind: ProbeMiss['kind']): void => {
    stats.missedProbes++;
    if (w.free) return;
    w.free = true;
    stats.episodes++;
    send({ t: 'miss', path, atMs: Date.now(), kind });
  };
  process.on('message', (m: ToProber) => {
    if (m.t === 'watch') {
      // A path held twice (shared by two owners) is watched once: the soak's ledger counts holders.
      if (!watched.has(m.path)) watched.set(m.path, { fd: open(m.path), free: false });
    } else if (m.t === 'unwatch') {
      const w = watched.get(m.path);
      if (w && w.fd >= 0) closeSync(w.fd);
      watched.delete(m.path);
      send({ t: 'ack', id: m.id });
    } else if (m.t === 'stats') {
      send({ t: 'ack', id: m.id, stats: { ...stats, watched: watched.size } });
    } else if (m.t === 'stop') {
      send({ t: 'ack', id: m.id, stats: { ...stats, watched: watched.size } });
      process.disconnect();
      process.exit(0);
    }
  });
  // The soak runner is gone: nothing to report to.
  process.on('disconnect', () => process.exit(0));
  const round = (): void => {
    stats.rounds++;
    for (const [path, w] of watched) {
      stats.probes++;
      if (w.fd < 0) w.fd = open(path);
      if (w.fd < 0) missed(path, w, 'missing');
      else if (ofdGetLock(w.fd, 'write', 0, 1) === null) missed(path, w, 'free');
      else w.free = false;
    }
    // Yield every round so watch/unwatch messages are taken promptly.
    if (pauseMs > 0) setTimeout(round, pauseMs);
    else setImmediate(round);
  };
  send({ t: 'ready' });
  round();
}

if (require.main === module && process.argv[2] === FLAG) probe(Number(process.argv[3] ?? 0));
