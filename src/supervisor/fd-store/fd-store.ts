// systemd's file descriptor store as a second custodian of the locks: every lock fd the supervisor takes
// into custody is also sent to the service manager (`FDSTORE=1` + `FDNAME=`), and taken back out
// (`FDSTOREREMOVE=1`) when its resource leaves custody. systemd keeps the store across a crash or a
// `systemctl restart` of the service and hands the fds back in LISTEN_FDS, so an OFD lock outlives even a
// SIGKILL of the supervisor (adopt-stored-fds.ts takes them back). A clean stop does not empty the store:
// on `systemctl stop` systemd closes the fds itself, on a restart they must survive.
//
// Names: `holdfast-lock-` + 32 hex digits of a hash of (lockspace, resource name) + a readable tail of the
// path; a function of the resource alone, so they stay the same across re-execs and restarts, are valid
// systemd fd names (printable ASCII without ':', at most 255 characters), and never look like a socket
// unit's name. A journal on disk (journal.ts) maps each name back to its resource.
//
// The journal rule: it is written coalesced, so it may lag the store, but only on the safe side. A lock
// newer than the journal is rebuilt from its fd on restart and kept; an owner that left is still listed,
// so its lock is kept until that pid exits too; a released lock is seen to be free and dropped. The two
// changes that could make it release a lock someone holds are written at once, before anything else:
// an owner joining a stored lock, and a name stored again (a new fd) while the journal describes the old one.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { OwnerRecord } from '../../shared/custody/records/owner-record';
import { type ResourceJournalRow, type ResourceRecord, resourceToJournalRow } from '../../shared/custody/records/resource-record';
import * as native from '../../shared/platform/native';
import type { Custody, CustodyEntry, ResourceObserver } from '../custody';
import { FD_STORE_JOURNAL_VERSION, readJournal, writeJournal } from './journal';

export const LOCK_STORE_PREFIX = 'holdfast-lock-';
const NAME_TAIL_MAX = 64;
// The journal is written at most this often: a burst of acquires costs one write.
const JOURNAL_COALESCE_MS = 200;
// A full notify queue (systemd busy) is retried after this long, in order.
const RESEND_DELAY_MS = 20;

/** The file behind a stored fd (st_dev, st_ino in decimal). */
export interface FileIdentity {
  dev: string;
  ino: string;
}

/** The FDNAME of a resource's lock fd. */
export function lockStoreName(lockspace: string, name: string): string {
  const hash = createHash('sha256').update(JSON.stringify([lockspace, name])).digest('hex').slice(0, 32);
  const base = name.slice(name.lastIndexOf('/') + 1);
  // Printable ASCII only, no ':' (systemd's field separator in LISTEN_FDNAMES), no spaces for readability.
  const tail = base.replace(/[^!-9;-~]/g, '_').slice(-NAME_TAIL_MAX);
  return tail === '' ? `${LOCK_STORE_PREFIX}${hash}` : `${LOCK_STORE_PREFIX}${hash}-${tail}`;
}

/** Whether an activated fd's name is one of our lock fds (not a socket). */
export function isLockStoreName(fdName: string): boolean {
  return fdName.startsWith(LOCK_STORE_PREFIX);
}

export function fileIdentity(fd: number): FileIdentity {
  return identityOf(fs.fstatSync(fd, { bigint: true }));
}

export function identityOf(st: fs.BigIntStats): FileIdentity {
  return { dev: String(st.dev), ino: String(st.ino) };
}

interface StoredLock {
  fdName: string;
  entry: CustodyEntry;
  /** Filled in when the journal is written (one fstat per lock, off the apply path). */
  identity: FileIdentity | null;
}

interface Outgoing {
  text: string;
  fdName: string;
  /** A dup we own (closed once sent), or null. */
  fd: number | null;
}

export class FdStore implements ResourceObserver {
  /** Stored locks by custody key. */
  readonly #stored = new Map<string, StoredLock>();
  readonly #queue: Outgoing[] = [];
  #resendTimer: NodeJS.Timeout | null = null;
  #journalTimer: NodeJS.Timeout | null = null;
  /** What the journal on disk says: owner pids by name. */
  #onDisk = new Map<string, Set<number>>();
  /** What the journal on disk says of each cluster resource's etcd holds (see holdsOf). */
  #holdsOnDisk = new Map<string, string>();

  private constructor(
    private readonly address: string,
    private readonly journalFile: string,
    private readonly custody: Custody,
    private readonly log: Logger,
  ) {}

