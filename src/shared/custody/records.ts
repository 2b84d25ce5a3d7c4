// The records the worker files with the supervisor for everything it must never lose: one per client
// connection, held resource and directory lockspace. To the supervisor they are opaque data beside an fd;
// to a new worker they are enough to rebuild the whole lock service. Keys are stable strings.

/** A registered lock owner, as REGISTER gave it. */
export interface OwnerRecord {
  uuid: string;
  name: string;
  id: number;
  pid: number;
}

/** A client connection (its socket fd travels beside the record). */
export interface ClientRecord {
  kind: 'client';
  /** Which listener accepted it. */
  server: 'virtlockd' | 'admin';
  id: number;
  connectedAt: number;
  peer: { pid: number; uid: number; gid: number };
  restricted: boolean;
  owner: OwnerRecord | null;
  registeredAt: number;
}

/** A held resource (its locked fd travels beside the record). */
export interface ResourceRecordState {
  kind: 'resource';
  /** "" for the default lockspace, else the lockspace directory. */
  lockspace: string;
  name: string;
  path: string;
  flags: number;
  owners: number[];
  acquiredAt: number;
  lockKind: 'ofd' | 'posix';
  /**
   * Owner pids whose lock connection died with a previous supervisor (the lock came back from systemd's fd
   * store): held while each pid lives, released when it exits. Absent when there are none.
   */
  detachedOwners?: number[];
  /** What REGISTER said about those owners, where it was known when their connections died. */
  detachedOwnerDetails?: OwnerRecord[];
}

/** A directory lockspace (no fd: it is only a path). */
export interface LockspaceRecord {
  kind: 'lockspace';
  directory: string;
}

export type CustodyRecord = ClientRecord | ResourceRecordState | LockspaceRecord;

/** The custody key of a record: unique per kind and identity. */
export function custodyKey(record: CustodyRecord): string {
  switch (record.kind) {
    case 'client':
      return `client:${record.server}:${record.id}`;
    case 'resource':
      return resourceKey(record.lockspace, record.name);
    case 'lockspace':
      return `lockspace:${record.directory}`;
  }
}

export function resourceKey(lockspace: string, name: string): string {
  return `resource:${JSON.stringify([lockspace, name])}`;
}

export function clientKey(server: 'virtlockd' | 'admin', id: number): string {
  return `client:${server}:${id}`;
}

/** JSON Schema of an OwnerRecord (also used by the state document and the fd-store journal). */
export const ownerSchema = {
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

/** JSON Schema of one custody record (used inside the control-message schemas). */
export const custodyRecordSchema = {
  type: 'object',
  required: ['kind'],
  discriminator: { propertyName: 'kind' },
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'server', 'id', 'connectedAt', 'peer', 'restricted', 'owner', 'registeredAt'],
      properties: {
        kind: { const: 'client' },
        server: { enum: ['virtlockd', 'admin'] },
        id: { type: 'integer', minimum: 1 },
        connectedAt: { type: 'number' },
        peer: {
          type: 'object',
          additionalProperties: false,
          required: ['pid', 'uid', 'gid'],
          properties: { pid: { type: 'integer' }, uid: { type: 'integer' }, gid: { type: 'integer' } },
        },
        restricted: { type: 'boolean' },
        owner: { anyOf: [{ type: 'null' }, ownerSchema] },
        registeredAt: { type: 'number' },
      },
    },
    {
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
        detachedOwnerDetails: { type: 'array', maxItems: 100000, items: ownerSchema },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'directory'],
      properties: { kind: { const: 'lockspace' }, directory: { type: 'string', minLength: 1, maxLength: 65536 } },
    },
  ],
} as const;
