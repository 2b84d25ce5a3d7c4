// The listening sockets: taken from systemd-style socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES,
// matched by name) or bound here. The supervisor keeps them for its whole life; workers get duplicates.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { isLockStoreName } from '../fd-store/fd-store';
import { ensurePrivateDir } from './private-dir';

export type ListenerName = 'lock' | 'admin';

export interface Listener {
  name: ListenerName;
  fd: number;
  /** The socket path when we bound it (and so unlink it on a clean stop); null when activated. */
  boundPath: string | null;
}

const FIRST_ACTIVATED_FD = 3;
const LISTEN_BACKLOG = 128;

// Unit names systemd may give the sockets (ours and, for a drop-in replacement, virtlockd's).
const ACTIVATION_NAMES: Record<string, ListenerName> = {
  'holdfastd.socket': 'lock',
  'virtlockd.socket': 'lock',
  'holdfastd-admin.socket': 'admin',
  'virtlockd-admin.socket': 'admin',
};

/** A lock fd systemd's fd store handed back (named as fd-store.ts names them). */
export interface StoredLockFd {
  name: string;
  fd: number;
}

/**
 * Reads and clears the activation variables; returns the activated listeners (empty when not activated).
 * Lock fds handed back from systemd's fd store go to `storedLocks`.
 */
export function takeActivatedListeners(env: NodeJS.ProcessEnv, log: Logger, storedLocks: StoredLockFd[] = []): Listener[] {
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  const names = (env.LISTEN_FDNAMES ?? '').split(':').filter((n) => n !== '');
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== process.pid || !Number.isInteger(count) || count <= 0) return [];
  const listeners: Listener[] = [];
  for (let i = 0; i < count; i++) {
    const fd = FIRST_ACTIVATED_FD + i;
    const fdName = names[i] ?? '';
    if (isLockStoreName(fdName)) {
      native.setCloexec(fd, true);
      storedLocks.push({ name: fdName, fd });
      continue;
    }
    // Without names, virtlockd's convention: the first is the lock socket, the second the admin socket.
    const name = names.length > 0 ? ACTIVATION_NAMES[names[i] ?? ''] : i === 0 ? 'lock' : i === 1 ? 'admin' : undefined;
    if (!name) {
      log.warn({ fd, fdName: names[i] }, 'ignoring an activated socket with an unknown name');
      // Kept open (it may be someone's), but never inherited by a worker.
      try {
        native.setCloexec(fd, true);
      } catch {
        // Not open after all: nothing to keep.
      }
      continue;
    }
    native.setCloexec(fd, true);
    native.setNonblock(fd, true);
    listeners.push({ name, fd, boundPath: null });
  }
  return listeners;
}

/**
 * Binds a unix socket at `socketPath` (mode 0700, parent made if missing, and refused unless it is the
 * daemon's own), refusing a path in use. Only a stale socket is removed: a symlink or any other file there
 * is refused, never unlinked or followed.
 */
export async function bindListener(name: ListenerName, socketPath: string, log: Logger): Promise<Listener> {
  ensurePrivateDir(path.dirname(socketPath), { create: true, what: 'socket' });
  const existing = lstatOrNull(socketPath);
  if (existing?.isSymbolicLink()) throw new Error(`${socketPath} is a symbolic link; refusing to replace it with a socket`);
  if (existing && !existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  if (existing) {
    if (await isAnswering(socketPath)) throw new Error(`${socketPath} is in use by another daemon`);
    log.info({ socket: socketPath }, 'removing a stale socket');
    fs.unlinkSync(socketPath);
  }
  // Bind under a tight umask: the socket is made mode 0700 and is never reachable by others, even for an
  // instant (no chmod by path afterwards: that would follow whatever is at the path by then).
  const previous = process.umask(0o077);
  let fd: number;
  try {
    fd = native.listenUnix(socketPath, LISTEN_BACKLOG);
  } finally {
    process.umask(previous);
  }
  return { name, fd, boundPath: socketPath };
}

/** On a clean stop: removes the socket we bound, and nothing else that may have taken its place. */
export function unlinkBoundSocket(socketPath: string): void {
  try {
    if (lstatOrNull(socketPath)?.isSocket()) fs.unlinkSync(socketPath);
  } catch {
    // Gone already, or not removable: nothing to clean.
  }
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