  /**
   * The store when the service manager offers one ($NOTIFY_SOCKET set, HOLDFASTD_FD_STORE not "0"), else
   * null. It starts following custody at once and makes the store agree with it: `known` are the fds the
   * store holds now (handed back at start-up), or 'journal' after our own re-exec (the store kept
   * everything, and the journal, flushed before the exec, says what).
   */
  static start(env: NodeJS.ProcessEnv, journalFile: string, custody: Custody, known: Map<string, FileIdentity> | 'journal', log: Logger): FdStore | null {
    const address = env.NOTIFY_SOCKET;
    if (!address || env.HOLDFASTD_FD_STORE === '0') return null;
    const store = new FdStore(address, journalFile, custody, log);
    let inStore = known;
    if (known === 'journal') {
      const locks = readJournal(journalFile, log)?.locks ?? [];
      store.#onDisk = new Map(locks.map((l) => [l.fdName, new Set(l.owners)]));
      store.#holdsOnDisk = holdsByName(locks);
      inStore = identitiesOf(locks);
    }
    store.#reconcile(inStore as Map<string, FileIdentity>);
    // A journal left by an earlier run describes fds that are gone: replace it before anything is stored.
    if (known !== 'journal') store.#writeNow();
    custody.observeResources(store);
    return store;
  }

