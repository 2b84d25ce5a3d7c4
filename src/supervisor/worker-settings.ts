// The settings a worker is started with, from the resolved config and cluster settings.
import type { ClusterSettings } from '../shared/cluster/cluster-settings';
import type { WorkerSettings } from '../shared/custody/messages';
import type { HoldfastConfig } from './config/schema';

/**
 * The WorkerSettings of `config`; `cluster` from clusterSettingsFromConfig (null: no cluster).
 * @param euid the daemon's effective uid: peers must have it (0 for root)
 */
export function workerSettings(config: HoldfastConfig, cluster: ClusterSettings | null, euid = process.geteuid?.() ?? 0): WorkerSettings {
  return {
    maxClients: config.max_clients,
    adminMaxClients: config.admin_max_clients,
    allowedUid: euid,
    ownerKillTermGraceMs: config.owner_kill_term_grace_ms,
    ownerKillGiveUpMs: config.owner_kill_give_up_ms,
    frameMaxBytesPerClient: config.max_frame_bytes_per_client,
    frameMaxBytesTotal: config.max_frame_bytes_total,
    frameDeadlineMs: config.frame_deadline_ms,
    logLevel: config.log_level,
    logFormat: config.log_format,
    logOutputs: config.log_outputs,
    logFilters: config.log_filters,
    // Absent, not null, without a cluster: a worker's settings then are what they were before clusters.
    ...(cluster ? { cluster } : {}),
  };
}
