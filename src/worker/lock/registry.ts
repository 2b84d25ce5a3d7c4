// The lockspace registry: the default (direct) lockspace plus every directory lockspace, looked up by path.
// Lockspaces are never removed, as in virtlockd.
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';
import { Lockspace } from './lockspace';

export class LockspaceRegistry {
  readonly defaultLockspace = new Lockspace(null);
  readonly #byDirectory = new Map<string, Lockspace>();

  /** The lockspace for a protocol `path` ("" = default); unknown paths are libvirt's internal error. */
  lookup(path: string): Lockspace {
    if (path === '') return this.defaultLockspace;
    const lockspace = this.#byDirectory.get(path);
    if (!lockspace) throw VirError.internalError(`Lockspace for path ${path} does not exist`, VirErrorDomain.RPC);
    return lockspace;
  }

  /** NEW: a second NEW of the same path, or of "", is an error. */
  add(path: string): Lockspace {
    if (path === '') throw VirError.operationInvalid('the default lockspace already exists', VirErrorDomain.RPC);
    if (this.#byDirectory.has(path)) throw VirError.internalError(`Lockspace for path ${path} already exists`, VirErrorDomain.RPC);
    return this.#insert(path);
  }

  /** CREATE_LOCKSPACE: idempotent; "" and known paths succeed without change. */
  ensure(path: string): Lockspace {
    if (path === '') return this.defaultLockspace;
    return this.#byDirectory.get(path) ?? this.#insert(path);
  }

  has(path: string): boolean {
    return path === '' || this.#byDirectory.has(path);
  }

  /** Every lockspace, default first. */
  all(): Lockspace[] {
    return [this.defaultLockspace, ...this.#byDirectory.values()];
  }

  /** Re-inserts a lockspace restored from state without touching the filesystem. */
  adopt(lockspace: Lockspace): void {
    if (lockspace.directory === null) throw new Error('the default lockspace cannot be adopted');
    this.#byDirectory.set(lockspace.directory, lockspace);
  }

  #insert(path: string): Lockspace {
    if (path.includes('\0')) throw VirError.invalidArg('lockspace path must not contain a NUL byte', VirErrorDomain.LOCKSPACE);
    const lockspace = Lockspace.create(path);
    this.#byDirectory.set(path, lockspace);
    return lockspace;
  }
}
