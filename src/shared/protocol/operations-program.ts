// holdfast's own admin program (0x484F4C44 "HOLD", version 1), served on the admin socket beside libvirt's
// admin program: procedure numbers, argument and reply types, XDR encoders/decoders for both sides, and the
// JSON Schemas a client checks every reply against, and the procedure table (names, flags, codecs of args and
// replies) both the worker and the client library go by. Replies are JSON text carried as one XDR string
// (METRICS: OpenMetrics text). Pure data and codecs: no sockets, no server state.
import type { ErrorObject } from 'ajv';
import type { FdUse } from '../platform/fd-budget';
import type { ActionOutcome, ClusterLeaseStatus, FenceReport, SupervisorClusterStatus, SupervisorStatus } from '../custody/supervisor-status';

export type { ActionOutcome, ClusterLeaseStatus, FenceReport, SupervisorClusterStatus, SupervisorStatus };
import { compiledValidator } from '../platform/compiled-validator';
import { XdrDecodeError, XdrReader, XdrWriter, isValidUtf8 } from './xdr';
import { MESSAGE_STRING_MAX } from './message';
import { decodeFlagsArgs, encodeFlagsArgs, type FlagsArgs } from './admin-program';
import type { FlagRule } from './flag-check';
import { VirErrorDomain } from './vir-error';

/** The program number: "HOLD" in ASCII. */
export const HOLDFAST_PROGRAM = 0x484f4c44;
/** The program version. */
export const HOLDFAST_PROGRAM_VERSION = 1;
/** Longest string on this program (arguments and replies): libvirt's RPC string bound. */
const HOLDFAST_STRING_MAX = MESSAGE_STRING_MAX;
/**
 * A page of LOCKS or CLIENTS stops once its JSON passes this many bytes: replies travel through the
 * supervisor's control channel, whose datagrams are bounded, so long lists come in pages.
 */
export const HOLDFAST_PAGE_BYTES = 48 * 1024;

/** The procedures. */
export enum HoldfastProcedure {
  STATUS = 1,
  LOCKS = 2,
  CLIENTS = 3,
  LOCKSPACES = 4,
  WHO = 5,
  UPGRADE = 6,
  SWAP_WORKER = 7,
  SET_LOG_LEVEL = 8,
  METRICS = 9,
  CLUSTER = 10,
}

// --- arguments ------------------------------------------------------------------------------

/** LOCKS args: optional filters and the paging cursor. */
export interface LocksArgs {
  /** Only resources whose file is this absolute path. */
  path: string | null;
  /** Only resources one of whose owners matches: an owner name, a UUID, or a pid in decimal. */
  owner: string | null;
  /** Resume after this cursor (the `next` of the previous page); null for the first page. */
  after: string | null;
  flags: number;
}

/** CLIENTS args: the paging cursor. */
export interface ClientsArgs {
  after: string | null;
  flags: number;
}

/** WHO args: an absolute path. */
export interface WhoArgs {
  path: string;
  flags: number;
}

/** SET_LOG_LEVEL args: a libvirt priority 1..4 or a pino level name. */
export interface SetLogLevelArgs {
  level: string;
  flags: number;
}

// --- replies --------------------------------------------------------------------------------

/** STATUS reply. */
export interface StatusReply {
  /** null only in the moment before the supervisor's status reaches a new worker. */
  supervisor: SupervisorStatus | null;
  worker: { version: string; pid: number; generation: number; startedAt: number };
  /** When the daemon process (the supervisor's pid) started, ms since the epoch; null if unknown. */
  daemonStartedAt: number | null;
  uptimeSeconds: number | null;
  clients: { lock: number; admin: number };
  locksHeld: number;
  /** Directory lockspaces (the default lockspace is always there besides). */
  lockspaces: number;
  /** The root log level, as a libvirt priority 1 (debug) .. 4 (error). */
  logLevel: number;
  /**
   * Open fds against the soft RLIMIT_NOFILE, counted when asked; the supervisor's is null where /proc does
   * not tell. Absent from workers of versions before it existed.
   */
  fds?: { supervisor: FdUse | null; worker: FdUse };
}

