// The control-channel contract: every message type between supervisor and worker, as TypeScript types and
// as one JSON Schema per direction (checked with ajv on receipt). fds travel beside the JSON; messages refer
// to them by index into the datagram's fd list.
import type { ClusterSettings } from '../cluster/cluster-settings';
import { compiledValidator } from '../platform/compiled-validator';
import { type CustodyRecord, custodyRecordSchema } from './records/custody-record';
import { FENCE_PIDS_LISTED, FENCES_REPORTED, type SupervisorStatus } from './supervisor-status';

/** Settings the worker needs, resolved by the supervisor from config file and flags. */
export interface WorkerSettings {
  maxClients: number;
  adminMaxClients: number;
  /** Peers must have this uid (SO_PEERCRED): 0 for a root daemon, else the daemon's own euid. */
  allowedUid: number;
  ownerKillTermGraceMs: number;
  ownerKillGiveUpMs: number;
  /** Memory bounds for incoming frames (see FrameLimits). */
  frameMaxBytesPerClient: number;
  frameMaxBytesTotal: number;
  frameDeadlineMs: number;
  /** libvirt priority 1..4, as log_level. */
  logLevel: number;
  logFormat: 'json' | 'pretty';
  /** virtlockd log_outputs / log_filters syntax, passed through. */
  logOutputs: string;
  logFilters: string;
  /** The cluster_* settings; absent when no cluster is configured (cluster_etcd_endpoints unset). */
  cluster?: ClusterSettings;
}

/** A listening socket handed to the worker: `fdIndex` indexes the fds of the same datagram. */
export interface ListenerRef {
  name: 'lock' | 'admin';
  fdIndex: number;
}

/** A custody record and, if it has one, the index of its fd in the datagram. */
export interface RecordWithFd {
  record: CustodyRecord;
  fdIndex: number | null;
}

// ---- supervisor → worker ----------------------------------------------------------------------

/** Part of the custody snapshot a new worker starts from (many fit in one `init`; large ones are chunked). */
export interface AdoptMessage {
  type: 'adopt';
  records: RecordWithFd[];
  /**
   * Keys of records adopted earlier that are gone. A swap sends its snapshot while the old worker still
   * serves, and once it has stopped only what changed since: records put again replace, these go.
   */
  drops: string[];
}

/** A request as a dying worker saw it: enough to tell it again at the head of its client's socket, and to log. */
export interface FaultRequest {
  /** Custody key of the client connection. */
  client: string;
  program: number;
  procedure: number;
  /** The procedure's name, for the log ('unknown' if the program has none by that number). */
  procedureName: string;
  serial: number;
  /** Frame length in bytes, length word included. */
  length: number;
  /** sha256 of the whole frame, hex (a request repeated with the same serial and bytes is the same). */
  digest: string;
}

/** Start serving: after every `adopt` chunk; `expectedRecords` lets the worker check it got them all. */
export interface InitMessage {
  type: 'init';
  generation: number;
  settings: WorkerSettings;
  listeners: ListenerRef[];
  expectedRecords: number;
  nextClientId: number;
  /** The reply pipe (both ends ride in this datagram): see reply-batch.ts. */
  replyPipe: { read: number; write: number; capacity: number };
  /**
   * Requests that crashed two workers in a row: if one is still at the head of its client's socket it is
   * answered with an error, not run.
   */
  poisoned?: FaultRequest[];
  /**
   * Clients whose head request may have killed a worker: each one's next request is announced before it
   * runs (`running`) and committed alone, so a second crash or stall names it and nothing else.
   */
  suspects?: string[];
  /**
   * Custody keys of the resources whose lock the worker re-takes before serving. Absent: every one (after
   * a crash, a worker may have released a lock without filing it). A swap whose old worker drained sends
   * only those it reported not holding (DrainedMessage.locksNotHeld): it vouched for the rest.
   */
  lockRecheck?: string[];
  /** The host lease, when a cluster is configured. */
  clusterLease?: ClusterLease;
}

