// The lock service: program 0xEA7BEEF bound to a lockspace registry, the per-request journal that turns
// what a request changed into custody records, and the client hooks that apply virtlockd's disconnect
// rule (release the owner's locks, then kill it) without stalling anyone else.
import type { Logger } from 'pino';
import { type ClientRecord, clientKey } from '../../shared/custody/records/client-record';
import { lockspaceRecord } from '../../shared/custody/records/lockspace-record';
import { resourceKey } from '../../shared/custody/records/resource-record';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LOCK_PROCEDURES, LockProcedure } from '../../shared/protocol/lock-program';
import type { Change } from '../custody-link';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import { LOCK_HANDLERS, LockDispatchContext, LockJournal, releaseForDisconnect } from './dispatch';
import { DetachedOwners } from './detached-owners';
import { LockClientState } from './lock-client-state';
import { LockRequest } from './lock-request';
import type { ReleaseOutcome } from './lockspace';
import { ResourceArgsView } from './resource-args-view';
import { OwnerKiller, OwnerKillTimings } from './owner-killer';
import { LockspaceRegistry } from './registry';
import type { LockResource } from './resource';
import type { ClusterHolds } from '../cluster/cluster-holds';

export { LockRequest } from './lock-request';

// The procedures whose args are read in place from the frame (the hot ones).
const RESOURCE_PROCEDURES: ReadonlySet<LockProcedure> = new Set([
  LockProcedure.CREATE_RESOURCE,
  LockProcedure.DELETE_RESOURCE,
  LockProcedure.ACQUIRE_RESOURCE,
  LockProcedure.RELEASE_RESOURCE,
]);

export class LockService {
  readonly registry = new LockspaceRegistry();
  readonly #clients = new Map<number, LockClientState>();
  /** Each connection's request, reused from one request to the next. */
  readonly #requests = new Map<number, LockRequest>();
  /** The request whose handler is running: where the request context's journal files changes. */
  #filing: LockRequest | null = null;
  /** The context every request's handler runs with, built once (handlers are synchronous). */
  readonly #requestContext: LockDispatchContext;
  /** Where resource calls' args are read in place; re-pointed at each call. */
  readonly #resourceArgs = new ResourceArgsView();
  readonly killer: OwnerKiller;
  readonly program: RpcProgram<LockRequest>;
  /** Owners whose locks outlived their connection (systemd's fd store); released when they exit. */
  readonly detached: DetachedOwners;
  /** Files changes made outside any request (a detached owner's exit); the worker sets it. */
  fileChanges: (changes: Change[]) => void = () => undefined;
  /** Whether the fd budget has room for one more locked file; the worker sets it. */
  roomForFile: () => boolean = () => true;
  /** The cluster's holds when a cluster is configured; the worker sets it. */
  cluster: ClusterHolds | null = null;
  /** Files each change at once, in a commit of its own (a cluster resource's local lock before etcd is asked). */
  readonly #early: LockJournal;

