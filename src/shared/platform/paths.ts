// Default locations of the sockets, pid file and restart-exec state file: virtlockd's for root and
// for other users, or everything under one directory with --run-dir. Pure: computes paths, creates nothing.
//
// virtlockd 9.0 (lock_daemon.c main, virDaemonUnixSocketPaths, virPidFileConstructPath,
// virLockDaemonExecRestartStatePath; checked against /usr/sbin/virtlockd run as root and as nobody):
//   root:  /run/libvirt/virtlockd-sock, /run/libvirt/virtlockd-admin-sock, /run/virtlockd.pid,
//          /run/virtlockd-restart-exec.json (pid and state file are NOT under /run/libvirt)
//   user:  <rt>/virtlockd-sock, <rt>/virtlockd-admin-sock, <rt>/virtlockd.pid, <rt>/virtlockd-restart-exec.json
//          where <rt> = $XDG_RUNTIME_DIR/libvirt, or ${XDG_CACHE_HOME:-$HOME/.cache}/libvirt when
//          XDG_RUNTIME_DIR is unset or empty (glib's g_get_user_runtime_dir fallback).

import os from 'node:os';
import path from 'node:path';

/** Where holdfastd puts its sockets and files. All paths are absolute. */
export interface DaemonPaths {
  /** Lock protocol socket (virtlockd-sock). */
  socket: string;
  /** Admin protocol socket (virtlockd-admin-sock). */
  adminSocket: string;
  /** Restart-exec state document, written before a re-exec and unlinked right after reading it. */
  stateFile: string;
  pidFile: string;
  /** The directory the daemon must create (mode 0755 for root as virtlockd does, 0700 otherwise) before binding. */
  runDir: string;
}

/** Inputs of {@link defaultPaths}. */
export interface PathOptions {
  /** Effective uid; 0 means the system daemon layout. */
  uid: number;
  /** --run-dir: every path under this directory, with holdfastd names. Relative paths resolve against the cwd. */
  runDir?: string;
  /** Environment to read XDG_RUNTIME_DIR, XDG_CACHE_HOME and HOME from. */
  env: NodeJS.ProcessEnv;
}

/**
 * The fd-store journal (what each lock fd stored with systemd stands for) beside the state file: under /run
 * for root (/run/holdfastd-fd-store.json), in the run directory otherwise.
 */
export function fdStoreJournalPath(stateFile: string): string {
  return path.join(path.dirname(stateFile), 'holdfastd-fd-store.json');
}

/** The directory libvirt's virGetUserRuntimeDirectory would pick for a non-root user. */
function userRuntimeDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'libvirt');
  const cache = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'libvirt');
}

/**
 * Computes the default paths.
 * - `runDir` given: `<runDir>/holdfastd-sock`, `holdfastd-admin-sock`, `holdfastd-restart-exec.json`, `holdfastd.pid`.
 * - uid 0: virtlockd's system paths.
 * - any other uid: virtlockd's per-user paths.
 */
export function defaultPaths(opts: PathOptions): DaemonPaths {
  if (opts.runDir !== undefined) {
    // Absolute, because the state file path must stay valid across a re-exec and in log lines.
    const dir = path.resolve(opts.runDir);
    return {
      socket: path.join(dir, 'holdfastd-sock'),
      adminSocket: path.join(dir, 'holdfastd-admin-sock'),
      stateFile: path.join(dir, 'holdfastd-restart-exec.json'),
      pidFile: path.join(dir, 'holdfastd.pid'),
      runDir: dir,
    };
  }
  if (opts.uid === 0) {
    return {
      socket: '/run/libvirt/virtlockd-sock',
      adminSocket: '/run/libvirt/virtlockd-admin-sock',
      stateFile: '/run/virtlockd-restart-exec.json',
      pidFile: '/run/virtlockd.pid',
      runDir: '/run/libvirt',
    };
  }
  const dir = path.resolve(userRuntimeDir(opts.env));
  return {
    socket: path.join(dir, 'virtlockd-sock'),
    adminSocket: path.join(dir, 'virtlockd-admin-sock'),
    stateFile: path.join(dir, 'virtlockd-restart-exec.json'),
    pidFile: path.join(dir, 'virtlockd.pid'),
    runDir: dir,
  };
}
