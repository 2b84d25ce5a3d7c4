// The directories that hold the daemon's own files (pid file, state document, fd-store journal, sockets) must
// be the daemon's: anyone else who can write one can plant a symlink or a forged file where root will write,
// unlink or read. Owned by the daemon's uid or by root, and writable by neither group nor others (a sticky
// /tmp included: it still lets others create the names we are about to use).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A directory that may not hold the daemon's files; the message says which and why. */
export class UnsafeDirectoryError extends Error {
  override readonly name = 'UnsafeDirectoryError';
}

export interface PrivateDirOptions {
  /** Make it (parents too) when missing: mode 0755 for root as virtlockd does, 0700 for any other user. */
  create: boolean;
  /** `what` names the files it holds in messages ("pid file", "socket"...). */
  what: string;
  /** The daemon's effective uid (default: this process's). */
  uid?: number;
}

/** Checks (and with `create`, makes) `dir`; throws UnsafeDirectoryError when someone else could write in it. */
export function ensurePrivateDir(dir: string, opts: PrivateDirOptions): void {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  // A user's runtime dir (e.g. the ~/.cache/libvirt fallback) is nobody else's business.
  if (opts.create) makeDirs(dir, uid === 0 ? 0o755 : 0o700);
  let link: fs.Stats;
  let stat: fs.Stats;
  try {
    link = fs.lstatSync(dir);
    stat = link.isSymbolicLink() ? fs.statSync(dir) : link;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!opts.create && (code === 'ENOENT' || code === 'ENOTDIR')) return;
    throw err;
  }
  const trusted = (owner: number): boolean => owner === uid || owner === 0;
  // Whoever owns a symlink can point it elsewhere at any time.
  if (link.isSymbolicLink() && !trusted(link.uid)) {
    throw new UnsafeDirectoryError(`refusing ${dir} for the ${opts.what}: it is a symbolic link owned by uid ${link.uid}, not by uid ${uid} or root`);
  }
  if (!stat.isDirectory()) {
    if (!opts.create) return; // not a directory: nothing can be written there, and the write says so
    throw new UnsafeDirectoryError(`refusing ${dir} for the ${opts.what}: not a directory`);
  }
  if (!trusted(stat.uid)) {
    throw new UnsafeDirectoryError(`refusing ${dir} for the ${opts.what}: it is owned by uid ${stat.uid}, not by uid ${uid} or root`);
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new UnsafeDirectoryError(
      `refusing ${dir} for the ${opts.what}: it is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)}); use a directory only the daemon's user can write`,
    );
  }
}

// mkdir -p, one component at a time. Node's own recursive mkdir retries forever where mkdir keeps failing
// with ENOENT though the parent exists (procfs, sysfs): a daemon pointed at /proc/x would spin, not fail.
function makeDirs(dir: string, mode: number): void {
  const parts = path.resolve(dir).split('/').filter((part) => part !== '');
  let at = '';
  for (const part of parts) {
    at += `/${part}`;
    try {
      fs.mkdirSync(at, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
