// Start-up after a crash or restart under systemd: the lock fds its fd store hands back (LISTEN_FDS, named
// as fd-store.ts names them) become custody records again, so the worker serves them like restored state.
// Their connections died with the old supervisor, so every owner is "detached": the worker keeps the lock
// while the owner pid lives and releases it when that process exits (worker/lock/detached-owners.ts).
//
// Each fd is checked before it is trusted: it must be a regular file, match the journal's device and inode,
// and still carry the lock. Rule for the journal (written coalesced, so it may lag the store): a name the
// journal does not know is rebuilt from the fd itself — its path from /proc/self/fd, its identity from
// fstat, shared or exclusive from the lock the kernel shows — and kept held for an unknown owner.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { custodyKey } from '../../shared/custody/records/custody-record';
import { lockspaceRecord } from '../../shared/custody/records/lockspace-record';
import {
  ACQUIRE_SHARED,
  LOCK_LENGTH,
  LOCK_START,
  type ResourceJournalRow,
  type ResourceRecord,
  resourceFromJournalRow,
} from '../../shared/custody/records/resource-record';
import { tryTakeLock } from '../../shared/custody/records/resource-lock';
import * as native from '../../shared/platform/native';
import type { CustodyEntry } from '../custody';
import { FileIdentity, identityOf, lockStoreName } from './fd-store';
import type { FdStoreJournal } from './journal';
import type { StoredLockFd } from '../service/listeners';

/** What the supervisor takes over from the fds systemd's store handed back. */
export interface AdoptedStoredFds {
  /** Custody entries to adopt: resource records (with their fds) and the lockspaces they need. */
  entries: Array<[string, CustodyEntry]>;
  /** Every name the store holds now, with its file: fd-store.ts removes those no record claims. */
  inStore: Map<string, FileIdentity>;
}

/**
 * Turns the handed-back fds into custody entries. Fds that cannot be used (not a lock any more, another
 * file, a resource custody already has) are closed here and left for the store to drop.
 */
export function adoptStoredFds(stored: StoredLockFd[], journal: FdStoreJournal | null, inCustody: (key: string) => boolean, log: Logger): AdoptedStoredFds {
  const byName = new Map<string, ResourceJournalRow>((journal?.locks ?? []).map((l) => [l.fdName, l]));
  const entries: Array<[string, CustodyEntry]> = [];
  const added = new Set<string>();
  const inStore = new Map<string, FileIdentity>();
  const lockspaces = new Set<string>();
  for (const { name: fdName, fd } of stored) {
    const record = adoptOne(fdName, fd, byName.get(fdName), inStore, log);
    if (!record) {
      native.close(fd);
      continue;
    }
    const key = custodyKey(record);
    if (inCustody(key) || added.has(key)) {
      // Already restored (from a state document, or a duplicate name in the store): this copy adds nothing.
      native.close(fd);
      continue;
    }
    entries.push([key, { record, fd }]);
    added.add(key);
    if (record.lockspace !== '') lockspaces.add(record.lockspace);
    // A warning: the daemon was killed or restarted under its clients, which the operator must see.
    log.warn(
      { fdName, lockspace: record.lockspace, resource: record.name, path: record.path, flags: record.flags, owners: record.owners },
      record.owners.length > 0 ? 'lock re-adopted from the systemd fd store; held while its owner lives' : 'lock re-adopted from the systemd fd store for an unknown owner; held until the service stops',
    );
  }
  for (const directory of lockspaces) {
    const record = lockspaceRecord(directory);
    if (!inCustody(custodyKey(record))) entries.push([custodyKey(record), { record, fd: null }]);
  }
  return { entries, inStore };
}

