// One lockable resource: an open file whose byte 0 carries an OFD lock, and the owner pids sharing it.
// Knows nothing about RPC; failures are VirErrors in the LOCKSPACE domain, as libvirt's virlockspace reports them.
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as native from '../../shared/platform/native';
import { VirError, VirErrorDomain } from '../../shared/protocol/vir-error';
import type { OwnerRecord } from '../../shared/custody/records/owner-record';
import {
  ACQUIRE_AUTOCREATE,
  LOCK_LENGTH,
  LOCK_START,
  type LockKind,
  type ResourceRecord,
  isShared,
} from '../../shared/custody/records/resource-record';
import { tryTakeLock } from '../../shared/custody/records/resource-lock';
import { type ResourceCluster, copyCluster } from '../../shared/custody/records/cluster-hold-record';

// An AUTOCREATE file replaced under us is retried; a hostile racer must not spin us forever.
const MAX_RECREATE_RETRIES = 16;

export class LockResource {
  readonly name: string;
  readonly path: string;
  fd: number;
  lockHeld: boolean;
  readonly flags: number;
  owners: number[];
  readonly acquiredAt: number;
  /** 'ofd' for locks taken by holdfast; 'posix' for locks inherited from a virtlockd process image. */
  readonly lockKind: LockKind;
  /** Owner pids without a connection (the lock came back from systemd's fd store): released when they exit. */
  detachedOwners: number[];
  /** What the detached owners registered as, where known (kept by pid; shown only while a pid is detached). */
  readonly detachedOwnerInfo: ReadonlyMap<number, OwnerRecord>;
  /** A cluster lockspace's resource: its etcd holds and the owners whose hold is being asked for; else null. */
  cluster: ResourceCluster | null;

  private constructor(record: Omit<ResourceRecord, 'kind' | 'lockspace'>, fd: number, lockHeld: boolean) {
    // Field by field, not a spread of the record: the spread made a 10,000-lock swap ~60 ms slower (measured).
    this.name = record.name;
    this.path = record.path;
    this.fd = fd;
    this.lockHeld = lockHeld;
    this.flags = record.flags;
    this.owners = [...record.owners];
    this.acquiredAt = record.acquiredAt;
    this.lockKind = record.lockKind;
    this.detachedOwners = [...(record.detachedOwners ?? [])];
    this.detachedOwnerInfo = new Map((record.detachedOwnerDetails ?? []).map((o) => [o.pid, o]));
    this.cluster = record.cluster ? copyCluster(record.cluster) : null;
  }

  /** The resource a custody record describes, held through `fd` (whose lock the caller has re-checked). */
  static fromRecord(record: ResourceRecord, fd: number, lockHeld: boolean): LockResource {
    return new LockResource(record, fd, lockHeld);
  }

  /** The custody record of this resource in `lockspace` ("" for the default one). */
  toRecord(lockspace: string): ResourceRecord {
    const record: ResourceRecord = {
      kind: 'resource',
      lockspace,
      name: this.name,
      path: this.path,
      flags: this.flags,
      owners: [...this.owners],
      acquiredAt: this.acquiredAt,
      lockKind: this.lockKind,
    };
    // Optional fields only when there is something (every acquire files a record: no empty extras).
    if (this.detachedOwners.length > 0) {
      record.detachedOwners = [...this.detachedOwners];
      const details = this.detachedDetails();
      if (details.length > 0) record.detachedOwnerDetails = details;
    }
    if (this.cluster !== null) record.cluster = copyCluster(this.cluster);
    return record;
  }

  /** Details of the owners still detached, for the custody record. */
  detachedDetails(): OwnerRecord[] {
    return this.detachedOwners.flatMap((pid) => {
      const known = this.detachedOwnerInfo.get(pid);
      return known ? [known] : [];
    });
  }

  get shared(): boolean {
    return isShared(this.flags);
  }

  /**
   * Opens the file and takes the lock for a first owner. Throws VirError on failure; nothing stays open then.
   * `dirFd`: a directory lockspace's open directory; the file is then `name` inside it, opened without
   * following a symlink. null: the default lockspace, where `path` is opened as virtlockd does (symlinks
   * followed: the lock is on the file the path names).
   */
  static acquire(name: string, path: string, flags: number, owner: number, dirFd: number | null = null): LockResource {
    const at: FileAt = { name, path, dirFd };
    const fd = (flags & ACQUIRE_AUTOCREATE) !== 0 ? openCreatedAndLocked(at, flags) : openExistingAndLocked(at, flags);
    return new LockResource({ name, path, flags, owners: [owner], acquiredAt: Date.now(), lockKind: 'ofd' }, fd, true);
  }

  /** Removes one occurrence of `owner`; returns false if it held none. */
  removeOwner(owner: number): boolean {
    const at = this.owners.indexOf(owner);
    if (at < 0) return false;
    this.owners.splice(at, 1);
    if (this.detachedOwners.length > 0 && !this.owners.includes(owner)) this.detachedOwners = this.detachedOwners.filter((p) => p !== owner);
    return true;
  }