/** One owner of a held resource. */
export interface LockOwnerInfo {
  pid: number;
  /** From the REGISTER of a connection for this pid; null when none is connected now. */
  name: string | null;
  uuid: string | null;
  /** Lock-protocol connections registered for this pid. */
  clients: number[];
  /**
   * A cluster resource only: the fencing token of this owner's hold (the etcd revision that created it, in
   * decimal), null while etcd is being asked for it. Absent for a resource of this host alone.
   */
  token?: string | null;
  /**
   * Held for a pid whose connection died with a previous supervisor (the lock came back from systemd's fd
   * store): kept until that process exits.
   */
  detached: boolean;
}

/** One held resource. */
export interface LockInfo {
  /** The lockspace directory; "" for the default lockspace. */
  lockspace: string;
  /** The resource name within its lockspace. */
  resource: string;
  /** The locked file as the daemon opened it. */
  path: string;
  mode: 'exclusive' | 'shared';
  /** Files created on acquire are unlinked on the last release. */
  autocreate: boolean;
  owners: LockOwnerInfo[];
  /** When the first owner acquired it, ms since the epoch. */
  acquiredAt: number;
  /** True for a cluster resource (locked on every host through etcd); absent for a resource of this host alone. */
  cluster?: boolean;
}

/** A page of LOCKS. */
export interface LocksReply {
  locks: LockInfo[];
  /** The cursor of the next page; null on the last one. */
  next: string | null;
}

/** One client connection. */
export interface ClientInfo {
  server: 'virtlockd' | 'admin';
  id: number;
  pid: number;
  uid: number;
  connectedAt: number;
  restricted: boolean;
  /** The registered owner (lock clients only). */
  owner: { name: string; uuid: string; id: number; pid: number } | null;
  registeredAt: number | null;
  /** Resources held by this client's owner pid. */
  locks: number;
}

/** A page of CLIENTS. */
export interface ClientsReply {
  clients: ClientInfo[];
  next: string | null;
}

/** One lockspace. */
export interface LockspaceInfo {
  /** The protocol path: the directory, or "" for the default lockspace. */
  path: string;
  resources: number;
}

/** LOCKSPACES reply. */
export interface LockspacesReply {
  lockspaces: LockspaceInfo[];
}

/** WHO reply. */
export interface WhoReply {
  path: string;
  held: boolean;
  holders: LockInfo[];
}

/** UPGRADE / SWAP_WORKER reply: whether the supervisor took the request, and the counters to wait on. */
export interface ActionReply {
  accepted: boolean;
  reason: string | null;
  /** The supervisor's counters when it answered: the outcome is known once one of them moves. */
  upgrades: number;
  upgradeRefusals: number;
  workerSwaps: number;
  swapFailures: number;
}

/** One etcd endpoint as the worker found it when asked (etcd's maintenance status, asked of that endpoint alone). */
export interface ClusterEndpointHealth {
  endpoint: string;
  /** It answered within the timeout. */
  healthy: boolean;
  /** As it answered: etcd's version, its member id, and whether it is the raft leader; null when it did not. */
  version: string | null;
  memberId: string | null;
  leader: boolean | null;
  /** Why it is not healthy; null when it is. */
  error: string | null;
}

/** One owner's cluster hold on this host. */
export interface ClusterHoldInfo {
  lockspace: string;
  resource: string;
  path: string;
  pid: number;
  mode: 'exclusive' | 'shared';
  /** held: etcd committed it; pending: etcd is being asked (the local lock is taken). */
  state: 'held' | 'pending';
  /** The fencing token (etcd's create revision, decimal); null while pending. */
  token: string | null;
  /** The lease the hold is on; null while pending. */
  lease: string | null;
}

/** CLUSTER reply on a host with a cluster configured. */
export interface ClusterInfo {
  configured: true;
  hostId: string;
  keyPrefix: string;
  /** What is cluster-wide: these lockspaces, and the default lockspace's files under these prefixes. */
  lockspaces: string[];
  pathPrefixes: string[];
  endpoints: ClusterEndpointHealth[];
  /**
   * The host lease as the supervisor keeps it; `msLeft` is counted when asked, from the deadline the worker
   * was told. Before the supervisor's status reaches a new worker, what the worker knows (its counters 0).
   */
  lease: ClusterLeaseStatus;
  /** Holds on this host: owners' holds of exclusive and of shared resources, and those still being asked for. */
  holdCounts: { exclusive: number; shared: number; pending: number };
  holds: ClusterHoldInfo[];
  /** What this worker's hold requests came to, since it started. */
  requests: { granted: number; busy: number; unavailable: number; lateGrants: number; released: number; releaseRetries: number };
  /** Fences of this supervisor image; null before its status reaches a new worker. */
  fences: { total: number; ownersKilled: number; killFailures: number; last: FenceReport[] } | null;
}