function adoptOne(fdName: string, fd: number, known: ResourceJournalRow | undefined, inStore: Map<string, FileIdentity>, log: Logger): ResourceRecord | null {
  let identity: FileIdentity;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new Error('not a regular file');
    identity = identityOf(st);
  } catch (err) {
    log.error({ fdName, fd, err }, 'ignoring a stored fd that is not a lock file');
    return null;
  }
  inStore.set(fdName, identity);
  const journalled = known && known.dev === identity.dev && known.ino === identity.ino ? known : undefined;
  if (known && !journalled) log.warn({ fdName, journal: { dev: known.dev, ino: known.ino }, fd: identity }, 'a stored fd is not the file the journal names; rebuilding it from the fd');
  const held = heldLock(fd);
  if (held === 'free') {
    // Nobody holds it: it was released (unlocked by a worker) just before the old supervisor died.
    log.info({ fdName, path: journalled?.path }, 'a stored lock fd no longer carries its lock (released before the restart); dropping it');
    return null;
  }
  if (held === 'other') {
    log.error({ fdName, path: journalled?.path }, 'a stored lock fd does not hold its lock: another process does; dropping it');
    return null;
  }
  if (journalled) {
    // The kernel is the truth: re-taking the other type would convert the lock, not confirm it.
    const flags = (journalled.flags & ~ACQUIRE_SHARED) | (held === 'shared' ? ACQUIRE_SHARED : 0);
    if (flags !== journalled.flags) log.warn({ fdName, path: journalled.path, flags: journalled.flags, held }, 'the journal and the kernel disagree on the lock type; going by the kernel');
    // heldLock already re-took an exclusive lock; a shared one is confirmed here.
    if (held === 'shared' && !relock(fd, true)) {
      log.error({ fdName, path: journalled.path }, 'cannot confirm a stored lock from its own fd; dropping it');
      return null;
    }
    return resourceFromJournalRow(journalled, flags);
  }
  return rebuildFromFd(fdName, fd, held, log);
}

// No journal entry: the fd alone says where (readlink) and how (the kernel's lock). The owner is unknown,
// so the lock stays until someone releases it by hand (or the daemon stops for good).
function rebuildFromFd(fdName: string, fd: number, held: 'shared' | 'exclusive', log: Logger): ResourceRecord | null {
  let file: string;
  try {
    file = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch (err) {
    log.error({ fdName, err }, 'cannot tell which file a stored fd is; dropping it');
    return null;
  }
  if (file.endsWith(' (deleted)')) {
    log.info({ fdName, path: file }, 'a stored lock fd names a deleted file (released before the restart); dropping it');
    return null;
  }
  if (held === 'shared' && !relock(fd, true)) return null;
  // The name is a hash of (lockspace, resource): find which reading of the path gives it.
  const candidates: Array<[string, string]> = [['', file], [path.dirname(file), path.basename(file)]];
  const [lockspace, name] = candidates.find(([ls, n]) => lockStoreName(ls, n) === fdName) ?? candidates[0]!;
  log.warn({ fdName, path: file, lockspace, held }, 'a stored lock fd is not in the journal; rebuilt from the fd, owner unknown');
  return { kind: 'resource', lockspace, name, path: file, flags: held === 'shared' ? ACQUIRE_SHARED : 0, owners: [], acquiredAt: Date.now(), lockKind: 'ofd' };
}

/**
 * What the kernel shows on byte 0, seen from a fresh open file description of the same file (an OFD
 * lock query never reports the asking description's own locks): 'free', a write lock ('exclusive'), only
 * read locks ('shared'); 'other' when the write lock is someone else's (ours cannot be taken again).
 */
function heldLock(fd: number): 'free' | 'shared' | 'exclusive' | 'other' {
  const probe = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY);
  try {
    if (native.ofdGetLock(probe, 'read', LOCK_START, LOCK_LENGTH) !== null) return relock(fd, false) ? 'exclusive' : 'other';
    if (native.ofdGetLock(probe, 'write', LOCK_START, LOCK_LENGTH) !== null) return 'shared';
    return 'free';
  } finally {
    fs.closeSync(probe);
  }
}

/** Takes the lock again on the fd's own description: a no-op success when it already holds it. */
function relock(fd: number, shared: boolean): boolean {
  try {
    return tryTakeLock(fd, shared ? ACQUIRE_SHARED : 0);
  } catch {
    return false;
  }
}
