// An etcd client for the cluster settings. etcd3 and its gRPC stack take about 260 ms to load (measured on
// this machine kind), so they are loaded here, on the first connection, never by a module's import: a
// holdfastd without a cluster never loads them, and its start, upgrades and worker swaps pay nothing for them.
import type { Etcd3, IOptions } from 'etcd3';
import type { EtcdConnectionSettings } from './cluster-settings';

/** `overrides`: options that replace the settings' own (one endpoint, a shorter deadline). */
export function connectEtcd(settings: EtcdConnectionSettings, overrides: Partial<IOptions> = {}): Etcd3 {
  const etcd3 = require('etcd3') as typeof import('etcd3');
  const { etcdClientOptions } = require('./etcd-client-options') as typeof import('./etcd-client-options');
  return new etcd3.Etcd3({ ...etcdClientOptions(settings), ...overrides });
}
