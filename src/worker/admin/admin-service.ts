// The admin service: libvirt's admin program (0x06900690) as virtlockd serves it to virt-admin — servers,
// their clients and client limits, thread-pool numbers, log settings — over the worker's RPC servers.
// Answers come from the live servers; the only thing an admin call can end is a connection (client close).
import type { Logger } from 'pino';
import { clientKey, type ClientRecord } from '../../shared/custody/records/client-record';
import { LogSpecError, formatLogOutputs, parseLogFilters, parseLogOutputs } from '../../shared/platform/log-spec';
import { getLogSettings, setFilters } from '../../shared/platform/log';
import {
  ADMIN_PROGRAM,
  ADMIN_PROGRAM_VERSION,
  ADMIN_SERVER_CLIENT_LIMITS_MAX,
  ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX,
  AdminClientRef,
  AdminProcedure,
  ClientArgs,
  ClientInfoParam,
  ClientLimitParam,
  ClientTransport,
  DaemonTimeoutArgs,
  FlagsArgs,
  ListClientsArgs,
  ListServersArgs,
  LookupClientArgs,
  ServerArgs,
  ServerParamsArgs,
  SetLoggingArgs,
  ThreadpoolParam,
  decodeClientArgs,
  decodeDaemonTimeoutArgs,
  decodeFlagsArgs,
  decodeListClientsArgs,
  decodeListServersArgs,
  decodeLookupClientArgs,
  decodeNoArgs,
  decodeServerArgs,
  decodeSetLoggingArgs,
  encodeClientRet,
  encodeLibVersionRet,
  encodeListClientsRet,
  encodeListServersRet,
  encodeLoggingFiltersRet,
  encodeLoggingOutputsRet,
  encodeParamsRet,
  encodeServerRet,
  serverParamsArgsDecoder,
} from '../../shared/protocol/admin-program';
import { TypedParam, TypedParamType, findTypedParam, typedParam, validateTypedParams } from '../../shared/protocol/typed-params';
import { VirError, VirErrorCode, VirErrorDomain } from '../../shared/protocol/vir-error';
import { LIBVIRT_VERSION_NUMBER } from '../../shared/platform/version';
import type { Change } from '../custody-link';
import type { Connection } from '../rpc/connection';
import { Procedure, RpcProgram } from '../rpc/program';
import { groupName, userName } from './account-names';

/** What the admin service needs of one RPC server (RpcServer provides it). */
export interface AdminServerTarget {
  readonly connections: ReadonlyMap<number, Connection>;
  readonly maxClients: number;
  /** Changes max_clients at run time: accepting pauses at the new limit and resumes below it. */
  setMaxClients(n: number): void;
}

/** One admin request: the asking connection, and whether to close it once the reply is out (CONNECT_CLOSE). */
export interface AdminRequest {
  connection: Connection;
  closeAfterReply: boolean;
}

interface ServerEntry {
  target: AdminServerTarget;
  /**
   * max_anonymous_clients: virtlockd has no authentication, so this limit never bites, but virt-admin shows
   * and sets it, and libvirt refuses one above max_clients.
   */
  unauthMax: number;
}

// Every admin_server.c function reports with VIR_FROM_ADMIN; virnetdaemon.c/virnetserver.c lookups with RPC.
const ADMIN = VirErrorDomain.ADMIN;

export class AdminService {
  readonly program: RpcProgram<AdminRequest>;
  readonly #servers = new Map<string, ServerEntry>();

  /**
   * @param rootLog the process's root logger: log settings are read from and applied to it
   * @param log     this component's logger
   */
  constructor(
    private readonly rootLog: Logger,
    private readonly log: Logger,
  ) {
    this.program = new RpcProgram(ADMIN_PROGRAM, ADMIN_PROGRAM_VERSION, this.#procedures());
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

  // --- lookups ---------------------------------------------------------------------------------

  /** virNetDaemonGetServer: RPC-domain NO_SERVER. */
  #server(name: string): ServerEntry {
    const entry = this.#servers.get(name);
    if (!entry) throw VirError.report(VirErrorCode.NO_SERVER, VirErrorDomain.RPC, `No server named '${name}'`);
    return entry;
  }

  /** The dispatch functions that report a missing server themselves, in the ADMIN domain. */
  #serverForDispatch(name: string): ServerEntry {
    const entry = this.#servers.get(name);
    if (!entry) throw VirError.report(VirErrorCode.NO_SERVER, ADMIN, `no server with matching name '${name}' found`);
    return entry;
  }

