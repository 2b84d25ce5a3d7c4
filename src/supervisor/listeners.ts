// The listening sockets: taken from systemd-style socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES,
// matched by name) or bound here. The supervisor keeps them for its whole life; workers get duplicates.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import * as native from '../shared/native';
import { isLockStoreName } from './fd-store';

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

/** Binds a unix socket at `socketPath` (mode 0700, parent made if missing), refusing a path in use. */
export async function bindListener(name: ListenerName, socketPath: string, log: Logger): Promise<Listener> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (fs.existsSync(socketPath)) {
    if (await isAnswering(socketPath)) throw new Error(`${socketPath} is in use by another daemon`);
    log.info({ socket: socketPath }, 'removing a stale socket');
    fs.unlinkSync(socketPath);
  }
  // Bind under a tight umask so the socket is never reachable by others, even for an instant.
  const previous = process.umask(0o077);
  let fd: number;
  try {
    fd = native.listenUnix(socketPath, LISTEN_BACKLOG);
  } finally {
    process.umask(previous);
  }
  fs.chmodSync(socketPath, 0o700);
  return { name, fd, boundPath: socketPath };
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
