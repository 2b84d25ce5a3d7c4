// Custody ↔ restart-exec state document. The supervisor writes its custody (records beside the fd numbers
// it holds) as a virtlockd-shaped document before it execs, and a new image rebuilds custody from one —
// its own, or a real virtlockd's. Pure translation: no I/O, no fd is opened or closed here.
import type { ClientRecord, CustodyRecord, LockspaceRecord, ResourceRecordState } from '../../shared/custody/records';
import { custodyKey } from '../../shared/custody/records';
import type {
  AdminClientState,
  CarriedCounters,
  CarriedWorkerState,
  DirectoryLockspaceState,
  ResourceState,
  ServerState,
  StateDocument,
  VirtlockdClientState,
  VirtlockdServerState,
} from './state-document';
import { STATE_SCHEMA_VERSION, lockKindOf } from './state-document';
import type { CustodyEntry } from '../custody';
import type { Listener } from '../listeners';

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
}

const NULL_UUID = '00000000-0000-0000-0000-000000000000';

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
      clients.push(clientState(record, entry.fd));
    } else if (record.kind === 'client' && record.server === 'admin' && entry.fd !== null) {
      nextAdminClientId = Math.max(nextAdminClientId, record.id + 1);
      adminClients.push({ ...clientState(record, entry.fd), privateData: {} });
    } else if (record.kind === 'resource' && entry.fd !== null) {
      if (record.lockspace !== '') directories.add(record.lockspace);
      const list = resources.get(record.lockspace) ?? [];
      list.push(resourceState(record, entry.fd));
      resources.set(record.lockspace, list);
    }
  }
  const lockListeners = source.listeners.filter((l) => l.name === 'lock');
  const adminListeners = source.listeners.filter((l) => l.name === 'admin');
  const virtlockd: VirtlockdServerState = { ...emptyServer(source.maxClients, nextClientId, lockListeners), clients };
  const lockspaces: DirectoryLockspaceState[] = [...directories].map((directory) => ({ directory, resources: resources.get(directory) ?? [] }));
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
    },
  };
}

function clientState(record: ClientRecord, fd: number): VirtlockdClientState {
  const owner = record.owner;
  return {
    id: record.id,
    auth: 0,
    auth_pending: false,
    readonly: false,
    nrequests_max: 1,
    conn_time: Math.floor(record.connectedAt / 1000),
    sock: { fd, errfd: -1, pid: 0, isClient: true, unlinkUNIX: false },
    // An unregistered client is written as owner 0 with an empty name (virtlockd 9.0 fails to save one).
    privateData: {
      restricted: record.restricted,
      ownerPid: owner?.pid ?? 0,
      ownerId: owner?.id ?? 0,
      ownerName: owner?.name ?? '',
      ownerUUID: owner?.uuid ?? NULL_UUID,
    },
    holdfast: { peerPid: record.peer.pid, peerUid: record.peer.uid, registeredAt: record.registeredAt, connectedAt: record.connectedAt },
  };
}

function resourceState(record: ResourceRecordState, fd: number): ResourceState {
  return {
    name: record.name,
    path: record.path,
    fd,
    lockHeld: true,
    flags: record.flags,
    owners: [...record.owners],
    holdfast: {
      acquiredAt: record.acquiredAt,
      lockKind: record.lockKind,
      ...(record.detachedOwners ? { detachedOwners: [...record.detachedOwners] } : {}),
      ...(record.detachedOwnerDetails ? { detachedOwnerDetails: record.detachedOwnerDetails.map((o) => ({ ...o })) } : {}),
    },
  };
}

/** Custody entries (keyed) rebuilt from a document; the fds are the document's, now ours. */
export function custodyFromDocument(doc: StateDocument): Array<[string, CustodyEntry]> {
  const entries: Array<[string, CustodyEntry]> = [];
  const add = (record: CustodyRecord, fd: number | null): void => {
    entries.push([custodyKey(record), { record, fd }]);
  };
  for (const client of doc.daemon.servers.admin?.clients ?? []) {
    const connectedAt = client.holdfast?.connectedAt ?? (client.conn_time ?? 0) * 1000;
    // gid is not in the document; peer uid -1 (a virtlockd document) makes restore re-read the credentials.
    const peer = { pid: client.holdfast?.peerPid ?? 0, uid: client.holdfast?.peerUid ?? -1, gid: -1 };
    add({ kind: 'client', server: 'admin', id: client.id, connectedAt, peer, restricted: false, owner: null, registeredAt: 0 }, client.sock.fd);
  }
  const server = doc.daemon.servers.virtlockd;
  for (const client of server.clients) {
    const p = client.privateData;
    const connectedAt = client.holdfast?.connectedAt ?? (client.conn_time ?? 0) * 1000;
    add(
      {
        kind: 'client',
        server: 'virtlockd',
        id: client.id,
        connectedAt,
        // A virtlockd document has no peer credentials: the new worker's owner-kill rule needs the peer pid,
        // which virtlockd re-reads with SO_PEERCRED; the supervisor fills it in after adoption.
        peer: { pid: client.holdfast?.peerPid ?? 0, uid: client.holdfast?.peerUid ?? -1, gid: -1 },
        restricted: p.restricted,
        owner: p.ownerId === 0 && p.ownerPid === 0 ? null : { uuid: p.ownerUUID, name: p.ownerName, id: p.ownerId, pid: p.ownerPid },
        registeredAt: client.holdfast?.registeredAt ?? connectedAt,
      },
      client.sock.fd,
    );
  }
  const lockspaces: Array<{ directory: string; resources: ResourceState[] }> = [
    { directory: '', resources: doc.defaultLockspace.resources },
    ...doc.lockspaces,
  ];
  for (const { directory, resources } of lockspaces) {
    if (directory !== '') add({ kind: 'lockspace', directory } satisfies LockspaceRecord, null);
    for (const resource of resources) {
      add(
        {
          kind: 'resource',
          lockspace: directory,
          name: resource.name,
          path: resource.path,
          flags: resource.flags,
          owners: [...resource.owners],
          acquiredAt: resource.holdfast?.acquiredAt ?? Date.now(),
          lockKind: lockKindOf(resource),
          ...(resource.holdfast?.detachedOwners ? { detachedOwners: [...resource.holdfast.detachedOwners] } : {}),
          ...(resource.holdfast?.detachedOwnerDetails ? { detachedOwnerDetails: resource.holdfast.detachedOwnerDetails.map((o) => ({ ...o })) } : {}),
        },
        resource.fd,
      );
    }
  }
  return entries;
}