  /** virNetServerGetClient: RPC-domain NO_CLIENT. */
  #client(entry: ServerEntry, id: bigint): Connection {
    const connection = findConnection(entry, id);
    if (!connection) throw VirError.report(VirErrorCode.NO_CLIENT, VirErrorDomain.RPC, `No client with matching ID '${id}'`);
    return connection;
  }

  #clientRef(serverName: string, connection: Connection): AdminClientRef {
    return {
      server: serverName,
      id: BigInt(connection.id),
      timestamp: BigInt(Math.floor(connection.connectedAt / 1000)),
      transport: ClientTransport.UNIX,
    };
  }

  // --- procedures ------------------------------------------------------------------------------

  #procedures(): Map<number, Procedure<AdminRequest>> {
    const table = new Map<number, Procedure<AdminRequest>>();
    const add = <A>(proc: AdminProcedure, name: string, decode: (p: Buffer) => A, handle: (req: AdminRequest, args: A) => Buffer | void): void => {
      table.set(proc, { name, decode, handle: (req, args) => handle(req, args as A) });
    };

    add(AdminProcedure.CONNECT_OPEN, 'ConnectOpen', decodeFlagsArgs, (_req, a: FlagsArgs) => checkFlags(a.flags, 'adminDispatchConnectOpen'));
    add(AdminProcedure.CONNECT_CLOSE, 'ConnectClose', decodeNoArgs, (req) => {
      // virNetServerClientDelayedClose: answer, then hang up.
      req.closeAfterReply = true;
    });
    add(AdminProcedure.CONNECT_GET_LIB_VERSION, 'ConnectGetLibVersion', decodeNoArgs, () => encodeLibVersionRet(LIBVIRT_VERSION_NUMBER));
    add(AdminProcedure.CONNECT_LIST_SERVERS, 'ConnectListServers', decodeListServersArgs, (_req, a: ListServersArgs) => {
      checkFlags(a.flags, 'adminConnectListServers');
      const names = [...this.#servers.keys()].sort();
      // need_results is a yes/no: virt-admin sends 1 and expects every server.
      return encodeListServersRet({ servers: a.needResults > 0 ? names : [], count: names.length });
    });
    add(AdminProcedure.CONNECT_LOOKUP_SERVER, 'ConnectLookupServer', decodeServerArgs, (_req, a: ServerArgs) => {
      // libvirt 9.0 checks these flags against themselves (virCheckFlags(flags, NULL)): any value passes.
      this.#server(a.server);
      return encodeServerRet(a.server);
    });
    add(AdminProcedure.SERVER_GET_THREADPOOL_PARAMETERS, 'ServerGetThreadpoolParameters', decodeServerArgs, (_req, a: ServerArgs) => {
      this.#server(a.server);
      checkFlags(a.flags, 'adminServerGetThreadPoolParameters');
      return encodeParamsRet(threadpoolParams());
    });
    add(
      AdminProcedure.SERVER_SET_THREADPOOL_PARAMETERS,
      'ServerSetThreadpoolParameters',
      serverParamsArgsDecoder(ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX),
      (_req, a: ServerParamsArgs) => {
        this.#serverForDispatch(a.server);
        checkFlags(a.flags, 'adminServerSetThreadPoolParameters');
        setThreadpoolParams(a.params);
      },
    );
    add(AdminProcedure.SERVER_LIST_CLIENTS, 'ServerListClients', decodeListClientsArgs, (_req, a: ListClientsArgs) => {
      const entry = this.#server(a.server);
      checkFlags(a.flags, 'adminServerListClients');
      const clients = [...entry.target.connections.values()].sort((x, y) => x.id - y.id).map((c) => this.#clientRef(a.server, c));
      return encodeListClientsRet({ clients: a.needResults > 0 ? clients : [], count: clients.length });
    });
    add(AdminProcedure.SERVER_LOOKUP_CLIENT, 'ServerLookupClient', decodeLookupClientArgs, (_req, a: LookupClientArgs) => {
      const entry = this.#server(a.server);
      checkFlags(a.flags, 'adminServerLookupClient');
      return encodeClientRet(this.#clientRef(a.server, this.#client(entry, a.id)));
    });
    add(AdminProcedure.CLIENT_GET_INFO, 'ClientGetInfo', decodeClientArgs, (_req, a: ClientArgs) => {
      const entry = this.#serverForDispatch(a.client.server);
      const connection = findConnection(entry, a.client.id);
      if (!connection) throw VirError.report(VirErrorCode.NO_CLIENT, ADMIN, `no client with matching id '${a.client.id}' found`);
      checkFlags(a.flags, 'adminClientGetInfo');
      return encodeParamsRet(clientInfo(connection));
    });
    add(AdminProcedure.CLIENT_CLOSE, 'ClientClose', decodeClientArgs, (_req, a: ClientArgs) => {
      const entry = this.#server(a.client.server);
      const connection = this.#client(entry, a.client.id);
      checkFlags(a.flags, 'adminClientClose');
      // Exactly what the peer hanging up would do: on the lock server the disconnect rule runs (the owner's
      // locks are released and the owner killed, only if this connection's pid is the owner's) and nothing else.
      this.log.info({ server: a.client.server, client: connection.id, pid: connection.peer.pid }, 'closing a client on request of an admin client');
      connection.close('server');
    });
    add(AdminProcedure.SERVER_GET_CLIENT_LIMITS, 'ServerGetClientLimits', decodeServerArgs, (_req, a: ServerArgs) => {
      const entry = this.#server(a.server);
      checkFlags(a.flags, 'adminServerGetClientLimits');
      return encodeParamsRet([
        typedParam.uint(ClientLimitParam.MAX, entry.target.maxClients),
        typedParam.uint(ClientLimitParam.CURRENT, entry.target.connections.size),
        typedParam.uint(ClientLimitParam.UNAUTH_MAX, entry.unauthMax),
        // No authentication step: nobody is ever waiting for it.
        typedParam.uint(ClientLimitParam.UNAUTH_CURRENT, 0),
      ]);
    });
    add(
      AdminProcedure.SERVER_SET_CLIENT_LIMITS,
      'ServerSetClientLimits',
      serverParamsArgsDecoder(ADMIN_SERVER_CLIENT_LIMITS_MAX),
      (_req, a: ServerParamsArgs) => {
        const entry = this.#serverForDispatch(a.server);
        checkFlags(a.flags, 'adminServerSetClientLimits');
        setClientLimits(entry, a.params);
      },
    );
    add(AdminProcedure.CONNECT_GET_LOGGING_OUTPUTS, 'ConnectGetLoggingOutputs', decodeFlagsArgs, (_req, a: FlagsArgs) => {
      checkFlags(a.flags, 'adminConnectGetLoggingOutputs');
      const outputs = getLogSettings(this.rootLog).outputs;
      return encodeLoggingOutputsRet({ outputs, count: entries(outputs).length });
    });
    add(AdminProcedure.CONNECT_GET_LOGGING_FILTERS, 'ConnectGetLoggingFilters', decodeFlagsArgs, (_req, a: FlagsArgs) => {
      checkFlags(a.flags, 'adminConnectGetLoggingFilters');
      const filters = parseLogFilters(getLogSettings(this.rootLog).filters);
      // virtlockd prints each filter as its glob ("*match*") followed by a space.
      const text = filters.map((f) => `${f.priority}:*${f.match}* `).join('');
      return encodeLoggingFiltersRet({ filters: filters.length > 0 ? text : null, count: filters.length });
    });
    add(AdminProcedure.CONNECT_SET_LOGGING_OUTPUTS, 'ConnectSetLoggingOutputs', decodeSetLoggingArgs, (_req, a: SetLoggingArgs) => {
      checkFlags(a.flags, 'adminConnectSetLoggingOutputs');
      const wanted = a.value ?? '';
      for (const entry of entries(wanted)) {
        try {
          parseLogOutputs(entry);
        } catch (err) {
          if (err instanceof LogSpecError) throw VirError.invalidArg(`Malformed format for log output '${entry}'`, VirErrorDomain.NONE);
          throw err;
        }
      }
      // pino's destinations are fixed when the logger is made: only the current outputs can be "set" again.
      const current = getLogSettings(this.rootLog).outputs;
      if (wanted !== '' && formatLogOutputs(parseLogOutputs(wanted)) === current) return;
      throw VirError.report(
        VirErrorCode.OPERATION_UNSUPPORTED,
        ADMIN,
        'holdfast cannot change log outputs at run time; set log_outputs in the configuration and restart',
      );
    });
    add(AdminProcedure.CONNECT_SET_LOGGING_FILTERS, 'ConnectSetLoggingFilters', decodeSetLoggingArgs, (_req, a: SetLoggingArgs) => {
      checkFlags(a.flags, 'adminConnectSetLoggingFilters');
      const wanted = a.value ?? '';
      for (const entry of entries(wanted)) {
        try {
          parseLogFilters(entry);
        } catch (err) {
          if (err instanceof LogSpecError) throw VirError.invalidArg(`Malformed format for filter '${entry}'`, VirErrorDomain.NONE);
          throw err;
        }
      }
      setFilters(this.rootLog, wanted);
      this.log.info({ filters: wanted }, 'log filters changed by an admin client');
    });
    add(AdminProcedure.SERVER_UPDATE_TLS_FILES, 'ServerUpdateTlsFiles', decodeServerArgs, (_req, a: ServerArgs) => {
      this.#server(a.server);
      checkFlags(a.flags, 'adminServerUpdateTlsFiles');
      throw VirError.internalError('no tls service found, unable to update tls files');
    });
    add(AdminProcedure.CONNECT_SET_DAEMON_TIMEOUT, 'ConnectSetDaemonTimeout', decodeDaemonTimeoutArgs, (_req, a: DaemonTimeoutArgs) => {
      checkFlags(a.flags, 'adminConnectSetDaemonTimeout');
      // The idle timeout belongs to the supervisor (holdfastd --timeout), which the worker cannot reconfigure.
      throw VirError.report(VirErrorCode.OPERATION_UNSUPPORTED, ADMIN, 'holdfast sets its idle timeout with holdfastd --timeout only');
    });
    return table;
  }
}

/** virCheckFlags(0, ...) in an admin function: INVALID_ARG in the ADMIN domain naming that function. */
function checkFlags(flags: number, functionName: string): void {
  if (flags !== 0) throw VirError.unsupportedFlags(flags, functionName, ADMIN);
}

function findConnection(entry: ServerEntry, id: bigint): Connection | undefined {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? entry.target.connections.get(Number(id)) : undefined;
}

const entries = (spec: string): string[] => spec.split(' ').filter((e) => e !== '');

/**
 * The worker dispatches every call in its one event loop, as virtlockd does with max_workers = 0: no pool,
 * so every number is 0 — the same answer virtlockd gives.
 */
function threadpoolParams(): TypedParam[] {
  return [
    typedParam.uint(ThreadpoolParam.MIN_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.MAX_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.WORKERS, 0),
    typedParam.uint(ThreadpoolParam.FREE_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.PRIO_WORKERS, 0),
    typedParam.uint(ThreadpoolParam.JOB_QUEUE_DEPTH, 0),
  ];
}

/** Accepts only what leaves a pool-less server pool-less, with virthreadpool.c's refusals (domain NONE). */
function setThreadpoolParams(params: readonly TypedParam[]): void {
  validateTypedParams(params, {
    [ThreadpoolParam.MIN_WORKERS]: TypedParamType.UINT,
    [ThreadpoolParam.MAX_WORKERS]: TypedParamType.UINT,
    [ThreadpoolParam.PRIO_WORKERS]: TypedParamType.UINT,
  });
  const value = (field: string): number | null => {
    const p = findTypedParam(params, field);
    return p && p.type === TypedParamType.UINT ? p.value : null;
  };
  const min = value(ThreadpoolParam.MIN_WORKERS);
  const max = value(ThreadpoolParam.MAX_WORKERS);
  if (min !== null && min > (max ?? 0)) throw VirError.invalidArg('minWorkers cannot be larger than maxWorkers', VirErrorDomain.NONE);
  if (max !== null && max !== 0) {
    throw VirError.invalidArg('maxWorkers must not be switched from zero to non-zero and vice versa', VirErrorDomain.NONE);
  }
  // prioWorkers: virtlockd accepts any value and still reports 0 afterwards [observed]; so does holdfast.
}

/** virNetServerSetClientLimits: both limits are checked together before either changes. */
function setClientLimits(entry: ServerEntry, params: readonly TypedParam[]): void {
  validateTypedParams(params, { [ClientLimitParam.MAX]: TypedParamType.UINT, [ClientLimitParam.UNAUTH_MAX]: TypedParamType.UINT });
  const max = findTypedParam(params, ClientLimitParam.MAX);
  const unauth = findTypedParam(params, ClientLimitParam.UNAUTH_MAX);
  const newMax = max?.type === TypedParamType.UINT ? max.value : entry.target.maxClients;
  const newUnauth = unauth?.type === TypedParamType.UINT ? unauth.value : entry.unauthMax;
  if (newUnauth > newMax) {
    throw VirError.invalidArg(
      'The overall maximum number of clients waiting for authentication must not be less than the overall maximum number of clients',
      VirErrorDomain.RPC,
    );
  }
  entry.unauthMax = newUnauth;
  if (newMax !== entry.target.maxClients) entry.target.setMaxClients(newMax);
}

/** What virtlockd reports for a local (unix socket) client: its SO_PEERCRED identity, never read-only. */
function clientInfo(connection: Connection): TypedParam[] {
  const { uid, gid, pid } = connection.peer;
  const params: TypedParam[] = [typedParam.boolean(ClientInfoParam.READONLY, false), typedParam.int(ClientInfoParam.UNIX_USER_ID, uid)];
  const user = userName(uid);
  if (user !== null) params.push(typedParam.string(ClientInfoParam.UNIX_USER_NAME, user));
  params.push(typedParam.int(ClientInfoParam.UNIX_GROUP_ID, gid));
  const group = groupName(gid);
  if (group !== null) params.push(typedParam.string(ClientInfoParam.UNIX_GROUP_NAME, group));
  params.push(typedParam.int(ClientInfoParam.UNIX_PROCESS_ID, pid));
  return params;
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