/** These commit entries (the ones that asked) are applied, and their inline replies written. */
export interface CommittedMessage {
  type: 'committed';
  seqs: number[];
}

/** Stop dispatching at a message boundary; answer `drained` once nothing is in flight. */
export interface DrainMessage {
  type: 'drain';
}

/** A swap failed: carry on serving. */
export interface ResumeMessage {
  type: 'resume';
}

/**
 * How often, at most, to send a commit. Nonzero while the supervisor re-executes: nobody consumes the
 * answered requests then, so each client's unconsumed requests pile up in its send buffer, and the
 * commits in the channel's queue (512 datagrams). Replies batched every few milliseconds keep both far
 * from full until the next image reads on. 0: commit every turn of the event loop.
 */
export interface PaceMessage {
  type: 'pace';
  commitEveryMs: number;
}

/** Stop serving and exit. Locks and connections stay with the supervisor's copies. */
export interface ShutdownMessage {
  type: 'shutdown';
}

/**
 * The supervisor's status, which the worker reports (holdfast STATUS / METRICS): sent before `init` and
 * again whenever it changes. `counters` are the previous worker's metrics, carried through an orderly
 * handoff. (On the wire its type stays 'facts': workers and supervisors of different versions meet in an
 * upgrade.)
 */
export interface SupervisorStatusMessage {
  type: 'facts';
  supervisor: SupervisorStatus;
  counters: WorkerMetricsSnapshot | null;
}

/**
 * Answer to an `action` request: taken or refused (and why), with the supervisor's status as it was
 * before it acted (an outcome is known once a counter moves past these).
 */
export interface ActionResultMessage {
  type: 'action-result';
  id: number;
  accepted: boolean;
  reason: string | null;
  supervisor: SupervisorStatus;
}

/**
 * The versions of the binary commit form (commit-codec.ts) this supervisor image reads; empty: JSON only.
 * A worker commits in binary only after being told so, and a supervisor acknowledges in binary only a
 * worker whose commits came in binary. Sent before `init`, by a new image to the worker it carried
 * through its exec, and (empty) by an image about to exec, whose successor may be older. The worker answers
 * with the form it commits in from then on: its answer follows every commit it sent in the other form.
 */
export interface CodecsMessage {
  type: 'codecs';
  commit: number[];
}

/** Are you alive? Sent only while the worker has been quiet; answered with `pong` from its event loop. */
export interface PingMessage {
  type: 'ping';
}

/**
 * The host lease as the supervisor keeps it (see supervisor/cluster): sent at init and at every grant,
 * renewal and lapse. `deadlineNs`: monotonic ns (CLOCK_MONOTONIC, the same clock in every process of the
 * host) after which no cluster hold may be granted on it.
 */
export interface ClusterLease {
  id: string | null;
  deadlineNs: string | null;
}

export interface ClusterLeaseMessage extends ClusterLease {
  type: 'cluster-lease';
}

export type SupervisorMessage =
  | PingMessage
  | CodecsMessage
  | AdoptMessage
  | InitMessage
  | CommittedMessage
  | DrainMessage
  | ResumeMessage
  | PaceMessage
  | ShutdownMessage
  | SupervisorStatusMessage
  | ActionResultMessage
  | ClusterLeaseMessage;

// ---- worker → supervisor ----------------------------------------------------------------------

/**
 * Put (add or replace) a record, with its fd if any; or drop one by key (its fd is closed); or add (`join`)
 * or remove (`leave`) one ownership of `pid` in a held resource record's owners, so that one more SHARED
 * acquire costs one small op instead of restating an owner list that grows with every acquire.
 */
export type CustodyOp =
  // `key` (the record's custody key) travels only in the binary form (commit-codec.ts), checked there
  // against the record; the JSON form leaves it out, as older supervisors' schema requires.
  | { op: 'put'; record: CustodyRecord; fdIndex: number | null; key?: string }
  | { op: 'drop'; key: string }
  | { op: 'join' | 'leave'; key: string; pid: number };

