// Every process image holdfastd starts itself (a worker, the next image of an upgrade) runs guarded: Node
// started with --disable-sigusr1 (so SIGUSR1 can never open the inspector, a root shell for any local user)
// and the signal guard preloaded (so no signal can end it before its first line). The first image gets the
// flag from its command line (the holdfastd script's interpreter line, the units, npm start) and the
// guard's handlers at its first line.
import * as native from '../shared/platform/native';

const DISABLE_SIGUSR1 = '--disable-sigusr1';

/** The node flags a holdfast process image is started with. */
export function guardedNodeFlags(execArgv: readonly string[] = []): string[] {
  return execArgv.includes(DISABLE_SIGUSR1) ? [...execArgv] : [DISABLE_SIGUSR1, ...execArgv];
}

/** LD_PRELOAD with the signal guard first (and whatever the operator preloads kept after it). */
export function guardedPreload(current: string | undefined): string {
  // LD_PRELOAD splits on spaces and colons: a guard at such a path cannot be named (the first line's
  // handlers still cover the image from there on).
  if (/[ :]/.test(native.signalGuard.path)) return current ?? '';
  const others = (current ?? '').split(/[: ]/).filter((lib) => lib !== '' && lib !== native.signalGuard.path);
  return [native.signalGuard.path, ...others].join(':');
}
