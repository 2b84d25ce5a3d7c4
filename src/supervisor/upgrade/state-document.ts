// The restart-exec state document: TypeScript types for the JSON a daemon writes before it re-execs itself
// and reads back afterwards, and the list of fds it refers to. Types and a pure walker only: no I/O, no checks.
//
// A superset of virtlockd's document (lock_daemon.c virLockDaemonPreExecRestart, virnetdaemon.c,
// virnetserver.c, virnetserverservice.c, virnetserverclient.c, virnetsocket.c, virlockspace.c, each
// `*PreExecRestart`): every virtlockd key keeps its name and type, and holdfast's own data lives under keys
// named `holdfast`, all optional, so a document written by a running virtlockd is valid input (adoption).
// virtlockd ignores keys it does not know (checked against /usr/sbin/virtlockd 9.0), so it can read ours too.
//
// What an fd number means: an fd that is open, with that number, in the process that reads the document.
// For a restart-exec that is the writer itself after execve() (same pid, fds inherited because the writer
// cleared FD_CLOEXEC on them); a document handed to another process is only meaningful once the same fds
// were passed to it under the same numbers.

import type { ReplyBatch } from '../../shared/custody/reply-batch';
import type { AdminClientState, ClientState, SocketState, VirtlockdClientState } from '../../shared/custody/records/client-record';
import type { DirectoryLockspaceState, LockspaceState } from '../../shared/custody/records/lockspace-record';
import type { ResourceState } from '../../shared/custody/records/resource-record';

// The rows of custody records (clients, lockspaces, resources) are defined beside their records, with their
// conversions; this file composes them into the whole document.
export type { AdminClientPrivateData, AdminClientState, ClientHoldfastState, ClientState, LockClientPrivateData, SocketState, VirtlockdClientState } from '../../shared/custody/records/client-record';
export type { DirectoryLockspaceState, LockspaceState } from '../../shared/custody/records/lockspace-record';
export type { LockKind, ResourceHoldfastState, ResourceState } from '../../shared/custody/records/resource-record';

/** The version of holdfast's additions this code reads and writes (`holdfast.schemaVersion`). */
export const STATE_SCHEMA_VERSION = 1;

/** Type of {@link STATE_SCHEMA_VERSION}. */
export type StateSchemaVersion = typeof STATE_SCHEMA_VERSION;

/** One listening service of a server (virNetServerServicePreExecRestart). All keys are virtlockd's. */
export interface ServiceState {
  /** virtlockd. Authentication scheme: 0 none, 1 SASL, 2 polkit. virtlockd always uses 0. */
  auth: number;
  /** virtlockd. Clients of this service are read-only. Always false for virtlockd. */
  readonly: boolean;
  /** virtlockd. Requests a client may have in flight; 1 for virtlockd (one request at a time). */
  nrequests_client_max: number;
  /** virtlockd. The listening sockets (one per address; virtlockd has one). */
  socks: SocketState[];
}

/** One RPC server (virNetServerPreExecRestart). All keys are virtlockd's. */
export interface ServerState<C> {
  /** virtlockd. Worker thread pool minimum; 0 (virtlockd dispatches in its event loop). */
  min_workers: number;
  /** virtlockd. Worker thread pool maximum; 0. */
  max_workers: number;
  /** virtlockd. Priority worker threads; 0. */
  priority_workers: number;
  /** virtlockd. Most concurrent clients (virtlockd.conf max_clients / admin_max_clients). */
  max_clients: number;
  /** virtlockd. Most clients still authenticating; equals max_clients, and may not exceed it. */
  max_anonymous_clients: number;
  /** virtlockd. Keepalive interval in seconds; 4294967295 (that is -1 written unsigned: keepalive off). */
  keepaliveInterval: number;
  /** virtlockd. Keepalive probes before giving up; 0. */
  keepaliveCount: number;
  /** virtlockd. The id the next accepted client gets. */
  next_client_id: number;
  /** virtlockd. Listening services. */
  services: ServiceState[];
  /** virtlockd. Connected clients. */
  clients: C[];
}

