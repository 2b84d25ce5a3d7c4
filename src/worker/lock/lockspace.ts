// A lockspace: the table of held resources of one directory (or of the default, direct lockspace where a
// resource name is a file path). Decides conflicts in memory before touching the disk, as virtlockd does.
import * as fs from 'node:fs';
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';
import * as native from '../../shared/platform/native';
import type { LockspaceRecord } from '../../shared/custody/records/lockspace-record';
import { ACQUIRE_AUTOCREATE, ACQUIRE_SHARED } from '../../shared/custody/records/resource-record';
import { LockResource, errnoOf } from './resource';

/** What a release did, for logs, metrics and custody. */
export interface ReleaseOutcome {
  resource: LockResource;
  /** True when the last owner left: the lock is gone and the fd closed. */
  freed: boolean;
  /** The owner pid that lost one ownership, when nothing else of the resource changed (custody files just that). */
  left?: number;
}

export class Lockspace {
  /** null for the default lockspace (""), else the directory holding the resource files. */
  readonly directory: string | null;
  #resources = new Map<string, LockResource>();

  constructor(directory: string | null) {
    this.directory = directory;
  }

  /** A directory lockspace from its custody record, without touching the filesystem (its resources come after). */
  static fromRecord(record: LockspaceRecord): Lockspace {
    return new Lockspace(record.directory);
  }