/** What the supervisor does for the request behind an entry, once its ops are applied. */
export interface ReplyOrder {
  /** Custody key of the client connection. */
  client: string;
  /** Bytes of the request still queued in the socket, for the supervisor to consume (the worker only peeked). */
  consume: number;
  /** Bytes of the reply in this batch's reply pipe (the worker sends them); 0 if none. */
  piped: number;
  /** A reply the supervisor must write itself (too big for the pipe, or the client is not reading), base64. */
  data: string;
}

/** One unit the supervisor applies atomically: custody changes, then the request's consumption. */
export interface CommitEntry {
  seq: number;
  ops: CustodyOp[];
  reply: ReplyOrder | null;
  /** The worker waits for a `committed` naming this entry. */
  ack: boolean;
}

export interface CommitMessage {
  type: 'commit';
  /** The reply-pipe batch these entries' piped replies belong to; null when none is piped. */
  batch: number | null;
  entries: CommitEntry[];
}

/** The worker process is up and waiting for its snapshot (sent once, right after start-up). */
export interface BootedMessage {
  type: 'booted';
  pid: number;
}

/** Serving on every listener of the init message, with every adopted record in place. */
export interface ReadyMessage {
  type: 'ready';
  generation: number;
  pid: number;
}

/**
 * Answer to `drain`: nothing in flight, nothing more will be committed until `resume`. `counters` are the
 * worker's metrics at that point, for its successor.
 */
export interface DrainedMessage {
  type: 'drained';
  counters?: WorkerMetricsSnapshot;
  /** Custody keys of the resources this worker has a record of but not the lock (absent: not told). */
  locksNotHeld?: string[];
}

/** An admin client asked for an upgrade (the SIGUSR1 path) or a worker swap. */
export interface ActionMessage {
  type: 'action';
  id: number;
  action: 'upgrade' | 'swap';
}

/** An admin client changed the log level (a libvirt priority, 1 = debug … 4 = error): workers started later keep it. */
export interface LogLevelMessage {
  type: 'log-level';
  level: 1 | 2 | 3 | 4;
}

/** Sent by a worker about to die of an uncaught exception: what it was doing (the likely culprits). */
export interface FaultMessage {
  type: 'fault';
  error: string;
  requests: FaultRequest[];
}

/**
 * About to run a suspect's request (see InitMessage.suspects). Any later message means it returned; a
 * worker that stalls right after this one is stuck in that request.
 */
export interface RunningMessage {
  type: 'running';
  request: FaultRequest;
}

/** Answer to `ping`: the worker's event loop runs. */
export interface PongMessage {
  type: 'pong';
}

export type WorkerMessage = RunningMessage | FaultMessage | PongMessage | CodecsMessage | BootedMessage | ReadyMessage | CommitMessage | DrainedMessage | ActionMessage | LogLevelMessage;

/** The worker's cumulative metrics, carried from one worker to the next through an orderly handoff. */
export interface WorkerMetricsSnapshot {
  /** Requests by server, procedure name and outcome. */
  requests: Array<{ server: string; procedure: string; ok: number; error: number }>;
  /** Request latency histogram (sampled): counts per upper bound of `latencyBounds`, plus +Inf last. */
  latencyBuckets: number[];
  latencySum: number;
  latencyCount: number;
  /** Owner kills by how they ended (started, exited, killed, gone, survived). */
  ownerKills: Record<string, number>;
}

// ---- schemas ----------------------------------------------------------------------------------

// A message with more fds than one datagram carries is fragmented (channel.ts): indices run past 252.
const fdIndex = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;
// Lists are bounded by the channel's message size, not here: an owner may hold more locks than any fixed
// count (its disconnect drops each in one change set).
const manyItems = 100_000_000;
const nullableFdIndex = { anyOf: [{ type: 'null' }, fdIndex] } as const;
const seq = { type: 'integer', minimum: 0 } as const;