/** The lock protocol server. */
export type VirtlockdServerState = ServerState<VirtlockdClientState>;
/** The admin protocol server. */
export type AdminServerState = ServerState<AdminClientState>;

/** virtlockd's `daemon` key (virNetDaemonPreExecRestart): servers keyed by name. */
export interface DaemonState {
  /** virtlockd. Servers by name; virtlockd refuses any name but these two. */
  servers: {
    /** virtlockd. The lock protocol server. */
    virtlockd: VirtlockdServerState;
    /** virtlockd. The admin protocol server; absent in documents of virtlockd versions without one. */
    admin?: AdminServerState;
  };
}

/** Supervisor counters that outlive an upgrade besides `upgrades` and `workerRestarts`. */
export interface CarriedCounters {
  upgradeRefusals: number;
  workerSwaps: number;
  swapFailures: number;
}

/** holdfast's top-level additions: who wrote the document and when. Absent in a virtlockd document. */
export interface HoldfastState {
  /** holdfast. Version of these additions; a reader refuses a version it does not know. */
  schemaVersion: StateSchemaVersion;
  /** holdfast. Worker generation at the time of writing. */
  generation: number;
  /** holdfast. pid of the supervisor that wrote the document (normally the same number as `magic`). */
  supervisorPid: number;
  /** holdfast. When the document was written, ISO 8601 UTC (Date.prototype.toISOString). */
  savedAt: string;
  /** holdfast. Completed re-execs (upgrades) of the supervisor so far. */
  upgrades: number;
  /** holdfast. Workers replaced after a crash so far. */
  workerRestarts: number;
  /** holdfast. The supervisor's other counters, when any is nonzero. (An older holdfast refuses a document with
   * them at its --check-state: a downgrade by SIGUSR1 is refused, never half-applied.) */
  counters?: CarriedCounters;
  /** holdfast. The log level an admin client set (a libvirt priority, 1 = debug … 4 = error), if one did. */
  adminLogLevel?: 1 | 2 | 3 | 4;
  /** holdfast. fd of the locked pid file, inherited across the exec (its flock must not be taken twice). */
  pidFileFd?: number;
  /** holdfast. Worker processes of the writing image: children the new image must reap (by pid). */
  childPids?: number[];
  /**
   * holdfast. The worker that kept serving through the exec: the new image adopts it (its control channel
   * and reply pipe are inherited fds) and applies the commits it queued meanwhile, then replaces it.
   */
  worker?: CarriedWorkerState;
  /** holdfast. The cluster host lease, kept alive across the exec (see supervisor/cluster). */
  cluster?: CarriedLease;
  /**
   * holdfast. The cluster watchdog device, open and armed across the exec: the new image pets the same open
   * device (a close would not stop its timer, and it opens once at a time).
   */
  clusterWatchdog?: CarriedWatchdog;
}

/** holdfast. The cluster host lease as a successor process resumes it. */
export interface CarriedLease {
  /** etcd's lease id, decimal. */
  id: string;
  /** CLOCK_MONOTONIC ns (decimal) of the send time of the last keepalive etcd acknowledged. */
  lastAckSentNs: string;
}

/** holdfast. The cluster watchdog device as the next image adopts it. */
export interface CarriedWatchdog {
  /** The configured device path. */
  device: string;
  /** The open fd, inherited across the exec. */
  fd: number;
  /** Pets so far. */
  pets: number;
}

/** holdfast. A serving worker carried across the supervisor's exec. */
export interface CarriedWorkerState {
  pid: number;
  generation: number;
  /** Our end of its control channel. */
  channelFd: number;
  replyPipe: { read: number; write: number; capacity: number };
  /** The last batch of piped replies it committed (what its pipe may still hold if it dies). */
  lastBatch: ReplyBatch | null;
}

