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
import { ReleaseOutcome } from './lockspace';
import { testFaultInAcquire } from '../test-faults';

/** What a request changed, as it happens: custody, metrics and logs are fed from here. */
export interface LockJournal {
  /**
   * A resource was taken (`created`: it has a new fd) or gained an owner. `joined`: the owner pid added as
   * the only change (a plain share of a held lock), else null.
   */
  acquired(resource: LockResource, lockspace: string, created: boolean, joined: number | null): void;
  /** A resource lost an owner; `outcome.freed` when it was the last one (lock and fd gone). */
  released(outcome: ReleaseOutcome, lockspace: string): void;
  /** REGISTER or RESTRICT changed what the connection is. */
  clientChanged(client: LockClientState): void;
  lockspaceCreated(directory: string): void;
}

export interface LockDispatchContext {
  registry: LockspaceRegistry;
  journal: LockJournal;
  /** Whether the fd budget has room for one more locked file (see worker/fd-budget.ts). */
  roomForFile(): boolean;
}

export type LockHandler<A> = (ctx: LockDispatchContext, client: LockClientState, args: A) => void;

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
  const resource = lockspace.acquire(name, client.ownerPid, args.flags, client.clientPid === client.ownerPid);
  ctx.journal.acquired(resource, path, existing === undefined, joins ? client.ownerPid : null);
};

const releaseResource: LockHandler<ResourceArgsView> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.RELEASE_RESOURCE, client, args.flags);
  const path = lockspacePath(args);
  const name = resourceName(args);
  const outcome = ctx.registry.lookup(path).release(name, client.ownerPid);
  ctx.journal.released(outcome, path);
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