// Bounds as loose as the config's (schema.ts), which is where the values are checked in words.
const settingsPath = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const nullablePath = { anyOf: [{ type: 'null' }, settingsPath] } as const;
const settingsPaths = { type: 'array', maxItems: 256, items: settingsPath } as const;
const clusterSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoints', 'tls', 'auth', 'lockspaces', 'pathPrefixes', 'hostId', 'leaseTtlMs', 'keyPrefix', 'watchdogDevice', 'watchdogTimeoutMs'],
  properties: {
    endpoints: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 1024 } },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['caFile', 'certFile', 'keyFile'],
      properties: { caFile: nullablePath, certFile: nullablePath, keyFile: nullablePath },
    },
    auth: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'passwordFile'],
          properties: { username: { type: 'string', minLength: 1, maxLength: 128 }, passwordFile: settingsPath },
        },
      ],
    },
    lockspaces: settingsPaths,
    pathPrefixes: settingsPaths,
    hostId: { type: 'string', minLength: 1, maxLength: 64 },
    leaseTtlMs: { type: 'integer', minimum: 1000 },
    keyPrefix: { type: 'string', minLength: 1, maxLength: 256 },
    watchdogDevice: nullablePath,
    watchdogTimeoutMs: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 1000, maximum: 600000 }] },
  },
} as const;

const settingsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['maxClients', 'adminMaxClients', 'allowedUid', 'ownerKillTermGraceMs', 'ownerKillGiveUpMs', 'frameMaxBytesPerClient', 'frameMaxBytesTotal', 'frameDeadlineMs', 'logLevel', 'logFormat', 'logOutputs', 'logFilters'],
  properties: {
    maxClients: { type: 'integer', minimum: 1 },
    adminMaxClients: { type: 'integer', minimum: 1 },
    allowedUid: { type: 'integer', minimum: 0 },
    ownerKillTermGraceMs: { type: 'integer', minimum: 0 },
    ownerKillGiveUpMs: { type: 'integer', minimum: 0 },
    frameMaxBytesPerClient: { type: 'integer', minimum: 1 },
    frameMaxBytesTotal: { type: 'integer', minimum: 1 },
    frameDeadlineMs: { type: 'integer', minimum: 1 },
    logLevel: { type: 'integer', minimum: 1, maximum: 4 },
    logFormat: { enum: ['json', 'pretty'] },
    logOutputs: { type: 'string', maxLength: 4096 },
    logFilters: { type: 'string', maxLength: 4096 },
    cluster: clusterSettingsSchema,
  },
} as const;

const nullableDecimal = { anyOf: [{ type: 'null' }, { type: 'string', pattern: '^[0-9]{1,20}$' }] } as const;
const clusterLeaseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'deadlineNs'],
  properties: { id: nullableDecimal, deadlineNs: nullableDecimal },
} as const;

const nullableString = { anyOf: [{ type: 'null' }, { type: 'string', maxLength: 65536 }] } as const;
const count = { type: 'integer', minimum: 0 } as const;

const outcomeSchema = {
  anyOf: [
    { type: 'null' },
    { type: 'object', additionalProperties: false, required: ['at', 'ok', 'reason'], properties: { at: count, ok: { type: 'boolean' }, reason: nullableString } },
  ],
} as const;

const pidList = { type: 'array', maxItems: FENCE_PIDS_LISTED, items: { type: 'integer', minimum: 0, maximum: 0xffffffff } } as const;
const supervisorClusterStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['lease', 'fences', 'ownersKilled', 'killFailures', 'lastFences'],
  properties: {
    lease: {
      type: 'object',
      additionalProperties: false,
      required: ['state', 'id', 'ttlMs', 'msLeft', 'lastRenewedAt', 'keepalivesSent', 'keepalivesAcked', 'deadlinesPassed'],
      properties: {
        state: { enum: ['granting', 'held', 'lapsed'] },
        id: nullableDecimal,
        ttlMs: count,
        msLeft: { anyOf: [{ type: 'null' }, { type: 'number' }] },
        lastRenewedAt: { anyOf: [{ type: 'null' }, count] },
        keepalivesSent: count,
        keepalivesAcked: count,
        deadlinesPassed: count,
      },
    },
    fences: count,
    ownersKilled: count,
    killFailures: count,
    lastFences: {
      type: 'array',
      maxItems: FENCES_REPORTED,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'leaseId', 'why', 'killed', 'failed', 'killedCount', 'failedCount'],
        properties: { at: count, leaseId: nullableDecimal, why: { type: 'string', maxLength: 4096 }, killed: pidList, failed: pidList, killedCount: count, failedCount: count },
      },
    },
  },
} as const;

const supervisorStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'pid', 'upgrades', 'upgradeRefusals', 'workerSwaps', 'swapFailures', 'workerRestarts', 'lastUpgrade', 'lastSwap'],
  properties: {
    version: { type: 'string', maxLength: 256 },
    pid: { type: 'integer', minimum: 1 },
    upgrades: count,
    upgradeRefusals: count,
    workerSwaps: count,
    swapFailures: count,
    workerRestarts: count,
    lastUpgrade: outcomeSchema,
    lastSwap: outcomeSchema,
    cluster: supervisorClusterStatusSchema,
  },
} as const;

const workerMetricsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['requests', 'latencyBuckets', 'latencySum', 'latencyCount', 'ownerKills'],
  properties: {
    requests: {
      type: 'array',
      maxItems: 1024,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['server', 'procedure', 'ok', 'error'],
        properties: { server: { type: 'string', maxLength: 64 }, procedure: { type: 'string', maxLength: 128 }, ok: count, error: count },
      },
    },
    latencyBuckets: { type: 'array', maxItems: 64, items: count },
    latencySum: { type: 'number', minimum: 0 },
    latencyCount: count,
    ownerKills: { type: 'object', maxProperties: 16, additionalProperties: count },
  },
} as const;

const faultRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['client', 'program', 'procedure', 'procedureName', 'serial', 'length', 'digest'],
  properties: {
    client: { type: 'string', maxLength: 64 },
    program: count,
    procedure: { type: 'integer' },
    procedureName: { type: 'string', maxLength: 128 },
    serial: count,
    length: count,
    digest: { type: 'string', maxLength: 64 },
  },
} as const;
// A datagram stays small: a crash names at most this many requests (one per busy connection).
const FAULT_REQUESTS_MAX = 1024;

function message(type: string, properties: Record<string, unknown>, required: string[] = Object.keys(properties)) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['type', ...required],
    properties: { type: { const: type }, ...properties },
  };
}

const supervisorMessageSchema = {
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [
    message('adopt', {
      records: {
        type: 'array',
        maxItems: manyItems,
        items: { type: 'object', additionalProperties: false, required: ['record', 'fdIndex'], properties: { record: custodyRecordSchema, fdIndex: nullableFdIndex } },
      },
      drops: { type: 'array', maxItems: manyItems, items: { type: 'string', maxLength: 200000 } },
    }),
    message('init', {
      generation: seq,
      settings: settingsSchema,
      listeners: {
        type: 'array',
        maxItems: 8,
        items: { type: 'object', additionalProperties: false, required: ['name', 'fdIndex'], properties: { name: { enum: ['lock', 'admin'] }, fdIndex } },
      },
      expectedRecords: seq,
      nextClientId: { type: 'integer', minimum: 1 },
      replyPipe: { type: 'object', additionalProperties: false, required: ['read', 'write', 'capacity'], properties: { read: fdIndex, write: fdIndex, capacity: { type: 'integer', minimum: 4096 } } },
      poisoned: { type: 'array', maxItems: FAULT_REQUESTS_MAX, items: faultRequestSchema },
      suspects: { type: 'array', maxItems: FAULT_REQUESTS_MAX, items: { type: 'string', maxLength: 64 } },
      lockRecheck: { type: 'array', maxItems: manyItems, items: { type: 'string', maxLength: 200000 } },
      clusterLease: clusterLeaseSchema,
    }, ['generation', 'settings', 'listeners', 'expectedRecords', 'nextClientId', 'replyPipe']),
    message('committed', { seqs: { type: 'array', maxItems: manyItems, items: seq } }),
    message('drain', {}),
    message('resume', {}),
    message('pace', { commitEveryMs: { type: 'integer', minimum: 0, maximum: 1000 } }),
    message('shutdown', {}),
    message('ping', {}),
    message('codecs', { commit: { type: 'array', maxItems: 16, items: { type: 'integer', minimum: 1, maximum: 255 } } }),
    message('facts', { supervisor: supervisorStatusSchema, counters: { anyOf: [{ type: 'null' }, workerMetricsSchema] } }),
    message('action-result', { id: seq, accepted: { type: 'boolean' }, reason: nullableString, supervisor: supervisorStatusSchema }),
    message('cluster-lease', clusterLeaseSchema.properties),
  ],
};