/** The whole restart-exec state document. */
export interface StateDocument {
  /** virtlockd. RPC servers, their listening sockets and their clients. */
  daemon: DaemonState;
  /** virtlockd. The default lockspace (path ""). */
  defaultLockspace: LockspaceState;
  /** virtlockd. Directory lockspaces, each directory once. */
  lockspaces: DirectoryLockspaceState[];
  /**
   * virtlockd. The writer's pid in decimal: the document is meant for that pid after execve(). virtlockd
   * ignores (and deletes) a document whose magic is not its own pid, and starts with no state.
   */
  magic: string;
  /** holdfast. Absent in a virtlockd document. */
  holdfast?: HoldfastState;
}

/** What an fd of the document stands for. */
export type FdRole = 'listen-socket' | 'client-socket' | 'helper-stderr' | 'resource' | 'worker-channel' | 'reply-pipe' | 'watchdog';

/** One fd the document refers to, with where it appears. */
export interface FdReference {
  /** The fd number, valid in the process that reads the document. */
  fd: number;
  /** What the fd is. */
  role: FdRole;
  /** JSON pointer of the fd's key, e.g. `/lockspaces/0/resources/2/fd`. */
  pointer: string;
  /** For a resource fd: the resource itself. */
  resource?: ResourceState;
}

/** The servers of a document with their names, lock server first. */
export function serversOf(doc: StateDocument): Array<{ name: 'virtlockd' | 'admin'; server: ServerState<ClientState<unknown>> }> {
  const list: Array<{ name: 'virtlockd' | 'admin'; server: ServerState<ClientState<unknown>> }> = [
    { name: 'virtlockd', server: doc.daemon.servers.virtlockd },
  ];
  if (doc.daemon.servers.admin) list.push({ name: 'admin', server: doc.daemon.servers.admin });
  return list;
}

/** Every lockspace of a document with its JSON pointer, the default one first. */
export function lockspacesOf(doc: StateDocument): Array<{ pointer: string; lockspace: LockspaceState; directory: string | null }> {
  return [
    { pointer: '/defaultLockspace', lockspace: doc.defaultLockspace, directory: null },
    ...doc.lockspaces.map((lockspace, i) => ({ pointer: `/lockspaces/${i}`, lockspace, directory: lockspace.directory })),
  ];
}

/**
 * Every fd the document refers to, in document order: listening sockets, client sockets, helper stderr
 * pipes (errfd other than -1), resource fds, a carried worker's channel and pipe, and the cluster watchdog
 * device. Duplicates are listed as found (a valid document has none).
 */
export function listFdReferences(doc: StateDocument): FdReference[] {
  const refs: FdReference[] = [];
  const addSocket = (sock: SocketState, pointer: string, role: FdRole): void => {
    refs.push({ fd: sock.fd, role, pointer: `${pointer}/fd` });
    if (sock.errfd !== -1) refs.push({ fd: sock.errfd, role: 'helper-stderr', pointer: `${pointer}/errfd` });
  };
  for (const { name, server } of serversOf(doc)) {
    const base = `/daemon/servers/${name}`;
    server.services.forEach((service, s) =>
      service.socks.forEach((sock, k) => addSocket(sock, `${base}/services/${s}/socks/${k}`, 'listen-socket')),
    );
    server.clients.forEach((client, c) => addSocket(client.sock, `${base}/clients/${c}/sock`, 'client-socket'));
  }
  for (const { pointer, lockspace } of lockspacesOf(doc)) {
    lockspace.resources.forEach((resource, r) =>
      refs.push({ fd: resource.fd, role: 'resource', pointer: `${pointer}/resources/${r}/fd`, resource }),
    );
  }
  const worker = doc.holdfast?.worker;
  if (worker) {
    refs.push({ fd: worker.channelFd, role: 'worker-channel', pointer: '/holdfast/worker/channelFd' });
    refs.push({ fd: worker.replyPipe.read, role: 'reply-pipe', pointer: '/holdfast/worker/replyPipe/read' });
    refs.push({ fd: worker.replyPipe.write, role: 'reply-pipe', pointer: '/holdfast/worker/replyPipe/write' });
  }
  const watchdog = doc.holdfast?.clusterWatchdog;
  if (watchdog) refs.push({ fd: watchdog.fd, role: 'watchdog', pointer: '/holdfast/clusterWatchdog/fd' });
  return refs;
}
