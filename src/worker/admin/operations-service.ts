// holdfast's own admin program (0x484F4C44) as the worker serves it on the admin socket: who holds what,
// clients, lockspaces, status and metrics from the live lock service, log level changes, and upgrade/swap
// requests passed on to the supervisor. Nothing here can release a lock or close a lock client.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { FdUse } from '../../shared/platform/fd-budget';
import { getLogSettings, setLevel } from '../../shared/platform/log';
import { ACCEPTED_PRIORITY_TEXT, parsePriorityName } from '../../shared/platform/log-priority-names';
import * as native from '../../shared/platform/native';
import {
  ActionReply,
  ClientInfo,
  HOLDFAST_PAGE_BYTES,
  HOLDFAST_PROGRAM,
  HOLDFAST_PROGRAM_VERSION,
  HoldfastProcedure,
  LockInfo,
  LockOwnerInfo,
  StatusReply,
  SupervisorStatus,
  OPERATIONS_PROCEDURES,
  type OperationsProcedureArgs,
  type OperationsProcedureEntry,
  type OperationsProcedureReplies,
} from '../../shared/protocol/operations-program';
import { checkFlags } from '../../shared/protocol/flag-check';
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';
import { HOLDFAST_VERSION } from '../../shared/platform/version';
import type { LockClientState } from '../lock/lock-client-state';
import type { LockService } from '../lock/lock-service';
import { ACQUIRE_AUTOCREATE } from '../../shared/custody/records/resource-record';
import type { LockResource } from '../lock/resource';
import type { WorkerMetrics } from '../metrics';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import type { AdminRequest } from './admin-service';
import { clusterHoldCounts, clusterReport, leaseNow } from './cluster-report';

/** The worker's line to its supervisor, as this service needs it. */
export interface SupervisorBridge {
  /** The supervisor's latest status; null before the first arrives. */
  supervisorStatus(): SupervisorStatus | null;
  /** Asks the supervisor to upgrade or swap; resolves with whether it took the request, and its status before. */
  request(action: 'upgrade' | 'swap'): Promise<{ accepted: boolean; reason: string | null; supervisor: SupervisorStatus }>;
  /** The log level changed: the supervisor keeps it for the workers that come after this one. */
  logLevelChanged(level: 1 | 2 | 3 | 4): void;
}

/** What the service reads from the worker. */
export interface HoldfastServiceSources {
  lock: LockService;
  lockConnections(): ReadonlyMap<number, Connection>;
  adminConnections(): ReadonlyMap<number, Connection>;
  metrics: WorkerMetrics;
  /** This worker's fd use; the supervisor's is read from /proc. */
  fds: { use(): FdUse };
  supervisor: SupervisorBridge;
  generation(): number;
  rootLog: Logger;
}

const HOLDFAST = VirErrorDomain.ADMIN;
// /proc/<pid>/stat field 22 counts clock ticks since boot; Linux's USER_HZ is 100 on every architecture Node runs on.
const CLOCK_TICKS_PER_SECOND = 100;

export class HoldfastService {
  readonly program: RpcProgram<AdminRequest>;
  readonly #startedAt = Date.now();
  readonly #daemonStartedAt = processStartTime(process.ppid);

