// The one JSON Schema of the restart-exec state document (ajv 8, strict) and validateStateDocument, which adds
// the checks a schema cannot express (an fd used twice, a resource name escaping its directory, …) and turns
// every problem into "JSON pointer: what is wrong". Pure: no file access (state-file.ts reads and writes).
//
// Field rules follow what virtlockd 9.0 writes and what its reader requires (virnetserver.c,
// virnetserverclient.c, virnetserverservice.c, virnetsocket.c, virlockspace.c, lock_daemon.c
// `*PostExecRestart`). Deliberately stricter than virtlockd's reader: unknown keys, a duplicate lockspace
// directory (virtlockd silently frees the second copy, closing its fds and so dropping its locks) and an fd
// referenced twice are refused.
import type { ErrorObject, JSONSchemaType } from 'ajv';
import { compiledValidator } from '../../shared/platform/compiled-validator';
import { adminPrivateDataSchema, clientRowSchema, lockPrivateDataSchema, socketSchema } from '../../shared/custody/records/client-record';
import { PID_MAX, UUID_PATTERN, auth, fd, notNull, safeUint, uint } from '../../shared/custody/records/document-bounds';
import { defaultLockspaceRowSchema, lockspaceRowSchema } from '../../shared/custody/records/lockspace-record';
import type { ResourceState } from '../../shared/custody/records/resource-record';
import {
  STATE_SCHEMA_VERSION,
  listFdReferences,
  lockspacesOf,
  serversOf,
  type CarriedWorkerState,
  type HoldfastState,
  type ServerState,
  type ServiceState,
  type StateDocument,
} from './state-document';

// The bounds of values and the rows of clients, lockspaces and resources are defined beside their custody
// records (shared/custody/records/); what is left here are the bounds of the document around them.
/** Most directory lockspaces. */
export const MAX_LOCKSPACES = 100_000;
/** Most clients of one server. */
export const MAX_CLIENTS_PER_SERVER = 1_000_000;
/** Most services of one server. */
export const MAX_SERVICES = 16;
/** Most listening sockets of one service. */
export const MAX_SOCKETS_PER_SERVICE = 64;
/** Problems listed at most in one result; the rest are counted. */
export const MAX_REPORTED_PROBLEMS = 50;

const MAGIC_PATTERN = '^[1-9][0-9]{0,6}$';
const ISO_TIME_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$';

/** Plain words for each pattern, used in error messages. */
const PATTERN_WORDS: Record<string, string> = {
  [UUID_PATTERN]: 'must be a UUID written 8-4-4-4-12 in hex, e.g. c0ffee00-0000-4000-8000-000000000011',
  [MAGIC_PATTERN]: 'must be a pid in decimal, e.g. "7514"',
  [ISO_TIME_PATTERN]: 'must be an ISO 8601 UTC time, e.g. 2025-01-02T03:04:05.678Z',
};

const serviceSchema: JSONSchemaType<ServiceState> = {
  type: 'object',
  additionalProperties: false,
  required: ['auth', 'readonly', 'nrequests_client_max', 'socks'],
  properties: {
    auth,
    readonly: { type: 'boolean' },
    nrequests_client_max: uint,
    socks: { type: 'array', maxItems: MAX_SOCKETS_PER_SERVICE, items: socketSchema },
  },
};

function serverSchema<C>(client: JSONSchemaType<C>): JSONSchemaType<ServerState<C>> {
  return {
    type: 'object',
    additionalProperties: false,
    required: [
      'min_workers',
      'max_workers',
      'priority_workers',
      'max_clients',
      'max_anonymous_clients',
      'keepaliveInterval',
      'keepaliveCount',
      'next_client_id',
      'services',
      'clients',
    ],
    properties: {
      min_workers: uint,
      max_workers: uint,
      priority_workers: uint,
      max_clients: uint,
      max_anonymous_clients: uint,
      keepaliveInterval: uint,
      keepaliveCount: uint,
      next_client_id: safeUint,
      services: { type: 'array', maxItems: MAX_SERVICES, items: serviceSchema },
      clients: { type: 'array', maxItems: MAX_CLIENTS_PER_SERVER, items: client },
    },
  } as unknown as JSONSchemaType<ServerState<C>>;
}

const carriedWorkerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pid', 'generation', 'channelFd', 'replyPipe', 'lastBatch'],
  properties: {
    pid: { type: 'integer', minimum: 1, maximum: PID_MAX },
    generation: safeUint,
    channelFd: fd,
    replyPipe: {
      type: 'object',
      additionalProperties: false,
      required: ['read', 'write', 'capacity'],
      properties: { read: fd, write: fd, capacity: { type: 'integer', minimum: 4096, maximum: 1 << 30 } },
    },
    lastBatch: {
      type: 'object',
      nullable: true,
      additionalProperties: false,
      required: ['batch', 'replies'],
      properties: {
        batch: safeUint,
        replies: {
          type: 'array',
          maxItems: 1_000_000,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['client', 'length'],
            properties: { client: { type: 'string', maxLength: 64 }, length: { type: 'integer', minimum: 1, maximum: 1 << 20 } },
          },
        },
      },
    },
  },
} as unknown as JSONSchemaType<CarriedWorkerState>;

const holdfastSchema: JSONSchemaType<HoldfastState> = {
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'generation', 'supervisorPid', 'savedAt', 'upgrades', 'workerRestarts'],
  properties: {
    schemaVersion: { type: 'integer', const: STATE_SCHEMA_VERSION },
    generation: safeUint,
    supervisorPid: { type: 'integer', minimum: 1, maximum: PID_MAX },
    savedAt: { type: 'string', pattern: ISO_TIME_PATTERN },
    upgrades: safeUint,
    workerRestarts: safeUint,
    counters: {
      type: 'object',
      additionalProperties: false,
      required: ['upgradeRefusals', 'workerSwaps', 'swapFailures'],
      properties: { upgradeRefusals: safeUint, workerSwaps: safeUint, swapFailures: safeUint },
      nullable: true,
      ...notNull,
    },
    adminLogLevel: { type: 'integer', enum: [1, 2, 3, 4], nullable: true, ...notNull },
    pidFileFd: { ...fd, nullable: true, ...notNull },
    childPids: { type: 'array', maxItems: 64, items: { type: 'integer', minimum: 1, maximum: PID_MAX }, nullable: true, ...notNull },
    worker: { ...carriedWorkerSchema, nullable: true, ...notNull },
    cluster: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'lastAckSentNs'],
      properties: { id: { type: 'string', pattern: '^[0-9]{1,20}$' }, lastAckSentNs: { type: 'string', pattern: '^[0-9]{1,20}$' } },
      nullable: true,
      ...notNull,
    },
    clusterWatchdog: {
      type: 'object',
      additionalProperties: false,
      required: ['device', 'fd', 'pets'],
      properties: { device: { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/' }, fd, pets: safeUint },
      nullable: true,
      ...notNull,
    },
  },
};

/** JSON Schema (draft-07, ajv 8 strict) of the whole document. */
export const STATE_DOCUMENT_SCHEMA: JSONSchemaType<StateDocument> = {
  $id: 'https://holdfast.invalid/schemas/restart-exec-state.json',
  title: 'holdfast / virtlockd restart-exec state document',
  type: 'object',
  additionalProperties: false,
  required: ['daemon', 'defaultLockspace', 'lockspaces', 'magic'],
  properties: {
    daemon: {
      type: 'object',
      additionalProperties: false,
      required: ['servers'],
      properties: {
        servers: {
          type: 'object',
          // virtlockd refuses any other server name ("Unexpected server name")
          additionalProperties: false,
          required: ['virtlockd'],
          properties: {
            virtlockd: serverSchema(clientRowSchema(lockPrivateDataSchema)),
            admin: { ...serverSchema(clientRowSchema(adminPrivateDataSchema)), nullable: true, ...notNull },
          },
        },
      },
    },
    defaultLockspace: defaultLockspaceRowSchema,
    lockspaces: { type: 'array', maxItems: MAX_LOCKSPACES, items: lockspaceRowSchema },
    magic: { type: 'string', pattern: MAGIC_PATTERN },
    holdfast: { ...holdfastSchema, nullable: true, ...notNull },
  },
};

const validateSchema = compiledValidator<StateDocument>('state-document', STATE_DOCUMENT_SCHEMA, { strict: true, allErrors: true, verbose: true });

