// The control-channel contract: every message type between supervisor and worker, as TypeScript types and
// as one JSON Schema per direction (checked with ajv on receipt). fds travel beside the JSON; messages refer
// to them by index into the datagram's fd list.
import Ajv, { JSONSchemaType } from 'ajv';

/** Settings the worker needs, resolved by the supervisor from config file and flags. */
export interface WorkerSettings {
  maxClients: number;
  adminMaxClients: number;
  /** Peers must have this uid (SO_PEERCRED): 0 for a root daemon, else the daemon's own euid. */
  allowedUid: number;
  ownerKillTermGraceMs: number;
  ownerKillGiveUpMs: number;
  /** libvirt priority 1..4, as log_level. */
  logLevel: number;
  logFormat: 'json' | 'pretty';
  /** virtlockd log_outputs / log_filters syntax, passed through. */
  logOutputs: string;
  logFilters: string;
}

/** A listening socket handed to the worker: `fdIndex` indexes the fds of the same datagram. */
export interface ListenerRef {
  name: 'lock' | 'admin';
  fdIndex: number;
}

/** Supervisor → worker: start serving these listeners. */
export interface InitMessage {
  type: 'init';
  generation: number;
  settings: WorkerSettings;
  listeners: ListenerRef[];
}

/** Supervisor → worker: stop serving and exit. Locks and connections stay with the supervisor's copies. */
export interface ShutdownMessage {
  type: 'shutdown';
}

export type SupervisorMessage = InitMessage | ShutdownMessage;

/** Worker → supervisor: serving on every listener of the init message. */
export interface ReadyMessage {
  type: 'ready';
  generation: number;
  pid: number;
}

export type WorkerMessage = ReadyMessage;

const settingsSchema: JSONSchemaType<WorkerSettings> = {
  type: 'object',
  additionalProperties: false,
  required: ['maxClients', 'adminMaxClients', 'allowedUid', 'ownerKillTermGraceMs', 'ownerKillGiveUpMs', 'logLevel', 'logFormat', 'logOutputs', 'logFilters'],
  properties: {
    maxClients: { type: 'integer', minimum: 1 },
    adminMaxClients: { type: 'integer', minimum: 1 },
    allowedUid: { type: 'integer', minimum: 0 },
    ownerKillTermGraceMs: { type: 'integer', minimum: 0 },
    ownerKillGiveUpMs: { type: 'integer', minimum: 0 },
    logLevel: { type: 'integer', minimum: 1, maximum: 4 },
    logFormat: { type: 'string', enum: ['json', 'pretty'] },
    logOutputs: { type: 'string', maxLength: 4096 },
    logFilters: { type: 'string', maxLength: 4096 },
  },
};

const fdIndex = { type: 'integer', minimum: 0, maximum: 252 } as const;

const supervisorMessageSchema: JSONSchemaType<SupervisorMessage> = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'generation', 'settings', 'listeners'],
      properties: {
        type: { type: 'string', const: 'init' },
        generation: { type: 'integer', minimum: 0 },
        settings: settingsSchema,
        listeners: {
          type: 'array',
          maxItems: 8,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'fdIndex'],
            properties: { name: { type: 'string', enum: ['lock', 'admin'] }, fdIndex },
          },
        },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { type: 'string', const: 'shutdown' } },
    },
  ],
};

const workerMessageSchema: JSONSchemaType<WorkerMessage> = {
  type: 'object',
  discriminator: { propertyName: 'type' },
  required: ['type'],
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'generation', 'pid'],
      properties: {
        type: { type: 'string', const: 'ready' },
        generation: { type: 'integer', minimum: 0 },
        pid: { type: 'integer', minimum: 1 },
      },
    },
  ],
};

const ajv = new Ajv({ discriminator: true, allErrors: false });

/** Type guard for messages the worker receives. */
export const isSupervisorMessage = ajv.compile(supervisorMessageSchema);
/** Type guard for messages the supervisor receives. */
export const isWorkerMessage = ajv.compile(workerMessageSchema);
