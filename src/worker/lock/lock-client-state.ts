// What a lock-protocol connection knows about its peer: the owner it registered (REGISTER) and whether it
// was restricted (RESTRICT). Mirrors virtlockd's per-client private data, which the state document keeps.

import type { PeerCred } from '../../shared/platform/native';

/** The owner a connection acts for. `id` 0 means "not registered" (libvirt tests the id, not the pid). */
export interface LockOwner {
  uuid: string;
  name: string;
  id: number;
  pid: number;
}

export class LockClientState {
  restricted = false;
  owner: LockOwner | null = null;
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
