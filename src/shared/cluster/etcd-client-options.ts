// etcd3 client options from the cluster settings (placeholder until TLS and auth land).
import type { IOptions } from 'etcd3';
import type { EtcdConnectionSettings } from './cluster-settings';

export function etcdClientOptions(settings: EtcdConnectionSettings): IOptions {
  return { hosts: settings.endpoints, dialTimeout: 1500 };
}
