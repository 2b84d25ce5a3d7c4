// One small handler per lock-protocol procedure. Every handler checks, in virtlockd's order:
// flags → restricted → registered → lockspace lookup → operation. Handlers throw VirError; the program
// layer (worker/rpc/program.ts) turns the first error into the reply.
import { VirError, VirErrorDomain } from '../../shared/rpc/vir-error';
import {
  CreateLockspaceArgs,
  LockProcedure,
  NewArgs,
  RegisterArgs,
  ResourceArgs,
  RestrictArgs,
} from '../../shared/rpc/lock-protocol';
import { bytesToUuid } from '../../shared/rpc/uuid';
import { LockClientState } from './lock-client-state';
import { LockspaceRegistry } from './registry';
import { ACQUIRE_AUTOCREATE, ACQUIRE_SHARED, LockResource } from './resource';
import { ReleaseOutcome } from './lockspace';
import { testFaultInAcquire } from '../test-faults';

/** What a request changed, as it happens: custody, metrics and logs are fed from here. */
export interface LockJournal {
  /** A resource was taken (`created`: it has a new fd) or gained an owner. */
  acquired(resource: LockResource, lockspace: string, created: boolean): void;
  /** A resource lost an owner; `outcome.freed` when it was the last one (lock and fd gone). */
  released(outcome: ReleaseOutcome, lockspace: string): void;
  /** REGISTER or RESTRICT changed what the connection is. */
  clientChanged(client: LockClientState): void;
  lockspaceCreated(directory: string): void;
}

export interface LockDispatchContext {
  registry: LockspaceRegistry;
  journal: LockJournal;
}

export type LockHandler<A> = (ctx: LockDispatchContext, client: LockClientState, args: A) => void;

// libvirt names the dispatch function in its flag errors; keep the names it would print.
const FUNCTION_NAMES: Record<LockProcedure, string> = {
  [LockProcedure.REGISTER]: 'virLockSpaceProtocolDispatchRegister',
  [LockProcedure.RESTRICT]: 'virLockSpaceProtocolDispatchRestrict',
  [LockProcedure.NEW]: 'virLockSpaceProtocolDispatchNew',
  [LockProcedure.CREATE_RESOURCE]: 'virLockSpaceProtocolDispatchCreateResource',
  [LockProcedure.DELETE_RESOURCE]: 'virLockSpaceProtocolDispatchDeleteResource',
  [LockProcedure.ACQUIRE_RESOURCE]: 'virLockSpaceProtocolDispatchAcquireResource',
  [LockProcedure.RELEASE_RESOURCE]: 'virLockSpaceProtocolDispatchReleaseResource',
  [LockProcedure.CREATE_LOCKSPACE]: 'virLockSpaceProtocolDispatchCreateLockSpace',
};

function checkFlags(proc: LockProcedure, flags: number, allowed: number): void {
  const unknown = (flags & ~allowed) >>> 0;
  if (unknown !== 0) throw VirError.unsupportedFlags(unknown, FUNCTION_NAMES[proc]);
}

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
function checkOwnerCall(proc: LockProcedure, client: LockClientState, flags: number, allowed: number): void {
  checkFlags(proc, flags, allowed);
  checkNotRestricted(client);
  checkRegistered(client);
}

const register: LockHandler<RegisterArgs> = (ctx, client, args) => {
  checkFlags(LockProcedure.REGISTER, args.flags, 0);
  checkNotRestricted(client);
  // libvirt 9.0 re-registers silently but treats owner id 0 as "not registered".
  if (args.owner.id === 0) throw notRegistered();
  client.owner = { uuid: bytesToUuid(args.owner.uuid), name: args.owner.name, id: args.owner.id, pid: args.owner.pid };
  client.registeredAt = Date.now();
  ctx.journal.clientChanged(client);
};

const restrict: LockHandler<RestrictArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.RESTRICT, client, args.flags, 0);
  client.restricted = true;
  ctx.journal.clientChanged(client);
};

const newLockspace: LockHandler<NewArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.NEW, client, args.flags, 0);
  ctx.registry.add(args.path);
  ctx.journal.lockspaceCreated(args.path);
};

const createResource: LockHandler<ResourceArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.CREATE_RESOURCE, client, args.flags, 0);
  ctx.registry.lookup(args.path).createResource(args.name);
};

const deleteResource: LockHandler<ResourceArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.DELETE_RESOURCE, client, args.flags, 0);
  ctx.registry.lookup(args.path).deleteResource(args.name);
};

const acquireResource: LockHandler<ResourceArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.ACQUIRE_RESOURCE, client, args.flags, ACQUIRE_SHARED | ACQUIRE_AUTOCREATE);
  testFaultInAcquire(args.name);
  const lockspace = ctx.registry.lookup(args.path);
  const created = !lockspace.resources.has(args.name);
  const resource = lockspace.acquire(args.name, client.ownerPid, args.flags, client.clientPid === client.ownerPid);
  ctx.journal.acquired(resource, args.path, created);
};

const releaseResource: LockHandler<ResourceArgs> = (ctx, client, args) => {
  checkOwnerCall(LockProcedure.RELEASE_RESOURCE, client, args.flags, 0);
  const outcome = ctx.registry.lookup(args.path).release(args.name, client.ownerPid);
  ctx.journal.released(outcome, args.path);
};

const createLockspace: LockHandler<CreateLockspaceArgs> = (ctx, client, args) => {
  checkNotRestricted(client);
  if (args.path !== '' && !ctx.registry.has(args.path)) {
    ctx.registry.ensure(args.path);
    ctx.journal.lockspaceCreated(args.path);
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
