// The cluster settings as resolved from holdfastd's config (the cluster_* keys): what the supervisor needs
// for its host lease and what the worker needs for its holds, passed to each worker in its settings.

/** How to reach and authenticate to etcd. */
export interface EtcdConnectionSettings {
  /** etcd client URLs (http:// or https://). */
  endpoints: string[];
  /** PEM files for TLS; all null for plain http. */
  tls: { caFile: string | null; certFile: string | null; keyFile: string | null };
  /** etcd user and the file holding its password, or null without authentication. */
  auth: { username: string; passwordFile: string } | null;
}

/** Everything cluster_* configures; absent from WorkerSettings when no cluster is configured. */
export interface ClusterSettings extends EtcdConnectionSettings {
  /** Directory lockspaces (as clients name them) whose resources are cluster-wide. */
  lockspaces: string[];
  /** Resource paths in the default lockspace that start with one of these are cluster-wide. */
  pathPrefixes: string[];
  /** This host's name in etcd (default: the machine id). */
  hostId: string;
  /** The host lease's TTL in etcd. */
  leaseTtlMs: number;
  /** Every key holdfast writes starts with this (ends with '/'). */
  keyPrefix: string;
  /** A watchdog device petted only while the lease is renewed, or null. */
  watchdogDevice: string | null;
  /** The device's timeout as its driver is set (cluster_watchdog_timeout_ms); null without a device. */
  watchdogTimeoutMs: number | null;
}
