// The worker: rebuilds the lock service from the custody snapshot, serves the lock protocol on the
// listening sockets the supervisor hands it, and files every change with the supervisor before it
// answers. Everything that parses client bytes lives below this object.
import type { Logger } from 'pino';
import { type ClientRecord, clientKey } from '../shared/custody/records/client-record';
import { resourceKey } from '../shared/custody/records/resource-record';
import type { InitMessage, WorkerSettings } from '../shared/custody/messages';
import * as native from '../shared/platform/native';
import { AdminService } from './admin/admin-service';
import { HoldfastService, type SupervisorBridge } from './admin/operations-service';
import { FdBudget } from './fd-budget';
import { WorkerMetrics } from './metrics';
import type { Change, CustodyLink } from './custody-link';
import { LockService } from './lock/lock-service';
import { type Connection, REPLY_PENDING } from './rpc/connection';
import { RpcProgram, dispatchFrame, errorOutcome } from './rpc/program';
import { RequestSlot } from './rpc/request-slot';
import type { MessageHeader } from '../shared/protocol/message';
import { VirError } from '../shared/protocol/vir-error';
import { FaultWitness } from './fault-witness';
import { RpcServer } from './rpc/server';
import { FrameBudget } from './rpc/frame-budget';
import type { StagedCustody } from './staged-custody';
import type { ClusterLease } from '../shared/custody/messages';
import { connectEtcd } from '../shared/cluster/connect-etcd';
import { ClusterHolds } from './cluster/cluster-holds';

/** What a served program needs per request and per connection. */
interface ServedProgram<S> {
  programs: RpcProgram<S>[];
  /** The state a request of `connection` runs with (the lock program's is kept per connection). */
  begin(connection: Connection): S;
  /** The custody changes the request made, taken once its handler is done. */
  takeChanges(state: S): readonly Change[];
  /** Whether to hang up once the reply is out. */
  hangUpAfterReply(state: S): boolean;
  open(connection: Connection): Change[];
  close(connection: Connection): Change[];
}

const NO_CHANGES: readonly Change[] = Object.freeze([]);

