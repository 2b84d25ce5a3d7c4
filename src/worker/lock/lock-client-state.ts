// What a lock-protocol connection knows about its peer: the owner it registered (REGISTER) and whether it
// was restricted (RESTRICT). Mirrors virtlockd's per-client private data, which the state document keeps.

import type { ClientRecord } from '../../shared/custody/records/client-record';
import type { OwnerRecord } from '../../shared/custody/records/owner-record';
import type { PeerCred } from '../../shared/platform/native';

export class LockClientState {
  restricted = false;
  /** The owner this connection acts for. `id` 0 means "not registered" (libvirt tests the id, not the pid). */
  owner: OwnerRecord | null = null;
  /** When the owner was registered (ms since epoch), for "since when" answers. */
  registeredAt = 0;

  /**
   * @param id the connection's id
   * @param peer credentials of the connecting process (SO_PEERCRED)
   * @param connectedAt when the connection was accepted (ms since epoch)
   */
  constructor(
    readonly id: number,
    readonly peer: PeerCred,
    readonly connectedAt: number,
  ) {}

  /** A connection's lock state from its custody record (`id`: the connection it was adopted as). */
  static fromRecord(id: number, record: ClientRecord): LockClientState {
    const client = new LockClientState(id, record.peer, record.connectedAt);
    client.restricted = record.restricted;
    client.owner = record.owner;
    client.registeredAt = record.registeredAt;
    return client;
  }

  /** The custody record of this lock-protocol connection. */
  toRecord(): ClientRecord {
    return {
      kind: 'client',
      server: 'virtlockd',
      id: this.id,
      connectedAt: this.connectedAt,
      peer: this.peer,
      restricted: this.restricted,
      owner: this.owner,
      registeredAt: this.registeredAt,
    };
  }

  /** pid of the connecting process; the disconnect rule compares it with the owner pid. */
  get clientPid(): number {
    return this.peer.pid;
  }

  get registered(): boolean {
    return this.owner !== null && this.owner.id !== 0;
  }

  get ownerPid(): number {
    return this.owner?.pid ?? 0;
  }
}
