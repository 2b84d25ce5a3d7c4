// The lock service: program 0xEA7BEEF bound to a lockspace registry, the per-request journal that turns
// what a request changed into custody records, and the client hooks that apply virtlockd's disconnect
// rule (release the owner's locks, then kill it) without stalling anyone else.
import type { Logger } from 'pino';
import { ClientRecord, CustodyRecord, ResourceRecordState, clientKey, resourceKey } from '../../shared/control/custody-records';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LOCK_PROCEDURES, LockProcedure } from '../../shared/rpc/lock-protocol';
import type { Change } from '../custody-link';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import { LOCK_HANDLERS, LockDispatchContext, LockJournal, releaseForDisconnect } from './dispatch';
import { LockClientState } from './lock-client-state';
import type { ReleaseOutcome } from './lockspace';
import { OwnerKiller, OwnerKillTimings } from './owner-killer';
import { LockspaceRegistry } from './registry';
import type { LockResource } from './resource';

/** One request being handled: the connection's lock state and the custody changes it makes. */
export interface LockRequest {
  client: LockClientState;
  changes: Change[];
}

/** Counters for status and metrics. */
export interface LockStats {
  acquired: number;
  released: number;
  ownerKills: number;
}

export class LockService {
  readonly registry = new LockspaceRegistry();
  readonly #clients = new Map<number, LockClientState>();
  readonly #connectedAt = new Map<number, { peer: Connection['peer']; at: number }>();
  readonly killer: OwnerKiller;
  readonly program: RpcProgram<LockRequest>;
  readonly stats: LockStats = { acquired: 0, released: 0, ownerKills: 0 };

  constructor(
    timings: OwnerKillTimings,
    private readonly log: Logger,
  ) {
    this.killer = new OwnerKiller(timings, log);
    this.program = new RpcProgram(LOCK_PROGRAM, LOCK_PROGRAM_VERSION, this.#procedures());
  }

  get clients(): ReadonlyMap<number, LockClientState> {
    return this.#clients;
  }

  /** Number of held resources across lockspaces. */
  get locksHeld(): number {
    let n = 0;
    for (const lockspace of this.registry.all()) n += lockspace.size;
    return n;
  }

  /** A request of `connection` starts. */
  request(connection: Connection): LockRequest {
    const client = this.#clients.get(connection.id);
    if (!client) throw new Error(`no lock state for client ${connection.id}`);
    return { client, changes: [] };
  }

  /** A new connection: its record (and socket fd) go to custody before it is served. */
  open(connection: Connection): Change[] {
    const client = new LockClientState(connection.id, connection.peer.pid);
    this.#clients.set(connection.id, client);
    this.#connectedAt.set(connection.id, { peer: connection.peer, at: connection.connectedAt });
    return [{ op: 'put', record: this.#clientRecord(client), fd: connection.fd }];
  }

  /** Restores a connection's lock state from its custody record. */
  adoptClient(connection: Connection, record: ClientRecord): void {
    const client = new LockClientState(connection.id, record.peer.pid);
    client.restricted = record.restricted;
    client.owner = record.owner;
    client.registeredAt = record.registeredAt;
    this.#clients.set(connection.id, client);
    this.#connectedAt.set(connection.id, { peer: record.peer, at: record.connectedAt });
  }

  /** A connection closed for good: virtlockd's disconnect rule, then the record leaves custody. */
  close(connection: Connection): Change[] {
    const client = this.#clients.get(connection.id);
    this.#clients.delete(connection.id);
    this.#connectedAt.delete(connection.id);
    if (!client) return [];
    const request: LockRequest = { client, changes: [] };
    const released = releaseForDisconnect(this.#context(request), client);
    request.changes.push({ op: 'drop', key: clientKey('virtlockd', connection.id) });
    if (released.length > 0) {
      this.log.info({ client: connection.id, ownerPid: client.ownerPid, released: released.length }, 'owner disconnected holding locks; released them');
      this.stats.ownerKills++;
      void this.killer.kill(client.clientPid);
    }
    return request.changes;
  }

  /** Every record this service would file, for checks and state documents. */
  records(): CustodyRecord[] {
    const records: CustodyRecord[] = [];
    for (const lockspace of this.registry.all()) {
      if (lockspace.directory !== null) records.push({ kind: 'lockspace', directory: lockspace.directory });
      for (const resource of lockspace.resources.values()) records.push(resourceRecord(resource, lockspace.directory ?? ''));
    }
    for (const client of this.#clients.values()) records.push(this.#clientRecord(client));
    return records;
  }

  #context(request: LockRequest): LockDispatchContext {
    const changes = request.changes;
    const journal: LockJournal = {
      acquired: (resource: LockResource, lockspace: string, created: boolean) => {
        this.stats.acquired++;
        changes.push({ op: 'put', record: resourceRecord(resource, lockspace), fd: created ? resource.fd : null });
      },
      released: (outcome: ReleaseOutcome, lockspace: string) => {
        this.stats.released++;
        if (outcome.freed) changes.push({ op: 'drop', key: resourceKey(lockspace, outcome.resource.name) });
        else changes.push({ op: 'put', record: resourceRecord(outcome.resource, lockspace), fd: null });
      },
      clientChanged: (client: LockClientState) => changes.push({ op: 'put', record: this.#clientRecord(client), fd: null }),
      lockspaceCreated: (directory: string) => changes.push({ op: 'put', record: { kind: 'lockspace', directory }, fd: null }),
    };
    return { registry: this.registry, journal };
  }

  #clientRecord(client: LockClientState): ClientRecord {
    const connected = this.#connectedAt.get(client.id);
    return {
      kind: 'client',
      server: 'virtlockd',
      id: client.id,
      connectedAt: connected?.at ?? 0,
      peer: connected?.peer ?? { pid: client.clientPid, uid: -1, gid: -1 },
      restricted: client.restricted,
      owner: client.owner,
      registeredAt: client.registeredAt,
    };
  }

  #procedures(): Map<number, Procedure<LockRequest>> {
    const table = new Map<number, Procedure<LockRequest>>();
    for (const proc of Object.values(LockProcedure).filter((v): v is LockProcedure => typeof v === 'number')) {
      const handler = LOCK_HANDLERS[proc] as (ctx: LockDispatchContext, client: LockClientState, args: unknown) => void;
      const spec = LOCK_PROCEDURES[proc];
      table.set(proc, {
        name: spec.name,
        decode: spec.decode,
        handle: (request, args) => handler(this.#context(request), request.client, args),
      });
    }
    return table;
  }
}

function resourceRecord(resource: LockResource, lockspace: string): ResourceRecordState {
  return {
    kind: 'resource',
    lockspace,
    name: resource.name,
    path: resource.path,
    flags: resource.flags,
    owners: [...resource.owners],
    acquiredAt: resource.acquiredAt,
    lockKind: resource.lockKind,
  };
}