/** CLUSTER reply: the cluster, or that none is configured on this host. */
export type ClusterReply = ClusterInfo | { configured: false };

/** SET_LOG_LEVEL reply. */
export interface SetLogLevelReply {
  previous: number;
  level: number;
}

// --- schemas (what a client checks every reply against) -------------------------------------

const int = { type: 'integer' } as const;
const uint = { type: 'integer', minimum: 0 } as const;
const str = { type: 'string' } as const;
const nullableStr = { type: 'string', nullable: true } as const;

const outcomeSchema = {
  type: 'object',
  required: ['at', 'ok', 'reason'],
  properties: { at: uint, ok: { type: 'boolean' }, reason: nullableStr },
};

const decimal = { type: 'string', pattern: '^[0-9]{1,20}$' } as const;
const nullableDecimal = { ...decimal, nullable: true } as const;
const pids = { type: 'array', items: int } as const;

const leaseStatusSchema = {
  type: 'object',
  required: ['state', 'id', 'ttlMs', 'msLeft', 'lastRenewedAt', 'keepalivesSent', 'keepalivesAcked', 'deadlinesPassed'],
  properties: {
    state: { type: 'string', enum: ['granting', 'held', 'lapsed'] },
    id: nullableDecimal,
    ttlMs: uint,
    msLeft: { type: 'number', nullable: true },
    lastRenewedAt: { ...uint, nullable: true },
    keepalivesSent: uint,
    keepalivesAcked: uint,
    deadlinesPassed: uint,
  },
};

const fenceReportSchema = {
  type: 'object',
  required: ['at', 'leaseId', 'why', 'killed', 'failed', 'killedCount', 'failedCount'],
  properties: { at: uint, leaseId: nullableDecimal, why: str, killed: pids, failed: pids, killedCount: uint, failedCount: uint },
};

const supervisorClusterSchema = {
  type: 'object',
  required: ['lease', 'fences', 'ownersKilled', 'killFailures', 'lastFences'],
  properties: { lease: leaseStatusSchema, fences: uint, ownersKilled: uint, killFailures: uint, lastFences: { type: 'array', items: fenceReportSchema } },
};

const supervisorStatusSchema = {
  type: 'object',
  required: ['version', 'pid', 'upgrades', 'upgradeRefusals', 'workerSwaps', 'swapFailures', 'workerRestarts', 'lastUpgrade', 'lastSwap'],
  properties: {
    version: str,
    pid: uint,
    upgrades: uint,
    upgradeRefusals: uint,
    workerSwaps: uint,
    swapFailures: uint,
    workerRestarts: uint,
    lastUpgrade: { ...outcomeSchema, nullable: true },
    lastSwap: { ...outcomeSchema, nullable: true },
    cluster: supervisorClusterSchema,
  },
};

const fdUseSchema = { type: 'object', required: ['used', 'limit'], properties: { used: uint, limit: uint } };

const statusSchema = {
  type: 'object',
  required: ['supervisor', 'worker', 'daemonStartedAt', 'uptimeSeconds', 'clients', 'locksHeld', 'lockspaces', 'logLevel'],
  properties: {
    supervisor: { ...supervisorStatusSchema, nullable: true },
    worker: {
      type: 'object',
      required: ['version', 'pid', 'generation', 'startedAt'],
      properties: { version: str, pid: uint, generation: uint, startedAt: uint },
    },
    daemonStartedAt: { ...uint, nullable: true },
    uptimeSeconds: { type: 'number', minimum: 0, nullable: true },
    clients: { type: 'object', required: ['lock', 'admin'], properties: { lock: uint, admin: uint } },
    locksHeld: uint,
    lockspaces: uint,
    logLevel: { type: 'integer', minimum: 1, maximum: 4 },
    fds: {
      type: 'object',
      required: ['supervisor', 'worker'],
      properties: { supervisor: { ...fdUseSchema, nullable: true }, worker: fdUseSchema },
    },
  },
};

