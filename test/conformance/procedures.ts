// The eight lock procedures behind one uniform call, so a check can say "every procedure gets X".
// Uses only the client library's public API.
import type { LockClient } from '../../src/client/lock-client';
import { owner } from './context';

export const PROCEDURES = [
  'REGISTER', 'RESTRICT', 'NEW', 'CREATE_RESOURCE', 'DELETE_RESOURCE', 'ACQUIRE_RESOURCE', 'RELEASE_RESOURCE',
  'CREATE_LOCKSPACE',
] as const;
export type ProcName = (typeof PROCEDURES)[number];

/** Procedures with a flags word, and the flag bits each accepts. */
export const ALLOWED_FLAGS = {
  REGISTER: 0,
  RESTRICT: 0,
  NEW: 0,
  CREATE_RESOURCE: 0,
  DELETE_RESOURCE: 0,
  ACQUIRE_RESOURCE: 0x3, // SHARED | AUTOCREATE
  RELEASE_RESOURCE: 0,
} as const;

/** Arguments a check supplies; each procedure picks the ones it takes. */
export interface ProcArgs {
  /** Lockspace for the resource procedures. */
  lockspace: string;
  /** Resource name. */
  name: string;
  /** Path for NEW / CREATE_LOCKSPACE. */
  path: string;
  /** Owner pid for REGISTER. */
  pid: number;
  /** Owner id for REGISTER (0 = the "not registered" case). */
  id?: number;
}

/** Calls `proc` with `args` and `flags` (ignored by CREATE_LOCKSPACE, which has no flags field). */
export function invoke(client: LockClient, proc: ProcName, args: ProcArgs, flags = 0): Promise<void> {
  switch (proc) {
    case 'REGISTER': return client.register(owner(args.pid, args.id ?? 1), flags);
    case 'RESTRICT': return client.restrict(flags);
    case 'NEW': return client.newLockspace(args.path, flags);
    case 'CREATE_RESOURCE': return client.createResource(args.lockspace, args.name, flags);
    case 'DELETE_RESOURCE': return client.deleteResource(args.lockspace, args.name, flags);
    case 'ACQUIRE_RESOURCE': return client.acquire(args.lockspace, args.name, flags);
    case 'RELEASE_RESOURCE': return client.release(args.lockspace, args.name, flags);
    case 'CREATE_LOCKSPACE': return client.createLockspace(args.path);
  }
}
