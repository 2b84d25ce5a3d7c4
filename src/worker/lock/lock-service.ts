// The lock service: program 0xEA7BEEF bound to a lockspace registry, plus the client hooks that apply
// virtlockd's disconnect rule (release the owner's locks, then kill it) without stalling anyone else.
import type { Logger } from 'pino';
import { LOCK_PROGRAM, LOCK_PROGRAM_VERSION, LockProcedure, LOCK_PROCEDURES } from '../../shared/rpc/lock-protocol';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import { LOCK_HANDLERS, LockDispatchContext, LockEvents, releaseForDisconnect } from './dispatch';
import { LockClientState } from './lock-client-state';
import { OwnerKiller, OwnerKillTimings } from './owner-killer';
import { LockspaceRegistry } from './registry';

export class LockService {
  readonly registry = new LockspaceRegistry();
  readonly #clients = new Map<number, LockClientState>();
  readonly killer: OwnerKiller;
  readonly program: RpcProgram<Connection>;
  readonly #context: LockDispatchContext;

  constructor(timings: OwnerKillTimings, events: LockEvents, private readonly log: Logger) {
    this.killer = new OwnerKiller(timings, log);
    this.#context = { registry: this.registry, events };
    this.program = new RpcProgram(LOCK_PROGRAM, LOCK_PROGRAM_VERSION, this.#procedures());
  }

  /** The lock-protocol state of a connection. */
  clientState(connection: Connection): LockClientState {
    const state = this.#clients.get(connection.id);
    if (!state) throw new Error(`no lock state for client ${connection.id}`);
    return state;
  }

  get clients(): ReadonlyMap<number, LockClientState> {
    return this.#clients;
  }

  onOpen(connection: Connection): void {
    this.#clients.set(connection.id, new LockClientState(connection.peer.pid));
  }

  /** A connection closed for good: virtlockd's disconnect rule. */
  onClose(connection: Connection): void {
    const client = this.#clients.get(connection.id);
    this.#clients.delete(connection.id);
    if (!client) return;
    const released = releaseForDisconnect(this.#context, client);
    if (released.length === 0) return;
    this.log.info({ client: connection.id, ownerPid: client.ownerPid, released: released.length }, 'owner disconnected holding locks; released them');
    void this.killer.kill(client.clientPid);
  }

  #procedures(): Map<number, Procedure<Connection>> {
    const table = new Map<number, Procedure<Connection>>();
    for (const proc of Object.values(LockProcedure).filter((v): v is LockProcedure => typeof v === 'number')) {
      const handler = LOCK_HANDLERS[proc] as (ctx: LockDispatchContext, client: LockClientState, args: unknown) => void | Promise<void>;
      const spec = LOCK_PROCEDURES[proc];
      table.set(proc, {
        name: spec.name,
        decode: spec.decode,
        handle: (connection, args) => handler(this.#context, this.clientState(connection), args),
      });
    }
    return table;
  }
}