  constructor(
    private readonly sources: HoldfastServiceSources,
    private readonly log: Logger,
  ) {
    this.program = new RpcProgram(HOLDFAST_PROGRAM, HOLDFAST_PROGRAM_VERSION, this.#procedures());
  }

  /** The STATUS answer. */
  status(): StatusReply {
    const lock = this.sources.lock;
    return {
      supervisor: this.sources.supervisor.supervisorStatus(),
      worker: { version: HOLDFAST_VERSION, pid: process.pid, generation: this.sources.generation(), startedAt: this.#startedAt },
      daemonStartedAt: this.#daemonStartedAt,
      uptimeSeconds: this.#daemonStartedAt === null ? null : Math.max(0, (Date.now() - this.#daemonStartedAt) / 1000),
      clients: { lock: this.sources.lockConnections().size, admin: this.sources.adminConnections().size },
      locksHeld: lock.locksHeld,
      lockspaces: lock.registry.all().length - 1,
      logLevel: getLogSettings(this.sources.rootLog).level,
      fds: { supervisor: supervisorFdUse(this.sources.supervisor.supervisorStatus()?.pid ?? process.ppid), worker: this.sources.fds.use() },
    };
  }

  /** Every held resource, in (lockspace, name) order. */
  locks(filter: { path?: string | null; owner?: string | null } = {}): LockInfo[] {
    const owners = this.#ownersByPid();
    const locks: LockInfo[] = [];
    for (const lockspace of this.sources.lock.registry.all()) {
      const directory = lockspace.directory ?? '';
      for (const resource of lockspace.resources.values()) {
        if (filter.path && !samePath(resource.path, filter.path)) continue;
        const info = lockInfo(directory, resource, owners);
        if (filter.owner && !info.owners.some((o) => ownerMatches(o, filter.owner!))) continue;
        locks.push(info);
      }
    }
    return locks.sort((a, b) => byCodeUnit(cursorOf(a), cursorOf(b)));
  }

  /** Every client of both servers, lock clients first, each by id. */
  clients(): ClientInfo[] {
    const lock = this.sources.lock;
    const held = new Map<number, number>();
    for (const lockspace of lock.registry.all()) {
      for (const resource of lockspace.resources.values()) for (const pid of new Set(resource.owners)) held.set(pid, (held.get(pid) ?? 0) + 1);
    }
    const list: ClientInfo[] = [];
    for (const connection of [...this.sources.lockConnections().values()].sort((a, b) => a.id - b.id)) {
      const state = lock.clients.get(connection.id);
      const owner = state?.registered ? state.owner : null;
      list.push({
        server: 'virtlockd',
        id: connection.id,
        pid: connection.peer.pid,
        uid: connection.peer.uid,
        connectedAt: connection.connectedAt,
        restricted: state?.restricted ?? false,
        owner: owner ? { name: owner.name, uuid: owner.uuid, id: owner.id, pid: owner.pid } : null,
        registeredAt: owner ? state!.registeredAt : null,
        locks: owner ? held.get(owner.pid) ?? 0 : 0,
      });
    }
    for (const connection of [...this.sources.adminConnections().values()].sort((a, b) => a.id - b.id)) {
      list.push({
        server: 'admin',
        id: connection.id,
        pid: connection.peer.pid,
        uid: connection.peer.uid,
        connectedAt: connection.connectedAt,
        restricted: false,
        owner: null,
        registeredAt: null,
        locks: 0,
      });
    }
    return list;
  }

  // Owner details come from the connections registered for a pid (libvirt registers the VM's pid).
  #ownersByPid(): Map<number, LockClientState[]> {
    const byPid = new Map<number, LockClientState[]>();
    for (const client of this.sources.lock.clients.values()) {
      if (!client.registered) continue;
      const list = byPid.get(client.ownerPid) ?? [];
      list.push(client);
      byPid.set(client.ownerPid, list);
    }
    return byPid;
  }

  async #action(action: 'upgrade' | 'swap'): Promise<ActionReply> {
    // The counters come with the answer, from before the supervisor acted: a newer status may already be here.
    const { accepted, reason, supervisor: before } = await this.sources.supervisor.request(action);
    this.log.info({ action, accepted, reason }, `${action} requested by an admin client`);
    return {
      accepted,
      reason,
      upgrades: before.upgrades,
      upgradeRefusals: before.upgradeRefusals,
      workerSwaps: before.workerSwaps,
      swapFailures: before.swapFailures,
    };
  }