const custodyOpSchema = {
  type: 'object',
  required: ['op'],
  discriminator: { propertyName: 'op' },
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['op', 'record', 'fdIndex'], properties: { op: { const: 'put' }, record: custodyRecordSchema, fdIndex: nullableFdIndex } },
    { type: 'object', additionalProperties: false, required: ['op', 'key'], properties: { op: { const: 'drop' }, key: { type: 'string', maxLength: 200000 } } },
    {
      type: 'object',
      additionalProperties: false,
      required: ['op', 'key', 'pid'],
      properties: { op: { enum: ['join', 'leave'] }, key: { type: 'string', maxLength: 200000 }, pid: { type: 'integer', minimum: 0, maximum: 0xffffffff } },
    },
  ],
};

const workerMessageSchema = {
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [
    message('pong', {}),
    message('codecs', { commit: { type: 'array', maxItems: 16, items: { type: 'integer', minimum: 1, maximum: 255 } } }),
    message('running', { request: faultRequestSchema }),
    message('fault', { error: { type: 'string', maxLength: 4096 }, requests: { type: 'array', maxItems: FAULT_REQUESTS_MAX, items: faultRequestSchema } }),
    message('booted', { pid: { type: 'integer', minimum: 1 } }),
    message('ready', { generation: seq, pid: { type: 'integer', minimum: 1 } }),
    message('commit', {
      batch: { anyOf: [{ type: 'null' }, seq] },
      entries: {
        type: 'array',
        maxItems: manyItems,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['seq', 'ops', 'reply', 'ack'],
          properties: {
            seq,
            ack: { type: 'boolean' },
            ops: { type: 'array', maxItems: manyItems, items: custodyOpSchema },
            reply: {
              anyOf: [
                { type: 'null' },
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['client', 'consume', 'piped', 'data'],
                  properties: {
                    client: { type: 'string', maxLength: 64 },
                    consume: { type: 'integer', minimum: 0, maximum: 262144 },
                    piped: { type: 'integer', minimum: 0, maximum: 1048576 },
                    data: { type: 'string', maxLength: 400000 },
                  },
                },
              ],
            },
          },
        },
      },
    }),
    message('drained', { counters: workerMetricsSchema, locksNotHeld: { type: 'array', maxItems: manyItems, items: { type: 'string', maxLength: 200000 } } }, []),
    message('action', { id: seq, action: { enum: ['upgrade', 'swap'] } }),
    message('log-level', { level: { type: 'integer', minimum: 1, maximum: 4 } }),
  ],
};

const options = { discriminator: true, allErrors: false, strict: false };

/** Type guard for one custody record (inside a binary commit, commit-codec.ts). */
export const isCustodyRecord = compiledValidator<CustodyRecord>('custody-record', custodyRecordSchema, options);
/** Type guard for messages the worker receives. */
export const isSupervisorMessage = compiledValidator<SupervisorMessage>('supervisor-message', supervisorMessageSchema, options);
/** Type guard for messages the supervisor receives. */
export const isWorkerMessage = compiledValidator<WorkerMessage>('worker-message', workerMessageSchema, options);