const lockInfoSchema = {
  type: 'object',
  required: ['lockspace', 'resource', 'path', 'mode', 'autocreate', 'owners', 'acquiredAt'],
  properties: {
    lockspace: str,
    resource: str,
    path: str,
    mode: { type: 'string', enum: ['exclusive', 'shared'] },
    autocreate: { type: 'boolean' },
    owners: {
      type: 'array',
      items: {
        type: 'object',
        required: ['pid', 'name', 'uuid', 'clients', 'detached'],
        properties: {
          pid: int,
          name: nullableStr,
          uuid: nullableStr,
          clients: { type: 'array', items: uint },
          detached: { type: 'boolean' },
          token: nullableDecimal,
        },
      },
    },
    acquiredAt: uint,
    cluster: { type: 'boolean' },
  },
};

const locksSchema = {
  type: 'object',
  required: ['locks', 'next'],
  properties: { locks: { type: 'array', items: lockInfoSchema }, next: nullableStr },
};

const clientsSchema = {
  type: 'object',
  required: ['clients', 'next'],
  properties: {
    clients: {
      type: 'array',
      items: {
        type: 'object',
        required: ['server', 'id', 'pid', 'uid', 'connectedAt', 'restricted', 'owner', 'registeredAt', 'locks'],
        properties: {
          server: { type: 'string', enum: ['virtlockd', 'admin'] },
          id: uint,
          pid: int,
          uid: int,
          connectedAt: uint,
          restricted: { type: 'boolean' },
          owner: {
            type: 'object',
            nullable: true,
            required: ['name', 'uuid', 'id', 'pid'],
            properties: { name: str, uuid: str, id: uint, pid: int },
          },
          registeredAt: { ...uint, nullable: true },
          locks: uint,
        },
      },
    },
    next: nullableStr,
  },
};

const lockspacesSchema = {
  type: 'object',
  required: ['lockspaces'],
  properties: {
    lockspaces: { type: 'array', items: { type: 'object', required: ['path', 'resources'], properties: { path: str, resources: uint } } },
  },
};

const whoSchema = {
  type: 'object',
  required: ['path', 'held', 'holders'],
  properties: { path: str, held: { type: 'boolean' }, holders: { type: 'array', items: lockInfoSchema } },
};

const actionSchema = {
  type: 'object',
  required: ['accepted', 'reason', 'upgrades', 'upgradeRefusals', 'workerSwaps', 'swapFailures'],
  properties: { accepted: { type: 'boolean' }, reason: nullableStr, upgrades: uint, upgradeRefusals: uint, workerSwaps: uint, swapFailures: uint },
};

const clusterInfoSchema = {
  type: 'object',
  required: ['configured', 'hostId', 'keyPrefix', 'lockspaces', 'pathPrefixes', 'endpoints', 'lease', 'holdCounts', 'holds', 'requests', 'fences'],
  properties: {
    configured: { type: 'boolean', const: true },
    hostId: str,
    keyPrefix: str,
    lockspaces: { type: 'array', items: str },
    pathPrefixes: { type: 'array', items: str },
    endpoints: {
      type: 'array',
      items: {
        type: 'object',
        required: ['endpoint', 'healthy', 'version', 'memberId', 'leader', 'error'],
        properties: {
          endpoint: str,
          healthy: { type: 'boolean' },
          version: nullableStr,
          memberId: nullableStr,
          leader: { type: 'boolean', nullable: true },
          error: nullableStr,
        },
      },
    },
    lease: leaseStatusSchema,
    holdCounts: { type: 'object', required: ['exclusive', 'shared', 'pending'], properties: { exclusive: uint, shared: uint, pending: uint } },
    holds: {
      type: 'array',
      items: {
        type: 'object',
        required: ['lockspace', 'resource', 'path', 'pid', 'mode', 'state', 'token', 'lease'],
        properties: {
          lockspace: str,
          resource: str,
          path: str,
          pid: int,
          mode: { type: 'string', enum: ['exclusive', 'shared'] },
          state: { type: 'string', enum: ['held', 'pending'] },
          token: nullableDecimal,
          lease: nullableDecimal,
        },
      },
    },
    requests: {
      type: 'object',
      required: ['granted', 'busy', 'unavailable', 'lateGrants', 'released', 'releaseRetries'],
      properties: { granted: uint, busy: uint, unavailable: uint, lateGrants: uint, released: uint, releaseRetries: uint },
    },
    fences: {
      type: 'object',
      nullable: true,
      required: ['total', 'ownersKilled', 'killFailures', 'last'],
      properties: { total: uint, ownersKilled: uint, killFailures: uint, last: { type: 'array', items: fenceReportSchema } },
    },
  },
};