  /**
   * Creates the directory (mode 0700, parents too) unless it exists; refuses a non-directory, a symlink, and a
   * directory that is not the daemon's own (see {@link Lockspace.openDirectory}).
   */
  static create(directory: string): Lockspace {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(directory);
    } catch {
      stat = undefined;
    }
    if (stat?.isSymbolicLink()) throw symlinkedDirectory(directory);
    if (stat && !stat.isDirectory()) {
      throw VirError.internalError(`Lockspace location ${directory} exists, but is not a directory`, VirErrorDomain.LOCKSPACE);
    }
    if (!stat) {
      try {
        fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw VirError.systemError(VirErrorDomain.LOCKSPACE, errnoOf(err), `Unable to create lockspace ${directory}`);
      }
    }
    const lockspace = new Lockspace(directory);
    native.close(lockspace.openDirectory());
    return lockspace;
  }

  /**
   * Opens a directory lockspace for one operation; the caller closes the fd. Resource files are then reached
   * only through it, never by a path a symlink could redirect. Refused (OPERATION_DENIED) when the directory
   * is a symlink, belongs to another uid, or is writable by group or others: whoever can write in it could
   * plant a symlink for root to follow.
   */
  openDirectory(): number {
    const directory = this.directory;
    if (directory === null) throw new Error('the default lockspace has no directory');
    let fd: number;
    try {
      fd = fs.openSync(directory, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkedDirectory(directory);
      throw VirError.systemError(VirErrorDomain.LOCKSPACE, errnoOf(err), `Unable to open lockspace ${directory}`);
    }
    const stat = fs.fstatSync(fd);
    const uid = process.geteuid?.() ?? 0;
    let refusal: string | null = null;
    if (stat.uid !== uid) refusal = `lockspace directory ${directory} is owned by uid ${stat.uid}, not by the daemon's uid ${uid}`;
    else if ((stat.mode & 0o022) !== 0) {
      refusal = `lockspace directory ${directory} is writable by group or others (mode ${(stat.mode & 0o7777).toString(8)})`;
    }
    if (refusal !== null) {
      native.close(fd);
      throw VirError.operationDenied(refusal, VirErrorDomain.LOCKSPACE);
    }
    return fd;
  }

  /** Runs `action` with the lockspace directory open (null for the default lockspace: names are paths). */
  #inDirectory<T>(action: (dirFd: number | null) => T): T {
    if (this.directory === null) return action(null);
    const dirFd = this.openDirectory();
    try {
      return action(dirFd);
    } finally {
      native.close(dirFd);
    }
  }

  get resources(): ReadonlyMap<string, LockResource> {
    return this.#resources;
  }

  get size(): number {
    return this.#resources.size;
  }

  /** The file a resource name stands for. Directory lockspaces refuse names that would leave the directory. */
  resourcePath(name: string): string {
    if (name.includes('\0')) throw VirError.invalidArg(`resource name must not contain a NUL byte`, VirErrorDomain.LOCKSPACE);
    if (this.directory === null) return name;
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      // Deliberate difference: virtlockd joins dir + "/" + name unchecked, so "../x" escapes the lockspace.
      throw VirError.invalidArg(`resource name '${name}' is not a plain file name inside lockspace ${this.directory}`, VirErrorDomain.LOCKSPACE);
    }
    // Joined literally, not normalised, so error messages name the same path virtlockd's would.
    return `${this.directory}/${name}`;
  }

  /**
   * `ownConnection`: the request comes over the owner's own connection (its peer pid is the owner pid), whose
   * closing releases the owner's locks.
   */
  acquire(name: string, owner: number, flags: number, ownConnection = false): LockResource {
    const existing = this.#resources.get(name);
    if (existing) {
      if (existing.detachedOwners.includes(owner) && existing.shared === ((flags & ACQUIRE_SHARED) !== 0)) {
        // The owner takes up the lock it held before the daemon restarted (the fd store kept it). Its own
        // connection now answers for it; on another one it stays watched until the owner exits.
        if (ownConnection) existing.detachedOwners = existing.detachedOwners.filter((p) => p !== owner);
        return existing;
      }
      if (existing.shared && (flags & ACQUIRE_SHARED) !== 0) {
        existing.owners.push(owner);
        return existing;
      }
      throw VirError.resourceBusy(`Lockspace resource '${name}' is locked`);
    }
    const path = this.resourcePath(name);
    const resource = this.#inDirectory((dirFd) => LockResource.acquire(name, path, flags & (ACQUIRE_SHARED | ACQUIRE_AUTOCREATE), owner, dirFd));
    this.#resources.set(name, resource);
    return resource;
  }

  release(name: string, owner: number): ReleaseOutcome {
    const resource = this.#resources.get(name);
    if (!resource) throw VirError.resourceBusy(`Lockspace resource '${name}' is not locked`);
    const detached = resource.detachedOwners.length > 0;
    if (!resource.removeOwner(owner)) {
      throw VirError.internalError(`owner ${owner} does not hold the resource lock`, VirErrorDomain.LOCKSPACE);
    }
    return this.#released(resource, owner, detached);
  }

  /** Drops one ownership of `owner` from every resource (virtlockd's disconnect rule). */
  releaseAllOf(owner: number): ReleaseOutcome[] {
    const outcomes: ReleaseOutcome[] = [];
    for (const resource of [...this.#resources.values()]) {
      const detached = resource.detachedOwners.length > 0;
      if (resource.removeOwner(owner)) outcomes.push(this.#released(resource, owner, detached));
    }
    return outcomes;
  }

  /** Drops every ownership of a detached owner that exited (its lock connection died with a previous supervisor). */
  releaseDetached(owner: number): ReleaseOutcome[] {
    const outcomes: ReleaseOutcome[] = [];
    for (const resource of [...this.#resources.values()]) {
      if (!resource.detachedOwners.includes(owner)) continue;
      resource.owners = resource.owners.filter((p) => p !== owner);
      resource.detachedOwners = resource.detachedOwners.filter((p) => p !== owner);
      outcomes.push({ resource, freed: this.#freeIfUnowned(resource) });
    }
    return outcomes;
  }

  createResource(name: string): void {
    if (this.#resources.has(name)) throw VirError.resourceBusy(`Lockspace resource '${name}' is locked`);
    const file = this.resourcePath(name);
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;
    this.#inDirectory((dirFd) => {
      try {
        fs.closeSync(dirFd === null ? fs.openSync(file, flags, 0o600) : native.openAt(dirFd, name, flags, 0o600));
      } catch (err) {
        if (dirFd !== null && (err as NodeJS.ErrnoException).code === 'ELOOP') {
          throw VirError.operationDenied(`lockspace resource '${name}' (${file}) is a symbolic link`, VirErrorDomain.LOCKSPACE);
        }
        // libvirt reports this through virFileTouch, which carries no error domain.
        throw VirError.systemError(VirErrorDomain.NONE, errnoOf(err), `cannot create file '${file}'`);
      }
    });
  }

  deleteResource(name: string): void {
    if (this.#resources.has(name)) throw VirError.resourceBusy(`Lockspace resource '${name}' is locked`);
    const file = this.resourcePath(name);
    this.#inDirectory((dirFd) => {
      try {
        // A symlink in the lockspace is removed itself, never its target.
        if (dirFd === null) fs.unlinkSync(file);
        else native.unlinkAt(dirFd, name);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw VirError.systemError(VirErrorDomain.LOCKSPACE, errnoOf(err), `Unable to delete lockspace resource ${file}`);
      }
    });
  }

  /** Re-inserts a resource whose fd survived a handoff or re-exec. */
  adopt(resource: LockResource): LockResource {
    this.#resources.set(resource.name, resource);
    return resource;
  }

  /** Takes every resource of `staged` (same directory), leaving it empty: in one step when this one has none. */
  adoptAll(staged: Lockspace): void {
    if (staged.directory !== this.directory) throw new Error(`cannot adopt the resources of lockspace ${staged.directory} into ${this.directory}`);
    if (this.#resources.size === 0) this.#resources = staged.#resources;
    else for (const resource of staged.#resources.values()) this.#resources.set(resource.name, resource);
    staged.#resources = new Map();
  }

  /** Removes an adopted resource from the model only: its lock and fd are the caller's to deal with. */
  forget(name: string): void {
    this.#resources.delete(name);
  }

  // removeOwner touches the detached owners too when there are any: then the whole record is filed again.
  #released(resource: LockResource, owner: number, hadDetached: boolean): ReleaseOutcome {
    const freed = this.#freeIfUnowned(resource);
    return freed || hadDetached ? { resource, freed } : { resource, freed, left: owner };
  }

  #freeIfUnowned(resource: LockResource): boolean {
    if (resource.owners.length > 0) return false;
    this.#resources.delete(resource.name);
    resource.free((r) => this.#unlinkResourceFile(r));
    return true;
  }

  // An AUTOCREATE file goes on the last release: in a directory lockspace only through the directory's fd and
  // only if the name still stands for the file we hold (never a file someone put in its place).
  #unlinkResourceFile(resource: LockResource): boolean {
    if (this.directory === null) return unlinkQuietly(resource.path);
    try {
      return this.#inDirectory((dirFd) => {
        const entry = native.fstatAt(dirFd!, resource.name);
        const held = fs.fstatSync(resource.fd, { bigint: true });
        if (entry.ino !== held.ino || entry.dev !== held.dev) return false;
        native.unlinkAt(dirFd!, resource.name);
        return true;
      });
    } catch {
      // The directory is gone or no longer the daemon's own: leave the file; the lock is released anyway.
      return false;
    }
  }
}

function symlinkedDirectory(directory: string): VirError {
  return VirError.operationDenied(`lockspace directory ${directory} is a symbolic link`, VirErrorDomain.LOCKSPACE);
}

function unlinkQuietly(path: string): boolean {
  try {
    fs.unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}
