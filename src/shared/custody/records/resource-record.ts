// A held resource in custody, in every form it takes, and the one definition of the lock it stands for:
// the byte range (byte 0, length 1, the range virtlockd locks), the ACQUIRE mode flags, and the re-check of
// a lock fd (the re-check itself is resource-lock.ts, which loads the addon). The forms: the record the worker files with the supervisor (its locked fd travels beside it;
// the control channel carries the record as JSON, checked by resourceRecordSchema); its row in the
// restart-exec state document (virtlockd's virLockSpacePreExecRestart resource plus holdfast's additions);
// its row in the fd-store journal. Each form's schema fragment and the conversions both ways are here.
import type { JSONSchemaType } from 'ajv';
import { MAX_OWNERS_PER_RESOURCE, MAX_PROTOCOL_STRING, MAX_RESOURCE_PATH, fd, notNull, ownerPid, timeMs } from './document-bounds';
import { type OwnerRecord, ownerRecordSchema } from './owner-record';
import { type ResourceCluster, copyCluster, optionalResourceClusterSchema, resourceClusterSchema } from './cluster-hold-record';

// ---- the lock ------------------------------------------------------------------------------------

// The record keeps ACQUIRE's flags as the wire gave them. They are stated here and in the lock program's
// AcquireFlags (shared/protocol), because the supervisor must not load the protocol and a client must not
// load custody; test/custody/record-forms.test.ts holds the two equal.

/** ACQUIRE flag: take a shared (read) lock instead of an exclusive one. */
export const ACQUIRE_SHARED = 1;
/** ACQUIRE flag: create the file (mode 0600) if missing, and unlink it on the last release. */
export const ACQUIRE_AUTOCREATE = 2;

// The lock lives on byte 0, length 1: the range virtlockd locks, so the two daemons exclude each other.
export const LOCK_START = 0;
export const LOCK_LENGTH = 1;

/** Whether ACQUIRE flags ask for a shared lock. */
export function isShared(flags: number): boolean {
  return (flags & ACQUIRE_SHARED) !== 0;
}

/** The fcntl lock type ACQUIRE flags ask for. */
export function lockTypeOf(flags: number): 'read' | 'write' {
  return isShared(flags) ? 'read' : 'write';
}

/**
 * How a resource's lock is held. 'ofd': an open-file-description lock holdfast took (F_OFD_SETLK), which
 * lives while any process holds an fd of that description. 'posix': a process-owned lock (F_SETLK), as
 * virtlockd takes; it survives execve() in the same pid but vanishes when that pid exits or closes *any*
 * fd of the file. Both cover byte 0, length 1.
 */
export type LockKind = 'ofd' | 'posix';

// ---- the record ----------------------------------------------------------------------------------

/** A held resource (its locked fd travels beside the record). */
export interface ResourceRecord {
  kind: 'resource';
  /** "" for the default lockspace, else the lockspace directory. */
  lockspace: string;
  name: string;
  path: string;
  /** ACQUIRE flags: SHARED, AUTOCREATE. */
  flags: number;
  /** Owner pids, one entry per acquisition (a shared lock can list the same pid twice). */
  owners: number[];
  acquiredAt: number;
  lockKind: LockKind;
  /**
   * Owner pids whose lock connection died with a previous supervisor (the lock came back from systemd's fd
   * store): held while each pid lives, released when it exits. Absent when there are none.
   */
  detachedOwners?: number[];
  /** What REGISTER said about those owners, where it was known when their connections died. */
  detachedOwnerDetails?: OwnerRecord[];
  /** A resource of a cluster lockspace: its etcd holds (cluster-hold-record.ts). Absent otherwise. */
  cluster?: ResourceCluster;
}

/** Characters JSON.stringify escapes (quote, backslash, controls, lone surrogates): a name without them stands in its key verbatim. */
export const NEEDS_KEY_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** How every resource key starts. */
export const RESOURCE_KEY_PREFIX = 'resource:["';

/** The custody key of a resource: unique per lockspace and name. */
export function resourceKey(lockspace: string, name: string): string {
  // JSON of [lockspace, name]; built without JSON.stringify (the same string) where nothing needs escaping.
  if (NEEDS_KEY_ESCAPE.test(lockspace) || NEEDS_KEY_ESCAPE.test(name)) return `resource:${JSON.stringify([lockspace, name])}`;
  return `${RESOURCE_KEY_PREFIX}${lockspace}","${name}"]`;
}