const clusterSchema = {
  oneOf: [clusterInfoSchema, { type: 'object', required: ['configured'], properties: { configured: { type: 'boolean', const: false } }, additionalProperties: false }],
};

const setLogLevelSchema = {
  type: 'object',
  required: ['previous', 'level'],
  properties: { previous: { type: 'integer', minimum: 1, maximum: 4 }, level: { type: 'integer', minimum: 1, maximum: 4 } },
};

const options = { allErrors: false, strict: false };

const validators = {
  status: compiledValidator<StatusReply>('holdfast-status-reply', statusSchema, options),
  locks: compiledValidator<LocksReply>('holdfast-locks-reply', locksSchema, options),
  clients: compiledValidator<ClientsReply>('holdfast-clients-reply', clientsSchema, options),
  lockspaces: compiledValidator<LockspacesReply>('holdfast-lockspaces-reply', lockspacesSchema, options),
  who: compiledValidator<WhoReply>('holdfast-who-reply', whoSchema, options),
  action: compiledValidator<ActionReply>('holdfast-action-reply', actionSchema, options),
  setLogLevel: compiledValidator<SetLogLevelReply>('holdfast-set-log-level-reply', setLogLevelSchema, options),
  cluster: compiledValidator<ClusterReply>('holdfast-cluster-reply', clusterSchema, options),
};

/** A reply that is not JSON, or not of the procedure's shape. */
export class HoldfastReplyError extends Error {
  override readonly name = 'HoldfastReplyError';
}

// --- codecs ---------------------------------------------------------------------------------

// Strings here are paths and names compared with held ones: a lossy decoding could match a look-alike.
// (A NUL may come: the paging cursor separates lockspace and name with one, as no name holds one.)
const readString = (r: XdrReader): string => {
  const at = r.offset;
  const bytes = r.stringBytes(HOLDFAST_STRING_MAX);
  if (!isValidUtf8(bytes)) throw new XdrDecodeError('string is not valid UTF-8', at);
  return bytes.toString('utf8');
};
const writeOptional = (w: XdrWriter, v: string | null): XdrWriter => w.optional(v, (x, s) => x.string(s));

/** Flags-only args: the same struct as the admin program's. */
export { encodeFlagsArgs as encodeHoldfastFlagsArgs, decodeFlagsArgs as decodeHoldfastFlagsArgs } from './admin-program';

/** Encodes LOCKS args. */
export function encodeLocksArgs(a: LocksArgs): Buffer {
  const w = new XdrWriter(64);
  writeOptional(w, a.path);
  writeOptional(w, a.owner);
  writeOptional(w, a.after);
  return w.u32(a.flags).finish();
}
/** Decodes LOCKS args. */
export function decodeLocksArgs(p: Buffer): LocksArgs {
  const r = new XdrReader(p);
  return { path: r.optional(readString), owner: r.optional(readString), after: r.optional(readString), flags: r.u32() };
}

/** Encodes CLIENTS args. */
export function encodeClientsArgs(a: ClientsArgs): Buffer {
  return writeOptional(new XdrWriter(16), a.after).u32(a.flags).finish();
}
/** Decodes CLIENTS args. */
export function decodeClientsArgs(p: Buffer): ClientsArgs {
  const r = new XdrReader(p);
  return { after: r.optional(readString), flags: r.u32() };
}

/** Encodes WHO args. */
export function encodeWhoArgs(a: WhoArgs): Buffer {
  return new XdrWriter(64).string(a.path).u32(a.flags).finish();
}
/** Decodes WHO args. */
export function decodeWhoArgs(p: Buffer): WhoArgs {
  const r = new XdrReader(p);
  return { path: readString(r), flags: r.u32() };
}

