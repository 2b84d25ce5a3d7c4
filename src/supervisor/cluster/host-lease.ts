// PLACEHOLDER with the agreed interface; replaced by the real host lease on merge.
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';

export interface HostLeaseOptions {
  client: Etcd3;
  ttlMs: number;
  log: Logger;
  resume?: { id: string; lastAckSentNs: bigint } | null;
}

export class HostLease extends EventEmitter {
  id: string | null = null;
  deadlineNs: bigint | null = null;
  constructor(readonly options: HostLeaseOptions) {
    super();
  }
  start(): void {}
  carry(): { id: string; lastAckSentNs: bigint } | null {
    return null;
  }
  async stop(_: { revoke: boolean }): Promise<void> {}
}