/** JSON Schema of a ResourceRecord on the control channel (one branch of custodyRecordSchema). */
export const resourceRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'lockspace', 'name', 'path', 'flags', 'owners', 'acquiredAt', 'lockKind'],
  properties: {
    kind: { const: 'resource' },
    lockspace: { type: 'string', maxLength: 65536 },
    name: { type: 'string', maxLength: 65536 },
    path: { type: 'string', maxLength: 140000 },
    flags: { type: 'integer', minimum: 0, maximum: 3 },
    owners: { type: 'array', maxItems: 100000, items: { type: 'integer', minimum: 0 } },
    acquiredAt: { type: 'number' },
    lockKind: { enum: ['ofd', 'posix'] },
    detachedOwners: { type: 'array', maxItems: 100000, items: { type: 'integer', minimum: 0 } },
    detachedOwnerDetails: { type: 'array', maxItems: 100000, items: ownerRecordSchema },
    cluster: resourceClusterSchema,
  },
} as const;

// ---- state document ------------------------------------------------------------------------------

/** holdfast's additions to a resource. */
export interface ResourceHoldfastState {
  /** holdfast. When the first owner acquired it, ms since the epoch. */
  acquiredAt: number;
  /** holdfast. How the lock is held. A resource without `holdfast` (virtlockd's) is 'posix', held by the reading pid. */
  lockKind: LockKind;
  /** holdfast. Owner pids without a lock connection (their locks came back from systemd's fd store); held until each exits. */
  detachedOwners?: number[];
  /** holdfast. What REGISTER said about those owners, where known. */
  detachedOwnerDetails?: OwnerRecord[];
  /** holdfast. A cluster lockspace's resource: its etcd holds. */
  cluster?: ResourceCluster;
}

/** One held resource (virLockSpacePreExecRestart). */
export interface ResourceState {
  /** virtlockd. Resource name: a file path in the default lockspace, a plain file name in a directory lockspace. */
  name: string;
  /** virtlockd. The locked file: `name` in the default lockspace, `directory + "/" + name` otherwise. */
  path: string;
  /** virtlockd. fd of the open file carrying the lock, in the reading process (see state-document.ts). */
  fd: number;
  /** virtlockd. The lock is taken (always true in practice). */
  lockHeld: boolean;
  /** virtlockd. ACQUIRE flags: 1 SHARED, 2 AUTOCREATE (the file is unlinked on the last release). */
  flags: number;
  /** virtlockd. Owner pids, one entry per acquisition (a shared lock can list the same pid twice). */
  owners: number[];
  /** holdfast. Absent in a virtlockd document. */
  holdfast?: ResourceHoldfastState;
}

/** The lock kind of a resource row: holdfast's record, else virtlockd's process-owned POSIX lock. */
export function lockKindOf(row: ResourceState): LockKind {
  return row.holdfast?.lockKind ?? 'posix';
}

/** JSON Schema of a resource row (composed by state-schema.ts). */
export const resourceRowSchema: JSONSchemaType<ResourceState> = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'path', 'fd', 'lockHeld', 'flags', 'owners'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: MAX_PROTOCOL_STRING },
    path: { type: 'string', minLength: 1, maxLength: MAX_RESOURCE_PATH },
    fd,
    lockHeld: { type: 'boolean' },
    // SHARED (1) | AUTOCREATE (2): the only flags ACQUIRE accepts
    flags: { type: 'integer', minimum: 0, maximum: 3 },
    owners: { type: 'array', maxItems: MAX_OWNERS_PER_RESOURCE, items: ownerPid },
    holdfast: {
      type: 'object',
      nullable: true,
      ...notNull,
      additionalProperties: false,
      required: ['acquiredAt', 'lockKind'],
      properties: {
        acquiredAt: timeMs,
        lockKind: { type: 'string', enum: ['ofd', 'posix'] },
        detachedOwners: { type: 'array', maxItems: MAX_OWNERS_PER_RESOURCE, items: ownerPid, nullable: true, ...notNull },
        detachedOwnerDetails: {
          type: 'array',
          maxItems: MAX_OWNERS_PER_RESOURCE,
          items: ownerRecordSchema,
          nullable: true,
          ...notNull,
        },
        cluster: optionalResourceClusterSchema,
      },
    },
  },
};

/** A resource's document row; `fd` is the number its locked file has in the process that reads the document. */
export function resourceToDocumentRow(record: ResourceRecord, fd: number): ResourceState {
  return {
    name: record.name,
    path: record.path,
    fd,
    lockHeld: true,
    flags: record.flags,
    owners: [...record.owners],
    holdfast: {
      acquiredAt: record.acquiredAt,
      lockKind: record.lockKind,
      ...(record.detachedOwners ? { detachedOwners: [...record.detachedOwners] } : {}),
      ...(record.detachedOwnerDetails ? { detachedOwnerDetails: record.detachedOwnerDetails.map((o) => ({ ...o })) } : {}),
      ...(record.cluster ? { cluster: copyCluster(record.cluster) } : {}),
    },
  };
}

/**
 * The record of a document row of `lockspace` ("" for the default one); the fd is `row.fd`. A virtlockd row
 * has no holdfast part: its lock is a POSIX one, acquired (as far as anyone knows) now.
 */
