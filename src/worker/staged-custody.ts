// The custody snapshot as a standby worker receives it, already built into the lock model: each `adopt`
// chunk becomes lockspaces and resources as it arrives, while another worker still serves. A swap sends the
// whole snapshot before the old worker drains and only what changed after, so what is left for `init` (the
// pause clients feel) is the change since, not the number of locks held.
//
// Nothing here takes or drops a lock: the serving worker may release one at any moment, and taking it
// again through our dup of its fd would hold it after the release was answered. The re-check of a lock
// happens at `init`, once nobody else serves (see lockRecheck).
import type { Logger } from 'pino';
import type { ClientRecord } from '../shared/custody/records/client-record';
import { custodyKey } from '../shared/custody/records/custody-record';
import type { ResourceRecord } from '../shared/custody/records/resource-record';
import { tryTakeLock } from '../shared/custody/records/resource-lock';
import type { AdoptMessage } from '../shared/custody/messages';
import * as native from '../shared/platform/native';
import { Lockspace } from './lock/lockspace';
import { LockResource } from './lock/resource';

/** A client connection as staged: its record and socket. */
export interface StagedClient {
  record: ClientRecord;
  fd: number | null;
}

/** One received record as it is staged: a resource built into its lockspace, a client with its socket. */
type StagedEntry =
  | { kind: 'resource'; lockspace: string; name: string; resource: LockResource | null }
  | ({ kind: 'client' } & StagedClient)
  | { kind: 'lockspace'; directory: string };

// Kept by kind as well as by key, so that init's work grows with the clients and lockspaces, not the locks.
export class StagedCustody {
  /** Every record received and not dropped since, by custody key. */
  readonly #entries = new Map<string, StagedEntry>();
  /** The lockspaces the resources are built into, by directory ("" for the default one). */
  readonly #lockspaces = new Map<string, Lockspace>();
  /** Directories of the lockspace records among the entries. */
  readonly #lockspaceRecords = new Set<string>();
  readonly #clients = new Map<string, StagedClient>();
  /** Staged resources with owners that have no connection (their exits are watched from init on). */
  readonly #withDetachedOwners = new Set<LockResource>();

  constructor(private log: Logger) {}

  logTo(log: Logger): void {
    this.log = log;
  }

  /** How many records are staged (init's `expectedRecords` checks it). */
  get size(): number {
    return this.#entries.size;
  }

  /** Applies one `adopt` chunk: its drops first, then its records (a record put again replaces). */
  apply(message: AdoptMessage, fds: number[]): void {
    for (const key of message.drops) this.#forget(key);
    for (const { record, fdIndex } of message.records) {
      const key = custodyKey(record);
      this.#forget(key);
      const fd = fdIndex === null ? null : fds[fdIndex]!;
      if (record.kind === 'resource') this.#stageResource(key, record, fd);
      else if (record.kind === 'client') {
        this.#entries.set(key, { kind: 'client', record, fd });
        this.#clients.set(key, { record, fd });
      } else {
        if (fd !== null) native.close(fd);
        this.#lockspace(record.directory);
        this.#lockspaceRecords.add(record.directory);
        this.#entries.set(key, { kind: 'lockspace', directory: record.directory });
      }
    }
  }

  /**
   * Re-takes the lock of the resources `keys` names (every one when null), once no other worker serves:
   * taking it again is a no-op on a lock still held, and takes back one a worker released without filing
   * the release before it died (that release is replayed from the client's socket).
   */
  recheckLocks(keys: string[] | null): void {
    if (keys === null) {
      for (const entry of this.#entries.values()) if (entry.kind === 'resource' && entry.resource) this.#recheck(entry.resource);
      return;
    }
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry?.kind === 'resource' && entry.resource) this.#recheck(entry.resource);
    }
  }

  /** The staged lockspaces with a record or a resource (the default one has directory null), with their resources. */
  lockspaces(): Lockspace[] {
    return [...this.#lockspaces].filter(([directory, lockspace]) => lockspace.size > 0 || this.#lockspaceRecords.has(directory)).map(([, lockspace]) => lockspace);
  }

  /** The staged client connections, with their socket fds. */
  clients(): Iterable<StagedClient> {
    return this.#clients.values();
  }

  /** The staged resources with owners that have no connection. */
  withDetachedOwners(): Iterable<LockResource> {
    return this.#withDetachedOwners;
  }

  /** Init took everything over: the fds now belong to the model and the connections. */
  handedOver(): void {
    this.#entries.clear();
    this.#lockspaces.clear();
    this.#lockspaceRecords.clear();
    this.#clients.clear();
    this.#withDetachedOwners.clear();
  }

  #stageResource(key: string, record: ResourceRecord, fd: number | null): void {
    let resource: LockResource | null = null;
    if (fd === null) {
      this.log.error({ lockspace: record.lockspace, resource: record.name }, 'custody record of a resource without its fd; ignoring it');
    } else {
      // Held until init's re-check says otherwise.
      resource = this.#lockspace(record.lockspace).adopt(LockResource.fromRecord(record, fd, true));
      if (resource.detachedOwners.length > 0) this.#withDetachedOwners.add(resource);
    }
    this.#entries.set(key, { kind: 'resource', lockspace: record.lockspace, name: record.name, resource });
  }

  #lockspace(directory: string): Lockspace {
    let lockspace = this.#lockspaces.get(directory);
    if (!lockspace) {
      // A resource whose lockspace record is missing (or not yet here) still gets its lockspace; "" is the
      // default one, whose resources init moves into the registry's.
      lockspace = directory === '' ? new Lockspace(null) : Lockspace.fromRecord({ kind: 'lockspace', directory });
      this.#lockspaces.set(directory, lockspace);
    }
    return lockspace;
  }

  /** Lets go of a staged record: closes our dup of its fd (never unlocking it: custody holds the lock). */
  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    if (entry.kind === 'client') {
      this.#clients.delete(key);
      if (entry.fd !== null) native.close(entry.fd);
    } else if (entry.kind === 'resource' && entry.resource) {
      const lockspace = this.#lockspaces.get(entry.lockspace);
      if (lockspace?.resources.get(entry.name) === entry.resource) lockspace.forget(entry.name);
      this.#withDetachedOwners.delete(entry.resource);
      native.close(entry.resource.fd);
    } else if (entry.kind === 'lockspace') {
      // The lockspace itself stays while resources of it are staged.
      this.#lockspaceRecords.delete(entry.directory);
    }
  }

  #recheck(resource: LockResource): void {
    if (resource.lockKind !== 'ofd') return;
    let held: boolean;
    try {
      held = tryTakeLock(resource.fd, resource.flags);
    } catch (err) {
      held = false;
      this.log.error({ err, path: resource.path }, 'cannot check an adopted lock');
    }
    if (!held) this.log.error({ path: resource.path, owners: resource.owners }, 'an adopted resource is no longer locked by us: someone else holds it');
    resource.lockHeld = held;
  }
}
