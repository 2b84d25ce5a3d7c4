// The cluster_* keys of a validated config, resolved into the ClusterSettings the supervisor's lease and the
// worker's holds use: defaults applied, the host id read from the machine id when the config names none, and
// the TLS and password files read once, so that a file holdfastd cannot use stops it here, at start-up.
import fs from 'node:fs';
import type { ClusterSettings } from '../../shared/cluster/cluster-settings';
import { EtcdFileError, readEtcdFiles } from '../../shared/cluster/etcd-files';
import { ConfigError } from './config-error';
import type { HoldfastConfig } from './schema';

/** systemd's machine id (machine-id(5)): 32 lower-case hex digits and a newline. */
export const MACHINE_ID_FILE = '/etc/machine-id';

export interface ClusterSettingsOptions {
  /** Where the default host id is read from; default {@link MACHINE_ID_FILE}. */
  machineIdFile?: string;
}

/**
 * The cluster settings of a config resolveSettings accepted (its cross-key rules already hold), or null when
 * cluster_etcd_endpoints is unset: no cluster.
 * @throws ConfigError "<machine-id file>: …; set cluster_host_id" when the host id has to come from the
 *   machine id and that file cannot be read or holds no machine id; "<file>: the cluster_tls_ca_file cannot
 *   be read (ENOENT)" (and alike) when a TLS or password file cannot be read, or the password file is empty
 */
export function clusterSettingsFromConfig(config: HoldfastConfig, options: ClusterSettingsOptions = {}): ClusterSettings | null {
  const endpoints = config.cluster_etcd_endpoints;
  if (endpoints === undefined) return null;
  const username = config.cluster_username;
  const passwordFile = config.cluster_password_file;
  const settings: ClusterSettings = {
    endpoints: [...endpoints],
    tls: {
      caFile: config.cluster_tls_ca_file ?? null,
      certFile: config.cluster_tls_cert_file ?? null,
      keyFile: config.cluster_tls_key_file ?? null,
    },
    auth: username !== undefined && passwordFile !== undefined ? { username, passwordFile } : null,
    lockspaces: [...(config.cluster_lockspaces ?? [])],
    pathPrefixes: [...(config.cluster_path_prefixes ?? [])],
    hostId: config.cluster_host_id ?? readMachineId(options.machineIdFile ?? MACHINE_ID_FILE),
    leaseTtlMs: config.cluster_lease_ttl_ms,
    keyPrefix: config.cluster_key_prefix,
    watchdogDevice: config.cluster_watchdog_device ?? null,
    watchdogTimeoutMs: config.cluster_watchdog_timeout_ms ?? null,
  };
  checkFiles(settings);
  return settings;
}

/** Every file the settings name can be read now (what is read is dropped: each etcd client reads its own). */
function checkFiles(settings: ClusterSettings): void {
  try {
    readEtcdFiles(settings);
  } catch (err) {
    if (err instanceof EtcdFileError) throw new ConfigError({ file: err.file, what: `the ${err.setting} ${err.problem}` });
    throw err;
  }
}

/** The machine id in `file`, as the default cluster_host_id. */
function readMachineId(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError({ file, what: `cannot read the machine id, the default cluster_host_id (${e.code ?? e.message}); set cluster_host_id` });
  }
  const id = text.trim();
  // An empty file or "uninitialized" (machine-id(5), first boot) is no id: hosts would share it, or it would change.
  if (!/^[0-9a-f]{32}$/.test(id)) {
    throw new ConfigError({ file, what: 'holds no machine id (32 hex digits), the default cluster_host_id; set cluster_host_id' });
  }
  return id;
}
