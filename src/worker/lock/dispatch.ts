// One small handler per lock-protocol procedure. Every handler checks, in virtlockd's order:
// flags → restricted → registered → lockspace lookup → operation. Which flags a procedure accepts, and the
// function its refusal names, come from the lock program's table (shared/protocol/lock-program.ts).
// Handlers throw VirError; the program layer (worker/rpc/program.ts) turns the first error into the reply.
import { constants as osConstants } from 'node:os';
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';
import {
  DecodedCreateLockspaceArgs,
  DecodedNewArgs,
  DecodedRegisterArgs,
  LOCK_PROCEDURES,
  LockProcedure,
  RestrictArgs,
  checkFlags,
} from '../../shared/protocol/lock-program';
import { bytesToUuid } from '../../shared/protocol/uuid';
import { exactName, exactNameIn } from './exact-name';
import { LockClientState } from './lock-client-state';
import { LockspaceRegistry } from './registry';
import { LockResource, cannotOpen } from './resource';
import type { ResourceArgsView } from './resource-args-view';

const EMFILE = osConstants.errno.EMFILE;
import { Lockspace, ReleaseOutcome } from './lockspace';
import { testFaultInAcquire } from '../test-faults';
import type { ClusterHolds } from '../cluster/cluster-holds';

/** What a request changed, as it happens: custody, metrics and logs are fed from here. */
export interface LockJournal {
  /**
   * A resource was taken (`created`: it has a new fd) or gained an owner. `joined`: the owner pid added as
   * the only change (a plain share of a held lock), else null.
   */
  acquired(resource: LockResource, lockspace: string, created: boolean, joined: number | null): void;
  /**
   * A resource lost an owner; `outcome.freed` when it was the last one (lock and fd gone). For a cluster
   * resource, resolves once etcd has let go of the holds this ended (bounded: a failed delete is retried
   * in the background).
   */
  released(outcome: ReleaseOutcome, lockspace: string): Promise<void> | void;
  /** REGISTER or RESTRICT changed what the connection is. */
  clientChanged(client: LockClientState): void;
  lockspaceCreated(directory: string): void;
}

export interface LockDispatchContext {
  registry: LockspaceRegistry;
  journal: LockJournal;
  /** Whether the fd budget has room for one more locked file (see worker/fd-budget.ts). */
  roomForFile(): boolean;
  /** The cluster's holds, or null when no cluster is configured. */
  cluster: ClusterHolds | null;
  /** A journal whose changes go to custody at once, in a commit of their own ahead of the request's. */
  early: LockJournal;
  /** The journal of the request in progress, for the part of it that runs after an await. */
  requestJournal(): LockJournal;
}

/** A handler; the cluster's steps make some asynchronous (their reply waits for etcd). */
export type LockHandler<A> = (ctx: LockDispatchContext, client: LockClientState, args: A) => void | Promise<void>;

function checkNotRestricted(client: LockClientState): void {
  if (client.restricted) throw VirError.operationDenied('lock manager connection has been restricted', VirErrorDomain.RPC);
}

function notRegistered(): VirError {
  return VirError.operationInvalid('lock owner details have not been registered', VirErrorDomain.RPC);
}

function checkRegistered(client: LockClientState): void {
  if (!client.registered) throw notRegistered();
}

/** The common preamble of the procedures that act for a registered, unrestricted owner. */
function checkOwnerCall(proc: LockProcedure, client: LockClientState, flags: number): void {
  checkFlags(LOCK_PROCEDURES[proc], flags);
  checkNotRestricted(client);
  checkRegistered(client);
}

/** The lockspace path of a resource call, exactly as sent (or INVALID_ARG). Checked before the name. */
function lockspacePath(args: ResourceArgsView): string {
  return exactNameIn(args.frame, args.pathStart, args.pathEnd, 'lockspace path');
}

/** The resource name of a resource call, exactly as sent (or INVALID_ARG). */
function resourceName(args: ResourceArgsView): string {
  return exactNameIn(args.frame, args.nameStart, args.nameEnd, 'resource name');
}

const register: LockHandler<DecodedRegisterArgs> = (ctx, client, args) => {
  checkFlags(LOCK_PROCEDURES[LockProcedure.REGISTER], args.flags);
  checkNotRestricted(client);
  const name = exactName(args.owner.nameBytes, 'owner name');
  // libvirt 9.0 re-registers silently but treats owner id 0 as "not registered".
  if (args.owner.id === 0) throw notRegistered();
  client.owner = { uuid: bytesToUuid(args.owner.uuid), name, id: args.owner.id, pid: args.owner.pid };
  client.registeredAt = Date.now();
  ctx.journal.clientChanged(client);
};

const restrict: LockHandler<RestrictArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.RESTRICT, client, args.flags);
  client.restricted = true;
  ctx.journal.clientChanged(client);
};

const newLockspace: LockHandler<DecodedNewArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.NEW, client, args.flags);
  const path = exactName(args.pathBytes, 'lockspace path');
  ctx.registry.add(path);
  ctx.journal.lockspaceCreated(path);
};

const createResource: LockHandler<ResourceArgsView> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.CREATE_RESOURCE, client, args.flags);
  const path = lockspacePath(args);
  const name = resourceName(args);
  ctx.registry.lookup(path).createResource(name);
};

const deleteResource: LockHandler<ResourceArgsView> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.DELETE_RESOURCE, client, args.flags);
  const path = lockspacePath(args);
  const name = resourceName(args);
  ctx.registry.lookup(path).deleteResource(name);
};

