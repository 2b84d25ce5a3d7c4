// What /proc says about the daemon's processes: which child is the serving worker, and each process's
// open fds, fd limit and resident memory. Reads that race a process's exit return null.
import { readFileSync, readdirSync } from 'node:fs';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Direct children of `pid` (all its threads' children). */
export function childPids(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((task) => (read(`/proc/${pid}/task/${task}/children`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number));
}

/** The process title (a worker says in it whether it serves or stands by). */
export function commandLine(pid: number): string {
  return (read(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ').trim();
}

/** The one serving worker of the supervisor, or null while there is not exactly one. */
export function servingWorker(supervisorPid: number): number | null {
  const serving = childPids(supervisorPid).filter((pid) => commandLine(pid).startsWith('holdfastd-worker serving'));
  return serving.length === 1 ? serving[0]! : null;
}

export function fdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** The soft RLIMIT_NOFILE of `pid`. */
export function fdSoftLimit(pid: number): number | null {
  const line = (read(`/proc/${pid}/limits`) ?? '').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  if (soft === undefined) return null;
  return soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number | null {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(read(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) * 1024 : null;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