  constructor(
    timings: OwnerKillTimings,
    private readonly log: Logger,
  ) {
    this.killer = new OwnerKiller(timings, log);
    this.detached = new DetachedOwners((pid, alreadyGone) => this.#releaseDetached(pid, alreadyGone), log);
    this.#early = this.#journal((change) => this.fileChanges([change]));
    this.#requestContext = this.#context((change) => this.#filing!.file(change));
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

  /** A request of `connection` starts: its (reused) request, with no changes filed yet. */
  request(connection: Connection): LockRequest {
    const request = this.#requests.get(connection.id);
    if (!request) throw new Error(`no lock state for client ${connection.id}`);
    return request;
  }

  /** A new connection: its record (and socket fd) go to custody before it is served. */
  open(connection: Connection): Change[] {
    const client = new LockClientState(connection.id, connection.peer, connection.connectedAt);
    this.#clients.set(connection.id, client);
    this.#requests.set(connection.id, new LockRequest(client));
    return [{ op: 'put', record: client.toRecord(), fd: connection.fd }];
  }

  /** Restores a connection's lock state from its custody record. */
  adoptClient(connection: Connection, record: ClientRecord): void {
    const client = LockClientState.fromRecord(connection.id, record);
    this.#clients.set(connection.id, client);
    this.#requests.set(connection.id, new LockRequest(client));
  }

  /** A connection closed for good: virtlockd's disconnect rule, then the record leaves custody. */
  close(connection: Connection): Change[] {
    const client = this.#clients.get(connection.id);
    this.#clients.delete(connection.id);
    this.#requests.delete(connection.id);
    if (!client) return [];
    const changes: Change[] = [];
    const released = releaseForDisconnect(this.#context((change) => changes.push(change)), client);
    changes.push({ op: 'drop', key: clientKey('virtlockd', connection.id) });
    if (released.length > 0) {
      this.log.info({ client: connection.id, ownerPid: client.ownerPid, released: released.length }, 'owner disconnected holding locks; released them');
      void this.killer.kill(client.clientPid, connection.fd);
    }
    return changes;
  }

  /** After adoption: watch every owner that holds a lock of `resources` without a connection. */
  watchDetachedOwners(resources: Iterable<LockResource>): void {
    for (const resource of resources) for (const pid of resource.detachedOwners) this.detached.watch(pid);
  }

  // A detached owner exited: what its own disconnect would have done (release, unlink AUTOCREATE files).
  #releaseDetached(pid: number, alreadyGone: boolean): void {
    const changes: Change[] = [];
    const ctx = this.#context((change) => changes.push(change));
    for (const lockspace of this.registry.all()) {
      for (const outcome of lockspace.releaseDetached(pid)) {
        ctx.journal.released(outcome, lockspace.directory ?? '');
        this.log.info(
          { ownerPid: pid, lockspace: lockspace.directory ?? '', resource: outcome.resource.name, freed: outcome.freed },
          alreadyGone
            ? 'detached owner already gone at start-up: released its lock (handed back by the fd store)'
            : 'detached owner exited: released its lock (held since the fd store handed it back)',
        );
      }
    }
    if (changes.length > 0) this.fileChanges(changes);
  }

  // A context whose journal hands each change to `file`.
  #context(file: (change: Change) => void): LockDispatchContext {
    const service = this;
    return {
      registry: this.registry,
      journal: this.#journal(file),
      roomForFile: () => this.roomForFile(),
      // Read at each request: the worker sets the cluster after this context is built.
      get cluster() {
        return service.cluster;
      },
      early: this.#early,
      requestJournal: () => {
        const request = this.#filing;
        if (request === null) throw new Error('no request in progress');
        return this.#journal((change) => request.file(change));
      },
    };
  }

  // A journal that hands each change to `file`. One more or one fewer owner is filed as just that: the
  // record's owner list grows with every shared acquire, and restating it each time would make N acquires
  // cost N² (and outgrow a commit). A cluster resource is always restated: its holds change with its owners.
  #journal(file: (change: Change) => void): LockJournal {
    return {
      acquired: (resource: LockResource, lockspace: string, created: boolean, joined: number | null) => {
        if (joined !== null && resource.cluster === null) file({ op: 'join', key: resourceKey(lockspace, resource.name), pid: joined });
        else file({ op: 'put', record: resource.toRecord(lockspace), fd: created ? resource.fd : null });
      },
      released: (outcome: ReleaseOutcome, lockspace: string) => {
        const key = resourceKey(lockspace, outcome.resource.name);
        const lettingGo = outcome.resource.cluster !== null ? this.#letGoInCluster(outcome) : undefined;
        if (outcome.freed) file({ op: 'drop', key });
        else if (outcome.left !== undefined && outcome.resource.cluster === null) file({ op: 'leave', key, pid: outcome.left });
        else file({ op: 'put', record: outcome.resource.toRecord(lockspace), fd: null });
        return lettingGo;
      },
      clientChanged: (client: LockClientState) => file({ op: 'put', record: client.toRecord(), fd: null }),
      lockspaceCreated: (directory: string) => file({ op: 'put', record: lockspaceRecord(directory), fd: null }),
    };
  }

  // The etcd holds of owners that no longer hold the resource go (all of them when it was freed).
  #letGoInCluster(outcome: ReleaseOutcome): Promise<void> | undefined {
    const part = outcome.resource.cluster!;
    const owners = outcome.resource.owners;
    const gone = outcome.freed ? part.holds : part.holds.filter((hold) => !owners.includes(hold.pid));
    if (gone.length === 0 || this.cluster === null) return undefined;
    part.holds = outcome.freed ? [] : part.holds.filter((hold) => owners.includes(hold.pid));
    const cluster = this.cluster;
    return Promise.all(gone.map((hold) => cluster.release(hold))).then(() => undefined);
  }

  /**
   * After adoption: the holds a predecessor filed are this worker's own; owners it left pending (their
   * request was never answered, so it comes again) are released, and their etcd keys become stale.
   */
  adoptCluster(): void {
    const changes: Change[] = [];
    const ctx = this.#context((change) => changes.push(change));
    for (const lockspace of this.registry.all()) {
      for (const resource of [...lockspace.resources.values()]) {
        const part = resource.cluster;
        if (part === null) continue;
        this.cluster?.adopt(part);
        if (part.pending.length === 0) continue;
        const pending = part.pending.splice(0);
        let outcome: ReleaseOutcome | null = null;
        for (const pid of pending) if (resource.owners.includes(pid)) outcome = lockspace.release(resource.name, pid);
        this.log.info({ lockspace: lockspace.directory ?? '', resource: resource.name, owners: pending }, 'released locks whose cluster hold was still being asked for when the previous worker stopped');
        if (outcome !== null) void ctx.journal.released(outcome, lockspace.directory ?? '');
        else ctx.journal.acquired(resource, lockspace.directory ?? '', false, null);
      }
    }
    if (changes.length > 0) this.fileChanges(changes);
  }

  // The procedure table, built once: a request looks its procedure up and calls it, with no closure of its own.
  #procedures(): Map<number, Procedure<LockRequest>> {
    const table = new Map<number, Procedure<LockRequest>>();
    const resourceArgs = this.#resourceArgs;
    for (const proc of Object.values(LockProcedure).filter((v): v is LockProcedure => typeof v === 'number')) {
      const handler = LOCK_HANDLERS[proc] as (ctx: LockDispatchContext, client: LockClientState, args: unknown) => void | Promise<void>;
      const spec = LOCK_PROCEDURES[proc];
      table.set(proc, {
        name: spec.name,
        decode: spec.decode,
        decodeAt: RESOURCE_PROCEDURES.has(proc) ? (frame, offset) => resourceArgs.locate(frame, offset) : undefined,
        handle: (request, args) => {
          this.#filing = request;
          try {
            return handler(this.#requestContext, request.client, args);
          } finally {
            this.#filing = null;
          }
        },
      });
    }
    return table;
  }
}