const acquireResource: LockHandler<ResourceArgsView> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.ACQUIRE_RESOURCE, client, args.flags);
  const path = lockspacePath(args);
  const name = resourceName(args);
  testFaultInAcquire(name);
  const lockspace = ctx.registry.lookup(path);
  const existing = lockspace.resources.get(name);
  // Refused before anything is opened, as virtlockd answers an open that failed for want of fds.
  if (existing === undefined && !ctx.roomForFile()) throw cannotOpen(lockspace.resourcePath(name), args.flags, EMFILE);
  // Without detached owners, acquiring a held resource can only add this owner (or throw).
  const joins = existing !== undefined && existing.detachedOwners.length === 0;
  // A cluster resource without a usable lease is refused before anything is locked or filed: custody must
  // never hear of a pending owner then (the supervisor fences those when no lease is valid).
  const inCluster = ctx.cluster !== null && ctx.cluster.covers(path, existing?.path ?? lockspace.resourcePath(name));
  if (inCluster) {
    const refusal = ctx.cluster!.refusalWithoutLease(name);
    if (refusal !== null) throw refusal;
  }
  const resource = lockspace.acquire(name, client.ownerPid, args.flags, client.clientPid === client.ownerPid);
  if (inCluster) return acquireInCluster(ctx, client, path, lockspace, resource, existing === undefined);
  ctx.journal.acquired(resource, path, existing === undefined, joins ? client.ownerPid : null);
};

/**
 * A cluster resource, its local lock just taken: custody learns of the lock and of the owner's pending hold
 * at once (so that a fence reaches the owner however this ends), then etcd is asked, and only its answer is
 * the reply. Refused by etcd: the local lock is released again and nothing is held.
 */
function acquireInCluster(ctx: LockDispatchContext, client: LockClientState, path: string, lockspace: Lockspace, resource: LockResource, created: boolean): void | Promise<void> {
  const cluster = ctx.cluster!;
  const pid = client.ownerPid;
  const part = (resource.cluster ??= { holds: [], pending: [] });
  // The same owner sharing again: etcd has its hold already.
  if (part.holds.some((hold) => hold.pid === pid)) return ctx.journal.acquired(resource, path, created, null);
  part.pending.push(pid);
  ctx.early.acquired(resource, path, created, null);
  const journal = ctx.requestJournal();
  const owner = { pid, name: client.owner?.name ?? '', uuid: client.owner?.uuid ?? '' };
  const stillHeld = (): boolean => lockspace.resources.get(resource.name) === resource;
  const heldByOwner = (): boolean => stillHeld() && resource.owners.includes(pid);
  const settled = (): void => {
    removeOne(part.pending, pid);
  };
  return cluster.hold(path, resource, owner).then(
    (hold) => {
      settled();
      if (!heldByOwner()) {
        // The owner's connection closed (its locks released) while etcd was asked.
        void cluster.release(hold);
        if (stillHeld()) journal.acquired(resource, path, false, null);
        throw VirError.operationInvalid(`lock owner ${pid} released resource '${resource.name}' while it was being acquired`, VirErrorDomain.LOCKSPACE);
      }
      part.holds.push(hold);
      journal.acquired(resource, path, false, null);
    },
    (err: unknown) => {
      settled();
      if (heldByOwner()) void journal.released(lockspace.release(resource.name, pid), path);
      else if (stillHeld()) journal.acquired(resource, path, false, null);
      throw err;
    },
  );
}

function removeOne(list: number[], value: number): void {
  const at = list.indexOf(value);
  if (at >= 0) list.splice(at, 1);
}

const releaseResource: LockHandler<ResourceArgsView> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.RELEASE_RESOURCE, client, args.flags);
  const path = lockspacePath(args);
  const name = resourceName(args);
  const outcome = ctx.registry.lookup(path).release(name, client.ownerPid);
  // A cluster resource answers once etcd has let go, so that another host may take it right after.
  return ctx.journal.released(outcome, path);
};

const createLockspace: LockHandler<DecodedCreateLockspaceArgs> = (ctx, client, args) => {
  checkNotRestricted(client);
  const path = exactName(args.pathBytes, 'lockspace path');
  if (path !== '' && !ctx.registry.has(path)) {
    ctx.registry.ensure(path);
    ctx.journal.lockspaceCreated(path);
  }
};

/** Handlers by procedure number, for the program table. */
export const LOCK_HANDLERS = {
  [LockProcedure.REGISTER]: register,
  [LockProcedure.RESTRICT]: restrict,
  [LockProcedure.NEW]: newLockspace,
  [LockProcedure.CREATE_RESOURCE]: createResource,
  [LockProcedure.DELETE_RESOURCE]: deleteResource,
  [LockProcedure.ACQUIRE_RESOURCE]: acquireResource,
  [LockProcedure.RELEASE_RESOURCE]: releaseResource,
  [LockProcedure.CREATE_LOCKSPACE]: createLockspace,
} as const;

/**
 * virtlockd's disconnect rule: only when the connecting process is the owner itself, release everything
 * that pid owns in every lockspace. Returns what was released; the caller decides whether to kill.
 */
export function releaseForDisconnect(ctx: LockDispatchContext, client: LockClientState): ReleaseOutcome[] {
  if (client.ownerPid === 0 || client.clientPid !== client.ownerPid) return [];
  const outcomes: ReleaseOutcome[] = [];
  for (const lockspace of ctx.registry.all()) {
    for (const outcome of lockspace.releaseAllOf(client.ownerPid)) {
      outcomes.push(outcome);
      ctx.journal.released(outcome, lockspace.directory ?? '');
    }
  }
  return outcomes;
}
