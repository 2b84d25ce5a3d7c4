// A client connection in custody, in every form it takes: the record the worker files with the supervisor
// (its socket fd travels beside it; the control channel carries the record as JSON, checked by
// clientRecordSchema), and its row in the restart-exec state document — virtlockd's client
// (virNetServerClientPreExecRestart, with the lock protocol's private data) plus holdfast's additions — with
// the schema fragments state-schema.ts composes and the conversions both ways. Clients have no fd-store form:
// a connection cannot outlive the supervisor that held it.
import type { JSONSchemaType } from 'ajv';
import { MAX_FD, UINT_MAX, auth, fd, notNull, pid, safeUint, timeMs, uint } from './document-bounds';
import {
  OWNER_PRIVATE_DATA_KEYS,
  type OwnerPrivateData,
  type OwnerRecord,
  ownerFromPrivateData,
  ownerPrivateDataProperties,
  ownerRecordSchema,
  ownerToPrivateData,
} from './owner-record';

/** Which listener accepted a connection. */
export type ServerName = 'virtlockd' | 'admin';

/** A client connection (its socket fd travels beside the record). */
export interface ClientRecord {
  kind: 'client';
  /** Which listener accepted it. */
  server: ServerName;
  id: number;
  connectedAt: number;
  peer: { pid: number; uid: number; gid: number };
  restricted: boolean;
  owner: OwnerRecord | null;
  registeredAt: number;
}

/** The custody key of a client connection. */
export function clientKey(server: ServerName, id: number): string {
  return `client:${server}:${id}`;
}

/** JSON Schema of a ClientRecord on the control channel (one branch of custodyRecordSchema). */
export const clientRecordSchema = {
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
    owner: { anyOf: [{ type: 'null' }, ownerRecordSchema] },
    registeredAt: { type: 'number' },
  },
} as const;

// ---- state document ------------------------------------------------------------------------------

/** One socket (virtlockd's virNetSocketPreExecRestart): a client's connection, or a listening socket. */
export interface SocketState {
  /** virtlockd. The socket's fd in the reading process (see state-document.ts). virtlockd calls getsockname() on it. */
  fd: number;
  /** virtlockd. stderr pipe of a helper process behind the socket (ssh transports); -1 for none, always -1 here. */
  errfd: number;
  /** virtlockd. pid of a helper process behind the socket, killed when the socket is freed; 0 for none. */
  pid: number;
  /** virtlockd. true for an accepted client connection, false for a listening socket. */
  isClient: boolean;
  /**
   * virtlockd. Unlink the socket's path when it is freed. true for a listening socket virtlockd bound itself,
   * false for one received by socket activation and for every client connection.
   */
  unlinkUNIX: boolean;
}

/**
 * The lock protocol's per-client data (virLockDaemonClientPreExecRestart). All keys are virtlockd's.
 *
 * An unregistered client has ownerId 0. virtlockd cannot save one at all (its ownerName is NULL and the
 * save fails, so a SIGUSR1 then makes virtlockd exit and drop every lock — observed with virtlockd 9.0);
 * holdfast writes an unregistered client as ownerId 0, ownerPid 0, ownerName "" and the all-zero UUID.
 */
export interface LockClientPrivateData extends OwnerPrivateData {
  /** virtlockd. RESTRICT was called: the client may only ACQUIRE/RELEASE. */
  restricted: boolean;
}

/** The admin protocol's per-client data: virtlockd saves an empty object (remoteAdmClientPreExecRestart). */
export type AdminClientPrivateData = Record<string, never>;

/** holdfast's additions to a client. */
export interface ClientHoldfastState {
  /** holdfast. Peer pid read with SO_PEERCRED at accept (virtlockd re-reads it after a restart instead). */
  peerPid: number;
  /** holdfast. Peer uid read with SO_PEERCRED at accept. */
  peerUid: number;
  /** holdfast. When REGISTER succeeded, ms since the epoch; 0 when not registered. */
  registeredAt: number;
  /** holdfast. When the connection was accepted, ms since the epoch. */
  connectedAt: number;
}

/** One client connection of a server (virNetServerClientPreExecRestart). */
export interface ClientState<P> {
  /** virtlockd. Client id, unique within its server, below the server's next_client_id. */
  id: number;
  /** virtlockd. Authentication scheme of the connection; 0 (none) for virtlockd. */
  auth: number;
  /** virtlockd. Authentication still pending; must be false when auth is 0 (virtlockd refuses the pair). */
  auth_pending: boolean;
  /** virtlockd. Read-only connection. */
  readonly: boolean;
  /** virtlockd. Requests this client may have in flight (1). */
  nrequests_max: number;
  /** virtlockd. When the client connected, seconds since the epoch. virtlockd leaves the key out when it is 0. */
  conn_time?: number;
  /** virtlockd. The connection; `sock.isClient` is true. */
  sock: SocketState;
  /** virtlockd. Protocol-specific data: {@link LockClientPrivateData}, or `{}` on the admin server. */
  privateData: P;
  /** holdfast. Absent in a virtlockd document. */
  holdfast?: ClientHoldfastState;
}

