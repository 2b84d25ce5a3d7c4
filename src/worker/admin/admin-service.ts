// The admin service: libvirt's admin program (0x06900690) as virtlockd serves it to virt-admin — servers,
// their clients and client limits, thread-pool numbers, log settings — over the worker's RPC servers.
// Answers come from the live servers; the only thing an admin call can end is a connection (client close).
// The procedures are the admin program's table (names, flags, codecs) joined with one handler each.
import type { Logger } from 'pino';
import { clientKey, type ClientRecord } from '../../shared/custody/records/client-record';
import { ADMIN_PROCEDURES, ADMIN_PROGRAM, ADMIN_PROGRAM_VERSION, AdminProcedure, type AdminProcedureArgs } from '../../shared/protocol/admin-program';
import type { Change } from '../custody-link';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import { ADMIN_HANDLERS, type AdminContext, type AdminHandler, type AdminRequest, type AdminServer, type AdminServerTarget } from './admin-handlers';

export type { AdminRequest, AdminServerTarget };

export class AdminService {
  readonly program: RpcProgram<AdminRequest>;
  readonly #servers = new Map<string, AdminServer>();

  /**
   * @param rootLog the process's root logger: log settings are read from and applied to it
   * @param log     this component's logger
   */
  constructor(rootLog: Logger, log: Logger) {
    const context: AdminContext = { servers: this.#servers, rootLog, log };
    this.program = new RpcProgram(ADMIN_PROGRAM, ADMIN_PROGRAM_VERSION, procedures(context));
  }

  /** Makes a server visible to virt-admin under `name` ("virtlockd", "admin"). */
  addServer(name: string, target: AdminServerTarget): void {
    this.#servers.set(name, { target, unauthMax: target.maxClients });
  }

  /** A new admin connection: its record (and socket fd) go to custody before it is served. */
  open(connection: Connection): Change[] {
    return [{ op: 'put', record: adminClientRecord(connection), fd: connection.fd }];
  }

  /** An admin connection closed for good: its record leaves custody. */
  close(connection: Connection): Change[] {
    return [{ op: 'drop', key: clientKey('admin', connection.id) }];
  }
}

function procedures(context: AdminContext): Map<number, Procedure<AdminRequest>> {
  const table = new Map<number, Procedure<AdminRequest>>();
  for (const proc of Object.values(AdminProcedure).filter((v): v is AdminProcedure => typeof v === 'number')) {
    const spec = ADMIN_PROCEDURES[proc];
    const handler = ADMIN_HANDLERS[proc] as AdminHandler<AdminProcedure>;
    table.set(proc, { name: spec.name, decode: spec.decode, handle: (request, args) => handler(context, request, args as AdminProcedureArgs[AdminProcedure]) });
  }
  return table;
}

/** The custody record of an admin connection: only its identity (the admin program keeps no per-client state). */
function adminClientRecord(connection: Connection): ClientRecord {
  return {
    kind: 'client',
    server: 'admin',
    id: connection.id,
    connectedAt: connection.connectedAt,
    peer: { pid: connection.peer.pid, uid: connection.peer.uid, gid: connection.peer.gid },
    restricted: false,
    owner: null,
    registeredAt: 0,
  };
}
