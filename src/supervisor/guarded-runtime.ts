// holdfastd runs only as a guarded image: Node started with --disable-sigusr1 (so SIGUSR1 can never open
// the inspector, a root shell for any local user) and the signal guard preloaded (so no signal can end it
// before its first line). A daemon started without them re-executes itself with them at once, keeping its
// pid, argv and inherited fds; every later image (upgrades, workers) inherits both.
import * as native from '../shared/native';

const DISABLE_SIGUSR1 = '--disable-sigusr1';
// Set for the one re-exec that adds the guard: if the guard is still missing after it, say so, never loop.
const GUARDING_VARIABLE = 'HOLDFASTD_GUARDING';

/** The node flags a holdfast process image is started with. */
export function guardedNodeFlags(execArgv: readonly string[] = []): string[] {
  return execArgv.includes(DISABLE_SIGUSR1) ? [...execArgv] : [DISABLE_SIGUSR1, ...execArgv];
}

/** LD_PRELOAD with the signal guard first (and whatever the operator preloads kept after it). */
export function guardedPreload(current: string | undefined): string {
  const others = (current ?? '').split(/[: ]/).filter((lib) => lib !== '' && lib !== native.signalGuard.path);
  return [native.signalGuard.path, ...others].join(':');
}

/**
 * Returns once this image is guarded; otherwise re-executes it guarded and does not return. Returns a
 * reason when that cannot be done (then refuse to start).
 */
export function ensureGuardedImage(): string | null {
  if (process.execArgv.includes(DISABLE_SIGUSR1) && native.signalGuard.loaded()) {
    delete process.env[GUARDING_VARIABLE];
    return null;
  }
  if (process.env[GUARDING_VARIABLE]) return `the signal guard ${native.signalGuard.path} did not load (LD_PRELOAD=${process.env.LD_PRELOAD ?? ''})`;
  if (/[ :]/.test(native.signalGuard.path)) return `LD_PRELOAD cannot name the signal guard at ${native.signalGuard.path} (a space or colon in its path)`;
  const argv = [process.execPath, ...guardedNodeFlags(process.execArgv), ...process.argv.slice(1)];
  const env = { ...process.env, LD_PRELOAD: guardedPreload(process.env.LD_PRELOAD), [GUARDING_VARIABLE]: '1' };
  // Node marks fds 0-15 close-on-exec at start-up: keep stdio and what was handed to us.
  for (const fd of [0, 1, 2, ...inheritedFds(process.env)]) {
    try {
      native.setCloexec(fd, false);
    } catch {
      // Not open: nothing to keep.
    }
  }
  // Blocked through the exec, a signal stays pending until the next image's guard catches it.
  native.blockGuardedSignals(true);
  try {
    native.execve(process.execPath, argv, Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`));
  } catch (err) {
    native.blockGuardedSignals(false);
    return `cannot re-execute with the signal guard: ${(err as Error).message}`;
  }
  return 'execve returned';
}

// The fds a service manager (LISTEN_FDS) or `holdfastd -d` (HOLDFASTD_READY_FD) passed to this pid.
function inheritedFds(env: NodeJS.ProcessEnv): number[] {
  const fds: number[] = [];
  if (Number(env.LISTEN_PID) === process.pid) {
    const count = Number(env.LISTEN_FDS);
    if (Number.isInteger(count) && count > 0) for (let fd = 3; fd < 3 + count; fd++) fds.push(fd);
  }
  const ready = Number(env.HOLDFASTD_READY_FD);
  if (Number.isInteger(ready) && ready >= 3) fds.push(ready);
  return fds;
}
