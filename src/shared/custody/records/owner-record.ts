// A lock owner as REGISTER named it — the VM process: its domain's UUID, name and id, and its pid — in every
// form it takes. The record itself travels inside client and resource records (control channel), in holdfast's
// part of a resource's document row and in the fd-store journal, always under one schema. virtlockd's own
// document spells a client's owner as four keys of the client's private data: that form and its conversions
// are here too.
import { MAX_PROTOCOL_STRING, UUID_PATTERN, ownerPid, uint } from './document-bounds';

/** A registered lock owner, as REGISTER gave it. `id` 0 means "not registered" (libvirt tests the id). */
export interface OwnerRecord {
  uuid: string;
  name: string;
  id: number;
  pid: number;
}

/** JSON Schema of an OwnerRecord: the same in control messages, the state document and the fd-store journal. */
export const ownerRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['uuid', 'name', 'id', 'pid'],
  properties: {
    uuid: { type: 'string', maxLength: 64 },
    name: { type: 'string', maxLength: 65536 },
    id: { type: 'integer', minimum: 0, maximum: 0xffffffff },
    pid: { type: 'integer', minimum: 0, maximum: 0xffffffff },
  },
} as const;

// ---- state document: virtlockd's owner keys of a lock client's private data ----------------------------

/** virtlockd's owner keys of a lock client's private data (virLockDaemonClientPreExecRestart). */
export interface OwnerPrivateData {
  /** virtlockd. pid of the registered owner (the VM process); the pid every lock of this owner is held for. */
  ownerPid: number;
  /** virtlockd. Owner id from REGISTER (the domain id); 0 means not registered. */
  ownerId: number;
  /** virtlockd. Owner name from REGISTER (the domain name). */
  ownerName: string;
  /** virtlockd. Owner UUID from REGISTER, formatted 8-4-4-4-12 in lower-case hex. */
  ownerUUID: string;
}

/** The keys of {@link OwnerPrivateData}, in the order virtlockd writes them. */
export const OWNER_PRIVATE_DATA_KEYS = ['ownerPid', 'ownerId', 'ownerName', 'ownerUUID'] as const;

/** Schema properties of {@link OwnerPrivateData} (composed into a lock client's private-data schema). */
export const ownerPrivateDataProperties = {
  ownerPid,
  ownerId: uint,
  ownerName: { type: 'string', maxLength: MAX_PROTOCOL_STRING },
  ownerUUID: { type: 'string', pattern: UUID_PATTERN },
} as const;

const NULL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The private-data keys of a client's owner. virtlockd 9.0 fails to save an unregistered client; holdfast
 * writes one as owner 0, pid 0, an empty name and the all-zero UUID.
 */
export function ownerToPrivateData(owner: OwnerRecord | null): OwnerPrivateData {
  return {
    ownerPid: owner?.pid ?? 0,
    ownerId: owner?.id ?? 0,
    ownerName: owner?.name ?? '',
    ownerUUID: owner?.uuid ?? NULL_UUID,
  };
}

/** The owner a client's private data names; null for an unregistered client (id and pid 0). */
export function ownerFromPrivateData(data: OwnerPrivateData): OwnerRecord | null {
  if (data.ownerId === 0 && data.ownerPid === 0) return null;
  return { uuid: data.ownerUUID, name: data.ownerName, id: data.ownerId, pid: data.ownerPid };
}
