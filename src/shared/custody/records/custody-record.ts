// The records the worker files with the supervisor for everything it must never lose: one per client
// connection, held resource and directory lockspace. To the supervisor they are opaque data beside an fd;
// to a new worker they are enough to rebuild the whole lock service. Keys are stable strings. Each record,
// with every form it takes (state document, fd-store journal) and the conversions, lives in its own file.
import { type ClientRecord, clientKey, clientRecordSchema } from './client-record';
import { type LockspaceRecord, lockspaceKey, lockspaceRecordSchema } from './lockspace-record';
import { type ResourceRecord, resourceKey, resourceRecordSchema } from './resource-record';

export type CustodyRecord = ClientRecord | ResourceRecord | LockspaceRecord;

/** The custody key of a record: unique per kind and identity. */
export function custodyKey(record: CustodyRecord): string {
  switch (record.kind) {
    case 'client':
      return clientKey(record.server, record.id);
    case 'resource':
      return resourceKey(record.lockspace, record.name);
    case 'lockspace':
      return lockspaceKey(record.directory);
  }
}

/** JSON Schema of one custody record on the control channel (used inside the control-message schemas). */
export const custodyRecordSchema = {
  type: 'object',
  required: ['kind'],
  discriminator: { propertyName: 'kind' },
  oneOf: [clientRecordSchema, resourceRecordSchema, lockspaceRecordSchema],
} as const;