/** Why a value is not a usable document: malformed, or written by a holdfast with another schema version. */
export type ValidationFailureReason = 'invalid' | 'wrong-version';

/** Result of {@link validateStateDocument}. */
export type ValidationResult =
  | { ok: true; document: StateDocument }
  | { ok: false; reason: ValidationFailureReason; errors: string[] };

/**
 * Checks a parsed JSON value against the schema and the cross-field rules. Errors read
 * "JSON pointer: problem" (at most {@link MAX_REPORTED_PROBLEMS}, then a count of the rest).
 * A `holdfast.schemaVersion` other than {@link STATE_SCHEMA_VERSION} is reported alone, as 'wrong-version'.
 */
export function validateStateDocument(value: unknown): ValidationResult {
  const versionProblem = schemaVersionProblem(value);
  if (versionProblem !== null) return { ok: false, reason: 'wrong-version', errors: [versionProblem] };
  if (!validateSchema(value)) {
    return { ok: false, reason: 'invalid', errors: capProblems((validateSchema.errors ?? []).map(describeAjvError)) };
  }
  const problems = crossFieldProblems(value);
  if (problems.length > 0) return { ok: false, reason: 'invalid', errors: capProblems(problems) };
  return { ok: true, document: value };
}

// Checked before the schema: a newer holdfast may have changed anything else, and the version is the news.
function schemaVersionProblem(value: unknown): string | null {
  if (!isObject(value) || !isObject(value.holdfast)) return null;
  const version = value.holdfast.schemaVersion;
  if (typeof version !== 'number' || version === STATE_SCHEMA_VERSION) return null;
  if (version > STATE_SCHEMA_VERSION) {
    return `state document schema version ${version} is newer than this holdfastd understands (${STATE_SCHEMA_VERSION})`;
  }
  return `state document schema version ${version} is not one this holdfastd understands (${STATE_SCHEMA_VERSION})`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function capProblems(problems: string[]): string[] {
  if (problems.length <= MAX_REPORTED_PROBLEMS) return problems;
  const rest = problems.length - MAX_REPORTED_PROBLEMS;
  return [...problems.slice(0, MAX_REPORTED_PROBLEMS), `… and ${rest} more problem${rest === 1 ? '' : 's'}`];
}

function where(pointer: string): string {
  return pointer === '' ? '(root)' : pointer;
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function describeAjvError(error: ErrorObject): string {
  const at = where(error.instancePath);
  const parent = (error.parentSchema ?? {}) as { minimum?: number; maximum?: number; minLength?: number; maxLength?: number };
  const found = `(found ${show(error.data)})`;
  switch (error.keyword) {
    case 'required':
      return `${at}: missing required key '${String(error.params.missingProperty)}'`;
    case 'additionalProperties':
      return `${at}: unknown key '${String(error.params.additionalProperty)}'`;
    case 'type': {
      const type = String(error.params.type).replace(',null', '');
      return `${at}: must be ${type === 'integer' || type === 'array' || type === 'object' ? 'an' : 'a'} ${type} ${found}`;
    }
    case 'minimum':
    case 'maximum':
      return `${at}: must be from ${parent.minimum} to ${parent.maximum} ${found}`;
    case 'minLength':
    case 'maxLength':
      return parent.maxLength === undefined
        ? `${at}: must not be empty`
        : `${at}: must be ${parent.minLength ?? 0} to ${parent.maxLength} characters long (found ${String((error.data as string).length)})`;
    case 'maxItems':
      return `${at}: must have at most ${String(error.params.limit)} entries (found ${(error.data as unknown[]).length})`;
    case 'pattern':
      return `${at}: ${PATTERN_WORDS[String(error.params.pattern)] ?? `must match ${String(error.params.pattern)}`} ${found}`;
    case 'enum':
      return `${at}: must be one of ${(error.params.allowedValues as unknown[]).map(show).join(', ')} ${found}`;
    case 'const':
      return `${at}: must be ${show(error.params.allowedValue)} ${found}`;
    case 'not':
      return `${at}: must not be null (leave the key out instead)`;
    default:
      return `${at}: ${error.message ?? error.keyword}`;
  }
}

/** The rules the schema cannot state. Runs only on a document that passed the schema. */
function crossFieldProblems(doc: StateDocument): string[] {
  const problems: string[] = [];

  // One fd cannot be two things: two resources sharing an fd would share one lock.
  const firstUse = new Map<number, string>();
  for (const ref of listFdReferences(doc)) {
    const earlier = firstUse.get(ref.fd);
    if (earlier === undefined) firstUse.set(ref.fd, ref.pointer);
    else problems.push(`${ref.pointer}: fd ${ref.fd} is already used at ${earlier} (one fd cannot be two things)`);
  }

  for (const { name, server } of serversOf(doc)) {
    const base = `/daemon/servers/${name}`;
    if (server.max_anonymous_clients > server.max_clients) {
      problems.push(`${base}/max_anonymous_clients: must not exceed max_clients (${server.max_clients}); virtlockd refuses that too`);
    }
    server.services.forEach((service, s) =>
      service.socks.forEach((sock, k) => {
        if (sock.isClient) problems.push(`${base}/services/${s}/socks/${k}/isClient: a listening socket must have isClient false`);
      }),
    );
    const ids = new Map<number, number>();
    server.clients.forEach((client, c) => {
      const at = `${base}/clients/${c}`;
      const twin = ids.get(client.id);
      if (twin !== undefined) problems.push(`${at}/id: client id ${client.id} is already used by ${base}/clients/${twin}`);
      else ids.set(client.id, c);
      if (!client.sock.isClient) problems.push(`${at}/sock/isClient: a client connection must have isClient true`);
      // virNetServerClientNewPostExecRestart: "Invalid auth_pending and auth combination"
      if (client.auth === 0 && client.auth_pending) problems.push(`${at}/auth_pending: must be false when auth is 0 (none)`);
    });
  }

  const directories = new Map<string, string>();
  for (const { pointer, lockspace, directory } of lockspacesOf(doc)) {
    if (directory !== null) {
      if (directory.includes('\0')) problems.push(`${pointer}/directory: must not contain a NUL character`);
      if (LONE_SURROGATE.test(directory)) problems.push(`${pointer}/directory: is not a well-formed string (a lone surrogate names no bytes)`);
      const twin = directories.get(directory);
      if (twin !== undefined) problems.push(`${pointer}/directory: lockspace ${JSON.stringify(directory)} is already listed at ${twin}`);
      else directories.set(directory, pointer);
    }
    const names = new Map<string, string>();
    lockspace.resources.forEach((resource, r) => {
      const at = `${pointer}/resources/${r}`;
      const twin = names.get(resource.name);
      if (twin !== undefined) problems.push(`${at}/name: resource ${show(resource.name)} is already listed at ${twin}`);
      else names.set(resource.name, at);
      problems.push(...resourceProblems(resource, directory, at));
    });
  }

  if (doc.holdfast && Number.isNaN(Date.parse(doc.holdfast.savedAt))) {
    problems.push(`/holdfast/savedAt: ${show(doc.holdfast.savedAt)} is not a real date`);
  }
  return problems;
}

// With the u flag a surrogate pair is one code point, so this matches only an unpaired half: a "\udc80" escape
// in the JSON, which would turn into U+FFFD (another file) when the name is used as a path.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function resourceProblems(resource: ResourceState, directory: string | null, at: string): string[] {
  if (resource.name.includes('\0') || resource.path.includes('\0')) return [`${at}: name and path must not contain a NUL character`];
  if (LONE_SURROGATE.test(resource.name) || LONE_SURROGATE.test(resource.path)) {
    return [`${at}: name and path must be well-formed strings (a lone surrogate names no bytes)`];
  }
  if (directory === null) {
    // virLockSpaceGetResourcePath: in the default lockspace the name is the path.
    return resource.path === resource.name ? [] : [`${at}/path: must equal the name ${show(resource.name)} in the default lockspace (found ${show(resource.path)})`];
  }
  const { name } = resource;
  if (name === '.' || name === '..' || name.includes('/')) {
    return [`${at}/name: resource name ${show(name)} escapes lockspace directory ${show(directory)} (a plain file name has no '/' and is not '.' or '..')`];
  }
  const expected = `${directory}/${name}`;
  return resource.path === expected ? [] : [`${at}/path: must be the directory and the name, ${show(expected)} (found ${show(resource.path)})`];
}
