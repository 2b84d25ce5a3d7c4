// SIGUSR1: re-execute the supervisor in place (same pid, same argv) from the code now on disk, carrying
// every lock and connection across the exec as inherited fds described by the restart-exec document.
// Never worse than before: if the document does not check out with the new binary, or execve fails,
// nothing has changed and the caller resumes serving.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as native from '../../shared/platform/native';
import type { StateDocument } from './state-document';
import { writeStateFile } from './state-file';
import { guardedNodeFlags, guardedPreload } from '../guarded-runtime';

/** Set in the environment of the new image: it came from an upgrade, not a fresh start. */
export const REEXEC_VARIABLE = 'HOLDFASTD_REEXEC';

const DAEMON_MAIN = path.join(__dirname, '..', '..', 'cli', 'holdfastd.js');
const CHECK_TIMEOUT_MS = 30_000;

// Variables meant for this pid only (the service manager's watchdog): taken out of process.env so no
// worker inherits them, and put back for the exec, which keeps the pid.
const carried = new Map<string, string>();

/** Puts `name=value` in the environment of the new image after an upgrade, and nowhere else. */
export function carryAcrossExec(name: string, value: string): void {
  carried.set(name, value);
}

export interface ReexecPlan {
  stateFile: string;
  document: StateDocument;
  /** Every fd the new image must inherit besides stdio. */
  keepFds: number[];
}

/**
 * Has the binary now on disk check a document of ours (written beside the real one, while the worker still
 * serves, so the check costs clients nothing) and the configuration of our flags. Returns why it refused, or null.
 */
export async function checkWithBinaryOnDisk(stateFile: string, document: StateDocument): Promise<string | null> {
  const trial = `${stateFile}.check`;
  try {
    writeStateFile(trial, document, { trial: true });
  } catch (err) {
    return `cannot write the state document: ${(err as Error).message}`;
  }
  // Structure only: the fds it names come and go while the worker serves; the new image re-checks each
  // lock it adopts.
  const outcome = await new Promise<{ code: number | null; output: string }>((resolve) => {
    // Guarded like every process of ours: a signal to the whole service must not end or open it.
    const env = { ...process.env, LD_PRELOAD: guardedPreload(process.env.LD_PRELOAD) };
    // With our own flags: the new image must also accept the configuration they name (it is read anew
    // after the exec, and refusing it then would drop every inherited lock).
    execFile(process.execPath, [...guardedNodeFlags(), DAEMON_MAIN, ...process.argv.slice(2), '--check-state', trial], { timeout: CHECK_TIMEOUT_MS, killSignal: 'SIGKILL', encoding: 'utf8', env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number | null) ?? 1 : 0, output: `${stdout}${stderr}` });
    });
  });
  fs.rmSync(trial, { force: true });
  if (outcome.code === 0) return null;
  const config = /^configuration: REJECTED: (.*)$/m.exec(outcome.output);
  if (config) return `the binary on disk refused the configuration: ${config[1]}`;
  return `the binary on disk refused the state document (exit ${outcome.code}): ${outcome.output.trim().split('\n').slice(-3).join(' | ')}`;
}

/**
 * Writes the document and execs. Returns (with the reason) only on failure, having changed nothing. The
 * caller has armed native.execLatch: a stop signal that already came cancels the exec.
 */
export function reexec(plan: ReexecPlan): string {
  try {
    writeStateFile(plan.stateFile, plan.document);
  } catch (err) {
    return `cannot write the state document: ${(err as Error).message}`;
  }
  // Node marks fds close-on-exec, stdio included: clear the flag on exactly what must survive.
  const keep = [0, 1, 2, ...plan.keepFds];
  for (const fd of keep) native.setCloexec(fd, false);
  const argv = [process.execPath, ...guardedNodeFlags(process.execArgv), ...process.argv.slice(1)];
  const environment = { ...process.env, LD_PRELOAD: guardedPreload(process.env.LD_PRELOAD), ...Object.fromEntries(carried), [REEXEC_VARIABLE]: '1' };
  const undo = (): void => {
    for (const fd of plan.keepFds) native.setCloexec(fd, true);
    fs.rmSync(plan.stateFile, { force: true });
  };
  // The last moment a stop can still win: from here any signal stays pending through the exec.
  const stop = native.execLatch.hold();
  if (stop) {
    undo();
    return `${stop} arrived: stopping instead`;
  }
  try {
    // The addon's execve on every Node: the signal mask this thread holds must cross it untouched.
    native.execve(process.execPath, argv, Object.entries(environment).map(([k, v]) => `${k}=${v ?? ''}`));
  } catch (err) {
    undo();
    return `execve failed: ${(err as Error).message}`;
  }
  return 'execve returned';
}