/** A client of the lock protocol server ("virtlockd"). */
export type VirtlockdClientState = ClientState<LockClientPrivateData>;
/** A client of the admin protocol server ("admin"). */
export type AdminClientState = ClientState<AdminClientPrivateData>;

export const socketSchema: JSONSchemaType<SocketState> = {
  type: 'object',
  additionalProperties: false,
  required: ['fd', 'errfd', 'pid', 'isClient', 'unlinkUNIX'],
  properties: {
    fd,
    errfd: { type: 'integer', minimum: -1, maximum: MAX_FD },
    pid,
    isClient: { type: 'boolean' },
    unlinkUNIX: { type: 'boolean' },
  },
};

export const lockPrivateDataSchema: JSONSchemaType<LockClientPrivateData> = {
  type: 'object',
  additionalProperties: false,
  required: ['restricted', ...OWNER_PRIVATE_DATA_KEYS],
  properties: {
    restricted: { type: 'boolean' },
    ...ownerPrivateDataProperties,
  },
};

export const adminPrivateDataSchema: JSONSchemaType<AdminClientPrivateData> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {},
};

const clientHoldfastSchema: JSONSchemaType<ClientHoldfastState> = {
  type: 'object',
  additionalProperties: false,
  required: ['peerPid', 'peerUid', 'registeredAt', 'connectedAt'],
  properties: {
    peerPid: pid,
    // uid_t; (uid_t)-1 is not a uid.
    peerUid: { type: 'integer', minimum: 0, maximum: UINT_MAX - 1 },
    registeredAt: timeMs,
    connectedAt: timeMs,
  },
};

/** JSON Schema of a client row whose private data `privateData` describes. */
export function clientRowSchema<P>(privateData: JSONSchemaType<P>): JSONSchemaType<ClientState<P>> {
  // The generic P defeats JSONSchemaType's structural check; the shape is spelled out once, right here.
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'auth', 'auth_pending', 'readonly', 'nrequests_max', 'sock', 'privateData'],
    properties: {
      id: safeUint,
      auth,
      auth_pending: { type: 'boolean' },
      readonly: { type: 'boolean' },
      nrequests_max: uint,
      // seconds since the epoch (a C long long); virtlockd omits it when 0
      conn_time: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, nullable: true, ...notNull },
      sock: socketSchema,
      privateData,
      holdfast: { ...clientHoldfastSchema, nullable: true, ...notNull },
    },
  } as unknown as JSONSchemaType<ClientState<P>>;
}

/**
 * The lock server's row of a client. The document has no place for the peer's gid: it reads back as -1.
 */
export function lockClientToDocumentRow(record: ClientRecord, fd: number): VirtlockdClientState {
  return {
    id: record.id,
    auth: 0,
    auth_pending: false,
    readonly: false,
    nrequests_max: 1,
    conn_time: Math.floor(record.connectedAt / 1000),
    sock: { fd, errfd: -1, pid: 0, isClient: true, unlinkUNIX: false },
    privateData: { restricted: record.restricted, ...ownerToPrivateData(record.owner) },
    holdfast: { peerPid: record.peer.pid, peerUid: record.peer.uid, registeredAt: record.registeredAt, connectedAt: record.connectedAt },
  };
}

/** The admin server's row of a client: the same, with virtlockd's empty private data. */
export function adminClientToDocumentRow(record: ClientRecord, fd: number): AdminClientState {
  return { ...lockClientToDocumentRow(record, fd), privateData: {} };
}

/** The record of a lock server's row (the fd is `row.sock.fd`). */
export function lockClientFromDocumentRow(row: VirtlockdClientState): ClientRecord {
  const connectedAt = connectedAtOf(row);
  return {
    kind: 'client',
    server: 'virtlockd',
    id: row.id,
    connectedAt,
    peer: peerOf(row),
    restricted: row.privateData.restricted,
    owner: ownerFromPrivateData(row.privateData),
    registeredAt: row.holdfast?.registeredAt ?? connectedAt,
  };
}

/** The record of an admin server's row (the fd is `row.sock.fd`): admin clients never register. */
export function adminClientFromDocumentRow(row: AdminClientState): ClientRecord {
  return { kind: 'client', server: 'admin', id: row.id, connectedAt: connectedAtOf(row), peer: peerOf(row), restricted: false, owner: null, registeredAt: 0 };
}

function connectedAtOf(row: ClientState<unknown>): number {
  return row.holdfast?.connectedAt ?? (row.conn_time ?? 0) * 1000;
}

// A virtlockd document has no peer credentials: the new worker's owner-kill rule needs the peer pid, which
// virtlockd re-reads with SO_PEERCRED; uid -1 tells the supervisor to do the same after adoption. The gid is
// in no document.
function peerOf(row: ClientState<unknown>): ClientRecord['peer'] {
  return { pid: row.holdfast?.peerPid ?? 0, uid: row.holdfast?.peerUid ?? -1, gid: -1 };
}