  put(key: string, entry: CustodyEntry, fdChanged: boolean, joined: number | null = null): void {
    const record = entry.record as ResourceRecord;
    const stored = this.#stored.get(key);
    if (stored && !fdChanged) {
      stored.entry = entry;
      const journalled = this.#onDisk.get(stored.fdName);
      // One owner joining is checked alone: scanning the whole list would make N shared acquires cost N².
      const unjournalled = (pid: number): boolean => !journalled!.has(pid);
      if (journalled && (joined !== null ? unjournalled(joined) : record.owners.some(unjournalled))) return this.#writeNow();
    } else if (entry.fd !== null && record.lockKind === 'ofd') {
      // A POSIX lock (inherited from virtlockd) dies with this process whatever holds its fd: not stored.
      if (stored) this.#send('FDSTOREREMOVE', stored.fdName, null);
      const fdName = stored?.fdName ?? lockStoreName(record.lockspace, record.name);
      this.#stored.set(key, { fdName, entry, identity: null });
      if (this.#onDisk.has(fdName)) this.#writeNow();
      this.#send('FDSTORE', fdName, entry.fd);
    }
    // A cluster hold the journal does not name would be taken for stale after a restart, and deleted while
    // its owner runs; a pending owner it does not name would keep a lock its request never got: such a
    // change is written at once, not coalesced.
    const fdName = this.#stored.get(key)?.fdName;
    if (record.cluster !== undefined && fdName !== undefined && holdsOf(record) !== (this.#holdsOnDisk.get(fdName) ?? '')) return this.#writeNow();
    this.#scheduleJournal();
  }

  dropped(key: string): void {
    const stored = this.#stored.get(key);
    if (!stored) return;
    this.#stored.delete(key);
    this.#send('FDSTOREREMOVE', stored.fdName, null);
    this.#scheduleJournal();
  }

  /** Sends what it can of the queue and writes the journal now if a write is pending (before an exec, at exit). */
  flush(): void {
    if (this.#queue.length > 0) this.#drainQueue();
    if (this.#journalTimer || this.#queue.length > 0) this.#writeNow();
  }

  #writeNow(): void {
    if (this.#journalTimer) clearTimeout(this.#journalTimer);
    this.#journalTimer = null;
    this.#writeJournal();
  }

  // Removals first: systemd ignores a second copy of an fd it already stores (whatever its name), so an fd
  // moving to another name must leave under the old name before it comes back under the new one.
  #reconcile(inStore: Map<string, FileIdentity>): void {
    const wanted = new Map<string, { key: string; entry: CustodyEntry; identity: FileIdentity }>();
    for (const [key, entry] of this.custody.entries()) {
      const record = entry.record;
      if (record.kind !== 'resource' || entry.fd === null || record.lockKind !== 'ofd') continue;
      let identity: FileIdentity;
      try {
        identity = fileIdentity(entry.fd);
      } catch (err) {
        this.log.error({ err, path: record.path }, 'cannot stat a lock fd in custody');
        continue;
      }
      wanted.set(lockStoreName(record.lockspace, record.name), { key, entry, identity });
    }
    let removed = 0;
    for (const [fdName, identity] of inStore) {
      const want = wanted.get(fdName);
      if (want && sameFile(want.identity, identity)) continue;
      this.#send('FDSTOREREMOVE', fdName, null);
      removed++;
    }
    let sent = 0;
    for (const [fdName, { key, entry, identity }] of wanted) {
      this.#stored.set(key, { fdName, entry, identity });
      const held = inStore.get(fdName);
      if (held && sameFile(held, identity)) continue;
      this.#send('FDSTORE', fdName, entry.fd);
      sent++;
    }
    this.log.info({ locks: this.#stored.size, sent, removed, journal: this.journalFile }, 'systemd fd store in use for the lock fds');
    if (sent > 0 || removed > 0 || inStore.size !== this.#stored.size) this.#scheduleJournal();
  }

  #send(what: 'FDSTORE' | 'FDSTOREREMOVE', fdName: string, fd: number | null): void {
    const text = `${what}=1\nFDNAME=${fdName}`;
    if (this.#queue.length === 0 && this.#trySend(text, fd)) return;
    // Queued behind earlier messages (order matters); the fd may leave custody meanwhile, so keep a dup.
    let copy: number | null = null;
    if (fd !== null) {
      try {
        copy = native.dupCloexec(fd);
      } catch (err) {
        this.log.error({ err, text }, 'cannot keep an fd for the fd store');
        return;
      }
    }
    this.#queue.push({ text, fdName, fd: copy });
    this.#resendTimer ??= setTimeout(() => this.#drainQueue(), RESEND_DELAY_MS);
  }

  /** True when sent (or failed for good); false when the receiver's queue is full. */
  #trySend(text: string, fd: number | null): boolean {
    try {
      native.notifySend(this.address, Buffer.from(text), fd === null ? [] : [fd]);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'EAGAIN') return false;
      this.log.warn({ err, socket: this.address, message: text.replace('\n', ' ') }, 'cannot update the systemd fd store');
      return true;
    }
  }

  #drainQueue(): void {
    if (this.#resendTimer) clearTimeout(this.#resendTimer);
    this.#resendTimer = null;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (!this.#trySend(head.text, head.fd)) {
        this.#resendTimer = setTimeout(() => this.#drainQueue(), RESEND_DELAY_MS);
        return;
      }
      this.#queue.shift();
      if (head.fd !== null) native.close(head.fd);
    }
  }

  #scheduleJournal(): void {
    if (this.#journalTimer) return;
    this.#journalTimer = setTimeout(() => {
      this.#journalTimer = null;
      this.#writeJournal();
    }, JOURNAL_COALESCE_MS);
  }

  #writeJournal(): void {
    const owners = new Map<number, OwnerRecord>();
    for (const [, entry] of this.custody.entries()) {
      const owner = entry.record.kind === 'client' ? entry.record.owner : null;
      if (owner && owner.id !== 0) owners.set(owner.pid, { pid: owner.pid, uuid: owner.uuid, name: owner.name, id: owner.id });
    }
    // A name whose FDSTORE still waits in the queue is not in the store yet: a next image must send it.
    const unsent = new Set(this.#queue.filter((q) => q.fd !== null).map((q) => q.fdName));
    const locks: ResourceJournalRow[] = [];
    for (const stored of this.#stored.values()) {
      if (unsent.has(stored.fdName)) continue;
      const record = stored.entry.record as ResourceRecord;
      try {
        stored.identity ??= fileIdentity(stored.entry.fd!);
      } catch (err) {
        this.log.error({ err, path: record.path }, 'cannot stat a stored lock fd');
        continue;
      }
      locks.push(resourceToJournalRow(record, stored.fdName, stored.identity, owners));
    }
    try {
      writeJournal(this.journalFile, { version: FD_STORE_JOURNAL_VERSION, supervisorPid: process.pid, writtenAt: new Date().toISOString(), locks });
      this.#onDisk = new Map(locks.map((l) => [l.fdName, new Set(l.owners)]));
      this.#holdsOnDisk = holdsByName(locks);
    } catch (err) {
      // Not fatal: a stored fd missing from the journal is rebuilt from the fd itself on restart.
      this.log.error({ err, file: this.journalFile }, 'cannot write the fd-store journal');
    }
  }
}

function identitiesOf(locks: ResourceJournalRow[]): Map<string, FileIdentity> {
  return new Map(locks.map((l) => [l.fdName, { dev: l.dev, ino: l.ino }]));
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** A resource's cluster part (its etcd holds and pending owners) in one comparable string ('' without one). */
function holdsOf(record: { cluster?: ResourceRecord['cluster'] }): string {
  const cluster = record.cluster;
  if (cluster === undefined) return '';
  return `${cluster.holds.map((hold) => `${hold.key}@${hold.rev}`).join('\n')}|${cluster.pending.join(',')}`;
}

function holdsByName(locks: readonly ResourceJournalRow[]): Map<string, string> {
  const holds = new Map<string, string>();
  for (const lock of locks) if (lock.cluster) holds.set(lock.fdName, holdsOf(lock));
  return holds;
}