/** Encodes SET_LOG_LEVEL args. */
export function encodeSetLogLevelArgs(a: SetLogLevelArgs): Buffer {
  return new XdrWriter(16).string(a.level).u32(a.flags).finish();
}
/** Decodes SET_LOG_LEVEL args. */
export function decodeSetLogLevelArgs(p: Buffer): SetLogLevelArgs {
  const r = new XdrReader(p);
  return { level: readString(r), flags: r.u32() };
}

/** Encodes a text reply (JSON or OpenMetrics) as one XDR string. */
export function encodeTextRet(text: string): Buffer {
  return new XdrWriter(text.length + 8).string(text).finish();
}
/** Decodes a text reply. */
export function decodeTextRet(p: Buffer): string {
  return readString(new XdrReader(p));
}

/** Encodes a JSON reply. */
export function encodeJsonRet(value: unknown): Buffer {
  return encodeTextRet(JSON.stringify(value));
}

function decodeJson<T>(p: Buffer, validate: ((v: unknown) => v is T) & { errors?: ErrorObject[] | null }, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(decodeTextRet(p));
  } catch (err) {
    throw new HoldfastReplyError(`${what} reply is not JSON: ${(err as Error).message}`);
  }
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
    throw new HoldfastReplyError(`${what} reply has an unexpected shape: ${problems}`);
  }
  return value;
}

/** Decodes and checks the STATUS reply. */
export const decodeStatusRet = (p: Buffer): StatusReply => decodeJson(p, validators.status, 'STATUS');
/** Decodes and checks a LOCKS page. */
export const decodeLocksRet = (p: Buffer): LocksReply => decodeJson(p, validators.locks, 'LOCKS');
/** Decodes and checks a CLIENTS page. */
export const decodeClientsRet = (p: Buffer): ClientsReply => decodeJson(p, validators.clients, 'CLIENTS');
/** Decodes and checks the LOCKSPACES reply. */
export const decodeLockspacesRet = (p: Buffer): LockspacesReply => decodeJson(p, validators.lockspaces, 'LOCKSPACES');
/** Decodes and checks the WHO reply. */
export const decodeWhoRet = (p: Buffer): WhoReply => decodeJson(p, validators.who, 'WHO');
/** Decodes and checks the UPGRADE / SWAP_WORKER reply. */
export const decodeActionRet = (p: Buffer): ActionReply => decodeJson(p, validators.action, 'action');
/** Decodes and checks the CLUSTER reply. */
export const decodeClusterRet = (p: Buffer): ClusterReply => decodeJson(p, validators.cluster, 'CLUSTER');
/** Decodes and checks the SET_LOG_LEVEL reply. */
export const decodeSetLogLevelRet = (p: Buffer): SetLogLevelReply => decodeJson(p, validators.setLogLevel, 'SET_LOG_LEVEL');

// --- procedure table ----------------------------------------------------------------------

/** Args type of each procedure. */
export interface OperationsProcedureArgs {
  [HoldfastProcedure.STATUS]: FlagsArgs;
  [HoldfastProcedure.LOCKS]: LocksArgs;
  [HoldfastProcedure.CLIENTS]: ClientsArgs;
  [HoldfastProcedure.LOCKSPACES]: FlagsArgs;
  [HoldfastProcedure.WHO]: WhoArgs;
  [HoldfastProcedure.UPGRADE]: FlagsArgs;
  [HoldfastProcedure.SWAP_WORKER]: FlagsArgs;
  [HoldfastProcedure.SET_LOG_LEVEL]: SetLogLevelArgs;
  [HoldfastProcedure.METRICS]: FlagsArgs;
  [HoldfastProcedure.CLUSTER]: FlagsArgs;
}

/** Reply type of each procedure. */
export interface OperationsProcedureReplies {
  [HoldfastProcedure.STATUS]: StatusReply;
  [HoldfastProcedure.LOCKS]: LocksReply;
  [HoldfastProcedure.CLIENTS]: ClientsReply;
  [HoldfastProcedure.LOCKSPACES]: LockspacesReply;
  [HoldfastProcedure.WHO]: WhoReply;
  [HoldfastProcedure.UPGRADE]: ActionReply;
  [HoldfastProcedure.SWAP_WORKER]: ActionReply;
  [HoldfastProcedure.SET_LOG_LEVEL]: SetLogLevelReply;
  /** The OpenMetrics text exposition. */
  [HoldfastProcedure.METRICS]: string;
  [HoldfastProcedure.CLUSTER]: ClusterReply;
}

