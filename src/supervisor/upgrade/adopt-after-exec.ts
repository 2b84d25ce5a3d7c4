// Start-up after an exec: adopt what the previous image (holdfast's, or a real virtlockd's) left behind —
// the pid file, the listening sockets, every client socket and lock fd — as the restart-exec document
// describes, and reap the old image's workers, which are still our children but unknown to libuv (all but
// the one that served on through the exec: the supervisor adopts that one).
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import type { CarriedCounters, CarriedLease, CarriedWatchdog, CarriedWorkerState, StateDocument } from './state-document';
import type { CustodyEntry } from '../custody';
import type { Listener } from '../service/listeners';
import { PidFile } from '../service/pid-file';
import { recordsFromDocument } from './state-snapshot';

/** What a new image took over from the state document of the image it replaced. */
export interface AdoptedAfterExec {
  pidFile: PidFile;
  listeners: Listener[];
  custody: Array<[string, CustodyEntry]>;
  upgrades: number;
  workerRestarts: number;
  counters?: CarriedCounters;
  adminLogLevel?: 1 | 2 | 3 | 4;
  /** The previous image's worker, still serving: the supervisor adopts it. */
  carriedWorker?: CarriedWorkerState;
  /** The cluster host lease the previous image kept alive. */
  clusterLease?: CarriedLease;
  /** The cluster watchdog device the previous image kept open and armed (supervisor/cluster/watchdog.ts adopts it). */
  clusterWatchdog?: CarriedWatchdog;
}

/** Where this configuration puts the files a document refers to by fd. */
export interface AfterExecPaths {
  pidFile: string;
  socket: string;
  adminSocket: string;
}

export function adoptAfterExec(doc: StateDocument, paths: AfterExecPaths, log: Logger): AdoptedAfterExec {
  const pidFileFd = doc.holdfast?.pidFileFd;
  // virtlockd's pid-file fd is close-on-exec, so its lock went with the old image: take it afresh.
  const pidFile = pidFileFd !== undefined ? PidFile.adopt(paths.pidFile, pidFileFd) : PidFile.acquire(paths.pidFile);
  if (pidFileFd !== undefined) native.setCloexec(pidFileFd, true);

  const listeners: Listener[] = [];
  for (const [name, server] of [
    ['lock', doc.daemon.servers.virtlockd],
    ['admin', doc.daemon.servers.admin],
  ] as const) {
    for (const sock of server?.services.flatMap((s) => s.socks) ?? []) {
      adoptFd(sock.fd);
      listeners.push({ name, fd: sock.fd, boundPath: sock.unlinkUNIX ? (name === 'lock' ? paths.socket : paths.adminSocket) : null });
    }
  }

  const custody = recordsFromDocument(doc);
  for (const [, entry] of custody) {
    if (entry.fd === null) continue;
    adoptFd(entry.fd);
    // virtlockd's document has no peer credentials; it re-reads them with SO_PEERCRED, and so do we.
    if (entry.record.kind === 'client' && entry.record.peer.uid === -1) {
      try {
        const peer = native.peerCred(entry.fd);
        entry.record = { ...entry.record, peer };
      } catch (err) {
        log.warn({ err, client: entry.record.id }, 'cannot read the credentials of an inherited client');
      }
    }
  }
  reapOrphans(doc.holdfast?.childPids ?? [], log);
  const carriedWorker = doc.holdfast?.worker;
  return {
    pidFile,
    listeners,
    custody,
    upgrades: doc.holdfast?.upgrades ?? 0,
    workerRestarts: doc.holdfast?.workerRestarts ?? 0,
    counters: doc.holdfast?.counters,
    adminLogLevel: doc.holdfast?.adminLogLevel,
    ...(carriedWorker ? { carriedWorker } : {}),
    ...(doc.holdfast?.cluster ? { clusterLease: doc.holdfast.cluster } : {}),
    ...(doc.holdfast?.clusterWatchdog ? { clusterWatchdog: doc.holdfast.clusterWatchdog } : {}),
  };
}

// Inherited fds were made inheritable for the exec; close-on-exec again so no child gets them by accident.
function adoptFd(fd: number): void {
  native.setCloexec(fd, true);
}

/** Waits for each pid by pidfd, then reaps exactly that pid (never waitpid(-1): libuv's children are its own). */
function reapOrphans(pids: number[], log: Logger): void {
  for (const pid of pids) {
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(pid);
    } catch {
      continue; // already gone and reaped
    }
    const poller = new native.Poller(pidfd, () => {
      try {
        const status = native.waitpid(pid, true);
        if (status === null) return;
        log.info({ workerPid: pid, code: status.exitCode, signal: status.signal }, 'reaped a worker of the previous image');
      } catch (err) {
        log.debug({ workerPid: pid, err }, 'worker of the previous image was not ours to reap');
      }
      poller.close();
      native.close(pidfd);
    });
    poller.start(native.Poller.READABLE);
    poller.unref();
  }
}
