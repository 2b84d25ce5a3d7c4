// CPU time and context switches of a process, summed over its threads, from /proc. Rates on a shared VM swing
// between runs; CPU time per operation and switches per operation much less, so the bench reports both.
import { readFileSync, readdirSync } from 'node:fs';

/** One thread's counters. */
interface TaskCounters {
  /** Time on CPU, ns (first field of /proc/PID/task/TID/schedstat). */
  cpuNs: number;
  voluntary: number;
  involuntary: number;
}

/** All threads of one process at one moment. */
export interface ProcessSample {
  pid: number;
  tasks: Map<number, TaskCounters>;
}

/** What a process did between two samples. */
export interface ProcessUsage {
  cpuNs: number;
  voluntary: number;
  involuntary: number;
  /** Threads present at the first sample and gone at the second: their time after the first sample is lost. */
  exitedTasks: number;
}

/** Reads every thread of `pid`; threads that exit while being read are skipped. Throws if the process is gone. */
export function sampleProcess(pid: number): ProcessSample {
  const tasks = new Map<number, TaskCounters>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const schedstat = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      tasks.set(Number(tid), {
        cpuNs: Number(schedstat.split(' ')[0]),
        voluntary: field(status, 'voluntary_ctxt_switches'),
        involuntary: field(status, 'nonvoluntary_ctxt_switches'),
      });
    } catch {
      // The thread exited between readdir and read.
    }
  }
  return { pid, tasks };
}

/**
 * The difference between two samples of one process. A thread born in between counts from zero (all its time is
 * inside the interval); a thread that died in between is counted in `exitedTasks` and contributes nothing.
 */
export function usageBetween(before: ProcessSample, after: ProcessSample): ProcessUsage {
  const usage: ProcessUsage = { cpuNs: 0, voluntary: 0, involuntary: 0, exitedTasks: 0 };
  for (const [tid, now] of after.tasks) {
    const then = before.tasks.get(tid) ?? { cpuNs: 0, voluntary: 0, involuntary: 0 };
    usage.cpuNs += now.cpuNs - then.cpuNs;
    usage.voluntary += now.voluntary - then.voluntary;
    usage.involuntary += now.involuntary - then.involuntary;
  }
  for (const tid of before.tasks.keys()) if (!after.tasks.has(tid)) usage.exitedTasks++;
  return usage;
}

function field(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
  return m ? Number(m[1]) : 0;
}
