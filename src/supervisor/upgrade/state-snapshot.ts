// Custody ↔ restart-exec state document. The supervisor writes its custody (records beside the fd numbers
// it holds) as a virtlockd-shaped document before it execs, and a new image rebuilds custody from one —
// its own, or a real virtlockd's. This file places the rows; each record's row and its conversions are
// beside the record (shared/custody/records/). Pure translation: no I/O, no fd is opened or closed here.
import {
  type AdminClientState,
  type VirtlockdClientState,
  adminClientFromDocumentRow,
  adminClientToDocumentRow,
  lockClientFromDocumentRow,
  lockClientToDocumentRow,
} from '../../shared/custody/records/client-record';
import { type CustodyRecord, custodyKey } from '../../shared/custody/records/custody-record';
import { type DirectoryLockspaceState, lockspaceFromDocumentRow, lockspaceRecord, lockspaceToDocumentRow } from '../../shared/custody/records/lockspace-record';
import { type ResourceState, resourceFromDocumentRow, resourceToDocumentRow } from '../../shared/custody/records/resource-record';
import type { CarriedCounters, CarriedLease, CarriedWatchdog, CarriedWorkerState, ServerState, StateDocument, VirtlockdServerState } from './state-document';
import { STATE_SCHEMA_VERSION } from './state-document';
import type { CustodyEntry } from '../custody';
import type { Listener } from '../service/listeners';

export interface SnapshotSource {
  custody: Iterable<[string, CustodyEntry]>;
  listeners: Listener[];
  maxClients: number;
  adminMaxClients: number;
  pidFileFd: number | null;
  childPids: number[];
  generation: number;
  upgrades: number;
  workerRestarts: number;
  counters: CarriedCounters;
  /** Set only when an admin client chose the level (the configuration's own comes back by itself). */
  adminLogLevel: 1 | 2 | 3 | 4 | null;
  /** The worker that serves on through the exec, if it can. */
  carriedWorker: CarriedWorkerState | null;
  /** The cluster host lease, when a cluster is configured. */
  clusterLease?: CarriedLease | null;
  /** The cluster watchdog device, open and armed, when one is configured. */
  clusterWatchdog?: CarriedWatchdog | null;
}

function emptyServer<C>(maxClients: number, nextClientId: number, listeners: Listener[]): ServerState<C> {
  return {
    min_workers: 0,
    max_workers: 0,
    priority_workers: 0,
    max_clients: maxClients,
    max_anonymous_clients: maxClients,
    // virtlockd has no keepalive: -1 written unsigned.
    keepaliveInterval: 4294967295,
    keepaliveCount: 0,
    next_client_id: nextClientId,
    services: listeners.map((l) => ({
      auth: 0,
      readonly: false,
      nrequests_client_max: 1,
      socks: [{ fd: l.fd, errfd: -1, pid: 0, isClient: false, unlinkUNIX: l.boundPath !== null }],
    })),
    clients: [],
  };
}

/** The document for `exec`: every fd number is one this process holds (and keeps across the exec). */
export function documentFromCustody(source: SnapshotSource, pid: number): StateDocument {
  const clients: VirtlockdClientState[] = [];
  // Admin connections survive an upgrade too (an `holdfast upgrade` waits for its own upgrade on one).
  const adminClients: AdminClientState[] = [];
  const resources = new Map<string, ResourceState[]>();
  const directories = new Set<string>();
  let nextClientId = 1;
  let nextAdminClientId = 1;
  for (const [, entry] of source.custody) {
    const record = entry.record;
    if (record.kind === 'lockspace') directories.add(record.directory);
    else if (record.kind === 'client' && record.server === 'virtlockd' && entry.fd !== null) {
      nextClientId = Math.max(nextClientId, record.id + 1);
      clients.push(lockClientToDocumentRow(record, entry.fd));
    } else if (record.kind === 'client' && record.server === 'admin' && entry.fd !== null) {
      nextAdminClientId = Math.max(nextAdminClientId, record.id + 1);
      adminClients.push(adminClientToDocumentRow(record, entry.fd));
    } else if (record.kind === 'resource' && entry.fd !== null) {
      if (record.lockspace !== '') directories.add(record.lockspace);
      const list = resources.get(record.lockspace) ?? [];
      list.push(resourceToDocumentRow(record, entry.fd));
      resources.set(record.lockspace, list);
    }
  }
  const lockListeners = source.listeners.filter((l) => l.name === 'lock');
  const adminListeners = source.listeners.filter((l) => l.name === 'admin');
  const virtlockd: VirtlockdServerState = { ...emptyServer(source.maxClients, nextClientId, lockListeners), clients };
  const lockspaces: DirectoryLockspaceState[] = [...directories].map((directory) => lockspaceToDocumentRow(lockspaceRecord(directory), resources.get(directory) ?? []));
  return {
    daemon: {
      servers: {
        virtlockd,
        ...(adminListeners.length > 0 ? { admin: { ...emptyServer<AdminClientState>(source.adminMaxClients, nextAdminClientId, adminListeners), clients: adminClients } } : {}),
      },
    },
    defaultLockspace: { resources: resources.get('') ?? [] },
    lockspaces,
    magic: String(pid),
    holdfast: {
      schemaVersion: STATE_SCHEMA_VERSION,
      generation: source.generation,
      supervisorPid: pid,
      savedAt: new Date().toISOString(),
      upgrades: source.upgrades,
      workerRestarts: source.workerRestarts,
      ...(Object.values(source.counters).some((n) => n > 0) ? { counters: source.counters } : {}),
      ...(source.adminLogLevel !== null ? { adminLogLevel: source.adminLogLevel } : {}),
      ...(source.pidFileFd !== null ? { pidFileFd: source.pidFileFd } : {}),
      childPids: source.childPids,
      ...(source.carriedWorker ? { worker: source.carriedWorker } : {}),
      ...(source.clusterLease ? { cluster: source.clusterLease } : {}),
      ...(source.clusterWatchdog ? { clusterWatchdog: source.clusterWatchdog } : {}),
    },
  };
}

/** Custody entries (keyed) rebuilt from a document; the fds are the document's, now ours. */
export function recordsFromDocument(doc: StateDocument): Array<[string, CustodyEntry]> {
  const entries: Array<[string, CustodyEntry]> = [];
  const add = (record: CustodyRecord, fd: number | null): void => {
    entries.push([custodyKey(record), { record, fd }]);
  };
  for (const client of doc.daemon.servers.admin?.clients ?? []) add(adminClientFromDocumentRow(client), client.sock.fd);
  for (const client of doc.daemon.servers.virtlockd.clients) add(lockClientFromDocumentRow(client), client.sock.fd);
  const addResources = (resources: ResourceState[], lockspace: string): void => {
    for (const resource of resources) add(resourceFromDocumentRow(resource, lockspace), resource.fd);
  };
  addResources(doc.defaultLockspace.resources, '');
  for (const row of doc.lockspaces) {
    add(lockspaceFromDocumentRow(row), null);
    addResources(row.resources, row.directory);
  }
  return entries;
}