export class Worker {
  readonly lock: LockService;
  #lockServer: RpcServer | null = null;
  readonly admin: AdminService;
  #adminServer: RpcServer | null = null;
  readonly metrics = new WorkerMetrics();
  readonly holdfast: HoldfastService;
  /** Clients and locked files one fd each: what the fd budget weighs (see fd-budget.ts). */
  readonly fds = new FdBudget(() => this.lock.locksHeld + (this.#lockServer?.connections.size ?? 0) + (this.#adminServer?.connections.size ?? 0));
  /** The requests in progress, for a report if this process dies of an uncaught exception. */
  readonly faults = new FaultWitness((header) => this.#procedureName(header));
  #generation = 0;
  readonly #frameBudget: FrameBudget;

  constructor(
    readonly settings: WorkerSettings,
    private readonly link: CustodyLink,
    private readonly log: Logger,
    supervisor: SupervisorBridge,
  ) {
    this.lock = new LockService(
      { termGraceMs: settings.ownerKillTermGraceMs, giveUpMs: settings.ownerKillGiveUpMs },
      log.child({ component: 'lock' }),
    );
    this.admin = new AdminService(log, log.child({ component: 'admin' }));
    this.#frameBudget = new FrameBudget({
      maxBytesPerClient: settings.frameMaxBytesPerClient,
      maxBytesTotal: settings.frameMaxBytesTotal,
      deadlineMs: settings.frameDeadlineMs,
    });
    this.lock.fileChanges = (changes) => void this.link.commit(changes, null, null);
    this.lock.roomForFile = () => this.fds.roomFor('file');
    if (settings.cluster) {
      const clusterLog = log.child({ component: 'cluster' });
      this.lock.cluster = new ClusterHolds(settings.cluster, connectEtcd(settings.cluster), clusterLog);
    }
    this.lock.killer.onOutcome = (result) => this.metrics.ownerKill(result);
    const none = new Map<number, Connection>();
    this.holdfast = new HoldfastService(
      {
        lock: this.lock,
        lockConnections: () => this.#lockServer?.connections ?? none,
        adminConnections: () => this.#adminServer?.connections ?? none,
        metrics: this.metrics,
        fds: this.fds,
        supervisor,
        generation: () => this.#generation,
        rootLog: log,
      },
      log.child({ component: 'admin' }),
    );
  }

  /**
   * Takes over the snapshot staged before `init` (serve() starts serving); throws if it is incomplete.
   * `init.lockRecheck` names the resources whose lock to re-take (absent: every one).
   */
  start(init: InitMessage, listenerFds: number[], staged: StagedCustody): void {
    if (staged.size !== init.expectedRecords) {
      throw new Error(`custody snapshot incomplete: got ${staged.size} records, expected ${init.expectedRecords}`);
    }
    let lockListenFd: number | null = null;
    let adminListenFd: number | null = null;
    for (const listener of init.listeners) {
      const fd = listenerFds[listener.fdIndex];
      if (fd === undefined) throw new Error(`init names fd ${listener.fdIndex} but carries ${listenerFds.length}`);
      if (listener.name === 'lock') lockListenFd = fd;
      else if (listener.name === 'admin') adminListenFd = fd;
      else native.close(fd);
    }
    if (lockListenFd === null) throw new Error('init carries no lock listener');
    this.#generation = init.generation;
    this.faults.setPoisoned(init.poisoned ?? []);
    this.link.isolate(init.suspects ?? []);
    this.faults.setSuspects(init.suspects ?? []);
    this.#lockServer = this.#createLockServer(lockListenFd);
    this.#lockServer.nextClientId = init.nextClientId;
    this.admin.addServer('virtlockd', this.#lockServer);
    if (adminListenFd !== null) {
      this.#adminServer = this.#createAdminServer(adminListenFd);
      this.#adminServer.nextClientId = init.nextClientId;
      this.admin.addServer('admin', this.#adminServer);
    }
    this.#adopt(staged, init.lockRecheck ?? null);
    // Holds first, then the lease: the lease starts a sweep for stale holds, which must know every live one.
    this.lock.adoptCluster();
    if (init.clusterLease) this.setClusterLease(init.clusterLease);
  }

  /** The supervisor's word on the host lease (at init, and at each grant, renewal and lapse). */
  setClusterLease(lease: ClusterLease): void {
    this.lock.cluster?.setLease({ id: lease.id, deadlineNs: lease.deadlineNs === null ? null : BigInt(lease.deadlineNs) });
  }

  /**
   * Starts reading requests, adopted connections first. Only after `ready` is out: a request that wedges
   * the worker is then a stall of a serving worker, which the supervisor can see and pin on it.
   */
  serve(): void {
    this.#lockServer?.start();
    this.#adminServer?.start();
  }

  /** Stops at a message boundary; resolves once no request is in progress and nothing awaits custody. */
  async drain(): Promise<void> {
    this.#lockServer?.pause();
    this.#adminServer?.pause();
    this.lock.detached.pause();
    while (!(this.#lockServer?.idle ?? true) || !(this.#adminServer?.idle ?? true) || this.link.inFlight > 0) await new Promise((r) => setImmediate(r));
  }

  /**
   * Custody keys of the OFD locks this worker holds a record of but not the lock (normally none). Drained,
   * it vouches for every other one, so its successor re-checks only these (see InitMessage.lockRecheck).
   */
  locksNotHeld(): string[] {
    const keys: string[] = [];
    for (const lockspace of this.lock.registry.all()) {
      for (const resource of lockspace.resources.values()) {
        if (!resource.lockHeld && resource.lockKind === 'ofd') keys.push(resourceKey(lockspace.directory ?? '', resource.name));
      }
    }
    return keys;
  }

  resume(): void {
    this.lock.detached.resume();
    this.#lockServer?.start();
    this.#adminServer?.start();
  }

  /** Closes this process's fds (custody keeps the sockets and locks) once pending owner kills are done. */
  async stop(): Promise<void> {
    this.#lockServer?.stop('handoff');
    this.#adminServer?.stop('handoff');
    while (this.lock.killer.inProgress > 0) await new Promise((r) => setTimeout(r, 50));
    this.lock.cluster?.close();
  }

  #adopt(staged: StagedCustody, lockRecheck: string[] | null): void {
    staged.recheckLocks(lockRecheck);
    for (const lockspace of staged.lockspaces()) {
      if (lockspace.directory === null) this.lock.registry.defaultLockspace.adoptAll(lockspace);
      else this.lock.registry.adopt(lockspace);
    }
    const server = this.#lockServer!;
    for (const { record, fd } of staged.clients()) this.#adoptClient(server, record, fd);
    this.lock.watchDetachedOwners(staged.withDetachedOwners());
    staged.handedOver();
  }

  #adoptClient(server: RpcServer, record: ClientRecord, fd: number | null): void {
    if (record.server === 'admin') return this.#adoptAdminClient(record, fd);
    if (fd === null || record.server !== 'virtlockd') {
      if (fd !== null) native.close(fd);
      return;
    }
    const connection = server.adopt(record.id, fd, record.peer, record.connectedAt);
    this.lock.adoptClient(connection, record);
  }

  #adoptAdminClient(record: ClientRecord, fd: number | null): void {
    if (fd !== null && this.#adminServer) {
      this.#adminServer.adopt(record.id, fd, record.peer, record.connectedAt);
      return;
    }
    // No admin listener any more: nobody could serve it, so let custody hang up on it.
    if (fd !== null) native.close(fd);
    void this.link.commit([{ op: 'drop', key: clientKey('admin', record.id) }], null, null);
  }

  #procedureName(header: MessageHeader): string {
    for (const program of [this.lock.program, this.admin.program, this.holdfast.program]) {
      if (program.number === header.prog) return program.procedures.get(header.proc)?.name ?? 'unknown';
    }
    return 'unknown';
  }

  #createAdminServer(listenFd: number): RpcServer {
    return this.#createServer(
      { name: 'admin', listenFd, maxClients: this.settings.adminMaxClients, component: 'admin-rpc' },
      {
        programs: [this.admin.program, this.holdfast.program],
        begin: (connection) => ({ connection, closeAfterReply: false }),
        takeChanges: () => NO_CHANGES,
        // CONNECT_CLOSE: hang up once the reply is out, as libvirt's delayed close does.
        hangUpAfterReply: (state) => state.closeAfterReply,
        open: (connection) => this.admin.open(connection),
        close: (connection) => this.admin.close(connection),
      },
    );
  }

  #createLockServer(listenFd: number): RpcServer {
    return this.#createServer(
      { name: 'virtlockd', listenFd, maxClients: this.settings.maxClients, component: 'rpc' },
      {
        programs: [this.lock.program],
        begin: (connection) => this.lock.request(connection),
        takeChanges: (request) => request.take(),
        hangUpAfterReply: () => false,
        open: (connection) => this.lock.open(connection),
        close: (connection) => this.lock.close(connection),
      },
    );
  }

  // A listening service whose program's changes (and each connection) are filed with custody, and whose
  // replies go out through the custody link. A request runs on its connection's slot (rpc/request-slot.ts):
  // no object, closure or promise of its own beyond the one custody's commit returns.
  #createServer<S>(options: { name: 'virtlockd' | 'admin'; listenFd: number; maxClients: number; component: string }, service: ServedProgram<S>): RpcServer {
    const programs = service.programs;
    const metrics = this.metrics;
    const rpcLog = this.log.child({ component: options.component });
    // Once the reply is out (or custody has the request's effect): bookkeeping, then the connection reads on.
    const finish = (slot: RequestSlot): void => {
      this.faults.done(slot.client);
      if (slot.started !== 0n) metrics.observe(process.hrtime.bigint() - slot.started);
      slot.reply = null;
      if (slot.hangUp) slot.connection.close('server');
      slot.connection.replied();
    };
    // The handler is done: count it, and file its changes with its reply (custody's order does the rest).
    const reply = (slot: RequestSlot, state: S): void => {
      metrics.request(options.name, slot.procedure, slot.ok);
      slot.hangUp = service.hangUpAfterReply(state);
      this.link.submit(service.takeChanges(state), slot.reply, slot, slot.settle);
    };
    return new RpcServer(
      { name: options.name, listenFd: options.listenFd, maxClients: options.maxClients, allowedUid: this.settings.allowedUid, budget: this.#frameBudget },
      {
        onFrame: (connection, header, frame, consume) => {
          const slot = connection.slot ?? (connection.slot = new RequestSlot(connection, clientKey(options.name, connection.id), finish));
          slot.consume = consume;
          slot.hangUp = false;
          // Metrics: one count per request; one request in a few is timed, arrival to reply delivered.
          slot.started = metrics.sample() ? process.hrtime.bigint() : 0n;
          const client = slot.client;
          const poisoned = this.faults.poisoned(client, frame);
          if (poisoned) {
            const procedureName = poisoned.procedureName;
            // It killed two workers: answer it without running it (a third would only die the same way).
            rpcLog.error({ server: options.name, client: connection.id, peerPid: connection.peer.pid, procedure: procedureName, serial: header.serial, length: frame.length }, 'answering a request that crashed or wedged two workers in a row with an error, without running it');
            metrics.request(options.name, procedureName, false);
            const refused = errorOutcome(header, VirError.internalError(`request not run: ${procedureName} (serial ${header.serial}) crashed or wedged two workers in a row`), procedureName);
            slot.started = 0n;
            this.link.submit(NO_CHANGES, refused.reply, slot, slot.settle);
            return REPLY_PENDING;
          }
          this.faults.begin(client, frame);
          const suspect = this.faults.suspect(client, header, frame);
          if (suspect) this.link.announce(suspect);
          const state = service.begin(connection);
          const outcome = dispatchFrame(programs, header, frame, state, rpcLog, slot);
          if (outcome instanceof Promise) outcome.then(() => reply(slot, state)).catch(slot.fail);
          else reply(slot, state);
          this.faults.ran();
          return REPLY_PENDING;
        },
        onOpen: (connection: Connection) => {
          rpcLog.debug({ server: options.name, client: connection.id, peerPid: connection.peer.pid }, 'client connected');
          return this.link.commit(service.open(connection), null, null);
        },
        onClose: (connection: Connection, reason) => {
          rpcLog.debug({ server: options.name, client: connection.id, reason }, 'client disconnected');
          this.faults.done(clientKey(options.name, connection.id));
          if (reason === 'handoff') return;
          void this.link.commit(service.close(connection), null, null);
        },
        barrier: () => this.link.barrier(),
        roomForClient: () => this.fds.roomFor('client'),
      },
      rpcLog,
    );
  }
}
