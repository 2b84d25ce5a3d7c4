// A directory lockspace in custody, in every form it takes: the record the worker files with the supervisor
// (no fd: a lockspace is only a path; the control channel carries the record as JSON, checked by
// lockspaceRecordSchema), and its entry in the restart-exec state document, which holds the lockspace's
// resource rows too (virtlockd's virLockSpacePreExecRestart). The default lockspace ("") has no record: it
// always exists. Lockspaces have no fd-store form: a stored lock's row names its lockspace.
import type { JSONSchemaType } from 'ajv';
import { MAX_DIRECTORY, MAX_RESOURCES_PER_LOCKSPACE } from './document-bounds';
import { type ResourceState, resourceRowSchema } from './resource-record';

/** A directory lockspace (no fd: it is only a path). */
export interface LockspaceRecord {
  kind: 'lockspace';
  directory: string;
}

/** The record of the lockspace in `directory`. */
export function lockspaceRecord(directory: string): LockspaceRecord {
  return { kind: 'lockspace', directory };
}

/** The custody key of a directory lockspace. */
export function lockspaceKey(directory: string): string {
  return `lockspace:${directory}`;
}

/** JSON Schema of a LockspaceRecord on the control channel (one branch of custodyRecordSchema). */
export const lockspaceRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'directory'],
  properties: { kind: { const: 'lockspace' }, directory: { type: 'string', minLength: 1, maxLength: 65536 } },
} as const;

// ---- state document ------------------------------------------------------------------------------

/** The default (direct) lockspace, path "": resource names are file paths. virtlockd writes no directory. */
export interface LockspaceState {
  /** virtlockd. Held resources. */
  resources: ResourceState[];
}

/** A directory lockspace (CREATE_LOCKSPACE path). */
export interface DirectoryLockspaceState extends LockspaceState {
  /** virtlockd. The lockspace directory as the client named it; resource files live directly inside. */
  directory: string;
}

const resourcesSchema = { type: 'array', maxItems: MAX_RESOURCES_PER_LOCKSPACE, items: resourceRowSchema } as const;

/** JSON Schema of the default lockspace's entry (composed by state-schema.ts). */
export const defaultLockspaceRowSchema: JSONSchemaType<LockspaceState> = {
  type: 'object',
  additionalProperties: false,
  required: ['resources'],
  properties: { resources: resourcesSchema },
};

/** JSON Schema of a directory lockspace's entry (composed by state-schema.ts). */
export const lockspaceRowSchema: JSONSchemaType<DirectoryLockspaceState> = {
  type: 'object',
  additionalProperties: false,
  required: ['directory', 'resources'],
  properties: {
    directory: { type: 'string', minLength: 1, maxLength: MAX_DIRECTORY },
    resources: resourcesSchema,
  },
};

/** A directory lockspace's document entry, with the rows of the resources it holds. */
export function lockspaceToDocumentRow(record: LockspaceRecord, resources: ResourceState[]): DirectoryLockspaceState {
  return { directory: record.directory, resources };
}

/** The record of a directory lockspace's entry (its resources are records of their own). */
export function lockspaceFromDocumentRow(row: DirectoryLockspaceState): LockspaceRecord {
  return lockspaceRecord(row.directory);
}