  #procedures(): Map<number, Procedure<AdminRequest>> {
    const table = new Map<number, Procedure<AdminRequest>>();
    // Name, codecs and flag check from the program's table; the answer from the handler.
    const add = <P extends HoldfastProcedure>(
      proc: P,
      handle: (args: OperationsProcedureArgs[P]) => OperationsProcedureReplies[P] | Promise<OperationsProcedureReplies[P]>,
    ): void => {
      const spec = OPERATIONS_PROCEDURES[proc] as OperationsProcedureEntry<P>;
      table.set(proc, {
        name: spec.name,
        decode: spec.decode,
        handle: (_req, args) => {
          const a = args as OperationsProcedureArgs[P];
          checkFlags(spec, a.flags);
          const reply = handle(a);
          return reply instanceof Promise ? reply.then((r) => spec.encodeReply(r)) : spec.encodeReply(reply);
        },
      });
    };
    add(HoldfastProcedure.STATUS, () => this.status());
    add(HoldfastProcedure.LOCKS, (a) => page(this.locks(a), a.after, cursorOf, 'locks'));
    add(HoldfastProcedure.CLIENTS, (a) => page(this.clients(), a.after, clientCursor, 'clients'));
    add(HoldfastProcedure.LOCKSPACES, () => {
      const lockspaces = this.sources.lock.registry.all().map((l) => ({ path: l.directory ?? '', resources: l.size }));
      return { lockspaces };
    });
    add(HoldfastProcedure.WHO, (a) => {
      if (!path.isAbsolute(a.path)) throw VirError.invalidArg(`'${a.path}' is not an absolute path`, HOLDFAST);
      const holders = this.locks({ path: a.path });
      return { path: a.path, held: holders.length > 0, holders };
    });
    add(HoldfastProcedure.UPGRADE, () => this.#action('upgrade'));
    add(HoldfastProcedure.SWAP_WORKER, () => this.#action('swap'));
    add(HoldfastProcedure.SET_LOG_LEVEL, (a) => {
      const root = this.sources.rootLog;
      const previous = getLogSettings(root).level;
      const wanted = parsePriorityName(a.level);
      if (wanted === null) throw VirError.invalidArg(`unknown log level '${a.level}' (expected ${ACCEPTED_PRIORITY_TEXT})`, HOLDFAST);
      setLevel(root, wanted);
      const level = getLogSettings(root).level;
      this.sources.supervisor.logLevelChanged(level);
      this.log.info({ previousPriority: previous, priority: level }, 'log level changed by an admin client');
      return { previous, level };
    });
    add(HoldfastProcedure.CLUSTER, () => clusterReport(this.sources.lock, this.sources.supervisor.supervisorStatus()));
    add(HoldfastProcedure.METRICS, () => {
      const s = this.status();
      const cluster = this.sources.lock.cluster;
      return this.sources.metrics.render({
        locksHeld: s.locksHeld,
        lockClients: s.clients.lock,
        adminClients: s.clients.admin,
        lockspaces: s.lockspaces,
        generation: s.worker.generation,
        supervisor: s.supervisor,
        fds: s.fds ?? null,
        cluster: cluster && {
          requests: cluster.counts,
          holds: clusterHoldCounts(this.sources.lock.registry.all()),
          lease: leaseNow(cluster, s.supervisor),
        },
      });
    });
    return table;
  }
}

// Counted at the moment of asking; null where /proc will not tell us (another uid, say).
function supervisorFdUse(pid: number): FdUse | null {
  try {
    return { used: native.countOpenFds(pid), limit: native.nofileLimit(pid).soft };
  } catch {
    return null;
  }
}

/** One resource as LOCKS and WHO report it (the owners' details from their connections, by pid). */
export function lockInfo(directory: string, resource: LockResource, owners: ReadonlyMap<number, LockClientState[]>): LockInfo {
  // One entry per owner pid (a shared lock may list a pid more than once: one per acquisition).
  const cluster = resource.cluster;
  const ownerInfos: LockOwnerInfo[] = [...new Set(resource.owners)].map((pid) => {
    const clients = owners.get(pid) ?? [];
    const detached = resource.detachedOwners.includes(pid);
    // A detached owner has no connection to ask; what it registered as came back with its lock.
    const first = clients[0]?.owner ?? (detached ? resource.detachedOwnerInfo.get(pid) : undefined) ?? null;
    const info: LockOwnerInfo = {
      pid,
      name: first?.name ?? null,
      uuid: first?.uuid ?? null,
      clients: clients.map((c) => c.id).sort((a, b) => a - b),
      detached,
    };
    // The fields exist only for a cluster resource: a local one's answer stays as it always was.
    if (cluster !== null) info.token = cluster.holds.find((h) => h.pid === pid)?.token ?? null;
    return info;
  });
  const info: LockInfo = {
    lockspace: directory,
    resource: resource.name,
    path: resource.path,
    mode: resource.shared ? 'shared' : 'exclusive',
    autocreate: (resource.flags & ACQUIRE_AUTOCREATE) !== 0,
    owners: ownerInfos,
    acquiredAt: resource.acquiredAt,
  };
  if (cluster !== null) info.cluster = true;
  return info;
}

// Resource paths are as the lock client named them; relative ones are relative to the daemon's cwd.
function samePath(resourcePath: string, wanted: string): boolean {
  return resourcePath === wanted || path.resolve(resourcePath) === path.resolve(wanted);
}

function ownerMatches(owner: LockOwnerInfo, wanted: string): boolean {
  return String(owner.pid) === wanted || owner.name === wanted || (owner.uuid !== null && owner.uuid.toLowerCase() === wanted.toLowerCase());
}

const cursorOf = (l: LockInfo): string => `${l.lockspace}\u0000${l.resource}`;
// The order page() resumes in (its `>`): by code unit, never by locale, or a page could skip or repeat.
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const clientCursor = (c: ClientInfo): string => `${c.server === 'virtlockd' ? 0 : 1}:${String(c.id).padStart(16, '0')}`;

/** The entries after `after` (a cursor of the previous page), up to about HOLDFAST_PAGE_BYTES of JSON. */
function page<T, K extends string>(items: T[], after: string | null, cursor: (t: T) => string, key: K): Record<K, T[]> & { next: string | null } {
  const start = after === null ? 0 : items.findIndex((t) => cursor(t) > after);
  const chosen: T[] = [];
  let bytes = 0;
  let next: string | null = null;
  if (start >= 0) {
    for (let i = start; i < items.length; i++) {
      const item = items[i]!;
      bytes += JSON.stringify(item).length + 1;
      if (chosen.length > 0 && bytes > HOLDFAST_PAGE_BYTES) {
        next = cursor(chosen[chosen.length - 1]!);
        break;
      }
      chosen.push(item);
    }
  }
  return { [key]: chosen, next } as Record<K, T[]> & { next: string | null };
}

/** When process `pid` started, ms since the epoch (from /proc), or null if it cannot be read. */
function processStartTime(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const btime = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    if (!btime || !Number.isFinite(ticks)) return null;
    return Math.round(Number(btime[1]) * 1000 + (ticks * 1000) / CLOCK_TICKS_PER_SECOND);
  } catch {
    return null;
  }
}
