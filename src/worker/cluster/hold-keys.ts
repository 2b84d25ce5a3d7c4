// Where a resource's holds live in etcd. Every host names a resource the same way (its lockspace as clients
// name it, and its name), so the same disk has the same keys on every host:
//   <prefix>holds/<lockspace>/<name>/x                    the exclusive hold (at most one in the cluster)
//   <prefix>holds/<lockspace>/<name>/s/<host>/<pid>       one shared hold per owner
// Each segment is URI-encoded, so a '/' in a name or lockspace never splits a segment and one resource's
// range never contains another's keys.

export interface HoldKeys {
  exclusive: string;
  /** The range [start, end) of every shared hold of the resource, on any host. */
  sharedStart: string;
  sharedEnd: string;
  /** The prefix of this host's shared holds of the resource. */
  ownSharedPrefix: string;
}

export function holdKeys(prefix: string, host: string, lockspace: string, name: string): HoldKeys {
  const base = `${prefix}holds/${encodeURIComponent(lockspace)}/${encodeURIComponent(name)}/`;
  return {
    exclusive: `${base}x`,
    sharedStart: `${base}s/`,
    // '0' is the byte after '/': the end of the range of keys starting with "…/s/".
    sharedEnd: `${base}s0`,
    ownSharedPrefix: `${base}s/${encodeURIComponent(host)}/`,
  };
}

/** The key of one owner's shared hold. */
export function sharedHoldKey(keys: HoldKeys, pid: number): string {
  return `${keys.ownSharedPrefix}${pid}`;
}

/** The prefix of every hold of the cluster (for `holdfast cluster` and the stale-hold sweep). */
export function holdsPrefix(prefix: string): string {
  return `${prefix}holds/`;
}

/** What a hold's value says, for operators and for telling our own stale holds from another host's. */
export interface HoldValue {
  host: string;
  lockspace: string;
  name: string;
  path: string;
  shared: boolean;
  owner: { pid: number; name: string; uuid: string };
  /** When it was granted, ms since the epoch (this host's clock: for display only). */
  at: number;
}

export function parseHoldValue(bytes: Buffer): HoldValue | null {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as Partial<HoldValue>;
    return typeof value.host === 'string' ? (value as HoldValue) : null;
  } catch {
    return null;
  }
}
