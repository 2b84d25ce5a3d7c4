// The rules between the cluster_* keys that one key's schema cannot state: which keys need which, one
// scheme for every etcd endpoint, TLS only over https. Runs after the schema accepted every value.
import path from 'node:path';
import type { ConfigProblem, SettingOrigin } from './config-error';
import { CLUSTER_KEYS, type HoldfastConfig, type SettingKey } from './schema';

/**
 * Every problem of the cluster_* keys of a config the schema accepted.
 * @param isSet whether a layer (file or command line) set the key, as opposed to a schema default
 * @param where the origin of a key, for "<file>:<line>:"
 */
export function clusterProblems(cfg: HoldfastConfig, isSet: (key: SettingKey) => boolean, where: (key: SettingKey) => SettingOrigin): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (key: SettingKey, what: string): void => void problems.push({ ...where(key), what });
  const endpoints = cfg.cluster_etcd_endpoints;

  if (endpoints === undefined) {
    // No cluster: a cluster key alone would be a setting that silently does nothing.
    for (const key of CLUSTER_KEYS) if (key !== 'cluster_etcd_endpoints' && isSet(key)) problem(key, `${key} needs cluster_etcd_endpoints`);
    return problems;
  }

  for (const endpoint of endpoints) {
    const why = endpointFault(endpoint);
    if (why) problem('cluster_etcd_endpoints', `cluster_etcd_endpoints: '${endpoint}' ${why}`);
  }
  const schemes = new Set(endpoints.map((e) => (e.startsWith('https://') ? 'https' : 'http')));
  if (schemes.size > 1) problem('cluster_etcd_endpoints', 'cluster_etcd_endpoints mixes http:// and https:// endpoints; use one scheme for all');
  if (!schemes.has('https')) {
    for (const key of ['cluster_tls_ca_file', 'cluster_tls_cert_file', 'cluster_tls_key_file'] as const) {
      if (cfg[key] !== undefined) problem(key, `${key} needs https:// endpoints (cluster_etcd_endpoints are http://)`);
    }
  }

  // Halves of a pair: each missing half is named where the other one is set.
  const pairs = [
    ['cluster_tls_cert_file', 'cluster_tls_key_file'],
    ['cluster_username', 'cluster_password_file'],
    ['cluster_watchdog_device', 'cluster_watchdog_timeout_ms'],
  ] as const;
  for (const [a, b] of pairs) {
    if (cfg[a] !== undefined && cfg[b] === undefined) problem(a, `${a} needs ${b}`);
    if (cfg[b] !== undefined && cfg[a] === undefined) problem(b, `${b} needs ${a}`);
  }

  // Lockspaces are matched by the exact string a client names; a path that only normalises to the right
  // one would never match, and nothing would say so.
  for (const key of ['cluster_lockspaces', 'cluster_path_prefixes'] as const) {
    for (const p of cfg[key] ?? []) {
      const normal = path.posix.normalize(p);
      if (normal !== p) problem(key, `${key}: '${p}' is not a normalised path (write '${normal}')`);
    }
  }

  // The device must reset the host before etcd can expire the lease, yet never between two renewals.
  const watchdogMs = cfg.cluster_watchdog_timeout_ms;
  if (watchdogMs !== undefined) {
    const [least, most] = watchdogTimeoutRange(cfg.cluster_lease_ttl_ms);
    if (watchdogMs < least || watchdogMs > most) {
      problem(
        'cluster_watchdog_timeout_ms',
        least > most
          ? `cluster_watchdog_timeout_ms: no watchdog timeout fits a cluster_lease_ttl_ms of ${cfg.cluster_lease_ttl_ms} (raise the TTL)`
          : `cluster_watchdog_timeout_ms must be from ${least} to ${most} with a cluster_lease_ttl_ms of ${cfg.cluster_lease_ttl_ms} (got ${watchdogMs})`,
      );
    }
  }

  // An error, not a warning: a cluster that protects nothing still runs a lease (and may arm a watchdog that
  // resets the host), while the operator believes some locks are cluster-wide. Leaving cluster_etcd_endpoints
  // unset is the way to run without.
  if ((cfg.cluster_lockspaces?.length ?? 0) + (cfg.cluster_path_prefixes?.length ?? 0) === 0) {
    problem(
      'cluster_etcd_endpoints',
      'cluster_etcd_endpoints is set but neither cluster_lockspaces nor cluster_path_prefixes names a path: no lock would be cluster-wide',
    );
  }
  return problems;
}

/** Why a URL (that starts with http:// or https://) is not an etcd client endpoint, or null if it is one. */
function endpointFault(endpoint: string): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL';
  }
  if (url.hostname === '') return 'has no host';
  if (url.username !== '' || url.password !== '') return 'must not carry a user or password (use cluster_username and cluster_password_file)';
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return 'must be scheme://host[:port], without a path';
  return null;
}

// Slack for a renewal's round trip and event-loop lag, on each side of the window.
const WATCHDOG_SLACK_MS = 500;

/**
 * The watchdog timeouts (ms) that fit a lease TTL: longer than the wait between renewals (TTL/3) plus slack,
 * and short enough that a device petted at a renewal resets the host before the lease's safe deadline
 * (TTL/1.01 - min(1 s, TTL/5) after the renewal was sent), with slack. Empty (least > most) for short TTLs.
 */
export function watchdogTimeoutRange(ttlMs: number): [least: number, most: number] {
  const least = Math.ceil(ttlMs / 3 + WATCHDOG_SLACK_MS);
  const most = Math.floor(ttlMs / 1.01 - Math.min(1000, ttlMs / 5) - WATCHDOG_SLACK_MS);
  return [least, most];
}