  /**
   * Drops the lock for good: unlinks an AUTOCREATE file with `unlinkFile` (a shared one only if we can upgrade
   * to exclusive, i.e. nobody else anywhere still holds it), then closes our fd. Returns whether the file was
   * unlinked.
   */
  free(unlinkFile: (resource: LockResource) => boolean): boolean {
    let unlinked = false;
    if (this.lockHeld && (this.flags & ACQUIRE_AUTOCREATE) !== 0) {
      const mayUnlink = !this.shared || this.tryUpgradeToExclusive();
      if (mayUnlink) unlinked = unlinkFile(this);
    }
    // Unlock explicitly: the supervisor holds a dup of this open file description, so closing our fd
    // alone would leave the lock in place until custody lets go of it.
    if (this.lockKind === 'ofd') {
      try {
        native.ofdUnlock(this.fd, LOCK_START, LOCK_LENGTH);
      } catch {
        // The fd is closed next anyway.
      }
    }
    native.close(this.fd);
    this.fd = -1;
    this.lockHeld = false;
    return unlinked;
  }

  private tryUpgradeToExclusive(): boolean {
    try {
      return this.lockKind === 'ofd'
        ? native.ofdTryLock(this.fd, 'write', LOCK_START, LOCK_LENGTH)
        : native.posixTryLock(this.fd, 'write', LOCK_START, LOCK_LENGTH);
    } catch {
      return false;
    }
  }
}

/** The error of an ACQUIRE whose open failed with `errno`, worded as virtlockd words it. */
export function cannotOpen(path: string, flags: number, errno: number): VirError {
  return VirError.systemError(VirErrorDomain.LOCKSPACE, errno, `${(flags & ACQUIRE_AUTOCREATE) !== 0 ? 'Unable to open/create resource' : 'Unable to open resource'} ${path}`);
}

/** Where a resource file is: `name` inside `dirFd` (directory lockspace), or `path` (default lockspace). */
interface FileAt {
  name: string;
  path: string;
  dirFd: number | null;
}

function openExistingAndLocked(at: FileAt, flags: number): number {
  const fd = openOrReport(at, fs.constants.O_RDWR, 'Unable to open resource %s');
  try {
    lockOrReport(fd, at, flags);
  } catch (err) {
    native.close(fd);
    throw err;
  }
  return fd;
}

function openCreatedAndLocked(at: FileAt, flags: number): number {
  for (let attempt = 0; attempt < MAX_RECREATE_RETRIES; attempt++) {
    const fd = openOrReport(at, fs.constants.O_RDWR | fs.constants.O_CREAT, 'Unable to open/create resource %s', 0o600);
    let lockedIno: bigint;
    try {
      lockedIno = fs.fstatSync(fd, { bigint: true }).ino;
      lockOrReport(fd, at, flags);
    } catch (err) {
      native.close(fd);
      throw err;
    }
    // Someone may have unlinked (released) and recreated the file between open and lock: make sure
    // the inode we locked is the one the path names now, else our lock protects nothing.
    let currentIno: bigint | undefined;
    try {
      currentIno = at.dirFd === null ? fs.statSync(at.path, { bigint: true }).ino : native.fstatAt(at.dirFd, at.name).ino;
    } catch {
      currentIno = undefined;
    }
    if (currentIno === lockedIno) return fd;
    native.close(fd);
  }
  throw VirError.resourceBusy(`Lockspace resource '${at.name}' is locked`);
}

function openOrReport(at: FileAt, flags: number, what: string, mode = 0o600): number {
  try {
    if (at.dirFd !== null) return native.openAt(at.dirFd, at.name, flags, mode);
    return (flags & fs.constants.O_CREAT) === 0 ? fs.openSync(at.path, flags) : fs.openSync(at.path, flags, mode);
  } catch (err) {
    if (at.dirFd !== null && (err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw VirError.operationDenied(`lockspace resource '${at.name}' (${at.path}) is a symbolic link`, VirErrorDomain.LOCKSPACE);
    }
    throw VirError.systemError(VirErrorDomain.LOCKSPACE, errnoOf(err), what.replace('%s', at.path));
  }
}

// Leaves `fd` open either way: the caller owns it and closes it on failure.
function lockOrReport(fd: number, at: FileAt, flags: number): void {
  let locked: boolean;
  try {
    locked = tryTakeLock(fd, flags);
  } catch (err) {
    throw VirError.systemError(VirErrorDomain.LOCKSPACE, errnoOf(err), `Unable to acquire lock on '${at.path}'`);
  }
  if (!locked) throw VirError.resourceBusy(`Lockspace resource '${at.name}' is locked`);
}

/** The positive errno of a Node fs error or a SyscallError (EIO when unknown). */
export function errnoOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    const n = (osConstants.errno as Record<string, number>)[code];
    if (typeof n === 'number') return n;
  }
  const errno = (err as { errno?: unknown }).errno;
  if (typeof errno === 'number') return Math.abs(errno);
  return osConstants.errno.EIO;
}