/** One row of the operations program's table: the worker decodes args and encodes replies, a client the reverse. */
export interface OperationsProcedureEntry<P extends HoldfastProcedure = HoldfastProcedure> extends FlagRule {
  readonly proc: P;
  /** The procedure's CamelCase name, e.g. `SwapWorker`. */
  readonly name: string;
  /** Decodes the call payload. @throws XdrDecodeError */
  decode(payload: Buffer): OperationsProcedureArgs[P];
  /** Encodes call args. */
  encode(args: OperationsProcedureArgs[P]): Buffer;
  /** Encodes the reply. */
  encodeReply(reply: OperationsProcedureReplies[P]): Buffer;
  /** Decodes the reply and checks it against its schema. @throws HoldfastReplyError */
  decodeReply(payload: Buffer): OperationsProcedureReplies[P];
}

/** Procedure number -> entry, for every procedure of the operations program. */
export type OperationsProcedureTable = { readonly [P in HoldfastProcedure]: OperationsProcedureEntry<P> };

// Every procedure takes flags and accepts none; a refusal names `holdfast<Name>` in the ADMIN domain.
function operationsEntry<P extends HoldfastProcedure>(
  proc: P,
  name: string,
  decode: (payload: Buffer) => OperationsProcedureArgs[P],
  encode: (args: OperationsProcedureArgs[P]) => Buffer,
  encodeReply: (reply: OperationsProcedureReplies[P]) => Buffer,
  decodeReply: (payload: Buffer) => OperationsProcedureReplies[P],
): OperationsProcedureEntry<P> {
  return Object.freeze({ proc, name, functionName: `holdfast${name}`, allowedFlags: 0, flagErrorDomain: VirErrorDomain.ADMIN, decode, encode, encodeReply, decodeReply });
}

/** The operations program's procedures. */
export const OPERATIONS_PROCEDURES: OperationsProcedureTable = Object.freeze({
  [HoldfastProcedure.STATUS]: operationsEntry(HoldfastProcedure.STATUS, 'Status', decodeFlagsArgs, encodeFlagsArgs, encodeJsonRet, decodeStatusRet),
  [HoldfastProcedure.LOCKS]: operationsEntry(HoldfastProcedure.LOCKS, 'Locks', decodeLocksArgs, encodeLocksArgs, encodeJsonRet, decodeLocksRet),
  [HoldfastProcedure.CLIENTS]: operationsEntry(HoldfastProcedure.CLIENTS, 'Clients', decodeClientsArgs, encodeClientsArgs, encodeJsonRet, decodeClientsRet),
  [HoldfastProcedure.LOCKSPACES]: operationsEntry(HoldfastProcedure.LOCKSPACES, 'Lockspaces', decodeFlagsArgs, encodeFlagsArgs, encodeJsonRet, decodeLockspacesRet),
  [HoldfastProcedure.WHO]: operationsEntry(HoldfastProcedure.WHO, 'Who', decodeWhoArgs, encodeWhoArgs, encodeJsonRet, decodeWhoRet),
  [HoldfastProcedure.UPGRADE]: operationsEntry(HoldfastProcedure.UPGRADE, 'Upgrade', decodeFlagsArgs, encodeFlagsArgs, encodeJsonRet, decodeActionRet),
  [HoldfastProcedure.SWAP_WORKER]: operationsEntry(HoldfastProcedure.SWAP_WORKER, 'SwapWorker', decodeFlagsArgs, encodeFlagsArgs, encodeJsonRet, decodeActionRet),
  [HoldfastProcedure.SET_LOG_LEVEL]: operationsEntry(
    HoldfastProcedure.SET_LOG_LEVEL, 'SetLogLevel', decodeSetLogLevelArgs, encodeSetLogLevelArgs, encodeJsonRet, decodeSetLogLevelRet),
  [HoldfastProcedure.METRICS]: operationsEntry(HoldfastProcedure.METRICS, 'Metrics', decodeFlagsArgs, encodeFlagsArgs, encodeTextRet, decodeTextRet),
  [HoldfastProcedure.CLUSTER]: operationsEntry(HoldfastProcedure.CLUSTER, 'Cluster', decodeFlagsArgs, encodeFlagsArgs, encodeJsonRet, decodeClusterRet),
});
