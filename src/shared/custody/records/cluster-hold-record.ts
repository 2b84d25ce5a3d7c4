// A resource's cluster part (a resource of a cluster lockspace, see src/shared/cluster): for each owner whose
// hold etcd has committed, the etcd key and revisions; and the owners whose hold is still being asked for.
// It rides inside the resource record in every form (control channel, state document, fd-store journal),
// so that a successor worker knows which etcd keys are its own and the supervisor knows whom to fence.
import { MAX_OWNERS_PER_RESOURCE, notNull, ownerPid } from './document-bounds';

/** One owner's hold, as etcd committed it. Revisions and the lease id are etcd's int64s, in decimal. */
export interface ClusterHold {
  pid: number;
  /** The etcd key of the hold (one per owner pid and resource). */
  key: string;
  /** The fencing token: the etcd revision that created the key. Increases per resource. */
  token: string;
  /** The revision of the hold's last change: a delete is conditional on it. */
  rev: string;
  /** The host lease the key is attached to. */
  lease: string;
}

/** A resource's cluster part. */
export interface ResourceCluster {
  holds: ClusterHold[];
  /**
   * Owner pids that hold the local lock while their etcd hold is being asked for (filed before the request
   * leaves for etcd, so that custody and fencing know them). A successor worker releases these: their request
   * was never answered, so the client sends it again.
   */
  pending: number[];
}

const revision = { type: 'string', pattern: '^[0-9]{1,20}$' } as const;

/** JSON Schema of a resource's cluster part, in every form. */
export const resourceClusterSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['holds', 'pending'],
  properties: {
    holds: {
      type: 'array',
      maxItems: MAX_OWNERS_PER_RESOURCE,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['pid', 'key', 'token', 'rev', 'lease'],
        properties: {
          pid: ownerPid,
          key: { type: 'string', minLength: 1, maxLength: 1_000_000 },
          token: revision,
          rev: revision,
          lease: revision,
        },
      },
    },
    pending: { type: 'array', maxItems: MAX_OWNERS_PER_RESOURCE, items: ownerPid },
  },
} as const;

/** The same schema as an optional property of a typed (JSONSchemaType) object. */
export const optionalResourceClusterSchema = { ...resourceClusterSchema, nullable: true, ...notNull } as const;

export function copyCluster(cluster: ResourceCluster): ResourceCluster {
  return { holds: cluster.holds.map((h) => ({ ...h })), pending: [...cluster.pending] };
}

/** Every owner pid a fence must stop: those whose hold etcd has, and those being asked for. */
export function clusterOwnerPids(cluster: ResourceCluster): number[] {
  return [...new Set([...cluster.holds.map((h) => h.pid), ...cluster.pending])];
}