export function resourceFromDocumentRow(row: ResourceState, lockspace: string): ResourceRecord {
  return {
    kind: 'resource',
    lockspace,
    name: row.name,
    path: row.path,
    flags: row.flags,
    owners: [...row.owners],
    acquiredAt: row.holdfast?.acquiredAt ?? Date.now(),
    lockKind: lockKindOf(row),
    ...(row.holdfast?.detachedOwners ? { detachedOwners: [...row.holdfast.detachedOwners] } : {}),
    ...(row.holdfast?.detachedOwnerDetails ? { detachedOwnerDetails: row.holdfast.detachedOwnerDetails.map((o) => ({ ...o })) } : {}),
    ...(row.holdfast?.cluster ? { cluster: copyCluster(row.holdfast.cluster) } : {}),
  };
}

// ---- fd-store journal ----------------------------------------------------------------------------

/** One lock fd stored with systemd, as the fd-store journal describes it. Only OFD locks are stored. */
export interface ResourceJournalRow {
  /** The FDNAME it is stored under. */
  fdName: string;
  /** "" for the default lockspace, else the lockspace directory. */
  lockspace: string;
  name: string;
  path: string;
  /** ACQUIRE flags: 1 SHARED, 2 AUTOCREATE. */
  flags: number;
  /** Owner pids, one per acquisition, as the custody record lists them. */
  owners: number[];
  /** Owners as they REGISTERed (from the client records), where one of their connections was known. */
  ownerDetails: OwnerRecord[];
  /** Owner pids already without a connection when this was written. */
  detachedOwners: number[];
  acquiredAt: number;
  /** The locked file's identity (st_dev, st_ino in decimal): a handed-back fd must match it. */
  dev: string;
  ino: string;
  /** A cluster lockspace's resource: its etcd holds. */
  cluster?: ResourceCluster;
}

const journalPid = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;
const decimal = { type: 'string', pattern: '^[0-9]{1,20}$' } as const;

/** JSON Schema of a journal row (composed by journal.ts). */
export const resourceJournalRowSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['fdName', 'lockspace', 'name', 'path', 'flags', 'owners', 'ownerDetails', 'detachedOwners', 'acquiredAt', 'dev', 'ino'],
  properties: {
    fdName: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[ -9;-~]+$' },
    lockspace: { type: 'string', maxLength: 65536 },
    name: { type: 'string', minLength: 1, maxLength: 65536 },
    path: { type: 'string', minLength: 1, maxLength: 140000 },
    flags: { type: 'integer', minimum: 0, maximum: 3 },
    owners: { type: 'array', maxItems: 100000, items: journalPid },
    ownerDetails: {
      type: 'array',
      maxItems: 100000,
      items: ownerRecordSchema,
    },
    detachedOwners: { type: 'array', maxItems: 100000, items: journalPid },
    acquiredAt: { type: 'number', minimum: 0 },
    dev: decimal,
    ino: decimal,
    cluster: resourceClusterSchema,
  },
};

/**
 * A resource's journal row. `registered`: the owners known from client records in custody, by pid; an owner
 * without a connection is described as the record remembers it.
 */
export function resourceToJournalRow(record: ResourceRecord, fdName: string, identity: { dev: string; ino: string }, registered: ReadonlyMap<number, OwnerRecord>): ResourceJournalRow {
  return {
    fdName,
    lockspace: record.lockspace,
    name: record.name,
    path: record.path,
    flags: record.flags,
    owners: [...record.owners],
    ownerDetails: [...new Set(record.owners)].flatMap((pid) => {
      const known = registered.get(pid) ?? record.detachedOwnerDetails?.find((o) => o.pid === pid);
      return known ? [known] : [];
    }),
    detachedOwners: [...(record.detachedOwners ?? [])],
    acquiredAt: record.acquiredAt,
    ...identity,
    ...(record.cluster ? { cluster: copyCluster(record.cluster) } : {}),
  };
}

/**
 * The record of a journal row when systemd hands its fd back. Every connection died with the old supervisor,
 * so every owner is detached (the row's own detachedOwners only says who already was). `flags`: as the
 * kernel shows the lock, which wins over a journal that may lag.
 */
export function resourceFromJournalRow(row: ResourceJournalRow, flags = row.flags): ResourceRecord {
  const owners = [...row.owners];
  const details = row.ownerDetails.filter((o) => owners.includes(o.pid));
  return {
    kind: 'resource',
    lockspace: row.lockspace,
    name: row.name,
    path: row.path,
    flags,
    owners,
    acquiredAt: row.acquiredAt,
    lockKind: 'ofd',
    detachedOwners: [...new Set(owners)],
    ...(details.length > 0 ? { detachedOwnerDetails: details.map((o) => ({ ...o })) } : {}),
    ...(row.cluster ? { cluster: copyCluster(row.cluster) } : {}),
  };
}
